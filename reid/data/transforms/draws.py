"""Random draws from an explicit ``torch.Generator``: the only source of randomness of every transform.

The reference code draws with Python's ``random`` (``random.uniform``, ``random.randint``,
both ends inclusive) or with torch's global generator. These helpers give the same
distributions from the generator passed in, so a transform never touches global state
and a seeded generator reproduces its output exactly.

Comparisons follow the reference where it matters only on a set of probability zero
(``u > p`` there, ``u < p`` here), so the branch probabilities are the same.
"""

from __future__ import annotations

import numpy as np
import torch

from reid.errors import ConfigError


def uniform(generator: torch.Generator, low: float, high: float) -> float:
    """One draw from U(low, high) in double precision, as Python's ``random.uniform(low, high)``."""
    u = torch.rand((), generator=generator, dtype=torch.float64).item()
    return low + (high - low) * u


def randint(generator: torch.Generator, low: int, high: int) -> int:
    """One integer uniform on ``low..high`` INCLUSIVE, as Python's ``random.randint(low, high)``."""
    return int(torch.randint(low, high + 1, (), generator=generator).item())


def bernoulli(generator: torch.Generator, p: float) -> bool:
    """True with probability ``p``."""
    return torch.rand((), generator=generator, dtype=torch.float64).item() < p


def check_probability(p: float, name: str) -> float:
    """Validate a probability argument.

    Raises:
        ConfigError: ``p`` is outside [0, 1].
    """
    if not 0.0 <= p <= 1.0:
        raise ConfigError(f"{name}: expected a probability in [0, 1], got {p!r}")
    return float(p)


def derive_generator(seed: int, *key: int) -> torch.Generator:
    """A fresh generator for the stream named by ``key`` (e.g. ``epoch`` or ``epoch, sample``) under ``seed``.

    Seeded by ``SeedSequence(entropy=seed, spawn_key=key)``, which mixes the numbers so that
    neighbouring keys give unrelated streams, and a stream never depends on what was drawn before
    it (exact resume; data-loader workers that each derive their own generator).

    Raises:
        ConfigError: ``seed`` or a key element is not a non-negative integer.
    """
    for value in (seed, *key):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
            raise ConfigError(f"derive_generator: expected non-negative integers, got seed={seed!r} key={key!r}")
    state = np.random.SeedSequence(entropy=int(seed), spawn_key=tuple(int(k) for k in key)).generate_state(
        2, dtype=np.uint32
    )
    # 63 bits: within the range torch.Generator.manual_seed accepts.
    return torch.Generator().manual_seed((int(state[0]) << 31) ^ int(state[1]))
