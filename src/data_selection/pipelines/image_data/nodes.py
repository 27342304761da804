"""The image track's raw -> primary layer: one configured source becomes ``image_pool`` and ``image_test``."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from data_selection.pipelines.parameters import ImageDataParams
from data_selection.sources.images import ImageSet, per_class_subsample, stratified_split
from data_selection.vision.training import channel_stats

logger = logging.getLogger(__name__)


def prepare_images(
    image_source: dict[str, ImageSet], image_data: ImageDataParams
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], dict[str, Any]]:
    """Split (or subsample) the source into the selection pool and the held-out test images.

    * ``test_split`` null: ``stratified_split(pool_split labels, test_per_class, split_seed)`` holds out exactly
      ``test_per_class`` images per class; the rest is the pool.
    * otherwise the pool is ``pool_split`` and the test set ``test_split`` (subsampled to ``test_per_class`` per
      class when set, with ``split_seed``).
    * ``pool_per_class`` subsamples the pool per class (seed ``split_seed + 1``).

    Returns:
        (pool arrays, test arrays: ``images, labels, ids, classes, name`` plus the pool's per-channel ``mean``/``std``
        in [0, 1] scale, used to normalise every classifier's inputs; a report with the sizes and class counts).

    Raises:
        ValueError: a named split is missing from the source, or the split is impossible (class too small).
    """
    for split in (image_data["pool_split"], image_data["test_split"]):
        if split is not None and split not in image_source:
            raise ValueError(f"the image source has splits {sorted(image_source)}, not {split!r} (see image_data)")
    source = image_source[image_data["pool_split"]]
    seed = int(image_data["split_seed"])
    if image_data["test_split"] is None:
        pool_index, test_index = stratified_split(source.labels, int(image_data["test_per_class"]), seed)
        pool, test = source.subset(pool_index), source.subset(test_index)
    else:
        pool, test = source, image_source[image_data["test_split"]]
        if image_data["test_per_class"] is not None:
            test = test.subset(per_class_subsample(test.labels, int(image_data["test_per_class"]), seed))
        if pool.classes != test.classes or pool.images.shape[1:] != test.images.shape[1:]:
            raise ValueError(f"pool and test splits differ in classes or image shape: {pool.images.shape[1:]} vs {test.images.shape[1:]}")
    if image_data["pool_per_class"] is not None:
        pool = pool.subset(per_class_subsample(pool.labels, int(image_data["pool_per_class"]), seed + 1))
    mean, std = channel_stats(pool.images)
    report = {
        "dataset": pool.name, "image_shape": list(pool.images.shape[1:]), "classes": list(pool.classes),
        "pool_size": len(pool), "test_size": len(test),
        "pool_per_class": pool.class_counts().tolist(), "test_per_class": test.class_counts().tolist(),
        "mean": mean.tolist(), "std": std.tolist(),
    }
    logger.info("image pool %s: %d images, test %d images", pool.name, len(pool), len(test))
    stats = {"mean": mean, "std": std}
    return {**pool.to_arrays(), **stats}, {**test.to_arrays(), **stats}, report


def pool_arrays(pool: Any, required: tuple[str, ...] = ("images", "labels", "ids")) -> dict[str, np.ndarray]:
    """The arrays of a loaded ``image_pool`` (a dict, or an object with ``to_arrays()``), for the image methods' nodes.

    Raises:
        ValueError: a required array is missing (naming it).
    """
    arrays = pool.to_arrays() if hasattr(pool, "to_arrays") else pool
    missing = set(required) - set(arrays)
    if missing:
        raise ValueError(f"the image pool lacks {sorted(missing)}")
    return arrays
