"""Image classifiers: the DC/DM ConvNet and torchvision's ResNet-18 with a 3x3 stem, each with a ``features`` accessor.

Inputs are float32 ``[N, C, H, W]`` (normalised pixels); ``forward`` returns logits ``[N, K]`` and ``features`` the
penultimate embedding ``[N, D]`` that the classifier's last linear layer reads (``forward(x) == head(features(x))``).
No weights are downloaded: every network starts from a seeded random initialisation.
"""

from __future__ import annotations

import torch
from torch import nn

ARCHITECTURES = ("convnet", "resnet18")


class ConvNet(nn.Module):
    """The "ConvNet" of Dataset Condensation (Zhao, Mopuri & Bilen, ICLR 2021, §4 "Architectures"; also DSA and DM):
    ``depth`` blocks of conv 3x3 (``width`` channels) -> instance norm -> ReLU -> average pool 2x2, then one linear
    layer on the flattened maps.

    As in the official code (``utils.py::ConvNet``): instance norm is ``GroupNorm(width, width, affine=True)``; for
    one-channel 28x28 inputs (MNIST, Fashion-MNIST) the first convolution pads by 3, so the maps are 32x32 and the
    embedding has ``width * 4 * 4`` dimensions at depth 3 (``width * (H / 2**depth) * (W / 2**depth)`` otherwise).

    Args:
        in_channels: C of the input (1 or 3).
        num_classes: K.
        image_size: (H, W) of the input.
        width: channels of every convolution (128 in the papers).
        depth: number of blocks (3 in the papers).
    """

    def __init__(self, in_channels: int, num_classes: int, image_size: tuple[int, int], width: int = 128, depth: int = 3):
        super().__init__()
        if width < 1 or depth < 1:
            raise ValueError(f"ConvNet width and depth must be >= 1, got width={width}, depth={depth}")
        height, breadth = image_size
        layers: list[nn.Module] = []
        channels = in_channels
        for d in range(depth):
            pad = 3 if (in_channels == 1 and d == 0 and tuple(image_size) == (28, 28)) else 1
            if pad == 3:
                height, breadth = height + 4, breadth + 4
            layers += [nn.Conv2d(channels, width, kernel_size=3, padding=pad), nn.GroupNorm(width, width, affine=True),
                       nn.ReLU(inplace=True), nn.AvgPool2d(kernel_size=2, stride=2)]
            channels = width
            height, breadth = height // 2, breadth // 2
        if height < 1 or breadth < 1:
            raise ValueError(f"image size {tuple(image_size)} is too small for a ConvNet of depth {depth}")
        self.body = nn.Sequential(*layers)
        self.embedding_dim = width * height * breadth
        self.classifier = nn.Linear(self.embedding_dim, num_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The flattened output of the last block, float32 ``[N, width * h * w]``."""
        return self.body(x).flatten(1)

    def forward_features(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(logits ``[N, K]``, the classifier's input ``[N, width * h * w]``) from one forward pass."""
        h = self.features(x)
        return self.classifier(h), h

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


class ResNet18(nn.Module):
    """torchvision's ``resnet18(num_classes=K)`` (He et al. 2016) with the CIFAR stem: a 3x3, stride-1 first
    convolution taking ``in_channels`` and no max-pool (as in the CCFS/SRe2L code for 32x32 inputs). The embedding is
    the 512-d global-average-pooled output before ``fc``."""

    def __init__(self, in_channels: int, num_classes: int):
        super().__init__()
        from torchvision.models import resnet18

        net = resnet18(weights=None, num_classes=num_classes)
        net.conv1 = nn.Conv2d(in_channels, 64, kernel_size=3, stride=1, padding=1, bias=False)
        net.maxpool = nn.Identity()
        self.net = net
        self.embedding_dim = net.fc.in_features

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """float32 ``[N, 512]``: the pooled output of ``layer4``."""
        n = self.net
        x = n.maxpool(n.relu(n.bn1(n.conv1(x))))
        x = n.layer4(n.layer3(n.layer2(n.layer1(x))))
        return torch.flatten(n.avgpool(x), 1)

    def forward_features(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(logits ``[N, K]``, the pooled 512-d input of ``fc``) from one forward pass."""
        h = self.features(x)
        return self.net.fc(h), h

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net.fc(self.features(x))


def build_network(
    architecture: str, in_channels: int, num_classes: int, image_size: tuple[int, int], width: int = 128, depth: int = 3
) -> nn.Module:
    """``ConvNet`` or ``ResNet18`` by name (``width``/``depth`` apply to the ConvNet only).

    Raises:
        ValueError: unknown architecture.
    """
    if architecture == "convnet":
        return ConvNet(in_channels, num_classes, tuple(image_size), width=width, depth=depth)
    if architecture == "resnet18":
        return ResNet18(in_channels, num_classes)
    raise ValueError(f"unknown architecture {architecture!r}; known: {ARCHITECTURES}")
