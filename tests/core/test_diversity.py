"""Vendi score against hand-computed values and against the package's n x n path."""

from __future__ import annotations

import numpy as np
import pytest

from data_selection.core.diversity import vendi_score


def test_identical_points_score_one():
    assert vendi_score(np.tile([[0.3, -1.2, 2.0]], (7, 1))) == pytest.approx(1.0, abs=1e-9)


@pytest.mark.parametrize("k", [1, 2, 5])
def test_k_orthogonal_points_score_k(k):
    assert vendi_score(np.eye(k, 8) * np.arange(1, k + 1)[:, None]) == pytest.approx(k, rel=1e-9)


def test_two_clusters_by_hand():
    # points a, a, b with a . b = 0: K/n has eigenvalues 2/3 and 1/3 -> exp(H)
    points = np.array([[1.0, 0.0], [2.0, 0.0], [0.0, 3.0]])
    expected = np.exp(-(2 / 3 * np.log(2 / 3) + 1 / 3 * np.log(1 / 3)))
    assert vendi_score(points) == pytest.approx(expected, rel=1e-9)


def test_matches_the_full_similarity_matrix():
    from vendi_score import vendi

    points = np.random.default_rng(0).normal(size=(30, 6))
    unit = points / np.linalg.norm(points, axis=1, keepdims=True)
    eig = np.linalg.eigvalsh(unit @ unit.T / 30)
    eig = eig[eig > 1e-12]
    assert vendi_score(points) == pytest.approx(np.exp(-(eig * np.log(eig)).sum()), rel=1e-8)
    assert vendi_score(points) == pytest.approx(vendi.score_K(unit @ unit.T), rel=1e-8)


@pytest.mark.parametrize("points", [np.zeros(3), np.array([[0.0, 0.0], [1.0, 0.0]]), np.array([[np.inf, 1.0]])])
def test_bad_input(points):
    with pytest.raises(ValueError):
        vendi_score(points)
