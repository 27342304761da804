"""`kedro run --pipeline=selectit --env test` on the real packaged SmolLM2 and Gemma-3-270M."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from data_selection.core import selectit as sit
from tests.conftest import run_pipeline_in_copy

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
    from data_selection.io.datasets import RawJSONArrayDataset

    levels = pd.read_parquet(selectit_run / "data/04_feature/selectit/level_scores.parquet")
    subset = [json.loads(line) for line in open(selectit_run / "data/05_model_input/selectit/selected_subset.jsonl", encoding="utf-8")]
    order = np.lexsort((np.arange(len(levels)), -levels["model"].to_numpy()))
    assert [r["id"] for r in subset] == list(levels["id"].to_numpy()[order[: len(subset)]])
    original = RawJSONArrayDataset(str(selectit_run / "data/07_model_output/selectit/selected_original.json")).load()
    assert original == [r["raw"] for r in subset]
    summary = json.loads((selectit_run / "data/08_reporting/selectit/selection_summary.json").read_text())
    assert set(summary["top_set_jaccard"]) == {"token_vs_sentence", "token_vs_model", "sentence_vs_model"}


def test_mlflow_run_has_the_same_metrics_as_less(selectit_run):
    from mlflow.tracking import MlflowClient

    metrics = json.loads((selectit_run / "data/08_reporting/selectit/evaluation_metrics.json").read_text())
    client = MlflowClient(tracking_uri=f"sqlite:///{selectit_run / 'mlflow.db'}")
    run = client.search_runs([client.get_experiment_by_name("data-selection").experiment_id])[0]
    assert run.info.run_name == "selectit" and run.info.status == "FINISHED"
    for key in ("mmlu_accuracy", "bbh_accuracy", "test_response_loss"):
        assert run.data.metrics[key] == pytest.approx(metrics[key])
    assert run.data.params["selectit.weighting"] == "paper"
    paths = {a.path for a in client.list_artifacts(run.info.run_id, "plots")}
    assert {"plots/score_distribution.png", "plots/level_comparison.png"} <= paths
