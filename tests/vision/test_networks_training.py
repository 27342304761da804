"""Image networks and the training recipe: shapes, features -> logits, seeded determinism, augmentation, round trip."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from data_selection.vision import training as T
from data_selection.vision.networks import ConvNet, ResNet18, build_network


@pytest.mark.parametrize(
    "channels,size,width,embedding",
    [(1, (28, 28), 16, 16 * 4 * 4),  # grey 28x28: first conv pads by 3 (official DC code) -> 32 -> 4x4 maps
     (3, (32, 32), 8, 8 * 4 * 4),
     (3, (64, 64), 4, 4 * 8 * 8)],
)
def test_convnet_shapes_and_features_feed_the_head(channels, size, width, embedding):
    torch.manual_seed(0)
    net = ConvNet(channels, 7, size, width=width, depth=3).eval()
    x = torch.randn(5, channels, *size)
    features = net.features(x)
    assert features.shape == (5, embedding) and net.embedding_dim == embedding
    torch.testing.assert_close(net(x), net.classifier(features))
    norms = [m for m in net.modules() if isinstance(m, torch.nn.GroupNorm)]
    assert len(norms) == 3 and all(m.num_groups == m.num_channels == width for m in norms)  # instance norm
    assert sum(isinstance(m, torch.nn.AvgPool2d) for m in net.modules()) == 3


def test_resnet18_has_the_3x3_stem_and_a_512_embedding():
    net = ResNet18(1, 10).eval()
    assert net.net.conv1.kernel_size == (3, 3) and net.net.conv1.stride == (1, 1) and net.net.conv1.in_channels == 1
    assert isinstance(net.net.maxpool, torch.nn.Identity)
    x = torch.randn(2, 1, 32, 32)
    with torch.no_grad():
        assert net.features(x).shape == (2, 512)
        torch.testing.assert_close(net(x), net.net.fc(net.features(x)))
    with pytest.raises(ValueError, match="unknown architecture"):
        build_network("vgg", 3, 10, (32, 32))


def _toy(n_per_class=6, seed=0):
    """Two classes that differ in brightness of the left half: separable by any ConvNet."""
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 60, size=(2 * n_per_class, 12, 12, 1)).astype(np.uint8)
    labels = np.repeat([0, 1], n_per_class)
    images[labels == 1, :, :6] += 150
    return images, labels


RECIPE = {"width": 4, "depth": 2, "epochs": 15, "batch_size": 4, "learning_rate": 0.05, "augment": {"crop_padding": 1, "flip": False},
          "num_threads": 1, "device": "cpu"}


def test_training_is_deterministic_for_a_seed_and_differs_across_seeds():
    images, labels = _toy()
    mean, std = T.channel_stats(images)
    a, summary = T.train_classifier(images, labels, 2, RECIPE, 3, mean, std)
    b, _ = T.train_classifier(images, labels, 2, RECIPE, 3, mean, std)
    c, _ = T.train_classifier(images, labels, 2, RECIPE, 4, mean, std)
    for (name, pa), pb in zip(a.state_dict().items(), b.state_dict().values()):
        assert torch.equal(pa, pb), name
    assert any(not torch.equal(pa, pc) for pa, pc in zip(a.state_dict().values(), c.state_dict().values()))
    assert summary["steps"] == 15 * 3 and not summary["capped_by_max_steps"]
    logits = T.predict_logits(a, images, mean, std, batch_size=5, device="cpu")
    assert logits.shape == (12, 2) and (logits.argmax(1) == labels).mean() == 1.0  # learns the separable toy


def test_max_steps_caps_training_and_bundle_round_trip_gives_the_same_logits():
    images, labels = _toy()
    mean, std = T.channel_stats(images)
    model, summary = T.train_classifier(images, labels, 2, {**RECIPE, "max_steps": 7}, 0, mean, std)
    assert summary["steps"] == 7 and summary["capped_by_max_steps"]
    meta = {"architecture": "convnet", "width": 4, "depth": 2, "in_channels": 1, "num_classes": 2, "image_size": [12, 12]}
    again = T.load_model(T.model_bundle(model, meta))
    np.testing.assert_array_equal(T.predict_logits(again, images, mean, std), T.predict_logits(model, images, mean, std))
    assert T.embed(model, images, mean, std, batch_size=5).shape == (12, 4 * 3 * 3)


def test_channel_stats_and_normalisation_by_hand():
    images = np.array([[[[0, 255]]], [[[255, 255]]]], dtype=np.uint8).reshape(2, 1, 1, 2)
    mean, std = T.channel_stats(images)
    np.testing.assert_allclose(mean, [0.5, 1.0]) and np.testing.assert_allclose(std, [0.5, 1e-6], atol=1e-6)
    x = T.to_tensor(images, [0.5, 0.5], [0.5, 0.25])
    torch.testing.assert_close(x[:, :, 0, 0], torch.tensor([[-1.0, 2.0], [1.0, 2.0]]))
    with pytest.raises(ValueError, match="mean/std"):
        T.to_tensor(images, [0.5], [0.5])


def test_augmentation_crops_by_whole_pixels_and_flips():
    x = torch.arange(2 * 1 * 4 * 4, dtype=torch.float32).reshape(2, 1, 4, 4)
    g = torch.Generator().manual_seed(0)
    assert torch.equal(T.augment(x, 0, False, g), x)
    flipped = T.augment(x, 0, True, torch.Generator().manual_seed(1))
    for i in range(2):  # each example is either itself or its mirror image
        assert torch.equal(flipped[i], x[i]) or torch.equal(flipped[i], x[i].flip(2))
    cropped = T.augment(x, 1, False, torch.Generator().manual_seed(2))
    padded = torch.nn.functional.pad(x, (1, 1, 1, 1))
    for i in range(2):  # each crop is one of the 9 shifted 4x4 windows of the padded image
        assert any(torch.equal(cropped[i], padded[i, :, dy : dy + 4, dx : dx + 4]) for dy in range(3) for dx in range(3))
