"""A seeded recipe to train an image classifier, batched prediction and embeddings (torch; no Kedro).

Recipe (the DC/DSA/DM evaluation protocol, Zhao et al. 2021 ``utils.py::evaluate_synset``, with light augmentation
instead of DSA): cross-entropy, SGD with momentum 0.9 and weight decay 5e-4, learning rate 0.01 divided by 10 at half
of training (``lr_schedule: step_half``; ``cosine`` and ``constant`` also available), batch 256, random crop with
``crop_padding`` pixels of zero padding (in normalised space, i.e. the pool's mean colour) and horizontal flips.
The number of optimiser steps is ``epochs * ceil(N / batch_size)``, capped by ``max_steps`` when given (the cap lets a
"full data" run stay affordable on CPU; it is reported in the summary).

Determinism: the seed sets the initialisation (``torch.manual_seed``) and one ``torch.Generator`` that draws the data
order and the augmentation, so the same seed, data and thread count give the same weights on one machine.

Images are ``[N, H, W, C]``: uint8 pixels (divided by 255) or float32 already in ``[0, 1]`` scale (synthetic images).
They are normalised per channel with the ``mean``/``std`` (``[C]``, ``[0, 1]`` scale) the caller gives.
"""

from __future__ import annotations

import logging
import math
import time
from contextlib import contextmanager
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from .networks import build_network

logger = logging.getLogger(__name__)

DEFAULT_RECIPE: dict[str, Any] = {
    "architecture": "convnet",
    "width": 128,
    "depth": 3,
    "epochs": 300,
    "max_steps": None,
    "batch_size": 256,
    "learning_rate": 0.01,
    "momentum": 0.9,
    "weight_decay": 5e-4,
    "lr_schedule": "step_half",
    "augment": {"crop_padding": 4, "flip": True},
    "eval_batch_size": 1024,
    "device": "auto",
    "num_threads": None,
}


@contextmanager
def torch_threads(count: int | None):
    """Run with ``torch.set_num_threads(count)`` (None: leave torch's default), restoring the previous value.

    On a shared CPU machine one thread per run is much faster than torch's default (two threads that spin-wait
    for each other under load: measured 0.39 s vs 4.8 s per ConvNet-64 step on a loaded 2-core machine)."""
    previous = torch.get_num_threads()
    if count is not None:
        torch.set_num_threads(int(count))
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def resolve_device(device: str = "auto") -> torch.device:
    """``auto`` -> CUDA when available, else CPU."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def to_tensor(images: np.ndarray, mean, std) -> torch.Tensor:
    """``[N, H, W, C]`` uint8 (or float32 in [0, 1] scale) -> normalised float32 ``[N, C, H, W]``.

    Raises:
        ValueError: not 4-D, or ``mean``/``std`` not of length C, or a std <= 0.
    """
    images = np.asarray(images)
    if images.ndim != 4:
        raise ValueError(f"images must be [N, H, W, C], got shape {images.shape}")
    x = torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2)
    x = x.float() / 255.0 if images.dtype == np.uint8 else x.float()
    mean = torch.as_tensor(np.asarray(mean, dtype=np.float32)).view(1, -1, 1, 1)
    std = torch.as_tensor(np.asarray(std, dtype=np.float32)).view(1, -1, 1, 1)
    if mean.numel() != x.shape[1] or std.numel() != x.shape[1] or (std <= 0).any():
        raise ValueError(f"mean/std must have {x.shape[1]} positive entries, got {mean.flatten()}, {std.flatten()}")
    return (x - mean) / std


def channel_stats(images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel mean and std of uint8 ``[N, H, W, C]`` images in ``[0, 1]`` scale (float32 ``[C]`` each), computed
    one chunk at a time (float64 running sums)."""
    total = np.zeros(images.shape[-1]); squares = np.zeros(images.shape[-1]); count = 0
    for start in range(0, len(images), 4096):
        chunk = images[start : start + 4096].astype(np.float64) / 255.0
        total += chunk.sum(axis=(0, 1, 2)); squares += (chunk**2).sum(axis=(0, 1, 2)); count += chunk[..., 0].size
    mean = total / count
    std = np.sqrt(np.maximum(squares / count - mean**2, 1e-12))
    return mean.astype(np.float32), std.astype(np.float32)


