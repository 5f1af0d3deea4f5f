"""The small ReLU CNN trained on the shapes dataset.

It is built to exercise every way a network can call ReLU, which is what modified
backpropagation (guided backprop, deconvolution) must handle:

- ``block1.relu``: ``nn.ReLU(inplace=True)``;
- ``block2.relu``: one ``nn.ReLU`` module called twice in one forward pass (as in
  torchvision's ResNet blocks);
- ``block3``: functional ``F.relu`` calls (as in torchvision's DenseNet).

Layout for 64x64 inputs (normalised with :data:`revelio.zoo.shapes.MEAN` / ``STD``)::

    block1  conv3x3(3->16)  BN ReLU(inplace) maxpool        -> 16 x 32 x 32
    block2  conv3x3(16->32) BN ReLU maxpool conv3x3(32->32) BN ReLU (same module)
                                                            -> 32 x 16 x 16
    block3  conv3x3(32->64) BN F.relu conv3x3(64->64) BN F.relu
                                                            -> 64 x 16 x 16
    pool    global average pooling                          -> 64
    head    linear(64->6): multi-label logits (apply a sigmoid for probabilities)

``block3`` is the natural Grad-CAM layer: its output is the last feature map, on a
16x16 grid, and the head sees it only through global average pooling, so Grad-CAM
on it equals CAM (Zhou et al. 2016) up to the ReLU.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from revelio.zoo.shapes import CLASS_NAMES


def _conv(in_channels: int, out_channels: int) -> nn.Conv2d:
    return nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1, bias=False)


class InputBlock(nn.Module):
    """Conv, batch norm, in-place ReLU, 2x2 max pooling."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.conv = _conv(in_channels, out_channels)
        self.bn = nn.BatchNorm2d(out_channels)
        self.relu = nn.ReLU(inplace=True)
        self.pool = nn.MaxPool2d(2)

    def forward(self, x: Tensor) -> Tensor:
        return self.pool(self.relu(self.bn(self.conv(x))))


class SharedReLUBlock(nn.Module):
    """Two conv-BN stages with max pooling between them, one ``nn.ReLU`` module for both."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.conv1 = _conv(in_channels, out_channels)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.pool = nn.MaxPool2d(2)
        self.conv2 = _conv(out_channels, out_channels)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.relu = nn.ReLU()

    def forward(self, x: Tensor) -> Tensor:
        x = self.pool(self.relu(self.bn1(self.conv1(x))))
        return self.relu(self.bn2(self.conv2(x)))


class FunctionalReLUBlock(nn.Module):
    """Two conv-BN stages, each followed by a functional ``F.relu`` call."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.conv1 = _conv(in_channels, out_channels)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.conv2 = _conv(out_channels, out_channels)
        self.bn2 = nn.BatchNorm2d(out_channels)

    def forward(self, x: Tensor) -> Tensor:
        x = F.relu(self.bn1(self.conv1(x)))
        return F.relu(self.bn2(self.conv2(x)))


class ShapesCNN(nn.Module):
    """A small ReLU CNN for 64x64 shapes images: 3 conv blocks, global average pooling, linear head.

    Args:
        num_classes: outputs of the head (multi-label logits, pre-sigmoid).
        widths: channels of ``block1``, ``block2``, ``block3``.

    Example:
        >>> model = ShapesCNN()
        >>> model(torch.zeros(2, 3, 64, 64)).shape
        torch.Size([2, 6])
    """

    def __init__(self, num_classes: int = len(CLASS_NAMES), widths: tuple[int, int, int] = (16, 32, 64)) -> None:
        super().__init__()
        self.block1 = InputBlock(3, widths[0])
        self.block2 = SharedReLUBlock(widths[0], widths[1])
        self.block3 = FunctionalReLUBlock(widths[1], widths[2])
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.head = nn.Linear(widths[2], num_classes)

    def forward(self, x: Tensor) -> Tensor:
        x = self.block3(self.block2(self.block1(x)))
        return self.head(self.pool(x).flatten(1))


class ResidualBlock(nn.Module):
    """Two 3x3 conv-BN stages with an identity shortcut: ``relu(x + bn(conv(relu(bn(conv(x))))))``."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv1 = _conv(channels, channels)
        self.bn1 = nn.BatchNorm2d(channels)
        self.conv2 = _conv(channels, channels)
        self.bn2 = nn.BatchNorm2d(channels)

    def forward(self, x: Tensor) -> Tensor:
        y = F.relu(self.bn1(self.conv1(x)))
        return F.relu(x + self.bn2(self.conv2(y)))


class ShapesResNet(nn.Module):
    """A small residual CNN for 64x64 shapes images: the second, independent shapes model.

    Another architecture than :class:`ShapesCNN` (a 5x5 stem, residual blocks, a strided
    convolution instead of the second pooling), trained from another seed: a picture
    that both recognise is less likely an adversarial pattern of one of them. Layout::

        stem    conv5x5(3->24) BN ReLU maxpool              -> 24 x 32 x 32
        stage1  residual block (24)                         -> 24 x 32 x 32
        down    conv3x3 stride 2 (24->48) BN ReLU           -> 48 x 16 x 16
        stage2  residual block (48)                         -> 48 x 16 x 16
        pool    global average pooling                      -> 48
        head    linear(48->6): multi-label logits

    Args:
        num_classes: outputs of the head (multi-label logits, pre-sigmoid).
        widths: channels of ``stage1`` and ``stage2``.

    Example:
        >>> ShapesResNet()(torch.zeros(2, 3, 64, 64)).shape
        torch.Size([2, 6])
    """

    def __init__(self, num_classes: int = len(CLASS_NAMES), widths: tuple[int, int] = (24, 48)) -> None:
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv2d(3, widths[0], kernel_size=5, padding=2, bias=False),
            nn.BatchNorm2d(widths[0]),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(2),
        )
        self.stage1 = ResidualBlock(widths[0])
        self.down = nn.Sequential(
            nn.Conv2d(widths[0], widths[1], kernel_size=3, stride=2, padding=1, bias=False),
            nn.BatchNorm2d(widths[1]),
            nn.ReLU(inplace=True),
        )
        self.stage2 = ResidualBlock(widths[1])
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.head = nn.Linear(widths[1], num_classes)

    def forward(self, x: Tensor) -> Tensor:
        x = self.stage2(self.down(self.stage1(self.stem(x))))
        return self.head(self.pool(x).flatten(1))
