"""DQ's pixel quantization (Zhou et al., ICCV 2023, Sec. 3.3; official ``quantize_pixel.py``): keep the most
GradCAM-salient patches of each image, drop the rest and let a masked autoencoder regenerate them.

No Kedro and nothing from ``data_selection.core``: ``grad-cam`` (``pytorch_grad_cam``) for the saliency and
transformers' ``ViTMAEForPreTraining`` for the reconstruction (a user supplies pretrained MAE weights by folder or
hub id; tests use a tiny randomly initialised one).

Steps for a batch of normalised images x (B, C, H, W), patch size p, L = (H/p)(W/p) patches:

1. :func:`patch_saliency`: GradCAM++ of a classifier for its own argmax class (official: ``torchcam``'s GradCAM++ on an
   ImageNet ResNet-18), averaged over every p x p patch -> (B, L). (Official: the CAM resized to the patch grid.)
2. :func:`drop_mask`: keep the ``int(L (1 - mask_ratio))`` most salient patches (the MAE's own ``len_keep``), drop
   the others (True = dropped); ties go to the lower patch index.
3. :func:`reconstruct`: the MAE encodes the kept patches only (its masking is driven by the saliency ranking instead
   of random noise), decodes all L, and the output is x where kept, the reconstruction where dropped:
   out = x (1 - m) + recon m.
4. :func:`storage_saved_bytes`: the dropped patches' bytes (uint8 pixels), the storage a quantized set saves.
"""

from __future__ import annotations

import numpy as np
import torch


def patch_saliency(
    classifier: torch.nn.Module, target_layer: torch.nn.Module, images: torch.Tensor, patch_size: int,
    output_size: tuple[int, int] | None = None,
) -> torch.Tensor:
    """GradCAM++ saliency per patch for the classifier's own predicted class.

    Args:
        classifier: image classifier (B, C, H, W) -> (B, classes); put in eval mode by grad-cam.
        target_layer: the convolution layer whose activations and gradients make the CAM (e.g. ``layer4[-1]``).
        images: float (B, C, H, W), H and W multiples of ``patch_size`` (or any size with ``output_size``).
        patch_size: p.
        output_size: the CAM is first resized (bilinear) to this (H', W'), e.g. the MAE's input size when the
            classifier sees the images at their native size (official: the CAM resized to the MAE's patch grid).

    Returns:
        float32 (B, L) mean CAM value (in [0, 1], grad-cam's per-image scaling) of each p x p patch, row-major.

    Raises:
        ValueError: H or W not a multiple of ``patch_size``, or images not 4-D.
    """
    from pytorch_grad_cam import GradCAMPlusPlus

    if images.ndim != 4:
        raise ValueError(f"images must be (B, C, H, W), got shape {tuple(images.shape)}")
    height, width = output_size if output_size is not None else images.shape[-2:]
    if height % patch_size or width % patch_size:
        raise ValueError(f"image size {height}x{width} is not a multiple of the patch size {patch_size}")
    with GradCAMPlusPlus(model=classifier, target_layers=[target_layer]) as cam:
        maps = cam(input_tensor=images, targets=None)  # (B, H, W) numpy, targets None = the argmax class
    maps = torch.from_numpy(np.ascontiguousarray(maps, dtype=np.float32))
    if tuple(maps.shape[-2:]) != (height, width):
        maps = torch.nn.functional.interpolate(maps[:, None], size=(height, width), mode="bilinear", align_corners=False)[:, 0]
    pooled = torch.nn.functional.avg_pool2d(maps[:, None], kernel_size=patch_size)  # (B, 1, H/p, W/p)
    return pooled.flatten(1)


def drop_mask(saliency: torch.Tensor, mask_ratio: float) -> torch.Tensor:
    """True for the patches to drop: all but the ``int(L (1 - mask_ratio))`` most salient, per image.

    Ties: at equal saliency the lower patch index is kept (a stable sort).

    Raises:
        ValueError: ``mask_ratio`` outside [0, 1), or saliency with NaN.
    """
    if not 0.0 <= float(mask_ratio) < 1.0:
        raise ValueError(f"mask_ratio must be in [0, 1), got {mask_ratio!r}")
    if torch.isnan(saliency).any():
        raise ValueError("saliency has NaN values")
    batch, length = saliency.shape
    keep = int(length * (1 - float(mask_ratio)))
    order = torch.sort(-saliency, dim=1, stable=True).indices  # most salient first, ties by index
    mask = torch.ones(batch, length, dtype=torch.bool)
    mask.scatter_(1, order[:, :keep], False)
    return mask


