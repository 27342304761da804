"""SelectIT levels against hand computations (paper Eqs. 1-4 and the official code's variants)."""

import math

import numpy as np
import pytest

from data_selection.core import selectit as sit


def test_token_level_paper_by_hand():
    # raw full-vocab probabilities, summing to 0.5; normalised P' = [0.1, 0.2, 0.4, 0.2, 0.1]
    raw = np.array([0.05, 0.10, 0.20, 0.10, 0.05])
    # S_base = 3 (argmax, 1-based); gaps to the top: 0.3 + 0.2 + 0 + 0.2 + 0.3 = 1.0; / (5 - 1) = 0.25
    assert sit.token_level_score(raw) == pytest.approx(3 * 0.25)


def test_token_level_code_variant_by_hand():
    raw = np.array([0.05, 0.10, 0.20, 0.10, 0.05])
    e1, e2, e4 = math.exp(0.1), math.exp(0.2), math.exp(0.4)
    total = 2 * e1 + 2 * e2 + e4
    p1, p2, p3 = e1 / total, e2 / total, e4 / total
    expected = 3 * (2 * (p3 - p1) + 2 * (p3 - p2)) / 4
    assert sit.token_level_score(raw, "code") == pytest.approx(expected, rel=1e-12)
    assert sit.token_level_score(raw, "code") < sit.token_level_score(raw, "paper")  # the softmax compresses


def test_token_level_batch_shapes_ties_and_nan():
    probs = np.array(
        [
            [[0.0, 0.0, 0.0, 0.0, 1.0], [0.2, 0.2, 0.2, 0.2, 0.2]],  # certain 5 -> 5 * (4 * 1.0) / 4 = 5; flat -> rating 1, gap 0
            [[0.5, 0.5, 0.0, 0.0, 0.0], [np.nan] * 5],  # tie 1 vs 2 -> lower rating 1; gaps 0+0.5*3 -> 1.5/4
        ]
    )
    scores = sit.token_level_score(probs)
    assert scores.shape == (2, 2)
    assert scores[0, 0] == pytest.approx(5.0)
    assert scores[0, 1] == pytest.approx(0.0)
    assert scores[1, 0] == pytest.approx(1 * 1.5 / 4)
    assert np.isnan(scores[1, 1])


def test_normalisation_errors():
    with pytest.raises(ValueError, match="non-negative"):
        sit.normalise_rating_probabilities(np.array([0.1, -0.1]))
    with pytest.raises(ValueError, match="unknown normalisation"):
        sit.normalise_rating_probabilities(np.array([0.1, 0.1]), "other")


def test_sentence_level_by_hand():
    token = np.array([[1.0, 2.0, 3.0], [2.0, 2.0, 2.0], [1.0, np.nan, 3.0]])
    std = math.sqrt(((1 - 2) ** 2 + 0 + (3 - 2) ** 2) / 3)  # population std
    result = sit.sentence_level_score(token, alpha=0.2)
    assert result[0] == pytest.approx(2.0 / (1 + 0.2 * std))
    assert result[1] == pytest.approx(2.0)  # no disagreement, no penalty
    assert np.isnan(result[2])
    assert sit.sentence_level_score(token[:2], alpha=0.0)[0] == pytest.approx(2.0)
    with pytest.raises(ValueError):
        sit.sentence_level_score(token, alpha=-1)


def test_model_weights_paper_and_code():
    np.testing.assert_allclose(sit.model_weights([7, 13, 70]), [7 / 90, 13 / 90, 70 / 90])
    np.testing.assert_allclose(sit.model_weights([7, 13, 70], "code"), [7 / 20, 13 / 20, 70 / 90])
    np.testing.assert_allclose(sit.model_weights([134.5e6, 268.1e6]), [134.5 / 402.6, 268.1 / 402.6])
    with pytest.raises(ValueError, match="exactly three"):
        sit.model_weights([1, 2], "code")
    with pytest.raises(ValueError, match="positive"):
        sit.model_weights([1, 0])


def test_model_level_by_hand():
    sentence = np.array([[1.0, 2.0, np.nan], [3.0, 4.0, 1.0]])
    result = sit.model_level_score(sentence, [0.25, 0.75])
    np.testing.assert_allclose(result[:2], [0.25 * 1 + 0.75 * 3, 0.25 * 2 + 0.75 * 4])
    assert np.isnan(result[2])
    with pytest.raises(ValueError):
        sit.model_level_score(sentence, [1.0])
