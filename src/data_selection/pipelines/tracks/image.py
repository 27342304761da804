"""The image track's interface (materialise image ids -> train a classifier -> test accuracy).

Its implementation arrives with the CCFS issue (issue 8); until then a method that declares ``track="image"`` fails
when its pipeline is built, with this message, rather than running half a pipeline. The contract the implementation
must keep, under the method's namespace:

* input ``<method>.selection`` (``id, rank, score``; ids such as ``fashion_mnist/train/00042``), the image pool and
  an optional ``<method>.synthetic_images`` (distilled set: images + labels);
* stages ``materialise_images`` -> ``train_classifier`` (once per judge seed) -> ``evaluate_classifier``;
* outputs ``evaluation_metrics`` (``accuracy`` per seed and mean), ``test_predictions`` (``seed, id, label,
  prediction, correct``) and ``mlflow_metrics``, exactly as the text track, so that the comparison report reads both.
"""

from __future__ import annotations

from kedro.pipeline import Pipeline

STAGES = ("materialise_images", "train_classifier", "evaluate_classifier")


def create_pipeline(namespace: str) -> Pipeline:
    """Raises:
    NotImplementedError: always, until the image track is implemented (issue 8)."""
    raise NotImplementedError(
        f"method {namespace!r} declares the image track, which is not implemented yet (it arrives with CCFS, issue 8)"
    )
