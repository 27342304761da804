"""CCFS nodes: small, pure wiring around ``core.ccfs`` (selection math) and ``vision`` (teacher, forgetting run,
DM, KD filter). The image pool is the image track's: ``{"images": uint8 [N, H, W, C], "labels": int [N],
"ids": str [N]}`` (an ``ImageSet`` is accepted too). Distilled/synthetic images are float32 [M, H, W, C] in [0, 1]
scale, as the image track's training reads them.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from data_selection.core import ccfs
from data_selection.vision import distill, kd

from .parameters import CcfsParams

from data_selection.pipelines.image_data.nodes import pool_arrays  # noqa: E402

logger = logging.getLogger(__name__)


def _network(spec: dict, in_channels: int, num_classes: int, image_size: tuple[int, int]) -> nn.Module:
    """An untrained network of the image track (``vision.networks.build_network``)."""
    from data_selection.vision.networks import build_network  # the image track's module

    return build_network(spec["architecture"], in_channels, num_classes, tuple(image_size), spec["width"], spec["depth"])


def _tensor(images: np.ndarray, plan: dict) -> torch.Tensor:
    """uint8 pixels or [0, 1] floats [N, H, W, C] -> normalised float32 [N, C, H, W] with the plan's mean/std."""
    x = torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).float()
    if images.dtype == np.uint8:
        x = x / 255.0
    mean = torch.tensor(plan["mean"], dtype=torch.float32).view(1, -1, 1, 1)
    std = torch.tensor(plan["std"], dtype=torch.float32).view(1, -1, 1, 1)
    return (x - mean) / std


class _Features(nn.Module):
    """A network's penultimate embedding (``net.features``) as a module: DM's embedding psi."""

    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net.features(x)


def plan_budget(image_pool: Any, params: CcfsParams, image_selection: dict | None = None) -> dict[str, Any]:
    """Check the budget against the pool before any training and fix the per-class numbers.

    The IPC is the image track's ``image_selection.ipc`` (the budget every image method is judged at) unless
    ``ccfs.ipc`` is set, which must then equal it.

    Returns:
        ``{"ipc", "alpha", "cpc", "spc", "arrangement", "num_classes", "image_shape", "mean", "std"}`` (mean/std:
        per-channel pool statistics in [0, 1] scale, used by every network of the method).

    Raises:
        ValueError: ``ccfs.ipc`` differs from ``image_selection.ipc`` (or neither is given); alpha outside [0, 1]; a class with fewer than IPC - cpc real images; spc spread over more
            curricula than images; no distilled image to train the first filter on (alpha·IPC < 1 with spc > 0);
            the Keras CIFAR-10 teacher on images that are not 32x32 RGB.
    """
    track_ipc = None if image_selection is None else int(image_selection["ipc"])
    if params["ipc"] is not None and track_ipc is not None and int(params["ipc"]) != track_ipc:
        raise ValueError(f"ccfs.ipc = {params['ipc']} but the image track judges every method at image_selection.ipc = "
                         f"{track_ipc}: set ccfs.ipc to null (or to {track_ipc})")
    ipc = track_ipc if params["ipc"] is None else int(params["ipc"])
    if ipc is None:
        raise ValueError("no IPC: set image_selection.ipc (or ccfs.ipc)")
    params = {**params, "ipc": ipc}
    pool = pool_arrays(image_pool)
    labels = np.asarray(pool["labels"], dtype=np.int64)
    images = np.asarray(pool["images"])
    num_classes = len(pool["classes"]) if "classes" in pool else int(labels.max()) + 1
    cpc, spc = ccfs.split_ipc(params["ipc"], params["alpha"])
    arrangement = ccfs.curriculum_arrangement(spc, params["curricula"])
    ccfs.check_real_budget(labels, spc, num_classes)
    if spc > 0 and cpc == 0:
        raise ValueError(
            f"alpha * ipc = {params['alpha']} * {params['ipc']} keeps no distilled image, so the first curriculum's "
            "filter has nothing to train on; raise alpha"
        )
    if params["teacher"]["kind"] == "keras_cifar10" and tuple(images.shape[1:]) != (32, 32, 3):
        raise ValueError(f"the Keras CIFAR-10 teacher needs 32x32 RGB images, the pool has {images.shape[1:]}")
    total = np.zeros(images.shape[-1])
    squares = np.zeros(images.shape[-1])
    for start in range(0, len(images), 4096):
        chunk = images[start : start + 4096].astype(np.float64) / 255.0
        total += chunk.sum(axis=(0, 1, 2))
        squares += (chunk**2).sum(axis=(0, 1, 2))
    count = images[..., 0].size
    mean = total / count
    std = np.sqrt(np.maximum(squares / count - mean**2, 1e-12))
    plan = {"ipc": params["ipc"], "alpha": params["alpha"], "cpc": cpc, "spc": spc, "arrangement": arrangement,
            "num_classes": num_classes, "image_shape": list(images.shape[1:]), "mean": mean.tolist(),
            "std": std.tolist()}
    logger.info("CCFS plan: %d distilled + %d real images per class, curricula %s", cpc, spc, arrangement)
    return plan


