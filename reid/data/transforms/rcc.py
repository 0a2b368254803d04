"""FF-DML's Random Combination of Channels (RCC), ffdml.txt sec. 3.1 and Fig. 2."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch

from reid.data.transforms.base import Transform
from reid.data.transforms.channel import CAJ_GRAY_WEIGHTS, luminance
from reid.data.transforms.draws import randint

RCC_ORDERS: tuple[tuple[int, int, int], ...] = (
    (0, 1, 2),  # R-G-B (the image unchanged)
    (0, 2, 1),  # R-B-G
    (2, 1, 0),  # B-G-R
    (2, 0, 1),  # B-R-G
    (1, 2, 0),  # G-B-R
    (1, 0, 2),  # G-R-B
)
"""The six channel orders in the paper's order; output channel ``i`` is input channel ``order[i]``."""
RCC_GRAY = len(RCC_ORDERS)
"""Index of the seventh option, the grayscale image."""


@dataclass(frozen=True)
class RandomChannelCombination(Transform):
    """RCC: replace the visible image by one of seven, chosen uniformly (each 1/7).

    Source: ffdml.txt sec. 3.1: "disrupt the order of channels (R, G, or B), including R-G-B,
    R-B-G, B-G-R, B-R-G, G-B-R and G-R-B. In addition, the visible image is converted into a
    grayscale image. Randomly select one of the seven images ... to replace the visible image."
    Draw ``k ~ U{0..6}``: ``k < 6`` reorders the channels by ``RCC_ORDERS[k]`` (``k = 0`` is the
    image itself, listed among the seven); ``k = 6`` gives CAJ luminance
    ``0.2989 R + 0.5870 G + 0.1140 B`` in all three channels.

    Unstated in the paper, decided here (docs/decisions.md): the uniform choice, the
    CAJ gray weights, and the position (after normalisation and erasing, where CAJ's
    ChannelExchange sits, since FF-DML uses CAJ's channel random erasing [22]).

    Args:
        gray_weights: luminance weights of the seventh option.
    """

    is_random: ClassVar[bool] = True
    gray_weights: tuple[float, float, float] = CAJ_GRAY_WEIGHTS

    def apply(self, x: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        assert generator is not None  # checked in __call__
        k = randint(generator, 0, RCC_GRAY)
        if k == RCC_GRAY:
            return luminance(x, self.gray_weights)
        return x[list(RCC_ORDERS[k])].clone()
