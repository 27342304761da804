"""CCFS selection math (Chen et al., "Curriculum Coarse-to-Fine Selection for High-IPC Dataset Distillation",
CVPR 2025, arXiv 2503.18872), framework-free: NumPy arrays in, NumPy arrays out, no Kedro, no torch.

The pieces, in the order the method uses them (paper §3, official code ``iLearn-Lab/CVPR25-CCFS`` at ``faf2e7d``,
path ``--select-misclassified --select-method simple --balance --score forgetting``):

* :func:`forgetting_counts` / :class:`ForgettingCounter` (in :mod:`data_selection.core.forgetting`, re-exported):
  the difficulty score, Toneva et al. (ICLR 2019, §2), the number of forgetting events over a training run on the
  real pool;
* :func:`split_ipc` and :func:`curriculum_arrangement`: cpc = alpha·IPC distilled images per class are kept, the
  remaining spc = IPC - cpc real images per class are pre-split over the curricula;
* :func:`keep_distilled`: the first cpc distilled images of each class;
* :func:`candidate_mask`: the coarse stage, misclassified by the filter AND correct by the teacher AND not yet
  selected;
* :func:`pick_per_class`: the fine stage, per class the candidates with the lowest forgetting score, with a named
  top-up policy for a class short of candidates;
* :func:`run_curricula`: the loop, with the filter's training and prediction passed in as a callable.

Where paper/official code and this module differ, a named parameter carries the choice (see each function).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

TopUp = Literal["teacher_correct", "any", "none", "error"]

# forgetting scores (Toneva et al.) live in core/forgetting.py; re-exported here for CCFS's callers
from data_selection.core.forgetting import ForgettingCounter, NeverLearned, forgetting_counts  # noqa: E402,F401

# ----------------------------------------------------------------------------------------------------- budgets


def split_ipc(ipc: int, alpha: float) -> tuple[int, int]:
    """Distilled (cpc) and real (spc) images per class for a target IPC (paper §3.1; ``ccfs_cifar10.py::main``).

    cpc = floor(alpha · IPC), computed as ``floor(alpha * ipc + 1e-9)`` so that a product such as 0.29 · 100 =
    28.999999999999996 in floating point gives 29 (the official ``int(ipc * alpha)`` gives 28 there; identical
    whenever alpha · IPC is not within 1e-9 below an integer). spc = IPC - cpc.

    Args:
        ipc: images per class of the final set, >= 1.
        alpha: distilled share, 0 <= alpha <= 1.

    Returns:
        (cpc, spc), plain ints with cpc + spc = ipc.

    Raises:
        ValueError: ipc < 1 or alpha outside [0, 1] (NaN included).
    """
    if isinstance(ipc, bool) or int(ipc) != ipc or ipc < 1:
        raise ValueError(f"ipc must be an integer >= 1, got {ipc!r}")
    alpha = float(alpha)
    if not 0.0 <= alpha <= 1.0:  # False for NaN too
        raise ValueError(f"alpha must be in [0, 1], got {alpha!r}")
    cpc = min(int(np.floor(alpha * int(ipc) + 1e-9)), int(ipc))
    return cpc, int(ipc) - cpc


def curriculum_arrangement(spc: int, curricula: int) -> list[int]:
    """Real images per class to pick in each curriculum (``ccfs_cifar10.py::curriculum_arrangement``).

    Each curriculum gets floor(spc / J); the remainder spc mod J goes one each to the FIRST curricula, so the
    arrangement is non-increasing and sums to spc. Example: spc = 200, J = 3 -> [67, 67, 66]; spc = 8 -> [3, 3, 2].

    Args:
        spc: real images per class, >= 0 (0 = distilled only: every curriculum picks nothing).
        curricula: J >= 1.

    Returns:
        list of J ints.

    Raises:
        ValueError: J < 1, spc < 0, or 0 < spc < J (a curriculum would train a filter to pick nothing: lower J).
    """
    if int(curricula) != curricula or curricula < 1:
        raise ValueError(f"curricula must be an integer >= 1, got {curricula!r}")
    if int(spc) != spc or spc < 0:
        raise ValueError(f"spc must be an integer >= 0, got {spc!r}")
    spc, curricula = int(spc), int(curricula)
    if 0 < spc < curricula:
        raise ValueError(
            f"{spc} real images per class cannot be spread over {curricula} curricula (one would pick none); "
            f"set curricula <= {spc}"
        )
    base, remainder = divmod(spc, curricula)
    return [base + (1 if j < remainder else 0) for j in range(curricula)]


def _check_labels(labels: np.ndarray, num_classes: int, what: str) -> np.ndarray:
    labels = np.asarray(labels)
    if labels.ndim != 1:
        raise ValueError(f"{what} must be 1-D, got shape {labels.shape}")
    if labels.size and not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"{what} must be integers, got dtype {labels.dtype}")
    if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
        raise ValueError(f"{what} must lie in [0, {num_classes}), got [{labels.min()}, {labels.max()}]")
    return labels.astype(np.int64)


def check_real_budget(labels: np.ndarray, spc: int, num_classes: int) -> None:
    """Fail early when a class of the real pool has fewer than spc images.

    Raises:
        ValueError: labels outside [0, num_classes), or a class with fewer than ``spc`` images (all such classes
            are named with their counts).
    """
    labels = _check_labels(labels, num_classes, "labels")
    per_class = np.bincount(labels, minlength=num_classes)
    short = {int(c): int(per_class[c]) for c in np.flatnonzero(per_class < spc)}
    if short:
        raise ValueError(
            f"the real pool cannot supply {spc} images per class: class -> images {short}; lower ipc or raise alpha"
        )


def keep_distilled(distilled_labels: np.ndarray, cpc: int, num_classes: int) -> np.ndarray:
    """Indices of the distilled images kept: the first ``cpc`` of each class, in the given order.

    The official code keeps the first cpc files of each class folder in sorted order (``imagenet_ipc.py``), not a
    random subset; pass the distilled set in its canonical order.

    Args:
        distilled_labels: shape (M,), int class labels of the distilled images.
        cpc: distilled images per class to keep, >= 0.
        num_classes: C.

    Returns:
        int64 indices into the distilled set, ascending by class then by position (shape (C·cpc,)).

    Raises:
        ValueError: labels outside [0, C), or a class with fewer than cpc distilled images (named with counts).
    """
    labels = _check_labels(distilled_labels, num_classes, "distilled labels")
    if cpc < 0:
        raise ValueError(f"cpc must be >= 0, got {cpc}")
    per_class = np.bincount(labels, minlength=num_classes)
    short = {int(c): int(per_class[c]) for c in np.flatnonzero(per_class < cpc)}
    if short:
        raise ValueError(
            f"the distilled set has fewer than {cpc} images (alpha * ipc) in some classes: class -> images {short}"
        )
    kept = [np.flatnonzero(labels == c)[:cpc] for c in range(num_classes)]
    return np.concatenate(kept).astype(np.int64) if kept else np.zeros(0, dtype=np.int64)


# ------------------------------------------------------------------------------------------- coarse and fine


def candidate_mask(
    labels: np.ndarray, filter_predictions: np.ndarray, teacher_correct: np.ndarray, selected: np.ndarray
) -> np.ndarray:
    """Coarse stage (paper §3.2; ``selection_score``): misclassified by the filter AND correct by the teacher AND
    not yet selected.

    Args:
        labels: shape (N,), int true labels of the real pool.
        filter_predictions: shape (N,), int argmax predictions of the current filter model.
        teacher_correct: shape (N,), bool, whether the teacher classifies each image correctly.
        selected: shape (N,), bool, already selected in an earlier curriculum.

    Returns:
        bool array of shape (N,).

    Raises:
        ValueError: shapes differ or a mask is not boolean.
    """
    labels, filter_predictions = np.asarray(labels), np.asarray(filter_predictions)
    teacher_correct, selected = np.asarray(teacher_correct), np.asarray(selected)
    if not labels.ndim == 1 or not (labels.shape == filter_predictions.shape == teacher_correct.shape == selected.shape):
        raise ValueError(
            "labels, filter_predictions, teacher_correct and selected must be 1-D of one length, got "
            f"{labels.shape}, {filter_predictions.shape}, {teacher_correct.shape}, {selected.shape}"
        )
    if teacher_correct.dtype != bool or selected.dtype != bool:
        raise ValueError("teacher_correct and selected must be boolean masks")
    return (filter_predictions != labels) & teacher_correct & ~selected


@dataclass(frozen=True)
class ClassPick:
    """One curriculum's fine-stage result.

    Attributes:
        indices: int64 (k,), the picked pool indices, grouped by class (ascending), within a class by ascending
            score, ties by ascending index.
        topped_up: bool (k,), True where the index came from the top-up rather than the candidates.
        quota, candidates, from_candidates, from_top_up, short: int64 (C,) per class: the quota, how many
            candidates it had, how many were picked from them, how many were added by the top-up, and how many
            are still missing (only non-zero under ``top_up="none"``).
    """

    indices: np.ndarray
    topped_up: np.ndarray
    quota: np.ndarray
    candidates: np.ndarray
    from_candidates: np.ndarray
    from_top_up: np.ndarray
    short: np.ndarray


def _lowest(indices: np.ndarray, scores: np.ndarray, k: int) -> np.ndarray:
    """The k indices with the lowest score; ties by ascending index (lexsort is stable, indices ascending)."""
    indices = np.sort(indices)
    return indices[np.lexsort((indices, scores[indices]))][:k]


def pick_per_class(
    labels: np.ndarray,
    scores: np.ndarray,
    candidates: np.ndarray,
    quota: int,
    num_classes: int,
    *,
    teacher_correct: np.ndarray | None = None,
    selected: np.ndarray | None = None,
    top_up: TopUp = "teacher_correct",
) -> ClassPick:
    """Fine stage (paper §3.3, "simple" = easiest first; ``selection_score`` with ``--balance``): per class the
    ``quota`` candidates with the LOWEST score (forgetting count), ties broken by the lower pool index.

    A class with fewer candidates than its quota is handled by ``top_up``:

    * ``"teacher_correct"`` (default): fill from the class's unselected non-candidates that the teacher classifies
      correctly (the filter already gets them right), lowest score first; ValueError if those run out too;
    * ``"any"``: as above, then from the class's unselected teacher-misclassified images; ValueError only when the
      class has no unselected image left;
    * ``"none"``: keep the class short, as the official code does (its ``sorted(...)[:curpc]`` takes what there
      is); the shortfall is in :attr:`ClassPick.short`, never silent;
    * ``"error"``: ValueError naming the short classes.

    Args:
        labels: shape (N,), int labels in [0, C).
        scores: shape (N,), float difficulty (lower = easier), no NaN among candidates or top-up images.
        candidates: shape (N,), bool, from :func:`candidate_mask`.
        quota: images to pick per class, >= 0.
        num_classes: C.
        teacher_correct, selected: shape (N,) bool; required unless ``top_up`` is ``"none"`` or ``"error"``.
        top_up: the policy above.

    Returns:
        :class:`ClassPick`.

    Raises:
        ValueError: shape/label errors, NaN scores where they are needed, a missing mask, an unknown policy, or a
            class that cannot be filled under the policy.
    """
    if top_up not in ("teacher_correct", "any", "none", "error"):
        raise ValueError(f"unknown top_up {top_up!r}; expected 'teacher_correct', 'any', 'none' or 'error'")
    labels = _check_labels(labels, num_classes, "labels")
    scores = np.asarray(scores, dtype=np.float64)
    candidates = np.asarray(candidates)
    if scores.shape != labels.shape or candidates.shape != labels.shape or candidates.dtype != bool:
        raise ValueError("labels, scores and the boolean candidates mask must have one shape (N,)")
    if int(quota) != quota or quota < 0:
        raise ValueError(f"quota must be an integer >= 0, got {quota!r}")
    if top_up in ("teacher_correct", "any"):
        if teacher_correct is None or selected is None:
            raise ValueError(f"top_up={top_up!r} needs the teacher_correct and selected masks")
        teacher_correct, selected = np.asarray(teacher_correct), np.asarray(selected)
        if teacher_correct.shape != labels.shape or selected.shape != labels.shape:
            raise ValueError("teacher_correct and selected must have shape (N,)")
        if np.any(candidates & selected):
            raise ValueError("a candidate is already selected; build candidates with candidate_mask")
    if np.isnan(scores[candidates]).any():
        raise ValueError("scores are NaN for some candidates")

    quota = int(quota)
    picked, from_top = [], []
    counts = {key: np.zeros(num_classes, dtype=np.int64) for key in ("cand", "from_cand", "top", "short")}
    short_classes = {}
    for c in range(num_classes):
        in_class = labels == c
        cand = np.flatnonzero(candidates & in_class)
        counts["cand"][c] = cand.size
        take = _lowest(cand, scores, quota)
        counts["from_cand"][c] = take.size
        missing = quota - take.size
        extra = np.zeros(0, dtype=np.int64)
        if missing and top_up in ("teacher_correct", "any"):
            rest = in_class & ~candidates & ~selected
            tiers = [rest & teacher_correct] + ([rest & ~teacher_correct] if top_up == "any" else [])
            parts = []
            for tier in tiers:
                pool = np.flatnonzero(tier)
                if np.isnan(scores[pool]).any():
                    raise ValueError(f"scores are NaN for top-up images of class {c}")
                parts.append(_lowest(pool, scores, missing - sum(p.size for p in parts)))
                if sum(p.size for p in parts) == missing:
                    break
            extra = np.concatenate(parts)
            if extra.size < missing:
                raise ValueError(
                    f"class {c} needs {quota} images this curriculum but has {cand.size} candidates and only "
                    f"{extra.size} images for top_up={top_up!r}; lower ipc"
                    + (" or use top_up='any'" if top_up == "teacher_correct" else "")
                )
        counts["top"][c] = extra.size
        counts["short"][c] = quota - take.size - extra.size
        if counts["short"][c]:
            short_classes[c] = int(cand.size)
        picked += [take, extra]
        from_top += [np.zeros(take.size, dtype=bool), np.ones(extra.size, dtype=bool)]
    if short_classes and top_up == "error":
        raise ValueError(
            f"classes short of candidates (class -> candidates, quota {quota}): {short_classes}; "
            "choose a top_up policy or lower ipc"
        )
    return ClassPick(
        indices=np.concatenate(picked).astype(np.int64) if picked else np.zeros(0, dtype=np.int64),
        topped_up=np.concatenate(from_top) if from_top else np.zeros(0, dtype=bool),
        quota=np.full(num_classes, quota, dtype=np.int64),
        candidates=counts["cand"],
        from_candidates=counts["from_cand"],
        from_top_up=counts["top"],
        short=counts["short"],
    )


# ----------------------------------------------------------------------------------------------------- the loop


@dataclass
class CurriculumResult:
    """The output of :func:`run_curricula`.

    Attributes:
        indices: int64 (k,), every picked pool index in pick order (curriculum, class, score, index).
        curriculum: int64 (k,), the curriculum (0-based) that picked each index.
        topped_up: bool (k,), picked by the top-up rather than as a candidate.
        picks: one :class:`ClassPick` per curriculum.
        filter_accuracy: per curriculum, the filter's accuracy on the whole real pool (fraction in [0, 1]).
    """

    indices: np.ndarray
    curriculum: np.ndarray
    topped_up: np.ndarray
    picks: list[ClassPick] = field(default_factory=list)
    filter_accuracy: list[float] = field(default_factory=list)


def run_curricula(
    labels: np.ndarray,
    teacher_correct: np.ndarray,
    scores: np.ndarray,
    arrangement: list[int],
    num_classes: int,
    train_and_predict: Callable[[int, np.ndarray], np.ndarray],
    *,
    top_up: TopUp = "teacher_correct",
) -> CurriculumResult:
    """The CCFS curriculum loop (paper Alg. 1; ``ccfs_cifar10.py::main``).

    For curriculum j: ``train_and_predict(j, selected_so_far)`` trains a FRESH filter model on the distilled part
    plus the real images ``selected_so_far`` (int64 pool indices) and returns its argmax predictions on the whole
    real pool, shape (N,); then :func:`candidate_mask` and :func:`pick_per_class` with quota ``arrangement[j]``.
    A curriculum with quota 0 is skipped (no filter is trained).

    Args:
        labels: (N,) int; teacher_correct: (N,) bool; scores: (N,) float forgetting scores (lower = easier).
        arrangement: per-curriculum quota, from :func:`curriculum_arrangement`.
        num_classes: C.
        train_and_predict: the model-level callable above.
        top_up: see :func:`pick_per_class`.

    Returns:
        :class:`CurriculumResult`.

    Raises:
        ValueError: from the pieces, or predictions of the wrong shape.
    """
    labels = _check_labels(labels, num_classes, "labels")
    teacher_correct = np.asarray(teacher_correct)
    if teacher_correct.shape != labels.shape or teacher_correct.dtype != bool:
        raise ValueError("teacher_correct must be a boolean mask of shape (N,)")
    selected = np.zeros(labels.shape, dtype=bool)
    order, curriculum, topped = [], [], []
    result = CurriculumResult(indices=np.zeros(0, np.int64), curriculum=np.zeros(0, np.int64), topped_up=np.zeros(0, bool))
    for j, quota in enumerate(arrangement):
        if quota == 0:
            continue
        predictions = np.asarray(train_and_predict(j, np.concatenate(order) if order else np.zeros(0, np.int64)))
        if predictions.shape != labels.shape:
            raise ValueError(f"train_and_predict returned shape {predictions.shape}, expected {labels.shape}")
        result.filter_accuracy.append(float(np.mean(predictions == labels)))
        cand = candidate_mask(labels, predictions, teacher_correct, selected)
        pick = pick_per_class(
            labels, scores, cand, quota, num_classes, teacher_correct=teacher_correct, selected=selected, top_up=top_up
        )
        selected[pick.indices] = True
        order.append(pick.indices)
        curriculum.append(np.full(pick.indices.size, j, dtype=np.int64))
        topped.append(pick.topped_up)
        result.picks.append(pick)
    if order:
        result.indices = np.concatenate(order)
        result.curriculum = np.concatenate(curriculum)
        result.topped_up = np.concatenate(topped)
    return result
