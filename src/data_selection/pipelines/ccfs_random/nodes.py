"""The "distilled part + random real" baseline of CCFS (Chen et al., CVPR 2025, §4 comparisons)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from data_selection.pipelines.parameters import ImageSelectionParams, JudgeParams
from data_selection.pipelines.random_images.nodes import random_per_class


def random_beside_distilled(
    image_pool: dict, distilled_part: dict, image_selection: ImageSelectionParams, judge: JudgeParams
) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
    """Keep CCFS's distilled part and fill every class up to IPC with random real images, one draw per judge seed.

    The draw for judge seed s is ``random_per_class(labels, ipc - cpc, image_selection.seed + s)`` (the
    ``random_images`` rule with ``ipc - cpc`` images per class), where cpc is the distilled images per class.

    Args:
        image_pool: the image track's pool (``images``, ``labels``, ``ids``, ``classes``).
        distilled_part: ``ccfs.synthetic_images``: ``images`` float32 [M, H, W, C] in [0, 1], ``labels`` int [M].

    Returns:
        (selection ``id, rank, score (NaN), seed``; ``{"images", "labels"}``: the distilled part, unchanged).

    Raises:
        ValueError: the distilled part has unequal counts per class, or already fills IPC (nothing to draw).
    """
    n_classes = len(image_pool["classes"])
    labels = np.asarray(distilled_part["labels"], dtype=np.int64)
    per_class = np.bincount(labels, minlength=n_classes)
    if per_class.size != n_classes or (per_class != per_class[0]).any():
        raise ValueError(f"the distilled part must hold the same number of images per class, got {per_class.tolist()}")
    real = int(image_selection["ipc"]) - int(per_class[0])
    if real < 1:
        raise ValueError(f"the distilled part has {per_class[0]} images per class, IPC is {image_selection['ipc']}: "
                         "no real image left to draw (rerun ccfs at this IPC)")
    frames = []
    for seed in judge["seeds"]:
        index = random_per_class(image_pool["labels"], real, int(image_selection["seed"]) + int(seed))
        frames.append(pd.DataFrame({"id": image_pool["ids"][index].astype(str), "rank": np.arange(1, len(index) + 1),
                                    "score": np.full(len(index), np.nan), "seed": int(seed)}))
    synthetic = {"images": np.asarray(distilled_part["images"], dtype=np.float32).copy(), "labels": labels.copy()}
    return pd.concat(frames, ignore_index=True), synthetic
