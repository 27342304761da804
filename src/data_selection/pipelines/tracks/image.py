"""The image track: materialise image ids (+ synthetic images) -> train a classifier per judge seed -> test accuracy.

Every image method goes through these nodes under its own namespace with the same shared parameters
(``params:image_selection``, ``params:image_train``, ``params:judge``) and the same ``image_pool``/``image_test``, so
only the selected images differ between methods. The contract, under the method's namespace:

* input ``<method>.selection`` (``id, rank, score`` and optionally ``seed``: one draw per judge seed; ids such as
  ``fashion_mnist/train/00042``; empty only beside synthetic images that fill the budget alone), the shared ``image_pool`` and, for methods that output one, ``<method>.synthetic_images``
  (a distilled set: ``images`` uint8 or float32 in [0, 1] scale ``[M, H, W, C]`` and ``labels``), added to every draw;
* stages ``materialise_images`` -> ``train_classifier`` (once per judge seed) -> ``evaluate_classifier``;
* outputs ``evaluation_metrics`` (``accuracy`` per seed and mean, the text track's JSON shape), ``test_predictions``
  (``seed, id, label, prediction, correct, nll``) and ``mlflow_metrics``, plus one nested MLflow run per judge seed.

Budget: every class gets exactly ``image_selection.ipc`` images (real + synthetic) in every draw, except a selection
of the whole pool (``full_images``), which is recorded as ``ipc: null``.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd
from kedro.pipeline import Pipeline, node

from data_selection.pipelines.parameters import ImageSelectionParams, ImageTrainParams, JudgeParams
from data_selection.pipelines.select.nodes import validate_selection
from data_selection.pipelines.tracks.text import _for_method, _log_nested_run

logger = logging.getLogger(__name__)

STAGES = ("materialise_images", "train_classifier", "evaluate_classifier")
SHARED_INPUTS = {"image_pool", "image_test"}
SHARED_PARAMETERS = {"params:image_selection", "params:image_train", "params:judge"}
#: ``draw`` value of rows shared by every judge seed (a single selection, or synthetic images)
SHARED_DRAW = -1


def _check_synthetic(synthetic: dict, pool: dict) -> tuple[np.ndarray, np.ndarray]:
    images, labels = np.asarray(synthetic.get("images")), np.asarray(synthetic.get("labels"))
    if images.ndim != 4 or images.shape[1:] != pool["images"].shape[1:]:
        raise ValueError(f"synthetic images have shape {images.shape[1:] if images.ndim == 4 else images.shape}; "
                         f"the pool's images are {pool['images'].shape[1:]} ([N, H, W, C])")
    if images.dtype not in (np.uint8, np.float32):
        raise ValueError(f"synthetic images must be uint8 or float32 ([0, 1] scale), got {images.dtype}")
    if labels.shape != (len(images),) or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"synthetic labels must be integers, one per image: {labels.shape} for {len(images)} images")
    if len(labels) and (labels.min() < 0 or labels.max() >= len(pool["classes"])):
        raise ValueError(f"synthetic labels outside the pool's {len(pool['classes'])} classes")
    return images.astype(np.float32) / 255.0 if images.dtype == np.uint8 else images, labels.astype(np.int64)


def materialise_images(
    image_pool: dict, selection: pd.DataFrame, image_selection: ImageSelectionParams, synthetic_images: dict | None = None,
    pixel_images: dict | None = None,
) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Check each draw of the selection against the contract and the IPC budget, and fetch its images.

    Returns:
        (arrays ``images`` (float32 [0, 1] when synthetic images are present, else uint8), ``labels``, ``ids``
        (synthetic ones ``synthetic/<i>``), ``draw`` (judge seed of the row, or -1 when shared by every seed),
        ``synthetic`` (bool), and the pool's ``classes, name, mean, std``; a summary ``{dataset, pool_size, ipc,
        selected (images per draw), real_per_draw, synthetic, draws, per_class}``).

    Raises:
        ValueError: the selection breaks the contract (``validate_selection``; an empty selection is accepted only
            with synthetic images), a draw misses IPC per class, or the
            synthetic set does not match the pool's image shape or classes.
    """
    ids = image_pool["ids"].astype(str)
    labels = image_pool["labels"]
    n_classes = len(image_pool["classes"])
    position = {record_id: i for i, record_id in enumerate(ids)}
    draws = [(SHARED_DRAW, selection)] if "seed" not in selection.columns else list(selection.groupby("seed", sort=True))
    syn_images, syn_labels = (None, np.zeros(0, dtype=np.int64)) if synthetic_images is None else _check_synthetic(synthetic_images, image_pool)
    syn_counts = np.bincount(syn_labels, minlength=n_classes)
    ipc = int(image_selection["ipc"])
    full = False
    index_parts, draw_parts = [], []
    for seed, table in draws:
        table = table.reset_index(drop=True)
        if table.empty and synthetic_images is not None:  # a distilled set alone (e.g. ccfs_distilled)
            index = np.zeros(0, dtype=np.int64)
        else:
            validate_selection(table, ids.tolist())
            index = np.array([position[i] for i in table["id"].astype(str)], dtype=np.int64)
        counts = np.bincount(labels[index], minlength=n_classes) + syn_counts
        full = len(index) == len(ids) and synthetic_images is None
        if not full and not (counts == ipc).all():
            short = {str(image_pool["classes"][c]): int(counts[c]) for c in np.flatnonzero(counts != ipc)}
            which = "the selection" if seed == SHARED_DRAW else f"the draw for judge seed {seed}"
            raise ValueError(f"{which}: every class needs IPC {ipc} images (real + synthetic), got {short}")
        index_parts.append(index)
        draw_parts.append(np.full(len(index), int(seed), dtype=np.int64))
    index = np.concatenate(index_parts)
    real_images = image_pool["images"][index]
    replaced = _replace_pixels(real_images, ids[index], pixel_images)
    if syn_images is not None:
        images = np.concatenate([real_images.astype(np.float32) / 255.0, syn_images])
    else:
        images = real_images
    arrays = {
        "images": images,
        "labels": np.concatenate([labels[index], syn_labels]),
        "ids": np.concatenate([ids[index], np.array([f"synthetic/{i:05d}" for i in range(len(syn_labels))], dtype=str)]).astype(str),
        "draw": np.concatenate([np.concatenate(draw_parts), np.full(len(syn_labels), SHARED_DRAW, dtype=np.int64)]),
        "synthetic": np.concatenate([np.zeros(len(index), bool), np.ones(len(syn_labels), bool)]),
        **{k: image_pool[k] for k in ("classes", "name", "mean", "std")},
    }
    first = index_parts[0]
    summary = {
        "dataset": str(image_pool["name"]),
        "pool_size": len(ids),
        "ipc": None if full else ipc,
        "selected": int(len(first) + len(syn_labels)),
        "real_per_draw": int(len(first)),
        "synthetic": int(len(syn_labels)),
        "draws": len(draws),
        "per_class": (np.bincount(labels[first], minlength=n_classes) + syn_counts).tolist(),
        "pixel_quantized": replaced,
    }
    return arrays, summary


