"""CAJ's channel augmentations: random channel exchange and channel-adaptive gray (Ye et al., ICCV 2021).

Both act on the NORMALISED tensor, after random erasing: CAJ appends them to the end of
its pipelines (ICCV21_CAJ/data_loader.py; protocols.md sec. 5).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch

from reid.data.transforms.base import Transform
from reid.data.transforms.draws import bernoulli, check_probability, randint
from reid.errors import ConfigError

CAJ_GRAY_WEIGHTS: tuple[float, float, float] = (0.2989, 0.5870, 0.1140)
"""Luminance weights of CAJ's gray branch (ITU-R 601 as rounded in the reference; they sum to 0.9999)."""


def luminance(x: torch.Tensor, weights: tuple[float, float, float]) -> torch.Tensor:
    """``w_R R + w_G G + w_B B`` replicated into 3 channels: ``[3, H, W] -> [3, H, W]``."""
    gray = weights[0] * x[0] + weights[1] * x[1] + weights[2] * x[2]
    return gray.unsqueeze(0).repeat(3, 1, 1)


def replicate_channel(x: torch.Tensor, channel: int) -> torch.Tensor:
    """Channel ``channel`` (0 = R, 1 = G, 2 = B) copied into all three: ``[3, H, W] -> [3, H, W]``."""
    return x[channel : channel + 1].repeat(3, 1, 1)


@dataclass(frozen=True)
class ChannelExchange(Transform):
    """CAJ random channel exchange: replicate one colour channel into all three.

    Source: ``ChannelExchange(gray=2)``, ICCV21_CAJ/data_loader.py (also MSCMNet channel_aug.py);
    protocols.md sec. 5. Draw ``k ~ U{0..gray}`` (inclusive): ``k`` in {0, 1, 2} replicates R, G
    or B; ``k >= 3`` gives CAJ luminance ``0.2989 R + 0.5870 G + 0.1140 B``. With the reference's
    ``gray=2``: P(R) = P(G) = P(B) = 1/3 and never gray; ``gray=3``: each 1/4.
    Quirk: the reference comments call branch 1 "B" and branch 2 "G"; the code replicates
    G (index 1) and B (index 2), which is what this does.
    """

    is_random: ClassVar[bool] = True
    gray: int = 2

    def __post_init__(self) -> None:
        if not isinstance(self.gray, int) or isinstance(self.gray, bool) or self.gray < 0:
            raise ConfigError(f"ChannelExchange.gray: expected a non-negative integer, got {self.gray!r}")

    def apply(self, x: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        assert generator is not None  # checked in __call__
        k = randint(generator, 0, self.gray)
        if k <= 2:
            return replicate_channel(x, k)
        return luminance(x, CAJ_GRAY_WEIGHTS)


@dataclass(frozen=True)
class ChannelAdapGray(Transform):
    """CAJ channel-adaptive gray for infrared images.

    Source: ``ChannelAdapGray(probability=0.5)``, ICCV21_CAJ/ChannelAug.py; protocols.md sec. 5.
    Draw ``k ~ U{0..3}``: ``k`` in {0, 1, 2} replicates R, G or B; ``k = 3`` gives CAJ luminance with
    probability ``p``, else the image unchanged. With ``p = 0.5``: P(R) = P(G) = P(B) = 1/4,
    P(gray) = 1/8, P(unchanged) = 1/8. Quirk: ``p`` is not the probability of applying the
    transform (that line is commented out in the reference) but of gray within the 4th branch.
    """

    is_random: ClassVar[bool] = True
    p: float = 0.5

    def __post_init__(self) -> None:
        check_probability(self.p, "ChannelAdapGray.p")

    def apply(self, x: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        assert generator is not None  # checked in __call__
        k = randint(generator, 0, 3)
        if k <= 2:
            return replicate_channel(x, k)
        if bernoulli(generator, self.p):
            return luminance(x, CAJ_GRAY_WEIGHTS)
        return x.clone()
