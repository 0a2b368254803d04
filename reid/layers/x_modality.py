"""The X modality of XIV-ReID (xiv.txt): a learned channel mapping of visible images, or a fixed one.

Eq. 1, xiv.txt: ``X = g(V)``, where ``g`` is "two 1x1 convolutional layers and a ReLU activation
layer": the first maps the three visible channels to one (like an infrared image), the ReLU adds
non-linearity, the second maps the one channel back to three. It works on the network's input, i.e.
the normalised visible tensor, and trains end to end with the feature learner.

Table 5, xiv.txt: fixed special cases of ``g``: one channel computed from the visible RGB image and
repeated three times: ``mean`` (channel average), ``gray`` (ITU-R BT.601 luma, the weights of Pillow's
``convert("L")`` and OpenCV's ``cvtColor``), ``hsv_v`` (HSV value, ``max(R, G, B)``) and
``ycbcr_y`` (the luma of MATLAB's ``rgb2ycbcr``: BT.601 studio range ``(16 + 219 * luma) / 255``).
They are computed on RGB in ``[0, 1]`` (the input de-normalised), then normalised again like a
visible image. ``gray`` and ``ycbcr_y`` differ by that affine map only (docs/decisions.md, "XIV").
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn

from reid.data.transforms.normalize import IMAGENET_MEAN, IMAGENET_STD
from reid.errors import ConfigError

BT601: tuple[float, float, float] = (0.299, 0.587, 0.114)
"""ITU-R BT.601 luma weights of R, G, B."""


def _luma(rgb: Tensor) -> Tensor:
    return BT601[0] * rgb[:, 0] + BT601[1] * rgb[:, 1] + BT601[2] * rgb[:, 2]


FIXED_X: dict[str, Callable[[Tensor], Tensor]] = {
    "mean": lambda rgb: rgb.mean(dim=1),
    "gray": _luma,
    "hsv_v": lambda rgb: rgb.amax(dim=1),
    "ycbcr_y": lambda rgb: (16.0 + 219.0 * _luma(rgb)) / 255.0,
}
"""Table 5's one-channel special cases of ``g``: ``[N, 3, H, W]`` RGB in ``[0, 1]`` -> ``[N, H, W]``."""

X_SOURCES: tuple[str, ...] = ("learned", *FIXED_X)
"""Where the X modality comes from: the learned generator (the method) or a Table 5 special case."""


class XModalityGenerator(nn.Module):
    """``g`` of Eq. 1, xiv.txt: ``Conv1x1(3 -> 1) -> ReLU -> Conv1x1(1 -> 3)``.

    Args:
        generator: draws the initial weights (PyTorch's default ``Conv2d`` rule, kaiming-uniform with
            ``a = sqrt(5)``, and its bias rule).
    """

    def __init__(self, *, generator: torch.Generator) -> None:
        super().__init__()
        self.to_one = nn.Conv2d(3, 1, kernel_size=1)
        self.relu = nn.ReLU(inplace=False)
        self.to_three = nn.Conv2d(1, 3, kernel_size=1)
        for conv in (self.to_one, self.to_three):
            bound = 1.0 / conv.in_channels**0.5  # kaiming_uniform(a=sqrt(5)) on a 1x1 kernel: U(-1/sqrt(fan_in), ..)
            with torch.no_grad():
                conv.weight.uniform_(-bound, bound, generator=generator)
                conv.bias.uniform_(-bound, bound, generator=generator)

    def forward(self, visible: Tensor) -> Tensor:
        """``[N, 3, H, W]`` normalised visible images -> ``[N, 3, H, W]`` X images."""
        return self.to_three(self.relu(self.to_one(visible)))


class FixedXModality(nn.Module):
    """A Table 5 special case of ``g`` (no parameters): one channel of the visible image, repeated three times.

    Args:
        source: a key of :data:`FIXED_X`.
        mean, std: the normalisation of the network input (undone before, redone after).
    """

    def __init__(
        self,
        source: str,
        mean: tuple[float, float, float] = IMAGENET_MEAN,
        std: tuple[float, float, float] = IMAGENET_STD,
    ) -> None:
        super().__init__()
        if source not in FIXED_X:
            raise ConfigError(f"x_source={source!r}: expected one of {X_SOURCES}")
        self.source = source
        self.register_buffer("mean", torch.tensor(mean).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(std).view(1, 3, 1, 1), persistent=False)

    def forward(self, visible: Tensor) -> Tensor:
        """``[N, 3, H, W]`` normalised visible images -> ``[N, 3, H, W]`` normalised one-channel images."""
        rgb = visible * self.std + self.mean
        channel = FIXED_X[self.source](rgb).unsqueeze(1)
        return (channel.expand_as(rgb) - self.mean) / self.std

    def extra_repr(self) -> str:
        return f"source={self.source!r}"


def build_x_modality(source: str, *, generator: torch.Generator) -> nn.Module:
    """The X modality module for ``source`` (``"learned"`` or a key of :data:`FIXED_X`)."""
    if source == "learned":
        return XModalityGenerator(generator=generator)
    return FixedXModality(source)