def record_forgetting(image_pool: Any, plan: dict, params: dict) -> tuple[dict[str, np.ndarray], dict, dict]:
    """Train the network on the whole pool with cross-entropy and record forgetting scores (no extra passes).

    Returns:
        (``{"scores": float64 [N]}``, the trained model as a tensor bundle ``{"pool_model": {"tensors", "meta"}}``,
        a summary dict).
    """
    pool = pool_arrays(image_pool)
    h, w, c = plan["image_shape"]
    spec, run = params["network"], params["forgetting"]
    model, scores, summary = kd.train_recording_forgetting(
        lambda: _network(spec, c, plan["num_classes"], (h, w)),
        _tensor(np.asarray(pool["images"]), plan),
        torch.from_numpy(np.asarray(pool["labels"], dtype=np.int64)),
        epochs=run["epochs"], batch_size=run["batch_size"], lr=run["learning_rate"], momentum=run["momentum"],
        weight_decay=run["weight_decay"], flip=run["flip"], never_learned=run["never_learned"], seed=params["seed"],
    )
    bundle = {"pool_model": {"tensors": model.state_dict(), "meta": {**spec, "in_channels": c, "image_size": [h, w],
                                                                     "num_classes": plan["num_classes"]}}}
    summary = {**summary, "mean_forgetting": float(scores.mean()), "never_learned_rule": run["never_learned"]}
    return {"scores": scores}, bundle, summary


def initial_distilled_set(image_pool: Any, plan: dict, params: dict) -> dict[str, np.ndarray]:
    """The distilled set CCFS starts from: DM on the pool (``distilled.source: dm``, cpc images per class) or a
    user's ``.npz`` (``npz``), validated against the pool's image shape and classes.

    Returns:
        ``{"images": float32 [M, H, W, C] in [0, 1] scale (DM's pixels clipped to it), "labels": int64 [M]}``.
    """
    h, w, c = plan["image_shape"]
    cfg = params["distilled"]
    if cfg["source"] == "npz":
        return distill.load_distilled_npz(cfg["path"], (h, w, c), plan["num_classes"])
    pool = pool_arrays(image_pool)
    if plan["cpc"] == 0:
        return {"images": np.zeros((0, h, w, c), np.float32), "labels": np.zeros(0, np.int64)}
    dm = cfg["dm"]
    result = distill.distribution_matching(
        _tensor(np.asarray(pool["images"]), plan), np.asarray(pool["labels"], dtype=np.int64), plan["cpc"],
        lambda: _Features(_network(params["network"], c, plan["num_classes"], (h, w))),
        num_classes=plan["num_classes"], iterations=dm["iterations"], batch_real=dm["batch_real"], lr=dm["lr"],
        momentum=dm["momentum"], init=dm["init"], seed=params["seed"],
    )
    images = distill.tensor_to_pixels(result.images, tuple(plan["mean"]), tuple(plan["std"])) / 255.0
    # DM optimises unbounded pixels; the image track (and every image a classifier sees) is in [0, 1], so the
    # distilled images are clipped once here, before the teacher, the filters and the judge see them (the official
    # DM code evaluates its unclipped tensors).
    return {"images": np.clip(images, 0.0, 1.0).astype(np.float32), "labels": result.labels.numpy()}