def _replace_pixels(real_images: np.ndarray, real_ids: np.ndarray, pixel_images: dict | None) -> int:
    """Put a method's own pixels (DQ's pixel stage: ``{"ids", "images"}``) in place of the pool's for the ids they
    cover, in ``real_images`` (a fresh array from fancy indexing, never the pool); returns how many rows changed.

    Raises:
        ValueError: pixels of another shape or dtype than the pool's, or ids that are not selected.
    """
    if pixel_images is None or len(pixel_images["ids"]) == 0:
        return 0
    images = np.asarray(pixel_images["images"])
    if images.dtype != real_images.dtype or images.shape[1:] != real_images.shape[1:]:
        raise ValueError(f"pixel_images are {images.dtype} {images.shape[1:]}, the pool's {real_images.dtype} {real_images.shape[1:]}")
    row = {str(i): n for n, i in enumerate(np.asarray(pixel_images["ids"]).astype(str))}
    unknown = set(row) - set(real_ids.tolist())
    if unknown:
        raise ValueError(f"pixel_images holds {len(unknown)} ids that are not selected, e.g. {sorted(unknown)[:3]}")
    hits = np.array([row.get(i, -1) for i in real_ids.tolist()], dtype=np.int64)
    real_images[hits >= 0] = images[hits[hits >= 0]]
    return int((hits >= 0).sum())


def _draw_for(selected_images: dict, seed: int) -> np.ndarray:
    draw = selected_images["draw"]
    per_seed = draw != SHARED_DRAW
    return np.flatnonzero(~per_seed | (draw == seed)) if per_seed.any() else np.arange(len(draw))


def model_name(image_train: dict) -> str:
    """The judged model's name in the report, e.g. ``convnet-w64-d3`` or ``resnet18``."""
    if image_train["architecture"] == "convnet":
        return f"convnet-w{image_train['width']}-d{image_train['depth']}"
    return image_train["architecture"]


