"""Geometry: the size check at the head of every recipe, zero padding, random crop, horizontal flip.

These mirror torchvision's ``Pad``, ``RandomCrop`` and ``RandomHorizontalFlip`` as the AGW,
CAJ, MSCMNet, MITML and BoT pipelines use them (protocols.md sec. 4-7). The reference applies
them to PIL images before ``ToTensor``; pixel copies commute with the pointwise ``/255`` of
``ToTensor``, so applying them to the float tensor gives the same result exactly.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
import torch.nn.functional as F

from reid.checks import check_positive_integer
from reid.data.transforms.base import Transform
from reid.data.transforms.draws import bernoulli, check_probability, randint
from reid.errors import ConfigError


def hflip(x: torch.Tensor) -> torch.Tensor:
    """Mirror an image left-right (the last axis). Also the flip of CAJ's flip test-time augmentation (testa.py)."""
    return x.flip(-1)


@dataclass(frozen=True)
class ExpectSize(Transform):
    """Check that the image is ``height x width``, the size the recipe was built for.

    The recipes assume the image was resized once at the Pillow entry
    (:func:`reid.data.transforms.resize`), as AGW/CAJ pre-resize; a wrongly sized input
    would otherwise crop a different field of view without any error.
    """

    height: int
    width: int

    def __post_init__(self) -> None:
        check_positive_integer("ExpectSize.height", self.height)
        check_positive_integer("ExpectSize.width", self.width)

    def apply(self, x: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        if tuple(x.shape[1:]) != (self.height, self.width):
            raise ConfigError(
                f"ExpectSize: expected a (3, {self.height}, {self.width}) image (resize at the Pillow entry with "
                f"reid.data.transforms.resize), got {tuple(x.shape)}"
            )
        return x


@dataclass(frozen=True)
class Pad(Transform):
    """Pad every side by ``padding`` pixels of value ``fill`` (torchvision ``Pad(10)``, constant mode, fill 0).

    AGW/CAJ/MSCMNet/MITML/BoT all use ``Pad(10)`` before ``RandomCrop`` at the original size.
    """

    padding: int = 10
    fill: float = 0.0

    def __post_init__(self) -> None:
        if not isinstance(self.padding, int) or self.padding < 0:
            raise ConfigError(f"Pad.padding: expected a non-negative integer, got {self.padding!r}")

    def apply(self, x: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        p = self.padding
        return F.pad(x, (p, p, p, p), mode="constant", value=self.fill)


@dataclass(frozen=True)
class RandomCrop(Transform):
    """Crop a ``height x width`` window at a uniformly random offset (torchvision ``RandomCrop``).

    Offsets: top ~ U{0..H-height}, then left ~ U{0..W-width}, both inclusive, drawn in that
    order (torchvision ``RandomCrop.get_params``).
    """

    is_random: ClassVar[bool] = True
    height: int
    width: int

    def __post_init__(self) -> None:
        check_positive_integer("RandomCrop.height", self.height)
        check_positive_integer("RandomCrop.width", self.width)

    def sample_offset(self, image_height: int, image_width: int, generator: torch.Generator) -> tuple[int, int]:
        """The ``(top, left)`` corner of the crop for an ``image_height x image_width`` image.

        Raises:
            ConfigError: the image is smaller than the crop.
        """
        if image_height < self.height or image_width < self.width:
            raise ConfigError(
                f"RandomCrop: expected an image at least {self.height} x {self.width}, "
                f"got {image_height} x {image_width}"
            )
        top = randint(generator, 0, image_height - self.height)
        left = randint(generator, 0, image_width - self.width)
        return top, left

    def apply(self, x: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        assert generator is not None  # checked in __call__
        top, left = self.sample_offset(x.shape[1], x.shape[2], generator)
        return x[:, top : top + self.height, left : left + self.width].clone()


@dataclass(frozen=True)
class RandomHorizontalFlip(Transform):
    """Mirror left-right with probability ``p`` (torchvision ``RandomHorizontalFlip(p=0.5)``)."""

    is_random: ClassVar[bool] = True
    p: float = 0.5

    def __post_init__(self) -> None:
        check_probability(self.p, "RandomHorizontalFlip.p")

    def apply(self, x: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        assert generator is not None  # checked in __call__
        return hflip(x) if bernoulli(generator, self.p) else x.clone()
