"""Each method's selection nodes, run as Kedro pipeline slices with ``SequentialRunner`` on toy inputs (seconds).

Spaceflights style: the real pipeline objects from the registry, an in-memory catalog, hand-computed expectations.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from kedro.io import DataCatalog, MemoryDataset
from kedro.runner import SequentialRunner

from data_selection.pipelines.registry import method_pipeline, registered_methods

SELECTION = {"budget_fraction": 0.5, "max_samples": None, "seed": 0}


def _pool(n: int) -> list[dict]:
    return [{"id": f"ex{i}", "source": "alpaca_gpt4_demo", "subtask": None, "messages": [], "raw": "{}"} for i in range(n)]


class _Kept(MemoryDataset):
    """A MemoryDataset the runner does not release, so the test can read intermediate outputs."""

    def _release(self) -> None:
        pass


def _run(pipeline, data: dict) -> DataCatalog:
    catalog = DataCatalog({name: MemoryDataset(value) for name, value in data.items()})
    for name in pipeline.all_outputs():
        catalog[name] = _Kept()
    SequentialRunner().run(pipeline, catalog)
    return catalog


def test_random_slice_draws_one_subset_per_judge_seed():
    pipeline = method_pipeline(registered_methods()["random"]).to_nodes("random.materialise_text")
    catalog = _run(pipeline, {"pool": _pool(10), "params:selection": SELECTION, "params:judge": {"seeds": [0, 3]}})
    selection = catalog.load("random.selection")
    for seed in (0, 3):
        expected = np.sort(np.random.default_rng(seed).choice(10, size=5, replace=False))
        assert selection[selection["seed"] == seed]["id"].tolist() == [f"ex{i}" for i in expected]
    subset = catalog.load("random.selected_subset")
    assert sorted({r["selection_seed"] for r in subset}) == [0, 3] and len(subset) == 10


def _ratings_table(ratings: list[int], model: str, parameters: int, prompts: int = 2) -> pd.DataFrame:
    rows = []
    for k in range(prompts):
        for i, rating in enumerate(ratings):
            p = np.full(5, 1e-6)
            p[rating - 1] = 1.0
            rows.append({"id": f"ex{i}", "prompt_index": k, **{f"p_{j + 1}": p[j] for j in range(5)},
                         "status": "ok", "reason": "", "model": model, "model_parameters": parameters})
    return pd.DataFrame(rows)


def test_selectit_slice_keeps_the_best_rated_examples():
    ratings = [2, 5, 3, 5, 1, 4]  # both raters agree, every prompt: the model-level order is the rating order
    params = {"rating_levels": 5, "num_prompts": 2, "token_level_prompt": 0, "alpha": 0.2, "normalisation": "paper",
              "weighting": "paper", "level": "model", "on_failure": "error"}
    pipeline = method_pipeline(registered_methods()["selectit"]).from_inputs(
        "selectit.rating_probabilities_base", "selectit.rating_probabilities_second"
    ).to_nodes("selectit.select_top_k")
    catalog = _run(pipeline, {
        "pool": _pool(6),
        "selectit.rating_probabilities_base": _ratings_table(ratings, "small", 100),
        "selectit.rating_probabilities_second": _ratings_table(ratings, "large", 300),
        "params:selectit": params, "params:selection": SELECTION,
    })
    selection = catalog.load("selectit.selection")
    # hand-ranked: ratings 5 (ex1), 5 (ex3, later in the pool), 4 (ex5)
    assert selection["id"].tolist() == ["ex1", "ex3", "ex5"]
    assert selection["rank"].tolist() == [1, 2, 3]


def test_dq_text_slice_bins_the_features_and_draws_one_item_per_bin_per_judge_seed():
    # the four unit vectors of tests/core/test_dq.py: dot-similarity GraphCut bins {ex1, ex3} then {ex0, ex2}
    features = np.array([[1.0, 0.0], [0.6, 0.8], [0.0, 1.0], [-1.0, 0.0]], dtype=np.float32)
    bins = {"n_bins": 2, "lam": 1.0, "similarity": "dot", "per_class": False, "remainder": "unbinned", "dtype": "float64"}
    pipeline = method_pipeline(registered_methods()["dq_text"]).from_inputs("dq_text.features").to_nodes(
        "dq_text.materialise_text"
    )
    catalog = _run(pipeline, {
        "pool": _pool(4), "dq_text.features": {"features": features},
        "params:dq_text.bins": bins, "params:dq_text.sampling": {"seed": 5, "per_judge_seed": True},
        "params:selection": SELECTION, "params:judge": {"seeds": [0, 1]},
    })
    table = catalog.load("dq_text.bins")
    assert table.sort_values(["bin", "bin_rank"])["id"].tolist() == ["ex1", "ex3", "ex0", "ex2"]
    summary = catalog.load("dq_text.bin_summary")
    assert summary["bin_sizes"] == [2, 2] and np.allclose(summary["objective"], [2.4, 2.0])
    selection = catalog.load("dq_text.selection")
    for seed in (0, 1):
        draw = selection[selection["seed"] == seed]
        expected = [
            f"ex{members[np.random.default_rng([5 + seed, b, 0]).choice(2, size=1)[0]]}"
            for b, members in enumerate(([1, 3], [0, 2]))
        ]
        assert draw["id"].tolist() == expected and draw["rank"].tolist() == [1, 2] and draw["bin"].tolist() == [0, 1]
    assert len(catalog.load("dq_text.selected_subset")) == 4
