"""Predicting LESS influence from cheap embeddings: split, labels, estimators, honest scores. Framework-free.

The extended LESS project ("new pipeline", steps 1-6) and NN-CIFT (NeurIPS 2025) compute real LESS influence for a
sample of the pool (the *training points*), fit a model from cheap per-example features (sentence embeddings) to that
influence, and predict it for the rest of the pool. Everything here takes and returns NumPy arrays; the estimators
are scikit-learn's. No Kedro, no transformers.

Choices where the sources differ are named parameters:

* ``aggregation`` of the per-validation-example cosines into one score: ``avg`` / ``max`` / ``min`` (the extended
  project's three, its ``data_generation.ipynb``) and ``subtask_mean_max`` (official LESS ``matching.py``: mean
  within each subtask, max over subtasks; :func:`data_selection.core.less.aggregate_influence`).
* ``regressor``: ``ridge`` (default; linear, fast, hard to over-fit with a few hundred points), ``gradient_boosting``
  or ``mlp`` (NN-CIFT's small network on sentence embeddings, here scikit-learn's ``MLPRegressor``).
* ``classifier`` of the ``n_levels`` quantile influence levels: ``logistic`` (default), ``gradient_boosting`` or
  ``mlp``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Literal

import numpy as np
from scipy.stats import spearmanr
from sklearn.base import BaseEstimator
from sklearn.dummy import DummyClassifier
from sklearn.ensemble import GradientBoostingClassifier, GradientBoostingRegressor
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.model_selection import KFold
from sklearn.neural_network import MLPClassifier, MLPRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from data_selection.core.less import aggregate_influence
from data_selection.core.selection import top_k_indices

Regressor = Literal["ridge", "gradient_boosting", "mlp"]
Classifier = Literal["logistic", "gradient_boosting", "mlp"]
AGGREGATIONS = ("avg", "max", "min", "subtask_mean_max")


def split_training_points(pool_size: int, train_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Seeded disjoint split of the pool into training points (real influence) and the rest (predicted).

    ``max(2, floor(train_fraction * pool_size))`` indices are drawn without replacement with
    ``numpy.random.default_rng(seed)`` (extended LESS step 1 splits each source in two; here one seeded draw).

    Args:
        pool_size: number of pool examples, >= 3.
        train_fraction: share of the pool that gets real gradients, in (0, 1).
        seed: the draw's seed.

    Returns:
        (training, rest): ascending int64 index arrays, disjoint, together ``0..pool_size-1``; ``rest`` non-empty.

    Raises:
        ValueError: a fraction outside (0, 1) or a pool too small to leave both parts non-empty.
    """
    fraction = float(train_fraction)
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"train_fraction must be in (0, 1), got {train_fraction!r}")
    count = max(2, int(np.floor(fraction * pool_size + 1e-9)))
    if pool_size < 3 or count >= pool_size:
        raise ValueError(f"a pool of {pool_size} cannot give {count} training points and a non-empty rest")
    rng = np.random.default_rng(int(seed))
    training = np.sort(rng.choice(pool_size, size=count, replace=False)).astype(np.int64)
    mask = np.ones(pool_size, dtype=bool)
    mask[training] = False
    return training, np.flatnonzero(mask).astype(np.int64)


def influence_aggregations(influence: np.ndarray, subtask_ids: Sequence[str]) -> dict[str, np.ndarray]:
    """Every aggregation of a pool x validation influence matrix to one score per example.

    ``avg``/``max``/``min``: mean / max / min over the validation examples of Inf(z, z') (extended LESS,
    ``data_generation.ipynb``); ``subtask_mean_max``: official LESS (``core.less.aggregate_influence``).

    Args:
        influence: float, shape (n, n_val): LESS Eq. 3, checkpoint-weighted cosines.
        subtask_ids: length n_val, the subtask of each validation column.

    Returns:
        ``{name: float64 array of shape (n,)}`` for the names in :data:`AGGREGATIONS`.

    Raises:
        ValueError: as ``aggregate_influence`` (shape mismatch, no validation column).
    """
    influence = np.asarray(influence, dtype=np.float64)
    official, _, _ = aggregate_influence(influence, subtask_ids, "subtask_mean_max")
    return {
        "avg": influence.mean(axis=1),
        "max": influence.max(axis=1),
        "min": influence.min(axis=1),
        "subtask_mean_max": official,
    }


