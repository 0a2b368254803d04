"""What every dataset offers: training and test records and a way to read them."""

from __future__ import annotations

import abc
from typing import ClassVar

from PIL import Image

from reid.data.image import read_image
from reid.data.sample import Modality, Sample, Tracklet


class ImageDataset(abc.ABC):
    """An image VI-ReID dataset.

    Subclasses fill ``train`` (the images a model may learn from) and ``test`` (every
    image of the test identities; the protocols in :mod:`reid.eval.protocols` choose
    query and gallery from it) in their constructor, and check the layout there so
    that a wrong folder fails at once with a :class:`reid.errors.DatasetError`.
    """

    name: ClassVar[str]
    published_train: ClassVar[tuple[int, int, int] | None] = None
    """(identities, visible images, infrared images) of the default training set as published, for planning a
    run without the data (``reid plan``); ``None`` for generated data sets (build them and count)."""
    train: tuple[Sample, ...]
    test: tuple[Sample, ...]

    def read(self, sample: Sample) -> Image.Image:
        """The RGB image of ``sample``."""
        return read_image(sample.path)

    def verify_images(self) -> None:
        """Decode every image once: a corrupt file fails here, naming its path, not mid-training."""
        for sample in self.train + self.test:
            self.read(sample)

    def summary(self) -> dict[str, int]:
        """Counts for ``reid datasets`` and the dataset docstrings."""
        return _summarise(self.train, "train") | _summarise(self.test, "test")


class VideoDataset(abc.ABC):
    """A video VI-ReID dataset of tracklets.

    ``query_rows`` are 0-based rows of ``test`` that form the infrared query set of the
    infrared->visible direction (HITSZ-VCM's query_IDX); the protocols swap roles for the
    other direction.
    """

    name: ClassVar[str]
    train: tuple[Tracklet, ...]
    test: tuple[Tracklet, ...]
    query_rows: tuple[int, ...]

    def read(self, frame: str) -> Image.Image:
        """The RGB image of one frame."""
        return read_image(frame)

    def verify_images(self) -> None:
        """Decode every frame once: a corrupt file fails here, naming its path, not mid-training."""
        for tracklet in self.train + self.test:
            for frame in tracklet.frames:
                self.read(frame)

    def summary(self) -> dict[str, int]:
        """Counts for ``reid datasets`` and the dataset docstrings."""
        return _summarise(self.train, "train") | _summarise(self.test, "test")


def _summarise(records: tuple[Sample, ...] | tuple[Tracklet, ...], split: str) -> dict[str, int]:
    counts = {f"{split}_ids": len({r.pid for r in records})}
    for modality in Modality:
        counts[f"{split}_{modality.value}"] = sum(r.modality is modality for r in records)
    return counts