def train_over_seeds(
    selected_images: dict, image_train: ImageTrainParams, judge: JudgeParams
) -> tuple[dict[str, dict], dict[str, Any]]:
    """Train a fresh classifier per judge seed (``vision.training.train_classifier``; the seed sets initialisation,
    data order and augmentation) on that seed's draw plus the shared rows.

    Returns:
        (``{"seed_<s>": {"tensors": state_dict, "meta": how to rebuild + normalisation}}``, summary
        ``{"seeds", "model", "per_seed": {s: training summary}}``).

    Raises:
        ValueError: a per-seed selection has no draw for a judge seed.
    """
    from data_selection.vision.training import model_bundle, train_classifier

    draws = selected_images["draw"]
    bundles, per_seed = {}, {}
    n_classes = len(selected_images["classes"])
    for seed in judge["seeds"]:
        rows = _draw_for(selected_images, int(seed))
        if (draws != SHARED_DRAW).any() and not (draws == int(seed)).any():
            raise ValueError(f"no selected images for judge seed {seed}: the selection has no draw for it")
        images, labels = selected_images["images"][rows], selected_images["labels"][rows]
        logger.info("training %s on %d images, seed %d", model_name(image_train), len(rows), seed)
        model, summary = train_classifier(images, labels, n_classes, dict(image_train), int(seed),
                                          selected_images["mean"], selected_images["std"], description=f"train seed {seed}")
        meta = {"architecture": image_train["architecture"], "width": image_train["width"], "depth": image_train["depth"],
                "in_channels": int(images.shape[-1]), "num_classes": n_classes, "image_size": list(images.shape[1:3]),
                "mean": np.asarray(selected_images["mean"]).tolist(), "std": np.asarray(selected_images["std"]).tolist(),
                "seed": int(seed), **summary}
        bundles[f"seed_{int(seed)}"] = model_bundle(model, meta)
        per_seed[str(int(seed))] = summary
    return bundles, {"seeds": [int(s) for s in judge["seeds"]], "model": model_name(image_train), "per_seed": per_seed}


def evaluate_over_seeds(
    classifiers: dict[str, dict], image_test: dict, image_train: ImageTrainParams, method: str = "method"
) -> tuple[dict[str, Any], dict[str, dict], list[dict]]:
    """Top-1 accuracy of every seed's classifier on the held-out test images (batched, no augmentation).

    Per test image: ``prediction = argmax logits`` (lowest class on ties), ``correct = [prediction == label]``,
    ``nll = logsumexp(logits) - logit[label]`` (nats).

    Returns:
        (metrics ``{"method", "target_model", "dataset", "seeds", "per_seed": {s: {accuracy, nll, n}}, "mean"}``; the
        means in kedro-mlflow's format; one prediction row per (seed, test image): ``seed, id, label, prediction,
        correct, nll``).
    """
    from data_selection.vision.training import load_model, predict_logits

    labels = image_test["labels"].astype(np.int64)
    ids = image_test["ids"].astype(str)
    per_seed, rows = {}, []
    for name, bundle in sorted(classifiers.items(), key=lambda kv: int(kv[0].removeprefix("seed_"))):
        seed = name.removeprefix("seed_")
        meta = bundle["meta"]
        logits = predict_logits(load_model(bundle), image_test["images"], meta["mean"], meta["std"],
                                int(image_train["eval_batch_size"]), image_train["device"], image_train["num_threads"]).astype(np.float64)
        prediction = logits.argmax(axis=1)
        correct = prediction == labels
        top = logits.max(axis=1)
        nll = top + np.log(np.exp(logits - top[:, None]).sum(axis=1)) - logits[np.arange(len(labels)), labels]
        metrics = {"accuracy": float(correct.mean()), "nll": float(nll.mean()), "n": int(len(labels))}
        per_seed[seed] = metrics
        rows.extend({"seed": seed, "id": i, "label": int(y), "prediction": int(p), "correct": bool(c), "nll": float(v)}
                    for i, y, p, c, v in zip(ids, labels, prediction, correct, nll))
        _log_nested_run(method, seed, metrics)
    mean = {k: float(np.mean([m[k] for m in per_seed.values()])) for k in ("accuracy", "nll")}
    result = {"method": method, "target_model": model_name(image_train), "dataset": str(image_test["name"]),
              "seeds": list(per_seed), "per_seed": per_seed, "mean": mean}
    return result, {k: {"value": v, "step": 0} for k, v in mean.items()}, rows


def create_pipeline(namespace: str, synthetic: bool = False, pixel: bool = False) -> Pipeline:
    """``<ns>.selection`` (+ ``<ns>.synthetic_images`` when ``synthetic``, + ``<ns>.pixel_images`` when ``pixel``) ->
    ``<ns>.selected_images`` -> ``<ns>.classifiers`` -> ``<ns>.evaluation_metrics``, ``<ns>.test_predictions``,
    ``<ns>.mlflow_metrics``."""
    inputs = {"image_pool": "image_pool", "selection": "selection", "image_selection": "params:image_selection"}
    if synthetic:
        inputs["synthetic_images"] = "synthetic_images"
    if pixel:
        inputs["pixel_images"] = "pixel_images"
    template = Pipeline(
        [
            node(materialise_images, inputs, ["selected_images", "selection_summary"], name="materialise_images"),
            node(train_over_seeds, ["selected_images", "params:image_train", "params:judge"], ["classifiers", "train_summary"],
                 name="train_classifier"),
            node(_for_method(evaluate_over_seeds, namespace), ["classifiers", "image_test", "params:image_train"],
                 ["evaluation_metrics", "mlflow_metrics", "test_predictions"], name="evaluate_classifier"),
        ]
    )
    return Pipeline(template, namespace=namespace, inputs=SHARED_INPUTS, parameters=SHARED_PARAMETERS,
                    tags=[namespace, "image_track"])
