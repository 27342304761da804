"""The paper's ``clust_rand`` baseline: as many random members of every cluster as the Small2Large chunk keeps."""

from __future__ import annotations

import numpy as np
import pandas as pd

from data_selection.core import small2large as s2l
from data_selection.pipelines.parameters import JudgeParams, SelectionParams
from data_selection.pipelines.small2large.nodes import cluster_quotas
from data_selection.pipelines.small2large.parameters import Small2LargeParams


def select_cluster_random(
    pool: list[dict], clusters: pd.DataFrame, params: Small2LargeParams, selection: SelectionParams, judge: JudgeParams
) -> pd.DataFrame:
    """Per judge seed s, ``counts[c]`` uniform members of every Small2Large cluster c (``core.small2large.cluster_random``
    with seed ``clust_rand_seed + s``), where ``counts`` are the Small2Large selection's per-cluster counts (the
    same chunk and rounding), so only *which* members differ.

    Returns:
        the selection ``id, rank, score, cluster, seed`` (score NaN; rank = cluster by cluster, pool order inside).

    Raises:
        ValueError: ``clusters`` does not list the pool's examples in order (re-run ``small2large`` first).
    """
    ids = [r["id"] for r in pool]
    if clusters["id"].astype(str).tolist() != ids:
        raise ValueError("small2large.clusters does not match the pool: run `kedro run --pipeline=small2large` first")
    labels = clusters["cluster"].to_numpy(dtype=np.int64)
    counts = {c: q for c, (_, q) in cluster_quotas(labels, len(pool), params, selection).items()}
    frames = []
    for seed in judge["seeds"]:
        chosen = s2l.cluster_random(labels, counts, int(params["clust_rand_seed"]) + int(seed))
        frames.append(
            pd.DataFrame(
                {
                    "id": [ids[i] for i in chosen],
                    "rank": np.arange(1, len(chosen) + 1, dtype=np.int64),
                    "score": np.full(len(chosen), np.nan),
                    "cluster": labels[chosen],
                    "seed": int(seed),
                }
            )
        )
    return pd.concat(frames, ignore_index=True)
