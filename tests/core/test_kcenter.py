"""K-center greedy against a brute-force N x N implementation, hand-built ties and bad input."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.distance import cdist

from data_selection.core.kcenter import KCenterGreedy, kcenter_greedy


def brute_force(points: np.ndarray, n_query: int, selected: list[int], first: int | None = None) -> list[int]:
    """The official algorithm as written: the full distance matrix, min over the set, argmax over the rest."""
    distances = cdist(points, points)  # N x N, independent of the expanded formula
    chosen = list(selected)
    picks = []
    for _ in range(n_query):
        if not chosen:
            pick = first
        else:
            nearest = distances[:, chosen].min(axis=1)
            nearest[chosen] = -1.0
            pick = int(np.argmax(nearest))
        chosen.append(pick)
        picks.append(pick)
    return picks


@pytest.mark.parametrize("n, d, n_selected, n_query, block", [(300, 5, 10, 25, 4096), (257, 16, 40, 60, 7), (50, 2, 1, 49, 3)])
def test_matches_brute_force_on_random_points(n, d, n_selected, n_query, block):
    rng = np.random.default_rng(n + d)
    points = rng.normal(size=(n, d)) * rng.uniform(0.5, 3.0, size=d)
    selected = rng.choice(n, size=n_selected, replace=False).tolist()
    picks, gaps = kcenter_greedy(points, n_query, selected=selected, block_size=block)
    assert picks.tolist() == brute_force(points, n_query, selected)
    # each pick's distance is its distance to the nearest point chosen before it
    distances = cdist(points, points)
    for i, pick in enumerate(picks):
        np.testing.assert_allclose(gaps[i], distances[pick, selected + picks[:i].tolist()].min(), rtol=1e-9, atol=1e-9)
    assert np.all(np.diff(gaps) <= 1e-12)  # farthest-first: gaps never grow


def test_seeded_start_when_nothing_is_selected():
    points = np.random.default_rng(1).normal(size=(40, 3))
    picks, gaps = kcenter_greedy(points, 6, random_state=7)
    first = int(np.random.default_rng(7).integers(40))
    assert picks.tolist() == brute_force(points, 6, [], first=first)
    assert np.isnan(gaps[0]) and np.isfinite(gaps[1:]).all()
    assert kcenter_greedy(points, 6, random_state=7)[0].tolist() == picks.tolist()


def test_ties_go_to_the_lowest_index_and_duplicates_are_never_repicked():
    # 0 selected; 1 and 3 both at distance 2, 2 at distance 1; 4 duplicates 0
    points = np.array([[0.0, 0.0], [2.0, 0.0], [1.0, 0.0], [0.0, 2.0], [0.0, 0.0]])
    picks, gaps = kcenter_greedy(points, 4, selected=[0])
    # after 1: 3 is sqrt(8) from 1 and 2 from 0 -> 2; 2 is 1 from both; 4 is 0 -> picks 3, then 2 (1.0), then 4 (0)
    assert picks.tolist() == [1, 3, 2, 4]
    np.testing.assert_allclose(gaps, [2.0, 2.0, 1.0, 0.0])


def test_identical_points_do_not_produce_nan():
    points = np.full((5, 3), 1e8 / 3.0)  # expanded formula rounds to tiny negatives here
    picks, gaps = kcenter_greedy(points, 4, selected=[0])
    assert picks.tolist() == [1, 2, 3, 4] and np.isfinite(gaps).all() and (gaps >= 0).all()


def test_estimator_interface_and_inputs_unchanged():
    points = np.array([[0.0], [1.0], [5.0], [2.5]])
    before = points.copy()
    est = KCenterGreedy(n_query=2).fit(points, selected=[0])
    assert est.new_indices_.tolist() == [2, 3]
    assert est.selected_.tolist() == [0, 2, 3]
    np.testing.assert_array_equal(points, before)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"embeddings": np.zeros(3), "n_query": 1}, "2-D"),
        ({"embeddings": np.array([[np.nan], [0.0]]), "n_query": 1}, "NaN"),
        ({"embeddings": np.zeros((3, 2)), "n_query": 3, "selected": [0]}, "n_query"),
        ({"embeddings": np.zeros((3, 2)), "n_query": 0}, "n_query"),
        ({"embeddings": np.zeros((3, 2)), "n_query": 1, "selected": [5]}, "selected"),
        ({"embeddings": np.zeros((3, 2)), "n_query": 1, "selected": [1, 1]}, "repeat"),
    ],
)
def test_bad_input_is_a_clear_error(kwargs, message):
    with pytest.raises(ValueError, match=message):
        kcenter_greedy(**kwargs)
