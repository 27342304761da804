"""`kedro run --pipeline=dq_image --env test` on the real Fashion-MNIST files (tiny slice): the trained feature
network, gradient features, per-class bins recomputed by an independent dense greedy, IPC per class drawn from the
earliest bins, the image track's evaluation and the MLflow run with the per-bin diagnostics."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from data_selection.sources.images import FASHION_MNIST_DIR
from tests.conftest import git_commit_all, make_project_copy, run_in_session

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not (FASHION_MNIST_DIR / "train-images-idx3-ubyte.gz").exists(), reason="dataset-fashion-mnist not installed"),
]

CLASSES, PER_CLASS, BINS, IPC = 10, 8, 4, 2  # conf/test


@pytest.fixture(scope="module")
def dq_image_run(tmp_path_factory):
    root = make_project_copy(tmp_path_factory.mktemp("project"))
    commit = git_commit_all(root)
    run_in_session(root, "dq_image")
    return root, commit


def _dense_cosine01_bins(features: np.ndarray, n_bins: int) -> list[list[int]]:
    """The definition: sim = 0.5 + 0.5 cos as a dense matrix, lambda = 1, equal bins, the last bin takes the rest."""
    unit = features / np.linalg.norm(features, axis=1, keepdims=True)
    sim = 0.5 + 0.5 * unit.astype(np.float64) @ unit.astype(np.float64).T
    pool, bins = list(range(len(features))), []
    for b in range(n_bins):
        if b == n_bins - 1:
            bins.append(sorted(pool))
            break
        chosen: list[int] = []
        for _ in range(len(features) // n_bins):
            gains = {x: sim[pool, x].sum() - 2 * sim[chosen, x].sum() for x in pool if x not in chosen}
            chosen.append(max(gains, key=lambda x: (gains[x], -x)))
        bins.append(chosen)
        pool = [x for x in pool if x not in chosen]
    return bins


def test_feature_network_is_trained_and_features_are_per_pool_image(dq_image_run):
    root, _ = dq_image_run
    summary = json.loads((root / "data/08_reporting/dq_image/feature_model_summary.json").read_text())
    assert summary["kind"] == "trained" and summary["steps"] == 6  # conf/test max_steps: never an untrained head
    folder = root / "data/04_feature/dq_image/features"
    features, labels = np.load(folder / "features.npy"), np.load(folder / "labels.npy")
    with np.load(root / "data/03_primary/image_pool.npz") as pool:
        np.testing.assert_array_equal(labels, pool["labels"])
    assert features.shape == (CLASSES * PER_CLASS, 64) and features.dtype == np.float32 and np.isfinite(features).all()


def test_bins_are_the_dense_greedy_per_class(dq_image_run):
    root, _ = dq_image_run
    folder = root / "data/04_feature/dq_image/features"
    features, labels = np.load(folder / "features.npy"), np.load(folder / "labels.npy")
    bins = pd.read_csv(root / "data/07_model_output/dq_image/bins.csv")
    assert (bins["label"].to_numpy() == labels).all() and (bins["bin"] >= 0).all()
    for cls in range(CLASSES):
        members = np.flatnonzero(labels == cls)
        expected = _dense_cosine01_bins(features[members], BINS)
        for b, chosen in enumerate(expected[:-1]):
            in_bin = bins.iloc[members][bins["bin"].to_numpy()[members] == b].sort_values("bin_rank")
            assert in_bin.index.tolist() == members[chosen].tolist(), (cls, b)


def test_ipc_per_class_from_the_earliest_bins_and_judged(dq_image_run):
    from mlflow.tracking import MlflowClient

    root, _ = dq_image_run
    selection = pd.read_csv(root / "data/07_model_output/dq_image/selection.csv")
    bins = pd.read_csv(root / "data/07_model_output/dq_image/bins.csv").set_index("id")
    assert selection["seed"].unique().tolist() == [0] and selection["id"].is_unique
    picked = bins.loc[selection["id"]]
    assert np.bincount(picked["label"], minlength=CLASSES).tolist() == [IPC] * CLASSES
    # 2 per class over 4 equal bins of 2: largest remainder gives one each to bins 0 and 1 (ties to the earlier bin)
    assert sorted(picked["bin"].tolist()) == [0] * CLASSES + [1] * CLASSES
    metrics = json.loads((root / "data/08_reporting/dq_image/evaluation_metrics.json").read_text())
    assert metrics["method"] == "dq_image" and 0.0 <= metrics["mean"]["accuracy"] <= 1.0
    client = MlflowClient(tracking_uri=f"sqlite:///{root / 'mlflow.db'}")
    runs = client.search_runs([client.get_experiment_by_name("data-selection").experiment_id])
    parent = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    assert len(parent) == 1 and parent[0].info.run_name == "dq_image" and parent[0].info.status == "FINISHED"
    key = next(k for k in parent[0].data.metrics if k.endswith("dq_bin_size"))
    sizes = client.get_metric_history(parent[0].info.run_id, key)
    assert sorted(m.step for m in sizes) == list(range(BINS)) and [m.value for m in sorted(sizes, key=lambda m: m.step)] == [20.0] * BINS
