"""The text track's fine-tune stage (wired by :mod:`data_selection.pipelines.tracks.text`)."""