def augment(x: torch.Tensor, crop_padding: int, flip: bool, generator: torch.Generator) -> torch.Tensor:
    """Per-example random crop (after ``crop_padding`` zero padding) and horizontal flip, drawn from ``generator``."""
    n, c, h, w = x.shape
    if crop_padding > 0:
        padded = F.pad(x, (crop_padding,) * 4)
        dy = torch.randint(0, 2 * crop_padding + 1, (n,), generator=generator)
        dx = torch.randint(0, 2 * crop_padding + 1, (n,), generator=generator)
        rows = (dy[:, None] + torch.arange(h)[None, :])[:, None, :, None]
        cols = (dx[:, None] + torch.arange(w)[None, :])[:, None, None, :]
        x = padded[torch.arange(n)[:, None, None, None], torch.arange(c)[None, :, None, None], rows, cols]
    if flip:
        mask = torch.rand(n, generator=generator) < 0.5
        x = torch.where(mask[:, None, None, None], x.flip(3), x)
    return x


def _lr_factor(schedule: str, step: int, total: int) -> float:
    if schedule == "step_half":
        return 0.1 if step >= total // 2 else 1.0
    if schedule == "cosine":
        return 0.5 * (1.0 + math.cos(math.pi * step / max(total, 1)))
    if schedule == "constant":
        return 1.0
    raise ValueError(f"unknown lr_schedule {schedule!r} (step_half, cosine, constant)")


def train_classifier(
    images: np.ndarray,
    labels: np.ndarray,
    num_classes: int,
    recipe: dict[str, Any],
    seed: int,
    mean,
    std,
    description: str = "train",
) -> tuple[nn.Module, dict[str, Any]]:
    """Train a fresh classifier on ``(images, labels)`` with ``recipe`` (see :data:`DEFAULT_RECIPE`) and ``seed``.

    Args:
        images: ``[N, H, W, C]`` uint8 or float32 ([0, 1] scale).
        labels: int ``[N]`` in ``0 .. num_classes - 1``.
        mean, std: per-channel normalisation (``[C]``, [0, 1] scale).

    Returns:
        (the model in eval mode on the CPU; summary ``{"steps", "epochs", "examples", "final_loss",
        "train_accuracy" (last epoch, on augmented batches), "seconds", "capped_by_max_steps"}``).

    Raises:
        ValueError: no images, labels out of range, or a bad recipe.
    """
    recipe = {**DEFAULT_RECIPE, **recipe}
    labels = np.asarray(labels, dtype=np.int64)
    if len(images) == 0 or len(images) != len(labels):
        raise ValueError(f"need as many labels as images (>= 1), got {len(images)} images and {len(labels)} labels")
    if labels.min() < 0 or labels.max() >= num_classes:
        raise ValueError(f"labels must be in 0..{num_classes - 1}")
    device = resolve_device(recipe["device"])
    x = to_tensor(images, mean, std)
    y = torch.from_numpy(labels)
    torch.manual_seed(int(seed))
    model = build_network(recipe["architecture"], x.shape[1], num_classes, tuple(x.shape[2:]), recipe["width"], recipe["depth"]).to(device)
    generator = torch.Generator().manual_seed(int(seed))
    batch = int(recipe["batch_size"])
    per_epoch = math.ceil(len(x) / batch)
    total = int(recipe["epochs"]) * per_epoch
    capped = recipe["max_steps"] is not None and int(recipe["max_steps"]) < total
    if capped:
        total = int(recipe["max_steps"])
    optimizer = torch.optim.SGD(model.parameters(), lr=recipe["learning_rate"], momentum=recipe["momentum"], weight_decay=recipe["weight_decay"])
    aug = recipe["augment"] or {}
    model.train()
    started, step, loss_value, correct, seen = time.perf_counter(), 0, float("nan"), 0, 0
    with torch_threads(recipe["num_threads"]), tqdm(total=total, desc=description, unit="step", leave=False, mininterval=2.0) as bar:
        while step < total:
            order = torch.randperm(len(x), generator=generator)
            correct, seen = 0, 0
            for start in range(0, len(x), batch):
                if step >= total:
                    break
                index = order[start : start + batch]
                xb = augment(x[index], int(aug.get("crop_padding", 0)), bool(aug.get("flip", False)), generator).to(device)
                yb = y[index].to(device)
                for group in optimizer.param_groups:
                    group["lr"] = recipe["learning_rate"] * _lr_factor(recipe["lr_schedule"], step, total)
                logits = model(xb)
                loss = F.cross_entropy(logits, yb)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                loss_value = float(loss.detach())
                correct += int((logits.argmax(1) == yb).sum()); seen += len(yb)
                step += 1
                bar.update(1)
                if step % 50 == 0:
                    bar.set_postfix(loss=f"{loss_value:.3f}")
    model.eval().cpu()
    summary = {
        "steps": step, "epochs": round(step / per_epoch, 3), "examples": int(len(x)), "final_loss": loss_value,
        "train_accuracy": correct / max(seen, 1), "seconds": round(time.perf_counter() - started, 2), "capped_by_max_steps": bool(capped),
    }
    return model, summary


