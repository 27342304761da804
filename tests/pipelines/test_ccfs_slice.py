"""The ``ccfs`` selection nodes as Kedro pipeline slices with ``SequentialRunner`` on toy arrays (seconds).

The image track's networks are not needed: ``nodes._network`` is replaced by a tiny conv net with a ``features``
method (the interface the image track's ConvNet/ResNet-18 offer).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pydantic
import pytest
import torch
from kedro.io import DataCatalog
from torch import nn

from data_selection.pipelines.ccfs import create_pipeline
from data_selection.pipelines.ccfs import nodes as ccfs_nodes
from data_selection.pipelines.ccfs.parameters import CcfsParams
from tests.pipelines.slices import run_slice

PARAMS = {
    "ipc": 4, "alpha": 0.25, "curricula": 3, "top_up": "teacher_correct", "seed": 0, "eval_batch_size": 16,
    "network": {"architecture": "convnet", "width": 4, "depth": 1},
    "teacher": {"kind": "forgetting_run"},
    "forgetting": {"epochs": 3, "batch_size": 8},
    "distilled": {"source": "dm", "dm": {"iterations": 3, "batch_real": 4}},
    "filter": {"epochs": 2, "batch_size": 4, "warmup_epochs": 1},
}


class _TinyNet(nn.Module):
    def __init__(self, in_channels: int, num_classes: int):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(in_channels, 4, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(2),
                                  nn.Flatten())
        self.head = nn.Linear(16, num_classes)

    def features(self, x):
        return self.body(x)

    def forward(self, x):
        return self.head(self.features(x))


@pytest.fixture
def tiny_network(monkeypatch):
    monkeypatch.setattr(ccfs_nodes, "_network", lambda spec, c, k, size: _TinyNet(c, k))


def _pool(per_class: int = 12, classes: int = 3) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(classes), per_class)
    images = rng.integers(0, 60, size=(labels.size, 8, 8, 1)).astype(np.uint8)
    for c in range(classes):  # class c: a bright row block
        images[labels == c, 2 * c : 2 * c + 3] += 150
    ids = np.array([f"toy/train/{i:05d}" for i in range(labels.size)])
    return {"images": images, "labels": labels, "ids": ids}


def _run(pipeline, data: dict) -> DataCatalog:
    return run_slice(pipeline, data)


def test_parameters_schema_accepts_defaults_and_rejects_bad_values():
    assert CcfsParams.model_validate(PARAMS)["filter"]["temperature"] == 20.0
    for bad in ({"alpha": 1.5}, {"ipc": 0}, {"top_up": "fill"}, {"extra_key": 1}):
        with pytest.raises(pydantic.ValidationError):
            CcfsParams.model_validate({**PARAMS, **bad})
    with pytest.raises(pydantic.ValidationError, match="needs ccfs.distilled.path"):
        CcfsParams.model_validate({**PARAMS, "distilled": {"source": "npz", "dm": PARAMS["distilled"]["dm"]}})


def test_plan_fails_early_on_an_impossible_budget():
    params = CcfsParams.model_validate(PARAMS)
    plan = ccfs_nodes.plan_budget(_pool(), params)
    assert (plan["cpc"], plan["spc"], plan["arrangement"], plan["num_classes"]) == (1, 3, [1, 1, 1], 3)
    assert plan["image_shape"] == [8, 8, 1]
    with pytest.raises(ValueError, match="cannot supply 14 images per class"):
        ccfs_nodes.plan_budget(_pool(), {**params, "ipc": 16, "alpha": 0.125})
    with pytest.raises(ValueError, match="keeps no distilled image"):
        ccfs_nodes.plan_budget(_pool(), {**params, "alpha": 0.0, "curricula": 1})
    # the IPC comes from the image track unless ccfs.ipc is set, which must then agree with it
    from_track = CcfsParams.model_validate({**PARAMS, "ipc": None})
    assert ccfs_nodes.plan_budget(_pool(), from_track, {"ipc": 8, "seed": 0})["spc"] == 6  # 8 - floor(0.25 * 8)
    assert ccfs_nodes.plan_budget(_pool(), params, {"ipc": 4, "seed": 0})["cpc"] == 1
    with pytest.raises(ValueError, match="image_selection.ipc = 5"):
        ccfs_nodes.plan_budget(_pool(), params, {"ipc": 5, "seed": 0})
    with pytest.raises(ValueError, match="no IPC"):
        ccfs_nodes.plan_budget(_pool(), from_track)
    with pytest.raises(ValueError, match="32x32 RGB"):
        ccfs_nodes.plan_budget(_pool(), {**params, "teacher": {"kind": "keras_cifar10"}})


def test_select_slice_with_a_scripted_filter(monkeypatch):
    """Hand-made teacher logits, forgetting scores and filter predictions: the selection is computed by hand."""
    pool = _pool(per_class=4, classes=2)  # ids 0-3 class 0, 4-7 class 1
    labels = pool["labels"]
    teacher_pred = np.array([0, 0, 0, 1, 1, 1, 1, 0])  # teacher wrong on 3 and 7
    teacher = {"pool": np.eye(2, dtype=np.float32)[teacher_pred] * 5, "distilled": np.zeros((4, 2), np.float32)}
    forgetting = {"scores": np.array([2.0, 0.0, 1.0, 0.0, 3.0, 1.0, 1.0, 0.0])}
    distilled = {"images": np.full((4, 8, 8, 1), 0.5, np.float32), "labels": np.array([1, 0, 0, 1])}
    scripted = [np.array([1, 1, 0, 1, 0, 0, 0, 0]),  # curriculum 1: wrong on 0, 1, 3 / 4..7
                np.array([1, 1, 1, 1, 0, 0, 0, 0])]  # curriculum 2: wrong on all of class 0 / 4..7
    calls = []

    def fake_filter(kept_images, kept_logits, pool_images, pool_logits, selected, j, plan, params):
        calls.append((j, selected.tolist(), kept_images.shape[0]))
        return scripted[j]

    monkeypatch.setattr(ccfs_nodes, "_filter_predictions", fake_filter)
    plan = {"cpc": 1, "spc": 2, "arrangement": [1, 1], "num_classes": 2, "image_shape": [8, 8, 1],
            "mean": [0.5], "std": [0.25]}
    params = CcfsParams.model_validate({**PARAMS, "ipc": 3, "alpha": 0.34, "curricula": 2})
    pipeline = create_pipeline().only_nodes("select_ccfs")
    catalog = _run(pipeline, {"image_pool": pool, "distilled_set": distilled, "teacher_logits": teacher,
                              "forgetting_scores": forgetting, "plan": plan, "params:ccfs": params})
    selection = catalog.load("selection")
    # curriculum 1: candidates class 0 = {0, 1} (3 teacher-wrong) -> lowest forgetting 1 (0.0);
    #               class 1 = {4, 5, 6} (7 teacher-wrong) -> 5 and 6 tie at 1.0 -> 5 (lower index)
    # curriculum 2: class 0 = {0, 2} -> 2 (1.0 < 2.0); class 1 = {4, 6} -> 6
    assert selection["id"].tolist() == [f"toy/train/{i:05d}" for i in (1, 5, 2, 6)]
    assert selection["rank"].tolist() == [1, 2, 3, 4]
    assert selection["curriculum"].tolist() == [1, 1, 2, 2]
    assert selection["score"].tolist() == [0.0, 1.0, 1.0, 1.0]
    assert selection["label"].tolist() == [0, 1, 0, 1] and not selection["topped_up"].any()
    assert calls == [(0, [], 2), (1, [1, 5], 2)]
    synthetic = catalog.load("synthetic_images")
    assert synthetic["labels"].tolist() == [0, 1] and synthetic["ids"].tolist() == ["distilled/00001",
                                                                                  "distilled/00000"]
    report = catalog.load("curriculum_report")
    assert report["candidates"].tolist() == [2, 3, 2, 2] and report["short"].sum() == 0
    metrics = catalog.load("curriculum_metrics")
    assert [m["step"] for m in metrics["ccfs_filter_accuracy"]] == [1, 2]
    assert metrics["ccfs_filter_accuracy"][0]["value"] == pytest.approx(np.mean(scripted[0] == labels))
    assert metrics["ccfs_candidates"][1]["value"] == 4.0


def test_whole_method_on_toy_images(tiny_network):
    """Forgetting run, DM, teacher, three KD filters: the contract holds (budget, uniqueness, teacher filter)."""
    pool = _pool()
    params = CcfsParams.model_validate(PARAMS)
    catalog = _run(create_pipeline(), {"image_pool": pool, "params:ccfs": params,
                                       "params:image_selection": {"ipc": 4, "seed": 0}})
    selection = catalog.load("selection")
    plan = catalog.load("plan")
    assert selection["id"].is_unique and len(selection) == 3 * plan["spc"]
    assert selection.groupby("label").size().tolist() == [3, 3, 3]
    assert sorted(selection["curriculum"].unique().tolist()) == [1, 2, 3]
    index = {i: n for n, i in enumerate(pool["ids"])}
    picked = np.array([index[i] for i in selection["id"]])
    teacher = catalog.load("teacher_logits")
    teacher_right = teacher["pool"].argmax(1) == pool["labels"]
    assert teacher_right[picked].all()  # top_up=teacher_correct never adds a teacher-misclassified image
    scores = catalog.load("forgetting_scores")["scores"]
    np.testing.assert_array_equal(selection["score"].to_numpy(), scores[picked])
    distilled = catalog.load("distilled_set")
    assert distilled["images"].shape == (3, 8, 8, 1) and distilled["labels"].tolist() == [0, 1, 2]
    synthetic = catalog.load("synthetic_images")
    assert synthetic["images"].shape == (3, 8, 8, 1)
    assert catalog.load("forgetting_summary")["steps"] == 3 * 5  # 3 epochs of ceil(36 / 8) batches
    assert teacher["distilled"].shape == (3, 3)
    # same seed -> same selection
    again = _run(create_pipeline(), {"image_pool": pool, "params:ccfs": params,
                                     "params:image_selection": {"ipc": 4, "seed": 0}}).load("selection")
    pd.testing.assert_frame_equal(selection, again)
