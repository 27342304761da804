"""Tracks: the shared tail that judges every method of one modality the same way.

A track turns a method's ``<method>.selection`` into a trained model and its held-out metrics:

* ``text``  (:mod:`.text`): materialise the selected records verbatim -> LoRA fine-tune the target model once per
  judge seed -> multiple-choice evaluation on the held-out target questions.
* ``image`` (:mod:`.image`): materialise image ids (+ any synthetic images) -> train a classifier once per judge
  seed -> top-1 accuracy on the held-out test images.

Both write the same reporting contract under the method's namespace: ``evaluation_metrics`` (JSON: ``seeds``,
``per_seed`` metrics, ``mean``), ``test_predictions`` (one row per (seed, test example), with the per-example
metrics the comparison report bootstraps) and ``mlflow_metrics``.
"""

from __future__ import annotations

from kedro.pipeline import Pipeline

from . import image, text

TRACKS = {"text": text, "image": image}


def create_track_pipeline(track: str, namespace: str, **options) -> Pipeline:
    """The track's stages under ``namespace`` (reading ``<namespace>.selection``); ``options`` go to the track's
    ``create_pipeline``: the text track's ``target_model`` (the catalog entry it fine-tunes and evaluates), the image
    track's ``synthetic=True`` (it also reads ``<namespace>.synthetic_images``) and ``pixel=True`` (it also reads
    ``<namespace>.pixel_images``, pixels that replace the pool's for the ids they cover).

    Raises:
        ValueError: unknown track.
    """
    if track not in TRACKS:
        raise ValueError(f"unknown track {track!r}; known: {sorted(TRACKS)}")
    return TRACKS[track].create_pipeline(namespace, **options)
