"""Tests for data_selection.core.stats: bootstrap intervals against cases whose answer is known."""

from __future__ import annotations

import numpy as np
import pytest

from data_selection.core import stats
from data_selection.core.stats import bootstrap_mean_ci, paired_delta_ci, summarise_over_seeds

RNG = np.random.default_rng(1234)
CORRECT = (RNG.random(200) < 0.4).astype(float)  # a 0/1 accuracy vector of one run
NLL = RNG.gamma(2.0, 0.5, size=(3, 120))  # a continuous metric, 3 seeds x 120 questions


# --------------------------------------------------------------------------------------------- bootstrap_mean_ci


def test_constant_values_give_a_zero_width_interval():
    low, high = bootstrap_mean_ci(np.full((3, 50), 0.25))
    assert low == pytest.approx(0.25, abs=1e-12) and high == pytest.approx(0.25, abs=1e-12)


def test_one_run_matches_scipy_percentile_bootstrap():
    from scipy.stats import bootstrap

    reference = bootstrap(
        (CORRECT,), np.mean, n_resamples=20000, confidence_level=0.95, method="percentile", rng=np.random.default_rng(7)
    ).confidence_interval
    low, high = bootstrap_mean_ci(CORRECT, n_resamples=20000, seed=3)
    # standard error of the mean is ~0.035; Monte-Carlo error of a 2.5 % quantile with 20k resamples ~0.001
    assert low == pytest.approx(reference.low, abs=0.006)
    assert high == pytest.approx(reference.high, abs=0.006)
    # a 1-D vector is one run: the same as shape (1, Q)
    assert bootstrap_mean_ci(CORRECT[None, :], n_resamples=500, seed=3) == bootstrap_mean_ci(CORRECT, n_resamples=500, seed=3)


def test_seed_resampling_with_question_invariant_runs_has_the_known_distribution():
    # seed 0 scores 0 on every question, seed 1 scores 1: resampling questions changes nothing, resampling the
    # two seeds gives a mean of 0, 0.5 or 1 with probabilities 1/4, 1/2, 1/4 -> the 95 % interval is [0, 1]
    values = np.vstack([np.zeros(40), np.ones(40)])
    assert bootstrap_mean_ci(values, n_resamples=4000) == (0.0, 1.0)
    # at 40 % confidence the interval lies inside the central atom 0.5
    assert bootstrap_mean_ci(values, n_resamples=4000, confidence=0.4) == (0.5, 0.5)


def _brute_force_two_stage(values, n_resamples, seed, confidence=0.95):
    """An independent, loop-based two-stage bootstrap: resample seeds, then questions, by explicit indices."""
    rng = np.random.default_rng(seed)
    n_seeds, n_questions = values.shape
    means = []
    for _ in range(n_resamples):
        rows = rng.choice(n_seeds, size=n_seeds, replace=True)
        cols = rng.choice(n_questions, size=n_questions, replace=True)
        means.append(values[np.ix_(rows, cols)].mean())
    return np.quantile(means, [(1 - confidence) / 2, (1 + confidence) / 2])


def test_several_seeds_match_an_independent_loop_implementation():
    values = NLL + np.array([[0.0], [0.3], [-0.2]])  # seeds that really differ
    expected = _brute_force_two_stage(values, 6000, seed=11)
    low, high = bootstrap_mean_ci(values, n_resamples=6000, seed=5)
    assert low == pytest.approx(expected[0], abs=0.03)
    assert high == pytest.approx(expected[1], abs=0.03)
    # the seed spread widens the interval compared with one run's question-only bootstrap
    one_low, one_high = bootstrap_mean_ci(values.mean(axis=0), n_resamples=6000, seed=5)
    assert high - low > 1.5 * (one_high - one_low)


def test_same_seed_same_interval_and_chunking_does_not_matter(monkeypatch):
    first = bootstrap_mean_ci(NLL, n_resamples=700, seed=9)
    assert bootstrap_mean_ci(NLL, n_resamples=700, seed=9) == first
    assert bootstrap_mean_ci(NLL, n_resamples=700, seed=10) != first
    monkeypatch.setattr(stats, "_CHUNK_ELEMENTS", 120 * 64)  # 64 resamples per chunk instead of all at once
    assert bootstrap_mean_ci(NLL, n_resamples=700, seed=9) == pytest.approx(first, abs=1e-12)


@pytest.mark.parametrize(
    ("values", "kwargs", "match"),
    [
        (np.zeros((0, 40)), {}, "empty"),
        (np.zeros((2, 0)), {}, "empty"),
        (np.zeros((2, 3, 40)), {}, "shape"),
        (np.r_[np.zeros(39), np.nan], {}, "NaN"),
        (np.zeros(29), {}, "min_questions=30"),
        (np.zeros(10), {"min_questions": 11}, "fewer than min_questions=11"),
        (np.zeros(40), {"confidence": 1.0}, "confidence"),
        (np.zeros(40), {"confidence": 0.0}, "confidence"),
        (np.zeros(40), {"confidence": 95}, "confidence"),
        (np.zeros(40), {"n_resamples": 0}, "n_resamples"),
        (["a"] * 40, {}, "numeric"),
    ],
)
def test_bad_input_is_rejected(values, kwargs, match):
    with pytest.raises(ValueError, match=match):
        bootstrap_mean_ci(values, **kwargs)


