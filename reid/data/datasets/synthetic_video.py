"""Synthetic video VI-ReID tracklets with HITSZ-VCM's structure, for the video paper (CMFT).

Each identity walks with its own gait (stride frequency, leg and arm swing, arm lag,
bounce; :class:`reid.data.synthetic.person.Gait`); a tracklet shows it over consecutive
frames from a random start phase, drifting across the image, under one camera's light.
Frames are rendered on demand from the seed, like :mod:`reid.data.datasets.synthetic`.
"""

from __future__ import annotations

import dataclasses
import math
import re

import numpy as np
from PIL import Image

from reid.checks import check_positive_integer, check_range
from reid.data.datasets.base import VideoDataset
from reid.data.sample import Modality, Tracklet
from reid.data.synthetic.person import Gait
from reid.data.synthetic.renderer import View, sample_view
from reid.data.synthetic.scene import SceneKind
from reid.data.synthetic.seeds import Stream, derive_rng
from reid.data.synthetic.world import CameraSpec, SyntheticWorld
from reid.errors import ConfigError, DatasetError

_MODALITY_DIR = {Modality.VISIBLE: "rgb", Modality.INFRARED: "ir"}
_MODALITY_CODE = {Modality.VISIBLE: 1, Modality.INFRARED: 2}
_KEY = re.compile(r"synthetic-video://cam(\d+)/(rgb|ir)/(\d{4})/(\d{3})/(\d{3})")
# Most HITSZ-VCM identities are recorded by up to 3 visible and 3 infrared cameras.
_MAX_CAMERAS_PER_MODALITY = 3
# Horizontal walk per frame (fraction of the width) and how far off-centre a walker may get.
_MAX_DRIFT, _MAX_SHIFT = 0.006, 0.15
# Field widths of the frame keys: 4-digit identities, 3-digit tracklet and frame numbers.
_MAX_PID, _MAX_INDEX = 9999, 999


