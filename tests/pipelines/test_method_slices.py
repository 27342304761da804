"""Each method's selection nodes, run as Kedro pipeline slices with ``SequentialRunner`` on toy inputs (seconds).

Spaceflights style: the real pipeline objects from the registry, an in-memory catalog, hand-computed expectations.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from kedro.io import DataCatalog

from data_selection.pipelines.registry import method_pipeline, registered_methods
from tests.pipelines.slices import run_slice

SELECTION = {"budget_fraction": 0.5, "max_samples": None, "seed": 0}


def _pool(n: int) -> list[dict]:
    return [{"id": f"ex{i}", "source": "alpaca_gpt4_demo", "subtask": None, "messages": [], "raw": "{}"} for i in range(n)]


def _run(pipeline, data: dict) -> DataCatalog:
    return run_slice(pipeline, data)


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


# Small2Large on toy inputs: 12 examples in two clusters; P0 = 10 and P3 = 2 everywhere, so LP(1) = (10 - P1) / 8
S2L_LP = [0.9, 0.1, 0.5, 0.2, 0.8, 0.3, 0.6, 0.05, 0.7, 0.4, 0.95, 0.15]
S2L_CLUSTERS = [0, 1, 1, 0, 1, 1, 0, 1, 1, 0, 1, 1]  # cluster 0: ex0, ex3, ex6, ex9; cluster 1: the other 8
S2L_PARAMS = {"variant": "lp1", "chunk": "low", "rounding": "exact", "unlearned": "official", "num_clusters": None,
              "examples_per_cluster": 52.0, "kmeans_seed": 42, "embedding_batch_size": 8, "selector_finetune": "full",
              "selector_lora": None, "perplexity_batch_size": 8, "clust_rand_seed": 42,
              "selector_training": {"epochs": 3, "learning_rate": 2e-5, "batch_size": 4, "max_length": 64}}


def _s2l_inputs() -> dict:
    ids = [f"ex{i}" for i in range(12)]
    p1 = [10.0 - 8.0 * lp for lp in S2L_LP]
    perplexities = pd.DataFrame({"id": ids, "p0": 10.0, "p1": p1, "p2": 3.0, "p3": 2.0})
    return {"pool": _pool(12), "small2large.clusters": pd.DataFrame({"id": ids, "cluster": S2L_CLUSTERS}),
            "small2large.perplexities": perplexities, "params:small2large": S2L_PARAMS, "params:selection": SELECTION}


def test_small2large_slice_keeps_the_lowest_lp_half_of_every_cluster():
    pipeline = method_pipeline(registered_methods()["small2large"]).only_nodes(
        "small2large.select_by_learning_percentage", "small2large.materialise_text"
    )
    catalog = _run(pipeline, _s2l_inputs())
    selection = catalog.load("small2large.selection")
    # budget 6 of 12 (k = 2 chunks): cluster 0 (4 members) gives 2, cluster 1 (8) gives 4, by hand from S2L_LP:
    # cluster 0: ex3 (0.2), ex9 (0.4); cluster 1: ex7 (0.05), ex1 (0.1), ex11 (0.15), ex5 (0.3)
    assert selection["id"].tolist() == ["ex3", "ex9", "ex7", "ex1", "ex11", "ex5"]
    np.testing.assert_allclose(selection["score"], [0.2, 0.4, 0.05, 0.1, 0.15, 0.3])
    table = catalog.load("small2large.lp_table")
    np.testing.assert_allclose(table["lp1_approx"], [lp * 8 / 10 for lp in S2L_LP])  # (P0 - P1) / P0
    assert table["selected"].sum() == 6
    assert [r["id"] for r in catalog.load("small2large.selected_subset")] == selection["id"].tolist()


def test_clust_rand_slice_draws_the_same_per_cluster_counts():
    pipeline = method_pipeline(registered_methods()["clust_rand"]).only_nodes(
        "clust_rand.select_cluster_random", "clust_rand.materialise_text"
    )
    catalog = _run(pipeline, {**_s2l_inputs(), "params:judge": {"seeds": [0, 1]}})
    selection = catalog.load("clust_rand.selection")
    clusters = np.array(S2L_CLUSTERS)
    for seed in (0, 1):
        rng = np.random.default_rng(42 + seed)
        expected = [i for c, n in ((0, 2), (1, 4)) for i in sorted(rng.choice(np.flatnonzero(clusters == c), n, replace=False))]
        assert selection[selection["seed"] == seed]["id"].tolist() == [f"ex{i}" for i in expected]
    assert len(catalog.load("clust_rand.selected_subset")) == 12


def test_less_large_slice_judges_less_scores_top_budget_on_its_own_target():
    scores = pd.DataFrame({"id": [f"ex{i}" for i in range(6)], "source": "alpaca_gpt4_demo", "subtask": None,
                           "score": [0.1, 0.9, -0.2, 0.9, 0.5, np.nan], "best_subtask": list("abcdef")})
    original = scores.copy()
    method = registered_methods()["less_large"]
    assert method.target_model == "large_target_model" and method.output == "scores"
    pipeline = method_pipeline(method).to_nodes("less_large.materialise_text")
    catalog = _run(pipeline, {"pool": _pool(6), "less.scores": scores, "params:selection": SELECTION})
    selection = catalog.load("less_large.selection")
    # budget 3 of 6, by hand: 0.9 (ex1, earlier in the pool), 0.9 (ex3), 0.5 (ex4)
    assert selection["id"].tolist() == ["ex1", "ex3", "ex4"] and selection["rank"].tolist() == [1, 2, 3]
    np.testing.assert_allclose(selection["score"], [0.9, 0.9, 0.5])
    assert selection["best_subtask"].tolist() == ["b", "d", "e"]
    pd.testing.assert_frame_equal(scores, original)  # the source table is not modified
    assert [r["id"] for r in catalog.load("less_large.selected_subset")] == ["ex1", "ex3", "ex4"]


def test_less_large_refuses_scores_of_another_pool():
    import pytest

    from data_selection.pipelines.transfer import reuse_scores

    scores = pd.DataFrame({"id": [f"ex{i}" for i in range(5)], "score": np.arange(5.0)})
    with pytest.raises(ValueError, match=r"less.scores does not score the current pool \(5 rows, 5 of the pool's 6"):
        reuse_scores(_pool(6), scores, source="less")
    with pytest.raises(ValueError, match="in another order"):
        reuse_scores(_pool(5), scores.iloc[::-1], source="less")
    with pytest.raises(ValueError, match=r"lacks column\(s\) \['score'\]"):
        reuse_scores(_pool(5), scores[["id"]], source="less")
