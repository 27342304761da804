"""Random real images: ``ipc`` per class, uniformly without replacement, one draw per judge seed."""

from __future__ import annotations

import numpy as np
import pandas as pd

from data_selection.pipelines.parameters import ImageSelectionParams, JudgeParams


def random_per_class(labels: np.ndarray, ipc: int, seed: int) -> np.ndarray:
    """Indices of ``ipc`` images of every class drawn with ``numpy.random.default_rng(seed)``: classes in label order,
    within a class ``rng.choice(members, ipc, replace=False)`` sorted by pool position.

    Raises:
        ValueError: a class has fewer than ``ipc`` images (naming the class and its count).
    """
    labels = np.asarray(labels, dtype=np.int64)
    rng = np.random.default_rng(seed)
    picked = []
    for cls in np.unique(labels):
        members = np.flatnonzero(labels == cls)
        if len(members) < ipc:
            raise ValueError(f"IPC {ipc} is larger than class {cls}, which has {len(members)} images in the pool")
        picked.append(np.sort(rng.choice(members, size=ipc, replace=False)))
    return np.concatenate(picked)


def select_random_images(image_pool: dict, image_selection: ImageSelectionParams, judge: JudgeParams) -> pd.DataFrame:
    """The selection table ``id, rank, score, seed``: for judge seed s, ``random_per_class(labels, ipc,
    image_selection.seed + s)`` (rank = position in the draw; score NaN: random does not score)."""
    frames = []
    for seed in judge["seeds"]:
        index = random_per_class(image_pool["labels"], int(image_selection["ipc"]), int(image_selection["seed"]) + int(seed))
        frames.append(pd.DataFrame({"id": image_pool["ids"][index].astype(str), "rank": np.arange(1, len(index) + 1),
                                    "score": np.full(len(index), np.nan), "seed": int(seed)}))
    return pd.concat(frames, ignore_index=True)
