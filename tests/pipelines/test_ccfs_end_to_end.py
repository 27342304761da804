"""`kedro run --pipeline=ccfs --env test` through a KedroSession on the real Fashion-MNIST files (tiny slice).

The copy's ``conf/test`` is raised from IPC 2 to IPC 4 (alpha 0.25: 1 distilled + 3 real images per class), so the
real budget spreads over 3 curricula of one image per class. Checks what a user gets: real pool ids with their
curriculum and forgetting score, exactly IPC images per class (no silently short class), the distilled part, metrics
equal to the means of the per-image predictions, and a FINISHED MLflow run with one metric step per curriculum.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import yaml

from data_selection.sources.images import FASHION_MNIST_DIR
from tests.conftest import git_commit_all, make_project_copy, run_in_session
from tests.pipelines.e2e_checks import read_jsonl

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not (FASHION_MNIST_DIR / "train-images-idx3-ubyte.gz").exists(), reason="dataset-fashion-mnist not installed"),
]

IPC, CURRICULA, CLASSES = 4, 3, 10


def _set(path, key: str, values: dict) -> None:
    conf = yaml.safe_load(path.read_text())
    conf[key].update(values)
    path.write_text(yaml.safe_dump(conf))


@pytest.fixture(scope="module")
def ccfs_run(tmp_path_factory):
    root = make_project_copy(tmp_path_factory.mktemp("project"))
    _set(root / "conf/test/parameters_image_track.yml", "image_selection", {"ipc": IPC})
    _set(root / "conf/test/parameters_ccfs.yml", "ccfs", {"alpha": 0.25, "curricula": CURRICULA})
    commit = git_commit_all(root)
    run_in_session(root, "ccfs")
    return root, commit


def test_selection_is_real_ids_with_curriculum_and_forgetting_score(ccfs_run):
    root, _ = ccfs_run
    selection = pd.read_csv(root / "data/07_model_output/ccfs/selection.csv")
    with np.load(root / "data/03_primary/image_pool.npz") as pool:
        ids, labels = pool["ids"].astype(str), pool["labels"]
    position = {i: n for n, i in enumerate(ids)}
    scores = np.load(root / "data/04_feature/ccfs/forgetting_scores/scores.npy")
    assert len(ids) == 80 and scores.shape == (80,)
    assert selection["id"].is_unique and all(i.startswith("fashion_mnist/train/") and i in position for i in selection["id"])
    picked = np.array([position[i] for i in selection["id"]])
    np.testing.assert_array_equal(selection["score"].to_numpy(), scores[picked])  # score = that image's forgetting score
    np.testing.assert_array_equal(selection["label"].to_numpy(), labels[picked])
    assert selection["rank"].tolist() == list(range(1, len(selection) + 1))
    # 3 real images per class, one per curriculum: no class silently short
    assert np.bincount(labels[picked], minlength=CLASSES).tolist() == [IPC - 1] * CLASSES
    for j in range(1, CURRICULA + 1):
        in_j = selection[selection["curriculum"] == j]
        assert sorted(in_j["label"].tolist()) == list(range(CLASSES)), j
    report = pd.read_csv(root / "data/08_reporting/ccfs/curriculum_report.csv")
    assert len(report) == CURRICULA * CLASSES and (report["short"] == 0).all()
    assert ((report["from_candidates"] + report["from_top_up"]) == report["quota"]).all() and (report["quota"] == 1).all()
    assert int(selection["topped_up"].sum()) == int(report["from_top_up"].sum())  # every top-up is reported


def test_distilled_part_and_per_class_budget(ccfs_run):
    root, _ = ccfs_run
    folder = root / "data/07_model_output/ccfs/synthetic_images"
    images, labels = np.load(folder / "images.npy"), np.load(folder / "labels.npy")
    assert images.dtype == np.float32 and images.shape == (CLASSES, 28, 28, 1)  # alpha * IPC = 1 per class
    assert images.min() >= 0.0 and images.max() <= 1.0 and sorted(labels.tolist()) == list(range(CLASSES))
    summary = json.loads((root / "data/08_reporting/ccfs/selection_summary.json").read_text())
    assert summary["ipc"] == IPC and summary["per_class"] == [IPC] * CLASSES
    assert summary["synthetic"] == CLASSES and summary["real_per_draw"] == (IPC - 1) * CLASSES
    with np.load(root / "data/05_model_input/ccfs/selected_images.npz") as selected:
        assert int(selected["synthetic"].sum()) == CLASSES and len(selected["labels"]) == IPC * CLASSES


def test_metrics_match_predictions_and_mlflow_has_one_step_per_curriculum(ccfs_run):
    from mlflow.tracking import MlflowClient

    root, commit = ccfs_run
    metrics = json.loads((root / "data/08_reporting/ccfs/evaluation_metrics.json").read_text())
    predictions = read_jsonl(root / "data/07_model_output/ccfs/test_predictions.jsonl")
    assert metrics["method"] == "ccfs" and metrics["seeds"] == ["0"] and metrics["dataset"] == "fashion_mnist"
    assert len(predictions) == 30 and all(p["correct"] == (p["prediction"] == p["label"]) for p in predictions)
    assert metrics["mean"]["accuracy"] == pytest.approx(np.mean([p["correct"] for p in predictions]))
    client = MlflowClient(tracking_uri=f"sqlite:///{root / 'mlflow.db'}")
    runs = client.search_runs([client.get_experiment_by_name("data-selection").experiment_id])
    parents = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    assert len(parents) == 1 and parents[0].info.run_name == "ccfs" and parents[0].info.status == "FINISHED"
    run = parents[0]
    assert run.data.tags["git_commit"] == commit
    assert run.data.metrics["accuracy"] == pytest.approx(metrics["mean"]["accuracy"])
    report = pd.read_csv(root / "data/08_reporting/ccfs/curriculum_report.csv")
    candidates = client.get_metric_history(run.info.run_id, "ccfs.curriculum_metrics.ccfs_candidates")
    assert sorted((m.step, m.value) for m in candidates) == [
        (j, float(report.loc[report["curriculum"] == j, "candidates"].sum())) for j in range(1, CURRICULA + 1)]
    accuracy = client.get_metric_history(run.info.run_id, "ccfs.curriculum_metrics.ccfs_filter_accuracy")
    assert sorted(m.step for m in accuracy) == [1, 2, 3] and all(0.0 <= m.value <= 1.0 for m in accuracy)
    nested = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == run.info.run_id]
    assert [r.info.run_name for r in nested] == ["ccfs/seed_0"] and nested[0].info.status == "FINISHED"
