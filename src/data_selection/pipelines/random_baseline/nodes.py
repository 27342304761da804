"""Random baseline: a uniform subset at the same budget, a fresh draw for every judge seed."""

from __future__ import annotations

import numpy as np
import pandas as pd

from data_selection.core.selection import random_indices
from data_selection.pipelines.parameters import JudgeParams, SelectionParams
from data_selection.pipelines.select.nodes import selection_count


def select_random(pool: list[dict], selection: SelectionParams, judge: JudgeParams) -> pd.DataFrame:
    """k = budget examples uniformly without replacement, one draw per judge seed.

    The draw for judge seed s uses ``numpy.random.default_rng(selection.seed + s)`` (so judge seed 0 reproduces the
    single draw of ``selection.seed``); its variation across seeds is part of the baseline's uncertainty.

    Returns:
        the selection table ``id, rank, score, seed`` (score NaN: random does not score; rank = pool order within
        each draw), k rows per judge seed.
    """
    count = selection_count(len(pool), selection)
    frames = []
    for seed in judge["seeds"]:
        indices = random_indices(len(pool), count, int(selection["seed"]) + int(seed))
        frames.append(
            pd.DataFrame(
                {
                    "id": [pool[int(i)]["id"] for i in indices],
                    "rank": np.arange(1, count + 1, dtype=np.int64),
                    "score": np.full(count, np.nan),
                    "seed": int(seed),
                }
            )
        )
    return pd.concat(frames, ignore_index=True)