def reconstruct(mae, images: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Regenerate the dropped patches with a ViT-MAE, keep the others as they are.

    Args:
        mae: ``transformers.ViTMAEForPreTraining`` (eval mode; ``config.norm_pix_loss`` False, as the official
            visualisation checkpoint, so its outputs are pixels in the input's normalisation).
        images: float (B, C, H, W) in the MAE's input normalisation, H = W = ``config.image_size``.
        mask: bool (B, L) from :func:`drop_mask` (True = dropped), the same count of True in every row.

    Returns:
        float (B, C, H, W): ``images`` where kept, the MAE's reconstruction where dropped.

    Raises:
        ValueError: a mask of the wrong length, rows with different drop counts, or an MAE with norm_pix_loss.
    """
    config = mae.config
    length = (config.image_size // config.patch_size) ** 2
    if mask.shape != (images.shape[0], length):
        raise ValueError(f"mask must have shape {(images.shape[0], length)}, got {tuple(mask.shape)}")
    dropped = mask.sum(dim=1)
    if (dropped != dropped[0]).any():
        raise ValueError("every image must drop the same number of patches (the MAE encodes a fixed count)")
    if config.norm_pix_loss:
        raise ValueError("an MAE trained with norm_pix_loss predicts normalised patches, not pixels; use one without")
    original = config.mask_ratio
    # the MAE keeps int(L (1 - mask_ratio)) patches with the lowest noise: noise = the drop mask + a rank tie-break
    noise = mask.float() + torch.arange(length, dtype=torch.float32)[None] / (10.0 * length)
    try:
        # len_keep = int(L (1 - ratio)) must be exactly L - dropped: half a patch below the exact ratio survives int()
        config.mask_ratio = (float(dropped[0]) - 0.5) / length
        with torch.no_grad():
            out = mae(pixel_values=images, noise=noise)
    finally:
        config.mask_ratio = original
    if not torch.equal(out.mask.bool(), mask):
        raise RuntimeError("the MAE masked other patches than requested")
    recon = mae.unpatchify(out.logits)
    pixel_mask = mask.float().reshape(images.shape[0], config.image_size // config.patch_size, -1)
    pixel_mask = pixel_mask.repeat_interleave(config.patch_size, 1).repeat_interleave(config.patch_size, 2)[:, None]
    return images * (1 - pixel_mask) + recon * pixel_mask


def storage_saved_bytes(mask: torch.Tensor, patch_size: int, channels: int = 3) -> int:
    """Bytes of uint8 pixels not stored: dropped patches x p x p x channels (the paper's storage saving; the official
    code writes the reconstructed images back at full size, so its savings are notional)."""
    return int(mask.sum()) * patch_size * patch_size * channels


class NormalisedClassifier(torch.nn.Module):
    """A classifier that takes float images in [0, 1] (B, C, H, W) and applies its own input transform first:
    ``(x * scale - mean) / std`` (the image track's ConvNet: scale 1 and the pool's mean/std; the Keras CIFAR-10
    CNN: scale 255, mean 0, std 1), so that GradCAM sees one input space for every network."""

    def __init__(self, model: torch.nn.Module, mean, std, scale: float = 1.0):
        super().__init__()
        self.model = model
        self.register_buffer("mean", torch.as_tensor(np.asarray(mean, dtype=np.float32)).view(1, -1, 1, 1))
        self.register_buffer("std", torch.as_tensor(np.asarray(std, dtype=np.float32)).view(1, -1, 1, 1))
        self.scale = float(scale)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model((x * self.scale - self.mean) / self.std)


def last_conv_layer(model: torch.nn.Module) -> torch.nn.Module:
    """The last ``nn.Conv2d`` of ``model`` (GradCAM's target layer). Raises ValueError when there is none."""
    convs = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    if not convs:
        raise ValueError("the classifier has no Conv2d layer for GradCAM")
    return convs[-1]


def quantize_images(
    classifier: torch.nn.Module, images: np.ndarray, mae, mask_ratio: float, mae_mean, mae_std,
) -> tuple[np.ndarray, np.ndarray]:
    """The whole pixel stage for uint8 images at their native size (the image track's layout).

    1. Saliency: GradCAM++ of ``classifier`` (a :class:`NormalisedClassifier`, fed [0, 1] images at native size) for
       its own argmax class, the CAM resized to the MAE's input size and averaged per MAE patch.
    2. The images are resized (bilinear) to the MAE's size, grey images repeated to its channels, normalised with
       ``mae_mean``/``mae_std``; the ``mask_ratio`` least salient patches are regenerated (:func:`reconstruct`).
    3. Back to native size: the reconstruction is de-normalised, resized back (grey: the channel mean), and pasted
       only where a dropped patch covers a pixel (nearest-neighbour map of the patch grid), so every kept pixel is the
       original byte.

    Args:
        images: uint8 (B, H, W, C).
        mae: ``ViTMAEForPreTraining`` (see :func:`reconstruct`).

    Returns:
        (uint8 (B, H, W, C) quantized images, int64 (B,) bytes saved per image = dropped native pixels x C).

    Raises:
        ValueError: images not uint8 (B, H, W, C), or any error of :func:`drop_mask` / :func:`reconstruct`.
    """
    images = np.asarray(images)
    if images.dtype != np.uint8 or images.ndim != 4:
        raise ValueError(f"images must be uint8 (B, H, W, C), got {images.dtype} {images.shape}")
    config = mae.config
    size, patch = int(config.image_size), int(config.patch_size)
    x = torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).float() / 255.0
    height, width = x.shape[-2:]
    saliency = patch_saliency(classifier, last_conv_layer(classifier), x, patch, output_size=(size, size))
    mask = drop_mask(saliency, mask_ratio)
    big = torch.nn.functional.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)
    if big.shape[1] != config.num_channels:
        big = big.repeat(1, config.num_channels // big.shape[1], 1, 1)
    mean = torch.as_tensor(np.asarray(mae_mean, dtype=np.float32)).view(1, -1, 1, 1)
    std = torch.as_tensor(np.asarray(mae_std, dtype=np.float32)).view(1, -1, 1, 1)
    recon = reconstruct(mae, (big - mean) / std, mask) * std + mean
    recon = torch.nn.functional.interpolate(recon, size=(height, width), mode="bilinear", align_corners=False)
    if x.shape[1] != recon.shape[1]:
        recon = recon.mean(dim=1, keepdim=True)
    grid = size // patch
    native = torch.nn.functional.interpolate(mask.float().view(-1, 1, grid, grid), size=(height, width), mode="nearest") > 0.5
    out = torch.where(native, recon.clamp(0.0, 1.0), x)
    pixels = torch.where(native, torch.round(out * 255.0), x * 255.0).round().to(torch.uint8)
    saved = native.flatten(1).sum(dim=1).to(torch.int64) * images.shape[-1]
    return pixels.permute(0, 2, 3, 1).contiguous().numpy(), saved.numpy()
