"""`kedro run --pipeline=random_images --env test` through a KedroSession on the real Fashion-MNIST files (tiny slice).

Checks what a user gets: IPC images per class drawn from the pool, metrics equal to the means of the per-image
predictions on the held-out test images, and a finished MLflow run with a nested run per judge seed.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from data_selection.sources.images import FASHION_MNIST_DIR
from tests.conftest import git_commit_all, make_project_copy, run_in_session
from tests.pipelines.e2e_checks import read_jsonl

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not (FASHION_MNIST_DIR / "train-images-idx3-ubyte.gz").exists(), reason="dataset-fashion-mnist not installed"),
]


@pytest.fixture(scope="module")
def image_run(tmp_path_factory):
    root = make_project_copy(tmp_path_factory.mktemp("project"))
    commit = git_commit_all(root)
    run_in_session(root, "random_images")
    return root, commit


def test_selection_has_ipc_pool_images_per_class(image_run):
    root, _ = image_run
    selection = pd.read_csv(root / "data/07_model_output/random_images/selection.csv")
    with np.load(root / "data/03_primary/image_pool.npz") as pool:
        labels = dict(zip(pool["ids"].astype(str), pool["labels"]))
        assert len(labels) == 80 and np.bincount(pool["labels"]).tolist() == [8] * 10  # conf/test: 8 per class
    with np.load(root / "data/03_primary/image_test.npz") as test:
        assert len(test["ids"]) == 30 and not set(test["ids"].astype(str)) & set(labels)  # held out, disjoint
    assert selection["seed"].unique().tolist() == [0]
    assert np.bincount([labels[i] for i in selection["id"]], minlength=10).tolist() == [2] * 10  # IPC 2
    assert all(i.startswith("fashion_mnist/train/") for i in selection["id"])


def test_metrics_match_predictions_and_mlflow_run_finished(image_run):
    from mlflow.tracking import MlflowClient

    root, commit = image_run
    metrics = json.loads((root / "data/08_reporting/random_images/evaluation_metrics.json").read_text())
    predictions = read_jsonl(root / "data/07_model_output/random_images/test_predictions.jsonl")
    assert metrics["seeds"] == ["0"] and metrics["dataset"] == "fashion_mnist" and metrics["target_model"] == "convnet-w8-d3"
    assert len(predictions) == 30 and all(p["correct"] == (p["prediction"] == p["label"]) for p in predictions)
    assert metrics["mean"]["accuracy"] == pytest.approx(np.mean([p["correct"] for p in predictions]))
    client = MlflowClient(tracking_uri=f"sqlite:///{root / 'mlflow.db'}")
    runs = client.search_runs([client.get_experiment_by_name("data-selection").experiment_id])
    parents = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    assert len(parents) == 1 and parents[0].info.run_name == "random_images" and parents[0].info.status == "FINISHED"
    run = parents[0]
    logged = [v for k, v in run.data.metrics.items() if k == "accuracy" or k.endswith(".accuracy")]
    assert logged and logged[0] == pytest.approx(metrics["mean"]["accuracy"])
    assert run.data.tags["git_commit"] == commit
    nested = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == run.info.run_id]
    assert [r.info.run_name for r in nested] == ["random_images/seed_0"]
    assert nested[0].data.metrics["accuracy"] == pytest.approx(metrics["per_seed"]["0"]["accuracy"])
