"""SelectIT self-reflection scores (Liu et al., NeurIPS 2024, arXiv 2402.16705), framework-free.

Inputs are the next-token probabilities of the rating tokens "1".."L" (L = 5 rating levels) that a model
assigns after a rating prompt; see :mod:`data_selection.llm.rating` for how they are obtained.

Paper / official-code choices are named parameters:

* ``normalisation="paper"`` (default): P'_k = P_k / Σ_j P_j (paper §3.1, Eq. 1).
  ``"code"``: the official ``token_level.py`` applies a softmax on top, P'_k = softmax(P / ΣP)_k.
* ``weighting="paper"`` (default): model weights θ_i / Σ_j θ_j from parameter counts (paper §3.3, Eq. 4).
  ``"code"``: the official ``model_level.py`` weights 7/20, 13/20, 70/90 for (7B, 13B, 70B), i.e.
  θ1/(θ1+θ2), θ2/(θ1+θ2), θ3/(θ1+θ2+θ3); defined for exactly three models.

Examples that could not be scored carry NaN and stay NaN through every level (they rank last).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np

Normalisation = Literal["paper", "code"]
Weighting = Literal["paper", "code"]


def normalise_rating_probabilities(probabilities: np.ndarray, normalisation: Normalisation = "paper") -> np.ndarray:
    """P' over the rating levels (paper Eq. 1, or the code's extra softmax).

    Args:
        probabilities: shape (..., L), the full-vocabulary probabilities of the L rating tokens, >= 0.

    Returns:
        float64 array of the same shape whose last axis sums to 1 (NaN rows stay NaN).

    Raises:
        ValueError: negative probabilities or an unknown normalisation.
    """
    p = np.asarray(probabilities, dtype=np.float64)
    if np.any(p < 0):
        raise ValueError("rating probabilities must be non-negative")
    total = p.sum(axis=-1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        normalised = p / total
    if normalisation == "paper":
        return normalised
    if normalisation == "code":
        shifted = np.exp(normalised - np.nanmax(normalised, axis=-1, keepdims=True))
        return shifted / shifted.sum(axis=-1, keepdims=True)
    raise ValueError(f"unknown normalisation {normalisation!r}; expected 'paper' or 'code'")


def token_level_score(probabilities: np.ndarray, normalisation: Normalisation = "paper") -> np.ndarray:
    """S_token = S_base · (1/(L-1)) · Σ_i (P'_{S_base} - P'_i)  (paper §3.1, Eq. 2).

    S_base = argmax_k P'_k as a rating 1..L (ties: the lower rating); the sum is the average gap between the
    top probability and the others, so a confident rating keeps most of its value and a flat distribution
    shrinks it towards 0.

    Args:
        probabilities: shape (..., L), L >= 2.

    Returns:
        float64 array of shape (...), in [0, L]; NaN where the input row has NaN.
    """
    p = normalise_rating_probabilities(probabilities, normalisation)
    levels = p.shape[-1]
    if levels < 2:
        raise ValueError("need at least two rating levels")
    invalid = np.isnan(p).any(axis=-1)
    safe = np.where(np.isnan(p), 0.0, p)
    base_index = np.argmax(safe, axis=-1)
    top = np.take_along_axis(safe, base_index[..., None], axis=-1)[..., 0]
    gap = (top[..., None] - safe).sum(axis=-1) / (levels - 1)
    score = (base_index + 1) * gap
    return np.where(invalid, np.nan, score)


def sentence_level_score(token_scores: np.ndarray, alpha: float = 0.2) -> np.ndarray:
    """S_sent = mean_k S_token_k / (1 + α · std_k S_token_k) over K rating prompts (paper §3.2, Eq. 3).

    ``std`` is the population standard deviation (``np.std``), as in the official ``sentence_level.py``.

    Args:
        token_scores: shape (N, K).
        alpha: uncertainty penalty, >= 0 (paper: 0.2).

    Returns:
        float64 (N,); NaN for a row with any NaN (a prompt that failed).
    """
    scores = np.asarray(token_scores, dtype=np.float64)
    if scores.ndim != 2 or scores.shape[1] == 0:
        raise ValueError(f"token scores must have shape (N, K) with K >= 1, got {scores.shape}")
    if alpha < 0:
        raise ValueError(f"alpha must be >= 0, got {alpha}")
    return scores.mean(axis=1) / (1.0 + alpha * scores.std(axis=1))


def model_weights(parameter_counts: Sequence[float], weighting: Weighting = "paper") -> np.ndarray:
    """Weights of the rating models (paper Eq. 4, or the official code's).

    Args:
        parameter_counts: θ_i of each model (any unit), in the order of the models, > 0.

    Returns:
        float64 (M,). ``paper`` sums to 1; ``code`` does not (see module docstring).

    Raises:
        ValueError: non-positive counts, or ``code`` with a number of models other than three.
    """
    theta = np.asarray(parameter_counts, dtype=np.float64)
    if theta.ndim != 1 or theta.size == 0 or np.any(theta <= 0):
        raise ValueError(f"parameter counts must be positive, got {list(parameter_counts)}")
    if weighting == "paper":
        return theta / theta.sum()
    if weighting == "code":
        if theta.size != 3:
            raise ValueError(
                f"weighting='code' reproduces the official script, defined for exactly three models "
                f"(7B, 13B, 70B in that order); got {theta.size}"
            )
        first_two = theta[0] + theta[1]
        return np.array([theta[0] / first_two, theta[1] / first_two, theta[2] / theta.sum()])
    raise ValueError(f"unknown weighting {weighting!r}; expected 'paper' or 'code'")


def model_level_score(sentence_scores: np.ndarray, weights: Sequence[float]) -> np.ndarray:
    """S_model = Σ_i w_i · S_sent_i (paper Eq. 4).

    Args:
        sentence_scores: shape (M, N), one row per model.
        weights: shape (M,).

    Returns:
        float64 (N,); NaN where any model's score is NaN.
    """
    scores = np.asarray(sentence_scores, dtype=np.float64)
    w = np.asarray(weights, dtype=np.float64)
    if scores.ndim != 2 or scores.shape[0] != w.shape[0]:
        raise ValueError(f"{w.shape[0]} weights for sentence scores of shape {scores.shape}")
    return w @ scores
