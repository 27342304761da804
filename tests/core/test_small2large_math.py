"""Small2Large math against hand-computed perplexities and hand-made clusters (sizes 7, 10, 23)."""

from __future__ import annotations

import numpy as np
import pytest

from data_selection.core import small2large as s2l

# P0, P1, P2, P3 per example, chosen so that every case of the formula appears
PPL = np.array(
    [
        [10.0, 6.0, 5.0, 2.0],  # learned: LP(1) = 4 / 8 = 0.5; approx = 4 / 10 = 0.4
        [4.0, 4.0, 3.0, 4.0],  # P3 == P0: LP(1) = 0 (official guard); P1 == P0: approx 0
        [5.0, 6.0, 7.0, 8.0],  # P3 > P0: LP(1) = (5 - 6) / (5 - 8) = 1/3, rose; approx = -1 / 5
        [8.0, 2.0, 3.0, 4.0],  # learned, non-monotone: LP(1) = 6 / 4 = 1.5; approx = 6 / 8 = 0.75
    ]
)


def test_lp1_by_hand_including_no_drop_and_rise():
    lp, status = s2l.learning_percentage(PPL, "lp1")
    np.testing.assert_allclose(lp, [0.5, 0.0, 1 / 3, 1.5])
    assert status.tolist() == ["learned", "no_drop", "rose", "learned"]


def test_lp1_approx_by_hand():
    lp, status = s2l.learning_percentage(PPL, "lp1_approx")
    np.testing.assert_allclose(lp, [0.4, 0.0, -0.2, 0.75])
    assert status.tolist() == ["learned", "no_drop", "rose", "learned"]


def test_lp_with_only_one_epoch_and_bad_input():
    lp, _ = s2l.learning_percentage(np.array([[4.0, 3.0]]), "lp1")  # P1 is also the last epoch: (4-3)/(4-3)
    assert lp.tolist() == [1.0]
    with pytest.raises(ValueError, match="> 0"):
        s2l.learning_percentage(np.array([[0.0, 1.0, 1.0, 1.0]]))
    with pytest.raises(ValueError, match="finite"):
        s2l.learning_percentage(np.array([[np.nan, 1.0, 1.0, 1.0]]))
    with pytest.raises(ValueError, match="shape"):
        s2l.learning_percentage(np.ones(4))
    with pytest.raises(ValueError, match="variant"):
        s2l.learning_percentage(PPL, "lp2")


def test_unlearned_examples_are_ranked_explicitly():
    lp, status = s2l.learning_percentage(PPL, "lp1")  # [0.5, 0 no_drop, 1/3 rose, 1.5]
    order = lambda keys: np.argsort(keys, kind="stable").tolist()  # noqa: E731
    assert order(s2l.ranking_keys(lp, status, "official")) == [1, 2, 0, 3]
    assert order(s2l.ranking_keys(lp, status, "first")) == [1, 2, 0, 3]  # both un-learned before 0.5 and 1.5
    assert order(s2l.ranking_keys(lp, status, "last")) == [0, 3, 1, 2]
    lp2 = np.array([0.2, 5.0, -3.0, 0.9])
    st2 = np.array(["learned", "rose", "no_drop", "learned"])
    assert order(s2l.ranking_keys(lp2, st2, "official")) == [2, 0, 3, 1]
    assert order(s2l.ranking_keys(lp2, st2, "first")) == [2, 1, 0, 3]
    assert order(s2l.ranking_keys(lp2, st2, "last")) == [0, 3, 2, 1]
    assert lp2.tolist() == [0.2, 5.0, -3.0, 0.9]  # input not modified


def test_chunk_count_is_round_100_over_p():
    assert [s2l.chunk_count(f) for f in (0.01, 0.05, 0.10, 0.20, 0.25, 0.33, 1.0)] == [100, 20, 10, 5, 4, 3, 1]
    with pytest.raises(ValueError):
        s2l.chunk_count(0.0)


# three hand-made clusters of sizes 7, 10, 23, labels interleaved through the pool
SIZES = {0: 7, 1: 10, 2: 23}
KEYS = ((np.arange(40) * 7) % 40).astype(float) / 40.0  # a permutation: distinct keys


def _clusters() -> np.ndarray:
    labels = np.array([0] * 7 + [1] * 10 + [2] * 23)
    return np.random.default_rng(5).permutation(labels)


def _brute_chunk(keys, clusters, counts_and_starts):
    out = []
    for label in sorted(counts_and_starts):
        start, count = counts_and_starts[label]
        members = sorted(np.flatnonzero(clusters == label).tolist(), key=lambda i: (keys[i], i))
        out.extend(members[start : start + count])
    return out


@pytest.mark.parametrize(
    "fraction, chunk, expected",  # (start, count) per cluster of sizes 7, 10, 23, by hand from np.array_split
    [
        (0.10, "low", {0: (0, 1), 1: (0, 1), 2: (0, 3)}),  # k = 10: 7 -> 1,1,..; 10 -> 1 each; 23 -> 3,3,3,2,...
        (0.10, "mid", {0: (4, 1), 1: (4, 1), 2: (11, 2)}),  # chunk (10 - 1) // 2 = 4
        (0.10, "high", {0: (7, 0), 1: (9, 1), 2: (21, 2)}),  # chunk 9: empty for the 7-cluster
        (0.33, "low", {0: (0, 3), 1: (0, 4), 2: (0, 8)}),  # k = 3: 7 -> 3,2,2; 10 -> 4,3,3; 23 -> 8,8,7
        (0.33, "mid", {0: (3, 2), 1: (4, 3), 2: (8, 8)}),
        (0.33, "high", {0: (5, 2), 1: (7, 3), 2: (16, 7)}),
    ],
)
def test_official_rounding_reproduces_array_split(fraction, chunk, expected):
    clusters = _clusters()
    k = s2l.chunk_count(fraction)
    quotas = s2l.cluster_quotas(clusters, k, chunk, "official")
    assert quotas == expected
    for label in SIZES:  # the same as numpy's own split of the sorted members
        members = s2l.sorted_members(KEYS, clusters, label)
        part = np.array_split(members, k)[s2l.chunk_index(chunk, k)]
        start, count = quotas[label]
        assert members[start : start + count].tolist() == part.tolist()
    chosen = s2l.select_per_cluster(KEYS, clusters, k, chunk, "official")
    assert chosen.tolist() == _brute_chunk(KEYS, clusters, expected)


