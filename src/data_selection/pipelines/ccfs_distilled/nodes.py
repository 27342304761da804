"""The "distilled only" baseline of CCFS (Chen et al., CVPR 2025, §4): the distilled set alone at the same IPC."""

from __future__ import annotations

import numpy as np
import pandas as pd

from data_selection.pipelines.ccfs.nodes import initial_distilled_set, plan_budget
from data_selection.pipelines.ccfs.parameters import CcfsParams
from data_selection.pipelines.parameters import ImageSelectionParams
from data_selection.pipelines.select.nodes import SELECTION_COLUMNS


def distilled_only(
    image_pool: dict, params: CcfsParams, image_selection: ImageSelectionParams
) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
    """Distil IPC images per class with DM (``ccfs.distilled``: same network, schedule and seed as ``ccfs``; alpha
    taken as 1) and select no real image.

    Returns:
        (an empty selection ``id, rank, score``; ``{"images": float32 [K * IPC, H, W, C] in [0, 1], "labels"}``).

    Raises:
        ValueError: ``ccfs.ipc`` disagrees with ``image_selection.ipc`` (see ``ccfs.nodes.plan_budget``).
    """
    plan = plan_budget(image_pool, {**params, "alpha": 1.0, "curricula": 1}, image_selection)
    distilled = initial_distilled_set(image_pool, plan, params)
    return pd.DataFrame({c: pd.Series(dtype=t) for c, t in zip(SELECTION_COLUMNS, (str, np.int64, np.float64))}), distilled
