"""Random baseline at the same budget as the method it is compared with."""

from __future__ import annotations

from typing import Any

from data_selection.core.selection import random_indices
from data_selection.pipelines.common import materialise, selection_count


def select_random(pool: list[dict], selection: dict[str, Any]):
    """k = budget examples uniformly at random (``selection.seed``); returns subset, verbatim subset, summary."""
    count = selection_count(pool, selection)
    indices = random_indices(len(pool), count, int(selection["seed"]))
    return materialise(pool, indices)
