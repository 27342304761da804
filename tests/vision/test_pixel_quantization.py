"""DQ's pixel stage with a tiny randomly initialised ViT-MAE and CNN: shapes, masking ratio, kept pixels untouched,
determinism, storage saved."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from data_selection.vision.pixel_quantization import drop_mask, patch_saliency, reconstruct, storage_saved_bytes


@pytest.fixture(scope="module")
def mae():
    from transformers import ViTMAEConfig, ViTMAEForPreTraining

    torch.manual_seed(0)
    config = ViTMAEConfig(image_size=32, patch_size=8, num_channels=3, hidden_size=32, num_hidden_layers=1,
                          num_attention_heads=2, intermediate_size=64, decoder_hidden_size=32,
                          decoder_num_hidden_layers=1, decoder_num_attention_heads=2, decoder_intermediate_size=64,
                          mask_ratio=0.75, norm_pix_loss=False)
    return ViTMAEForPreTraining(config).eval()


@pytest.fixture(scope="module")
def cnn():
    torch.manual_seed(1)
    return torch.nn.Sequential(
        torch.nn.Conv2d(3, 4, 3, padding=1), torch.nn.ReLU(), torch.nn.Conv2d(4, 4, 3, padding=1), torch.nn.ReLU(),
        torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(4, 3),
    ).eval()


def test_drop_mask_drops_the_least_salient_with_index_ties():
    saliency = torch.tensor([[0.9, 0.1, 0.5, 0.1, 0.7], [1.0, 1.0, 1.0, 1.0, 1.0]])
    mask = drop_mask(saliency, 0.4)  # keep int(5 * 0.6) = 3
    assert mask.tolist() == [[False, True, False, True, False], [False, False, False, True, True]]
    with pytest.raises(ValueError, match="mask_ratio"):
        drop_mask(saliency, 1.0)


@pytest.mark.parametrize("mask_ratio", [0.2, 0.5, 0.0])
def test_pixel_stage_shapes_ratio_kept_pixels_and_determinism(mae, cnn, mask_ratio):
    images = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(2))
    saliency = patch_saliency(cnn, cnn[2], images, patch_size=8)
    assert saliency.shape == (2, 16) and (saliency >= 0).all() and (saliency <= 1 + 1e-6).all()
    mask = drop_mask(saliency, mask_ratio)
    assert (mask.sum(dim=1) == 16 - int(16 * (1 - mask_ratio))).all()
    before = images.clone()
    out = reconstruct(mae, images, mask)
    assert torch.equal(images, before) and out.shape == images.shape
    pixel = mask.reshape(2, 4, 4).repeat_interleave(8, 1).repeat_interleave(8, 2)[:, None].expand_as(images)
    assert torch.equal(out[~pixel], images[~pixel])  # kept patches untouched
    if mask.any():
        assert not torch.allclose(out[pixel], images[pixel])  # dropped ones regenerated
    assert torch.equal(out, reconstruct(mae, images, mask))  # deterministic
    assert torch.equal(saliency, patch_saliency(cnn, cnn[2], images, patch_size=8))
    assert storage_saved_bytes(mask, 8) == int(mask.sum()) * 8 * 8 * 3


def test_reconstruct_rejects_uneven_masks(mae):
    mask = torch.zeros(2, 16, dtype=torch.bool)
    mask[0, 0] = True
    with pytest.raises(ValueError, match="same number"):
        reconstruct(mae, torch.zeros(2, 3, 32, 32), mask)


def test_quantize_images_at_native_size_keeps_every_kept_byte(mae):
    from data_selection.vision.pixel_quantization import NormalisedClassifier, quantize_images

    torch.manual_seed(3)
    grey_cnn = torch.nn.Sequential(
        torch.nn.Conv2d(1, 4, 3, padding=1), torch.nn.ReLU(), torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(),
        torch.nn.Linear(4, 3),
    ).eval()
    classifier = NormalisedClassifier(grey_cnn, mean=[0.3], std=[0.3])
    rng = np.random.default_rng(4)
    images = rng.integers(0, 256, size=(3, 28, 28, 1), dtype=np.uint8)  # Fashion-MNIST shape; the MAE is 32x32 RGB
    before = images.copy()
    out, saved = quantize_images(classifier, images, mae, 0.25, mae_mean=[0.5] * 3, mae_std=[0.25] * 3)
    assert np.array_equal(images, before) and out.dtype == np.uint8 and out.shape == images.shape
    changed = out != images
    # 16 MAE patches, int(16 * 0.75) = 12 kept -> 4 dropped, each covering a 7x7 block of the 28x28 image
    assert saved.tolist() == [4 * 7 * 7] * 3
    assert changed.reshape(3, -1).sum(1).max() <= 4 * 7 * 7 and changed.any()
    # changed pixels lie in whole dropped 7x7 blocks: at most 4 blocks per image contain any change
    blocks = changed[..., 0].reshape(3, 4, 7, 4, 7).any(axis=(2, 4))
    assert (blocks.sum(axis=(1, 2)) <= 4).all()
    again, _ = quantize_images(classifier, images, mae, 0.25, mae_mean=[0.5] * 3, mae_std=[0.25] * 3)
    assert np.array_equal(out, again)  # deterministic
    with pytest.raises(ValueError, match="uint8"):
        quantize_images(classifier, images.astype(np.float32), mae, 0.25, [0.5] * 3, [0.25] * 3)
