"""Random erasing (Zhong et al., "Random Erasing Data Augmentation", arXiv:1708.04896), as the references code it."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import torch

from reid.checks import check_positive_integer
from reid.data.transforms.base import Transform
from reid.data.transforms.draws import bernoulli, check_probability, randint, uniform
from reid.errors import ConfigError

ZHONG_FILL: tuple[float, float, float] = (0.4914, 0.4822, 0.4465)
"""Zhong et al.'s default erasing values (the CIFAR-10 mean), kept by CAJ's ChannelRandomErasing and MSCMNet."""


@dataclass(frozen=True)
class RandomErasing(Transform):
    """Erase one random rectangle with constant per-channel values, with probability ``p``.

    Source: CAJ ``ChannelRandomErasing`` (ICCV21_CAJ/ChannelAug.py; protocols.md sec. 5), identical
    in MSCMNet channel_aug.py and in BoT's ``RandomErasing`` (reid-strong-baseline
    data/transforms/transforms.py), which only passes ``fill = ImageNet mean``.

    Algorithm (exactly the reference's): with probability ``p``, for up to ``attempts`` tries draw
    ``target = U(sl, sh) * H * W`` and ``aspect = U(r1, 1/r1)``; ``h = round(sqrt(target * aspect))``,
    ``w = round(sqrt(target / aspect))`` (Python's round, half to even); if ``h < H`` and ``w < W``
    draw ``top ~ U{0..H-h}``, ``left ~ U{0..W-w}`` (inclusive) and fill that box; if no try
    fits, leave the image unchanged.

    Quirks kept: the fill values are written into the NORMALISED tensor (the reference erases
    after ``Normalize``), so CAJ's 0.4914 is about the ImageNet mean plus 0.03 std, not the mean
    colour; rounding lets the erased area stray from ``[sl, sh] * H * W`` by under one pixel row
    and column.

    Args:
        p: probability of erasing (CAJ ``--rande 0.5``; BoT ``RE_PROB 0.5``).
        sl, sh: smallest and largest erased fraction of the image area.
        r1: smallest aspect ratio h/w of the box; the largest is ``1 / r1``.
        fill: the value written into each channel.
        attempts: tries before giving up (100 in every reference).
    """

    is_random: ClassVar[bool] = True
    p: float = 0.5
    sl: float = 0.02
    sh: float = 0.4
    r1: float = 0.3
    fill: tuple[float, float, float] = ZHONG_FILL
    attempts: int = 100

    def __post_init__(self) -> None:
        check_probability(self.p, "RandomErasing.p")
        if not 0.0 < self.sl <= self.sh < 1.0:
            raise ConfigError(f"RandomErasing: expected 0 < sl <= sh < 1, got sl={self.sl} sh={self.sh}")
        if not 0.0 < self.r1 <= 1.0:
            raise ConfigError(f"RandomErasing.r1: expected 0 < r1 <= 1, got {self.r1}")
        if len(self.fill) != 3:
            raise ConfigError(f"RandomErasing.fill: expected 3 values, got {self.fill!r}")
        check_positive_integer("RandomErasing.attempts", self.attempts)

    def sample_box(self, height: int, width: int, generator: torch.Generator) -> tuple[int, int, int, int] | None:
        """The ``(top, left, h, w)`` box to erase in a ``height x width`` image, or None for no erasing."""
        if not bernoulli(generator, self.p):
            return None
        area = height * width
        for _ in range(self.attempts):
            target_area = uniform(generator, self.sl, self.sh) * area
            aspect = uniform(generator, self.r1, 1.0 / self.r1)
            h = int(round(math.sqrt(target_area * aspect)))
            w = int(round(math.sqrt(target_area / aspect)))
            if w < width and h < height:
                top = randint(generator, 0, height - h)
                left = randint(generator, 0, width - w)
                return top, left, h, w
        return None

    def apply(self, x: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        assert generator is not None  # checked in __call__
        out = x.clone()
        box = self.sample_box(x.shape[1], x.shape[2], generator)
        if box is not None:
            top, left, h, w = box
            out[:, top : top + h, left : left + w] = torch.tensor(self.fill, dtype=x.dtype).view(3, 1, 1)
        return out
