"""Dataset Quantization core: GraphCut bins against apricot and a dense brute force, hand-computed gains, exact
bin sampling, bad input."""

from __future__ import annotations

import numpy as np
import pytest

from data_selection.core.dq import GraphCutBins, bin_sizes, sample_bins


def _dense_bins(features: np.ndarray, n_bins: int, lam: float, kernel, sizes: list[int]):
    """Independent oracle: the definition with a dense similarity matrix, sums recomputed from scratch each step."""
    sim = kernel(features, features)
    pool = list(range(len(features)))
    bins, gains = [], []
    for size in sizes:
        chosen, chosen_gains = [], []
        for _ in range(size):
            best, best_gain = None, -np.inf
            for x in pool:  # ascending: strict > keeps the lowest index on ties
                if x in chosen:
                    continue
                gain = lam * sum(sim[j, x] for j in pool) - 2 * sum(sim[i, x] for i in chosen)
                if gain > best_gain:
                    best, best_gain = x, gain
            chosen.append(best)
            chosen_gains.append(best_gain)
        bins.append(chosen)
        gains.append(chosen_gains)
        pool = [x for x in pool if x not in chosen]
    return bins, gains


def _bin_members(model: GraphCutBins, b: int) -> np.ndarray:
    members = np.flatnonzero(model.bin_ == b)
    return members[np.argsort(model.bin_rank_[members], kind="stable")]


def test_hand_computed_gains_on_four_points():
    # unit vectors; dot similarities: column sums (V includes x) 0.6, 1.8, 1.8, -0.6
    features = np.array([[1.0, 0.0], [0.6, 0.8], [0.0, 1.0], [-1.0, 0.0]])
    model = GraphCutBins(n_bins=2, similarity="dot", dtype="float64", remainder="unbinned").fit(features)
    # bin 0: tie 1.8 between items 1 and 2 -> item 1 (lowest index); then 0.6-1.2, 1.8-1.6, -0.6+1.2 -> item 3 (0.6)
    np.testing.assert_array_equal(_bin_members(model, 0), [1, 3])
    np.testing.assert_allclose(model.gain_[[1, 3]], [1.8, 0.6])
    # bin 1 over V = {0, 2}: sums 1 and 1 (tie -> item 0), then item 2 with 1 - 2 * 0 = 1
    np.testing.assert_array_equal(_bin_members(model, 1), [0, 2])
    np.testing.assert_allclose(model.gain_[[0, 2]], [1.0, 1.0])
    # f(S; V) = lambda * sum_{S x V} sim - sum_{i != j in S} sim: 1.2 + 1.2 and 2 - 0
    np.testing.assert_allclose(model.objective_, [2.4, 2.0])
    np.testing.assert_array_equal(model.bin_sizes_, [2, 2])


@pytest.mark.parametrize("seed", [0, 1])
def test_pick_order_matches_apricot_graphcut_with_a_precomputed_kernel(seed, monkeypatch):
    from apricot import GraphCutSelection
    from apricot.functions import graphCut

    # every fit JIT-compiles apricot's streaming (sieve) kernel, ~20 s on a loaded 2-core machine; the naive
    # optimizer never calls it
    monkeypatch.setattr(graphCut, "calculate_gains_sieve", lambda *args: None)

    rng = np.random.default_rng(seed)
    features = rng.normal(size=(90, 7)) * rng.uniform(0.5, 2.0, size=(90, 1))
    model = GraphCutBins(n_bins=3, similarity="cosine01", dtype="float64", remainder="unbinned").fit(features)
    unit = features / np.linalg.norm(features, axis=1, keepdims=True)
    pool = np.arange(len(features))
    for b in range(3):
        kernel = 0.5 + 0.5 * unit[pool] @ unit[pool].T
        apricot = GraphCutSelection(30, metric="precomputed", alpha=1.0, optimizer="naive").fit(kernel)
        ours = _bin_members(model, b)
        np.testing.assert_array_equal(ours, pool[apricot.ranking])
        # apricot's gain omits the constant diagonal term lambda * sim(x, x) = 1 (see the module docstring)
        np.testing.assert_allclose(model.gain_[ours], apricot.gains + 1.0, rtol=1e-9)
        pool = np.setdiff1d(pool, ours)