def quantile_levels(scores: np.ndarray, n_levels: int) -> np.ndarray:
    """Influence levels 0 (lowest) .. n_levels-1 (highest) by quantile bins of ``scores`` (extended LESS step 4).

    The cut-offs are ``numpy.quantile(scores, j / n_levels)`` for j = 1..n_levels-1 (linear interpolation); bins
    are right-closed as in ``pandas.qcut``: a score equal to a cut-off goes to the lower level, so equal scores
    always share a level and the result does not depend on the order of the examples.

    Args:
        scores: finite floats, shape (n,), n >= 1.
        n_levels: number of levels, >= 2.

    Returns:
        int64 array of shape (n,).

    Raises:
        ValueError: ``n_levels < 2``, an empty or non-finite ``scores``.
    """
    scores = np.asarray(scores, dtype=np.float64)
    if isinstance(n_levels, bool) or int(n_levels) != n_levels or n_levels < 2:
        raise ValueError(f"n_levels must be an integer >= 2, got {n_levels!r}")
    if scores.ndim != 1 or scores.size == 0 or not np.all(np.isfinite(scores)):
        raise ValueError("scores must be a non-empty 1-D array of finite values")
    cuts = np.quantile(scores, np.arange(1, int(n_levels)) / int(n_levels))
    return np.searchsorted(cuts, scores, side="left").astype(np.int64)


def make_regressor(kind: Regressor = "ridge", seed: int = 0) -> BaseEstimator:
    """A standardising scikit-learn regressor: ``ridge`` (alpha 1), ``gradient_boosting`` (100 trees, depth 3) or
    ``mlp`` (NN-CIFT's option: one hidden layer of 64 ReLU units, Adam, early stopping)."""
    if kind == "ridge":
        model = Ridge(alpha=1.0)
    elif kind == "gradient_boosting":
        model = GradientBoostingRegressor(random_state=seed)
    elif kind == "mlp":
        model = MLPRegressor(hidden_layer_sizes=(64,), max_iter=500, early_stopping=True, random_state=seed)
    else:
        raise ValueError(f"unknown regressor {kind!r}; expected ridge, gradient_boosting or mlp")
    return make_pipeline(StandardScaler(), model)


def make_classifier(kind: Classifier = "logistic", seed: int = 0) -> BaseEstimator:
    """A standardising scikit-learn classifier of influence levels: ``logistic`` (L2, C 1), ``gradient_boosting``
    or ``mlp`` (one hidden layer of 64 units)."""
    if kind == "logistic":
        model = LogisticRegression(C=1.0, max_iter=2000)
    elif kind == "gradient_boosting":
        model = GradientBoostingClassifier(random_state=seed)
    elif kind == "mlp":
        model = MLPClassifier(hidden_layer_sizes=(64,), max_iter=500, random_state=seed)
    else:
        raise ValueError(f"unknown classifier {kind!r}; expected logistic, gradient_boosting or mlp")
    return make_pipeline(StandardScaler(), model)


def _r2(truth: np.ndarray, predicted: np.ndarray) -> float:
    """Coefficient of determination 1 - SS_res / SS_tot (NaN when the truth is constant)."""
    ss_tot = float(np.sum((truth - truth.mean()) ** 2))
    return float("nan") if ss_tot == 0 else 1.0 - float(np.sum((truth - predicted) ** 2)) / ss_tot


