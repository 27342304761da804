"""The selection contract: the shared select stage, its validation, and the text track's materialisation."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from data_selection.pipelines.select.nodes import select_top_k, validate_selection
from data_selection.pipelines.tracks.text import materialise_text


def _pool(n: int) -> list[dict]:
    return [{"id": f"id{i}", "source": "alpaca" if i % 2 else "sharegpt", "raw": f'{{"n": {i}}}', "messages": []} for i in range(n)]


def test_select_top_k_keeps_the_best_with_ties_by_pool_order_and_nan_last():
    scores = pd.DataFrame({"id": ["a", "b", "c", "d", "e"], "score": [0.5, np.nan, 0.9, 0.5, 0.1], "extra": list("vwxyz")})
    selection = select_top_k(scores, {"max_samples": 4, "budget_fraction": None, "seed": 0})
    # hand-ranked: c (0.9), a (0.5, earlier), d (0.5), e (0.1); b (NaN) last
    assert selection["id"].tolist() == ["c", "a", "d", "e"]
    assert selection["rank"].tolist() == [1, 2, 3, 4]
    assert selection.columns.tolist()[:3] == ["id", "rank", "score"]
    assert selection["extra"].tolist() == ["x", "v", "y", "z"]


def test_select_top_k_budget_fraction_floors_like_less():
    scores = pd.DataFrame({"id": [f"x{i}" for i in range(10)], "score": np.arange(10.0)})
    selection = select_top_k(scores, {"budget_fraction": 0.25, "max_samples": None, "seed": 0})
    assert selection["id"].tolist() == ["x9", "x8"]  # floor(0.25 * 10) = 2


def test_select_top_k_rejects_duplicate_ids():
    with pytest.raises(ValueError, match="duplicate"):
        select_top_k(pd.DataFrame({"id": ["a", "a"], "score": [1.0, 2.0]}), {"max_samples": 1, "budget_fraction": None})


@pytest.mark.parametrize(
    "table, message",
    [
        (pd.DataFrame({"id": ["id0"], "rank": [1]}), "missing"),
        (pd.DataFrame({"id": ["id0", "id0"], "rank": [1, 2], "score": [1.0, 1.0]}), "repeats"),
        (pd.DataFrame({"id": ["nope"], "rank": [1], "score": [1.0]}), "not in the pool"),
        (pd.DataFrame({"id": ["id0", "id1"], "rank": [2, 1], "score": [1.0, 1.0]}), "ranks"),
        (pd.DataFrame({"id": ["id0"], "rank": [1], "score": [np.inf]}), "infinite"),
        (pd.DataFrame({"id": ["id0"], "rank": [1], "score": [1.0]}), "budget is 2"),
    ],
)
def test_validate_selection_rejects_broken_contracts(table, message):
    with pytest.raises(ValueError, match=message):
        validate_selection(table, [r["id"] for r in _pool(4)], expected_count=2)


def test_materialise_text_returns_records_in_rank_order_and_a_summary():
    pool = _pool(10)
    selection = pd.DataFrame({"id": ["id3", "id0"], "rank": [1, 2], "score": [0.7, 0.2]})
    subset, original, summary = materialise_text(pool, selection, {"budget_fraction": 0.2, "max_samples": None, "seed": 0})
    assert [r["id"] for r in subset] == ["id3", "id0"]
    assert all(r["selection_seed"] is None for r in subset)
    assert [r["raw"] for r in original] == [pool[3]["raw"], pool[0]["raw"]]
    assert summary == {"pool_size": 10, "selected": 2, "draws": 1, "selected_by_source": {"alpaca": 1, "sharegpt": 1}, "score_cutoff": 0.2}
    assert pool[3] == _pool(10)[3]  # inputs are not modified


def test_materialise_text_checks_every_draw_of_a_per_seed_selection():
    pool = _pool(10)
    good = pd.DataFrame({"id": ["id1", "id2", "id2", "id5"], "rank": [1, 2, 1, 2], "score": np.nan, "seed": [0, 0, 1, 1]})
    subset, original, summary = materialise_text(pool, good, {"max_samples": 2, "budget_fraction": None, "seed": 0})
    assert [(r["id"], r["selection_seed"]) for r in subset] == [("id1", 0), ("id2", 0), ("id2", 1), ("id5", 1)]
    assert [r["id"] for r in original] == ["id1", "id2", "id5"]  # union, each record once
    assert summary["draws"] == 2 and summary["score_cutoff"] is None
    short = good.iloc[:3]  # seed 1 has one example for a budget of 2
    with pytest.raises(ValueError, match="budget is 2"):
        materialise_text(pool, short, {"max_samples": 2, "budget_fraction": None, "seed": 0})