def test_dot_similarity_on_unnormalised_features_matches_the_dense_definition():
    rng = np.random.default_rng(3)
    features = rng.normal(size=(25, 4)) * rng.uniform(0.2, 3.0, size=(25, 1))  # sim(x, x) differs per item
    model = GraphCutBins(n_bins=4, similarity="dot", lam=1.5, dtype="float64", remainder="last_bin").fit(features)
    sizes = bin_sizes(25, 4, "last_bin")
    assert sizes == [6, 6, 6, 7]
    bins, gains = _dense_bins(features, 4, 1.5, lambda a, b: a @ b.T, sizes[:-1])
    for b in range(3):
        np.testing.assert_array_equal(_bin_members(model, b), bins[b])
        np.testing.assert_allclose(model.gain_[bins[b]], gains[b], rtol=1e-9)
        assert model.objective_[b] == pytest.approx(sum(gains[b]))  # f(S; V) = the sum of the greedy gains
    last = np.flatnonzero(model.bin_ == 3)
    assert sorted(last) == sorted(set(range(25)) - {x for b in bins for x in b})
    assert np.isnan(model.gain_[last]).all()


def test_general_kernel_path_equals_the_affine_path():
    rng = np.random.default_rng(4)
    features = rng.normal(size=(70, 5))

    def cosine01(a, b):
        a = a / np.linalg.norm(a, axis=1, keepdims=True)
        b = b / np.linalg.norm(b, axis=1, keepdims=True)
        return 0.5 + 0.5 * a @ b.T

    affine = GraphCutBins(n_bins=5, similarity="cosine01", dtype="float64").fit(features)
    blocked = GraphCutBins(n_bins=5, kernel=cosine01, dtype="float64", block_size=16).fit(features)
    np.testing.assert_array_equal(affine.bin_, blocked.bin_)
    np.testing.assert_array_equal(affine.bin_rank_, blocked.bin_rank_)
    np.testing.assert_allclose(affine.objective_, blocked.objective_, rtol=1e-9)


def test_per_class_bins_split_every_class_and_leave_the_input_untouched():
    rng = np.random.default_rng(5)
    features = rng.normal(size=(63, 6)).astype(np.float32)
    labels = np.repeat(["cat", "dog", "eel"], [20, 21, 22])
    rng.shuffle(labels)
    before = features.copy()
    model = GraphCutBins(n_bins=4, similarity="cosine01", per_class=True, remainder="last_bin").fit(features, labels)
    np.testing.assert_array_equal(features, before)
    for label, n in (("cat", 20), ("dog", 21), ("eel", 22)):
        in_class = labels == label
        np.testing.assert_array_equal(np.bincount(model.bin_[in_class], minlength=4), bin_sizes(n, 4, "last_bin"))
        # the class's bins are the global algorithm run on that class alone
        alone = GraphCutBins(n_bins=4, similarity="cosine01").fit(features[in_class])
        np.testing.assert_array_equal(model.bin_[in_class], alone.bin_)
    assert (model.bin_ >= 0).all() and model.bin_sizes_.sum() == 63


def test_unbinned_remainder_is_never_sampled():
    rng = np.random.default_rng(6)
    model = GraphCutBins(n_bins=3, remainder="unbinned").fit(rng.normal(size=(11, 3)))
    assert (model.bin_ == -1).sum() == 11 % 3 and model.bin_sizes_.tolist() == [3, 3, 3]
    picked = sample_bins(model.bin_, seed=0, count=9)
    assert set(picked) == set(np.flatnonzero(model.bin_ >= 0))
    with pytest.raises(ValueError, match="outside"):
        sample_bins(model.bin_, seed=0, count=10)