def cross_validate(
    features: np.ndarray,
    target: np.ndarray,
    make_estimator: Callable[[], BaseEstimator],
    task: Literal["regression", "classification"],
    n_splits: int = 5,
    seed: int = 0,
) -> dict:
    """K-fold cross-validation that scores every fold only on the points it did not fit.

    Each fold fits a fresh ``make_estimator()`` on the other folds and predicts its own points; the metrics are
    computed per fold on those held-out predictions (R^2 for regression, accuracy for classification, as in the
    extended LESS table) and averaged (a classification fold whose fitted part holds one level predicts that
    level); the out-of-fold predictions are returned for Spearman rho and recall.

    Args:
        features: float, shape (n, d).
        target: shape (n,): influence (regression) or integer levels (classification).
        make_estimator: builds an unfitted scikit-learn estimator.
        task: ``"regression"`` or ``"classification"``.
        n_splits: folds, 2 <= n_splits <= n.
        seed: the fold shuffle (``KFold(shuffle=True, random_state=seed)``).

    Returns:
        ``{"metric": mean over folds, "folds": [per-fold metric], "oof": out-of-fold predictions (n,),
        "spearman": rho(oof, target) for regression}``; metric is ``r2`` or ``accuracy``.

    Raises:
        ValueError: mismatched lengths, too few points for ``n_splits`` or an unknown task.
    """
    features = np.asarray(features, dtype=np.float64)
    target = np.asarray(target)
    if features.ndim != 2 or features.shape[0] != target.shape[0]:
        raise ValueError(f"features {features.shape} and target {target.shape} do not match")
    if task not in ("regression", "classification"):
        raise ValueError(f"task must be regression or classification, got {task!r}")
    if not 2 <= n_splits <= target.shape[0]:
        raise ValueError(f"n_splits={n_splits} needs 2 <= n_splits <= {target.shape[0]} training points")
    oof = np.zeros(target.shape[0], dtype=np.float64 if task == "regression" else target.dtype)
    folds = []
    for fit_idx, held_idx in KFold(n_splits=n_splits, shuffle=True, random_state=seed).split(features):
        if task == "classification" and np.unique(target[fit_idx]).size < 2:
            estimator = DummyClassifier(strategy="most_frequent")  # one level in this fold: nothing to learn
        else:
            estimator = make_estimator()
        estimator.fit(features[fit_idx], target[fit_idx])
        predicted = estimator.predict(features[held_idx])
        oof[held_idx] = predicted
        if task == "regression":
            folds.append(_r2(target[held_idx].astype(np.float64), predicted))
        else:
            folds.append(float(np.mean(predicted == target[held_idx])))
    result = {"metric": float(np.nanmean(folds)), "folds": folds, "oof": oof}
    if task == "regression":
        result["spearman"] = spearman(target, oof)
    return result


def spearman(reference: np.ndarray, predicted: np.ndarray) -> float:
    """Spearman's rank correlation (scipy, average ranks for ties); NaN when either side is constant."""
    reference, predicted = np.asarray(reference, dtype=np.float64), np.asarray(predicted, dtype=np.float64)
    if np.ptp(reference) == 0 or np.ptp(predicted) == 0:
        return float("nan")
    return float(spearmanr(reference, predicted).statistic)


def recall_at_k(reference: np.ndarray, predicted: np.ndarray, k: int) -> float:
    """|top_k(reference) ∩ top_k(predicted)| / k: how much of the reference selection a cheaper score recovers.

    Both top-k use :func:`data_selection.core.selection.top_k_indices` (ties to the lower index, NaN last).
    """
    reference, predicted = np.asarray(reference), np.asarray(predicted)
    if reference.shape != predicted.shape:
        raise ValueError(f"reference {reference.shape} and predicted {predicted.shape} differ")
    both = np.intersect1d(top_k_indices(reference, k), top_k_indices(predicted, k))
    return float(both.size) / k


def top_level_candidates(levels: np.ndarray, n_levels: int) -> np.ndarray:
    """Extended LESS step 6: the indices predicted at the highest level ``n_levels - 1``, ascending."""
    return np.flatnonzero(np.asarray(levels) == int(n_levels) - 1).astype(np.int64)


