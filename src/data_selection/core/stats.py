"""Uncertainty of evaluation metrics: percentile bootstrap over questions (and seeds), paired deltas.

Framework-free: NumPy in, floats out. Nothing here knows about Kedro or torch.

Every function takes a per-question metric as an array ``values`` of shape (S, Q): one row per seed (one
fine-tune run), one column per test question, e.g. the 0/1 ``correct`` flags or the ``option_nll`` of each
question from ``test_predictions.jsonl``. A 1-D array of shape (Q,) is read as a single run (S = 1). All
runs of one side must be evaluated on the same Q questions in the same order.

The confidence intervals are percentile bootstrap intervals (Efron & Tibshirani 1993, *An Introduction to
the Bootstrap*, §13.3): the statistic is recomputed on ``n_resamples`` resampled data sets and the interval
is the ``(1 - confidence) / 2`` and ``(1 + confidence) / 2`` quantiles of the replicates. A replicate draws Q
question indices with replacement and, when S > 1, S seed indices with replacement (a two-stage bootstrap
over the two sources of variation: which questions were asked, and which seed the fine-tune drew). With
S == 1 this is the ordinary bootstrap over questions. The replicate mean is computed from resampling counts
(``c_q`` = times question q is drawn, ``d_s`` = times seed s is drawn) as
``Σ_s Σ_q d_s c_q V[s, q] / (S Q)``, which equals the mean of the resampled S x Q sub-matrix.

Resamples are generated in chunks, so memory stays at about ``_CHUNK_ELEMENTS`` numbers whatever Q and
``n_resamples`` are; the result does not depend on the chunk size.
"""

from __future__ import annotations

import numpy as np

#: upper bound on the numbers held per chunk of resamples (chunk rows x max(S, Q)); ~16 MB per float64 array
_CHUNK_ELEMENTS = 1 << 21


def _as_runs(values, name: str, min_questions: int) -> np.ndarray:
    """``values`` as a float64 (S, Q) array; raises ``ValueError`` on empty, ragged, NaN/inf or too few questions."""
    try:
        array = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise ValueError(f"{name} must be a numeric (seeds, questions) array: {error}") from None
    if array.ndim == 1:
        array = array[None, :]
    if array.ndim != 2:
        raise ValueError(f"{name} must have shape (seeds, questions) or (questions,), got shape {array.shape}")
    if array.size == 0:
        raise ValueError(f"{name} is empty (shape {array.shape}): no seeds or no questions to bootstrap")
    if not np.isfinite(array).all():
        bad = int((~np.isfinite(array)).sum())
        raise ValueError(f"{name} holds {bad} NaN or infinite values; drop or fix them before bootstrapping")
    if array.shape[1] < min_questions:
        raise ValueError(
            f"{name} has {array.shape[1]} questions, fewer than min_questions={min_questions}: "
            "a bootstrap over so few questions gives a misleading interval"
        )
    return array


def _check_settings(n_resamples: int, confidence: float, min_questions: int) -> tuple[int, float]:
    if isinstance(n_resamples, bool) or int(n_resamples) != n_resamples or n_resamples < 1:
        raise ValueError(f"n_resamples must be a positive integer, got {n_resamples!r}")
    confidence = float(confidence)
    if not 0.0 < confidence < 1.0:  # also rejects NaN
        raise ValueError(f"confidence must be in (0, 1), got {confidence!r}")
    if isinstance(min_questions, bool) or int(min_questions) != min_questions or min_questions < 1:
        raise ValueError(f"min_questions must be a positive integer, got {min_questions!r}")
    return int(n_resamples), confidence


def _streams(seed: int) -> list[np.random.Generator]:
    """Independent generators for question draws and each side's seed draws, so chunking changes nothing."""
    return [np.random.default_rng(child) for child in np.random.SeedSequence(seed).spawn(3)]


def _resample_counts(rng: np.random.Generator, n: int, rows: int) -> np.ndarray:
    """(rows, n) int64: how often each of n items is drawn in each of ``rows`` draws of n with replacement."""
    draws = rng.integers(0, n, size=(rows, n))
    flat = (draws + n * np.arange(rows)[:, None]).ravel()
    return np.bincount(flat, minlength=rows * n).reshape(rows, n)


