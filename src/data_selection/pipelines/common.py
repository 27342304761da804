"""Selection steps every method shares: turn scores or indices into the selected subset and its report."""

from __future__ import annotations

from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from data_selection.core.selection import budget_to_count, rank_descending  # noqa: E402


def selection_count(pool: list[dict], selection: dict[str, Any]) -> int:
    """Budget -> number of examples (``budget_fraction`` or ``max_samples``); errors before any work."""
    return budget_to_count(len(pool), selection.get("budget_fraction"), selection.get("max_samples"))


def scores_table(pool: list[dict], scores: np.ndarray, extra: dict[str, Any] | None = None) -> pd.DataFrame:
    """(id, source, subtask, score, rank) for every pool example; rank 1 is the best, ties by pool order."""
    scores = np.asarray(scores, dtype=np.float64)
    if scores.shape != (len(pool),):
        raise ValueError(f"{scores.shape[0]} scores for a pool of {len(pool)}")
    order = rank_descending(scores)
    rank = np.empty(len(pool), dtype=np.int64)
    rank[order] = np.arange(1, len(pool) + 1)
    table = pd.DataFrame(
        {
            "id": [r["id"] for r in pool],
            "source": [r["source"] for r in pool],
            "subtask": [r.get("subtask") for r in pool],
            "score": scores,
            "rank": rank,
        }
    )
    for name, values in (extra or {}).items():
        table[name] = values
    return table


def materialise(pool: list[dict], indices: np.ndarray) -> tuple[list[dict], list[str], dict[str, Any]]:
    """The chosen pool records (normalised, in the given order), their verbatim source texts, a summary.

    The verbatim texts are the records exactly as they appear in their source files (``raw``), so the
    subset can be written in the sources' own JSON format, each record byte-identical to its input.
    """
    chosen = [pool[int(i)] for i in indices]
    by_source: dict[str, int] = {}
    for record in chosen:
        by_source[record["source"]] = by_source.get(record["source"], 0) + 1
    summary = {"pool_size": len(pool), "selected": len(chosen), "selected_by_source": by_source}
    return chosen, [r["raw"] for r in chosen], summary


def score_distribution_plot(table: pd.DataFrame, count: int, title: str):
    """Histogram of scores by source with the selection cut-off (the k-th best score) marked."""
    fig, ax = plt.subplots(figsize=(7, 4))
    finite = table[np.isfinite(table["score"])]
    bins = np.histogram_bin_edges(finite["score"], bins=30) if len(finite) else 10
    for source, group in finite.groupby("source"):
        ax.hist(group["score"], bins=bins, alpha=0.6, label=f"{source} ({len(group)})")
    cutoff = table.sort_values("rank")["score"].iloc[count - 1]
    ax.axvline(cutoff, color="black", linestyle="--", label=f"cut-off: top {count} (score >= {cutoff:.4g})")
    ax.set_xlabel("score")
    ax.set_ylabel("pool examples")
    ax.set_title(title)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig
