"""CCFS's judging baselines (``ccfs_random``: distilled part + random real; ``ccfs_distilled``: distilled only) on a
toy pool, checked against hand-derived draws and the image track's budget check (seconds)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from data_selection.pipelines.ccfs.parameters import CcfsParams
from data_selection.pipelines.ccfs_distilled import nodes as distilled_nodes
from data_selection.pipelines.ccfs_random.nodes import random_beside_distilled
from data_selection.pipelines.registry import method_pipeline, registered_methods
from data_selection.pipelines.tracks.image import materialise_images
from tests.pipelines.test_ccfs_slice import PARAMS, _TinyNet

CLASSES = np.array(["a", "b", "c"])


def _pool(per_class: int = 5) -> dict:
    rng = np.random.default_rng(0)
    labels = np.arange(3 * per_class) % 3
    return {"images": rng.integers(0, 256, size=(labels.size, 8, 8, 1), dtype=np.uint8), "labels": labels,
            "ids": np.array([f"toy/train/{i:05d}" for i in range(labels.size)]), "classes": CLASSES,
            "name": np.array("toy"), "mean": np.array([0.5], np.float32), "std": np.array([0.3], np.float32)}


def _distilled(per_class: int) -> dict:
    labels = np.repeat(np.arange(3), per_class)
    return {"images": np.linspace(0, 1, labels.size * 64, dtype=np.float32).reshape(-1, 8, 8, 1), "labels": labels}


def test_random_beside_distilled_fills_each_class_to_ipc_with_a_draw_per_seed():
    pool, part = _pool(), _distilled(1)
    selection, synthetic = random_beside_distilled(pool, part, {"ipc": 3, "seed": 5}, {"seeds": [0, 2]})
    for seed in (0, 2):
        draw = selection[selection["seed"] == seed]
        # by hand: per class c, rng(5 + seed).choice(members of c, 2, replace=False), sorted, classes in order
        rng = np.random.default_rng(5 + seed)
        expected = np.concatenate([np.sort(rng.choice(np.flatnonzero(pool["labels"] == c), 2, replace=False)) for c in range(3)])
        assert draw["id"].tolist() == pool["ids"][expected].tolist()
        assert draw["rank"].tolist() == list(range(1, 7)) and draw["score"].isna().all()
    np.testing.assert_array_equal(synthetic["images"], part["images"])
    np.testing.assert_array_equal(synthetic["labels"], part["labels"])
    arrays, summary = materialise_images(pool, selection, {"ipc": 3, "seed": 5}, synthetic)
    assert summary["per_class"] == [3, 3, 3] and summary["draws"] == 2 and summary["synthetic"] == 3


def test_random_beside_distilled_rejects_a_part_that_is_uneven_or_fills_ipc():
    uneven = {"images": np.zeros((3, 8, 8, 1), np.float32), "labels": np.array([0, 0, 1])}
    with pytest.raises(ValueError, match="same number of images per class"):
        random_beside_distilled(_pool(), uneven, {"ipc": 3, "seed": 0}, {"seeds": [0]})
    with pytest.raises(ValueError, match="no real image left"):
        random_beside_distilled(_pool(), _distilled(3), {"ipc": 3, "seed": 0}, {"seeds": [0]})


def test_the_track_takes_a_distilled_set_alone_but_not_an_empty_selection_without_one():
    empty = pd.DataFrame({"id": pd.Series(dtype=str), "rank": pd.Series(dtype=np.int64), "score": pd.Series(dtype=float)})
    arrays, summary = materialise_images(_pool(), empty, {"ipc": 2, "seed": 0}, _distilled(2))
    assert summary["real_per_draw"] == 0 and summary["per_class"] == [2, 2, 2] and arrays["synthetic"].all()
    with pytest.raises(ValueError, match="IPC 3"):
        materialise_images(_pool(), empty, {"ipc": 3, "seed": 0}, _distilled(2))
    with pytest.raises(ValueError, match="empty"):
        materialise_images(_pool(), empty, {"ipc": 2, "seed": 0})


def test_distilled_only_makes_ipc_dm_images_per_class(monkeypatch):
    monkeypatch.setattr("data_selection.pipelines.ccfs.nodes._network", lambda spec, c, k, size: _TinyNet(c, k))
    params = CcfsParams.model_validate({**PARAMS, "ipc": None, "alpha": 0.25})  # alpha is ignored: distilled only
    selection, synthetic = distilled_nodes.distilled_only(_pool(), params, {"ipc": 2, "seed": 0})
    assert selection.empty and list(selection.columns) == ["id", "rank", "score"]
    assert synthetic["images"].shape == (6, 8, 8, 1) and synthetic["images"].dtype == np.float32
    assert synthetic["images"].min() >= 0 and synthetic["images"].max() <= 1
    assert np.bincount(synthetic["labels"]).tolist() == [2, 2, 2]
    with pytest.raises(ValueError, match="image_selection.ipc = 2"):
        distilled_nodes.distilled_only(_pool(), CcfsParams.model_validate(PARAMS), {"ipc": 2, "seed": 0})


def test_baselines_read_ccfs_outputs_and_are_judged_by_the_image_track():
    methods = registered_methods()
    assert {"ccfs", "ccfs_random", "ccfs_distilled"} <= set(methods)
    random_part = method_pipeline(methods["ccfs_random"])
    assert "ccfs.synthetic_images" in random_part.inputs()  # the same distilled part that ccfs keeps
    for name in ("ccfs", "ccfs_random", "ccfs_distilled"):
        pipeline = method_pipeline(methods[name])
        assert {f"{name}.synthetic_images", f"{name}.selected_images", f"{name}.evaluation_metrics"} <= pipeline.all_outputs()
