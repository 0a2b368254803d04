"""The records every dataset yields and every protocol and loader consumes."""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass


class Modality(enum.StrEnum):
    """Imaging modality of a sample. Near-infrared and thermal are both ``INFRARED``."""

    VISIBLE = "visible"
    INFRARED = "infrared"


@dataclass(frozen=True, slots=True)
class Sample:
    """One image.

    Attributes:
        path: absolute file path for on-disk datasets; a ``synthetic://`` key for generated ones.
        pid: identity as the dataset numbers it (not relabelled).
        camid: camera as the dataset numbers it (1-based, e.g. SYSU-MM01 cams 1-6).
        modality: visible or infrared.
        instance: the image's number within its (identity, camera) folder where the dataset
            defines one (SYSU-MM01 ``NNNN.jpg``; the official gallery permutations index it).
    """

    path: str
    pid: int
    camid: int
    modality: Modality
    instance: int | None = None


@dataclass(frozen=True, slots=True)
class Tracklet:
    """A video tracklet: an ordered run of frames of one identity in one camera.

    Attributes:
        frames: frame paths (or ``synthetic://`` keys) in temporal order.
        pid: identity as the dataset numbers it.
        camid: camera as the dataset numbers it.
        modality: visible or infrared.
    """

    frames: tuple[str, ...]
    pid: int
    camid: int
    modality: Modality

    def __len__(self) -> int:
        return len(self.frames)


def relabel(pids: Iterable[int]) -> dict[int, int]:
    """Map identities to contiguous training labels 0..N-1 in ascending identity order."""
    return {pid: label for label, pid in enumerate(sorted(set(pids)))}
