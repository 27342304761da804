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
from tests.pipelines.e2e_checks import dense_greedy_bins

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
        expected = dense_greedy_bins(features[members], BINS, "cosine01", last_bin_takes_rest=True)
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


@pytest.fixture(scope="module")
def dq_pixel_run(tmp_path_factory):
    """The same run with the pixel stage on, a tiny randomly initialised ViT-MAE (32x32 RGB, 8-px patches) saved as a
    folder the way a user points at a pretrained one."""
    import torch
    import yaml
    from transformers import ViTMAEConfig, ViTMAEForPreTraining

    torch.manual_seed(0)
    config = ViTMAEConfig(image_size=32, patch_size=8, num_channels=3, hidden_size=32, num_hidden_layers=1,
                          num_attention_heads=2, intermediate_size=64, decoder_hidden_size=32,
                          decoder_num_hidden_layers=1, decoder_num_attention_heads=2, decoder_intermediate_size=64,
                          mask_ratio=0.75, norm_pix_loss=False)
    mae_folder = tmp_path_factory.mktemp("mae")
    ViTMAEForPreTraining(config).save_pretrained(mae_folder)
    root = make_project_copy(tmp_path_factory.mktemp("project"))
    path = root / "conf/test/parameters_dq_image.yml"
    conf = yaml.safe_load(path.read_text())
    conf["dq_image"]["pixel"].update({"enabled": True, "mae": str(mae_folder), "mask_ratio": 0.2})
    path.write_text(yaml.safe_dump(conf))
    git_commit_all(root)
    run_in_session(root, "dq_image")
    return root


def test_pixel_stage_quantizes_the_selected_images_and_the_judge_trains_on_them(dq_pixel_run):
    root = dq_pixel_run
    selection = pd.read_csv(root / "data/07_model_output/dq_image/selection.csv")
    folder = root / "data/07_model_output/dq_image/pixel_images"
    ids, images = np.load(folder / "ids.npy"), np.load(folder / "images.npy")
    assert sorted(ids.tolist()) == sorted(selection["id"].unique().tolist()) and images.dtype == np.uint8
    with np.load(root / "data/03_primary/image_pool.npz") as pool:
        position = {i: n for n, i in enumerate(pool["ids"].astype(str))}
        originals = pool["images"][[position[i] for i in ids]]
    # 16 MAE patches, int(16 * 0.8) = 12 kept: 4 dropped 7x7 blocks of the 28x28 image may change, nothing else
    changed = (images != originals)[..., 0].reshape(len(ids), 4, 7, 4, 7).any(axis=(2, 4))
    assert (changed.sum(axis=(1, 2)) <= 4).all() and changed.any()
    report = json.loads((root / "data/08_reporting/dq_image/pixel_report.json").read_text())
    assert report["enabled"] and report["images"] == len(ids) and report["bytes_saved"] == len(ids) * 4 * 49
    assert report["bytes_original"] == len(ids) * 28 * 28
    with np.load(root / "data/05_model_input/dq_image/selected_images.npz") as selected:
        row = {i: n for n, i in enumerate(ids.tolist())}
        np.testing.assert_array_equal(selected["images"], images[[row[i] for i in selected["ids"].astype(str)]])
    summary = json.loads((root / "data/08_reporting/dq_image/selection_summary.json").read_text())
    assert summary["pixel_quantized"] == len(selection)