@torch.inference_mode()
def _batched(fn, model: nn.Module, images: np.ndarray, mean, std, batch_size: int, device: str, num_threads: int | None) -> np.ndarray:
    target = resolve_device(device)
    model = model.to(target).eval()
    out = []
    with torch_threads(num_threads):
        for start in range(0, len(images), batch_size):
            out.append(fn(model, to_tensor(images[start : start + batch_size], mean, std).to(target)).float().cpu().numpy())
    model.cpu()
    return np.concatenate(out) if out else np.zeros((0, 0), dtype=np.float32)


def predict_logits(
    model: nn.Module, images: np.ndarray, mean, std, batch_size: int = 1024, device: str = "auto", num_threads: int | None = None
) -> np.ndarray:
    """float32 logits ``[N, K]``, in batches of ``batch_size`` (no augmentation, no gradients)."""
    return _batched(lambda m, x: m(x), model, images, mean, std, batch_size, device, num_threads)


def embed(
    model: nn.Module, images: np.ndarray, mean, std, batch_size: int = 1024, device: str = "auto", num_threads: int | None = None
) -> np.ndarray:
    """float32 penultimate embeddings ``[N, D]`` (``model.features``), in batches."""
    return _batched(lambda m, x: m.features(x), model, images, mean, std, batch_size, device, num_threads)


def model_bundle(model: nn.Module, meta: dict[str, Any]) -> dict[str, Any]:
    """``{"tensors": state_dict, "meta": meta}`` for ``TensorBundleDataset``; ``meta`` must say how to rebuild the
    network (``architecture, width, depth, in_channels, num_classes, image_size, mean, std``)."""
    return {"tensors": {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}, "meta": dict(meta)}


def load_model(bundle: dict[str, Any]) -> nn.Module:
    """Rebuild a network from :func:`model_bundle`'s output (eval mode, CPU).

    Raises:
        KeyError: ``meta`` lacks a key needed to rebuild the network.
    """
    meta = bundle["meta"]
    model = build_network(meta["architecture"], int(meta["in_channels"]), int(meta["num_classes"]), tuple(meta["image_size"]),
                          int(meta["width"]), int(meta["depth"]))
    model.load_state_dict(bundle["tensors"])
    return model.eval()
