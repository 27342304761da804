"""The image track and its baselines as Kedro slices with SequentialRunner on a toy pool (seconds), and the image
comparison report on hand-made predictions."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from kedro.io import DataCatalog

from data_selection.pipelines.random_images.nodes import random_per_class
from data_selection.pipelines.registry import method_pipeline, registered_methods
from data_selection.pipelines.reporting.nodes import compare_image_methods
from data_selection.pipelines.tracks.image import materialise_images
from tests.pipelines.slices import run_slice

TRAIN = {"architecture": "convnet", "width": 4, "depth": 2, "epochs": 2, "max_steps": None, "batch_size": 8, "learning_rate": 0.01,
         "momentum": 0.9, "weight_decay": 0.0, "lr_schedule": "constant", "augment": {"crop_padding": 0, "flip": False},
         "eval_batch_size": 7, "device": "cpu", "num_threads": 1}


def _images(n: int, labels, split: str, seed: int) -> dict:
    rng = np.random.default_rng(seed)
    return {"images": rng.integers(0, 256, size=(n, 8, 8, 1), dtype=np.uint8), "labels": np.asarray(labels, dtype=np.int64),
            "ids": np.array([f"toy/{split}/{i:05d}" for i in range(n)]), "classes": np.array(["a", "b", "c"]),
            "name": np.array("toy"), "mean": np.array([0.5], np.float32), "std": np.array([0.3], np.float32)}


POOL = _images(15, np.arange(15) % 3, "train", 0)  # 5 images per class
TEST = _images(9, np.arange(9) % 3, "test", 1)


def _run(pipeline, data: dict) -> DataCatalog:
    return run_slice(pipeline, data, copy_mode="assign")


def test_random_images_slice_draws_ipc_per_class_per_seed_and_evaluates_every_seed():
    pipeline = method_pipeline(registered_methods()["random_images"])
    catalog = _run(pipeline, {"image_pool": POOL, "image_test": TEST, "params:image_selection": {"ipc": 2, "seed": 10},
                              "params:image_train": TRAIN, "params:judge": {"seeds": [0, 3]}})
    selection = catalog.load("random_images.selection")
    for seed in (0, 3):  # by hand: rng(10 + seed).choice over each class's pool positions, in class order
        rng = np.random.default_rng(10 + seed)
        expected = [i for c in range(3) for i in sorted(rng.choice(np.arange(c, 15, 3), size=2, replace=False))]
        assert selection[selection["seed"] == seed]["id"].tolist() == [f"toy/train/{i:05d}" for i in expected]
    selected = catalog.load("random_images.selected_images")
    assert sorted(set(selected["draw"].tolist())) == [0, 3] and len(selected["labels"]) == 12
    summary = catalog.load("random_images.selection_summary")
    assert summary["ipc"] == 2 and summary["selected"] == 6 and summary["draws"] == 2 and summary["per_class"] == [2, 2, 2]
    metrics = catalog.load("random_images.evaluation_metrics")
    rows = pd.DataFrame(catalog.load("random_images.test_predictions"))
    assert metrics["seeds"] == ["0", "3"] and metrics["dataset"] == "toy" and metrics["target_model"] == "convnet-w4-d2"
    for seed in ("0", "3"):
        part = rows[rows["seed"] == seed]
        assert part["id"].tolist() == TEST["ids"].tolist() and part["label"].tolist() == TEST["labels"].tolist()
        assert (part["correct"] == (part["prediction"] == part["label"])).all()
        assert metrics["per_seed"][seed]["accuracy"] == pytest.approx(part["correct"].mean())
    assert metrics["mean"]["accuracy"] == pytest.approx(rows["correct"].mean())
    assert catalog.load("random_images.mlflow_metrics")["accuracy"]["value"] == metrics["mean"]["accuracy"]
    assert set(catalog.load("random_images.classifiers")) == {"seed_0", "seed_3"}


def test_full_images_slice_trains_on_the_whole_pool():
    pipeline = method_pipeline(registered_methods()["full_images"]).to_nodes("full_images.materialise_images")
    catalog = _run(pipeline, {"image_pool": POOL, "params:image_selection": {"ipc": 2, "seed": 0}})
    summary = catalog.load("full_images.selection_summary")
    assert summary["ipc"] is None and summary["selected"] == 15
    np.testing.assert_array_equal(catalog.load("full_images.selected_images")["images"], POOL["images"])


def test_ipc_larger_than_a_class_is_a_clear_error():
    with pytest.raises(ValueError, match="IPC 6 is larger than class 0, which has 5 images"):
        random_per_class(POOL["labels"], 6, seed=0)


def _selection(indices, seed=None) -> pd.DataFrame:
    frame = pd.DataFrame({"id": POOL["ids"][indices], "rank": np.arange(1, len(indices) + 1), "score": np.nan})
    return frame if seed is None else frame.assign(seed=seed)


def test_materialise_adds_synthetic_images_and_checks_the_budget():
    synthetic = {"images": np.full((3, 8, 8, 1), 0.25, np.float32), "labels": np.array([0, 1, 2])}
    arrays, summary = materialise_images(POOL, _selection([0, 1, 2]), {"ipc": 2, "seed": 0}, synthetic)
    assert arrays["images"].dtype == np.float32 and arrays["images"].shape == (6, 8, 8, 1)
    np.testing.assert_allclose(arrays["images"][:3], POOL["images"][:3] / 255.0)
    assert arrays["synthetic"].tolist() == [False] * 3 + [True] * 3 and arrays["ids"][3] == "synthetic/00000"
    assert summary["selected"] == 6 and summary["synthetic"] == 3 and summary["per_class"] == [2, 2, 2]
    with pytest.raises(ValueError, match=r"IPC 2 .*'a': 1"):
        materialise_images(POOL, _selection([0, 1, 2, 4, 5]), {"ipc": 2, "seed": 0})
    with pytest.raises(ValueError, match="synthetic images have shape"):
        materialise_images(POOL, _selection([0, 1, 2]), {"ipc": 2, "seed": 0}, {"images": np.zeros((3, 4, 4, 1), np.float32), "labels": np.arange(3)})
    with pytest.raises(ValueError, match="outside the pool's 3 classes"):
        materialise_images(POOL, _selection([0, 1, 2]), {"ipc": 2, "seed": 0}, {**synthetic, "labels": np.array([0, 1, 5])})
    with pytest.raises(ValueError, match="not in the pool"):
        materialise_images(POOL, pd.DataFrame({"id": ["toy/train/99999"], "rank": [1], "score": [np.nan]}), {"ipc": 1, "seed": 0})


# ---------------------------------------------------------------- the image comparison report
JUDGE = {"seeds": [0, 1], "metrics": ["option_nll"], "bootstrap_resamples": 500, "bootstrap_seed": 0, "min_questions": 10}


def _evaluation(method: str, correct: np.ndarray, ipc=10, dataset="toy", model="convnet-w4-d2", selected=30) -> dict:
    rows = [{"seed": str(s), "id": f"toy/test/{q:05d}", "label": 0, "prediction": 0 if correct[s, q] else 1, "correct": bool(correct[s, q]),
             "nll": 1.0} for s in range(correct.shape[0]) for q in range(correct.shape[1])]
    return {f"{method}__predictions": rows,
            f"{method}__metrics": {"seeds": ["0", "1"], "target_model": model, "dataset": dataset},
            f"{method}__summary": {"selected": selected, "ipc": ipc}}


def test_image_report_gives_accuracy_and_a_paired_delta_against_random_images():
    rng = np.random.default_rng(0)
    base = rng.random((2, 40)) < 0.5
    better = base.copy()
    better[:, :8] = True  # the method fixes the first 8 test images for both seeds
    table, figure = compare_image_methods(
        JUDGE, **_evaluation("random_images", base), **_evaluation("ccfs", better),
        **_evaluation("full_images", np.ones((2, 40), bool), ipc=None, selected=600),
    )
    assert table["metric"].unique().tolist() == ["accuracy"]  # images report accuracy whatever judge.metrics says
    assert table["method"].tolist() == ["ccfs", "random_images", "full_images"]
    row = table.set_index("method").loc["ccfs"]
    assert row["mean"] == pytest.approx(better.mean()) and row["ipc"] == 10 and row["dataset"] == "toy"
    assert row["delta_vs_random"] == pytest.approx(better.mean() - base.mean())
    assert 0 < row["delta_ci95_low"] <= row["delta_vs_random"] <= row["delta_ci95_high"]  # never worse on any image
    full = table.set_index("method").loc["full_images"]
    assert full["mean"] == 1.0 and full["train_examples"] == 600 and len(figure.axes) == 1


def test_image_report_refuses_other_ipc_datasets_or_models():
    c = np.zeros((2, 40), bool)
    with pytest.raises(ValueError, match="different IPC"):
        compare_image_methods(JUDGE, **_evaluation("random_images", c), **_evaluation("ccfs", c, ipc=50))
    with pytest.raises(ValueError, match="different data sets"):
        compare_image_methods(JUDGE, **_evaluation("random_images", c), **_evaluation("ccfs", c, dataset="cifar10"))
    with pytest.raises(ValueError, match="ccfs was evaluated on target model .resnet18. but its baseline random_images"):
        compare_image_methods(JUDGE, **_evaluation("random_images", c), **_evaluation("ccfs", c, model="resnet18"))
    with pytest.raises(ValueError, match="random baseline.s evaluation .pipeline .random_images.. for ccfs"):
        compare_image_methods(JUDGE, **_evaluation("ccfs", c))


def test_full_images_may_be_judged_over_fewer_seeds_and_is_then_paired_on_test_images_only():
    c = np.zeros((2, 40), bool)
    full = _evaluation("full_images", np.ones((1, 40), bool), ipc=None, selected=600)
    full["full_images__metrics"]["seeds"] = ["0"]
    table, _ = compare_image_methods(JUDGE, **_evaluation("random_images", c), **full)
    row = table.set_index("method").loc["full_images"]
    assert row["n_seeds"] == 1 and row["delta_vs_random"] == pytest.approx(1.0)
    other = _evaluation("ccfs", c[:1])
    other["ccfs__metrics"]["seeds"] = ["0"]
    with pytest.raises(ValueError, match="judge.seeds"):  # only the full-data ceiling may skip seeds
        compare_image_methods(JUDGE, **_evaluation("random_images", c), **other)


def test_image_data_holds_out_a_stratified_test_split_when_the_source_has_one_split():
    from data_selection.pipelines.image_data.nodes import prepare_images
    from data_selection.sources.images import ImageSet, make_ids

    rng = np.random.default_rng(3)
    labels = np.repeat(np.arange(3), 6)
    source = {"all": ImageSet(rng.integers(0, 256, (18, 4, 4, 3), dtype=np.uint8), labels, make_ids("toy", "all", 18), ("a", "b", "c"), "toy")}
    params = {"pool_split": "all", "test_split": None, "test_per_class": 2, "pool_per_class": None, "split_seed": 7}
    pool, test, report = prepare_images(source, params)
    assert np.bincount(test["labels"]).tolist() == [2, 2, 2] and np.bincount(pool["labels"]).tolist() == [4, 4, 4]
    assert not set(pool["ids"]) & set(test["ids"]) and len(set(pool["ids"]) | set(test["ids"])) == 18
    np.testing.assert_allclose(pool["mean"], (source["all"].images[np.isin(source["all"].ids, pool["ids"])] / 255.0).mean(axis=(0, 1, 2)), rtol=1e-5)
    assert report["pool_size"] == 12 and report["test_size"] == 6
    again, _, _ = prepare_images(source, params)
    np.testing.assert_array_equal(again["ids"], pool["ids"])  # seeded
    with pytest.raises(ValueError, match="not 'train'"):
        prepare_images(source, {**params, "pool_split": "train"})
