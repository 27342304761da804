"""``dq_image``'s feature nodes: the trained network and its last-layer gradient embeddings (DQ's vision features).

Official DQ (``quantize_sample.py --model ResNet18 --pretrained -se 0``) embeds CIFAR-10 with an ImageNet-pretrained
ResNet-18 whose new 10-class head is never trained (note pitfall 2: the "gradients" are then random projections of
ImageNet features). Here the network is trained on the pool first (or is the packaged, trained Keras CIFAR-10 CNN),
so the embeddings carry what the network learned about the pool's classes.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from data_selection.core.gradient_embedding import last_layer_gradient_embedding
from data_selection.core.projection import SparseJLProjector
from data_selection.pipelines.dq.nodes import check_image_bins_and_budget
from data_selection.pipelines.dq.parameters import DQImageParams
from data_selection.pipelines.parameters import ImageSelectionParams, ImageTrainParams

from data_selection.pipelines.image_data.nodes import pool_arrays  # noqa: E402

logger = logging.getLogger(__name__)

#: the bundle's name in the ``feature_model`` dataset (a :class:`~data_selection.io.datasets.TensorBundleDataset`)
BUNDLE = "feature_model"


def train_feature_model(
    image_pool: Any, params: DQImageParams, image_selection: ImageSelectionParams, image_train: ImageTrainParams
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The network whose last layer embeds the pool, checked against the bins and the IPC budget first.

    ``feature_model.kind: trained`` trains the image track's classifier (``image_train``: the judge's architecture and
    recipe, with ``feature_model.max_steps`` as its step cap and ``feature_model.seed``) on the whole pool;
    ``keras_cifar10`` uses the packaged Keras CIFAR-10 CNN and trains nothing.

    Returns:
        (``{"feature_model": {"tensors", "meta"}}`` (``meta.kind`` says which network; no tensors for the Keras
        teacher),
        summary ``{kind, steps, epochs, train_accuracy, seconds, ...}``).

    Raises:
        ValueError: bins that cannot hold the budget (:func:`check_image_bins_and_budget`), or ``keras_cifar10``
            on a pool that is not 32x32 RGB with 10 classes.
    """
    pool = pool_arrays(image_pool, ("images", "labels", "ids", "classes"))
    labels = np.asarray(pool["labels"])
    check_image_bins_and_budget(labels, params["bins"], int(image_selection["ipc"]))
    spec = params["feature_model"]
    images = np.asarray(pool["images"])
    if spec["kind"] == "keras_cifar10":
        if images.shape[1:] != (32, 32, 3) or len(pool["classes"]) != 10:
            raise ValueError(f"feature_model.kind=keras_cifar10 needs CIFAR-10 (32x32 RGB, 10 classes); this pool is "
                             f"{images.shape[1:]} with {len(pool['classes'])} classes: use kind=trained")
        return {BUNDLE: {"tensors": {}, "meta": {"kind": "keras_cifar10"}}}, {"kind": "keras_cifar10", "steps": 0}
    from data_selection.vision.training import model_bundle, train_classifier

    recipe = {**dict(image_train), "max_steps": spec["max_steps"]}
    logger.info("DQ: training the feature network (%s, width %s) on the %d pool images", recipe["architecture"],
                recipe["width"], len(images))
    model, summary = train_classifier(images, labels, len(pool["classes"]), recipe, int(spec["seed"]), pool["mean"],
                                      pool["std"], description="DQ feature network")
    meta = {"kind": "trained", "architecture": recipe["architecture"], "width": recipe["width"], "depth": recipe["depth"],
            "in_channels": int(images.shape[-1]), "num_classes": len(pool["classes"]), "image_size": list(images.shape[1:3]),
            "mean": np.asarray(pool["mean"]).tolist(), "std": np.asarray(pool["std"]).tolist(), "seed": int(spec["seed"])}
    return {BUNDLE: model_bundle(model, meta)}, {"kind": "trained", **summary}


def _classifier(bundle: dict[str, Any]) -> torch.nn.Module:
    """The feature network as a module on [0, 1] images (B, C, H, W), with its own input normalisation."""
    from data_selection.vision.pixel_quantization import NormalisedClassifier

    if bundle["meta"]["kind"] == "keras_cifar10":
        from data_selection.vision.teacher import load_keras_cifar_cnn

        return NormalisedClassifier(load_keras_cifar_cnn(), mean=[0.0] * 3, std=[1.0] * 3, scale=255.0).eval()
    from data_selection.vision.training import load_model

    meta = bundle["meta"]
    return NormalisedClassifier(load_model(bundle), mean=meta["mean"], std=meta["std"]).eval()


