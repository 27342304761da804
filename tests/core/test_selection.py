"""Tests for data_selection.core.selection: budgets, deterministic ranking, top-k and random baselines."""

from __future__ import annotations

import math

import numpy as np
import pytest

from data_selection.core.selection import budget_to_count, random_indices, rank_descending, top_k_indices

# --------------------------------------------------------------------------------------------- budget_to_count


@pytest.mark.parametrize(
    ("pool_size", "fraction", "expected"),
    [
        (200, 0.05, 10),  # 0.05 * 200 = 10 (10.000000000000002 in floats) -> floor 10
        (10, 0.333, 3),  # 0.333 * 10 = 3.33 -> floor 3
        (10, 0.39, 3),  # 3.9 -> floor 3 (floor, not round)
        (7, 1.0, 7),  # whole pool
        (100, 0.29, 29),  # 0.29 * 100 = 28.999999999999996 in floats; exact product is 29 -> 29, not 28
        (100, 0.07, 7),  # 7.000000000000001 -> 7
        (3, 0.5, 1),  # 1.5 -> 1
        (1000, 0.001, 1),  # 1.0 -> 1
    ],
)
def test_budget_fraction_floors(pool_size, fraction, expected):
    assert budget_to_count(pool_size, budget_fraction=fraction) == expected


def test_budget_fraction_returns_plain_int():
    k = budget_to_count(200, budget_fraction=0.05)
    assert type(k) is int


@pytest.mark.parametrize(("pool_size", "count"), [(10, 1), (10, 10), (5, 3)])
def test_budget_max_samples_passthrough(pool_size, count):
    k = budget_to_count(pool_size, max_samples=count)
    assert k == count and type(k) is int


@pytest.mark.parametrize("fraction", [0.0, -0.1, 1.0000001, 1.5, float("nan"), float("inf"), -float("inf")])
def test_budget_fraction_out_of_range_raises(fraction):
    with pytest.raises(ValueError):
        budget_to_count(100, budget_fraction=fraction)


def test_budget_both_or_neither_raises():
    with pytest.raises(ValueError):
        budget_to_count(100, budget_fraction=0.5, max_samples=10)
    with pytest.raises(ValueError):
        budget_to_count(100)


@pytest.mark.parametrize("count", [0, -1, 11])
def test_budget_max_samples_out_of_range_raises(count):
    with pytest.raises(ValueError):
        budget_to_count(10, max_samples=count)


@pytest.mark.parametrize("count", [2.5, True])
def test_budget_max_samples_non_integer_raises(count):
    with pytest.raises(ValueError):
        budget_to_count(10, max_samples=count)


@pytest.mark.parametrize("pool_size", [0, -3])
def test_budget_empty_pool_raises(pool_size):
    with pytest.raises(ValueError):
        budget_to_count(pool_size, budget_fraction=0.5)
    with pytest.raises(ValueError):
        budget_to_count(pool_size, max_samples=1)


def test_budget_fraction_selecting_zero_raises():
    # 0.05 * 10 = 0.5 -> floor 0 -> nothing selected
    with pytest.raises(ValueError):
        budget_to_count(10, budget_fraction=0.05)
    # 0.0009 * 1000 = 0.9 -> floor 0
    with pytest.raises(ValueError):
        budget_to_count(1000, budget_fraction=0.0009)


# --------------------------------------------------------------------------------------------- rank_descending


def test_rank_descending_simple():
    # scores: idx0=0.1, idx1=0.9, idx2=0.5, idx3=-2 -> best first: 1 (0.9), 2 (0.5), 0 (0.1), 3 (-2)
    order = rank_descending(np.array([0.1, 0.9, 0.5, -2.0]))
    assert order.tolist() == [1, 2, 0, 3]
    assert order.dtype == np.int64


def test_rank_descending_ties_lower_index_first():
    # three-way tie at 1.0 (idx 0, 2, 4) and tie at 3.0 (idx 3, 5)
    # -> 3.0 group in index order [3, 5], then 2.0 [1], then 1.0 group [0, 2, 4]
    scores = np.array([1.0, 2.0, 1.0, 3.0, 1.0, 3.0])
    assert rank_descending(scores).tolist() == [3, 5, 1, 0, 2, 4]


def test_rank_descending_ties_deterministic_large():
    # all equal -> identity order, for any length (stable sort, not quicksort)
    n = 1000
    assert rank_descending(np.zeros(n)).tolist() == list(range(n))


def test_rank_descending_nan_last():
    # NaNs (idx 0 and 3) must go after every finite score, NaNs among themselves by index
    scores = np.array([np.nan, 0.5, -1.0, np.nan, 2.0])
    assert rank_descending(scores).tolist() == [4, 1, 2, 0, 3]


