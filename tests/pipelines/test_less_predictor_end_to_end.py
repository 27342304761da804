"""`kedro run --pipeline=less_predictor --env test` through a KedroSession on the real packaged model and data."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from tests.conftest import git_commit_all, make_project_copy, run_in_session
from tests.pipelines import e2e_checks

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def predictor_run(tmp_path_factory):
    root = make_project_copy(tmp_path_factory.mktemp("project"))
    commit = git_commit_all(root)
    run_in_session(root, "less_predictor")
    return root, commit


def test_real_gradients_only_for_training_points_and_candidates(predictor_run):
    root, _ = predictor_run
    out = root / "data"
    split = pd.read_csv(out / "05_model_input/less_predictor/pool_split.csv")
    assert (split["part"] == "training").sum() == 8  # conf/test: pool 16, train_fraction 0.5
    features = np.load(out / "04_feature/less_predictor/training_features/epoch_1.npy")
    assert features.shape == (8, 64)
    np.testing.assert_allclose(np.linalg.norm(features, axis=1), 1.0, rtol=1e-5)
    predictions = pd.read_csv(out / "07_model_output/less_predictor/predictions.csv")
    candidates = [json.loads(line)["id"] for line in (out / "05_model_input/less_predictor/candidates.jsonl").read_text().splitlines()]
    top = predictions[(predictions["part"] == "rest") & (predictions["predicted_level"] == 1)]["id"].tolist()
    assert candidates == top
    counts = json.loads((out / "08_reporting/less_predictor/gradient_counts.json").read_text())
    n_val = len(e2e_checks.read_jsonl(out / "03_primary/target_validation.jsonl"))
    assert counts["gradients"] == (8 + len(candidates) + n_val) * 2
    assert counts["full_less_gradients"] == (16 + n_val) * 2
    scores = pd.read_csv(out / "07_model_output/less_predictor/scores.csv")
    real = scores["score_kind"] == "real"
    assert real.sum() == 8 + len(candidates)
    # real scores are convex mixes of cosines; training points' scores are their real subtask_mean_max influence
    influence = pd.read_csv(out / "04_feature/less_predictor/training_influence.csv").set_index("id")
    training = scores[scores["part"] == "training"].set_index("id")
    np.testing.assert_allclose(training["score"], influence.loc[training.index, "subtask_mean_max"], rtol=1e-9)
    assert influence.abs().max().max() <= 1.0 + 1e-6


def test_selection_verbatim_and_finished_mlflow_run(predictor_run):
    root, commit = predictor_run
    e2e_checks.check_selection_and_verbatim_records(root, "less_predictor", budget=4)
    run = e2e_checks.check_metrics_predictions_and_mlflow(root, "less_predictor", commit, seeds=["0"])
    assert run.data.params["less_predictor.train_fraction"] == "0.5"
    report = json.loads((root / "data/08_reporting/less_predictor/predictor_report.json").read_text())
    assert set(report["aggregations"]) == {"avg", "max", "min", "subtask_mean_max"}