def test_min_questions_can_be_lowered():
    low, high = bootstrap_mean_ci(np.arange(10.0), min_questions=10)
    assert 0.0 <= low < 4.5 < high <= 9.0


# --------------------------------------------------------------------------------------------- paired_delta_ci


@pytest.mark.parametrize("values", [CORRECT, NLL[:1], np.tile(NLL[0], (3, 1))])
def test_identical_inputs_give_zero_delta_and_zero_width(values):
    assert paired_delta_ci(values, values.copy()) == (0.0, 0.0, 0.0)


def test_identical_multi_seed_inputs_are_exactly_zero_when_seeds_are_paired():
    assert paired_delta_ci(NLL, NLL.copy(), pair_seeds=True) == (0.0, 0.0, 0.0)
    # unpaired seeds: the two sides' seed spreads are independent, so the interval has width but covers 0
    delta, low, high = paired_delta_ci(NLL, NLL.copy())
    assert delta == 0.0 and low < 0.0 < high


def test_a_shifted_copy_gives_exactly_the_shift():
    delta, low, high = paired_delta_ci(CORRECT + 0.125, CORRECT)
    assert delta == pytest.approx(0.125, abs=1e-12)
    assert low == pytest.approx(0.125, abs=1e-12) and high == pytest.approx(0.125, abs=1e-12)
    delta, low, high = paired_delta_ci(NLL[:1], NLL[:1] + 0.5)
    assert (delta, low, high) == pytest.approx((-0.5, -0.5, -0.5), abs=1e-12)


def test_pairing_on_questions_is_narrower_than_unpaired():
    # the method is right on the baseline's questions plus 10 more: question difficulty is shared
    baseline = CORRECT.copy()
    method = CORRECT.copy()
    method[np.flatnonzero(CORRECT == 0)[:10]] = 1.0
    delta, low, high = paired_delta_ci(method, baseline, n_resamples=4000)
    assert delta == pytest.approx(10 / 200)
    # paired differences are 0 or 1 with 10 ones: the delta is 10/200 on average and never negative
    assert 0.0 <= low < delta < high
    unpaired_a = bootstrap_mean_ci(method, n_resamples=4000)
    assert high - low < 0.5 * (unpaired_a[1] - unpaired_a[0])
    # equals the ordinary bootstrap of the per-question difference (same resampled questions): vs scipy
    from scipy.stats import bootstrap

    reference = bootstrap(
        (method - baseline,), np.mean, n_resamples=20000, method="percentile", rng=np.random.default_rng(1)
    ).confidence_interval
    _, low20, high20 = paired_delta_ci(method, baseline, n_resamples=20000, seed=2)
    # replicate deltas live on the grid k/200, so the two quantiles may differ by one grid step
    assert low20 == pytest.approx(reference.low, abs=0.0051)
    assert high20 == pytest.approx(reference.high, abs=0.0051)


def test_paired_delta_accepts_different_seed_counts():
    delta, low, high = paired_delta_ci(NLL, NLL[0] - 1.0)
    assert delta == pytest.approx(NLL.mean() - NLL[0].mean() + 1.0)
    assert low < delta < high


def test_paired_delta_rejects_bad_input():
    with pytest.raises(ValueError, match="same questions"):
        paired_delta_ci(np.zeros(40), np.zeros(41))
    with pytest.raises(ValueError, match="pair_seeds"):
        paired_delta_ci(np.zeros((2, 40)), np.zeros((3, 40)), pair_seeds=True)
    with pytest.raises(ValueError, match="baseline .*empty"):
        paired_delta_ci(np.zeros(40), np.zeros((0, 40)))
    with pytest.raises(ValueError, match="method holds 1 NaN"):
        paired_delta_ci(np.r_[np.zeros(39), np.nan], np.zeros(40))
    with pytest.raises(ValueError, match="confidence"):
        paired_delta_ci(np.zeros(40), np.zeros(40), confidence=-0.5)


# --------------------------------------------------------------------------------------------- summarise_over_seeds


def test_summarise_over_seeds_by_hand():
    values = np.vstack([np.full(30, 0.2), np.full(30, 0.4), np.full(30, 0.9)])
    summary = summarise_over_seeds(values, n_resamples=2000)
    assert set(summary) == {"mean", "std", "n_seeds", "ci95_low", "ci95_high"}
    assert summary["mean"] == pytest.approx(0.5)
    # per-seed means 0.2, 0.4, 0.9: deviations -0.3, -0.1, 0.4 -> variance (0.09 + 0.01 + 0.16) / 2 = 0.13
    assert summary["std"] == pytest.approx(np.sqrt(0.13))
    assert summary["n_seeds"] == 3 and isinstance(summary["n_seeds"], int)
    # questions are constant within a seed; drawing seed 0 three times (mean 0.2) has probability 1/27 = 3.7 %
    # > 2.5 %, and so has seed 2 three times (0.9): the 95 % interval is exactly [0.2, 0.9]
    assert (summary["ci95_low"], summary["ci95_high"]) == pytest.approx((0.2, 0.9), abs=1e-12)


def test_summarise_over_seeds_one_seed():
    summary = summarise_over_seeds(CORRECT)
    assert summary["std"] == 0.0 and summary["n_seeds"] == 1
    assert summary["mean"] == pytest.approx(CORRECT.mean())
    assert (summary["ci95_low"], summary["ci95_high"]) == bootstrap_mean_ci(CORRECT)
    with pytest.raises(ValueError, match="min_questions"):
        summarise_over_seeds(CORRECT[:20])
