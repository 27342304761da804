"""The text track's evaluation stage (wired by :mod:`data_selection.pipelines.tracks.text`)."""
