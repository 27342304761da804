"""Tests for data_selection.core.less: Adam preconditioning, normalisation, checkpoint weights, influence."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from data_selection.core.less import (
    adam_preconditioned_gradient,
    aggregate_influence,
    checkpoint_weights,
    l2_normalize,
    pairwise_influence,
)

# Hand example shared by the Adam tests.
G = [1.0, -2.0, 0.5]
M = [0.1, 0.0, -0.2]
V = [0.01, 0.04, 0.0]

# m' = 0.9*m + 0.1*g = [0.09 + 0.1, 0 - 0.2, -0.18 + 0.05]          = [0.19, -0.2, -0.13]
M_NEW = [0.19, -0.2, -0.13]
# v' = 0.999*v + 0.001*g^2 = [0.00999 + 0.001, 0.03996 + 0.004, 0 + 0.00025] = [0.01099, 0.04396, 0.00025]
V_NEW = [0.01099, 0.04396, 0.00025]
# official: Γ = m' / sqrt(v' + 1e-8)
#   0.19 / sqrt(0.01099001)  = 0.19 / 0.1048332   =  1.8124021
#  -0.2  / sqrt(0.04396001)  = -0.2 / 0.2096664   = -0.9538962
#  -0.13 / sqrt(0.00025001)  = -0.13 / 0.0158117  = -8.2217575
OFFICIAL = [1.8124021018, -0.9538961686, -8.2217574829]
# textbook, step=0 -> exponent t = 1: 1 - 0.9 = 0.1, 1 - 0.999 = 0.001
#   m_hat = m'/0.1 = [1.9, -2.0, -1.3];  v_hat = v'/0.001 = [10.99, 43.96, 0.25]
#   Γ = m_hat / (sqrt(v_hat) + 1e-8) = [1.9/3.3151169, -2/6.6302338, -1.3/0.5] ≈ [0.5731321, -0.3016485, -2.6]
#   (the +1e-8 outside the sqrt shifts the third entry to -1.3/0.50000001 = -2.599999948, a 2e-8 relative
#   change that the rtol=1e-9 checks below do see)
TEXTBOOK_STEP0 = (np.array([1.9, -2.0, -1.3]) / (np.sqrt(np.array([10.99, 43.96, 0.25])) + 1e-8)).tolist()
TEXTBOOK_STEP0_ROUNDED = [0.5731321285, -0.3016484887, -2.6]


def _t(values, dtype=torch.float64):
    return torch.tensor(values, dtype=dtype)


# ------------------------------------------------------------------------------------------------------ Adam


def test_adam_official_hand_example():
    out = adam_preconditioned_gradient(_t(G), _t(M), _t(V))
    # intermediate check with the hand-computed m', v'
    expected_from_moments = np.array(M_NEW) / np.sqrt(np.array(V_NEW) + 1e-8)
    np.testing.assert_allclose(out.numpy(), expected_from_moments, rtol=1e-12)
    np.testing.assert_allclose(out.numpy(), OFFICIAL, rtol=1e-9)


def test_adam_official_is_default_and_named():
    a = adam_preconditioned_gradient(_t(G), _t(M), _t(V))
    b = adam_preconditioned_gradient(_t(G), _t(M), _t(V), variant="official")
    assert torch.equal(a, b)


def test_adam_textbook_hand_example_step0():
    out = adam_preconditioned_gradient(_t(G), _t(M), _t(V), variant="textbook", step=0)
    np.testing.assert_allclose(out.numpy(), TEXTBOOK_STEP0, rtol=1e-12)
    np.testing.assert_allclose(out.numpy(), TEXTBOOK_STEP0_ROUNDED, rtol=1e-7)
    # eps outside the sqrt: -1.3/(0.5 + 1e-8), not -1.3/sqrt(0.25 + 1e-8) = -2.599999896
    assert out[2].item() == pytest.approx(-1.3 / 0.50000001, rel=1e-12)


def test_adam_textbook_hand_example_step9():
    # step=9 -> exponent t = 10:
    #   1 - 0.9^10   = 1 - 0.3486784401          = 0.6513215599
    #   1 - 0.999^10 = 1 - 0.990044880209748...  = 0.00995511979025...
    bc1 = 1 - 0.3486784401
    bc2 = 0.009955119790251765
    m_hat = np.array(M_NEW) / bc1
    v_hat = np.array(V_NEW) / bc2
    expected = m_hat / (np.sqrt(v_hat) + 1e-8)
    out = adam_preconditioned_gradient(_t(G), _t(M), _t(V), variant="textbook", step=9)
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-9)
    # and it is not the step-10 (exponent 11) answer nor the step-8 one
    for wrong_t in (9, 11):
        wrong = (np.array(M_NEW) / (1 - 0.9**wrong_t)) / (np.sqrt(np.array(V_NEW) / (1 - 0.999**wrong_t)) + 1e-8)
        assert not np.allclose(out.numpy(), wrong, rtol=1e-6)


def test_adam_custom_betas_and_eps():
    # beta1 = 0.5, beta2 = 0.5, eps = 0: g = [2], m = [0], v = [0]
    #   m' = 0.5*0 + 0.5*2 = 1 ; v' = 0.5*0 + 0.5*4 = 2 ; Γ = 1/sqrt(2)
    out = adam_preconditioned_gradient(_t([2.0]), _t([0.0]), _t([0.0]), beta1=0.5, beta2=0.5, eps=0.0)
    assert out.item() == pytest.approx(1 / math.sqrt(2), rel=1e-12)


def test_adam_batch_of_two_broadcasts_against_1d_moments():
    grad = _t([G, [0.0, 0.0, 0.0]])
    # row 1 (g = 0): m' = 0.9*m = [0.09, 0, -0.18] ; v' = 0.999*v = [0.00999, 0.03996, 0]
    #   official: [0.09/sqrt(0.00999001), 0/sqrt(0.03996001), -0.18/sqrt(1e-8)] = [0.9004499, 0, -1800]
    row1_official = [0.9004498871, 0.0, -1800.0]
    out = adam_preconditioned_gradient(grad, _t(M), _t(V))
    assert out.shape == (2, 3)
    np.testing.assert_allclose(out[0].numpy(), OFFICIAL, rtol=1e-9)
    np.testing.assert_allclose(out[1].numpy(), row1_official, rtol=1e-9, atol=1e-12)
    # textbook step 0, row 1: m_hat = [0.9, 0, -1.8], v_hat = [9.99, 39.96, 0]
    #   Γ = [0.9/sqrt(9.99), 0, -1.8/(0 + 1e-8)] = [0.2847474, 0, -1.8e8]  (eps outside the sqrt)
    row1_textbook = [0.9 / (math.sqrt(9.99) + 1e-8), 0.0, -1.8 / 1e-8]
    np.testing.assert_allclose(row1_textbook, [0.2847473987, 0.0, -1.8e8], rtol=1e-8)
    out_tb = adam_preconditioned_gradient(grad, _t(M), _t(V), variant="textbook", step=0)
    np.testing.assert_allclose(out_tb[0].numpy(), TEXTBOOK_STEP0, rtol=1e-12)
    np.testing.assert_allclose(out_tb[1].numpy(), row1_textbook, rtol=1e-9, atol=1e-12)


def test_adam_batch_rows_equal_single_calls():
    rng = np.random.default_rng(0)
    grads = torch.from_numpy(rng.normal(size=(4, 6)))
    m = torch.from_numpy(rng.normal(size=6))
    v = torch.from_numpy(rng.random(6))
    batch = adam_preconditioned_gradient(grads, m, v)
    for i in range(4):
        # plain-loop reference of the official formula
        ref = [
            (0.9 * m[j].item() + 0.1 * grads[i, j].item())
            / math.sqrt(0.999 * v[j].item() + 0.001 * grads[i, j].item() ** 2 + 1e-8)
            for j in range(6)
        ]
        np.testing.assert_allclose(batch[i].numpy(), ref, rtol=1e-12)


def test_adam_keeps_dtype_float32():
    out = adam_preconditioned_gradient(_t(G, torch.float32), _t(M, torch.float32), _t(V, torch.float32))
    assert out.dtype == torch.float32
    np.testing.assert_allclose(out.numpy(), OFFICIAL, rtol=1e-5)


@pytest.mark.parametrize("step", [None, -1])
def test_adam_textbook_without_step_raises(step):
    with pytest.raises(ValueError):
        adam_preconditioned_gradient(_t(G), _t(M), _t(V), variant="textbook", step=step)


def test_adam_unknown_variant_raises():
    with pytest.raises(ValueError):
        adam_preconditioned_gradient(_t(G), _t(M), _t(V), variant="adamw")


def test_adam_dim_mismatch_raises():
    with pytest.raises(ValueError):
        adam_preconditioned_gradient(_t([1.0, 2.0, 3.0, 4.0]), _t(M), _t(V))
    with pytest.raises(ValueError):
        adam_preconditioned_gradient(_t([[1.0, 2.0]]), _t(M), _t(V))
    with pytest.raises(ValueError):
        adam_preconditioned_gradient(_t(G), _t(M), _t([0.01, 0.04]))


# ------------------------------------------------------------------------------------------------ l2_normalize


def test_l2_normalize_numpy_hand_example():
    x = np.array([[3.0, 4.0], [0.0, 0.0], [-1.0, 0.0], [1.0, 1.0]])
    # |[3,4]| = 5 -> [0.6, 0.8]; zero row stays zero; |[-1,0]| = 1; |[1,1]| = sqrt(2)
    expected = np.array([[0.6, 0.8], [0.0, 0.0], [-1.0, 0.0], [1 / math.sqrt(2), 1 / math.sqrt(2)]])
    out = l2_normalize(x)
    assert isinstance(out, np.ndarray)
    np.testing.assert_allclose(out, expected, rtol=1e-12)
    assert np.all(np.isfinite(out))


def test_l2_normalize_torch_hand_example():
    x = torch.tensor([[3.0, 4.0], [0.0, 0.0], [0.0, -2.0]])
    out = l2_normalize(x)
    assert isinstance(out, torch.Tensor) and out.dtype == torch.float32
    np.testing.assert_allclose(out.numpy(), [[0.6, 0.8], [0.0, 0.0], [0.0, -1.0]], rtol=1e-6)
    assert torch.isfinite(out).all()


@pytest.mark.parametrize("backend", ["numpy", "torch"])
def test_l2_normalize_random_unit_norms(backend):
    rng = np.random.default_rng(1)
    x = rng.normal(size=(20, 7)) * rng.uniform(0.01, 100, size=(20, 1))
    x[5] = 0.0
    out = l2_normalize(torch.from_numpy(x) if backend == "torch" else x)
    out = np.asarray(out)
    norms = [math.sqrt(sum(v * v for v in row)) for row in out]
    for i, n in enumerate(norms):
        assert n == pytest.approx(0.0 if i == 5 else 1.0, abs=1e-12)
    # direction preserved: out[i] is a positive multiple of x[i]
    for i in range(20):
        if i != 5:
            np.testing.assert_allclose(out[i] * np.linalg.norm(x[i]), x[i], rtol=1e-10)


# ------------------------------------------------------------------------------------------- checkpoint_weights


def test_checkpoint_weights_simple():
    # [1, 3] -> sum 4 -> [0.25, 0.75]
    w = checkpoint_weights([1.0, 3.0])
    assert w.dtype == np.float64
    np.testing.assert_allclose(w, [0.25, 0.75], rtol=1e-15)


def test_checkpoint_weights_less_readme_example():
    lrs = [1.6877e-05, 1.2859e-05, 7.7030e-06, 2.5616e-06]
    # sum = (1.6877 + 1.2859 + 0.77030 + 0.25616) e-05 = 4.00006e-05
    # weights = [1.6877/4.00006, 1.2859/4.00006, 0.7703/4.00006, 0.25616/4.00006]
    #         = [0.4219187, 0.3214702, 0.1925721, 0.0640390]
    w = checkpoint_weights(lrs)
    np.testing.assert_allclose(w, [0.4219186712, 0.3214701779, 0.1925721114, 0.0640390394], rtol=1e-9)
    assert w.sum() == pytest.approx(1.0, abs=1e-12)
    for i in range(4):
        for j in range(4):
            assert w[i] / w[j] == pytest.approx(lrs[i] / lrs[j], rel=1e-12)


def test_checkpoint_weights_zero_entry_allowed():
    np.testing.assert_allclose(checkpoint_weights([0.0, 2.0, 2.0]), [0.0, 0.5, 0.5])
    np.testing.assert_allclose(checkpoint_weights([5.0]), [1.0])


@pytest.mark.parametrize(
    "lrs",
    [[], [-1.0, 2.0], [0.0, 0.0], [float("nan"), 1.0], [float("inf"), 1.0], [[1.0, 2.0]]],
    ids=["empty", "negative", "all-zero", "nan", "inf", "2d"],
)
def test_checkpoint_weights_invalid_raises(lrs):
    with pytest.raises(ValueError):
        checkpoint_weights(lrs)


# ------------------------------------------------------------------------------------------- pairwise_influence


def _triple_loop(train, val, weights):
    n_pool, n_val = train[0].shape[0], val[0].shape[0]
    out = [[0.0] * n_val for _ in range(n_pool)]
    for eta, t, v in zip(weights, train, val):
        for a in range(n_pool):
            for b in range(n_val):
                out[a][b] += eta * sum(float(t[a, k]) * float(v[b, k]) for k in range(t.shape[1]))
    return np.array(out)


def _random_features(seed=0, n_pool=7, n_val=4, dims=(5, 3, 6)):
    rng = np.random.default_rng(seed)
    train = [rng.normal(size=(n_pool, d)) for d in dims]
    val = [rng.normal(size=(n_val, d)) for d in dims]
    return train, val


def test_pairwise_influence_hand_example():
    # one checkpoint, eta = 0.5: train [[1, 2]], val [[3, 4], [1, -1]]
    #   <[1,2],[3,4]> = 3 + 8 = 11 -> 5.5 ; <[1,2],[1,-1]> = 1 - 2 = -1 -> -0.5
    out = pairwise_influence([np.array([[1.0, 2.0]])], [np.array([[3.0, 4.0], [1.0, -1.0]])], [0.5])
    np.testing.assert_allclose(out, [[5.5, -0.5]], rtol=1e-15)
    # two checkpoints: add eta2 = 2 with train [[0, 1]], val [[1, 1], [2, 0]] -> 2*[1, 0] = [2, 0]
    out2 = pairwise_influence(
        [np.array([[1.0, 2.0]]), np.array([[0.0, 1.0]])],
        [np.array([[3.0, 4.0], [1.0, -1.0]]), np.array([[1.0, 1.0], [2.0, 0.0]])],
        [0.5, 2.0],
    )
    np.testing.assert_allclose(out2, [[7.5, -0.5]], rtol=1e-15)


def test_pairwise_influence_matches_triple_loop():
    train, val = _random_features()
    weights = [0.5, 0.3, 0.2]
    out = pairwise_influence(train, val, weights)
    assert out.shape == (7, 4) and out.dtype == np.float64
    np.testing.assert_allclose(out, _triple_loop(train, val, weights), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("chunk_size", [1, 2, 3, 6, 7, 100])
def test_pairwise_influence_chunking_invariant(chunk_size):
    train, val = _random_features(seed=2)
    weights = [0.1, 0.7, 0.2]
    reference = _triple_loop(train, val, weights)
    np.testing.assert_allclose(
        pairwise_influence(train, val, weights, chunk_size=chunk_size), reference, rtol=1e-12, atol=1e-12
    )


def test_pairwise_influence_float32_and_memmap(tmp_path):
    train, val = _random_features(seed=4, dims=(8,))
    path = tmp_path / "train.npy"
    np.save(path, train[0].astype(np.float32))
    mm = np.load(path, mmap_mode="r")
    out = pairwise_influence([mm], [val[0].astype(np.float32)], [1.0], chunk_size=3)
    ref = _triple_loop([mm.astype(np.float64)], [val[0].astype(np.float32).astype(np.float64)], [1.0])
    assert out.dtype == np.float64
    np.testing.assert_allclose(out, ref, rtol=1e-12)


def test_pairwise_influence_cosine_with_normalized_features():
    # with L2-normalised features and one checkpoint of weight 1, Inf = cosine similarity in [-1, 1]
    train, val = _random_features(seed=5, dims=(4,))
    out = pairwise_influence([l2_normalize(train[0])], [l2_normalize(val[0])], [1.0])
    for a in range(7):
        for b in range(4):
            t, v = train[0][a], val[0][b]
            cos = float(t @ v) / (math.sqrt(float(t @ t)) * math.sqrt(float(v @ v)))
            assert out[a, b] == pytest.approx(cos, abs=1e-12)


def test_pairwise_influence_accepts_checkpoint_weights_array():
    train, val = _random_features(seed=6, dims=(3, 3))
    weights = checkpoint_weights([1.0, 3.0])  # np.ndarray [0.25, 0.75]
    np.testing.assert_allclose(
        pairwise_influence(train, val, weights), _triple_loop(train, val, [0.25, 0.75]), rtol=1e-12
    )


def test_pairwise_influence_errors():
    train, val = _random_features(seed=7, dims=(3, 3))
    with pytest.raises(ValueError):  # one weight for two checkpoints
        pairwise_influence(train, val, [1.0])
    with pytest.raises(ValueError):  # train/val checkpoint counts differ
        pairwise_influence(train, val[:1], [0.5, 0.5])
    with pytest.raises(ValueError):  # nothing at all
        pairwise_influence([], [], [])
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError):  # feature dim differs between train and val
        pairwise_influence([rng.normal(size=(3, 4))], [rng.normal(size=(2, 5))], [1.0])
    with pytest.raises(ValueError):  # pool size differs across checkpoints
        pairwise_influence([train[0], train[1][:5]], val, [0.5, 0.5])
    with pytest.raises(ValueError):  # validation size differs across checkpoints
        pairwise_influence(train, [val[0], val[1][:2]], [0.5, 0.5])


# ------------------------------------------------------------------------------------------ aggregate_influence

# 2 pool rows x 5 validation columns; subtasks NON-contiguous and unequal: b at cols {0, 2}, a at cols {1, 3, 4}
INFLUENCE = np.array(
    [
        [1.0, 2.0, 3.0, 4.0, 6.0],
        [10.0, -1.0, 0.0, -2.0, 0.0],
    ]
)
SUBTASKS = ["b", "a", "b", "a", "a"]
# row 0: a = (2 + 4 + 6)/3 = 4 ;  b = (1 + 3)/2 = 2  -> max 4 ; mean all = 16/5 = 3.2 ; max all = 6
# row 1: a = (-1 - 2 + 0)/3 = -1 ; b = (10 + 0)/2 = 5 -> max 5 ; mean all = 7/5 = 1.4 ; max all = 10


def test_aggregate_subtask_mean_max_hand_example():
    scores, per_subtask, names = aggregate_influence(INFLUENCE, SUBTASKS)
    assert names == ["a", "b"]
    np.testing.assert_allclose(per_subtask, [[4.0, 2.0], [-1.0, 5.0]], rtol=1e-15)
    np.testing.assert_allclose(scores, [4.0, 5.0], rtol=1e-15)
    # the official contiguous reshape (cols [0,1,2] / [3,4]) would give row 0: max(2, 5) = 5 -> we must not
    assert scores[0] != 5.0


def test_aggregate_default_is_subtask_mean_max():
    a = aggregate_influence(INFLUENCE, SUBTASKS)[0]
    b = aggregate_influence(INFLUENCE, SUBTASKS, aggregation="subtask_mean_max")[0]
    np.testing.assert_array_equal(a, b)


def test_aggregate_mean_and_max_variants():
    scores_mean, per_subtask, names = aggregate_influence(INFLUENCE, SUBTASKS, aggregation="mean")
    np.testing.assert_allclose(scores_mean, [3.2, 1.4], rtol=1e-15)
    np.testing.assert_allclose(per_subtask, [[4.0, 2.0], [-1.0, 5.0]], rtol=1e-15)  # still reported
    assert names == ["a", "b"]
    scores_max, _, _ = aggregate_influence(INFLUENCE, SUBTASKS, aggregation="max")
    np.testing.assert_allclose(scores_max, [6.0, 10.0], rtol=1e-15)


def test_aggregate_single_subtask_equals_mean():
    scores, per_subtask, names = aggregate_influence(INFLUENCE, ["x"] * 5)
    assert names == ["x"]
    np.testing.assert_allclose(scores, [3.2, 1.4], rtol=1e-15)
    np.testing.assert_allclose(per_subtask[:, 0], [3.2, 1.4], rtol=1e-15)


def test_aggregate_matches_loop_reference_random():
    rng = np.random.default_rng(8)
    infl = rng.normal(size=(6, 11))
    ids = [str(v) for v in rng.choice(["mmlu", "bbh", "tydiqa"], size=11)]
    scores, per_subtask, names = aggregate_influence(infl, ids)
    ref_names = sorted(set(ids))
    assert names == ref_names
    for i in range(6):
        means = []
        for name in ref_names:
            cols = [j for j in range(11) if ids[j] == name]
            means.append(sum(infl[i, j] for j in cols) / len(cols))
        np.testing.assert_allclose(per_subtask[i], means, rtol=1e-12)
        assert scores[i] == pytest.approx(max(means), rel=1e-12)


def test_aggregate_errors():
    with pytest.raises(ValueError):  # no validation columns
        aggregate_influence(np.zeros((2, 0)), [])
    with pytest.raises(ValueError):  # length mismatch
        aggregate_influence(INFLUENCE, SUBTASKS[:4])
    with pytest.raises(ValueError):  # not 2-D
        aggregate_influence(np.zeros(5), SUBTASKS)
    with pytest.raises(ValueError):
        aggregate_influence(INFLUENCE, SUBTASKS, aggregation="median")


# --------------------------------------------------------------------------- per-target aggregation, checkpoint order

from data_selection.core.less import ordered_checkpoint_weights, target_columns  # noqa: E402

# pool x validation influence by hand; validation columns: mmlu/astronomy x2, mmlu/virology, bbh/date x2
TWO_TASK_TASKS = ["mmlu", "mmlu", "mmlu", "bbh", "bbh"]
TWO_TASK_SUBTASKS = ["mmlu/astronomy", "mmlu/astronomy", "mmlu/virology", "bbh/date", "bbh/date"]
TWO_TASK_INFLUENCE = np.array(
    [
        [1.0, 3.0, 0.0, 10.0, 10.0],  # mmlu: max(mean(1,3)=2, 0) = 2 ; bbh: 10 ; joint: max(2, 0, 10) = 10
        [4.0, 4.0, 5.0, 0.0, 2.0],  # mmlu: max(4, 5) = 5          ; bbh: 1  ; joint: 5
        [0.0, 2.0, 1.0, 3.0, 3.0],  # mmlu: max(1, 1) = 1          ; bbh: 3  ; joint: 3
    ]
)
TWO_TASK_EXPECTED = {"mmlu": [2.0, 5.0, 1.0], "bbh": [10.0, 1.0, 3.0], "joint": [10.0, 5.0, 3.0]}


@pytest.mark.parametrize("target", ["mmlu", "bbh", "joint"])
def test_per_task_aggregation_on_a_two_task_matrix(target):
    columns = target_columns(TWO_TASK_TASKS, target)
    scores, _, names = aggregate_influence(
        TWO_TASK_INFLUENCE[:, columns], [TWO_TASK_SUBTASKS[i] for i in columns], "subtask_mean_max"
    )
    np.testing.assert_allclose(scores, TWO_TASK_EXPECTED[target])
    assert all(n.startswith(target) for n in names) or target == "joint"


def test_target_columns_by_hand():
    assert target_columns(TWO_TASK_TASKS, "mmlu").tolist() == [0, 1, 2]
    assert target_columns(TWO_TASK_TASKS, "bbh").tolist() == [3, 4]
    assert target_columns(TWO_TASK_TASKS, "joint").tolist() == [0, 1, 2, 3, 4]
    with pytest.raises(ValueError, match="'bbh' has no validation questions"):
        target_columns(["mmlu", "mmlu"], "bbh")
    with pytest.raises(ValueError, match="target_task must be one of"):
        target_columns(TWO_TASK_TASKS, "tydiqa")


# twelve checkpoints whose mean learning rates are distinct and not monotone in the epoch
TWELVE_LRS = {e: lr for e, lr in zip(range(1, 13), [3.0, 1.0, 4.0, 1.5, 5.0, 9.0, 2.0, 6.0, 5.5, 3.5, 8.0, 7.0])}


def test_ordered_checkpoint_weights_twelve_checkpoints():
    names = [f"epoch_{e}" for e in (7, 12, 1, 10, 3, 2, 11, 5, 9, 4, 8, 6)]  # any insertion order
    metas = {n: {"epoch": int(n.split("_")[1]), "mean_lr": TWELVE_LRS[int(n.split("_")[1])]} for n in names}
    ordered, weights = ordered_checkpoint_weights(metas)
    assert ordered == [f"epoch_{e}" for e in range(1, 13)]  # numeric, not text order (epoch_10 < epoch_2)
    total = sum(TWELVE_LRS.values())
    np.testing.assert_allclose(weights, [TWELVE_LRS[e] / total for e in range(1, 13)])


@pytest.mark.parametrize(
    ("metas", "message"),
    [
        ({}, "no warmup checkpoints"),
        ({"a": {"epoch": 1}}, "no recorded 'epoch' and 'mean_lr'"),
        ({"a": {"epoch": 1, "mean_lr": 1.0}, "b": {"epoch": 1, "mean_lr": 2.0}}, "same epoch"),
        ({"a": {"epoch": 1.5, "mean_lr": 1.0}}, "integer"),
        ({"a": {"epoch": 1, "mean_lr": -1.0}}, ">= 0"),
    ],
)
def test_ordered_checkpoint_weights_rejects_bad_records(metas, message):
    with pytest.raises(ValueError, match=message):
        ordered_checkpoint_weights(metas)