def quantize_pixels(
    image_pool: Any, selection: pd.DataFrame, feature_model: dict[str, Any], params: DQImageParams
) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """DQ's pixel stage on the selected images (``pixel.enabled``): every selected id once, over all draws.

    Returns:
        (``{"ids": str (M,), "images": uint8 (M, H, W, C)}``, the quantized pixels the image track trains on instead
        of the originals (empty when disabled); a report ``{enabled, mask_ratio, mae, images, bytes_original,
        bytes_saved, saved_fraction}``).

    Raises:
        ValueError: see :func:`data_selection.vision.pixel_quantization.quantize_images`.
        OSError: the MAE cannot be loaded from ``pixel.mae``.
    """
    pool = pool_arrays(image_pool, ("images", "labels", "ids", "classes"))
    pixel = params["pixel"]
    shape = tuple(np.asarray(pool["images"]).shape[1:])
    if not pixel["enabled"]:
        empty = {"ids": np.zeros(0, dtype=str), "images": np.zeros((0, *shape), dtype=np.uint8)}
        return empty, {"enabled": False}
    from transformers import ViTMAEForPreTraining

    from data_selection.vision.pixel_quantization import quantize_images

    mae = ViTMAEForPreTraining.from_pretrained(pixel["mae"]).eval()
    classifier = _classifier(feature_model[BUNDLE])
    ids = np.asarray(pool["ids"]).astype(str)
    position = {record_id: i for i, record_id in enumerate(ids)}
    wanted = sorted({str(i) for i in selection["id"]}, key=position.__getitem__)
    rows = np.array([position[i] for i in wanted], dtype=np.int64)
    out, saved = [], []
    for start in tqdm(range(0, len(rows), pixel["batch_size"]), desc="DQ pixel quantization", unit="batch"):
        batch = np.asarray(pool["images"])[rows[start : start + pixel["batch_size"]]]
        images, bytes_saved = quantize_images(classifier, batch, mae, pixel["mask_ratio"], pixel["mae_mean"], pixel["mae_std"])
        out.append(images)
        saved.append(bytes_saved)
    saved = np.concatenate(saved)
    original = int(len(rows) * np.prod(shape))
    report = {"enabled": True, "mae": pixel["mae"], "mask_ratio": pixel["mask_ratio"], "images": len(rows),
              "bytes_original": original, "bytes_saved": int(saved.sum()),
              "saved_fraction": round(float(saved.sum()) / max(original, 1), 6)}
    logger.info("DQ pixel stage: %d images, %d of %d bytes saved", len(rows), report["bytes_saved"], original)
    return {"ids": np.array(wanted, dtype=str), "images": np.concatenate(out)}, report


def _forward(bundle: dict[str, Any]):
    """``images uint8 [B, H, W, C] -> (logits, features)`` as float32 NumPy arrays, for either kind of network."""
    if bundle["meta"]["kind"] == "keras_cifar10":
        from data_selection.vision.teacher import load_keras_cifar_cnn, teacher_outputs

        teacher = load_keras_cifar_cnn()
        return lambda batch: teacher_outputs(teacher, batch, batch_size=len(batch))
    from data_selection.vision.training import load_model, to_tensor

    model = load_model(bundle)
    meta = bundle["meta"]

    @torch.inference_mode()
    def forward(batch: np.ndarray):
        logits, features = model.forward_features(to_tensor(batch, meta["mean"], meta["std"]))
        return logits.numpy(), features.numpy()

    return forward


def gradient_features(image_pool: Any, feature_model: dict[str, Any], params: DQImageParams) -> dict[str, np.ndarray]:
    """Last-layer gradient embeddings ``[e, flatten(e h^T)]`` of every pool image
    (:func:`data_selection.core.gradient_embedding.last_layer_gradient_embedding`), streamed in batches and, with
    ``gradient.projection_dim``, projected to that many dimensions by a seeded sparse JL transform
    (:class:`~data_selection.core.projection.SparseJLProjector`; it preserves inner products, so the cosines the bins
    use, up to the JL tolerance) so that memory stays O(N * projection_dim).

    Returns:
        ``{"features": float32 (N, C + C*d or projection_dim), "labels": int64 (N,)}`` in pool order.
    """
    pool = pool_arrays(image_pool, ("images", "labels", "ids", "classes"))
    g = params["gradient"]
    images, labels = np.asarray(pool["images"]), np.asarray(pool["labels"], dtype=np.int64)
    forward = _forward(feature_model[BUNDLE])
    projector, out = None, []
    for start in tqdm(range(0, len(images), g["batch_size"]), desc="DQ gradient embeddings", unit="batch"):
        logits, h = forward(images[start : start + g["batch_size"]])
        emb = last_layer_gradient_embedding(logits, h, labels[start : start + g["batch_size"]], g["loss"], g["label_source"])
        if g["projection_dim"] is not None and g["projection_dim"] < emb.shape[1]:
            if projector is None:
                projector = SparseJLProjector(emb.shape[1], int(g["projection_dim"]), seed=int(g["projection_seed"]))
                logger.info("DQ: gradient embeddings of %d dims projected to %d", emb.shape[1], g["projection_dim"])
            emb = projector.project(torch.from_numpy(emb)).numpy()
        out.append(np.asarray(emb, dtype=np.float32))
    return {"features": np.concatenate(out), "labels": labels}
