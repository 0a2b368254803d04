"""Applying a per-image transform to the frames of a tracklet clip."""

from __future__ import annotations

import torch

from reid.checks import check_generator
from reid.data.transforms.base import Transform
from reid.errors import ConfigError


def transform_clip(
    transform: Transform, frames: torch.Tensor, generator: torch.Generator, *, shared: bool = False
) -> torch.Tensor:
    """Transform every frame of a clip: ``[S, 3, H, W] -> [S, 3, H', W']``.

    MITML calls its image transform once per frame (data_loader.py ``VideoDataset_train``), so each
    frame gets its own crop, flip and erasing: that is ``shared=False`` (the default), drawing
    frame after frame from ``generator``. ``shared=True`` gives every frame the same random
    parameters instead: one seed is drawn from ``generator`` and each frame is transformed with
    a fresh generator seeded by it, which replays the same draws because no transform's draws
    depend on pixel values.

    Raises:
        ConfigError: ``frames`` is not a ``[S, 3, H, W]`` float tensor with S >= 1.
    """
    check_generator(generator, "transform_clip")
    if not isinstance(frames, torch.Tensor) or frames.ndim != 4 or frames.shape[0] < 1 or frames.shape[1] != 3:
        got = tuple(frames.shape) if isinstance(frames, torch.Tensor) else type(frames).__name__
        raise ConfigError(f"transform_clip: expected a [S, 3, H, W] float tensor with S >= 1, got {got}")
    if not shared:
        return torch.stack([transform(frame, generator) for frame in frames])
    seed = int(torch.randint(0, 2**63 - 1, (), generator=generator).item())
    return torch.stack([transform(frame, torch.Generator().manual_seed(seed)) for frame in frames])
