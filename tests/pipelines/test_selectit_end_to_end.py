"""`kedro run --pipeline=selectit --env test` on the real packaged SmolLM2 and Gemma-3-270M."""

from __future__ import annotations

import json
import subprocess

import numpy as np
import pandas as pd
import pytest

from data_selection.core import selectit as sit
from tests.conftest import run_pipeline_in_copy
from tests.pipelines import e2e_checks

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def selectit_run(tmp_path_factory):
    return run_pipeline_in_copy(tmp_path_factory.mktemp("project"), "selectit")


def test_levels_recomputed_from_the_stored_probabilities(selectit_run):
    feature = selectit_run / "data/04_feature/selectit"
    pool = [json.loads(line) for line in open(selectit_run / "data/03_primary/pool.jsonl", encoding="utf-8")]
    levels = pd.read_parquet(feature / "level_scores.parquet")
    assert list(levels["id"]) == [r["id"] for r in pool]
    sentence_rows, counts = [], []
    for name in ("base", "second"):
        table = pd.read_parquet(feature / f"rating_probabilities_{name}.parquet")
        assert (table["status"] == "ok").all()
        assert len(table) == 2 * len(pool)  # conf/test: 2 prompts
        model = table["model"].iloc[0]
        cube = np.stack(
            [table[table["prompt_index"] == k].set_index("id").loc[levels["id"], [f"p_{i}" for i in range(1, 6)]].to_numpy() for k in range(2)],
            axis=1,
        )
        assert (cube > 0).all() and (cube.sum(axis=-1) <= 1 + 1e-6).all()
        token = sit.token_level_score(cube)
        np.testing.assert_allclose(levels[f"token_{model}"], token[:, 0])
        sentence = token.mean(axis=1) / (1 + 0.2 * token.std(axis=1))
        np.testing.assert_allclose(levels[f"sentence_{model}"], sentence)
        sentence_rows.append(sentence)
        counts.append(table["model_parameters"].iloc[0])
    assert counts[0] < counts[1]  # SmolLM2-135M < Gemma-3-270M
    weights = np.array(counts, dtype=float) / sum(counts)
    np.testing.assert_allclose(levels["model"], weights @ np.vstack(sentence_rows))
    base = pd.read_parquet(feature / "rating_probabilities_base.parquet")["model"].iloc[0]
    np.testing.assert_allclose(levels["token"], levels[f"token_{base}"])  # token/sentence: the base model
    np.testing.assert_allclose(levels["sentence"], levels[f"sentence_{base}"])


def test_selected_subset_is_top_of_model_level_and_verbatim(selectit_run):
    levels = pd.read_parquet(selectit_run / "data/04_feature/selectit/level_scores.parquet")
    selection = e2e_checks.check_selection_and_verbatim_records(selectit_run, "selectit", budget=4)
    order = np.lexsort((np.arange(len(levels)), -levels["model"].to_numpy()))
    assert selection["id"].tolist() == list(levels["id"].to_numpy()[order[:4]])
    np.testing.assert_allclose(selection["model"], selection["score"])  # the default level is the model level
    overlap = json.loads((selectit_run / "data/08_reporting/selectit/level_overlap.json").read_text())
    assert set(overlap) == {"token_vs_sentence", "token_vs_model", "sentence_vs_model"}


def test_mlflow_run_has_the_same_metrics_as_less(selectit_run):
    from mlflow.tracking import MlflowClient

    commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=selectit_run, capture_output=True, text=True).stdout.strip()
    run = e2e_checks.check_metrics_predictions_and_mlflow(selectit_run, "selectit", commit, seeds=["0"])
    assert run.data.params["selectit.weighting"] == "paper"
    client = MlflowClient(tracking_uri=f"sqlite:///{selectit_run / 'mlflow.db'}")
    paths = {a.path for a in client.list_artifacts(run.info.run_id, "plots")}
    assert {"plots/score_distribution.png", "plots/level_comparison.png"} <= paths