def teacher_logits(
    image_pool: Any, distilled_set: dict, pool_model: dict, plan: dict, params: dict
) -> dict[str, np.ndarray]:
    """The teacher's logits on the pool and on the distilled images (computed once; the KD targets).

    Returns:
        ``{"pool": float32 [N, K], "distilled": float32 [M, K]}`` (Keras teacher: its pre-ReLU logits).
    """
    pool = pool_arrays(image_pool)
    if params["teacher"]["kind"] == "keras_cifar10":
        from data_selection.vision.teacher import load_keras_cifar_cnn, teacher_outputs

        model = load_keras_cifar_cnn()
        return {"pool": teacher_outputs(model, np.asarray(pool["images"]), params["eval_batch_size"])[0],
                "distilled": teacher_outputs(model, distilled_set["images"], params["eval_batch_size"])[0]}
    bundle = pool_model["pool_model"]
    meta = bundle["meta"]
    model = _network(meta, int(meta["in_channels"]), int(meta["num_classes"]), tuple(meta["image_size"]))
    model.load_state_dict(bundle["tensors"])
    batch = params["eval_batch_size"]
    return {"pool": kd.predict(model, _tensor(np.asarray(pool["images"]), plan), batch).numpy(),
            "distilled": kd.predict(model, _tensor(distilled_set["images"], plan), batch).numpy()}


def _filter_predictions(
    kept_images: np.ndarray, kept_logits: np.ndarray, pool_images: np.ndarray, pool_logits: np.ndarray,
    selected: np.ndarray, curriculum: int, plan: dict, params: dict,
) -> np.ndarray:
    """Train a fresh filter by KD on (kept distilled + selected real) and predict the whole pool (argmax, [N])."""
    h, w, c = plan["image_shape"]
    real = pool_images[selected].astype(np.float32) / 255.0
    images = np.concatenate([kept_images, real]) if len(real) else kept_images
    targets = np.concatenate([kept_logits, pool_logits[selected]]) if len(real) else kept_logits
    f = params["filter"]
    model, summary = kd.train_kd(
        lambda: _network(params["network"], c, plan["num_classes"], (h, w)),
        _tensor(images, plan), torch.from_numpy(np.asarray(targets, dtype=np.float32)),
        temperature=f["temperature"], epochs=f["epochs"], batch_size=f["batch_size"], lr=f["learning_rate"],
        momentum=f["momentum"], weight_decay=f["weight_decay"], warmup_epochs=f["warmup_epochs"], flip=f["flip"],
        seed=params["seed"] + 1000 * (curriculum + 1), description=f"CCFS filter, curriculum {curriculum + 1}",
    )
    logger.info("CCFS curriculum %d: filter trained on %d images in %.1f s", curriculum + 1, len(images),
                summary["seconds"])
    predictions = []
    for start in range(0, len(pool_images), params["eval_batch_size"]):
        chunk = _tensor(pool_images[start : start + params["eval_batch_size"]], plan)
        predictions.append(kd.predict(model, chunk, params["eval_batch_size"]).argmax(1).numpy())
    return np.concatenate(predictions)


