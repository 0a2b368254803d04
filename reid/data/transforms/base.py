"""The transform interface: ``t(x, generator) -> Tensor`` on CHW float images, and its composition.

Every transform takes a ``3 x H x W`` floating-point tensor and the ``torch.Generator`` that
all of its randomness comes from, and returns a new tensor (inputs are never changed in
place, unlike the reference code, which erases and exchanges channels in place).
Deterministic transforms accept the generator and ignore it; random ones refuse ``None``
because torch would then fall back to its global generator.
"""

from __future__ import annotations

import abc
from typing import ClassVar

import torch

from reid.checks import check_generator
from reid.data.transforms.draws import bernoulli, check_probability
from reid.errors import ConfigError


def check_image(x: object, where: str) -> torch.Tensor:
    """Validate a transform input: a floating-point tensor of shape ``(3, H, W)``.

    Raises:
        ConfigError: anything else, naming the transform and what it got.
    """
    if not isinstance(x, torch.Tensor):
        raise ConfigError(f"{where}: expected a (3, H, W) float tensor, got {type(x).__name__}")
    if x.ndim != 3 or x.shape[0] != 3 or not x.dtype.is_floating_point:
        raise ConfigError(f"{where}: expected a (3, H, W) float tensor, got shape {tuple(x.shape)} dtype {x.dtype}")
    return x


class Transform(abc.ABC):
    """Base of every transform. Subclasses implement :meth:`apply` and set ``is_random``."""

    is_random: ClassVar[bool] = False

    def __call__(self, x: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        """Validate the input (and the generator, for random transforms) and apply the transform.

        Args:
            x: ``[3, H, W]`` float image.
            generator: source of every random draw; ignored by deterministic transforms.

        Returns:
            A new ``[3, H', W']`` tensor of the same dtype.
        """
        check_image(x, type(self).__name__)
        if self.is_random:
            check_generator(generator, type(self).__name__)
        return self.apply(x, generator)

    @abc.abstractmethod
    def apply(self, x: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        """The transform itself, on an input already validated by :meth:`__call__`."""


class Compose(Transform):
    """Apply transforms in order, passing the same generator through.

    Mirrors ``torchvision.transforms.Compose`` except that randomness comes from the
    generator argument, so one seeded generator reproduces a whole pipeline.
    """

    def __init__(self, *transforms: Transform) -> None:
        for t in transforms:
            if not isinstance(t, Transform):
                raise ConfigError(f"Compose: expected Transform instances, got {type(t).__name__}")
        self.transforms: tuple[Transform, ...] = transforms

    @property
    def is_random(self) -> bool:  # type: ignore[override]
        return any(t.is_random for t in self.transforms)

    def apply(self, x: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        for t in self.transforms:
            x = t(x, generator)
        return x

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Compose) and self.transforms == other.transforms

    def __hash__(self) -> int:
        return hash(self.transforms)

    def __repr__(self) -> str:
        inner = ",\n".join(f"    {t!r}" for t in self.transforms)
        return f"Compose(\n{inner}\n)"


class RandomApply(Transform):
    """Apply ``transform`` with probability ``p``, else return the input (torchvision ``RandomApply``)."""

    is_random = True

    def __init__(self, transform: Transform, p: float) -> None:
        if not isinstance(transform, Transform):
            raise ConfigError(f"RandomApply: expected a Transform, got {type(transform).__name__}")
        self.transform = transform
        self.p = check_probability(p, "RandomApply.p")

    def apply(self, x: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        assert generator is not None  # checked in __call__
        if bernoulli(generator, self.p):
            return self.transform(x, generator)
        return x.clone()

    def __eq__(self, other: object) -> bool:
        return isinstance(other, RandomApply) and (self.transform, self.p) == (other.transform, other.p)

    def __hash__(self) -> int:
        return hash((self.transform, self.p))

    def __repr__(self) -> str:
        return f"RandomApply({self.transform!r}, p={self.p})"
