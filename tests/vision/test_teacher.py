"""Tests for data_selection.vision.teacher: the Keras CIFAR-10 CNN ported to PyTorch with h5py."""

from __future__ import annotations

import base64
import importlib.metadata as md
import io
import json

import numpy as np
import pytest
import torch

from data_selection.vision.teacher import KerasCifarCNN, load_keras_cifar_cnn, packaged_weights_path, teacher_outputs

CIFAR10_TASK = "bigbench/benchmark_tasks/cifar10_classification/base64/task.json"


def _weights_or_skip():
    try:
        return packaged_weights_path()
    except FileNotFoundError as error:
        pytest.skip(str(error))


def _bigbench_cifar10() -> tuple[np.ndarray, np.ndarray]:
    """Private decoder for now (the image track brings the shared loader): uint8 [N, 32, 32, 3], int labels."""
    from PIL import Image

    try:
        path = md.distribution("bigbench").locate_file(CIFAR10_TASK)
    except md.PackageNotFoundError:
        pytest.skip("bigbench is not installed")
    task = json.loads(open(path).read())
    classes = None
    images, labels = [], []
    for example in task["examples"]:
        names = list(example["target_scores"])
        classes = classes or names
        assert names == classes  # the same class order in every example
        labels.append([example["target_scores"][n] for n in names].index(1))
        png = Image.open(io.BytesIO(base64.b64decode(example["input"]))).convert("RGB")
        images.append(np.asarray(png, dtype=np.uint8))
    return np.stack(images), np.asarray(labels), classes


def test_forward_shapes_and_pre_relu_logits():
    torch.manual_seed(0)
    model = KerasCifarCNN().eval()
    logits, features = model.forward_features(torch.rand(4, 3, 32, 32) * 255)
    assert logits.shape == (4, 10) and features.shape == (4, 512)
    assert (features >= 0).all()
    with torch.no_grad():
        model.dense_2.bias.fill_(-1e3)  # every logit negative: a post-ReLU output would be all zeros
        assert (model(torch.rand(2, 3, 32, 32) * 255) < 0).all()
    with pytest.raises(ValueError, match="expected"):
        model(torch.zeros(1, 1, 28, 28))


def test_port_matches_a_numpy_channels_last_forward():
    """An independent NHWC NumPy forward of the first block, computed from the h5 arrays as Keras defines it."""
    import h5py

    path = _weights_or_skip()
    model = load_keras_cifar_cnn(path)
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, size=(2, 32, 32, 3)).astype(np.float32)
    with h5py.File(path, "r") as f:
        w = f["model_weights"]
        kernel = np.asarray(w["conv2d/conv2d/kernel:0"])  # (3, 3, 3, 64) HWIO
        bias = np.asarray(w["conv2d/conv2d/bias:0"])
        bn = {k: np.asarray(w[f"batch_normalization/batch_normalization/{k}:0"])
              for k in ("gamma", "beta", "moving_mean", "moving_variance")}
    conv = np.zeros((2, 30, 30, 64), np.float64)
    for dy in range(3):
        for dx in range(3):
            conv += np.einsum("nhwc,co->nhwo", x[:, dy:dy + 30, dx:dx + 30, :], kernel[dy, dx])
    act = np.maximum(conv + bias, 0)
    expected = bn["gamma"] * (act - bn["moving_mean"]) / np.sqrt(bn["moving_variance"] + 1e-3) + bn["beta"]
    with torch.no_grad():
        got = model.features[:3](torch.from_numpy(x).permute(0, 3, 1, 2)).permute(0, 2, 3, 1).numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-3)


def test_load_rejects_a_wrong_file(tmp_path):
    import h5py

    bad = tmp_path / "bad.h5"
    with h5py.File(bad, "w") as f:
        f.create_dataset("model_weights/conv2d/conv2d/kernel:0", data=np.zeros((5, 5, 3, 64), np.float32))
    with pytest.raises(ValueError, match="shape"):
        load_keras_cifar_cnn(bad)


def test_teacher_outputs_rejects_wrong_layout():
    with pytest.raises(ValueError, match="uint8"):
        teacher_outputs(KerasCifarCNN(), np.zeros((1, 3, 32, 32), np.uint8))
    model = KerasCifarCNN().eval()
    pixels = np.random.default_rng(0).integers(0, 256, (2, 32, 32, 3)).astype(np.uint8)
    from_uint8, _ = teacher_outputs(model, pixels)
    from_float, _ = teacher_outputs(model, pixels.astype(np.float32) / 255)  # [0, 1]-scale synthetic images
    np.testing.assert_allclose(from_uint8, from_float, rtol=1e-4, atol=1e-3)


@pytest.mark.slow
def test_reproduces_the_documented_top1_on_bigbench_cifar10():
    """cifar-10-model documents 80.1 % top-1 on the CIFAR-10 test images; bigbench ships those 10,000 images."""
    _weights_or_skip()
    images, labels, classes = _bigbench_cifar10()
    assert images.shape == (10000, 32, 32, 3) and np.bincount(labels).tolist() == [1000] * 10
    assert classes[:3] == ["airplane", "automobile", "bird"]
    torch.set_num_threads(2)
    logits, features = teacher_outputs(load_keras_cifar_cnn(), images, batch_size=1000)
    accuracy = float(np.mean(logits.argmax(1) == labels))
    assert features.shape == (10000, 512)
    assert accuracy == pytest.approx(0.801, abs=0.0015)
