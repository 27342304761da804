"""``full_images``: every pool image, in pool order."""

from __future__ import annotations

import numpy as np
import pandas as pd
from kedro.pipeline import Pipeline, node


def select_all_images(image_pool: dict) -> pd.DataFrame:
    """The selection table ``id, rank, score`` of every pool image (rank = pool order, score NaN)."""
    ids = image_pool["ids"].astype(str)
    return pd.DataFrame({"id": ids, "rank": np.arange(1, len(ids) + 1), "score": np.full(len(ids), np.nan)})


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline([node(select_all_images, "image_pool", "selection", name="select_all_images")])
