"""Per-channel normalisation with the ImageNet statistics every reference pipeline uses."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from reid.data.transforms.base import Transform
from reid.errors import ConfigError

IMAGENET_MEAN: tuple[float, float, float] = (0.485, 0.456, 0.406)
IMAGENET_STD: tuple[float, float, float] = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class Normalize(Transform):
    """``(x - mean) / std`` per channel (torchvision ``Normalize``).

    AGW, CAJ, MSCMNet and MITML normalise with ImageNet mean/std (protocols.md sec. 4-7;
    MSCMNet train.py passes the same values, its CLIP statistics are commented out), as does BoT.
    """

    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD

    def __post_init__(self) -> None:
        if len(self.mean) != 3 or len(self.std) != 3 or any(s <= 0 for s in self.std):
            raise ConfigError(f"Normalize: expected 3 means and 3 positive stds, got mean={self.mean} std={self.std}")

    def apply(self, x: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        mean = torch.tensor(self.mean, dtype=x.dtype).view(3, 1, 1)
        std = torch.tensor(self.std, dtype=x.dtype).view(3, 1, 1)
        return (x - mean) / std
