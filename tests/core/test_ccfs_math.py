"""Tests for data_selection.core.ccfs on hand-made prediction sequences and hand-made predictions."""

from __future__ import annotations

import numpy as np
import pytest

from data_selection.core.ccfs import (
    ForgettingCounter,
    candidate_mask,
    check_real_budget,
    curriculum_arrangement,
    forgetting_counts,
    keep_distilled,
    pick_per_class,
    run_curricula,
    split_ipc,
)

# ------------------------------------------------------------------------------------------- forgetting counts

# columns = examples, rows = presentations (epochs)
SEQUENCE = np.array(
    [
        # e0 e1 e2 e3 e4 e5
        [1, 0, 0, 1, 0, 1],
        [0, 1, 0, 1, 0, 1],
        [1, 1, 0, 0, 1, 0],
        [0, 1, 0, 1, 1, 0],
        [1, 0, 0, 1, 0, 0],
    ],
    dtype=bool,
)
# by hand: e0 1->0 at t1, t3 = 2; e1 learned at t1, forgotten at t4 = 1; e2 never learned; e3 forgotten at t2 = 1;
# e4 learned at t2, forgotten at t4 = 1; e5 forgotten at t2, then stays wrong = 1.
EXPECTED_EVENTS = [2, 1, 0, 1, 1, 1]


def test_forgetting_counts_hand_sequence_never_learned_max():
    np.testing.assert_array_equal(forgetting_counts(SEQUENCE), [2, 1, 5, 1, 1, 1])


def test_forgetting_counts_never_learned_zero():
    np.testing.assert_array_equal(forgetting_counts(SEQUENCE, never_learned="zero"), EXPECTED_EVENTS)


def test_learned_then_never_forgotten_is_zero_and_first_presentation_is_no_event():
    # wrong at first then right forever: 0 events; right at first then wrong once: 1 event (not 0 -> 1)
    seq = np.array([[0, 1], [1, 0], [1, 0]], dtype=bool)
    np.testing.assert_array_equal(forgetting_counts(seq), [0, 1])


def test_forgetting_counts_average_over_runs():
    run_a = SEQUENCE
    run_b = np.ones_like(SEQUENCE)  # always right: 0 everywhere
    expected = (np.array([2, 1, 5, 1, 1, 1]) + 0) / 2
    np.testing.assert_allclose(forgetting_counts(np.stack([run_a, run_b])), expected)


def test_counter_fed_by_minibatches_matches_the_sequence():
    # each epoch presented as two shuffled mini-batches
    counter = ForgettingCounter(6)
    rng = np.random.default_rng(0)
    for row in SEQUENCE:
        perm = rng.permutation(6)
        for batch in (perm[:4], perm[4:]):
            counter.update(batch, row[batch])
    np.testing.assert_array_equal(counter.counts(), [2, 1, 5, 1, 1, 1])


def test_counter_rejects_bad_updates_and_unseen_examples():
    counter = ForgettingCounter(3)
    with pytest.raises(ValueError, match="twice"):
        counter.update(np.array([0, 0]), np.array([True, False]))
    with pytest.raises(ValueError, match=r"\[0, 3\)"):
        counter.update(np.array([3]), np.array([True]))
    with pytest.raises(ValueError, match="boolean"):
        counter.update(np.array([0]), np.array([2]))
    counter.update(np.array([0, 1]), np.array([1, 0]))
    with pytest.raises(ValueError, match="1 of 3 examples were never presented"):
        counter.counts()
    with pytest.raises(ValueError, match="never_learned"):
        counter.counts("inf")


def test_forgetting_counts_rejects_wrong_rank():
    with pytest.raises(ValueError, match="shape"):
        forgetting_counts(np.ones(4, dtype=bool))


# ------------------------------------------------------------------------------------------------------- budgets


@pytest.mark.parametrize(
    ("ipc", "alpha", "expected"),
    [(250, 0.2, (50, 200)), (500, 0.1, (50, 450)), (10, 0.0, (0, 10)), (10, 1.0, (10, 0)), (10, 0.25, (2, 8)),
     (100, 0.29, (29, 71))],  # 0.29*100 = 28.999999999999996 in floats: floor with tolerance gives 29
)
def test_split_ipc(ipc, alpha, expected):
    assert split_ipc(ipc, alpha) == expected