def test_sampling_hits_the_budget_exactly_with_the_same_share_of_every_bin():
    bin_of = np.repeat(np.arange(5), [7, 7, 7, 6, 6])  # 33 binned items
    for count in range(1, 34):
        picked = sample_bins(bin_of, seed=1, count=count)
        assert len(picked) == count == len(set(picked.tolist()))
        per_bin = np.bincount(bin_of[picked], minlength=5)
        exact = count * np.array([7, 7, 7, 6, 6]) / 33
        assert (np.abs(per_bin - exact) < 1).all()  # floor or ceil of each bin's exact share
    # largest remainder, ties to the earlier bin: 10 of 33 -> exact shares 2.12 x3, 1.82 x2 -> floors 2,2,2,1,1 (8)
    # remainders (70 mod 33 = 4, 60 mod 33 = 27): the two 6-bins get the extra items
    np.testing.assert_array_equal(np.bincount(bin_of[sample_bins(bin_of, seed=0, count=10)]), [2, 2, 2, 2, 2])
    # 5 of 33: shares 1.06 x3, 0.91 x2 -> floors 1,1,1,0,0; remainders 2,2,2,30,30 -> bins 3 and 4
    np.testing.assert_array_equal(np.bincount(bin_of[sample_bins(bin_of, seed=0, count=5)], minlength=5), [1, 1, 1, 1, 1])
    # equal remainders go to the earlier bin: 1 of 4 equal bins -> bin 0
    np.testing.assert_array_equal(sample_bins(np.repeat(np.arange(4), 2), seed=0, count=1) // 2, [0])


def test_per_class_sampling_and_fraction():
    bin_of = np.repeat([0, 1], 40)
    labels = np.tile(np.repeat([0, 1], 20), 2)  # every bin: 20 of class 0, 20 of class 1
    picked = sample_bins(bin_of, seed=2, fraction=0.25, labels=labels)
    assert len(picked) == 20
    cells = np.bincount(bin_of[picked] * 2 + labels[picked], minlength=4)
    np.testing.assert_array_equal(cells, [5, 5, 5, 5])


def test_sampling_is_seeded_and_uniform_within_a_bin():
    bin_of = np.repeat(np.arange(2), 50)
    first = sample_bins(bin_of, seed=7, count=20)
    np.testing.assert_array_equal(first, sample_bins(bin_of, seed=7, count=20))
    assert not np.array_equal(first, sample_bins(bin_of, seed=8, count=20))
    # bin 0's draw is the documented generator's draw, independent of the other cells
    expected = np.sort(np.random.default_rng([7, 0, 0]).choice(np.arange(50), size=10, replace=False))
    np.testing.assert_array_equal(first[:10], expected)
    # every item of a bin is drawn about equally often over seeds (uniform, not GraphCut order)
    counts = np.zeros(100)
    for seed in range(400):
        counts[sample_bins(bin_of, seed=seed, count=20)] += 1
    assert counts.min() > 400 * 0.2 * 0.6 and counts.max() < 400 * 0.2 * 1.4


@pytest.mark.parametrize(
    ("kwargs", "features", "labels", "message"),
    [
        ({"n_bins": 6}, np.ones((5, 2)), None, "larger than the data"),
        ({"n_bins": 0}, np.ones((5, 2)), None, "n_bins"),
        ({"lam": 0.0}, np.ones((5, 2)), None, "lam"),
        ({"similarity": "euclid"}, np.ones((5, 2)), None, "unknown similarity"),
        ({}, np.array([[1.0, np.nan], [1.0, 2.0]]), None, "NaN"),
        ({}, np.ones(5), None, "2-D"),
        ({"similarity": "cosine"}, np.array([[0.0, 0.0], [1.0, 2.0]]), None, "all zeros"),
        ({"n_bins": 3, "per_class": True}, np.ones((8, 2)), np.array([0] * 6 + [1] * 2), "smaller"),
        ({"per_class": True}, np.ones((8, 2)), None, "needs labels"),
        ({"remainder": "spread"}, np.ones((5, 2)), None, "remainder"),
    ],
)
def test_bad_input_is_a_clear_error(kwargs, features, labels, message):
    params = {"n_bins": 2, **kwargs}
    with pytest.raises(ValueError, match=message):
        GraphCutBins(**params).fit(features, labels)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"fraction": 0.0}, r"\(0, 1\]"),
        ({"fraction": 1.5}, r"\(0, 1\]"),
        ({"fraction": 0.01}, "selects nothing"),
        ({"count": 0}, "outside"),
        ({}, "exactly one"),
        ({"count": 2, "fraction": 0.5}, "exactly one"),
    ],
)
def test_bad_sampling_input_is_a_clear_error(kwargs, message):
    with pytest.raises(ValueError, match=message):
        sample_bins(np.repeat(np.arange(2), 10), seed=0, **kwargs)