def test_rank_descending_positive_inf_first():
    scores = np.array([1.0, np.inf, 0.0])
    assert rank_descending(scores).tolist() == [1, 0, 2]


def test_rank_descending_nan_after_negative_inf():
    # idx2 = 1.0 best, idx1 = -inf next (it is a number), idx0 = NaN last -> [2, 1, 0]
    scores = np.array([np.nan, -np.inf, 1.0])
    assert rank_descending(scores).tolist() == [2, 1, 0]


def test_rank_descending_float32_and_list_input():
    assert rank_descending([3, 1, 2]).tolist() == [0, 2, 1]
    assert rank_descending(np.array([0.25, 0.75], dtype=np.float32)).tolist() == [1, 0]


def test_rank_descending_rejects_2d():
    with pytest.raises(ValueError):
        rank_descending(np.zeros((2, 2)))


# ----------------------------------------------------------------------------------------------- top_k_indices


def test_top_k_best_first():
    scores = np.array([0.3, 0.8, 0.1, 0.8, 0.5])
    # descending: 0.8 (idx 1), 0.8 (idx 3, tie -> after idx 1), 0.5 (idx 4), 0.3 (idx 0), 0.1 (idx 2)
    assert top_k_indices(scores, 1).tolist() == [1]
    assert top_k_indices(scores, 3).tolist() == [1, 3, 4]
    assert top_k_indices(scores, 5).tolist() == [1, 3, 4, 0, 2]


def test_top_k_tie_at_boundary_keeps_lower_index():
    # four-way tie, k=2 -> the two lowest indices
    assert top_k_indices(np.array([7.0, 7.0, 7.0, 7.0]), 2).tolist() == [0, 1]


def test_top_k_never_picks_nan_before_numbers():
    scores = np.array([np.nan, -5.0, np.nan, -6.0])
    assert top_k_indices(scores, 2).tolist() == [1, 3]


def test_top_k_matches_reference_on_random_scores():
    rng = np.random.default_rng(3)
    scores = rng.integers(0, 5, size=50).astype(float)  # many ties
    # reference: sort (score desc, index asc) with plain Python
    reference = sorted(range(50), key=lambda i: (-scores[i], i))
    assert top_k_indices(scores, 20).tolist() == reference[:20]


@pytest.mark.parametrize("k", [0, -1, 4])
def test_top_k_out_of_range_raises(k):
    with pytest.raises(ValueError):
        top_k_indices(np.array([1.0, 2.0, 3.0]), k)


# ---------------------------------------------------------------------------------------------- random_indices


def test_random_indices_same_seed_same_result():
    a = random_indices(1000, 50, seed=7)
    b = random_indices(1000, 50, seed=7)
    assert np.array_equal(a, b)


def test_random_indices_sorted_distinct_in_range():
    idx = random_indices(1000, 300, seed=1)
    assert idx.dtype == np.int64
    assert idx.shape == (300,)
    assert np.all(np.diff(idx) > 0)  # strictly increasing -> sorted and distinct
    assert idx.min() >= 0 and idx.max() < 1000


def test_random_indices_different_seeds_differ():
    # P(two uniform 50-subsets of 1000 coincide) is 1/C(1000, 50): negligible
    assert not np.array_equal(random_indices(1000, 50, seed=0), random_indices(1000, 50, seed=1))


def test_random_indices_full_pool_is_everything():
    assert random_indices(17, 17, seed=5).tolist() == list(range(17))


def test_random_indices_roughly_uniform():
    # each index is picked with probability k/n = 0.5; over 400 seeds the count of index 0 is
    # Binomial(400, 0.5): mean 200, sd 10 -> a 6-sd window [140, 260]
    hits = sum(int(0 in random_indices(10, 5, seed=s)) for s in range(400))
    assert 140 <= hits <= 260


@pytest.mark.parametrize(("pool_size", "k"), [(10, 0), (10, 11), (0, 1)])
def test_random_indices_out_of_range_raises(pool_size, k):
    with pytest.raises(ValueError):
        random_indices(pool_size, k, seed=0)


def test_budget_then_topk_pipeline():
    # 0.25 of a pool of 8 -> floor(2.0) = 2 -> two best
    scores = np.array([0.0, 9.0, 1.0, 8.0, 2.0, 3.0, 4.0, 5.0])
    k = budget_to_count(len(scores), budget_fraction=0.25)
    assert k == 2
    assert top_k_indices(scores, k).tolist() == [1, 3]
    assert math.isclose(k / len(scores), 0.25)
