"""Photometric transforms on [0, 1] images (before ``Normalize``): random grayscale, colour jitter, Gaussian blur.

They mirror torchvision's ``RandomGrayscale``, ``ColorJitter`` and ``GaussianBlur``. The reference
pipelines apply the first two to PIL images, i.e. to uint8 pixels: here they act on the float
tensor without the uint8 rounding after each step (a difference below 1/255 per pixel).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
import torch.nn.functional as F

from reid.data.transforms.base import Transform
from reid.data.transforms.channel import luminance
from reid.data.transforms.draws import bernoulli, check_probability, uniform
from reid.errors import ConfigError

PIL_GRAY_WEIGHTS: tuple[float, float, float] = (0.299, 0.587, 0.114)
"""Pillow's ``convert("L")`` weights (ITU-R 601-2), what torchvision's grayscale uses on PIL images."""


@dataclass(frozen=True)
class RandomGrayscale(Transform):
    """With probability ``p``, the image's luminance in all three channels (torchvision ``RandomGrayscale``).

    Source: MSCMNet build_transforms.py ``train_transforms_color1`` (``RandomGrayscale(p=0.5)``
    on the PIL image, first in the pipeline); protocols.md sec. 6. Weights are Pillow's
    0.299/0.587/0.114, not CAJ's 0.2989/0.5870/0.1140, because the reference converts a PIL image.
    """

    is_random: ClassVar[bool] = True
    p: float = 0.5

    def __post_init__(self) -> None:
        check_probability(self.p, "RandomGrayscale.p")

    def apply(self, x: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        assert generator is not None  # checked in __call__
        return luminance(x, PIL_GRAY_WEIGHTS) if bernoulli(generator, self.p) else x.clone()


def adjust_brightness(x: torch.Tensor, factor: float) -> torch.Tensor:
    """Pillow ``ImageEnhance.Brightness``: blend with black, ``clamp(factor * x, 0, 1)``."""
    return (x * factor).clamp(0.0, 1.0)


def adjust_contrast(x: torch.Tensor, factor: float) -> torch.Tensor:
    """Pillow ``ImageEnhance.Contrast``: blend with the mean luminance, ``clamp(m + factor * (x - m), 0, 1)``."""
    mean = luminance(x, PIL_GRAY_WEIGHTS)[0].mean()
    return (mean + factor * (x - mean)).clamp(0.0, 1.0)


@dataclass(frozen=True)
class ColorJitter(Transform):
    """Random brightness and contrast, in random order (torchvision ``ColorJitter(brightness, contrast)``).

    Each enabled operation draws its factor from ``U(max(0, 1 - s), 1 + s)``; the order of the
    enabled operations is a uniform random permutation (torchvision permutes its four
    operations; only the relative order of the enabled ones matters). Saturation and hue are
    not offered: the recipes jitter infrared images only, whose three channels are equal.
    Source: MSCMNet ``train_transforms_thermal2`` uses ``ColorJitter(brightness=0.5)`` first in
    the pipeline (protocols.md sec. 6); CMFT adds unspecified colour jittering to infrared frames.
    Input must be in [0, 1] (apply before ``Normalize``).
    """

    is_random: ClassVar[bool] = True
    brightness: float = 0.0
    contrast: float = 0.0

    def __post_init__(self) -> None:
        if self.brightness < 0 or self.contrast < 0:
            raise ConfigError(
                "ColorJitter: expected non-negative strengths, "
                f"got brightness={self.brightness} contrast={self.contrast}"
            )

    def apply(self, x: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        assert generator is not None  # checked in __call__
        ops = [(fn, s) for fn, s in ((adjust_brightness, self.brightness), (adjust_contrast, self.contrast)) if s > 0]
        order = torch.randperm(len(ops), generator=generator).tolist()
        factors = [uniform(generator, max(0.0, 1.0 - s), 1.0 + s) for _, s in ops]
        out = x.clone()
        for i in order:
            out = ops[i][0](out, factors[i])
        return out


def gaussian_kernel1d(kernel_size: int, sigma: float) -> torch.Tensor:
    """torchvision's Gaussian kernel: ``exp(-x^2 / (2 sigma^2))`` at ``x = -(k-1)/2 .. (k-1)/2``, summing to 1."""
    half = (kernel_size - 1) * 0.5
    x = torch.linspace(-half, half, kernel_size, dtype=torch.float64)
    pdf = torch.exp(-0.5 * (x / sigma) ** 2)
    return pdf / pdf.sum()


@dataclass(frozen=True)
class GaussianBlur(Transform):
    """Blur with a ``kernel_size`` Gaussian of ``sigma ~ U(sigma_min, sigma_max)`` (torchvision ``GaussianBlur``).

    Separable kernel, reflect padding of ``kernel_size // 2`` on every side, as torchvision.
    Source: CMFT adds unspecified "Gaussian blurring" to infrared frames (cmft.txt sec. 4.2);
    the default ``sigma`` range is torchvision's.
    """

    is_random: ClassVar[bool] = True
    kernel_size: int = 5
    sigma_min: float = 0.1
    sigma_max: float = 2.0

    def __post_init__(self) -> None:
        if not isinstance(self.kernel_size, int) or self.kernel_size < 1 or self.kernel_size % 2 == 0:
            raise ConfigError(f"GaussianBlur.kernel_size: expected a positive odd integer, got {self.kernel_size!r}")
        if not 0 < self.sigma_min <= self.sigma_max:
            raise ConfigError(
                f"GaussianBlur: expected 0 < sigma_min <= sigma_max, got {self.sigma_min}, {self.sigma_max}"
            )

    def apply(self, x: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        assert generator is not None  # checked in __call__
        pad = self.kernel_size // 2
        if min(x.shape[1:]) <= pad:
            raise ConfigError(
                f"GaussianBlur: expected an image larger than {pad} pixels per side, got {tuple(x.shape)}"
            )
        sigma = uniform(generator, self.sigma_min, self.sigma_max)
        k = gaussian_kernel1d(self.kernel_size, sigma).to(x.dtype)
        padded = F.pad(x.unsqueeze(0), (pad, pad, pad, pad), mode="reflect")
        rows = F.conv2d(padded, k.view(1, 1, -1, 1).repeat(3, 1, 1, 1), groups=3)
        return F.conv2d(rows, k.view(1, 1, 1, -1).repeat(3, 1, 1, 1), groups=3).squeeze(0)
