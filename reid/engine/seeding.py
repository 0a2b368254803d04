"""One seed, every random stream: each consumer gets its own generator derived from ``(seed, stream, *key)``.

Stream ids (the first key after the seed in :func:`reid.data.transforms.derive_generator`):

========  =====================  ===========================================================
id        name                   consumer and further key
========  =====================  ===========================================================
0         ``MODEL_INIT``         parameter initialisation of the method: key ``(0,)`` is the
                                 generator its constructor gets (:func:`init_generator`),
                                 key ``(1,)`` seeds the global generators meanwhile
                                 (:func:`init_seed`)
1         ``SAMPLER``            identity sampler (``reid.data.pipeline.SAMPLER_STREAM``)
2         ``AUGMENT``            per-pair augmentation, key ``(epoch, position)``
                                 (``reid.data.pipeline.AUGMENT_STREAM``)
3         ``LOADER``             the DataLoader's own generator (``reid.data.pipeline.LOADER_STREAM``)
4         ``TRAIN_GLOBAL``       torch's global generators during epoch ``e``, key ``(e,)``:
                                 whatever draws from them inside the model (dropout,
                                 ``torch.rand`` in a layer) or the data loader's worker seeds
========  =====================  ===========================================================

Every stream is a pure function of the seed and its key: epoch ``e`` of a resumed run draws
exactly what epoch ``e`` of an uninterrupted run drew, so no generator state needs to be
checkpointed (the sampler stores its base seed and epoch).

Global generators are touched only inside :func:`seeded_global_rng`, which forks them and
restores them on exit. That is needed because torchvision's and ``torch.nn``'s initialisers
(``kaiming_normal_``, ``nn.Linear.reset_parameters``) and ``nn.Dropout`` take no generator
argument: they draw from torch's default generator.
"""

from __future__ import annotations

import contextlib
import enum
from collections.abc import Iterator
from typing import Any

import torch

from reid.data.pipeline import AUGMENT_STREAM, LOADER_STREAM, SAMPLER_STREAM
from reid.data.transforms.draws import derive_generator


class Stream(enum.IntEnum):
    """The stream ids of the module table; never renumber one (old runs would change)."""

    MODEL_INIT = 0
    SAMPLER = SAMPLER_STREAM
    AUGMENT = AUGMENT_STREAM
    LOADER = LOADER_STREAM
    TRAIN_GLOBAL = 4


def stream_generator(seed: int, stream: Stream | int, *key: int) -> torch.Generator:
    """A fresh CPU generator for ``stream`` (and a further key such as the epoch) under ``seed``.

    Raises:
        ConfigError: the seed or a key element is not a non-negative integer.
    """
    return derive_generator(seed, int(stream), *key)


def stream_seed(seed: int, stream: Stream | int, *key: int) -> int:
    """The integer seed of :func:`stream_generator` (63 bits), for APIs that take a number."""
    return stream_generator(seed, stream, *key).initial_seed()


def stream_table(seed: int) -> dict[str, Any]:
    """The run record's ``seeds``: ``{"seed": seed, "streams": {name: id}}``."""
    return {"seed": seed, "streams": {s.name.lower(): int(s) for s in Stream}}


def init_generator(seed: int) -> torch.Generator:
    """The generator a method's constructor draws its initial weights from (stream ``MODEL_INIT``, key 0)."""
    return stream_generator(seed, Stream.MODEL_INIT, 0)


def init_seed(seed: int) -> int:
    """The seed torch's global generators hold while the method is built (stream ``MODEL_INIT``, key 1).

    A safety net: whatever part of the constructor still draws from the global generators
    (a torch or torchvision layer's default initialiser) draws the same numbers every run.
    """
    return stream_seed(seed, Stream.MODEL_INIT, 1)


def epoch_seed(seed: int, epoch: int) -> int:
    """The seed torch's global generators hold during training epoch ``epoch`` (stream ``TRAIN_GLOBAL``)."""
    return stream_seed(seed, Stream.TRAIN_GLOBAL, epoch)


@contextlib.contextmanager
def seeded_global_rng(seed: int, device: torch.device | str = "cpu") -> Iterator[None]:
    """Run a block with torch's global generators seeded to ``seed``, restoring them afterwards.

    The CPU default generator is always forked; with a CUDA ``device`` that device's generator
    too. Only the forked generators are seeded (not ``torch.manual_seed``, which would also seed
    every CUDA device and leave them changed after the block).

    Args:
        seed: the seed, e.g. :func:`init_seed` or :func:`epoch_seed`.
        device: the device the block computes on.
    """
    device = torch.device(device)
    cuda = [device.index if device.index is not None else torch.cuda.current_device()] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=cuda, device_type="cuda"):
        torch.default_generator.manual_seed(seed)
        for index in cuda:
            torch.cuda.default_generators[index].manual_seed(seed)
        yield


def configure_backends(device: torch.device | str, *, deterministic: bool) -> dict[str, bool]:
    """Set cuDNN's algorithm choice for a run and say what was set (for the record).

    CUDA: ``deterministic=False`` turns on ``cudnn.benchmark`` as AGW does (fastest kernels,
    not bitwise reproducible); ``True`` selects deterministic kernels and disables benchmarking.
    CPU runs are deterministic either way and nothing is changed.

    Returns:
        ``{"cudnn_benchmark": .., "cudnn_deterministic": ..}`` as in effect for the run.
    """
    if torch.device(device).type == "cuda":
        torch.backends.cudnn.benchmark = not deterministic
        torch.backends.cudnn.deterministic = deterministic
    return {
        "cudnn_benchmark": bool(torch.backends.cudnn.benchmark),
        "cudnn_deterministic": bool(torch.backends.cudnn.deterministic),
    }