@pytest.mark.parametrize(("ipc", "alpha"), [(10, -0.1), (10, 1.01), (10, float("nan")), (0, 0.5), (2.5, 0.5)])
def test_split_ipc_rejects(ipc, alpha):
    with pytest.raises(ValueError):
        split_ipc(ipc, alpha)


@pytest.mark.parametrize(
    ("spc", "curricula", "expected"),
    [(200, 3, [67, 67, 66]), (8, 3, [3, 3, 2]), (450, 3, [150, 150, 150]), (7, 1, [7]), (0, 3, [0, 0, 0]),
     (5, 4, [2, 1, 1, 1])],
)
def test_curriculum_arrangement(spc, curricula, expected):
    assert curriculum_arrangement(spc, curricula) == expected


def test_curriculum_arrangement_rejects_more_curricula_than_images():
    with pytest.raises(ValueError, match="curricula <= 2"):
        curriculum_arrangement(2, 3)
    with pytest.raises(ValueError):
        curriculum_arrangement(5, 0)


def test_check_real_budget_names_short_classes():
    labels = np.array([0, 0, 0, 1, 1, 2, 2, 2])
    check_real_budget(labels, 2, 3)
    with pytest.raises(ValueError, match=r"\{1: 2\}"):
        check_real_budget(labels, 3, 3)
    with pytest.raises(ValueError, match=r"\[0, 2\)"):
        check_real_budget(labels, 1, 2)


def test_keep_distilled_first_per_class_in_order():
    labels = np.array([1, 0, 1, 0, 2, 1, 0, 2])
    np.testing.assert_array_equal(keep_distilled(labels, 2, 3), [1, 3, 0, 2, 4, 7])
    assert keep_distilled(labels, 0, 3).size == 0
    with pytest.raises(ValueError, match=r"\{2: 2\}"):
        keep_distilled(labels, 3, 3)
    with pytest.raises(ValueError, match="distilled labels"):
        keep_distilled(np.array([0, 3]), 1, 3)


# ---------------------------------------------------------------------------------------- coarse / fine stages


def test_candidate_mask_hand_made():
    labels = np.array([0, 0, 1, 1, 2, 2])
    filt = np.array([1, 0, 1, 0, 0, 1])  # wrong on 0, 3, 4, 5
    teacher = np.array([True, True, True, False, True, True])
    selected = np.array([False, False, False, False, False, True])
    # wrong & teacher right & unselected: 0 (yes), 3 (teacher wrong), 4 (yes), 5 (selected)
    np.testing.assert_array_equal(candidate_mask(labels, filt, teacher, selected), [1, 0, 0, 0, 1, 0])


def test_candidate_mask_rejects_bad_masks():
    with pytest.raises(ValueError, match="boolean"):
        candidate_mask(np.array([0]), np.array([1]), np.array([1]), np.array([False]))
    with pytest.raises(ValueError, match="one length"):
        candidate_mask(np.array([0, 1]), np.array([1]), np.array([True]), np.array([False]))


def test_pick_lowest_forgetting_per_class_ties_by_index():
    labels = np.array([0, 0, 0, 0, 1, 1, 1])
    scores = np.array([3.0, 1.0, 1.0, 0.0, 2.0, 2.0, 5.0])
    cand = np.ones(7, dtype=bool)
    pick = pick_per_class(labels, scores, cand, 2, 2, top_up="error")
    # class 0: lowest 0.0 (idx 3), then tie 1.0 at idx 1 and 2 -> idx 1; class 1: tie 2.0 at 4, 5
    np.testing.assert_array_equal(pick.indices, [3, 1, 4, 5])
    assert not pick.topped_up.any()
    np.testing.assert_array_equal(pick.candidates, [4, 3])
    np.testing.assert_array_equal(pick.short, [0, 0])


def test_pick_ties_do_not_depend_on_input_order():
    # same multiset of (index, score) pairs; result must be by score, then index
    labels = np.zeros(5, dtype=int)
    scores = np.array([1.0, 1.0, 1.0, 0.5, 1.0])
    pick = pick_per_class(labels, scores, np.ones(5, dtype=bool), 3, 1, top_up="error")
    np.testing.assert_array_equal(pick.indices, [3, 0, 1])


