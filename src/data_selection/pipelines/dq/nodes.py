"""Dataset Quantization nodes shared by every track: GraphCut bins -> uniform bin sampling -> selection, and the
per-bin diagnostics (sizes, GraphCut objective, a 2-D projection of bin membership) for MLflow.

The math is in :mod:`data_selection.core.dq`; a track only adds the node that computes ``features``.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from data_selection.core.dq import GraphCutBins, bin_sizes, sample_bins  # noqa: E402
from data_selection.pipelines.dq.parameters import BinParams, SamplingParams  # noqa: E402
from data_selection.pipelines.parameters import JudgeParams, SelectionParams  # noqa: E402
from data_selection.pipelines.select.nodes import selection_count  # noqa: E402

logger = logging.getLogger(__name__)

#: most points drawn in the projection plot (a seeded subsample beyond that)
PLOT_POINTS = 5000


def check_bins_and_budget(n_items: int, labels: np.ndarray | None, bins: dict[str, Any], selection: dict[str, Any]) -> int:
    """Fail before any feature is computed if the bins or the budget cannot work; returns the budget in items.

    Raises:
        ValueError: ``n_bins`` larger than the pool (or than a class, per class), or a budget larger than the items
            the bins hold (``remainder: unbinned`` leaves n mod K items of every group out).
    """
    count = selection_count(n_items, selection)
    k = int(bins["n_bins"])
    if k > n_items:
        raise ValueError(f"dq bins.n_bins={k} is larger than the pool ({n_items} items): lower n_bins")
    groups = [n_items]
    if bins.get("per_class"):
        if labels is None:
            raise ValueError("dq bins.per_class needs class labels, and these features have none")
        _, groups = np.unique(np.asarray(labels), return_counts=True)
        if groups.min() < k:
            raise ValueError(f"dq bins.per_class: a class has {groups.min()} items, fewer than n_bins={k}")
    binned = sum(sum(bin_sizes(int(n), k, bins["remainder"])) for n in groups)
    if count > binned:
        raise ValueError(f"the budget ({count} items) is larger than the {binned} items the {k} bins hold")
    return count


def check_image_bins_and_budget(labels: np.ndarray, bins: dict[str, Any], ipc: int) -> int:
    """The image form of :func:`check_bins_and_budget`: the budget is ``ipc`` images of every class; returns the
    budget in images (ipc x classes).

    Raises:
        ValueError: bins not per class, a class with fewer items than ``n_bins``, or a class whose bins hold fewer
            than ``ipc`` items.
    """
    k = int(bins["n_bins"])
    if not bins.get("per_class"):
        raise ValueError("dq_image.bins.per_class must be true: the image budget is images per class (IPC)")
    classes, sizes = np.unique(np.asarray(labels), return_counts=True)
    for cls, n in zip(classes, sizes):
        if n < k:
            raise ValueError(f"class {cls} has {n} images, fewer than dq_image.bins.n_bins={k}")
        binned = sum(bin_sizes(int(n), k, bins["remainder"]))
        if binned < ipc:
            raise ValueError(f"IPC {ipc} is larger than the {binned} images the bins of class {cls} hold")
    return int(ipc) * len(classes)


def _ids(pool) -> list[str]:
    if isinstance(pool, dict) and "ids" in pool:
        return np.asarray(pool["ids"]).astype(str).tolist()
    if isinstance(pool, pd.DataFrame):
        return pool["id"].astype(str).tolist()
    return [str(r["id"]) for r in pool]


def generate_bins(pool, features: dict[str, np.ndarray], bins: BinParams) -> tuple[pd.DataFrame, dict, dict]:
    """GraphCut bins over the pool's features (DQ "dataset bin generation").

    Args:
        pool: the pool (records with ``id``, or a table with an ``id`` column), in feature row order.
        features: ``{"features": (N, d) float, "labels": optional (N,)}`` from the track's feature node.
        bins: ``params:<method>.bins``.

    Returns:
        (bins table ``id, bin, bin_rank, gain[, label]`` in pool order (bin -1: unbinned); summary JSON; MLflow
        metric history ``dq_bin_size`` and ``dq_bin_objective`` with step = bin, ``dq_binning_seconds``).

    Raises:
        ValueError: features and pool differ in length, or any error of :class:`GraphCutBins` (K > N, NaN, ...).
    """
    matrix = features["features"]
    labels = features.get("labels")
    ids = _ids(pool)
    if matrix.shape[0] != len(ids):
        raise ValueError(f"{matrix.shape[0]} feature rows for a pool of {len(ids)}: rerun the feature node")
    model = GraphCutBins(
        n_bins=int(bins["n_bins"]), lam=float(bins["lam"]), similarity=bins["similarity"],
        per_class=bool(bins["per_class"]), remainder=bins["remainder"], dtype=bins["dtype"], progress=True,
    )
    start = time.perf_counter()
    model.fit(matrix, labels if bins["per_class"] else None)
    seconds = time.perf_counter() - start
    table = pd.DataFrame({"id": ids, "bin": model.bin_, "bin_rank": model.bin_rank_, "gain": model.gain_})
    if labels is not None:
        table["label"] = np.asarray(labels)
    summary = {
        "items": len(ids),
        "feature_dim": int(matrix.shape[1]),
        **{k: bins[k] for k in ("n_bins", "lam", "similarity", "per_class", "remainder", "dtype")},
        "bin_sizes": model.bin_sizes_.tolist(),
        "unbinned": int((model.bin_ < 0).sum()),
        "objective": model.objective_.tolist(),
        "seconds": round(seconds, 3),
    }
    logger.info("DQ: %d bins of sizes %s in %.1f s", len(model.bin_sizes_), model.bin_sizes_.tolist(), seconds)
    metrics = {
        "dq_bin_size": [{"value": float(v), "step": b} for b, v in enumerate(model.bin_sizes_)],
        "dq_bin_objective": [{"value": float(v), "step": b} for b, v in enumerate(model.objective_)],
        "dq_binning_seconds": {"value": seconds, "step": 0},
    }
    return table, summary, metrics


def sample_selection(
    bins: pd.DataFrame, selection: dict[str, Any], judge: JudgeParams, sampling: SamplingParams
) -> pd.DataFrame:
    """The same share of every bin (and class, when the bins are per class), uniformly, at the shared budget.

    ``selection`` is the track's budget: ``params:selection`` (text: a fraction or count of the pool) or
    ``params:image_selection`` (images: ``ipc`` images of every class, apportioned over each class's own bins).

    With ``sampling.per_judge_seed`` (default) one draw per judge seed s with seed ``sampling.seed + s``, as the
    random baseline draws, so the comparison's seeds carry DQ's sampling variance too; otherwise one draw.

    Returns:
        the selection ``id, rank, score (NaN: DQ does not score), [seed], bin, bin_rank``, ordered by bin.

    Raises:
        ValueError: a budget the bins cannot hold (see :func:`data_selection.core.dq.sample_bins`).
    """
    bin_of = bins["bin"].to_numpy(dtype=np.int64)
    labels = bins["label"].to_numpy() if "label" in bins.columns and bins["label"].notna().all() else None
    if "ipc" in selection:
        if labels is None:
            raise ValueError("an IPC budget needs the class labels in the bins table")
        budget = {"count_per_class": int(selection["ipc"])}
        count = int(selection["ipc"]) * len(np.unique(labels))
    else:
        count = selection_count(len(bins), selection)
        budget = {"count": count}
    seeds = [int(s) for s in judge["seeds"]] if sampling["per_judge_seed"] else [None]
    frames = []
    for seed in seeds:
        picked = sample_bins(bin_of, seed=int(sampling["seed"]) + (seed or 0), labels=labels, **budget)
        frame = pd.DataFrame({"id": bins["id"].to_numpy()[picked], "rank": np.arange(1, count + 1, dtype=np.int64),
                              "score": np.full(count, np.nan)})
        if seed is not None:
            frame["seed"] = seed
        frame["bin"] = bin_of[picked]
        frame["bin_rank"] = bins["bin_rank"].to_numpy()[picked]
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def plot_bins(features: dict[str, np.ndarray], bins: pd.DataFrame, summary: dict):
    """Left: bin membership on the first two principal components of the features (a seeded subsample of at most
    :data:`PLOT_POINTS` items; unbinned items grey). Right: bin sizes and the GraphCut objective per bin."""
    from sklearn.decomposition import PCA

    matrix = np.asarray(features["features"], dtype=np.float64)
    rows = np.arange(len(matrix))
    if len(rows) > PLOT_POINTS:
        rows = np.sort(np.random.default_rng(0).choice(rows, size=PLOT_POINTS, replace=False))
    points = PCA(n_components=2, random_state=0).fit_transform(matrix[rows]) if matrix.shape[1] >= 2 else np.c_[matrix[rows], 0 * rows]
    bin_of = bins["bin"].to_numpy()[rows]
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 5))
    colours = plt.get_cmap("viridis", max(int(summary["n_bins"]), 2))
    out = bin_of < 0
    if out.any():
        left.scatter(points[out, 0], points[out, 1], s=8, c="lightgrey", label="unbinned")
    scatter = left.scatter(points[~out, 0], points[~out, 1], s=8, c=bin_of[~out], cmap=colours, vmin=-0.5,
                           vmax=int(summary["n_bins"]) - 0.5)
    fig.colorbar(scatter, ax=left, label="bin (0 = first GraphCut bin)")
    left.set_xlabel("PC 1")
    left.set_ylabel("PC 2")
    left.set_title(f"bin membership, {len(rows)} of {len(matrix)} items")
    steps = np.arange(len(summary["bin_sizes"]))
    right.bar(steps, summary["bin_sizes"], color="lightsteelblue", label="items")
    right.set_xlabel("bin")
    right.set_ylabel("items")
    twin = right.twinx()
    twin.plot(steps, summary["objective"], "o-", color="darkred", label="GraphCut objective f(S; V)")
    twin.set_ylabel("GraphCut objective")
    right.set_title("bin sizes and GraphCut objective per bin")
    handles = right.get_legend_handles_labels()[0] + twin.get_legend_handles_labels()[0]
    right.legend(handles, [h.get_label() for h in handles], fontsize=8, loc="upper right")
    fig.tight_layout()
    return fig
