"""LLCM: the low-light cross-modality image VI-ReID benchmark (nine visible/near-infrared cameras)."""

from __future__ import annotations

import os
import re
from pathlib import Path, PurePosixPath
from typing import ClassVar

from reid.data.datasets.base import ImageDataset
from reid.data.datasets.idx_file import read_idx_file
from reid.data.sample import Modality, Sample
from reid.data.sysu_permutations import load_id_list
from reid.errors import DatasetError

# DEEN/MSCMNet process_query_llcm and process_gallery_llcm list these folders (no NIR cam3).
LLCM_VISIBLE_CAMERAS = (1, 2, 3, 4, 5, 6, 7, 8, 9)
LLCM_INFRARED_CAMERAS = (1, 2, 4, 5, 6, 7, 8, 9)
_IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp")
_CAMERA_FOLDER = re.compile(r"^cam(\d+)$")
# Image names are "<id>_c<camera>_s<...>_f<...>_<vis|nir>.jpg", e.g. 0003_c01_s185734_f3195_nir.jpg.
_CAMERA_IN_NAME = re.compile(r"^\d+_c(\d+)_")
_ID_FOLDER = re.compile(r"^\d{4}$")


class LLCM(ImageDataset):
    """LLCM (Zhang and Wang, "Diverse Embedding Expansion Network and Low-Light Cross-Modality
    Benchmark for Visible-Infrared Person Re-identification", CVPR 2023).

    Official page (release agreement, code): https://github.com/ZYK100/LLCM

    Layout::

        root/
          idx/
            train_vis.txt          lines "<path relative to root> <label>", label = training class 0..712
            train_nir.txt
            test_id.txt            one line of comma-separated test identities
          <training images>        wherever train_*.txt point, e.g. nir/0001/0001_c01_s185535_f7010_nir.jpg
          test_vis/cam1 ... cam9/PPPP/*.jpg          visible test images, PPPP = identity
          test_nir/cam{1,2,4,5,6,7,8,9}/PPPP/*.jpg   near-infrared test images (no NIR camera 3)

    Published statistics (DEEN paper, sec. 4.1-4.2): 46,767 bounding boxes of 1,064
    identities from 9 cameras. Training: 30,921 boxes of 713 identities (16,946 VIS +
    13,975 IR). Testing: 13,909 boxes of 351 identities (8,680 VIS + 7,166 IR, as
    printed; the two parts do not add up to the total the paper gives).

    Mirrors DEEN ``data_loader.LLCMData`` (training lists, read as ``<path> <label>``
    lines) and ``data_manager.process_query_llcm`` / ``process_gallery_llcm`` (test
    folders): ``train`` = ``train_vis.txt`` then ``train_nir.txt`` in file order;
    ``test`` = every image of the test identities, visible then near-infrared, each
    identity-major (ascending ``"%04d"``), then camera, then file name. For test images
    ``camid`` is the number in the ``camK`` folder and ``pid`` the ``PPPP`` folder, as
    the reference parses them; for training images ``pid`` is the image's ``PPPP``
    folder and ``camid`` the ``_cNN`` field of its name, and the file's label must be
    the same for every image of an identity in both training files.

    Args:
        root: the dataset folder (holding ``idx``, ``test_vis``, ``test_nir``).
        verify_images: decode every image once at construction.

    Raises:
        DatasetError: a missing folder or index file, a malformed index line, a training
            image that is missing, is not in a ``PPPP`` folder or lacks ``_cNN`` in its
            name, labels that disagree for one identity, a test folder not named after an
            LLCM camera, a file in an identity folder that is not an image, a test
            identity without images or with training images, or (with ``verify_images``) an undecodable image.
    """

    name: ClassVar[str] = "llcm"
    published_train: ClassVar[tuple[int, int, int] | None] = (713, 16946, 13975)  # docstring above

    def __init__(self, root: str | Path, *, verify_images: bool = False) -> None:
        self.root = Path(os.path.abspath(root))
        self._check_before_run()
        idx = self.root / "idx"
        labels: dict[int, tuple[int, Path, int]] = {}
        self.train = self._train_samples(idx / "train_vis.txt", Modality.VISIBLE, labels) + self._train_samples(
            idx / "train_nir.txt", Modality.INFRARED, labels
        )
        test_ids = load_id_list(idx / "test_id.txt")
        overlap = sorted(labels.keys() & set(test_ids))
        if overlap:
            expected = f"identities disjoint from the training images' identities, got {overlap[:5]}"
            raise DatasetError(idx / "test_id.txt", expected)
        self.test = self._test_samples(test_ids)
        if verify_images:
            self.verify_images()

    def _check_before_run(self) -> None:
        if not self.root.is_dir():
            raise DatasetError(self.root, "the LLCM folder (holding idx/, test_vis/ and test_nir/)")
        folders = (("idx", "split files"), ("test_vis", "visible test cameras"), ("test_nir", "NIR test cameras"))
        for folder, what in folders:
            if not (self.root / folder).is_dir():
                raise DatasetError(self.root / folder, f"the folder of {what}")

    def _train_samples(
        self, idx_file: Path, modality: Modality, labels: dict[int, tuple[int, Path, int]]
    ) -> tuple[Sample, ...]:
        """One file's training images; ``labels`` (pid -> label, file, line) is shared by both files."""
        samples = []
        for entry in read_idx_file(idx_file):
            field = f"line {entry.line}"
            rel = PurePosixPath(entry.path)
            image = self.root / entry.path
            if len(rel.parts) < 2 or not _ID_FOLDER.match(rel.parts[-2]):
                raise DatasetError(idx_file, f"an image inside its 4-digit identity folder, got {entry.path!r}", field)
            match = _CAMERA_IN_NAME.match(rel.name)
            if match is None:
                raise DatasetError(idx_file, f"an image name '<id>_c<camera>_...', got {rel.name!r}", field)
            if not image.is_file():
                raise DatasetError(idx_file, f"an existing image; {image} is missing", field)
            pid = int(rel.parts[-2])
            first = labels.setdefault(pid, (entry.label, idx_file, entry.line))
            if first[0] != entry.label:
                raise DatasetError(
                    idx_file,
                    f"label {first[0]} for identity {pid:04d}, as {first[1].name} line {first[2]} gives; "
                    f"got {entry.label}",
                    field,
                )
            samples.append(Sample(str(image), pid, int(match.group(1)), modality))
        by_label: dict[int, int] = {}
        for pid, (label, _, _) in labels.items():
            if by_label.setdefault(label, pid) != pid:
                expected = f"one identity per label; label {label} names {by_label[label]:04d} and {pid:04d}"
                raise DatasetError(idx_file, expected)
        return tuple(samples)

    def _test_samples(self, test_ids: tuple[int, ...]) -> tuple[Sample, ...]:
        visible = self._test_modality("test_vis", LLCM_VISIBLE_CAMERAS, Modality.VISIBLE, test_ids)
        infrared = self._test_modality("test_nir", LLCM_INFRARED_CAMERAS, Modality.INFRARED, test_ids)
        found = {s.pid for s in visible + infrared}
        missing = [pid for pid in sorted(test_ids) if pid not in found]
        if missing:
            raise DatasetError(
                self.root / "idx" / "test_id.txt",
                f"test identities with images in test_vis/ or test_nir/; none for {[f'{p:04d}' for p in missing[:5]]}",
            )
        return visible + infrared

    def _test_modality(
        self, folder: str, cameras: tuple[int, ...], modality: Modality, test_ids: tuple[int, ...]
    ) -> tuple[Sample, ...]:
        base = self.root / folder
        for entry in base.iterdir():
            if entry.name.startswith("."):
                continue
            match = _CAMERA_FOLDER.match(entry.name)
            if match is None or int(match.group(1)) not in cameras or not entry.is_dir():
                raise DatasetError(entry, f"only camera folders {', '.join(f'cam{c}' for c in cameras)} in {folder}/")
        samples = []
        for pid in sorted(set(test_ids)):
            for camid in cameras:
                identity = base / f"cam{camid}" / f"{pid:04d}"
                if not identity.exists():
                    continue
                if not identity.is_dir():
                    raise DatasetError(identity, "a folder of images, found a file")
                with os.scandir(identity) as listing:
                    entries = sorted((e for e in listing if not e.name.startswith(".")), key=lambda e: e.name)
                for image in entries:
                    if os.path.splitext(image.name)[1].lower() not in _IMAGE_SUFFIXES or not image.is_file():
                        expected = f"only image files ({', '.join(_IMAGE_SUFFIXES)}) in an identity folder"
                        raise DatasetError(image.path, expected)
                    samples.append(Sample(image.path, pid, camid, modality))
        return tuple(samples)