def _short_setup():
    labels = np.array([0, 0, 0, 0, 0, 1, 1, 1])
    scores = np.array([4.0, 0.0, 2.0, 1.0, 3.0, 1.0, 0.0, 2.0])
    cand = np.array([1, 0, 0, 0, 0, 1, 1, 0], dtype=bool)  # class 0 has 1 candidate, class 1 has 2
    teacher = np.array([1, 0, 1, 1, 0, 1, 1, 1], dtype=bool)
    selected = np.array([0, 0, 0, 1, 0, 0, 0, 0], dtype=bool)
    return labels, scores, cand, teacher, selected


def test_top_up_teacher_correct_then_error_when_exhausted():
    labels, scores, cand, teacher, selected = _short_setup()
    pick = pick_per_class(labels, scores, cand, 2, 2, teacher_correct=teacher, selected=selected)
    # class 0: candidate 0; top-up pool = unselected non-candidates the teacher gets right = {2}
    np.testing.assert_array_equal(pick.indices, [0, 2, 6, 5])
    np.testing.assert_array_equal(pick.topped_up, [False, True, False, False])
    np.testing.assert_array_equal(pick.from_top_up, [1, 0])
    with pytest.raises(ValueError, match="class 0 needs 3 .* 1 candidates and only 1 images"):
        pick_per_class(labels, scores, cand, 3, 2, teacher_correct=teacher, selected=selected)


def test_top_up_any_falls_through_to_teacher_wrong_images():
    labels, scores, cand, teacher, selected = _short_setup()
    pick = pick_per_class(labels, scores, cand, 3, 2, teacher_correct=teacher, selected=selected, top_up="any")
    # class 0: candidate 0, teacher-correct top-up {2}, then teacher-wrong unselected {1 (0.0), 4 (3.0)} -> 1;
    # class 1: candidates 6 (0.0), 5 (1.0), then teacher-correct 7
    np.testing.assert_array_equal(pick.indices, [0, 2, 1, 6, 5, 7])
    np.testing.assert_array_equal(pick.from_top_up, [2, 1])
    with pytest.raises(ValueError, match="class 0 needs 5"):  # class 0 has 4 unselected images
        pick_per_class(labels, scores, cand, 5, 2, teacher_correct=teacher, selected=selected, top_up="any")


def test_top_up_none_reports_the_shortfall_and_error_raises():
    labels, scores, cand, teacher, selected = _short_setup()
    pick = pick_per_class(labels, scores, cand, 2, 2, top_up="none")
    np.testing.assert_array_equal(pick.indices, [0, 6, 5])
    np.testing.assert_array_equal(pick.short, [1, 0])
    with pytest.raises(ValueError, match=r"\{0: 1\}"):
        pick_per_class(labels, scores, cand, 2, 2, top_up="error")
    with pytest.raises(ValueError, match="needs the teacher_correct"):
        pick_per_class(labels, scores, cand, 2, 2)


def test_run_curricula_on_a_scripted_filter():
    labels = np.array([0, 0, 0, 0, 1, 1, 1, 1])
    scores = np.array([0.0, 1.0, 2.0, 3.0, 3.0, 2.0, 1.0, 0.0])
    teacher = np.array([1, 1, 1, 0, 1, 1, 1, 1], dtype=bool)
    calls = []

    def train_and_predict(j, selected):
        calls.append((j, selected.tolist()))
        if j == 0:
            return np.array([1, 1, 0, 1, 0, 0, 0, 0])  # wrong on 0, 1, 3 (class 0) and 4..7 (class 1)
        return np.array([1, 1, 1, 1, 0, 1, 0, 0])  # wrong on all of class 0 and 4, 6, 7

    res = run_curricula(labels, teacher, scores, [1, 1], 2, train_and_predict)
    # j=0: candidates class 0 = {0, 1} -> 0; class 1 = {4..7} -> 7 (score 0)
    # j=1: candidates class 0 = {1, 2} (0 selected, 3 teacher-wrong) -> 1; class 1 = {4, 6} -> 6
    np.testing.assert_array_equal(res.indices, [0, 7, 1, 6])
    np.testing.assert_array_equal(res.curriculum, [0, 0, 1, 1])
    assert calls == [(0, []), (1, [0, 7])]
    np.testing.assert_allclose(res.filter_accuracy, [1 / 8, 1 / 8])  # right only on 2, then only on 5
    assert len(set(res.indices.tolist())) == res.indices.size


def test_run_curricula_rejects_bad_predictions():
    with pytest.raises(ValueError, match="expected"):
        run_curricula(np.array([0, 1]), np.array([True, True]), np.zeros(2), [1], 2, lambda j, s: np.zeros(3))
