"""CMMP's random patch mask (cmmp.txt Sec. 3.1): square s x s patches drawn uniformly without replacement.

The image is cut into a grid of ``ceil(H / s) x ceil(W / s)`` square cells of side ``s``,
aligned to the top-left corner; cells on the bottom and right borders are cut to the image
when ``s`` does not divide ``H`` or ``W`` (so every pixel belongs to exactly one cell and can
be masked). Of the ``N`` cells, exactly :func:`masked_patch_count` ``= ceil(r * N)`` are masked
(SimMIM's rule, ``int(np.ceil(token_count * mask_ratio))``), chosen uniformly without
replacement. At the paper's 288 x 144 every mask size of Table 1 (8, 12, 16, 18, 24, 36)
divides both sides, so the border rule only matters at other input sizes.

The mask is drawn once per (visible, infrared) pair from the pair's generator and applied to
the visible, the generated and the infrared image alike (the SAME mask, Sec. 3.1).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import torch

from reid.checks import check_generator, check_integer, check_positive_integer
from reid.data.transforms.base import Transform
from reid.errors import ConfigError

MASK_REFERENCE_HEIGHT = 288
"""Input height at which CMMP states its mask sizes (Sec. 4.2: images are resized to 288 x 144)."""


def patch_grid(height: int, width: int, size: int) -> tuple[int, int]:
    """Rows and columns of the ``size`` x ``size`` cell grid over a ``height`` x ``width`` image (border cells cut).

    Raises:
        ConfigError: a non-positive size or image side.
    """
    for name, value in (("height", height), ("width", width), ("size", size)):
        check_positive_integer(f"patch_grid.{name}", value)
    return math.ceil(height / size), math.ceil(width / size)


def masked_patch_count(num_patches: int, ratio: float) -> int:
    """How many of ``num_patches`` cells are masked at ``ratio``: ``ceil(ratio * num_patches)``.

    ``ratio * num_patches`` is rounded to 9 decimals first, so a product that is an integer on
    paper (0.7 x 10 = 7.000000000000001 in binary floating point) is not pushed up by one.

    Raises:
        ConfigError: ``ratio`` outside [0, 1] or a negative count.
    """
    check_integer("masked_patch_count.num_patches", num_patches, 0)
    if not 0.0 <= ratio <= 1.0:
        raise ConfigError(f"mask_ratio: expected a ratio in [0, 1], got {ratio!r}")
    return math.ceil(round(ratio * num_patches, 9))


def scaled_mask_size(size: int, height: int, reference_height: int | None = MASK_REFERENCE_HEIGHT) -> int:
    """The patch side in pixels at input ``height`` for a mask size stated at ``reference_height``.

    ``round(size * height / reference_height)``, at least 1: the mask covers the same share of
    the person at any input size (16 px at 288 x 144 -> 4 px at the smoke profile's 64 x 32).
    ``reference_height=None`` takes ``size`` as pixels of the actual input.

    Raises:
        ConfigError: a non-positive size or height.
    """
    for name, value in (("mask_size", size), ("height", height)):
        check_positive_integer(name, value)
    if reference_height is None:
        return size
    check_positive_integer("mask_reference_height", reference_height)
    return max(1, round(size * height / reference_height))


def draw_patch_mask(height: int, width: int, size: int, ratio: float, generator: torch.Generator) -> torch.Tensor:
    """A boolean ``[H, W]`` mask (True = masked): :func:`masked_patch_count` cells of the grid, uniformly.

    Raises:
        ConfigError: bad sizes or ratio, or no generator.
    """
    check_generator(generator, "draw_patch_mask")
    rows, cols = patch_grid(height, width, size)
    chosen = torch.randperm(rows * cols, generator=generator)[: masked_patch_count(rows * cols, ratio)]
    cells = torch.zeros(rows * cols, dtype=torch.bool)
    cells[chosen] = True
    grid = cells.view(rows, cols)
    return grid.repeat_interleave(size, 0).repeat_interleave(size, 1)[:height, :width]


@dataclass(frozen=True)
class RandomPatchMask(Transform):
    """The mask "view" of a training pair: ``[1, H, W]`` float, 1 on masked pixels (Sec. 3.1).

    Unlike the image transforms it returns one channel: it reads only the size of its input
    (the augmented visible image), so the mask lines up with every view of that size.

    Attributes:
        size: patch side in pixels of the input (see :func:`scaled_mask_size`).
        ratio: share of cells masked (Sec. 3.1: 0.8).
    """

    is_random: ClassVar[bool] = True
    size: int = 16
    ratio: float = 0.8

    def __post_init__(self) -> None:
        check_positive_integer("RandomPatchMask.size", self.size)
        masked_patch_count(1, self.ratio)

    def apply(self, x: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        assert generator is not None  # checked in __call__
        _, height, width = x.shape
        return draw_patch_mask(height, width, self.size, self.ratio, generator).to(x.dtype).unsqueeze(0)
