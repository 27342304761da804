"""Knowledge distillation loss and per-example forgetting tracking for image classifiers (torch, no Kedro).

* :func:`kd_loss`: Hinton et al. (2015) distillation loss at temperature T as CCFS uses it (``train_one_epoch`` of
  ``iLearn-Lab/CVPR25-CCFS``: ``KLDivLoss(reduction='batchmean', log_target=True)`` on log-softmax inputs, times
  T^2, ground-truth labels unused).
* :class:`ForgettingTracker`: Toneva et al. (ICLR 2019) forgetting events recorded from the logits a training loop
  already computes for its mini-batches (no extra forward pass); the counting is :class:`core.forgetting.ForgettingCounter`.
* :class:`IndexedDataset`: wraps a dataset so that each item also carries its index, which the tracker needs.
* :func:`train_kd`: CCFS's filter training (KD from the teacher's logits only; SGD, cosine with linear warmup).
* :func:`train_recording_forgetting`: a cross-entropy run on the real pool that records forgetting scores.

Both loops take a zero-argument ``model_factory`` and build the model under :func:`torch.random.fork_rng` seeded
with ``seed`` (the caller's global RNG is untouched); a ``torch.Generator`` seeded with ``seed`` draws the data
order and flips, so the same seed, data and thread count give the same weights.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import Dataset
from tqdm.auto import tqdm

from data_selection.core.forgetting import ForgettingCounter, NeverLearned


def kd_loss(student_logits: torch.Tensor, teacher_logits: torch.Tensor, temperature: float) -> torch.Tensor:
    """T^2 · KL( softmax(teacher/T) || softmax(student/T) ), summed over classes and averaged over the batch.

    The T^2 factor keeps the gradient scale independent of T (Hinton et al. 2015, §2). CCFS uses T = 20 (its
    ``scripts/*.sh``).

    Args:
        student_logits: (B, C) float, differentiable.
        teacher_logits: (B, C) float; treated as a constant (detached).
        temperature: T > 0.

    Returns:
        0-d tensor, >= 0 (0 iff the two softmaxes agree).

    Raises:
        ValueError: shapes differ, not 2-D, or T <= 0.
    """
    if student_logits.ndim != 2 or student_logits.shape != teacher_logits.shape:
        raise ValueError(
            f"student and teacher logits must both be (B, C), got {tuple(student_logits.shape)} and "
            f"{tuple(teacher_logits.shape)}"
        )
    if not temperature > 0:
        raise ValueError(f"temperature must be > 0, got {temperature!r}")
    log_p_student = F.log_softmax(student_logits / temperature, dim=1)
    log_p_teacher = F.log_softmax(teacher_logits.detach() / temperature, dim=1)
    return F.kl_div(log_p_student, log_p_teacher, reduction="batchmean", log_target=True) * temperature**2


class ForgettingTracker:
    """Forgetting scores recorded during training, from the mini-batch logits the loop computes anyway.

    Call :meth:`update` after each forward pass with the batch's dataset indices (see :class:`IndexedDataset`),
    logits and labels; the correctness is the argmax of those logits (as in Toneva et al.'s official training
    loop, i.e. in training mode and on the augmented image). After training, :meth:`scores` gives one forgetting
    count per example. Memory: O(N).

    Args:
        num_examples: N, the size of the dataset the loop iterates over.
    """

    def __init__(self, num_examples: int):
        self.counter = ForgettingCounter(num_examples)

    @torch.no_grad()
    def update(self, indices: torch.Tensor, logits: torch.Tensor, labels: torch.Tensor) -> None:
        """Record one presentation of the batch.

        Args:
            indices: (B,) int dataset indices; logits: (B, C); labels: (B,) int.

        Raises:
            ValueError: mismatched shapes, an index out of range or repeated in the batch.
        """
        if logits.ndim != 2 or logits.shape[0] != labels.shape[0] or indices.shape != labels.shape:
            raise ValueError(
                f"expected indices (B,), logits (B, C), labels (B,), got {tuple(indices.shape)}, "
                f"{tuple(logits.shape)}, {tuple(labels.shape)}"
            )
        correct = (logits.argmax(dim=1) == labels).cpu().numpy()
        self.counter.update(indices.cpu().numpy().astype(np.int64), correct)

    def scores(self, never_learned: NeverLearned = "max") -> np.ndarray:
        """float64 (N,) forgetting counts; see :meth:`core.forgetting.ForgettingCounter.counts` for ``never_learned``."""
        return self.counter.counts(never_learned)


class IndexedDataset(Dataset):
    """``dataset[i]`` as ``(*dataset[i], i)``: the index travels with the batch for :class:`ForgettingTracker`."""

    def __init__(self, dataset: Dataset):
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int):
        item = self.dataset[index]
        return (*item, index) if isinstance(item, tuple) else (item, index)


def warmup_cosine(step: int, total: int, warmup: int, start_factor: float = 0.01) -> float:
    """LR factor: linear from ``start_factor`` to 1 over ``warmup`` steps, then cosine to 0 at ``total``
    (CCFS ``--lr-scheduler cosineannealinglr`` with ``--lr-warmup-method linear --lr-warmup-decay 0.01``)."""
    if warmup > 0 and step < warmup:
        return start_factor + (1.0 - start_factor) * step / warmup
    span = max(total - warmup, 1)
    return 0.5 * (1.0 + math.cos(math.pi * (step - warmup) / span))


def _flip(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    mask = torch.rand(x.shape[0], generator=generator) < 0.5
    return torch.where(mask[:, None, None, None], x.flip(3), x)


@torch.no_grad()
def predict(model: nn.Module, images: torch.Tensor, batch_size: int = 1024) -> torch.Tensor:
    """Logits (N, C) of ``model`` in eval mode on normalised images (N, C, H, W), batched, no gradients."""
    model.eval()
    out = [model(images[start : start + batch_size]) for start in range(0, images.shape[0], batch_size)]
    return torch.cat(out) if out else torch.zeros((0, 0))


def _sgd_loop(
    model_factory: Callable[[], nn.Module],
    images: torch.Tensor,
    loss_of: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    *,
    epochs: int,
    batch_size: int,
    lr: float,
    momentum: float,
    weight_decay: float,
    warmup_epochs: int,
    flip: bool,
    seed: int,
    progress: bool,
    description: str,
    observe: Callable[[int, torch.Tensor, torch.Tensor], None] | None = None,
) -> tuple[nn.Module, dict]:
    """The one seeded SGD loop of :func:`train_kd` and :func:`train_recording_forgetting`: a fresh model built under
    ``seed``, a seeded shuffle per epoch, optional flips, SGD with momentum and :func:`warmup_cosine` per step;
    ``loss_of(logits, batch_index)`` gives the loss, ``observe(epoch, batch_index, detached_logits)`` sees every
    training batch (no extra forward pass).

    Returns:
        (model in eval mode, ``{"steps", "final_loss", "seconds"}``).
    """
    started = time.perf_counter()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = model_factory()
    generator = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum, weight_decay=weight_decay)
    per_epoch = math.ceil(images.shape[0] / batch_size)
    total, warmup = epochs * per_epoch, warmup_epochs * per_epoch
    step, loss_value = 0, float("nan")
    model.train()
    with tqdm(total=total, desc=description, unit="step", leave=False, disable=not progress, mininterval=2.0) as bar:
        for epoch in range(epochs):
            order = torch.randperm(images.shape[0], generator=generator)
            for start in range(0, images.shape[0], batch_size):
                index = order[start : start + batch_size]
                x = _flip(images[index], generator) if flip else images[index]
                for group in optimizer.param_groups:
                    group["lr"] = lr * warmup_cosine(step, total, warmup)
                logits = model(x)
                loss = loss_of(logits, index)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                if observe is not None:
                    observe(epoch, index, logits.detach())
                loss_value = float(loss.detach())
                step += 1
                bar.update(1)
    model.eval()
    return model, {"steps": step, "final_loss": loss_value, "seconds": round(time.perf_counter() - started, 2)}


def train_kd(
    model_factory: Callable[[], nn.Module],
    images: torch.Tensor,
    teacher_logits: torch.Tensor,
    *,
    temperature: float = 20.0,
    epochs: int = 500,
    batch_size: int = 32,
    lr: float = 0.2,
    momentum: float = 0.9,
    weight_decay: float = 1e-4,
    warmup_epochs: int = 5,
    flip: bool = True,
    seed: int = 0,
    progress: bool = True,
    description: str = "KD filter",
) -> tuple[nn.Module, dict]:
    """Train a fresh model by knowledge distillation only (CCFS ``train_one_epoch``: :func:`kd_loss`, labels unused).

    Defaults are CCFS's CIFAR-10 filter recipe (``scripts/ccfs_cifar10.sh``): T = 20, SGD lr 0.2 momentum 0.9
    weight decay 1e-4, cosine with 5 warm-up epochs from 0.01x. Augmentation: horizontal flips only (``flip``; the
    official RandomResizedCrop is not applied) and the teacher logits are those of the un-flipped image, computed
    once (the official code reruns the teacher on every augmented batch).

    Args:
        model_factory: builds the untrained model.
        images: float (N, C, H, W), normalised; teacher_logits: float (N, K).

    Returns:
        (model in eval mode, ``{"steps", "final_loss", "seconds"}``).

    Raises:
        ValueError: no images or mismatched lengths.
    """
    if images.shape[0] == 0 or images.shape[0] != teacher_logits.shape[0]:
        raise ValueError(f"need one teacher row per image (>= 1), got {images.shape[0]} and {teacher_logits.shape[0]}")
    model, summary = _sgd_loop(
        model_factory, images, lambda logits, index: kd_loss(logits, teacher_logits[index], temperature),
        epochs=epochs, batch_size=batch_size, lr=lr, momentum=momentum, weight_decay=weight_decay,
        warmup_epochs=warmup_epochs, flip=flip, seed=seed, progress=progress, description=description,
    )
    return model, summary


def train_recording_forgetting(
    model_factory: Callable[[], nn.Module],
    images: torch.Tensor,
    labels: torch.Tensor,
    *,
    epochs: int = 200,
    batch_size: int = 128,
    lr: float = 0.1,
    momentum: float = 0.9,
    weight_decay: float = 5e-4,
    flip: bool = True,
    never_learned: NeverLearned = "max",
    seed: int = 0,
    progress: bool = True,
    description: str = "forgetting run",
) -> tuple[nn.Module, np.ndarray, dict]:
    """Cross-entropy training on the real pool that records Toneva et al.'s forgetting scores as it goes.

    Each mini-batch's training logits (the ones the loss uses) update a :class:`ForgettingTracker`, so every
    example gets one presentation per epoch and no extra forward pass is made. SGD with momentum and a cosine
    schedule (no warm-up).

    Returns:
        (model in eval mode, float64 (N,) forgetting scores, ``{"steps", "final_loss", "train_accuracy"
        (last epoch, on the training batches), "seconds"}``).

    Raises:
        ValueError: no images or mismatched lengths.
    """
    if images.shape[0] == 0 or images.shape[0] != labels.shape[0]:
        raise ValueError(f"need one label per image (>= 1), got {images.shape[0]} and {labels.shape[0]}")
    tracker = ForgettingTracker(images.shape[0])
    correct = {}  # epoch -> correct training predictions

    def observe(epoch: int, index: torch.Tensor, logits: torch.Tensor) -> None:
        y = labels[index]
        tracker.update(index, logits, y)
        correct[epoch] = correct.get(epoch, 0) + int((logits.argmax(1) == y).sum())

    model, summary = _sgd_loop(
        model_factory, images, lambda logits, index: F.cross_entropy(logits, labels[index]),
        epochs=epochs, batch_size=batch_size, lr=lr, momentum=momentum, weight_decay=weight_decay,
        warmup_epochs=0, flip=flip, seed=seed, progress=progress, description=description, observe=observe,
    )
    summary = {**summary, "train_accuracy": correct.get(epochs - 1, 0) / images.shape[0]}
    return model, tracker.scores(never_learned), summary