def test_official_rounding_overshoots_the_budget():
    clusters = _clusters()
    assert len(s2l.select_per_cluster(KEYS, clusters, 10, "low", "official")) == 5  # 10 % of 40 is 4
    assert len(s2l.select_per_cluster(KEYS, clusters, 3, "low", "official")) == 15  # 33 % of 40 is 13


@pytest.mark.parametrize(
    "budget, chunk, expected",
    [
        # 10 %: 4 = 40 * 0.1. Shares 0.7, 1.0, 2.3 -> floors 0, 1, 2; one left -> largest remainder 0.7 (cluster 0)
        (4, "low", {0: (0, 1), 1: (0, 1), 2: (0, 2)}),
        (4, "high", {0: (6, 1), 1: (9, 1), 2: (21, 2)}),
        (4, "mid", {0: (3, 1), 1: (4, 1), 2: (10, 2)}),
        # 33 %: 13. Shares 2.275, 3.25, 7.475 -> 2, 3, 7; one left -> remainder .475 (cluster 2)
        (13, "low", {0: (0, 2), 1: (0, 3), 2: (0, 8)}),
        (13, "mid", {0: (2, 2), 1: (3, 3), 2: (7, 8)}),
        (13, "high", {0: (5, 2), 1: (7, 3), 2: (15, 8)}),
    ],
)
def test_exact_rounding_hits_the_budget(budget, chunk, expected):
    clusters = _clusters()
    k = 10 if budget == 4 else 3
    assert s2l.cluster_quotas(clusters, k, chunk, "exact", budget) == expected
    chosen = s2l.select_per_cluster(KEYS, clusters, k, chunk, "exact", budget)
    assert len(chosen) == budget and len(set(chosen.tolist())) == budget
    assert chosen.tolist() == _brute_chunk(KEYS, clusters, expected)


def test_exact_remainder_ties_go_to_the_larger_then_lower_cluster():
    clusters = np.array([0, 0, 1, 1, 2, 2, 2, 2])  # sizes 2, 2, 4; budget 3 -> shares .75, .75, 1.5
    quotas = s2l.cluster_quotas(clusters, 3, "low", "exact", 3)
    assert {c: q for c, (_, q) in quotas.items()} == {0: 1, 1: 1, 2: 1}  # floors 0, 0, 1; .75 twice -> both
    quotas = s2l.cluster_quotas(clusters, 3, "low", "exact", 2)  # shares .5, .5, 1 -> floors 0, 0, 1; tie -> label 0
    assert {c: q for c, (_, q) in quotas.items()} == {0: 1, 1: 0, 2: 1}
    with pytest.raises(ValueError, match="budget"):
        s2l.cluster_quotas(clusters, 3, "low", "exact", None)


def test_ties_in_lp_are_broken_by_pool_index():
    clusters = np.zeros(5, dtype=int)
    keys = np.array([0.5, 0.1, 0.5, 0.1, 0.9])
    assert s2l.select_per_cluster(keys, clusters, 2, "low", "exact", 3).tolist() == [1, 3, 0]


def test_cluster_random_is_seeded_and_respects_the_counts():
    clusters = _clusters()
    counts = {0: 1, 1: 1, 2: 2}
    a = s2l.cluster_random(clusters, counts, seed=42)
    b = s2l.cluster_random(clusters, counts, seed=42)
    assert a.tolist() == b.tolist()
    assert [int((clusters[a] == c).sum()) for c in (0, 1, 2)] == [1, 1, 2]
    # independent: the same generator drawing cluster after cluster
    rng = np.random.default_rng(42)
    expected = []
    for c in (0, 1, 2):
        expected.extend(sorted(rng.choice(np.flatnonzero(clusters == c), size=counts[c], replace=False).tolist()))
    assert a.tolist() == expected
    draws = {tuple(s2l.cluster_random(clusters, counts, seed=s).tolist()) for s in range(5)}
    assert len(draws) > 1
    with pytest.raises(ValueError, match="cannot draw"):
        s2l.cluster_random(clusters, {0: 8}, seed=0)


def test_num_clusters_scaled_to_the_pool_and_kmeans_seeded():
    assert s2l.num_clusters_for(52002, None, 52.0) == 1000
    assert s2l.num_clusters_for(200, None, 52.0) == 4
    assert s2l.num_clusters_for(10, None, 52.0) == 1
    assert s2l.num_clusters_for(200, 7, 52.0) == 7
    with pytest.raises(ValueError):
        s2l.num_clusters_for(5, 6, 52.0)
    rng = np.random.default_rng(0)
    centres = np.array([[5.0, 0.0], [0.0, 5.0], [-5.0, -5.0]])
    points = np.vstack([c + 0.1 * rng.standard_normal((6, 2)) for c in centres])
    labels = s2l.kmeans_clusters(points, 3, seed=42)
    assert labels.tolist() == s2l.kmeans_clusters(points, 3, seed=42).tolist()
    for block in range(3):  # the three blobs are recovered
        assert len(set(labels[6 * block : 6 * block + 6].tolist())) == 1
    assert len(set(labels.tolist())) == 3
