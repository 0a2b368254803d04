"""CMMP's decoder (cmmp.txt Sec. 3.3): one linear layer from the encoder's feature map to full-resolution pixels.

Each location of the ``[C, H/r, W/r]`` map (``r`` the encoder's output stride, 16 for ResNet-50
with last stride 1) predicts the ``r x r x 3`` pixels of the image cell it sits over: a
``1 x 1`` convolution (a linear layer shared over locations) to ``3 r^2`` channels, then a pixel
shuffle into ``[3, H, W]`` (SimMIM's decoder for convolutional and Swin encoders). When ``r``
does not divide the input size the map has ``ceil(H / r)`` rows (padded convolutions) and the
shuffled output is cut to ``H x W``.
"""

from __future__ import annotations

import torch
from torch import nn

from reid.checks import check_positive_integer
from reid.errors import ConfigError


class LinearPixelDecoder(nn.Module):
    """``Conv2d(C, out_channels * r^2, 1)`` + ``PixelShuffle(r)``, cropped to the image size.

    Args:
        in_channels: channels of the encoder map (read from the backbone).
        stride: the encoder's output stride ``r``.
        out_channels: image channels to predict (3).
        generator: draws the initial weights (PyTorch's default ``Conv2d`` initialisation).
    """

    def __init__(self, in_channels: int, stride: int, *, out_channels: int = 3, generator: torch.Generator) -> None:
        super().__init__()
        for name, value in (("in_channels", in_channels), ("stride", stride), ("out_channels", out_channels)):
            check_positive_integer(f"LinearPixelDecoder.{name}", value)
        self.stride = stride
        self.proj = nn.Conv2d(in_channels, out_channels * stride * stride, kernel_size=1)
        # nn.Conv2d's own reset (kaiming_uniform_(a=sqrt(5)) and its bias bound), drawn from the generator.
        bound = 1.0 / in_channels**0.5
        with torch.no_grad():
            self.proj.weight.uniform_(-bound, bound, generator=generator)
            self.proj.bias.uniform_(-bound, bound, generator=generator)
        self.shuffle = nn.PixelShuffle(stride)

    def forward(self, features: torch.Tensor, height: int, width: int) -> torch.Tensor:
        """Pixels ``[B, out_channels, height, width]`` from the map ``[B, C, h, w]``.

        Raises:
            ConfigError: a map too small for the requested size.
        """
        if features.shape[2] * self.stride < height or features.shape[3] * self.stride < width:
            raise ConfigError(
                f"LinearPixelDecoder: a {features.shape[2]}x{features.shape[3]} map at stride {self.stride} "
                f"cannot cover {height}x{width} pixels"
            )
        return self.shuffle(self.proj(features))[:, :, :height, :width]
