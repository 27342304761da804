"""Knowledge distillation loss and per-example forgetting tracking for image classifiers (torch, no Kedro).

* :func:`kd_loss`: Hinton et al. (2015) distillation loss at temperature T as CCFS uses it (``train_one_epoch`` of
  ``iLearn-Lab/CVPR25-CCFS``: ``KLDivLoss(reduction='batchmean', log_target=True)`` on log-softmax inputs, times
  T^2, ground-truth labels unused).
* :class:`ForgettingTracker`: Toneva et al. (ICLR 2019) forgetting events recorded from the logits a training loop
  already computes for its mini-batches (no extra forward pass); the counting is :class:`core.ccfs.ForgettingCounter`.
* :class:`IndexedDataset`: wraps a dataset so that each item also carries its index, which the tracker needs.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from data_selection.core.ccfs import ForgettingCounter, NeverLearned


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
        """float64 (N,) forgetting counts; see :meth:`core.ccfs.ForgettingCounter.counts` for ``never_learned``."""
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
