"""Diversity of a set of embeddings: the Vendi score.

Vendi score (Friedman & Dieng 2023, "The Vendi Score: A Diversity Evaluation Metric for Machine Learning", Eq. 1):
``VS(K) = exp(-sum_i lambda_i log lambda_i)`` with ``lambda_i`` the eigenvalues of ``K / n``, K the n x n
similarity matrix (here cosine similarity, ``K = X X^T`` of the L2-normalised rows, as DiverseEvol's
``eval.py --eval_stage analyse_diversity`` does through ``vendi_score.vendi.score_K``). It ranges from 1 (all
points identical) to n (mutually orthogonal points).

Computed with the ``vendi-score`` package's ``score_dual``: the non-zero eigenvalues of ``X X^T / n`` equal those
of the d x d matrix ``X^T X / n``, so memory is O(d^2), never n x n.

Framework-free: NumPy in, a float out.
"""

from __future__ import annotations

import numpy as np


def vendi_score(embeddings: np.ndarray) -> float:
    """Vendi score of the rows of ``embeddings`` under the cosine-similarity kernel.

    Args:
        embeddings: (n, d) finite floats, no all-zero row (cosine similarity needs a direction).

    Returns:
        The Vendi score, a float in [1, min(n, d)] (up to rounding).

    Raises:
        ValueError: not a non-empty 2-D array, non-finite values, or an all-zero row.
    """
    from vendi_score import vendi

    points = np.asarray(embeddings, dtype=np.float64)
    if points.ndim != 2 or points.shape[0] == 0:
        raise ValueError(f"embeddings must be a non-empty 2-D array (n, d), got shape {points.shape}")
    if not np.isfinite(points).all():
        raise ValueError("embeddings contain NaN or infinite values")
    if (np.linalg.norm(points, axis=1) == 0).any():
        raise ValueError("an embedding is all zeros: its cosine similarity is undefined")
    return float(vendi.score_dual(points, q=1, normalize=True))
