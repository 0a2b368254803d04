"""Seed derivation for the synthetic data sets: one independent generator per named purpose.

Every random choice of the synthetic data (an identity's looks, a camera's scene, one
image's pose and lighting, the data set's camera coverage) draws from its own
``numpy.random.Generator``, seeded by ``SeedSequence(entropy=seed, spawn_key=(stream, *key))``.
An image therefore depends only on (data set seed, identity, camera, instance) and never
on how many images were drawn before it: reading in any order gives the same pixels.
"""

from __future__ import annotations

import enum
import numbers

import numpy as np

from reid.errors import ConfigError


class Stream(enum.IntEnum):
    """What a generator is for; the value is the first element of the spawn key.

    Distinct streams keep, e.g., identity 3's appearance independent of camera 3's scene.
    The numbers are part of the data: changing one changes every generated image.
    """

    APPEARANCE = 1
    SCENE = 2
    IMAGE = 3
    COVERAGE = 4
    PERMUTATION = 5
    TRACKLET = 6


def check_seed(seed: object) -> int:
    """Validate a data set seed: a non-negative integer (what ``SeedSequence`` accepts).

    Raises:
        ConfigError: ``seed`` is not a non-negative integer.
    """
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
        raise ConfigError(f"seed: expected a non-negative integer, got {seed!r}")
    return int(seed)


def derive_rng(seed: int, stream: Stream, *key: int) -> np.random.Generator:
    """The generator for ``stream`` and ``key`` (e.g. ``pid, camid, instance``) under ``seed``.

    Args:
        seed: the data set seed (non-negative).
        stream: what the numbers are for.
        key: non-negative integers naming the item within the stream.
    """
    return np.random.default_rng(np.random.SeedSequence(entropy=seed, spawn_key=(int(stream), *key)))
