"""Checks every text method's end-to-end test makes on a finished `kedro run --env test` project copy."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def check_selection_and_verbatim_records(root: Path, method: str, budget: int) -> pd.DataFrame:
    """The selection meets the contract and budget; every selected record is byte-identical to its source record,
    at the line its origin names, in a file of its source's own format."""
    from data_selection.io.sources import VerbatimSubsetDataset

    selection = pd.read_csv(root / f"data/07_model_output/{method}/selection.csv")
    assert selection.columns.tolist()[:3] == ["id", "rank", "score"]
    assert selection["rank"].tolist()[:budget] == list(range(1, budget + 1))
    subset = read_jsonl(root / f"data/05_model_input/{method}/selected_subset.jsonl")
    assert [r["id"] for r in subset][:budget] == selection["id"].tolist()[:budget]
    files = VerbatimSubsetDataset(str(root / f"data/07_model_output/{method}/selected_original")).load()
    written = {raw for raws in files.values() for raw in raws}
    folder = root / f"data/07_model_output/{method}/selected_original"
    for record in subset:
        assert record["raw"] in written
        path, line = record["origin"].rsplit(":", 1)
        source = Path(path).read_text(encoding="utf-8-sig")
        start = source.index(record["raw"])  # verbatim in the file the dataset read ...
        assert source.count("\n", 0, start) + 1 == int(line)  # ... at the line its origin names
        suffix = ".jsonl" if record["raw_container"] == "json_lines" else ".json"
        assert record["raw"].encode("utf-8") in (folder / f"{record['source']}{suffix}").read_bytes()
    for name in files:
        if name.endswith(".json"):
            json.loads((folder / name).read_text(encoding="utf-8"))  # a valid JSON array, as its source
    return selection


def check_metrics_predictions_and_mlflow(root: Path, method: str, commit: str, seeds: list[str]) -> dict:
    """Metrics equal the means of the per-question predictions; the MLflow run holds them with a nested run per
    judge seed, and is tagged with the checkout's git commit; the experiment is a model-training experiment."""
    from mlflow.tracking import MlflowClient

    metrics = json.loads((root / f"data/08_reporting/{method}/evaluation_metrics.json").read_text())
    predictions = read_jsonl(root / f"data/07_model_output/{method}/test_predictions.jsonl")
    assert metrics["seeds"] == seeds and metrics["target_model"]
    for seed in seeds:
        rows = [p for p in predictions if p["seed"] == seed]
        per_seed = metrics["per_seed"][seed]
        for task in ("mmlu", "bbh"):
            task_rows = [p for p in rows if p["task"] == task]
            assert per_seed[f"{task}_n"] == len(task_rows) > 0
            assert per_seed[f"{task}_accuracy"] == pytest.approx(np.mean([p["correct"] for p in task_rows]))
            assert per_seed[f"{task}_option_nll"] == pytest.approx(np.mean([p["option_nll"] for p in task_rows]))
        assert per_seed["letter_mass"] == pytest.approx(np.mean([p["letter_mass"] for p in rows]))
        assert per_seed["test_response_loss"] == pytest.approx(np.mean([p["response_loss"] for p in rows]))
        for p in rows:  # option_nll is over the options only, so it never exceeds the full-vocabulary loss
            assert p["option_nll"] <= p["response_loss"] + 1e-6 and 0 <= p["letter_mass"] <= 1 + 1e-6

    client = MlflowClient(tracking_uri=f"sqlite:///{root / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("data-selection")
    assert experiment.tags.get("mlflow.experimentKind") == "custom_model_development"
    runs = client.search_runs([experiment.experiment_id])
    parents = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    assert len(parents) == 1
    run = parents[0]
    assert run.info.run_name == method and run.info.status == "FINISHED"
    for key in ("option_nll", "accuracy", "mmlu_accuracy"):  # kedro-mlflow may prefix the dataset name
        logged = [v for k, v in run.data.metrics.items() if k == key or k.endswith("." + key)]
        assert logged and logged[0] == pytest.approx(metrics["mean"][key]), (key, run.data.metrics)
    assert run.data.metrics["wall_time_s"] > 0
    assert run.data.tags["git_commit"] == commit
    nested = {r.info.run_name: r for r in runs if r.data.tags.get("mlflow.parentRunId") == run.info.run_id}
    assert set(nested) == {f"{method}/seed_{s}" for s in seeds}
    for seed in seeds:
        assert nested[f"{method}/seed_{seed}"].data.tags["git_commit"] == commit
        assert nested[f"{method}/seed_{seed}"].data.metrics["option_nll"] == pytest.approx(metrics["per_seed"][seed]["option_nll"])
    return run


def kedro_viz_graph(root: Path, kedro: str) -> dict:
    import os

    env = dict(os.environ, KEDRO_DISABLE_TELEMETRY="true")
    result = subprocess.run([kedro, "viz", "build"], cwd=root, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    return json.loads((root / "build" / "api" / "main").read_text())


def dense_greedy_bins(features, n_bins: int, similarity: str = "dot", last_bin_takes_rest: bool = False) -> list[list[int]]:
    """Dataset Quantization's bins from the definition, as an independent oracle for the end-to-end runs: a dense
    similarity matrix (``dot``: raw dot products, DQ's language version; ``cosine01``: 0.5 + 0.5 cos, the vision
    version), lambda = 1, gains recomputed from scratch each step, K bins of N // K greedy picks (ties: lowest index);
    with ``last_bin_takes_rest`` the last bin is everything left (official vision), else the rest stays unbinned."""
    import numpy as np

    x = np.asarray(features, dtype=np.float64)
    if similarity == "cosine01":
        x = x / np.linalg.norm(x, axis=1, keepdims=True)
        sim = 0.5 + 0.5 * x @ x.T
    else:
        sim = x @ x.T
    pool, bins = list(range(len(x))), []
    for b in range(n_bins):
        if last_bin_takes_rest and b == n_bins - 1:
            bins.append(sorted(pool))
            break
        chosen: list[int] = []
        for _ in range(len(x) // n_bins):
            gains = {i: sim[pool, i].sum() - 2 * sim[chosen, i].sum() for i in pool if i not in chosen}
            chosen.append(max(gains, key=lambda i: (gains[i], -i)))
        bins.append(chosen)
        pool = [i for i in pool if i not in chosen]
    return bins