def _replicate_means(runs: np.ndarray, question_counts: np.ndarray, seed_counts: np.ndarray | None) -> np.ndarray:
    """(B,) means of the resampled sub-matrices: ``Σ_s Σ_q d_s c_q V[s, q] / (S Q)``."""
    n_seeds, n_questions = runs.shape
    if seed_counts is None:  # S == 1: every replicate uses the single run once
        per_question = runs[:1]
    else:  # (B, Q): mean over the resampled seeds of each question
        per_question = seed_counts @ runs / n_seeds
    return (per_question * question_counts).sum(axis=1) / n_questions


def _percentile_interval(replicates: np.ndarray, confidence: float) -> tuple[float, float]:
    alpha = 1.0 - confidence
    low, high = np.quantile(replicates, [alpha / 2.0, 1.0 - alpha / 2.0])
    return float(low), float(high)


def _chunks(n_resamples: int, width: int):
    size = max(1, _CHUNK_ELEMENTS // max(width, 1))
    for start in range(0, n_resamples, size):
        yield min(size, n_resamples - start)


def bootstrap_mean_ci(
    values,
    n_resamples: int = 2000,
    confidence: float = 0.95,
    seed: int = 0,
    min_questions: int = 30,
) -> tuple[float, float]:
    """Percentile bootstrap confidence interval of the mean of a metric over seeds and questions.

    Each replicate resamples the Q questions with replacement and, when S > 1, the S seeds with replacement
    (independently of the questions); its statistic is the mean of the resampled S x Q matrix (module
    docstring). With S == 1 this is the ordinary percentile bootstrap over questions.

    Args:
        values: shape (S, Q) (or (Q,) for one run), any real dtype; per-question metric of each seed.
        n_resamples: number of bootstrap replicates B >= 1.
        confidence: two-sided level in (0, 1), e.g. 0.95.
        seed: seeds the ``np.random.SeedSequence`` whose children draw the resamples (same seed, same interval).
        min_questions: fewest questions accepted (default 30).

    Returns:
        ``(low, high)`` as floats, in the metric's units; ``low <= mean(values) <= high`` is typical but not
        guaranteed for a percentile interval.

    Raises:
        ValueError: empty array, more than 2 dimensions, NaN or infinite values, fewer than ``min_questions``
            questions, ``confidence`` outside (0, 1), ``n_resamples`` < 1.
    """
    n_resamples, confidence = _check_settings(n_resamples, confidence, min_questions)
    runs = _as_runs(values, "values", min_questions)
    n_seeds, n_questions = runs.shape
    question_rng, seed_rng, _ = _streams(seed)
    replicates = []
    for rows in _chunks(n_resamples, max(n_seeds, n_questions)):
        question_counts = _resample_counts(question_rng, n_questions, rows)
        seed_counts = _resample_counts(seed_rng, n_seeds, rows) if n_seeds > 1 else None
        replicates.append(_replicate_means(runs, question_counts, seed_counts))
    return _percentile_interval(np.concatenate(replicates), confidence)


def paired_delta_ci(
    method,
    baseline,
    n_resamples: int = 2000,
    confidence: float = 0.95,
    seed: int = 0,
    min_questions: int = 30,
    pair_seeds: bool = False,
) -> tuple[float, float, float]:
    """Difference of means ``mean(method) - mean(baseline)`` with a paired percentile bootstrap interval.

    Both sides must be evaluated on the same Q questions in the same order. Each replicate draws ONE set of
    Q question indices (with replacement) and uses it for both sides, so question difficulty, shared by the
    two, cancels in the difference (paired bootstrap, Efron & Tibshirani 1993, §14.2; Koehn 2004, "Statistical
    significance tests for machine translation evaluation", §4, for paired resampling of test items). The
    seeds of each side are resampled independently (S_a and S_b may differ), unless ``pair_seeds`` is true.

    When both sides are identical and each side's rows are identical (in particular with S = 1), every
    replicate difference is exactly 0 and the interval is [0, 0]; a baseline shifted by a constant c gives a
    delta and interval at exactly ``-c`` up to rounding.

    Args:
        method: shape (S_a, Q) (or (Q,)), per-question metric of each seed of the method.
        baseline: shape (S_b, Q) (or (Q,)), the same metric of the baseline on the same questions.
        n_resamples: number of bootstrap replicates B >= 1.
        confidence: two-sided level in (0, 1).
        seed: as :func:`bootstrap_mean_ci`.
        min_questions: fewest questions accepted (default 30).
        pair_seeds: also share the seed indices between the two sides (requires S_a == S_b): use when seed s
            of the method and of the baseline share the seed-dependent randomness (LoRA init, data order).
            Default False: the seeds of each side are resampled independently.

    Returns:
        ``(delta, low, high)`` as floats in the metric's units; ``delta`` is the difference of the grand means.

    Raises:
        ValueError: as :func:`bootstrap_mean_ci` for either side; different question counts; ``pair_seeds``
            with different seed counts.
    """
    n_resamples, confidence = _check_settings(n_resamples, confidence, min_questions)
    runs_a = _as_runs(method, "method", min_questions)
    runs_b = _as_runs(baseline, "baseline", min_questions)
    if runs_a.shape[1] != runs_b.shape[1]:
        raise ValueError(
            f"method has {runs_a.shape[1]} questions but baseline has {runs_b.shape[1]}: "
            "a paired bootstrap needs both evaluated on the same questions"
        )
    if pair_seeds and runs_a.shape[0] != runs_b.shape[0]:
        raise ValueError(
            f"pair_seeds needs the same number of seeds on both sides, got {runs_a.shape[0]} and {runs_b.shape[0]}"
        )
    n_questions = runs_a.shape[1]
    question_rng, seed_rng_a, seed_rng_b = _streams(seed)
    replicates = []
    for rows in _chunks(n_resamples, max(n_questions, runs_a.shape[0], runs_b.shape[0])):
        question_counts = _resample_counts(question_rng, n_questions, rows)
        seeds_a = _resample_counts(seed_rng_a, runs_a.shape[0], rows) if runs_a.shape[0] > 1 else None
        if pair_seeds:
            seeds_b = seeds_a
        else:
            seeds_b = _resample_counts(seed_rng_b, runs_b.shape[0], rows) if runs_b.shape[0] > 1 else None
        replicates.append(
            _replicate_means(runs_a, question_counts, seeds_a) - _replicate_means(runs_b, question_counts, seeds_b)
        )
    delta = float(runs_a.mean() - runs_b.mean())
    low, high = _percentile_interval(np.concatenate(replicates), confidence)
    return delta, low, high


def summarise_over_seeds(
    values,
    n_resamples: int = 2000,
    seed: int = 0,
    min_questions: int = 30,
) -> dict[str, float | int]:
    """Mean, seed-to-seed spread and 95 % bootstrap interval of a metric, for one comparison-table row.

    Args:
        values: shape (S, Q) (or (Q,)), per-question metric of each seed.
        n_resamples, seed, min_questions: as :func:`bootstrap_mean_ci`.

    Returns:
        ``{"mean": grand mean over seeds and questions, "std": sample standard deviation (ddof=1) of the S
        per-seed means (0.0 when S == 1), "n_seeds": S, "ci95_low", "ci95_high": bootstrap_mean_ci at 0.95}``.

    Raises:
        ValueError: as :func:`bootstrap_mean_ci`.
    """
    low, high = bootstrap_mean_ci(values, n_resamples=n_resamples, confidence=0.95, seed=seed, min_questions=min_questions)
    runs = _as_runs(values, "values", min_questions)
    per_seed = runs.mean(axis=1)
    return {
        "mean": float(runs.mean()),
        "std": float(per_seed.std(ddof=1)) if runs.shape[0] > 1 else 0.0,
        "n_seeds": int(runs.shape[0]),
        "ci95_low": low,
        "ci95_high": high,
    }
