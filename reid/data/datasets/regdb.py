"""RegDB: the dual-camera (visible + thermal) image VI-ReID benchmark, ten random 206/206 splits."""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath
from typing import ClassVar

from reid.data.datasets.base import ImageDataset
from reid.data.datasets.idx_file import read_idx_file
from reid.data.sample import Modality, Sample
from reid.errors import ConfigError, DatasetError

REGDB_TRIALS = tuple(range(1, 11))
# AGW eval_regdb gives every query camera 1 and every gallery camera 2 (protocols.md sec. 2).
REGDB_VISIBLE_CAMERA = 1
REGDB_THERMAL_CAMERA = 2


class RegDB(ImageDataset):
    """RegDB (Nguyen et al., "Person Recognition System Based on a Combination of Body Images
    from Visible Light and Thermal Cameras", Sensors 17(3), 2017), one of its ten VI-ReID trials.

    Official page (request form): http://dm.dongguk.edu/link.html. The ``idx`` split files
    are the ones distributed with the AGW baseline
    (https://github.com/mangye16/Cross-Modal-Re-ID-baseline) and used by every paper since.

    Layout::

        root/
          Visible/<id>/*.bmp           10 visible images per identity
          Thermal/<id>/*.bmp           10 thermal images per identity, same identities
          idx/
            train_visible_{1..10}.txt  one line per image: "<path relative to root> <label>",
            train_thermal_{1..10}.txt  e.g. "Visible/<id>/<name>.bmp 0"; the label numbers the
            test_visible_{1..10}.txt   split's identities from 0
            test_thermal_{1..10}.txt

    Published statistics (paper; protocols.md sec. 2): 412 identities, 10 visible + 10
    thermal images each (8,240 images). Each trial: 206 training identities (2,060
    visible + 2,060 thermal images) and 206 test identities (2,060 + 2,060); query and
    gallery are the test visible and test thermal images (2,060 / 2,060).

    Mirrors AGW ``data_loader.RegDBData`` (training lists) and
    ``data_manager.process_test_regdb`` (test lists): ``train`` = the trial's
    ``train_visible`` lines then its ``train_thermal`` lines, ``test`` = ``test_visible``
    then ``test_thermal``, each in file order. ``pid`` is the file's label, as the
    reference uses it: the labels number each split's identities from 0 (training labels
    are the classifier targets, test labels are compared only with test labels), so a
    training pid and a test pid with the same number are different people. Cameras are
    those of ``eval_regdb``: visible 1, thermal 2.

    Args:
        root: the dataset folder (holding ``Visible``, ``Thermal`` and ``idx``).
        trial: which of the ten splits, 1..10.
        verify_images: decode every listed image once at construction.

    Raises:
        DatasetError: a missing folder or index file, a malformed index line, an index
            line naming a missing image or an image outside its modality's folder, or
            (with ``verify_images``) an undecodable image.
        ConfigError: ``trial`` outside 1..10.
    """

    name: ClassVar[str] = "regdb"
    published_train: ClassVar[tuple[int, int, int] | None] = (206, 2060, 2060)  # each of the ten splits

    def __init__(self, root: str | Path, *, trial: int = 1, verify_images: bool = False) -> None:
        if isinstance(trial, bool) or not isinstance(trial, int) or trial not in REGDB_TRIALS:
            raise ConfigError(f"trial={trial!r} is not valid; expected an integer in 1..10 (RegDB's ten splits)")
        self.root = Path(os.path.abspath(root))
        self.trial = trial
        self._check_before_run()
        self.train = self._split("train")
        self.test = self._split("test")
        if verify_images:
            self.verify_images()

    def _check_before_run(self) -> None:
        if not self.root.is_dir():
            raise DatasetError(self.root, "the RegDB folder (holding Visible/, Thermal/ and idx/)")
        for folder, what in (("Visible", "visible images"), ("Thermal", "thermal images"), ("idx", "split files")):
            if not (self.root / folder).is_dir():
                raise DatasetError(self.root / folder, f"the folder of {what}")

    def _split(self, split: str) -> tuple[Sample, ...]:
        """The trial's ``split`` ("train" or "test"): its visible idx file, then its thermal one."""
        idx = self.root / "idx"
        visible = idx / f"{split}_visible_{self.trial}.txt"
        thermal = idx / f"{split}_thermal_{self.trial}.txt"
        return self._samples(visible, Modality.VISIBLE, "Visible", REGDB_VISIBLE_CAMERA) + self._samples(
            thermal, Modality.INFRARED, "Thermal", REGDB_THERMAL_CAMERA
        )

    def _samples(self, idx_file: Path, modality: Modality, folder: str, camid: int) -> tuple[Sample, ...]:
        samples = []
        for entry in read_idx_file(idx_file):
            field = f"line {entry.line}"
            if PurePosixPath(entry.path).parts[0] != folder:
                raise DatasetError(idx_file, f"an image under {folder}/ ({modality.value}), got {entry.path!r}", field)
            image = self.root / entry.path
            if not image.is_file():
                raise DatasetError(idx_file, f"an existing image; {image} is missing", field)
            samples.append(Sample(str(image), entry.label, camid, modality))
        return tuple(samples)
