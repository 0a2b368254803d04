"""Miniature on-disk copies of the four real datasets, in their official layouts, for loader tests.

Each ``make_*_tree(root, spec)`` writes real, decodable images (8x16 pixels, a different
colour pattern per image) and the split files exactly where and how the official
archives hold them, and returns what it wrote so a test can check every record a loader
produces against it. Layout facts: shared notes protocols.md sec. 1.1, 2, 3, 7 and the
dataset classes' docstrings.
"""

from __future__ import annotations

import itertools
import random
import shutil
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image

from reid.data.sample import Modality

_counter = itertools.count()


def write_image(path: Path, fmt: str = "JPEG") -> None:
    """Write a small real image whose content differs from every other one written."""
    k = next(_counter)
    img = Image.new("RGB", (8, 16), ((37 * k) % 256, (91 * k + 60) % 256, (13 * k + 120) % 256))
    img.putpixel((k % 8, (k // 8) % 16), (255 - (37 * k) % 256, 0, 255))
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path, format=fmt)


def corrupt(path: Path) -> None:
    """Overwrite an image with bytes no decoder accepts."""
    path.write_bytes(b"this is not an image")


@dataclass(frozen=True)
class WrittenImage:
    """One image file a tree builder wrote, with the labels the loader must give it."""

    path: Path
    pid: int
    camid: int
    modality: Modality
    instance: int | None = None


# ---------------------------------------------------------------------------------------
# SYSU-MM01: root/camX/PPPP/NNNN.jpg, root/exp/{train,val,test}_id.txt
# ---------------------------------------------------------------------------------------

SYSU_MODALITY = {1: Modality.VISIBLE, 2: Modality.VISIBLE, 3: Modality.INFRARED,
                 4: Modality.VISIBLE, 5: Modality.VISIBLE, 6: Modality.INFRARED}


@dataclass(frozen=True)
class SysuSpec:
    """Images per (camera, identity) and the three official id lists."""

    counts: Mapping[tuple[int, int], int]
    train_ids: tuple[int, ...]
    val_ids: tuple[int, ...]
    test_ids: tuple[int, ...]


@dataclass(frozen=True)
class SysuTree:
    root: Path
    spec: SysuSpec
    images: tuple[WrittenImage, ...]

    def of(self, pids: Sequence[int]) -> list[WrittenImage]:
        """The written images of ``pids``."""
        wanted = set(pids)
        return [i for i in self.images if i.pid in wanted]


def small_sysu_spec() -> SysuSpec:
    """Six identities: two train, one val, three test; uneven cameras, one id without IR cam6."""
    counts = {}
    for pid in (1, 2, 3, 5, 8, 13):
        for camid in (1, 2, 3, 4, 5, 6):
            if (pid, camid) in {(2, 6), (5, 4), (13, 1)}:
                continue
            counts[(camid, pid)] = 1 + (pid + camid) % 3
    return SysuSpec(counts=counts, train_ids=(2, 1), val_ids=(3,), test_ids=(13, 5, 8))


def make_sysu_tree(root: Path, spec: SysuSpec) -> SysuTree:
    """Write SYSU-MM01's layout: ``camX/PPPP/NNNN.jpg`` numbered 1..n, and ``exp/*_id.txt``."""
    images = []
    for (camid, pid), n in sorted(spec.counts.items()):
        for number in range(1, n + 1):
            path = root / f"cam{camid}" / f"{pid:04d}" / f"{number:04d}.jpg"
            write_image(path)
            images.append(WrittenImage(path, pid, camid, SYSU_MODALITY[camid], number))
    for camid in SYSU_MODALITY:
        (root / f"cam{camid}").mkdir(parents=True, exist_ok=True)
    exp = root / "exp"
    exp.mkdir(parents=True, exist_ok=True)
    for name, ids in (("train_id.txt", spec.train_ids), ("val_id.txt", spec.val_ids), ("test_id.txt", spec.test_ids)):
        (exp / name).write_text(",".join(str(i) for i in ids) + "\n")
    return SysuTree(root, spec, tuple(images))


# ---------------------------------------------------------------------------------------
# RegDB: root/Visible/<id>/*.bmp, root/Thermal/<id>/*.bmp, root/idx/{train,test}_{visible,thermal}_{t}.txt
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RegDBSpec:
    """Identities (folder numbers), images per identity and modality, and the trials to write."""

    ids: tuple[int, ...] = (1, 2, 3, 4, 5, 6)
    images_per_id: int = 2
    trials: tuple[int, ...] = (1, 2)


@dataclass(frozen=True)
class RegDBLine:
    """One idx line as written, with the folder identity it points into."""

    rel: str
    label: int
    folder_id: int


@dataclass(frozen=True)
class RegDBTree:
    root: Path
    spec: RegDBSpec
    # (trial, "train"|"test", "visible"|"thermal") -> the lines of that idx file in order
    lines: Mapping[tuple[int, str, str], tuple[RegDBLine, ...]]


def make_regdb_tree(root: Path, spec: RegDBSpec) -> RegDBTree:
    """Write RegDB's layout: ``Visible/<id>/<sex>_<view>_v_<frame>_<id>.bmp`` (and ``_t_`` for
    Thermal), and per trial a random half of the identities for training, the rest for test,
    labels numbering each split's identities from 0 in ascending folder order."""
    files: dict[tuple[str, int], list[str]] = {}
    frame = itertools.count(1)
    for pid in spec.ids:
        for folder, letter in (("Visible", "v"), ("Thermal", "t")):
            for k in range(spec.images_per_id):
                sex, view = ("female" if pid % 2 else "male"), ("front" if k % 2 else "back")
                rel = f"{folder}/{pid}/{sex}_{view}_{letter}_{next(frame):05d}_{pid}.bmp"
                write_image(root / rel, fmt="BMP")
                files.setdefault((folder, pid), []).append(rel)
    lines = {}
    for trial in spec.trials:
        shuffled = list(spec.ids)
        random.Random(trial).shuffle(shuffled)
        half = len(shuffled) // 2
        for split, chosen in (("train", sorted(shuffled[:half])), ("test", sorted(shuffled[half:]))):
            for folder, modality in (("Visible", "visible"), ("Thermal", "thermal")):
                rows = tuple(
                    RegDBLine(rel, label, pid) for label, pid in enumerate(chosen) for rel in files[(folder, pid)]
                )
                lines[(trial, split, modality)] = rows
                path = root / "idx" / f"{split}_{modality}_{trial}.txt"
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text("".join(f"{r.rel} {r.label}\n" for r in rows))
    return RegDBTree(root, spec, lines)


# ---------------------------------------------------------------------------------------
# LLCM: root/idx/{train_vis,train_nir}.txt + test_id.txt, training images under vis/ and nir/,
#       root/test_vis/camK/PPPP/*.jpg, root/test_nir/camK/PPPP/*.jpg (no NIR cam3)
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LLCMSpec:
    """Images per (modality, camera, identity) for training and test identities."""

    train_ids: tuple[int, ...]
    test_ids: tuple[int, ...]
    counts: Mapping[tuple[Modality, int, int], int]


@dataclass(frozen=True)
class LLCMTree:
    root: Path
    spec: LLCMSpec
    train: tuple[WrittenImage, ...]  # in idx file order: train_vis.txt lines, then train_nir.txt lines
    train_labels: Mapping[int, int]
    test: tuple[WrittenImage, ...]


def small_llcm_spec() -> LLCMSpec:
    """Three training and three test identities over a few cameras of each modality."""
    counts = {}
    for pid in (4, 7, 9, 10, 12, 30):
        for modality, cams in ((Modality.VISIBLE, (1, 3, 9)), (Modality.INFRARED, (2, 4, 9))):
            for camid in cams:
                if (pid + camid) % 4 != 0:
                    counts[(modality, camid, pid)] = 1 + (pid * camid) % 2
    return LLCMSpec(train_ids=(4, 9, 12), test_ids=(30, 7, 10), counts=counts)


def _llcm_name(pid: int, camid: int, k: int, tag: str) -> str:
    return f"{pid:04d}_c{camid:02d}_s{180000 + k:06d}_f{1000 + k}_{tag}.jpg"


def make_llcm_tree(root: Path, spec: LLCMSpec) -> LLCMTree:
    """Write LLCM's layout; training images at ``<vis|nir>/PPPP/PPPP_cCC_s..._f..._<vis|nir>.jpg``."""
    labels = {pid: label for label, pid in enumerate(sorted(spec.train_ids))}
    train, test = [], []
    idx = root / "idx"
    idx.mkdir(parents=True, exist_ok=True)
    k = itertools.count()
    for modality, tag, test_folder in ((Modality.VISIBLE, "vis", "test_vis"), (Modality.INFRARED, "nir", "test_nir")):
        (root / test_folder).mkdir(parents=True, exist_ok=True)
        lines, test_lines = [], []
        for (mod, camid, pid), n in sorted(spec.counts.items(), key=lambda item: (item[0][2], item[0][1])):
            if mod is not modality:
                continue
            for _ in range(n):
                name = _llcm_name(pid, camid, next(k), tag)
                if pid in labels:
                    rel = f"{tag}/{pid:04d}/{name}"
                    lines.append(f"{rel} {labels[pid]}\n")
                    train.append(WrittenImage(root / rel, pid, camid, modality))
                else:
                    rel = f"{test_folder}/cam{camid}/{pid:04d}/{name}"
                    test_lines.append(f"{rel} {sorted(spec.test_ids).index(pid)}\n")
                    test.append(WrittenImage(root / rel, pid, camid, modality))
                write_image(root / rel)
        (idx / f"train_{tag}.txt").write_text("".join(lines))
        # The archive also ships test_{vis,nir}.txt; the reference code reads the folders instead.
        (idx / f"test_{tag}.txt").write_text("".join(test_lines))
    (idx / "test_id.txt").write_text(",".join(str(i) for i in spec.test_ids) + "\n")
    return LLCMTree(root, spec, tuple(train), labels, tuple(test))


# ---------------------------------------------------------------------------------------
# HITSZ-VCM: root/info/*.txt, frames root/PPPP/<ir|rgb>/D<k>/<frame>
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class VcmTrack:
    """One tracklet to write: its modality, identity, camera and number of frames."""

    modality: Modality
    pid: int
    camid: int
    length: int


@dataclass(frozen=True)
class VcmSpec:
    train: tuple[VcmTrack, ...]
    test: tuple[VcmTrack, ...]
    query_idx: tuple[int, ...]  # 1-based rows of the test tracks, as query_IDX.txt holds them


@dataclass(frozen=True)
class VcmTree:
    root: Path
    spec: VcmSpec
    train_frames: tuple[tuple[Path, ...], ...]  # per track row, its frame files in order
    test_frames: tuple[tuple[Path, ...], ...]
    name_lines: Mapping[str, tuple[str, ...]] = field(default_factory=dict)


def small_vcm_spec() -> VcmSpec:
    """Train and test tracklets of both modalities; some shorter than 12 frames, one a short query."""
    ir, vis = Modality.INFRARED, Modality.VISIBLE
    train = (VcmTrack(ir, 1, 1, 12), VcmTrack(vis, 1, 2, 14), VcmTrack(ir, 2, 3, 5), VcmTrack(vis, 2, 4, 13),
             VcmTrack(ir, 2, 1, 20))
    test = (VcmTrack(vis, 7, 2, 12), VcmTrack(ir, 7, 1, 13), VcmTrack(ir, 8, 3, 4), VcmTrack(vis, 8, 4, 16),
            VcmTrack(ir, 8, 5, 12), VcmTrack(vis, 9, 2, 3), VcmTrack(ir, 9, 1, 15))
    return VcmSpec(train=train, test=test, query_idx=(7, 2, 3, 5))


def make_vcm_tree(root: Path, spec: VcmSpec) -> VcmTree:
    """Write HITSZ-VCM's layout: name lines ``PPPPM<m>D<k>T<t>F<file>``, track rows
    ``m start end pid camid`` (m = 1 IR, 2 visible), query_IDX.txt on one line."""
    info = root / "info"
    info.mkdir(parents=True, exist_ok=True)
    next_file: dict[Path, itertools.count] = {}
    frames_of, names_of = {}, {}
    for split, tracks in (("train", spec.train), ("test", spec.test)):
        names, rows, frames = [], [], []
        for t, track in enumerate(tracks, start=1):
            m = 1 if track.modality is Modality.INFRARED else 2
            folder = root / f"{track.pid:04d}" / ("ir" if m == 1 else "rgb") / f"D{track.camid}"
            counter = next_file.setdefault(folder, itertools.count(1))
            start = len(names) + 1
            files = []
            for _ in range(track.length):
                file = f"{next(counter):04d}.jpg"
                names.append(f"{track.pid:04d}M{m}D{track.camid}T{t:04d}F{file}")
                write_image(folder / file)
                files.append(folder / file)
            rows.append(f"{m} {start} {len(names)} {track.pid} {track.camid}\n")
            frames.append(tuple(files))
        (info / f"{split}_name.txt").write_text("".join(n + "\n" for n in names))
        (info / f"track_{split}_info.txt").write_text("".join(rows))
        frames_of[split], names_of[split] = tuple(frames), tuple(names)
    (info / "query_IDX.txt").write_text(" ".join(str(i) for i in spec.query_idx) + "\n")
    return VcmTree(root, spec, frames_of["train"], frames_of["test"], names_of)


def remove(rel: str) -> Callable[[Path], None]:
    """A damage for error tests: delete the file or folder ``rel`` below the tree's root."""

    def damage(root: Path) -> None:
        target = root / rel
        shutil.rmtree(target) if target.is_dir() else target.unlink()

    return damage


def rewrite_line(rel: str, number: int, text: Callable[[str], str]) -> Callable[[Path], None]:
    """A damage for error tests: replace line ``number`` (1-based) of the text file ``rel`` by ``text(line)``."""

    def damage(root: Path) -> None:
        path = root / rel
        lines = path.read_text().splitlines()
        lines[number - 1] = text(lines[number - 1])
        path.write_text("\n".join(lines) + "\n")

    return damage
