"""LESS influence math (Xia et al., ICML 2024, arXiv 2402.04333), framework-free.

Everything here takes and returns NumPy arrays or torch tensors with explicit shapes; there is no model,
no file and no Kedro. The gradient collection that feeds these functions is in
:mod:`data_selection.llm.gradients`.

Paper / official-code choices are named parameters:

* ``adam_variant="official"`` (default): the official ``collect_grad_reps.py`` formula, no bias correction,
  epsilon inside the square root. ``"textbook"``: Adam with bias correction, epsilon outside.
* ``aggregation="subtask_mean_max"`` (default, official ``matching.py``): mean over the validation
  examples of each subtask, then max over subtasks. ``"mean"`` and ``"max"`` over all validation examples
  are offered for comparison (the "avg/max" variants of the extended project description).
* ``target_task`` (default ``"mmlu"``): the official code scores one target task at a time (``matching.py
  --target_task_names``), the max running over the subtasks of that task only; ``"joint"`` pools every
  validation question of every task.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Literal

import numpy as np
import torch

AdamVariant = Literal["official", "textbook"]
Aggregation = Literal["subtask_mean_max", "mean", "max"]
TargetTask = Literal["mmlu", "bbh", "joint"]
TARGET_TASKS = ("mmlu", "bbh", "joint")


def adam_preconditioned_gradient(
    grad: torch.Tensor,
    exp_avg: torch.Tensor,
    exp_avg_sq: torch.Tensor,
    *,
    beta1: float = 0.9,
    beta2: float = 0.999,
    eps: float = 1e-8,
    variant: AdamVariant = "official",
    step: int | None = None,
) -> torch.Tensor:
    r"""Adam update direction Γ(z) for per-example gradients (LESS §3.1, Eq. 2; ``collect_grad_reps.py``).

    ``official`` (default)::

        m' = β1·m + (1-β1)·g ;  v' = β2·v + (1-β2)·g² ;  Γ = m' / sqrt(v' + ε)

    ``textbook`` (Kingma & Ba, Alg. 1, with the checkpoint's step count t)::

        m̂ = m' / (1-β1^(t+1)) ;  v̂ = v' / (1-β2^(t+1)) ;  Γ = m̂ / (sqrt(v̂) + ε)

    Args:
        grad: per-example gradients, shape (batch, dim) or (dim,), float32/float64.
        exp_avg: Adam first moment m of the checkpoint, shape (dim,), same dtype.
        exp_avg_sq: Adam second moment v of the checkpoint, shape (dim,), non-negative.
        beta1, beta2, eps: Adam constants of the warmup optimiser.
        variant: ``"official"`` or ``"textbook"``.
        step: optimiser steps taken at the checkpoint; required for ``"textbook"``.

    Returns:
        Tensor with the shape and dtype of ``grad``.

    Raises:
        ValueError: unknown variant, missing step for ``textbook``, or mismatched dimensions.
    """
    if grad.shape[-1] != exp_avg.shape[-1] or exp_avg.shape != exp_avg_sq.shape:
        raise ValueError(
            f"gradient dim {grad.shape[-1]} does not match moments {tuple(exp_avg.shape)}/{tuple(exp_avg_sq.shape)}"
        )
    m = beta1 * exp_avg + (1.0 - beta1) * grad
    v = beta2 * exp_avg_sq + (1.0 - beta2) * grad * grad
    if variant == "official":
        return m / torch.sqrt(v + eps)
    if variant == "textbook":
        if step is None or step < 0:
            raise ValueError("adam_variant='textbook' needs the checkpoint's optimiser step count")
        t = step + 1
        m_hat = m / (1.0 - beta1**t)
        v_hat = v / (1.0 - beta2**t)
        return m_hat / (torch.sqrt(v_hat) + eps)
    raise ValueError(f"unknown adam variant {variant!r}; expected 'official' or 'textbook'")


def l2_normalize(features: np.ndarray | torch.Tensor, eps: float = 1e-12):
    """Rows scaled to unit L2 norm (LESS ``merge_and_normalize_info``); all-zero rows stay zero.

    Args:
        features: shape (n, d).
    """
    if isinstance(features, torch.Tensor):
        norms = torch.linalg.vector_norm(features, dim=-1, keepdim=True)
        return features / torch.clamp(norms, min=eps)
    features = np.asarray(features)
    norms = np.linalg.norm(features, axis=-1, keepdims=True)
    return features / np.maximum(norms, eps)


def checkpoint_weights(mean_learning_rates: Sequence[float]) -> np.ndarray:
    """Checkpoint weights η_i: the mean learning rate of epoch i, renormalised to sum to 1 (LESS Eq. 3).

    Args:
        mean_learning_rates: one non-negative value per checkpoint, not all zero.

    Returns:
        float64 array of shape (n_checkpoints,) summing to 1.
    """
    lrs = np.asarray(mean_learning_rates, dtype=np.float64)
    if lrs.ndim != 1 or lrs.size == 0:
        raise ValueError("need at least one checkpoint learning rate")
    if np.any(lrs < 0) or not np.all(np.isfinite(lrs)):
        raise ValueError(f"checkpoint learning rates must be finite and >= 0, got {lrs.tolist()}")
    total = lrs.sum()
    if total <= 0:
        raise ValueError("all checkpoint learning rates are zero: cannot weight the checkpoints")
    return lrs / total


def ordered_checkpoint_weights(checkpoints: Mapping[str, Mapping]) -> tuple[list[str], np.ndarray]:
    """Checkpoint names in training order and their weights η_i from each one's own mean learning rate.

    The order is the recorded epoch number (an int), never the names sorted as text (``epoch_10`` sorts
    before ``epoch_2`` as text). Each weight is that checkpoint's ``mean_lr`` over the sum (LESS Eq. 3,
    ``matching.py``), so weights travel with their checkpoint whatever the order.

    Args:
        checkpoints: ``{name: {"epoch": int >= 1, "mean_lr": float >= 0, ...}}``, one entry per checkpoint.

    Returns:
        (names ordered by epoch, float64 weights of shape (n,) summing to 1, in that order).

    Raises:
        ValueError: no checkpoints, a missing/non-integer/duplicate epoch, or invalid learning rates.
    """
    if not checkpoints:
        raise ValueError("no warmup checkpoints")
    epochs = {}
    for name, meta in checkpoints.items():
        if "epoch" not in meta or "mean_lr" not in meta:
            raise ValueError(f"checkpoint {name!r} has no recorded 'epoch' and 'mean_lr': rerun the warmup")
        epoch = meta["epoch"]
        if isinstance(epoch, bool) or int(epoch) != epoch:
            raise ValueError(f"checkpoint {name!r}: epoch must be an integer, got {epoch!r}")
        epochs[name] = int(epoch)
    if len(set(epochs.values())) != len(epochs):
        raise ValueError(f"two checkpoints record the same epoch: {epochs}")
    names = sorted(epochs, key=epochs.__getitem__)
    return names, checkpoint_weights([float(checkpoints[n]["mean_lr"]) for n in names])


def target_columns(tasks: Sequence[str], target_task: str) -> np.ndarray:
    """Indices of the validation questions that belong to ``target_task`` (all of them for ``"joint"``).

    Args:
        tasks: the task (``"mmlu"``, ``"bbh"``, ...) of each validation question, length n_val.
        target_task: ``"mmlu"``, ``"bbh"`` or ``"joint"``.

    Returns:
        int64 array of column indices, ascending.

    Raises:
        ValueError: unknown target, or the target has no validation question.
    """
    if target_task not in TARGET_TASKS:
        raise ValueError(f"target_task must be one of {TARGET_TASKS}, got {target_task!r}")
    tasks = [str(t) for t in tasks]
    if target_task == "joint":
        columns = np.arange(len(tasks), dtype=np.int64)
    else:
        columns = np.asarray([i for i, t in enumerate(tasks) if t == target_task], dtype=np.int64)
    if columns.size == 0:
        present = sorted(set(tasks))
        raise ValueError(
            f"target_task {target_task!r} has no validation questions (validation tasks present: {present})"
        )
    return columns


def pairwise_influence(
    train_features: Sequence[np.ndarray],
    validation_features: Sequence[np.ndarray],
    weights: Sequence[float],
    chunk_size: int = 65_536,
) -> np.ndarray:
    r"""Inf(z, z') = Σ_i η_i · ⟨Γ_i(z), g_i(z')⟩ for every pool/validation pair (LESS Eq. 3).

    With L2-normalised features the inner product is the cosine similarity. The pool is processed in
    chunks of ``chunk_size`` rows so that memory-mapped feature arrays are streamed, not loaded whole.

    Args:
        train_features: one array per checkpoint, shape (n_pool, d).
        validation_features: one array per checkpoint, shape (n_val, d), same checkpoint order.
        weights: η_i, one per checkpoint.

    Returns:
        float64 array of shape (n_pool, n_val).
    """
    if not (len(train_features) == len(validation_features) == len(weights)) or len(weights) == 0:
        raise ValueError(
            f"need one train array, one validation array and one weight per checkpoint; got "
            f"{len(train_features)}, {len(validation_features)}, {len(weights)}"
        )
    n_pool = train_features[0].shape[0]
    n_val = validation_features[0].shape[0]
    for t, v in zip(train_features, validation_features):
        if t.shape[0] != n_pool or v.shape[0] != n_val or t.shape[1] != v.shape[1]:
            raise ValueError(f"inconsistent feature shapes across checkpoints: {t.shape} vs {v.shape}")
    out = np.zeros((n_pool, n_val), dtype=np.float64)
    for start in range(0, n_pool, chunk_size):
        stop = min(start + chunk_size, n_pool)
        for eta, t, v in zip(weights, train_features, validation_features):
            out[start:stop] += eta * (np.asarray(t[start:stop], dtype=np.float64) @ np.asarray(v, dtype=np.float64).T)
    return out


def aggregate_influence(
    influence: np.ndarray,
    subtask_ids: Sequence[str],
    aggregation: Aggregation = "subtask_mean_max",
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Reduce pool×validation influence to one score per pool example (LESS §3.2, ``matching.py``).

    ``subtask_mean_max``: Inf(z) = max_j mean_{z' in subtask j} Inf(z, z'). Subtasks are grouped by their
    explicit ids, so the validation examples need not be contiguous nor equally many per subtask (the
    official reshape needs both).

    Args:
        influence: shape (n_pool, n_val).
        subtask_ids: length n_val, the subtask of each validation column.
        aggregation: ``"subtask_mean_max"`` (default), ``"mean"`` or ``"max"``.

    Returns:
        (scores, per_subtask, subtask_names): scores of shape (n_pool,); per_subtask of shape
        (n_pool, n_subtasks), the mean influence on each subtask; subtask names in sorted order.

    Raises:
        ValueError: no validation columns, or a length mismatch.
    """
    influence = np.asarray(influence, dtype=np.float64)
    ids = np.asarray(list(subtask_ids), dtype=object)
    if influence.ndim != 2 or influence.shape[1] != ids.shape[0]:
        raise ValueError(f"influence {influence.shape} does not match {ids.shape[0]} subtask ids")
    if ids.shape[0] == 0:
        raise ValueError("no validation examples: the target task has nothing to match against")
    names, inverse = np.unique(ids.astype(str), return_inverse=True)
    counts = np.bincount(inverse, minlength=len(names)).astype(np.float64)
    one_hot = np.zeros((ids.shape[0], len(names)), dtype=np.float64)
    one_hot[np.arange(ids.shape[0]), inverse] = 1.0
    per_subtask = influence @ one_hot / counts  # (n_pool, n_subtasks): mean within each subtask
    if aggregation == "subtask_mean_max":
        scores = per_subtask.max(axis=1)
    elif aggregation == "mean":
        scores = influence.mean(axis=1)
    elif aggregation == "max":
        scores = influence.max(axis=1)
    else:
        raise ValueError(f"unknown aggregation {aggregation!r}")
    return scores, per_subtask, [str(n) for n in names]