def gradient_counts(pool_size: int, with_gradients: int, validation_questions: int, checkpoints: int) -> dict[str, float]:
    """Real gradient computations of a LESS-style run against full LESS on the same pool (one gradient = one example
    at one warmup checkpoint; the validation questions' gradients count for both).

    Returns:
        ``{pool, checkpoints, validation_questions, pool_gradients, full_less_pool_gradients, gradients,
        full_less_gradients, fraction_of_full_less}``.

    Raises:
        ValueError: negative counts, or more examples with gradients than the pool holds.
    """
    if min(pool_size, with_gradients, validation_questions, checkpoints) < 0 or with_gradients > pool_size:
        raise ValueError(f"bad counts: {with_gradients} examples with gradients in a pool of {pool_size}, "
                         f"{validation_questions} validation questions, {checkpoints} checkpoints")
    counts = {
        "pool": int(pool_size), "checkpoints": int(checkpoints), "validation_questions": int(validation_questions),
        "pool_gradients": int(with_gradients * checkpoints), "full_less_pool_gradients": int(pool_size * checkpoints),
        "gradients": int((with_gradients + validation_questions) * checkpoints),
        "full_less_gradients": int((pool_size + validation_questions) * checkpoints),
    }
    counts["fraction_of_full_less"] = counts["gradients"] / max(counts["full_less_gradients"], 1)
    return counts


def candidate_cap(pool_size: int, training_points: int, validation_questions: int, max_fraction: float) -> int:
    """How many step-6 candidates may get real gradients so that the whole run computes at most ``max_fraction`` of
    full LESS's gradients: floor(max_fraction (N + V)) - T - V (checkpoints cancel out).

    Raises:
        ValueError: the training points and validation questions alone already exceed the cap (lower
            ``train_fraction`` or raise ``max_gradient_fraction``).
    """
    cap = int(np.floor(float(max_fraction) * (pool_size + validation_questions) + 1e-9)) - training_points - validation_questions
    if cap < 0:
        raise ValueError(
            f"{training_points} training points + {validation_questions} validation questions already need "
            f"{(training_points + validation_questions) / (pool_size + validation_questions):.1%} of full LESS's "
            f"gradients, above max_gradient_fraction={max_fraction}: lower train_fraction"
        )
    return cap


def capped_candidates(candidates: np.ndarray, predicted: np.ndarray, cap: int) -> np.ndarray:
    """At most ``cap`` of the step-6 ``candidates`` (pool indices): those with the highest predicted influence
    (ties: the lower index), returned ascending."""
    candidates = np.asarray(candidates, dtype=np.int64)
    if len(candidates) <= cap:
        return candidates
    order = np.lexsort((candidates, -np.asarray(predicted, dtype=np.float64)[candidates]))
    return np.sort(candidates[order[: max(int(cap), 0)]])


def combined_scores(pool_size: int, real: dict[int, float], predicted: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One score per pool example: real influence where it was computed, the regressor's prediction elsewhere.

    Args:
        pool_size: n.
        real: ``{pool index: real influence}`` (training points and step-6 candidates).
        predicted: shape (n,), the regressor's prediction for every example.

    Returns:
        (scores float64 (n,), is_real bool (n,)).
    """
    predicted = np.asarray(predicted, dtype=np.float64)
    if predicted.shape != (pool_size,):
        raise ValueError(f"{predicted.shape} predictions for a pool of {pool_size}")
    scores = predicted.copy()
    is_real = np.zeros(pool_size, dtype=bool)
    for index, value in real.items():
        scores[int(index)] = float(value)
        is_real[int(index)] = True
    return scores, is_real


__all__ = [
    "AGGREGATIONS",
    "combined_scores",
    "cross_validate",
    "influence_aggregations",
    "make_classifier",
    "make_regressor",
    "quantile_levels",
    "recall_at_k",
    "spearman",
    "split_training_points",
    "top_level_candidates",
]
