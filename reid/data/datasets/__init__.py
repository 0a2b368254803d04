"""Dataset registry: every data set by the name the command line and configs use."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from reid.data.datasets.base import ImageDataset, VideoDataset
from reid.data.datasets.hitsz_vcm import HITSZVCM
from reid.data.datasets.llcm import LLCM
from reid.data.datasets.regdb import RegDB
from reid.data.datasets.synthetic import SyntheticVIReID
from reid.data.datasets.synthetic_video import SyntheticVideoVIReID
from reid.data.datasets.sysu_mm01 import SYSUMM01
from reid.errors import ConfigError

DATASETS: Mapping[str, type[ImageDataset] | type[VideoDataset]] = MappingProxyType(
    {cls.name: cls for cls in (SYSUMM01, RegDB, LLCM, HITSZVCM, SyntheticVIReID, SyntheticVideoVIReID)}
)
"""Name -> class. Real data sets take the data root as their first argument; synthetic ones take none."""

SYNTHETIC = frozenset({SyntheticVIReID.name, SyntheticVideoVIReID.name})


def build_dataset(name: str, root: str | None = None, **options: Any) -> ImageDataset | VideoDataset:
    """Construct a data set by name.

    Args:
        name: one of :data:`DATASETS`.
        root: the data set's folder (real data sets only).
        **options: keyword arguments of the class (``trial`` for RegDB, ``seed`` for synthetic, ...).

    Raises:
        ConfigError: unknown name, or a root given to / missing for the wrong kind of data set.
    """
    if name not in DATASETS:
        raise ConfigError(f"dataset={name!r} is not known; expected one of {', '.join(sorted(DATASETS))}")
    cls = DATASETS[name]
    if name in SYNTHETIC:
        if root is not None:
            raise ConfigError(f"dataset={name!r} is generated and takes no root, got root={root!r}")
        return cls(**options)
    if root is None:
        raise ConfigError(f"dataset={name!r} needs its data root (the folder in its official layout)")
    return cls(root, **options)


__all__ = ["DATASETS", "HITSZVCM", "LLCM", "SYSUMM01", "ImageDataset", "RegDB", "SyntheticVIReID",
           "SyntheticVideoVIReID", "VideoDataset", "build_dataset"]
