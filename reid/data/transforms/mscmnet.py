"""MSCMNet's infrared views: its modified channel-adaptive gray (ir1) and the channel tint ChannelT (ir2).

MSCMNet (mscmnet.txt sec. III-A and IV-B) "enhance[s] the IR modality by giving some channel
information" ("IR channel expansion"). No explicit 1 -> 3 channel operation exists in the released
code (Hua-XC/MSCMNet): infrared JPEGs already load as 3 equal channels, and the second infrared
view's ``ColorJitter(brightness=0.5)`` + ``ChannelT`` is what gives them distinct channels
(protocols.md sec. 6). Both transforms act on the normalised tensor, after random erasing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch

from reid.data.transforms.base import Transform
from reid.data.transforms.channel import CAJ_GRAY_WEIGHTS, luminance, replicate_channel
from reid.data.transforms.draws import bernoulli, check_probability, randint, uniform


@dataclass(frozen=True)
class MscmnetChannelAdapGray(Transform):
    """MSCMNet's modified ``ChannelAdapGray(probability=0.5)`` for the first infrared view.

    Source: Hua-XC/MSCMNet channel_aug.py ``ChannelAdapGray``; protocols.md sec. 6. Draw
    ``k ~ U{0, 1}``: ``k = 0`` replicates G into R and B; ``k = 1`` gives CAJ luminance with
    probability ``p``, else the image unchanged. With ``p = 0.5``: P(G) = 1/2, P(gray) = 1/4,
    P(unchanged) = 1/4. (CAJ's R and B branches are commented out in that file.)
    """

    is_random: ClassVar[bool] = True
    p: float = 0.5

    def __post_init__(self) -> None:
        check_probability(self.p, "MscmnetChannelAdapGray.p")

    def apply(self, x: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        assert generator is not None  # checked in __call__
        if randint(generator, 0, 1) == 0:
            return replicate_channel(x, 1)
        if bernoulli(generator, self.p):
            return luminance(x, CAJ_GRAY_WEIGHTS)
        return x.clone()


@dataclass(frozen=True)
class ChannelT(Transform):
    """MSCMNet ``ChannelT(probability=0.5)``: scale each channel by its own random factor.

    Source: Hua-XC/MSCMNet channel_aug.py ``ChannelT``; protocols.md sec. 6. With probability ``p``
    draw ``a, b, c ~ U(0.01, 0.5)`` independently (in that order) and multiply R, G, B by
    ``2a, 2b, 2c`` (factors in [0.02, 1.0]); else return the image unchanged. Applied to the
    normalised tensor, so it shrinks values toward 0 (the ImageNet mean), not toward black.
    """

    is_random: ClassVar[bool] = True
    p: float = 0.5
    low: float = 0.01
    high: float = 0.5

    def __post_init__(self) -> None:
        check_probability(self.p, "ChannelT.p")

    def apply(self, x: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        assert generator is not None  # checked in __call__
        if not bernoulli(generator, self.p):
            return x.clone()
        factors = [2.0 * uniform(generator, self.low, self.high) for _ in range(3)]
        return x * torch.tensor(factors, dtype=x.dtype).view(3, 1, 1)
