"""Dataset Condensation with Distribution Matching (DM; Zhao & Bilen, WACV 2023, arXiv 2110.04181), and the
loader/validator of a user-supplied distilled set. Torch, no Kedro.

DM learns ``ipc`` synthetic images per class so that, for randomly initialised embedding networks psi, the mean
embedding of the synthetic images of each class matches that of the real images of the class (paper §3.2, Eq. 4):

    L = sum_c || mean_{x in real_c} psi(x) - mean_{s in syn_c} psi(s) ||^2

with a freshly sampled psi (new random weights) at every iteration and SGD on the synthetic pixels (the networks
are never trained). The official code (``VICO-UoE/DatasetCondensation``, ``main_DM.py``) uses 20,000 iterations, a
real batch of 256 images per class, SGD lr 1.0 momentum 0.5 on the images, initialisation from random real images,
and differentiable siamese augmentation (DSA) applied with one shared seed to real and synthetic batches.

This module keeps the objective, the fresh-network-per-iteration sampling, the initialisation and the optimiser,
and exposes the schedule (``iterations``, ``batch_real``) as parameters: the CPU default schedule is reduced (see
``conf/base/parameters_ccfs.yml`` and ``docs/methods/ccfs.md``). DSA is not implemented (``augment`` accepts a
callable applying one shared random transform to both batches). CCFS itself starts from CDA distillations
(Yin & Shen 2024), not DM: a user can supply any distilled set through :func:`load_distilled_npz`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

EmbedFactory = Callable[[], nn.Module]
Augment = Callable[[torch.Tensor, torch.Tensor, torch.Generator], tuple[torch.Tensor, torch.Tensor]]


def dm_loss(embed: nn.Module, real_by_class: list[torch.Tensor], syn_by_class: list[torch.Tensor]) -> torch.Tensor:
    """Sum over classes of the squared L2 distance between mean real and mean synthetic embeddings (DM Eq. 4).

    Args:
        embed: maps (B, C, H, W) to (B, D) (any trailing shape is flattened).
        real_by_class, syn_by_class: one (B_c, C, H, W) / (ipc, C, H, W) float tensor per class, same length.

    Returns:
        0-d tensor; gradients flow to the synthetic images only (the real embeddings are detached).
    """
    if len(real_by_class) != len(syn_by_class):
        raise ValueError("real_by_class and syn_by_class must have one entry per class")
    loss = torch.zeros(())
    for real, syn in zip(real_by_class, syn_by_class):
        mean_real = embed(real).flatten(1).mean(0).detach()
        mean_syn = embed(syn).flatten(1).mean(0)
        loss = loss + ((mean_real - mean_syn) ** 2).sum()
    return loss


@dataclass
class DistilledSet:
    """DM output. ``images``: float32 (C·ipc, channels, H, W) in the input's space, class-major (class 0's ipc
    images first); ``labels``: int64 (C·ipc,); ``losses``: the DM loss at each iteration (float, len = iterations)."""

    images: torch.Tensor
    labels: torch.Tensor
    losses: list[float]


def distribution_matching(
    real_images: torch.Tensor,
    labels: torch.Tensor | np.ndarray,
    ipc: int,
    embed_factory: EmbedFactory,
    *,
    num_classes: int | None = None,
    iterations: int = 20000,
    batch_real: int = 256,
    lr: float = 1.0,
    momentum: float = 0.5,
    init: Literal["real", "noise"] = "real",
    augment: Augment | None = None,
    seed: int = 0,
    progress: bool = True,
) -> DistilledSet:
    """Distil ``ipc`` images per class with Distribution Matching (defaults: the official DM schedule).

    Per iteration: ``embed_factory()`` builds a new randomly initialised embedding network (e.g. a ConvNet
    without its classifier; it is left in train mode and never trained, as in ``main_DM.py``); for each class a
    random batch of ``min(batch_real, n_c)`` real images is drawn without replacement; one SGD step on the
    synthetic images follows :func:`dm_loss`.

    Determinism: the run executes under :func:`torch.random.fork_rng` seeded with ``seed`` (the caller's global
    RNG is untouched) and draws real batches from ``numpy.random.default_rng(seed)``, so the same seed, inputs and
    factory give bit-identical images on the same machine and thread count.

    Args:
        real_images: float (N, C, H, W), in the space the embedding network expects (e.g. mean/std normalised).
        labels: int (N,) in [0, num_classes).
        ipc: synthetic images per class, >= 1.
        embed_factory: zero-argument callable returning a fresh ``nn.Module``.
        num_classes: default ``labels.max() + 1``.
        iterations, batch_real: the schedule (official: 20,000 and 256).
        lr, momentum: SGD on the images (official DM: 1.0 and 0.5).
        init: ``"real"`` (official default: random real images of the class) or ``"noise"`` (standard normal).
        augment: optional ``(real, syn, generator) -> (real, syn)`` applying one shared random transform.
        seed: the seed of everything random here.
        progress: show a tqdm bar.

    Returns:
        :class:`DistilledSet`.

    Raises:
        ValueError: bad shapes, labels out of range, a class with fewer than ``ipc`` real images (init ``real``),
            or a non-positive schedule value.
    """
    if real_images.ndim != 4 or not torch.is_floating_point(real_images):
        raise ValueError(f"real_images must be float (N, C, H, W), got {real_images.dtype} {tuple(real_images.shape)}")
    labels = torch.as_tensor(np.asarray(labels), dtype=torch.int64)
    if labels.shape != (real_images.shape[0],):
        raise ValueError(f"labels must have shape ({real_images.shape[0]},), got {tuple(labels.shape)}")
    num_classes = int(labels.max()) + 1 if num_classes is None else int(num_classes)
    if labels.numel() == 0 or labels.min() < 0 or labels.max() >= num_classes:
        raise ValueError(f"labels must be non-empty and lie in [0, {num_classes})")
    for name, value in (("ipc", ipc), ("iterations", iterations), ("batch_real", batch_real)):
        if int(value) != value or value < 1:
            raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
    if not lr > 0 or not 0 <= momentum < 1:
        raise ValueError(f"need lr > 0 and 0 <= momentum < 1, got lr={lr!r}, momentum={momentum!r}")
    if init not in ("real", "noise"):
        raise ValueError(f"unknown init {init!r}; expected 'real' or 'noise'")
    by_class = [torch.nonzero(labels == c).flatten().numpy() for c in range(num_classes)]
    empty = [c for c, idx in enumerate(by_class) if idx.size == 0]
    if empty:
        raise ValueError(f"classes {empty} have no real images")
    if init == "real":
        short = {c: int(idx.size) for c, idx in enumerate(by_class) if idx.size < ipc}
        if short:
            raise ValueError(f"init='real' needs {ipc} real images per class; class -> images {short}")

    rng = np.random.default_rng(seed)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        generator = torch.Generator().manual_seed(seed)
        if init == "real":
            start = torch.cat([real_images[torch.from_numpy(rng.choice(idx, ipc, replace=False))] for idx in by_class])
        else:
            start = torch.randn((num_classes * ipc, *real_images.shape[1:]), generator=generator)
        syn = start.detach().clone().float().requires_grad_(True)
        optimizer = torch.optim.SGD([syn], lr=lr, momentum=momentum)
        losses = []
        bar = tqdm(range(int(iterations)), desc="DM distillation", disable=not progress, leave=False)
        for _ in bar:
            embed = embed_factory()
            for p in embed.parameters():
                p.requires_grad_(False)
            reals, syns = [], []
            for c, idx in enumerate(by_class):
                pick = rng.choice(idx, min(int(batch_real), idx.size), replace=False)
                real_c, syn_c = real_images[torch.from_numpy(pick)], syn[c * ipc : (c + 1) * ipc]
                if augment is not None:
                    real_c, syn_c = augment(real_c, syn_c, generator)
                reals.append(real_c)
                syns.append(syn_c)
            loss = dm_loss(embed, reals, syns)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            losses.append(float(loss.detach()))
            bar.set_postfix(loss=f"{losses[-1]:.4g}")
    syn_labels = torch.arange(num_classes).repeat_interleave(ipc)
    return DistilledSet(images=syn.detach(), labels=syn_labels, losses=losses)


# ----------------------------------------------------------------------------------------- user-supplied sets


def validate_distilled(
    arrays: dict[str, np.ndarray], image_shape: tuple[int, int, int], num_classes: int, where: str = "distilled set"
) -> dict[str, np.ndarray]:
    """Check a distilled set against the data set it will be mixed with.

    Args:
        arrays: ``images`` (M, H, W, C), channels last like the data set: uint8 pixels (0..255), or float in
            [0, 1] scale (the image track's convention for synthetic images; optimised pixels may leave that range
            slightly), and ``labels`` integer (M,).
        image_shape: the data set's (H, W, C).
        num_classes: the data set's number of classes.
        where: a name for error messages (e.g. the file path).

    Returns:
        ``{"images": float32 (M, H, W, C) in [0, 1] scale (uint8 divided by 255), "labels": int64 (M,)}`` (new
        arrays; the input is not modified).

    Raises:
        ValueError: missing keys, wrong image shape, non-finite pixels, non-integer labels, labels outside
            [0, num_classes), mismatched lengths, or an empty set.
    """
    missing = {"images", "labels"} - set(arrays)
    if missing:
        raise ValueError(f"{where}: missing arrays {sorted(missing)} (expected 'images' and 'labels')")
    images, labels = np.asarray(arrays["images"]), np.asarray(arrays["labels"])
    if images.ndim != 4 or tuple(images.shape[1:]) != tuple(image_shape):
        raise ValueError(
            f"{where}: images have shape {images.shape}, expected (M, {', '.join(map(str, image_shape))}) "
            "(channels last, like the data set)"
        )
    if images.dtype != np.uint8 and not np.issubdtype(images.dtype, np.floating):
        raise ValueError(f"{where}: images must be uint8 or float, got {images.dtype}")
    if not np.isfinite(images).all():
        raise ValueError(f"{where}: images contain NaN or infinite values")
    if labels.shape != (images.shape[0],) or images.shape[0] == 0:
        raise ValueError(f"{where}: {images.shape[0]} images but labels of shape {labels.shape} (need one per image)")
    if np.issubdtype(labels.dtype, np.floating) and np.any(labels != np.round(labels)):
        raise ValueError(f"{where}: labels must be integers")
    if not (np.issubdtype(labels.dtype, np.integer) or np.issubdtype(labels.dtype, np.floating)):
        raise ValueError(f"{where}: labels must be integers, got {labels.dtype}")
    if labels.min() < 0 or labels.max() >= num_classes:
        raise ValueError(
            f"{where}: labels span [{labels.min()}, {labels.max()}] but the data set has classes 0..{num_classes - 1}"
        )
    if images.dtype != np.uint8 and images.size and (images.min() < -0.5 or images.max() > 1.5):
        raise ValueError(
            f"{where}: float images span [{images.min():.3g}, {images.max():.3g}]; expected [0, 1] scale "
            "(store 0..255 pixels as uint8)"
        )
    scaled = images.astype(np.float32) / 255.0 if images.dtype == np.uint8 else images.astype(np.float32)
    return {"images": scaled, "labels": labels.astype(np.int64)}


def load_distilled_npz(path: str | Path, image_shape: tuple[int, int, int], num_classes: int) -> dict[str, np.ndarray]:
    """Read a user-supplied distilled set (``.npz`` with ``images`` and ``labels``) and :func:`validate_distilled` it.

    Raises:
        FileNotFoundError: no such file.
        ValueError: not a readable npz, or any check of :func:`validate_distilled`.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"distilled set {path} does not exist")
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {key: data[key] for key in data.files}
    except (OSError, ValueError) as error:
        raise ValueError(f"{path}: not a readable .npz file ({error})") from error
    return validate_distilled(arrays, image_shape, num_classes, where=str(path))


def pixels_to_tensor(images: np.ndarray, mean: tuple[float, ...], std: tuple[float, ...]) -> torch.Tensor:
    """(M, H, W, C) pixels 0..255 -> float32 (M, C, H, W) normalised ``(x / 255 - mean) / std`` per channel."""
    x = torch.from_numpy(np.ascontiguousarray(images, dtype=np.float32)).permute(0, 3, 1, 2) / 255.0
    return (x - torch.tensor(mean).view(1, -1, 1, 1)) / torch.tensor(std).view(1, -1, 1, 1)


def tensor_to_pixels(images: torch.Tensor, mean: tuple[float, ...], std: tuple[float, ...]) -> np.ndarray:
    """Inverse of :func:`pixels_to_tensor`: float32 (M, H, W, C) in pixel units, not clipped."""
    x = images.detach() * torch.tensor(std).view(1, -1, 1, 1) + torch.tensor(mean).view(1, -1, 1, 1)
    return (x * 255.0).permute(0, 2, 3, 1).contiguous().numpy().astype(np.float32)