@pytest.mark.parametrize("similarity", ["dot", "cosine", "cosine01"])
@pytest.mark.parametrize("clustered", [False, True])
def test_certified_rounds_pick_exactly_what_the_naive_greedy_picks(similarity, clustered):
    rng = np.random.default_rng(8)
    if clustered:  # many picks per round (the certificate holds)
        centres = rng.normal(size=(6, 12)) + 2.0
        features = centres[rng.integers(0, 6, size=400)] + 0.7 * rng.normal(size=(400, 12))
    else:  # isotropic: one-pick rounds, the plain-step back-off
        features = rng.normal(size=(400, 12))
    features *= rng.uniform(0.5, 1.5, size=(400, 1))  # unequal norms: the Cauchy-Schwarz bound's |g|_max matters
    naive = GraphCutBins(n_bins=5, similarity=similarity, dtype="float64", optimizer="naive").fit(features)
    certified = GraphCutBins(n_bins=5, similarity=similarity, dtype="float64", optimizer="certified").fit(features)
    np.testing.assert_array_equal(certified.bin_, naive.bin_)
    np.testing.assert_array_equal(certified.bin_rank_, naive.bin_rank_)
    np.testing.assert_allclose(certified.gain_, naive.gain_, rtol=1e-9, atol=1e-9)


def test_count_per_class_gives_exactly_that_many_of_every_class_over_its_own_bins():
    # class 0: 3 bins of 4; class 1: bins of 6, 3 and 3 (unequal), one unbinned item
    bin_of = np.array([0] * 4 + [1] * 4 + [2] * 4 + [0] * 6 + [1] * 3 + [2] * 3 + [-1])
    labels = np.array([0] * 12 + [1] * 12 + [1])
    picked = sample_bins(bin_of, seed=0, count_per_class=4, labels=labels)
    assert np.bincount(labels[picked]).tolist() == [4, 4] and len(set(picked.tolist())) == 8 and (bin_of[picked] >= 0).all()
    # class 0: 4 over equal bins 4,4,4 -> 1,1,1 + the earliest remainder -> 2,1,1; class 1: 4 * (6,3,3)/12 = 2,1,1
    cells = [int(((bin_of[picked] == b) & (labels[picked] == c)).sum()) for c in (0, 1) for b in (0, 1, 2)]
    assert cells == [2, 1, 1, 2, 1, 1]
    with pytest.raises(ValueError, match="class 0 has 12 binned"):
        sample_bins(bin_of, seed=0, count_per_class=13, labels=labels)
    with pytest.raises(ValueError, match="needs the class labels"):
        sample_bins(bin_of, seed=0, count_per_class=2)
    with pytest.raises(ValueError, match="exactly one"):
        sample_bins(bin_of, seed=0, count=4, count_per_class=2, labels=labels)
