"""Broken controls: a run deliberately damaged so that a check can be shown to fail on it.

A control is never a config option: it is passed to :func:`reid.engine.run.run` by the code that
wants to show a bound bites (the benchmark harness's control cases), and its run lives under
``out_dir/controls/<name>/<fingerprint>/``, apart from the real run of the same config, with the
control's name in the record's ``environment.control``. The engine only applies the two hooks;
what they break is the caller's business.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from reid.data.datasets.base import ImageDataset
from reid.methods.base import ReIDMethod

CONTROLS_FOLDER = "controls"


@dataclass(frozen=True)
class RunControl:
    """How a run is broken.

    Attributes:
        name: names the control's folder (letters, digits, ``_`` and ``-``).
        dataset: ``(dataset, seed) -> dataset`` applied to the training data set as loaded, or ``None``.
        method: ``method -> None`` applied to the built (and pre-trained) method before training, or ``None``.
    """

    name: str
    dataset: Callable[[ImageDataset, int], ImageDataset] | None = None
    method: Callable[[ReIDMethod], None] | None = None

    def __post_init__(self) -> None:
        if not self.name or not all(c.isalnum() or c in "_-" for c in self.name):
            raise ValueError(f"control name {self.name!r}: expected letters, digits, '_' and '-' only")


def run_parent(out_dir: Path, control: RunControl | None) -> Path:
    """The folder holding the run folders of ``control`` (``out_dir`` itself for a real run)."""
    return out_dir if control is None else out_dir / CONTROLS_FOLDER / control.name
