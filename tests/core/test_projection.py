"""Tests for data_selection.core.projection: seeded JL projectors."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from data_selection.core.projection import (
    RademacherProjector,
    SparseJLProjector,
    jl_tolerance,
    make_projector,
)

KINDS = ["rademacher", "sparse_jl"]


def _basis(input_dim: int, indices) -> torch.Tensor:
    """Rows e_i for i in indices, shape (len(indices), input_dim)."""
    e = torch.zeros(len(indices), input_dim)
    for r, i in enumerate(indices):
        e[r, i] = 1.0
    return e


# ------------------------------------------------------------------------------------------------ jl_tolerance


def test_jl_tolerance_hand_values():
    # δ = 2/e -> ln(2/δ) = 1 ; d = 8 -> ε = sqrt(8 * 1 / 8) = 1
    assert jl_tolerance(8, 2 / math.e) == pytest.approx(1.0, rel=1e-12)
    # δ = 2/e² -> ln(2/δ) = 2 ; d = 64 -> ε = sqrt(16 / 64) = 0.5
    assert jl_tolerance(64, 2 / math.e**2) == pytest.approx(0.5, rel=1e-12)
    # d = 2048, δ = 1e-3: ln(2000) = 7.6009025 ; 8 * 7.6009025 / 2048 = 0.0296910 ; sqrt -> 0.1723108
    assert jl_tolerance(2048, 1e-3) == pytest.approx(0.1723108, rel=1e-6)
    # default δ is 1e-3
    assert jl_tolerance(2048) == jl_tolerance(2048, 1e-3)


def test_jl_tolerance_scaling():
    # ε ∝ 1/sqrt(d): quadrupling d halves ε ; smaller δ -> larger ε
    assert jl_tolerance(4096, 0.01) == pytest.approx(jl_tolerance(1024, 0.01) / 2, rel=1e-12)
    assert jl_tolerance(1024, 1e-6) > jl_tolerance(1024, 1e-3)


# ------------------------------------------------------------------------------------------------ determinism


@pytest.mark.parametrize("kind", KINDS)
def test_same_seed_same_projection(kind):
    x = torch.from_numpy(np.random.default_rng(0).normal(size=(3, 500))).float()
    a = make_projector(kind, 500, 64, seed=11).project(x)
    b = make_projector(kind, 500, 64, seed=11).project(x)
    assert torch.equal(a, b)


@pytest.mark.parametrize("kind", KINDS)
def test_different_seed_different_matrix(kind):
    eye = torch.eye(200)
    a = make_projector(kind, 200, 64, seed=0).project(eye)
    b = make_projector(kind, 200, 64, seed=1).project(eye)
    assert not torch.equal(a, b)
    # and not just a sign flip or a permutation of the same columns
    assert not torch.equal(a, -b)
    assert (a != b).float().mean().item() > 0.1


def test_rademacher_same_block_size_identical():
    x = torch.from_numpy(np.random.default_rng(1).normal(size=(4, 300))).float()
    a = RademacherProjector(300, 32, seed=3, block_size=64).project(x)
    b = RademacherProjector(300, 32, seed=3, block_size=64).project(x)
    assert torch.equal(a, b)


def test_make_projector_dispatch_and_options():
    p = make_projector("sparse_jl", 100, 16, seed=5, nonzeros_per_column=2)
    assert isinstance(p, SparseJLProjector)
    assert (p.input_dim, p.output_dim, p.seed, p.nonzeros_per_column) == (100, 16, 5, 2)
    q = make_projector("rademacher", 100, 16, seed=5, block_size=7)
    assert isinstance(q, RademacherProjector)
    assert (q.input_dim, q.output_dim, q.seed, q.block_size) == (100, 16, 5, 7)
    x = torch.randn(2, 100, generator=torch.Generator().manual_seed(0))
    assert torch.equal(p.project(x), SparseJLProjector(100, 16, 5, nonzeros_per_column=2).project(x))
    assert torch.equal(q.project(x), RademacherProjector(100, 16, 5, block_size=7).project(x))
    with pytest.raises(ValueError):
        make_projector("gaussian", 100, 16)


# --------------------------------------------------------------------------------------------- shape handling


@pytest.mark.parametrize("kind", KINDS)
def test_project_shape_and_dtype(kind):
    p = make_projector(kind, 50, 8, seed=0)
    out = p.project(torch.randn(5, 50, dtype=torch.float64))
    assert out.shape == (5, 8)
    assert out.dtype == torch.float32


@pytest.mark.parametrize("kind", KINDS)
def test_project_float64_input_equals_float32_input(kind):
    p = make_projector(kind, 50, 8, seed=0)
    x = torch.randn(3, 50, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    assert torch.equal(p.project(x), p.project(x.float()))


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("shape", [(50,), (2, 49), (2, 51), (1, 2, 50)])
def test_project_wrong_shape_raises(kind, shape):
    p = make_projector(kind, 50, 8, seed=0)
    with pytest.raises(ValueError):
        p.project(torch.zeros(shape))


@pytest.mark.parametrize(("input_dim", "output_dim"), [(0, 8), (8, 0), (-1, 8)])
def test_constructor_rejects_nonpositive_dims(input_dim, output_dim):
    with pytest.raises(ValueError):
        RademacherProjector(input_dim, output_dim)
    with pytest.raises(ValueError):
        SparseJLProjector(input_dim, output_dim)


def test_sparse_rejects_nonpositive_nonzeros():
    with pytest.raises(ValueError):
        SparseJLProjector(10, 4, nonzeros_per_column=0)


def test_rademacher_rejects_negative_block_size():
    with pytest.raises(ValueError):
        RademacherProjector(10, 4, block_size=-1).project(torch.ones(1, 10))


# -------------------------------------------------------------------------------------------- matrix structure


def test_rademacher_entries_exactly_pm_one_over_sqrt_d():
    d = 64
    # block_size 16 -> rows 0..15 block 0, 16..31 block 1, 48..49 block 3 (a short last block)
    p = RademacherProjector(50, d, seed=0, block_size=16)
    idx = [0, 7, 15, 16, 31, 48, 49]
    rows = p.project(_basis(50, idx))  # row r = row idx[r] of R (e_i @ R)
    magnitude = torch.tensor(1.0 / math.sqrt(d), dtype=torch.float32).item()  # 0.125 for d = 64
    assert magnitude == 0.125
    assert torch.all(rows.abs() == magnitude)
    # both signs occur, about half each: 7*64 = 448 entries, Binomial(448, 1/2) sd ≈ 10.6
    positives = int((rows > 0).sum())
    assert 224 - 64 <= positives <= 224 + 64


def test_rademacher_entries_non_power_of_two_d():
    d = 100
    p = RademacherProjector(30, d, seed=4, block_size=8)
    rows = p.project(_basis(30, [0, 9, 29]))
    np.testing.assert_allclose(rows.abs().numpy(), np.full((3, d), 0.1), rtol=1e-7)  # 1/sqrt(100) = 0.1
    assert len(torch.unique(rows.abs())) == 1


def test_rademacher_blocks_are_not_repeated():
    # if the block seed ignored the block index, row i and row i + block_size would coincide
    p = RademacherProjector(64, 32, seed=0, block_size=16)
    R = p.project(torch.eye(64))
    for i in range(16):
        assert not torch.equal(R[i], R[i + 16])
    # and all 64 rows are distinct (P(two random ±1 rows of length 32 coincide) = 2^-32)
    assert len({tuple(r.tolist()) for r in R}) == 64


def test_rademacher_project_equals_matrix_product():
    # project(x) must be x @ R with R = project(I), checked with a plain Python loop for one row
    D, d = 40, 12
    p = RademacherProjector(D, d, seed=2, block_size=9)
    R = p.project(torch.eye(D)).double()
    x = torch.randn(2, D, generator=torch.Generator().manual_seed(5))
    out = p.project(x)
    for b in range(2):
        for j in range(d):
            ref = sum(float(x[b, i]) * float(R[i, j]) for i in range(D))
            assert out[b, j].item() == pytest.approx(ref, abs=1e-5)


@pytest.mark.parametrize("kind", KINDS)
def test_linearity(kind):
    D, d = 3000, 256
    p = make_projector(kind, D, d, seed=9)
    rng = np.random.default_rng(6)
    x = torch.from_numpy(rng.normal(size=(1, D))).float()
    y = torch.from_numpy(rng.normal(size=(1, D))).float()
    lhs = p.project(2.0 * x - 3.0 * y)
    rhs = 2.0 * p.project(x) - 3.0 * p.project(y)
    np.testing.assert_allclose(lhs.numpy(), rhs.numpy(), atol=1e-3, rtol=1e-4)
    # batching rows does not change the result
    both = p.project(torch.cat([x, y]))
    np.testing.assert_allclose(both[0].numpy(), p.project(x)[0].numpy(), atol=1e-5)
    np.testing.assert_allclose(both[1].numpy(), p.project(y)[0].numpy(), atol=1e-5)
    # zero maps to zero
    assert torch.all(p.project(torch.zeros(1, D)) == 0)


@pytest.mark.parametrize("s", [1, 2, 4])
def test_sparse_jl_columns(s):
    D, d = 400, 2048
    p = SparseJLProjector(D, d, seed=1, nonzeros_per_column=s)
    cols = p.project(torch.eye(D))  # row j = column j of the (d, D) matrix
    entry = 1.0 / math.sqrt(s)  # 1, 0.7071..., 0.5
    n_clean = 0
    for j in range(D):
        nz = cols[j][cols[j] != 0]
        assert len(nz) <= s  # never more than s nonzero rows (a collision can cancel or merge entries)
        if len(nz) == s:  # no collision inside column j
            n_clean += 1
            np.testing.assert_allclose(nz.abs().numpy(), np.full(s, entry), rtol=1e-6)
            # ||column||² = s * (1/sqrt(s))² = 1
            assert float((cols[j].double() ** 2).sum()) == pytest.approx(1.0, abs=1e-6)
    # collisions are rare: P(collision in a column) <= C(s,2)/d <= 6/2048 -> expect >= ~398 clean columns
    assert n_clean >= D - 10
    if s == 1:
        assert n_clean == D  # CountSketch: exactly one ±1 per column
    # both signs, roughly balanced
    positives = int((cols > 0).sum())
    total = int((cols != 0).sum())
    assert 0.4 * total <= positives <= 0.6 * total


def test_sparse_jl_uses_all_output_rows():
    # s = 1, D = 2000 into d = 64: each output row is hit ~31 times; P(some row never hit) ≈ 64 e^-31
    p = SparseJLProjector(2000, 64, seed=0, nonzeros_per_column=1)
    cols = p.project(torch.eye(2000))
    hits = (cols != 0).sum(dim=0)
    assert torch.all(hits > 0)
    assert int(hits.sum()) == 2000


# ------------------------------------------------------------------------------------- JL / unbiasedness checks


@pytest.mark.parametrize("kind", KINDS)
def test_jl_inner_products_and_norms(kind):
    D, d, n_pairs = 20_000, 2048, 50
    rng = np.random.default_rng(2024)
    x = rng.normal(size=(n_pairs, D))
    z = rng.normal(size=(n_pairs, D))
    # correlated pairs, correlation from -0.9 to 0.9, so that <x, y> is not ~0 for every pair
    rho = np.linspace(-0.9, 0.9, n_pairs)[:, None]
    y = rho * x + np.sqrt(1 - rho**2) * z
    p = make_projector(kind, D, d, seed=0)
    proj = p.project(torch.from_numpy(np.concatenate([x, y])).float()).double().numpy()
    px, py = proj[:n_pairs], proj[n_pairs:]
    eps = jl_tolerance(d, 1e-3)  # ≈ 0.1723
    for i in range(n_pairs):
        exact = float(np.dot(x[i], y[i]))
        nx, ny = float(np.linalg.norm(x[i])), float(np.linalg.norm(y[i]))
        approx = float(np.dot(px[i], py[i]))
        assert abs(approx - exact) <= eps * nx * ny, (i, approx, exact)
        assert abs(float(np.dot(px[i], px[i])) - nx**2) <= eps * nx**2
        assert abs(float(np.dot(py[i], py[i])) - ny**2) <= eps * ny**2
    # the projected inner products track the true ones: correlation over the 50 pairs close to 1
    exact_all = np.einsum("ij,ij->i", x, y)
    approx_all = np.einsum("ij,ij->i", px, py)
    assert np.corrcoef(exact_all, approx_all)[0, 1] > 0.99


@pytest.mark.parametrize("kind", KINDS)
def test_unbiased_over_seeds(kind):
    # E_seed <Px, Py> = <x, y>. Var ≈ (|x|²|y|² + <x,y>²)/d per seed; average over 300 seeds.
    D, d, n_seeds = 64, 16, 300
    rng = np.random.default_rng(7)
    x = rng.normal(size=D)
    y = 0.6 * x + 0.8 * rng.normal(size=D)
    xy = torch.from_numpy(np.stack([x, y])).float()
    estimates = []
    for seed in range(n_seeds):
        out = make_projector(kind, D, d, seed=seed).project(xy).double()
        estimates.append(float(out[0] @ out[1]))
    exact = float(x @ y)
    sd_single = math.sqrt((float(x @ x) * float(y @ y) + exact**2) / d)
    sd_mean = sd_single / math.sqrt(n_seeds)
    assert abs(np.mean(estimates) - exact) <= 5 * sd_mean
    # the spread is of the predicted order (a wrong scale, e.g. 1/d instead of 1/sqrt(d), would break this)
    assert 0.5 * sd_single <= np.std(estimates) <= 1.5 * sd_single


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_rademacher_on_cuda():
    p = RademacherProjector(300, 64, seed=0, block_size=128, device="cuda")
    rows = p.project(_basis(300, [0, 150, 299]))
    assert rows.device.type == "cuda"
    assert torch.all(rows.abs() == 0.125)
    x = torch.randn(2, 300, generator=torch.Generator().manual_seed(0))
    assert torch.equal(p.project(x), RademacherProjector(300, 64, 0, 128, "cuda").project(x))
