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
