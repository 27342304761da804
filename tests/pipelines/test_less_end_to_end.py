"""`kedro run --pipeline=less --env test` through a KedroSession, on the real packaged model and data.

Slow (a few minutes on 2 cores) but it is the one test that checks what a user gets: the selected records
byte-identical to their source files, the selection consistent with the scores, metrics equal to the means of the
per-question predictions, and the MLflow run (with a nested run per judge seed) that holds them.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.conftest import git_commit_all, make_project_copy, run_in_session
from tests.pipelines import e2e_checks

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def less_run(tmp_path_factory):
    root = make_project_copy(tmp_path_factory.mktemp("project"))
    commit = git_commit_all(root)
    run_in_session(root, "less")
    return root, commit


def test_selection_is_the_top_of_the_scores_and_verbatim(less_run):
    root, _ = less_run
    selection = e2e_checks.check_selection_and_verbatim_records(root, "less", budget=4)  # conf/test: pool 16, 0.25
    scores = pd.read_csv(root / "data/07_model_output/less/scores.csv")
    order = np.lexsort((np.arange(len(scores)), -scores["score"].to_numpy()))
    assert selection["id"].tolist() == scores["id"].to_numpy()[order[:4]].tolist()
    # cosines weighted by normalised checkpoint weights: an influence score is a convex mix of cosines
    assert scores["score"].between(-1.0 - 1e-6, 1.0 + 1e-6).all() and scores["score"].nunique() > 1


def test_features_are_unit_rows_per_checkpoint(less_run):
    root, _ = less_run
    for kind in ("pool_features", "validation_features"):
        folder = root / "data/04_feature/less" / kind
        names = sorted(p.stem for p in folder.glob("*.npy"))
        assert names == ["epoch_1", "epoch_2"]
        for name in names:
            array = np.load(folder / f"{name}.npy")
            assert array.shape[1] == 64
            np.testing.assert_allclose(np.linalg.norm(array, axis=1), 1.0, rtol=1e-5)


def test_metrics_match_predictions_and_are_in_the_mlflow_run(less_run):
    root, commit = less_run
    run = e2e_checks.check_metrics_predictions_and_mlflow(root, "less", commit, seeds=["0"])
    assert run.data.params["less.gradients.projection_dim"] == "64"
    assert run.data.tags.get("env") == "test"  # set by kedro-mlflow from the run parameters


def test_same_seed_same_selection(less_run, tmp_path):
    """The whole selection, rerun from scratch in a second copy, gives identical ids and scores."""
    root, _ = less_run
    again = make_project_copy(tmp_path)
    run_in_session(again, "less", to_nodes=["less.select_top_k"])
    first = pd.read_csv(root / "data/07_model_output/less/selection.csv")
    second = pd.read_csv(again / "data/07_model_output/less/selection.csv")
    assert first["id"].tolist() == second["id"].tolist()
    np.testing.assert_allclose(first["score"], second["score"], rtol=1e-6)


def test_kedro_viz_build_shows_the_method_and_its_track(less_run):
    root, _ = less_run
    graph = e2e_checks.kedro_viz_graph(root, str(Path(sys.executable).parent / "kedro"))
    node_names = {n["name"] for n in graph["nodes"]}
    for name in ("warmup_lora", "pool_gradient_features", "score_influence", "select_top_k", "finetune_over_seeds"):
        assert any(name in n for n in node_names), name
    assert graph["layers"] == ["raw", "intermediate", "features", "selected", "models", "reporting"]
    previews = json.dumps(graph)
    assert "less.selection" in previews


def test_less_large_judges_less_selection_on_the_large_target(less_run, tmp_path):
    """`kedro run --pipeline=less_large` after `less`: the same selected records, its own fine-tune and MLflow run.

    conf/test maps ``large_target_model`` onto SmolLM2 for speed; the wiring (which entry is read) is tested in
    test_catalog.py. A copy without ``less.scores`` stops before any fine-tune, naming the file.
    """
    import shutil

    from tests.conftest import git_commit_all

    root, _ = less_run
    (tmp_path / "without_scores").mkdir()
    (tmp_path / "with_scores").mkdir()
    missing = make_project_copy(tmp_path / "without_scores")
    git_commit_all(missing)
    with pytest.raises(Exception, match="less/scores.csv"):
        run_in_session(missing, "less_large")
    assert not (missing / "data/06_models/less_large").exists()

    copy = make_project_copy(tmp_path / "with_scores")
    commit = git_commit_all(copy)
    (copy / "data/07_model_output/less").mkdir(parents=True)
    shutil.copy(root / "data/07_model_output/less/scores.csv", copy / "data/07_model_output/less/scores.csv")
    run_in_session(copy, "less_large")
    selection = e2e_checks.check_selection_and_verbatim_records(copy, "less_large", budget=4)
    less_selection = pd.read_csv(root / "data/07_model_output/less/selection.csv")
    assert selection["id"].tolist() == less_selection["id"].tolist()
    np.testing.assert_allclose(selection["score"], less_selection["score"])
    run = e2e_checks.check_metrics_predictions_and_mlflow(copy, "less_large", commit, seeds=["0"])
    assert run.info.run_name == "less_large"
