"""``less_predictor``'s selection nodes as a Kedro slice (SequentialRunner, in-memory, toy inputs, no model)."""

from __future__ import annotations

import numpy as np
import pytest
import pandas as pd
from kedro.io import DataCatalog
from sklearn.linear_model import Ridge
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from data_selection.pipelines.registry import method_pipeline, registered_methods
from tests.pipelines.slices import run_slice

N = 40
PARAMS = {
    "train_fraction": 0.5, "split_seed": 3, "aggregation": "avg", "n_levels": 4, "regressor": "ridge",
    "classifier": "logistic", "cv_folds": 4, "cv_seed": 0, "selection_mode": "predicted", "features": "minilm",
    "embedding": {"batch_size": 8, "max_length": 64}, "max_gradient_fraction": 1.0,
}


def _inputs(mode: str):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(N, 3))
    truth = X @ np.array([1.0, -0.5, 0.2])
    pool = [{"id": f"ex{i}", "source": "alpaca_gpt4_demo", "subtask": None, "messages": [], "raw": "{}"} for i in range(N)]
    train = np.sort(np.random.default_rng(3).choice(N, size=20, replace=False))  # the split, drawn independently
    influence = pd.DataFrame({"id": [f"ex{i}" for i in train], "avg": truth[train], "max": truth[train] + 1,
                              "min": truth[train] - 1, "subtask_mean_max": truth[train] * 2})
    data = {
        "pool": pool, "less_predictor.pool_embeddings": {"embeddings": X},
        "less_predictor.training_influence": influence,
        "less_predictor.validation_features": {"epoch_1": np.zeros((3, 4)), "epoch_2": np.zeros((3, 4))},
        "less_predictor.warmup_summary": {"checkpoints": {"epoch_1": {"epoch": 1, "mean_lr": 1.0}, "epoch_2": {"epoch": 2, "mean_lr": 0.5}}},
        "base_model": None, "target_validation": [], "less_predictor.warmup_checkpoints": {},  # unused: no candidates
        "less_predictor.candidate_gradient_shards": None,
        "params:less_predictor": dict(PARAMS, selection_mode=mode), "params:less": {},
        "params:selection": {"budget_fraction": 0.25, "max_samples": None, "seed": 0},
    }
    return data, X, truth, train


def _run(nodes: list[str], data: dict) -> DataCatalog:
    pipeline = method_pipeline(registered_methods()["less_predictor"]).only_nodes(*[f"less_predictor.{n}" for n in nodes])
    return run_slice(pipeline, data)


def test_predicted_mode_keeps_real_influence_and_predicts_the_rest():
    data, X, truth, train = _inputs("predicted")
    catalog = _run(["split_pool", "fit_predictors", "candidate_influence", "combine_scores", "select_top_k"], data)
    scores = catalog.load("less_predictor.scores")
    assert (scores["part"] == "training").to_numpy().nonzero()[0].tolist() == train.tolist()
    expected = make_pipeline(StandardScaler(), Ridge(alpha=1.0)).fit(X[train], truth[train]).predict(X)
    expected[train] = truth[train]  # training points keep their real influence
    np.testing.assert_allclose(scores["score"], expected, rtol=1e-9)
    assert (scores["score_kind"] == "real").sum() == 20 and not scores["candidate"].any()
    selection = catalog.load("less_predictor.selection")
    order = np.lexsort((np.arange(N), -expected))[:10]
    assert selection["id"].tolist() == [f"ex{i}" for i in order]
    counts = catalog.load("less_predictor.gradient_counts")
    # 20 training points + 3 validation questions at 2 checkpoints, against 40 + 3 for full LESS
    assert counts["gradients"] == 46 and counts["full_less_gradients"] == 86 and counts["candidates"] == 0
    report = catalog.load("less_predictor.predictor_report")
    assert set(report["aggregations"]) == {"avg", "max", "min", "subtask_mean_max"}
    assert report["aggregations"]["avg"]["r2"] > 0.9  # an exact linear signal, held-out folds


def test_step6_candidates_are_exactly_the_predicted_top_level_of_the_rest():
    data, X, truth, train = _inputs("candidates")
    catalog = _run(["split_pool", "fit_predictors"], data)
    predictions = catalog.load("less_predictor.predictions")
    candidates = [r["id"] for r in catalog.load("less_predictor.candidates")]
    top = predictions[(predictions["part"] == "rest") & (predictions["predicted_level"] == 3)]["id"].tolist()
    assert candidates == top and len(candidates) > 0
    assert not set(candidates) & {f"ex{i}" for i in train}


def test_the_gradient_cap_keeps_the_top_predicted_candidates_and_reports_the_cut():
    data, *_ = _inputs("candidates")
    data["params:less_predictor"] = dict(data["params:less_predictor"], max_gradient_fraction=0.6)
    catalog = _run(["split_pool", "fit_predictors"], data)
    predictions = catalog.load("less_predictor.predictions")
    report = catalog.load("less_predictor.predictor_report")
    top = predictions[(predictions["part"] == "rest") & (predictions["predicted_level"] == 3)]
    # floor(0.6 * (40 pool + 0 validation)) = 24 real gradients - 20 training points = 4 candidates at most
    expected = top.sort_values(["predicted_score"], ascending=False, kind="stable").head(4)["id"]
    kept = predictions[predictions["candidate"]]["id"]
    assert len(top) > 4 and sorted(kept) == sorted(expected)
    assert report["top_level_predicted"] == len(top) and report["candidates_dropped_by_cap"] == len(top) - 4
    data["params:less_predictor"] = dict(data["params:less_predictor"], max_gradient_fraction=0.4)
    with pytest.raises(Exception, match="lower train_fraction"):
        _run(["split_pool"], data)
