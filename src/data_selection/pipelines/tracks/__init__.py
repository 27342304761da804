"""Tracks: the shared tail that judges every method of one modality the same way.

A track turns a method's ``<method>.selection`` into a trained model and its held-out metrics:

* ``text``  (:mod:`.text`): materialise the selected records verbatim -> LoRA fine-tune the target model once per
  judge seed -> multiple-choice evaluation on the held-out target questions.
* ``image`` (:mod:`.image`): materialise image ids (+ any synthetic images) -> train a classifier -> top-1 test
  accuracy. Interface only, until the image track lands with CCFS (issue 8).

Both write the same reporting contract under the method's namespace: ``evaluation_metrics`` (JSON: ``seeds``,
``per_seed`` metrics, ``mean``), ``test_predictions`` (one row per (seed, test example), with the per-example
metrics the comparison report bootstraps) and ``mlflow_metrics``.
"""

from __future__ import annotations

from kedro.pipeline import Pipeline

from . import image, text

TRACKS = {"text": text, "image": image}


def create_track_pipeline(track: str, namespace: str, target_model: str = "base_model") -> Pipeline:
    """The track's stages under ``namespace`` (reading ``<namespace>.selection``); the text track fine-tunes and
    evaluates the catalog entry ``target_model``.

    Raises:
        ValueError: unknown track, or a target model for the image track (it trains its own networks).
    """
    if track not in TRACKS:
        raise ValueError(f"unknown track {track!r}; known: {sorted(TRACKS)}")
    if track == "text":
        return text.create_pipeline(namespace, target_model=target_model)
    if target_model != "base_model":
        raise ValueError(f"the {track} track does not take a target_model (got {target_model!r})")
    return TRACKS[track].create_pipeline(namespace)
