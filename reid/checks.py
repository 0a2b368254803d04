"""Argument checks shared across the package: each names the argument and what it accepts."""

from __future__ import annotations

import argparse
import numbers

import torch

from reid.errors import ConfigError


def check_integer(name: str, value: object, low: int, high: int | None = None) -> int:
    """``value`` as an int if it is an integer in ``low..high`` (no upper bound when ``high`` is None).

    Raises:
        ConfigError: anything else (booleans included).
    """
    if (
        isinstance(value, bool)
        or not isinstance(value, numbers.Integral)
        or value < low
        or (high is not None and value > high)
    ):
        if high is not None:
            bound = f"an integer in {low}..{high}"
        else:
            bound = "a positive integer" if low == 1 else f"an integer >= {low}"
        raise ConfigError(f"{name}: expected {bound}, got {value!r}")
    return int(value)


def check_positive_integer(name: str, value: object, high: int | None = None) -> int:
    """``value`` as an int if it is an integer in ``1..high`` (no upper bound when ``high`` is None).

    Raises:
        ConfigError: anything else (booleans included).
    """
    return check_integer(name, value, 1, high)


def check_range(name: str, value: object, high: int) -> tuple[int, int]:
    """``value`` as ``(min, max)`` if it is a pair of integers with ``1 <= min <= max <= high``.

    ``high`` comes from the fixed-width numbers in the synthetic keys (e.g. ``NNNN``).

    Raises:
        ConfigError: anything else.
    """
    if (
        not isinstance(value, (tuple, list))
        or len(value) != 2
        or any(isinstance(v, bool) or not isinstance(v, numbers.Integral) for v in value)
        or not 1 <= value[0] <= value[1] <= high
    ):
        raise ConfigError(f"{name}: expected (min, max) integers with 1 <= min <= max <= {high}, got {value!r}")
    return int(value[0]), int(value[1])


def positive_int_argument(text: str) -> int:
    """An argparse ``type``: ``text`` as an integer >= 1 (argparse names the option in its error)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {value}")
    return value


def check_generator(generator: object, where: str) -> torch.Generator:
    """Refuse anything but a ``torch.Generator``: ``None`` would silently use torch's global RNG.

    Raises:
        ConfigError: ``generator`` is not a ``torch.Generator``.
    """
    if not isinstance(generator, torch.Generator):
        raise ConfigError(f"{where}: expected a torch.Generator (randomness is always passed in), got {generator!r}")
    return generator