def select_ccfs(
    image_pool: Any, distilled_set: dict, teacher: dict, forgetting: dict, plan: dict, params: dict
) -> tuple[pd.DataFrame, dict[str, np.ndarray], pd.DataFrame, dict]:
    """CCFS: keep cpc distilled images per class, then per curriculum train a fresh KD filter on the current set,
    take the candidates (filter wrong, teacher right, unselected) and per class the lowest forgetting scores.

    Returns:
        (selection ``id, rank, score, curriculum, topped_up, label`` with score = forgetting score, rank in pick
        order; synthetic_images ``{"images" float32 [0, 1], "labels", "ids"}`` = the kept distilled part;
        curriculum report, one row per (curriculum, class): ``quota, candidates, from_candidates, from_top_up,
        short, filter_accuracy``; MLflow metrics with one step per curriculum).
    """
    pool = pool_arrays(image_pool)
    labels = np.asarray(pool["labels"], dtype=np.int64)
    pool_images = np.asarray(pool["images"])
    kept = ccfs.keep_distilled(distilled_set["labels"], plan["cpc"], plan["num_classes"])
    kept_images = np.asarray(distilled_set["images"], dtype=np.float32)[kept]
    kept_logits = np.asarray(teacher["distilled"], dtype=np.float32)[kept]
    pool_logits = np.asarray(teacher["pool"], dtype=np.float32)
    teacher_correct = pool_logits.argmax(1) == labels
    scores = np.asarray(forgetting["scores"], dtype=np.float64)
    logger.info("CCFS teacher accuracy on the pool: %.4f", teacher_correct.mean())

    def train_and_predict(j: int, selected: np.ndarray) -> np.ndarray:
        return _filter_predictions(kept_images, kept_logits, pool_images, pool_logits, selected, j, plan, params)

    result = ccfs.run_curricula(labels, teacher_correct, scores, plan["arrangement"], plan["num_classes"],
                                train_and_predict, top_up=params["top_up"])
    ids = np.asarray(pool["ids"]).astype(str)
    selection = pd.DataFrame({
        "id": ids[result.indices], "rank": np.arange(1, result.indices.size + 1), "score": scores[result.indices],
        "curriculum": result.curriculum + 1, "topped_up": result.topped_up, "label": labels[result.indices],
    })
    rows = []
    for j, (pick, accuracy) in enumerate(zip(result.picks, result.filter_accuracy)):
        for c in range(plan["num_classes"]):
            rows.append({"curriculum": j + 1, "class": c, "quota": int(pick.quota[c]),
                         "candidates": int(pick.candidates[c]), "from_candidates": int(pick.from_candidates[c]),
                         "from_top_up": int(pick.from_top_up[c]), "short": int(pick.short[c]),
                         "filter_accuracy": accuracy})
    report = pd.DataFrame(rows, columns=["curriculum", "class", "quota", "candidates", "from_candidates",
                                         "from_top_up", "short", "filter_accuracy"])
    for j, pick in enumerate(result.picks):
        if pick.short.any():
            logger.warning("CCFS curriculum %d: classes short of candidates (top_up=none): %s", j + 1,
                           {int(c): int(pick.short[c]) for c in np.flatnonzero(pick.short)})
    metrics = {
        "ccfs_filter_accuracy": [{"value": a, "step": j + 1} for j, a in enumerate(result.filter_accuracy)],
        "ccfs_candidates": [{"value": float(p.candidates.sum()), "step": j + 1} for j, p in enumerate(result.picks)],
        "ccfs_topped_up": [{"value": float(p.from_top_up.sum()), "step": j + 1} for j, p in enumerate(result.picks)],
        "ccfs_short": [{"value": float(p.short.sum()), "step": j + 1} for j, p in enumerate(result.picks)],
        "ccfs_teacher_accuracy": [{"value": float(teacher_correct.mean()), "step": 0}],
    }
    synthetic = {"images": kept_images, "labels": np.asarray(distilled_set["labels"], dtype=np.int64)[kept],
                 "ids": np.array([f"distilled/{i:05d}" for i in kept])}
    return selection, synthetic, report, metrics
