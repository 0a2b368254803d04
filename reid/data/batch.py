"""What the training pipeline hands a method: the views it asks for (:class:`ViewSpec`) and the batches of them
(:class:`TrainBatch`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import torch

from reid.data.sample import Modality
from reid.data.transforms import Transform


@dataclass(frozen=True)
class ViewSpec:
    """One image view of every training pair.

    Attributes:
        source: the modality whose sampled image the view starts from, or the name of an
            earlier view whose augmented output it transforms further (CMMP's generated image
            is the channel exchange of the augmented visible view, pixel-aligned with it).
        transform: the augmentation pipeline, ``t(x, generator)``.
    """

    source: Modality | str
    transform: Transform


@dataclass(frozen=True)
class TrainBatch:
    """A training batch: every view of B identity-aligned (visible, infrared) pairs.

    Attributes:
        views: view name -> images ``[B, 3, H, W]``; row i of every view belongs to pair i.
        labels: training labels ``[B]``, shared by all views (the sampler aligns the pairs).
    """

    views: Mapping[str, torch.Tensor]
    labels: torch.Tensor

    def pin_memory(self) -> TrainBatch:
        """The batch in page-locked memory (DataLoader's ``pin_memory`` calls this) for asynchronous copies."""
        return TrainBatch(views={k: v.pin_memory() for k, v in self.views.items()}, labels=self.labels.pin_memory())

    def to(self, device: torch.device | str, *, channels_last: bool = False) -> TrainBatch:
        """The batch on ``device`` (images in channels-last memory order when asked)."""
        fmt = torch.channels_last if channels_last else torch.contiguous_format
        views = {k: v.to(device, non_blocking=True, memory_format=fmt) for k, v in self.views.items()}
        return TrainBatch(views=views, labels=self.labels.to(device, non_blocking=True))
