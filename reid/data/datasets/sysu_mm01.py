"""SYSU-MM01: the image VI-ReID benchmark of four visible and two near-infrared cameras."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import ClassVar

from reid.data.datasets.base import ImageDataset
from reid.data.sample import Modality, Sample
from reid.data.sysu_permutations import load_id_list
from reid.errors import ConfigError, DatasetError

SYSU_VISIBLE_CAMERAS = (1, 2, 4, 5)
SYSU_INFRARED_CAMERAS = (3, 6)
TRAIN_ID_CHOICES = ("train+val", "train")
# Official file names are the 1-based image number on four digits (AGW slices path[-8:-4]).
_IMAGE_NAME = re.compile(r"^(\d{4})\.jpg$")


class SYSUMM01(ImageDataset):
    """SYSU-MM01 (Wu et al., "RGB-Infrared Cross-Modality Person Re-Identification", ICCV 2017).

    Official page and evaluation code: https://github.com/wuancong/SYSU-MM01

    Layout (the dataset archive as distributed; ``exp/`` holds the official split)::

        root/
          cam1/ cam2/ cam4/ cam5/      visible (RGB) cameras
          cam3/ cam6/                  near-infrared cameras (cam3 shares a room with cam2)
            0001/                      PPPP: identity, 4 digits; absent where the camera never saw the person
              0001.jpg 0002.jpg ...    NNNN: 1-based image number within (camera, identity)
          exp/
            train_id.txt  val_id.txt  test_id.txt   one line of comma-separated identities

    Published statistics (official README; protocols.md sec. 1.1 and 11): 491 identities,
    30,071 visible + 15,792 infrared images; 296 train + 99 val + 96 test identities.
    Training on train+val (AGW/CAJ/MSCMNet) = 395 identities, 22,258 visible + 11,909
    infrared images. Test identities: 3,803 infrared images (the all-search query); the
    single-shot gallery takes one visible image per identity and camera (301 per trial).

    Mirrors AGW/CAJ ``pre_process_sysu.py`` (training list) and ``data_manager.py``
    (``process_query_sysu`` / ``process_gallery_sysu``, test identities): identities in
    ascending ``"%04d"`` order, within an identity the cameras in the order 1, 2, 4, 5
    (visible) and 3, 6 (infrared), within a folder the images by number. ``train`` and
    ``test`` each list every visible image first, then every infrared image. ``test``
    holds all images of the test identities in all six cameras; the protocols in
    :mod:`reid.eval.protocols` pick query and gallery from it. No relabelling: ``pid`` is
    the folder number and ``instance`` the image number.

    Args:
        root: the dataset folder (the one holding ``cam1`` ... ``cam6`` and ``exp``).
        train_ids: ``"train+val"`` (395 identities, what AGW/CAJ/MSCMNet train on) or
            ``"train"`` (the 296 official training identities only).
        verify_images: decode every image once at construction (slow: 45,863 images on
            the real set); without it only folder listings are read and an unreadable
            file surfaces at :meth:`read`.

    Raises:
        DatasetError: a missing or misplaced folder or split file, a malformed split
            file, overlapping train and test identities, a split file naming an identity
            without images, a file in an identity folder not named ``NNNN.jpg``, or (with
            ``verify_images``) an undecodable image.
        ConfigError: ``train_ids`` outside the choices above.
    """

    name: ClassVar[str] = "sysu_mm01"
    published_train: ClassVar[tuple[int, int, int] | None] = (395, 22258, 11909)  # train + val, the default

    def __init__(self, root: str | Path, *, train_ids: str = "train+val", verify_images: bool = False) -> None:
        if train_ids not in TRAIN_ID_CHOICES:
            raise ConfigError(f"train_ids={train_ids!r} is not valid; expected one of {TRAIN_ID_CHOICES}")
        self.root = Path(os.path.abspath(root))
        self.train_ids = train_ids
        self._check_before_run()
        exp = self.root / "exp"
        id_files = [exp / "train_id.txt"] + ([exp / "val_id.txt"] if train_ids == "train+val" else [])
        # Each identity remembers the split file that named it, so an error can point at that file.
        training = {pid: path for path in id_files for pid in load_id_list(path)}
        testing = {pid: exp / "test_id.txt" for pid in load_id_list(exp / "test_id.txt")}
        overlap = sorted(training.keys() & testing.keys())
        if overlap:
            raise DatasetError(exp / "test_id.txt", f"identities disjoint from the training ids, got {overlap[:5]}")
        self.train = self._collect(training)
        self.test = self._collect(testing)
        if verify_images:
            self.verify_images()

    def _check_before_run(self) -> None:
        if not self.root.is_dir():
            raise DatasetError(self.root, "the SYSU-MM01 folder (holding cam1..cam6 and exp/)")
        for camid in SYSU_VISIBLE_CAMERAS + SYSU_INFRARED_CAMERAS:
            folder = self.root / f"cam{camid}"
            if not folder.is_dir():
                raise DatasetError(folder, f"the folder of camera {camid} (one sub-folder per identity)")
        if not (self.root / "exp").is_dir():
            raise DatasetError(self.root / "exp", "the official split folder (train_id.txt, val_id.txt, test_id.txt)")

    def _collect(self, id_files: dict[int, Path]) -> tuple[Sample, ...]:
        """Every image of the identities ``id_files`` maps to the split file naming them.

        Visible cameras first, then infrared; identity-major in ascending order.
        """
        visible: list[Sample] = []
        infrared: list[Sample] = []
        # Ascending numbers = AGW's sorted "%04d" folder names for the 4-digit ids SYSU-MM01 has.
        for pid in sorted(id_files):
            found = 0
            for cameras, modality, out in (
                (SYSU_VISIBLE_CAMERAS, Modality.VISIBLE, visible),
                (SYSU_INFRARED_CAMERAS, Modality.INFRARED, infrared),
            ):
                for camid in cameras:
                    images = self._list_identity(camid, pid, modality)
                    out.extend(images)
                    found += len(images)
            if found == 0:
                raise DatasetError(id_files[pid], f"identities with images; {pid:04d} has none in cam1..cam6")
        return tuple(visible + infrared)

    def _list_identity(self, camid: int, pid: int, modality: Modality) -> list[Sample]:
        """The images of one (camera, identity) folder, by image number; none if the folder is absent."""
        folder = self.root / f"cam{camid}" / f"{pid:04d}"
        if not folder.exists():
            return []
        if not folder.is_dir():
            raise DatasetError(folder, "a folder of NNNN.jpg images, found a file")
        samples = []
        # scandir's entries know their type without one stat per image (45k on the real set).
        with os.scandir(folder) as entries:
            for entry in entries:
                if entry.name.startswith("."):  # .DS_Store and the like are not part of the layout
                    continue
                match = _IMAGE_NAME.match(entry.name)
                if match is None or not entry.is_file():
                    expected = "only image files named NNNN.jpg (4-digit image number) in an identity folder"
                    raise DatasetError(entry.path, expected)
                samples.append(Sample(entry.path, pid, camid, modality, instance=int(match.group(1))))
        return sorted(samples, key=lambda s: s.instance)
