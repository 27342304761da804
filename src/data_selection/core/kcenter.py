"""K-center greedy (farthest-first traversal) with a running min-distance vector.

DiverseEvol (Wu et al. 2023, arXiv 2311.08182, Sec. 3.2 "K-Center sampling"; official code
``evol_schedules/kcenter_sampling.py``) adds, in each round, the ``n_query`` pool points farthest from the
current selection: repeat ``u* = argmax_u min_{l in L} ||e_u - e_l||_2``, ``L <- L + {u*}``. The official code
builds the full N x N distance matrix; this keeps only ``min_l d(u, l)`` for every u (one float64 vector of
length N) and updates it with the distances to the newest centre, which gives the same picks in O(N * k * d) time
and O(N) extra memory (plus one ``block_size x |L|`` block while the existing selection is folded in).

Framework-free: NumPy in, NumPy out.
"""

from __future__ import annotations

import numpy as np


def _squared_norms(points: np.ndarray) -> np.ndarray:
    return np.einsum("ij,ij->i", points, points)


def euclidean_to(points: np.ndarray, sq_norms: np.ndarray, centres: np.ndarray) -> np.ndarray:
    """Euclidean distances of every row of ``points`` to every row of ``centres``.

    ``d_ij = sqrt(max(|x_i|^2 + |c_j|^2 - 2 x_i . c_j, 0))`` (the expanded form of the official code; the clamp at
    0 removes the tiny negative values rounding produces for (near-)identical points, which give NaN there).

    Args:
        points: (n, d) float64.
        sq_norms: (n,) float64, ``|x_i|^2``.
        centres: (m, d) float64.

    Returns:
        (n, m) float64 distances, >= 0.
    """
    squared = sq_norms[:, None] + _squared_norms(centres)[None, :] - 2.0 * (points @ centres.T)
    return np.sqrt(np.maximum(squared, 0.0))


def kcenter_greedy(
    embeddings: np.ndarray,
    n_query: int,
    selected: np.ndarray | list[int] | None = None,
    random_state: int = 0,
    block_size: int = 4096,
) -> tuple[np.ndarray, np.ndarray]:
    """Pick ``n_query`` new points by k-center greedy (DiverseEvol Sec. 3.2; ``KCenterSampling.query``).

    Each pick is the unselected point with the largest distance to its nearest selected point; ties go to the
    lowest index (``np.argmax``). With an empty ``selected`` the first point is drawn uniformly with
    ``numpy.random.default_rng(random_state)`` (the usual seeded start; the official code always starts from its
    random round-0 set).

    Args:
        embeddings: (N, d) array of finite floats (computed in float64).
        n_query: number of new points, 1 <= n_query <= N - len(selected).
        selected: indices already in the set L (distinct, in [0, N)); None or empty for none.
        random_state: seed of the first pick when ``selected`` is empty.
        block_size: rows per distance block while the existing selection is folded in (memory:
            ``block_size x min(|L|, block_size)`` floats).

    Returns:
        (new indices in pick order, int64 (n_query,); the distance of each pick to the set at the moment it was
        picked, float64 (n_query,), NaN for a seeded first pick).

    Raises:
        ValueError: not a 2-D finite array; ``n_query`` outside its range; bad ``selected`` indices; ``block_size``
            < 1.
    """
    points = np.asarray(embeddings, dtype=np.float64)
    if points.ndim != 2 or points.shape[0] == 0:
        raise ValueError(f"embeddings must be a non-empty 2-D array (N, d), got shape {points.shape}")
    if not np.isfinite(points).all():
        raise ValueError("embeddings contain NaN or infinite values")
    if block_size < 1:
        raise ValueError(f"block_size must be >= 1, got {block_size}")
    n = points.shape[0]
    chosen = np.asarray([] if selected is None else selected, dtype=np.int64).reshape(-1)
    if chosen.size and (chosen.min() < 0 or chosen.max() >= n):
        raise ValueError(f"selected indices must be in [0, {n}), got min {chosen.min()} max {chosen.max()}")
    if np.unique(chosen).size != chosen.size:
        raise ValueError("selected indices repeat")
    if isinstance(n_query, bool) or int(n_query) != n_query or not 1 <= n_query <= n - chosen.size:
        raise ValueError(f"n_query must be an integer in [1, {n - chosen.size}] (pool {n}, selected {chosen.size}), got {n_query!r}")

    sq_norms = _squared_norms(points)
    min_dist = np.full(n, np.inf)
    for start in range(0, chosen.size, block_size):  # fold in the existing set, block x block at a time
        centres = points[chosen[start : start + block_size]]
        for row in range(0, n, block_size):
            block = euclidean_to(points[row : row + block_size], sq_norms[row : row + block_size], centres)
            np.minimum(min_dist[row : row + block_size], block.min(axis=1), out=min_dist[row : row + block_size])
    min_dist[chosen] = -np.inf  # never re-picked, even when every remaining point duplicates a selected one

    picks = np.empty(int(n_query), dtype=np.int64)
    gaps = np.empty(int(n_query), dtype=np.float64)
    for i in range(int(n_query)):
        if chosen.size == 0 and i == 0:
            pick, gap = int(np.random.default_rng(random_state).integers(n)), np.nan
        else:
            pick = int(np.argmax(min_dist))
            gap = float(min_dist[pick])
        picks[i], gaps[i] = pick, gap
        np.minimum(min_dist, euclidean_to(points, sq_norms, points[pick : pick + 1])[:, 0], out=min_dist)
        min_dist[pick] = -np.inf
    return picks, gaps


class KCenterGreedy:
    """Scikit-learn style wrapper of :func:`kcenter_greedy`.

    Parameters are set in ``__init__`` and checked in ``fit``; ``fit(X, selected)`` sets ``new_indices_`` (int64,
    pick order), ``pick_distances_`` (float64) and ``selected_`` (the previous set followed by the new picks).

    Example:
        >>> KCenterGreedy(n_query=2).fit(np.array([[0.0], [1.0], [5.0]]), selected=[0]).new_indices_
        array([2, 1])
    """

    def __init__(self, n_query: int, random_state: int = 0, block_size: int = 4096):
        self.n_query = n_query
        self.random_state = random_state
        self.block_size = block_size

    def fit(self, X: np.ndarray, selected: np.ndarray | list[int] | None = None) -> KCenterGreedy:
        self.new_indices_, self.pick_distances_ = kcenter_greedy(
            X, self.n_query, selected=selected, random_state=self.random_state, block_size=self.block_size
        )
        previous = np.asarray([] if selected is None else selected, dtype=np.int64).reshape(-1)
        self.selected_ = np.concatenate([previous, self.new_indices_])
        return self