class SyntheticVideoVIReID(VideoDataset):
    """Procedurally rendered visible-infrared tracklets shaped like HITSZ-VCM.

    HITSZ-VCM (Lin et al., CVPR 2022; protocols.md sec. 7; cmft.txt sec. 4.1): each of its
    12 cameras records in colour by day and in infrared by night, and most identities are
    seen by 3 visible and 3 infrared cameras without overlap. Here cameras ``1..num_cameras``
    are likewise dual-mode (camera ``c`` indoor when ``c % 3 == 0``, else outdoor); each
    identity gets 1-3 visible and 1-3 infrared cameras, disjoint, so every infrared query
    has a visible match in another camera under the same-id-same-camera removal.

    Per (identity, camera) ``tracklets_per_camera`` tracklets of ``frames`` frames (both
    inclusive ranges). The default ``frames=(10, 24)`` leaves some tracklets under
    HITSZ-VCM's 12-frame minimum, so the protocol's length filter has something to drop.
    Defaults (seed 0): 32 train ids with 89 visible + 109 infrared tracklets, 16 test ids
    with 56 visible + 46 infrared tracklets; 47 of the 300 tracklets have fewer than 12 frames.

    ``test`` is ordered by identity, camera, modality, tracklet; ``query_rows`` are the
    0-based rows of its infrared tracklets (HITSZ-VCM's ``query_IDX`` role). Frames are
    keyed ``synthetic-video://cam{c}/{rgb|ir}/{pid:04d}/{k:03d}/{t:03d}`` (tracklet ``k`` and
    frame ``t`` 1-based).

    Args:
        seed: non-negative integer; everything is a function of it.
        num_train_ids, num_test_ids: identities per split (train ``1..n``, test after).
        num_cameras: dual-mode cameras (at least 2).
        tracklets_per_camera: ``(min, max)`` tracklets per identity and camera seen.
        frames: ``(min, max)`` frames per tracklet.
        height, width: frame size (default 128x64).
        modality_gap: 0 (infrared = grey visible) .. 1 (infrared keeps no colour information).

    Raises:
        ConfigError: an argument out of range.
    """

    name = "synthetic_video"

    def __init__(
        self,
        *,
        seed: int = 0,
        num_train_ids: int = 32,
        num_test_ids: int = 16,
        num_cameras: int = 6,
        tracklets_per_camera: tuple[int, int] = (1, 2),
        frames: tuple[int, int] = (10, 24),
        height: int = 128,
        width: int = 64,
        modality_gap: float = 0.5,
    ) -> None:
        self.world = SyntheticWorld(seed, height, width, modality_gap)
        self.seed = self.world.seed
        self.modality_gap = self.world.renderer.modality_gap
        check_positive_integer("num_train_ids", num_train_ids, _MAX_PID - 1)
        check_positive_integer("num_test_ids", num_test_ids, _MAX_PID - num_train_ids)
        if check_positive_integer("num_cameras", num_cameras) < 2:
            raise ConfigError(f"num_cameras: expected at least 2 (one visible, one infrared), got {num_cameras}")
        self.num_cameras = int(num_cameras)
        tracks = check_range("tracklets_per_camera", tracklets_per_camera, _MAX_INDEX)
        lengths = check_range("frames", frames, _MAX_INDEX)
        self._lengths: dict[tuple[int, int, Modality, int], int] = {}
        self.train = self._tracklets(range(1, num_train_ids + 1), tracks, lengths)
        self.test = self._tracklets(range(num_train_ids + 1, num_train_ids + num_test_ids + 1), tracks, lengths)
        self.query_rows = tuple(row for row, t in enumerate(self.test) if t.modality is Modality.INFRARED)

    def camera(self, camid: int, modality: Modality) -> CameraSpec:
        """Camera ``camid`` in ``modality``: both modes look at the same place."""
        kind = SceneKind.INDOOR if camid % 3 == 0 else SceneKind.OUTDOOR
        return CameraSpec(camid, modality, kind, place=camid)

    def _tracklets(self, pids: range, tracks: tuple[int, int], lengths: tuple[int, int]) -> tuple[Tracklet, ...]:
        records = []
        for pid in pids:
            rng = derive_rng(self.seed, Stream.COVERAGE, pid)
            order = [int(c) for c in rng.permutation(np.arange(1, self.num_cameras + 1))]
            num_visible = int(rng.integers(1, min(_MAX_CAMERAS_PER_MODALITY, self.num_cameras - 1) + 1))
            num_infrared = int(rng.integers(1, min(_MAX_CAMERAS_PER_MODALITY, self.num_cameras - num_visible) + 1))
            seen = [(c, Modality.VISIBLE) for c in order[:num_visible]]
            seen += [(c, Modality.INFRARED) for c in order[num_visible : num_visible + num_infrared]]
            for camid, modality in sorted(seen, key=lambda cm: cm[0]):
                for k in range(1, int(rng.integers(tracks[0], tracks[1] + 1)) + 1):
                    length = int(rng.integers(lengths[0], lengths[1] + 1))
                    self._lengths[(pid, camid, modality, k)] = length
                    frames = tuple(_frame_key(camid, modality, pid, k, t) for t in range(1, length + 1))
                    records.append(Tracklet(frames, pid, camid, modality))
        return tuple(records)

    def gait(self, pid: int) -> Gait:
        """Identity ``pid``'s gait: the same in every tracklet of it."""
        return self.world.appearance(pid).gait

    def _start(self, pid: int, camid: int, modality: Modality, k: int) -> tuple[View, float]:
        """The first frame's view of a tracklet and its horizontal drift per frame."""
        rng = derive_rng(self.seed, Stream.TRACKLET, pid, camid, _MODALITY_CODE[modality], k)
        return sample_view(rng), float(rng.uniform(-_MAX_DRIFT, _MAX_DRIFT))

    def _view(self, pid: int, camid: int, modality: Modality, k: int, t: int) -> View:
        """Frame ``t``'s view: the gait phase advances by ``2 pi frequency`` per frame (the
        identity's stride rate); position drifts; light and crop stay those of the tracklet."""
        start, drift = self._start(pid, camid, modality, k)
        phase = start.phase + 2.0 * math.pi * self.gait(pid).frequency * (t - 1)
        shift = float(np.clip(start.shift_x + drift * (t - 1), -_MAX_SHIFT, _MAX_SHIFT))
        return dataclasses.replace(start, phase=phase, shift_x=shift)

    def motion(self, tracklet: Tracklet) -> np.ndarray:
        """Per-frame pose of ``tracklet``: ``float [T, 3]`` = (leg angle, arm angle, bounce).

        Raises:
            DatasetError: ``tracklet`` is not one of this data set's.
        """
        rows = []
        for frame in tracklet.frames:
            camid, modality, pid, k, t = self._parse(frame)
            leg, arm, bounce = self.gait(pid).angles(self._view(pid, camid, modality, k, t).phase)
            rows.append((float(leg), float(arm), float(bounce)))
        return np.asarray(rows, dtype=np.float64)

    def render(self, frame: str) -> np.ndarray:
        """The pixels of ``frame``: ``uint8 [H, W, 3]``.

        Raises:
            DatasetError: ``frame`` is not a frame key of this data set.
        """
        camid, modality, pid, k, t = self._parse(frame)
        noise = derive_rng(self.seed, Stream.TRACKLET, pid, camid, _MODALITY_CODE[modality], k, t)
        return self.world.render(pid, self.camera(camid, modality), self._view(pid, camid, modality, k, t), noise)

    def read(self, frame: str) -> Image.Image:
        """Render ``frame`` as an RGB image of (height, width).

        Raises:
            DatasetError: ``frame`` is not a frame key of this data set.
        """
        return Image.fromarray(self.render(frame))

    def _parse(self, frame: str) -> tuple[int, Modality, int, int, int]:
        match = _KEY.fullmatch(frame) if isinstance(frame, str) else None
        if match is None:
            raise DatasetError(str(frame), "a frame key synthetic-video://camC/{rgb|ir}/PPPP/KKK/TTT", "path")
        camid, pid, k, t = int(match[1]), int(match[3]), int(match[4]), int(match[5])
        modality = Modality.VISIBLE if match[2] == "rgb" else Modality.INFRARED
        length = self._lengths.get((pid, camid, modality, k))
        if length is None or not 1 <= t <= length:
            held = "no such tracklet" if length is None else f"the tracklet has {length} frames"
            raise DatasetError(frame, f"a frame of this data set ({held})", "path")
        return camid, modality, pid, k, t


def _frame_key(camid: int, modality: Modality, pid: int, k: int, t: int) -> str:
    return f"synthetic-video://cam{camid}/{_MODALITY_DIR[modality]}/{pid:04d}/{k:03d}/{t:03d}"
