"""The shared ``select`` stage: a scoring method's per-example scores become the public selection table.

Every method's public output is ``<method>.selection``: one row per selected example, columns ``id`` (str), ``rank``
(int, 1 = first), ``score`` (float; NaN where a method picks a set rather than scoring). Scoring methods (LESS,
SelectIT, ...) write ``<method>.scores`` and this stage keeps the top budget; set-selecting methods (random, DQ,
DiverseEvol, CCFS) write ``selection`` themselves. :func:`validate_selection` is the one check of the contract, run by
every track before it materialises anything.
"""

from __future__ import annotations

from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from data_selection.core.selection import budget_to_count, rank_descending  # noqa: E402
from data_selection.pipelines.parameters import SelectionParams  # noqa: E402

SELECTION_COLUMNS = ("id", "rank", "score")


def selection_count(pool_size: int, selection: dict[str, Any]) -> int:
    """Budget -> number of examples (``budget_fraction`` or ``max_samples`` of ``params:selection``)."""
    return budget_to_count(pool_size, selection.get("budget_fraction"), selection.get("max_samples"))


def scores_table(pool: list[dict], scores: np.ndarray, extra: dict[str, Any] | None = None) -> pd.DataFrame:
    """A scoring method's output: ``id, source, subtask, score`` for every pool example, in pool order.

    Args:
        pool: the pool records (``id``, ``source``, optional ``subtask``).
        scores: shape (n_pool,), float; higher = more useful; NaN = could not be scored (ranked last).
        extra: more columns (each of length n_pool), e.g. LESS's ``best_subtask``.

    Raises:
        ValueError: ``scores`` does not have one value per pool example.
    """
    scores = np.asarray(scores, dtype=np.float64)
    if scores.shape != (len(pool),):
        raise ValueError(f"{scores.shape[0] if scores.ndim else 0} scores for a pool of {len(pool)}")
    table = pd.DataFrame(
        {
            "id": [r["id"] for r in pool],
            "source": [r.get("source") for r in pool],
            "subtask": [r.get("subtask") for r in pool],
            "score": scores,
        }
    )
    for name, values in (extra or {}).items():
        table[name] = values
    return table


def select_top_k(scores: pd.DataFrame, selection: SelectionParams) -> pd.DataFrame:
    """The top-``budget`` rows of a scores table as a selection (``id, rank, score`` + the method's extra columns).

    Ties are broken by pool order (the earlier example wins) and NaN scores rank last, so the same scores always
    give the same selection.

    Raises:
        ValueError: missing ``id``/``score`` columns, duplicate ids, or a budget the pool cannot meet.
    """
    missing = {"id", "score"} - set(scores.columns)
    if missing:
        raise ValueError(f"the scores table lacks column(s) {sorted(missing)}")
    if scores["id"].duplicated().any():
        raise ValueError(f"duplicate ids in the scores table: {scores.loc[scores['id'].duplicated(), 'id'].tolist()[:5]}")
    count = selection_count(len(scores), selection)
    order = rank_descending(scores["score"].to_numpy(dtype=np.float64))[:count]
    chosen = scores.iloc[order].reset_index(drop=True)
    chosen.insert(1, "rank", np.arange(1, count + 1, dtype=np.int64))
    extra = [c for c in chosen.columns if c not in SELECTION_COLUMNS]
    return chosen[list(SELECTION_COLUMNS) + extra]


def validate_selection(selection: pd.DataFrame, pool_ids: list[str], expected_count: int | None = None) -> None:
    """Check a selection table against the contract.

    Args:
        selection: the method's ``selection`` table.
        pool_ids: ids of the pool it was selected from.
        expected_count: the budget in examples, or None to skip the size check.

    Raises:
        ValueError: a missing column; an empty selection; duplicate ids; an id not in the pool; ranks that are not
            exactly 1..k in row order; a non-numeric or infinite score; or a size other than ``expected_count``.
    """
    missing = set(SELECTION_COLUMNS) - set(selection.columns)
    if missing:
        raise ValueError(f"a selection needs columns {list(SELECTION_COLUMNS)}; missing {sorted(missing)}")
    if selection.empty:
        raise ValueError("the selection is empty")
    ids = selection["id"].astype(str)
    duplicated = ids[ids.duplicated()].tolist()
    if duplicated:
        raise ValueError(f"the selection repeats id(s) {duplicated[:5]}")
    unknown = sorted(set(ids) - set(map(str, pool_ids)))
    if unknown:
        raise ValueError(f"{len(unknown)} selected id(s) are not in the pool, e.g. {unknown[:3]}: rerun the selection")
    ranks = selection["rank"].to_numpy()
    if not np.array_equal(ranks, np.arange(1, len(selection) + 1)):
        raise ValueError("selection ranks must be 1..k in row order")
    try:
        score = selection["score"].to_numpy(dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"selection scores must be numeric (NaN allowed): {exc}") from None
    if np.isinf(score).any():
        raise ValueError("selection scores must be finite or NaN, not infinite")
    if expected_count is not None and len(selection) != expected_count:
        raise ValueError(f"the selection has {len(selection)} examples; the budget is {expected_count}")


def score_distribution_plot(scores: pd.DataFrame, selection: pd.DataFrame):
    """Histogram of every pool example's score by source, with the selection's cut-off (its lowest score)."""
    fig, ax = plt.subplots(figsize=(7, 4))
    finite = scores[np.isfinite(scores["score"].to_numpy(dtype=np.float64))]
    bins = np.histogram_bin_edges(finite["score"], bins=30) if len(finite) else 10
    group_by = "source" if "source" in finite.columns else None
    groups = finite.groupby(group_by) if group_by else [("pool", finite)]
    for source, group in groups:
        ax.hist(group["score"], bins=bins, alpha=0.6, label=f"{source} ({len(group)})")
    cutoff = float(np.nanmin(selection["score"].to_numpy(dtype=np.float64))) if selection["score"].notna().any() else None
    if cutoff is not None:
        ax.axvline(cutoff, color="black", linestyle="--", label=f"cut-off: top {len(selection)} (score >= {cutoff:.4g})")
    ax.set_xlabel("score")
    ax.set_ylabel("pool examples")
    ax.set_title("scores of the pool and the selection cut-off")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig
