"""Budgets, deterministic top-k and random baselines: the last step every selection method shares.

Framework-free: NumPy in, NumPy out. Nothing here knows about Kedro.
"""

from __future__ import annotations

import numpy as np


def budget_to_count(pool_size: int, budget_fraction: float | None = None, max_samples: int | None = None) -> int:
    """Number of examples a budget selects from a pool.

    Exactly one of ``budget_fraction`` (share of the pool, in (0, 1]) or ``max_samples`` (an absolute count)
    must be given. A fraction selects ``floor(budget_fraction * pool_size)`` examples, as the LESS
    ``write_selected_data.py`` script does (``int(percentage * total)``).

    Args:
        pool_size: number of candidate examples, > 0.
        budget_fraction: share of the pool to keep, 0 < budget_fraction <= 1.
        max_samples: absolute number to keep, 1 <= max_samples <= pool_size.

    Returns:
        The count k, 1 <= k <= pool_size.

    Raises:
        ValueError: empty pool; both or neither budget given; a fraction outside (0, 1]; a count outside
            [1, pool_size]; or a fraction so small that it selects nothing.
    """
    if pool_size <= 0:
        raise ValueError("the selection pool is empty: nothing to select from")
    if (budget_fraction is None) == (max_samples is None):
        raise ValueError("give exactly one of budget_fraction or max_samples")
    if max_samples is not None:
        if isinstance(max_samples, bool) or int(max_samples) != max_samples:
            raise ValueError(f"max_samples must be an integer, got {max_samples!r}")
        if not 1 <= max_samples <= pool_size:
            raise ValueError(
                f"max_samples={max_samples} is outside [1, {pool_size}] (the pool has {pool_size} examples)"
            )
        return int(max_samples)
    fraction = float(budget_fraction)
    if not (0.0 < fraction <= 1.0) or np.isnan(fraction):
        raise ValueError(f"budget_fraction must be in (0, 1], got {budget_fraction!r}")
    count = int(np.floor(fraction * pool_size + 1e-9))
    if count == 0:
        raise ValueError(
            f"budget_fraction={fraction} of a pool of {pool_size} selects 0 examples; raise the budget or the pool"
        )
    return count


def rank_descending(scores: np.ndarray) -> np.ndarray:
    """Order of examples by descending score, ties broken by ascending index, NaN last.

    Args:
        scores: shape (n,), any float dtype.

    Returns:
        int64 array of shape (n,): ``order[r]`` is the index of the example ranked r (0 = best).
    """
    scores = np.asarray(scores, dtype=np.float64)
    if scores.ndim != 1:
        raise ValueError(f"scores must be 1-D, got shape {scores.shape}")
    # lexsort: primary key "is NaN" (NaN after every number, -inf included), then descending score,
    # then ascending index (lexsort is stable)
    is_nan = np.isnan(scores)
    return np.lexsort((np.where(is_nan, 0.0, -scores), is_nan)).astype(np.int64)


def top_k_indices(scores: np.ndarray, k: int) -> np.ndarray:
    """Indices of the k highest scores, best first; deterministic under ties (lower index wins).

    Raises:
        ValueError: k outside [1, len(scores)].
    """
    scores = np.asarray(scores)
    if not 1 <= k <= scores.shape[0]:
        raise ValueError(f"k={k} is outside [1, {scores.shape[0]}]")
    return rank_descending(scores)[:k]


def random_indices(pool_size: int, k: int, seed: int) -> np.ndarray:
    """k distinct indices drawn uniformly without replacement with ``numpy.random.default_rng(seed)``.

    Returned in ascending order so that the subset keeps the pool's order.
    """
    if not 1 <= k <= pool_size:
        raise ValueError(f"k={k} is outside [1, {pool_size}]")
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(pool_size, size=k, replace=False)).astype(np.int64)
