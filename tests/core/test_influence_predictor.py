"""The influence predictor's math: split, aggregations, quantile levels, honest cross-validation, recall."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.linear_model import LinearRegression

from data_selection.core.influence_predictor import (
    combined_scores,
    cross_validate,
    influence_aggregations,
    make_classifier,
    make_regressor,
    quantile_levels,
    recall_at_k,
    spearman,
    split_training_points,
    top_level_candidates,
)


def test_split_is_disjoint_complete_and_seeded():
    train, rest = split_training_points(100, 0.3, seed=7)
    assert len(train) == 30 and len(rest) == 70
    assert np.intersect1d(train, rest).size == 0
    assert np.array_equal(np.sort(np.concatenate([train, rest])), np.arange(100))
    again, _ = split_training_points(100, 0.3, seed=7)
    other, _ = split_training_points(100, 0.3, seed=8)
    assert np.array_equal(train, again) and not np.array_equal(train, other)
    assert np.array_equal(train, np.sort(np.random.default_rng(7).choice(100, 30, replace=False)))


@pytest.mark.parametrize("fraction", [0.0, 1.0, -0.1])
def test_split_rejects_bad_fraction(fraction):
    with pytest.raises(ValueError, match="train_fraction"):
        split_training_points(10, fraction, 0)


def test_aggregations_by_hand():
    influence = np.array([[0.1, 0.5, -0.2, 0.4], [0.0, 0.0, 0.3, 0.3]])
    subtasks = ["a", "a", "b", "b"]
    agg = influence_aggregations(influence, subtasks)
    np.testing.assert_allclose(agg["avg"], [0.2, 0.15])
    np.testing.assert_allclose(agg["max"], [0.5, 0.3])
    np.testing.assert_allclose(agg["min"], [-0.2, 0.0])
    # subtask means: row0 a=0.3, b=0.1 -> 0.3; row1 a=0.0, b=0.3 -> 0.3
    np.testing.assert_allclose(agg["subtask_mean_max"], [0.3, 0.3])


def test_quantile_levels_hand_made_vector():
    # 10 distinct scores, 5 levels: cut-offs at 1.8, 3.6, 5.4, 7.2 -> two per level
    scores = np.array([9, 0, 8, 1, 7, 2, 6, 3, 5, 4], dtype=float)
    assert quantile_levels(scores, 5).tolist() == [4, 0, 4, 0, 3, 1, 3, 1, 2, 2]


def test_quantile_levels_ties_share_a_level_whatever_the_order():
    scores = np.array([1.0, 1.0, 1.0, 1.0, 2.0])  # median cut-off = 1.0: equal to a cut-off -> lower level
    assert quantile_levels(scores, 2).tolist() == [0, 0, 0, 0, 1]
    assert quantile_levels(scores[::-1], 2).tolist() == [1, 0, 0, 0, 0]
    with pytest.raises(ValueError, match="n_levels"):
        quantile_levels(scores, 1)
    with pytest.raises(ValueError, match="finite"):
        quantile_levels(np.array([1.0, np.nan]), 2)


class _Memoriser(LinearRegression):
    """Fails the test if asked to predict a row it was fitted on (rows are unique by their first column)."""

    def fit(self, X, y):
        self.seen_ = set(np.asarray(X)[:, 0].tolist())
        return super().fit(X, y)

    def predict(self, X):
        assert not self.seen_ & set(np.asarray(X)[:, 0].tolist()), "scored a point it was fitted on"
        return super().predict(X)


def test_cross_validation_scores_only_held_out_points():
    rng = np.random.default_rng(0)
    features = np.column_stack([np.arange(40.0), rng.normal(size=(40, 3))])
    target = features[:, 1] * 2 + rng.normal(scale=0.1, size=40)
    result = cross_validate(features, target, _Memoriser, "regression", n_splits=4, seed=0)
    assert len(result["folds"]) == 4
    assert result["metric"] > 0.9 and result["spearman"] > 0.9


def test_cross_validation_of_noise_is_not_better_than_chance():
    """A regressor that memorises perfectly scores R^2 = 1 in-sample; held out on pure noise it must not."""
    rng = np.random.default_rng(1)
    features, target = rng.normal(size=(60, 5)), rng.normal(size=60)
    result = cross_validate(features, target, lambda: make_regressor("gradient_boosting"), "regression", 5, 0)
    assert result["metric"] < 0.2
    levels = quantile_levels(target, 3)
    acc = cross_validate(features, levels, lambda: make_classifier("logistic"), "classification", 5, 0)
    assert acc["metric"] < 0.6 and set(np.unique(acc["oof"])) <= {0, 1, 2}


def test_recall_and_spearman_by_hand():
    reference = np.array([5.0, 4.0, 3.0, 2.0, 1.0])
    predicted = np.array([5.0, 1.0, 4.0, 2.0, 3.0])  # top-2: {0, 2} vs reference {0, 1}
    assert recall_at_k(reference, predicted, 2) == 0.5
    assert recall_at_k(reference, reference, 3) == 1.0
    # ranks ref 5,4,3,2,1 vs pred 5,1,4,2,3: d = 0,3,-1,0,-2 -> 1 - 6*14/(5*24) = 0.3
    assert spearman(reference, predicted) == pytest.approx(0.3)


def test_top_level_candidates_and_combined_scores():
    assert top_level_candidates(np.array([0, 2, 1, 2, 2]), 3).tolist() == [1, 3, 4]
    scores, real = combined_scores(4, {1: 0.9, 3: -0.5}, np.array([0.1, 0.2, 0.3, 0.4]))
    assert scores.tolist() == [0.1, 0.9, 0.3, -0.5] and real.tolist() == [False, True, False, True]


@pytest.mark.parametrize("kind", ["ridge", "gradient_boosting", "mlp"])
def test_regressors_learn_a_linear_signal(kind):
    rng = np.random.default_rng(2)
    features = rng.normal(size=(200, 4))
    target = features @ np.array([1.0, -1.0, 0.5, 0.0])
    result = cross_validate(features, target, lambda: make_regressor(kind, 0), "regression", 4, 0)
    assert result["metric"] > 0.6, result["metric"]


def test_gradient_counts_and_the_30_percent_cap_by_hand():
    from data_selection.core.influence_predictor import candidate_cap, capped_candidates, gradient_counts

    # pool 1,000, 150 training points + 60 candidates, 69 validation questions, 4 checkpoints
    counts = gradient_counts(1000, 210, 69, 4)
    assert counts["gradients"] == (210 + 69) * 4 == 1116 and counts["full_less_gradients"] == 1069 * 4 == 4276
    assert counts["fraction_of_full_less"] == pytest.approx(1116 / 4276)
    assert gradient_counts(1000, 1000, 69, 4)["fraction_of_full_less"] == 1.0  # full LESS itself
    # cap: floor(0.3 * 1,069) = 320 gradients per checkpoint, minus 150 training points and 69 validation = 101
    assert candidate_cap(1000, 150, 69, 0.3) == 101
    with pytest.raises(ValueError, match="lower train_fraction"):
        candidate_cap(1000, 300, 69, 0.3)
    # beyond the cap: the highest predicted scores, ties to the lower index, returned ascending
    predicted = np.array([0.0, 5.0, 1.0, 5.0, 3.0, 9.0])
    np.testing.assert_array_equal(capped_candidates(np.array([1, 2, 3, 4, 5]), predicted, 3), [1, 3, 5])
    np.testing.assert_array_equal(capped_candidates(np.array([1, 2, 3, 4, 5]), predicted, 2), [1, 5])
    np.testing.assert_array_equal(capped_candidates(np.array([2, 4]), predicted, 5), [2, 4])
    with pytest.raises(ValueError, match="bad counts"):
        gradient_counts(10, 11, 0, 1)
