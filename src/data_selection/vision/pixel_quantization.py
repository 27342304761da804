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


def patch_saliency(classifier: torch.nn.Module, target_layer: torch.nn.Module, images: torch.Tensor, patch_size: int) -> torch.Tensor:
    """GradCAM++ saliency per patch for the classifier's own predicted class.

    Args:
        classifier: image classifier (B, C, H, W) -> (B, classes); put in eval mode by grad-cam.
        target_layer: the convolution layer whose activations and gradients make the CAM (e.g. ``layer4[-1]``).
        images: float (B, C, H, W), H and W multiples of ``patch_size``.
        patch_size: p.

    Returns:
        float32 (B, L) mean CAM value (in [0, 1], grad-cam's per-image scaling) of each p x p patch, row-major.

    Raises:
        ValueError: H or W not a multiple of ``patch_size``, or images not 4-D.
    """
    from pytorch_grad_cam import GradCAMPlusPlus

    if images.ndim != 4:
        raise ValueError(f"images must be (B, C, H, W), got shape {tuple(images.shape)}")
    height, width = images.shape[-2:]
    if height % patch_size or width % patch_size:
        raise ValueError(f"image size {height}x{width} is not a multiple of the patch size {patch_size}")
    with GradCAMPlusPlus(model=classifier, target_layers=[target_layer]) as cam:
        maps = cam(input_tensor=images, targets=None)  # (B, H, W) numpy, targets None = the argmax class
    maps = torch.from_numpy(np.ascontiguousarray(maps, dtype=np.float32))
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
