"""Tests for data_selection.vision.distill: the DM objective, its optimisation and the distilled-set validator."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from data_selection.vision.distill import (
    distribution_matching,
    dm_loss,
    load_distilled_npz,
    pixels_to_tensor,
    tensor_to_pixels,
    validate_distilled,
)


def tiny_embed() -> nn.Module:
    return nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.AvgPool2d(2), nn.Flatten())


def toy_problem(n_per_class=40, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(2 * n_per_class, 1, 8, 8, generator=g) * 0.5
    y = torch.arange(2).repeat_interleave(n_per_class)
    x[y == 1, :, :4, :] += 1.5  # class 1: a bright top half
    return x, y


def test_dm_loss_identity_embedding_hand_computation():
    real = [torch.tensor([[1.0, 2.0], [3.0, 4.0]]), torch.tensor([[0.0, 0.0]])]
    syn = [torch.tensor([[1.0, 1.0]]), torch.tensor([[1.0, -1.0], [1.0, 1.0]])]
    # class 0: mean real (2, 3) vs (1, 1): 1 + 4 = 5; class 1: (0, 0) vs (1, 0): 1 -> 6
    assert dm_loss(nn.Identity(), real, syn).item() == pytest.approx(6.0)


def _fixed_eval_loss(images, labels, x, y, nets=20):
    torch.manual_seed(123)
    embeds = [tiny_embed() for _ in range(nets)]
    real = [x[y == c] for c in range(2)]
    syn = [images[labels == c] for c in range(2)]
    with torch.no_grad():
        return float(np.mean([dm_loss(e, real, syn).item() for e in embeds]))


def test_distribution_matching_reduces_the_loss_on_a_toy_problem():
    x, y = toy_problem()
    out = distribution_matching(x, y, 2, tiny_embed, iterations=30, batch_real=16, init="noise", seed=0,
                                progress=False)
    assert out.images.shape == (4, 1, 8, 8) and out.labels.tolist() == [0, 0, 1, 1]
    start = distribution_matching(x, y, 2, tiny_embed, iterations=1, batch_real=16, lr=1e-12, init="noise", seed=0,
                                  progress=False)
    before = _fixed_eval_loss(start.images, start.labels, x, y)
    after = _fixed_eval_loss(out.images, out.labels, x, y)
    assert after < 0.05 * before  # measured on 20 held-out random networks, not the training ones
    # the class-1 synthetic images learn the bright top half
    assert out.images[2:, :, :4].mean() - out.images[2:, :, 4:].mean() > 1.0  # the real gap is 1.5


def test_distribution_matching_is_deterministic_and_leaves_global_rng_alone():
    x, y = toy_problem()
    torch.manual_seed(7)
    state = torch.random.get_rng_state()
    a = distribution_matching(x, y, 2, tiny_embed, iterations=5, batch_real=8, seed=3, progress=False)
    assert torch.equal(torch.random.get_rng_state(), state)
    b = distribution_matching(x, y, 2, tiny_embed, iterations=5, batch_real=8, seed=3, progress=False)
    c = distribution_matching(x, y, 2, tiny_embed, iterations=5, batch_real=8, seed=4, progress=False)
    assert torch.equal(a.images, b.images) and a.losses == b.losses
    assert not torch.equal(a.images, c.images)


def test_init_real_starts_from_real_images_of_each_class():
    x, y = toy_problem()
    out = distribution_matching(x, y, 3, tiny_embed, iterations=1, batch_real=4, lr=1e-12, seed=0, progress=False)
    for i, label in enumerate(out.labels.tolist()):
        distances = (x[y == label] - out.images[i]).flatten(1).abs().amax(1)
        assert distances.min() < 1e-6


def test_distribution_matching_rejects_bad_input():
    x, y = toy_problem(n_per_class=2)
    with pytest.raises(ValueError, match="needs 3 real images"):
        distribution_matching(x, y, 3, tiny_embed, iterations=1, progress=False)
    with pytest.raises(ValueError, match="labels must have shape"):
        distribution_matching(x, y[:3], 1, tiny_embed, iterations=1, progress=False)
    with pytest.raises(ValueError, match="iterations"):
        distribution_matching(x, y, 1, tiny_embed, iterations=0, progress=False)


def test_validate_distilled_accepts_and_converts():
    arrays = {"images": np.zeros((4, 8, 8, 1), np.uint8), "labels": np.array([0, 1, 2, 2], np.int32)}
    out = validate_distilled(arrays, (8, 8, 1), 3)
    assert out["images"].dtype == np.float32 and out["labels"].dtype == np.int64
    assert arrays["labels"].dtype == np.int32  # input untouched


@pytest.mark.parametrize(
    ("arrays", "message"),
    [
        ({"images": np.zeros((2, 8, 8, 1))}, "missing arrays"),
        ({"images": np.zeros((2, 8, 8, 3)), "labels": np.zeros(2, int)}, "expected \\(M, 8, 8, 1\\)"),
        ({"images": np.zeros((2, 1, 8, 8)), "labels": np.zeros(2, int)}, "channels last"),
        ({"images": np.zeros((2, 8, 8, 1)), "labels": np.array([0, 3])}, "classes 0..2"),
        ({"images": np.zeros((2, 8, 8, 1)), "labels": np.array([0, -1])}, "classes 0..2"),
        ({"images": np.zeros((2, 8, 8, 1)), "labels": np.array([0.5, 1.0])}, "integers"),
        ({"images": np.zeros((2, 8, 8, 1)), "labels": np.zeros(3, int)}, "one per image"),
        ({"images": np.full((1, 8, 8, 1), np.nan), "labels": np.zeros(1, int)}, "NaN"),
        ({"images": np.full((1, 8, 8, 1), 200.0), "labels": np.zeros(1, int)}, "\\[0, 1\\] scale"),
    ],
)
def test_validate_distilled_rejects(arrays, message):
    with pytest.raises(ValueError, match=message):
        validate_distilled(arrays, (8, 8, 1), 3)


def test_load_distilled_npz(tmp_path):
    path = tmp_path / "d.npz"
    np.savez(path, images=np.full((2, 8, 8, 1), 7, np.uint8), labels=np.array([1, 0]))
    out = load_distilled_npz(path, (8, 8, 1), 2)
    assert out["images"].max() == pytest.approx(7 / 255) and out["labels"].tolist() == [1, 0]
    with pytest.raises(ValueError, match="classes 0..0"):
        load_distilled_npz(path, (8, 8, 1), 1)
    (tmp_path / "bad.npz").write_text("not a zip")
    with pytest.raises(ValueError, match="readable"):
        load_distilled_npz(tmp_path / "bad.npz", (8, 8, 1), 2)
    with pytest.raises(FileNotFoundError):
        load_distilled_npz(tmp_path / "none.npz", (8, 8, 1), 2)


def test_pixel_round_trip():
    pixels = np.random.default_rng(0).integers(0, 256, (3, 4, 4, 3)).astype(np.uint8)
    mean, std = (0.5, 0.4, 0.3), (0.2, 0.25, 0.3)
    t = pixels_to_tensor(pixels, mean, std)
    assert t.shape == (3, 3, 4, 4)
    assert t[1, 2, 3, 0].item() == pytest.approx((pixels[1, 3, 0, 2] / 255 - 0.3) / 0.3, rel=1e-5)
    np.testing.assert_allclose(tensor_to_pixels(t, mean, std), pixels, atol=1e-3)
