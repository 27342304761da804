"""Forgetting scores (Toneva et al., "An Empirical Study of Example Forgetting during Deep Neural Network Learning",
ICLR 2019, §2): per example, the number of *forgetting events* (classified correctly at one presentation and wrongly
at the next) over a training run. Framework-free: NumPy in, NumPy out. CCFS (:mod:`data_selection.core.ccfs`) ranks
its candidates by these counts; :mod:`data_selection.vision.kd` records them from its training loop's own logits.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

NeverLearned = Literal["max", "zero"]

class ForgettingCounter:
    """Running forgetting statistics of N examples, fed one presentation (a mini-batch or an epoch) at a time.

    Memory is O(N) whatever the number of presentations: per example the correctness at its last presentation, the
    number of forgetting events so far, whether it was ever classified correctly and how often it was presented.

    A forgetting event (Toneva et al. 2019, §2) is a transition correct -> wrong between two consecutive
    presentations of the same example. The first presentation only sets the state (no event).

    Args:
        num_examples: N >= 1.

    Raises:
        ValueError: N < 1.
    """

    def __init__(self, num_examples: int):
        if int(num_examples) < 1:
            raise ValueError(f"num_examples must be >= 1, got {num_examples}")
        self.num_examples = int(num_examples)
        self.previous_ = np.zeros(self.num_examples, dtype=bool)
        self.events_ = np.zeros(self.num_examples, dtype=np.int64)
        self.learned_ = np.zeros(self.num_examples, dtype=bool)
        self.presentations_ = np.zeros(self.num_examples, dtype=np.int64)

    def update(self, indices: np.ndarray, correct: np.ndarray) -> None:
        """Record one presentation of the examples ``indices``.

        Args:
            indices: shape (b,), integer indices into [0, N), each at most once per call.
            correct: shape (b,), bool (or 0/1), whether the model classified ``indices[i]`` correctly.

        Raises:
            ValueError: shapes differ, an index out of range or repeated within the call, non-0/1 correctness.
        """
        indices = np.asarray(indices)
        correct = np.asarray(correct)
        if indices.ndim != 1 or correct.shape != indices.shape:
            raise ValueError(f"indices and correct must be 1-D of one length, got {indices.shape} and {correct.shape}")
        if indices.size == 0:
            return
        if not np.issubdtype(indices.dtype, np.integer):
            raise ValueError(f"indices must be integers, got dtype {indices.dtype}")
        if indices.min() < 0 or indices.max() >= self.num_examples:
            raise ValueError(f"indices must lie in [0, {self.num_examples}), got [{indices.min()}, {indices.max()}]")
        if np.unique(indices).size != indices.size:
            raise ValueError("an example is presented twice in one update; split the presentations")
        if correct.dtype != bool:
            if not np.all((correct == 0) | (correct == 1)):
                raise ValueError("correct must be boolean (or 0/1)")
            correct = correct.astype(bool)
        seen_before = self.presentations_[indices] > 0
        forgotten = seen_before & self.previous_[indices] & ~correct
        self.events_[indices] += forgotten
        self.previous_[indices] = correct
        self.learned_[indices] |= correct
        self.presentations_[indices] += 1

    def counts(self, never_learned: NeverLearned = "max") -> np.ndarray:
        """Forgetting score per example.

        Args:
            never_learned: how an example never classified correctly is scored.
                ``"max"`` (default, Toneva et al.'s official ``order_examples_by_forgetting.py`` and the paper's §2
                "unforgettable"/"forgettable" split): its number of presentations, i.e. at least as forgettable as
                any example. ``"zero"``: its raw event count, 0 (it was never learned, so never forgotten). The
                CCFS code ships precomputed scores and no code that computes them, so its convention is unknown;
                CCFS never selects teacher-misclassified images, which removes most never-learned ones anyway.

        Returns:
            float64 array of shape (N,), counts (whole numbers) >= 0.

        Raises:
            ValueError: an example was never presented, or an unknown ``never_learned``.
        """
        if never_learned not in ("max", "zero"):
            raise ValueError(f"unknown never_learned {never_learned!r}; expected 'max' or 'zero'")
        unseen = int((self.presentations_ == 0).sum())
        if unseen:
            raise ValueError(f"{unseen} of {self.num_examples} examples were never presented; no forgetting score")
        scores = self.events_.astype(np.float64)
        if never_learned == "max":
            scores = np.where(self.learned_, scores, self.presentations_.astype(np.float64))
        return scores


def forgetting_counts(correct: np.ndarray, never_learned: NeverLearned = "max") -> np.ndarray:
    """Forgetting scores from a correctness sequence (Toneva et al. 2019, §2).

    Args:
        correct: bool (or 0/1) array of shape (T, N) -- T presentations (epochs or steps) of N examples -- or
            (R, T, N) for R independent runs, whose per-run scores are averaged (the CCFS scores are averages over
            runs: the shipped values are multiples of 0.2).
        never_learned: see :meth:`ForgettingCounter.counts`; ``"max"`` scores a never-learned example T.

    Returns:
        float64 array of shape (N,). Example: the column (1, 0, 1, 0) has 2 events; (0, 1, 1) has 0;
        (0, 0, 0) has T=3 under ``"max"`` and 0 under ``"zero"``.

    Raises:
        ValueError: not 2-D/3-D, T < 1, N < 1, or non-0/1 values.
    """
    correct = np.asarray(correct)
    if correct.ndim == 3:
        return np.mean([forgetting_counts(run, never_learned) for run in correct], axis=0)
    if correct.ndim != 2 or correct.shape[0] < 1 or correct.shape[1] < 1:
        raise ValueError(f"correct must have shape (T, N) or (R, T, N) with T, N >= 1, got {correct.shape}")
    counter = ForgettingCounter(correct.shape[1])
    everyone = np.arange(correct.shape[1])
    for row in correct:
        counter.update(everyone, row)
    return counter.counts(never_learned)
