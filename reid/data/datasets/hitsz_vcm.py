"""HITSZ-VCM: the video (tracklet) visible-infrared person re-identification benchmark."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from reid.data.datasets.base import VideoDataset
from reid.data.sample import Modality, Tracklet
from reid.errors import ConfigError, DatasetError

# track_*_info.txt modality codes: MITML treats 1 as infrared; frame names use 2 for RGB.
_MODALITY_CODES = {1: Modality.INFRARED, 2: Modality.VISIBLE}
_INTEGER = re.compile(r"-?[0-9]+")
# "<PPPP>M<modality>D<camera>T<tracklet>F<frame file>", e.g. 0001M2D3T1F1.jpg.
_FRAME_NAME = re.compile(r"^(?P<pid>\d{4})M(?P<modality>\d)(?P<camera>D\d+)T\d+F(?P<frame>[^/\\]+)$")


def frame_path(name: str) -> str | None:
    """The path, relative to the dataset root, of the frame a name line denotes.

    MITML ``data_manager.decoder_pic_path`` (protocols.md sec. 7): identity folder =
    the first four characters; modality folder ``ir`` if the character after ``M`` is
    ``1``, else ``rgb``; camera folder = from ``D`` up to ``T``; file = everything after
    ``F``. ``0001M2D3T1F1.jpg`` -> ``0001/rgb/D3/1.jpg``.

    Returns:
        ``PPPP/<ir|rgb>/D<k>/<file>``, or ``None`` when ``name`` does not have that form.
    """
    match = _FRAME_NAME.match(name)
    if match is None:
        return None
    modality = "ir" if match["modality"] == "1" else "rgb"
    return f"{match['pid']}/{modality}/{match['camera']}/{match['frame']}"


@dataclass(frozen=True)
class _TrackRow:
    line: int
    modality: Modality
    start: int
    end: int
    pid: int
    camid: int


class HITSZVCM(VideoDataset):
    """HITSZ-VCM (Lin et al., "Learning Modal-Invariant and Temporal-Memory for Video-based
    Visible-Infrared Person Re-Identification", CVPR 2022).

    Official pages: https://github.com/VCM-project233/HITSZ-VCM-data (data),
    https://github.com/VCM-project233/MITML (reference code).

    Layout (as MITML's ``data_manager.VCM`` reads it; the data README draws the ``.txt``
    files beside the identity folders, the code expects them in ``info/``)::

        root/
          info/
            train_name.txt        one frame name per line, e.g. 0001M2D3T1F1.jpg
            track_train_info.txt  one tracklet per line: "m start end pid camid"
            test_name.txt         (m = 1 infrared, 2 visible; start..end = 1-based,
            track_test_info.txt    inclusive lines of the name file)
            query_IDX.txt         one line: 1-based rows of track_test_info (IR queries)
          0001/                   PPPP: identity
            ir/D1/ ...            frames: <PPPP>/<ir|rgb>/D<k>/<file after F in the name>
            rgb/D3/ ...

    Published statistics (CMFT paper sec. 4.1, cmft.txt; MITML ``test.py``): 927
    identities from 12 cameras, about 251,450 visible and 211,800 infrared frames in
    11,785 visible and 10,078 infrared tracklets (24 frames at most). 500 training
    identities. With tracklets shorter than 12 frames dropped, the infrared->visible
    query holds 5,159 tracklets and its gallery 5,643.

    Mirrors MITML ``data_manager.VCM``: tracklet = the name lines ``start..end``
    decoded by :func:`frame_path`; ``pid`` and ``camid`` from the track row, without
    relabelling; tracklets shorter than ``min_seq_len`` frames are dropped from
    ``train`` and ``test`` (MITML drops them from train, query and gallery alike).
    ``train`` and ``test`` keep the row order of their track files. ``query_rows`` are
    the 0-based rows of ``test`` (after dropping) that ``query_IDX.txt`` names, in that
    file's order; a named row whose tracklet was dropped has no row left and is left
    out (MITML's query loses it too), and its 1-based number is kept in
    ``dropped_query_idx``.

    Args:
        root: the dataset folder (holding ``info`` and the identity folders).
        min_seq_len: shortest tracklet kept, in frames (MITML default 12; 0 keeps all).
        verify_images: decode every frame of every kept tracklet once at construction.

    Raises:
        DatasetError: a missing folder or info file, a malformed track row, name line or
            query list, a row outside its name file, a query naming a visible tracklet,
            a missing frame of a kept tracklet, or (with ``verify_images``) an
            undecodable frame.
        ConfigError: a negative ``min_seq_len``.
    """

    name: ClassVar[str] = "hitsz_vcm"

    def __init__(self, root: str | Path, *, min_seq_len: int = 12, verify_images: bool = False) -> None:
        if isinstance(min_seq_len, bool) or not isinstance(min_seq_len, int) or min_seq_len < 0:
            raise ConfigError(f"min_seq_len={min_seq_len!r} is not valid; expected an integer >= 0")
        self.root = Path(os.path.abspath(root))
        self.min_seq_len = min_seq_len
        self._check_before_run()
        info = self.root / "info"
        # One listing per camera folder instead of one stat per frame: the real set has 463k frames.
        listings: dict[Path, frozenset[str]] = {}
        self.train, _ = self._tracklets(info / "train_name.txt", info / "track_train_info.txt", listings)
        self.test, kept_rows = self._tracklets(info / "test_name.txt", info / "track_test_info.txt", listings)
        self.query_rows, self.dropped_query_idx = self._query_rows(info / "query_IDX.txt", kept_rows)
        if verify_images:
            self.verify_images()

    def _check_before_run(self) -> None:
        if not self.root.is_dir():
            raise DatasetError(self.root, "the HITSZ-VCM folder (holding info/ and the identity folders)")
        info = self.root / "info"
        if not info.is_dir():
            raise DatasetError(info, "the info folder (train_name.txt, track_train_info.txt, test_name.txt, ...)")
        for name in ("train_name.txt", "track_train_info.txt", "test_name.txt", "track_test_info.txt", "query_IDX.txt"):
            if not (info / name).is_file():
                raise DatasetError(info / name, "a HITSZ-VCM info file (see the VCM-project233/MITML data_manager)")

    def _tracklets(
        self, name_file: Path, track_file: Path, listings: dict[Path, frozenset[str]]
    ) -> tuple[tuple[Tracklet, ...], list[int | None]]:
        """Tracklets of one split and, per track row, its index among the kept ones (None if dropped)."""
        names = [line.rstrip() for line in name_file.read_text().splitlines()]
        tracklets: list[Tracklet] = []
        kept: list[int | None] = []
        for row in _read_track_rows(track_file):
            field = f"line {row.line}"
            if not 1 <= row.start <= row.end <= len(names):
                expected = f"1 <= start <= end <= {len(names)} (lines of {name_file.name})"
                raise DatasetError(track_file, f"{expected}, got {row.start}..{row.end}", field)
            if row.end - row.start + 1 < self.min_seq_len:
                kept.append(None)
                continue
            numbers = range(row.start, row.end + 1)
            frames = tuple(self._frame(name_file, number, names[number - 1], listings) for number in numbers)
            kept.append(len(tracklets))
            tracklets.append(Tracklet(frames, row.pid, row.camid, row.modality))
        return tuple(tracklets), kept

    def _frame(self, name_file: Path, number: int, name: str, listings: dict[Path, frozenset[str]]) -> str:
        """The absolute path of name line ``number``, checked against its folder's listing."""
        rel = frame_path(name)
        if rel is None:
            raise DatasetError(name_file, f"a frame name '<PPPP>M<m>D<k>T<t>F<file>', got {name!r}", f"line {number}")
        frame = self.root / rel
        listing = listings.get(frame.parent)
        if listing is None:
            listing = frozenset(os.listdir(frame.parent)) if frame.parent.is_dir() else frozenset()
            listings[frame.parent] = listing
        if frame.name not in listing:
            raise DatasetError(name_file, f"an existing frame; {frame} is missing", f"line {number}")
        return str(frame)

    def _query_rows(self, query_file: Path, kept_rows: list[int | None]) -> tuple[tuple[int, ...], tuple[int, ...]]:
        lines = [line for line in query_file.read_text().splitlines() if line.strip()]
        if len(lines) != 1:
            raise DatasetError(query_file, f"one line of 1-based track_test_info rows, found {len(lines)} lines")
        tokens = lines[0].split()
        if not all(_INTEGER.fullmatch(t) for t in tokens):
            raise DatasetError(query_file, "whitespace-separated positive integers", "line 1")
        idx = [int(t) for t in tokens]
        if len(set(idx)) != len(idx):
            raise DatasetError(query_file, "each query row once", "line 1")
        rows, dropped = [], []
        for position, number in enumerate(idx, start=1):
            field = f"entry {position}"
            if not 1 <= number <= len(kept_rows):
                expected = f"a row of track_test_info.txt in 1..{len(kept_rows)}"
                raise DatasetError(query_file, f"{expected}, got {number}", field)
            row = kept_rows[number - 1]
            if row is None:
                dropped.append(number)
            elif self.test[row].modality is not Modality.INFRARED:
                raise DatasetError(query_file, f"an infrared query tracklet; row {number} is visible", field)
            else:
                rows.append(row)
        return tuple(rows), tuple(dropped)


def _read_track_rows(path: Path) -> list[_TrackRow]:
    """Rows "m start end pid camid" of a track info file; trailing blank lines are ignored."""
    lines = path.read_text().splitlines()
    while lines and not lines[-1].strip():
        lines.pop()
    rows = []
    for number, text in enumerate(lines, start=1):
        fields = text.split()
        field = f"line {number}"
        if len(fields) != 5 or not all(_INTEGER.fullmatch(f) for f in fields):
            raise DatasetError(path, f"five integers 'm start end pid camid', got {text!r}", field)
        code, start, end, pid, camid = (int(f) for f in fields)
        if code not in _MODALITY_CODES:
            raise DatasetError(path, f"modality code 1 (infrared) or 2 (visible), got {code}", field)
        rows.append(_TrackRow(number, _MODALITY_CODES[code], start, end, pid, camid))
    return rows
