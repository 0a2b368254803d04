"""Synthetic VI-ReID images with SYSU-MM01's camera structure: the built-in default data set.

Nothing is downloaded or stored: every image is rendered on demand from the data set seed
(:mod:`reid.data.synthetic.renderer`), so it is the same whatever order it is read in.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

import numpy as np
from PIL import Image

from reid.checks import check_positive_integer, check_range
from reid.data.datasets.base import ImageDataset
from reid.data.sample import Modality, Sample
from reid.data.synthetic.cache import DEFAULT_CAPACITY, RenderCache
from reid.data.synthetic.renderer import sample_view
from reid.data.synthetic.scene import SceneKind
from reid.data.synthetic.seeds import Stream, derive_rng
from reid.data.synthetic.world import CameraSpec, SyntheticWorld
from reid.data.sysu_permutations import SysuPermutations
from reid.errors import ConfigError, DatasetError

# SYSU-MM01's six cameras (protocols.md sec. 1.1): visible 1, 2 indoor and 4, 5 outdoor;
# infrared 3 indoor, in the room of camera 2 (so it shares camera 2's place), and 6 outdoor.
SYSU_LIKE_CAMERAS: Mapping[int, CameraSpec] = {
    1: CameraSpec(1, Modality.VISIBLE, SceneKind.INDOOR, place=1),
    2: CameraSpec(2, Modality.VISIBLE, SceneKind.INDOOR, place=2),
    3: CameraSpec(3, Modality.INFRARED, SceneKind.INDOOR, place=2),
    4: CameraSpec(4, Modality.VISIBLE, SceneKind.OUTDOOR, place=4),
    5: CameraSpec(5, Modality.VISIBLE, SceneKind.OUTDOOR, place=5),
    6: CameraSpec(6, Modality.INFRARED, SceneKind.OUTDOOR, place=6),
}
VISIBLE_CAMERAS = (1, 2, 4, 5)
INFRARED_CAMERAS = (3, 6)
INDOOR_VISIBLE_CAMERAS = (1, 2)
# Chance that an identity is seen by a given camera before the coverage rules are applied.
_VISIBLE_COVERAGE, _INFRARED_COVERAGE = 0.65, 0.75
_KEY = re.compile(r"synthetic://cam([1-6])/(\d{4})/(\d{4})")
# Identity and image numbers are written with 4 digits in the keys, as SYSU-MM01 names its folders.
_MAX_NUMBER = 9999


class SyntheticVIReID(ImageDataset):
    """Procedurally rendered visible-infrared person images shaped like SYSU-MM01.

    Identities are drawn people (body shape, clothing colours and texture, hair, bag);
    each image jitters pose, scale, position, background crop, lighting and noise.
    Infrared images are one intensity in three channels: ``(1 - modality_gap)`` of the
    visible luminance plus ``modality_gap`` of a colour-independent per-identity thermal
    signature, so shape and texture survive and colour does not.

    Cameras as SYSU-MM01 (Wu et al., ICCV 2017; protocols.md sec. 1.1): visible 1, 2
    (indoor), 4, 5 (outdoor); infrared 3 (indoor, the room of camera 2, whose background it
    shares) and 6 (outdoor). So every SYSU-MM01 protocol option (all / indoor search, single
    / multi shot, official permutations / AGW seeded gallery, camera 3 vs 2 removal) runs.

    Generated layout (``counts=None``): identities ``1..num_train_ids`` train, the next
    ``num_test_ids`` test; each is seen by a seeded subset of cameras, with at least one
    visible and one infrared camera, and ``images_per_camera`` (inclusive range) images in
    each. Every test identity is also seen by an indoor visible camera that each of its
    infrared images may match under the camera-3/camera-2 removal (camera 1 when it is seen
    by camera 3), so indoor search has a true match for every query.
    Defaults (seed 0): 32 train ids with 315 visible + 205 infrared images, 16 test ids with
    185 visible + 105 infrared images.

    Real layout (``counts`` = :func:`reid.data.sysu_permutations.load_rand_perm_cam` of the
    official file, ``test_ids`` = ``load_id_list(test_id.mat)``): exactly SYSU-MM01's
    per-(camera, identity) image counts; test ids as given, train ids = every other identity
    with images in both modalities (SYSU-MM01's train + val, 395 ids, 22,258 visible +
    11,909 infrared images). Use the official file itself as the gallery permutations then.

    Samples are keyed ``synthetic://cam{c}/{pid:04d}/{n:04d}`` with ``instance = n`` (1-based).

    Args:
        seed: non-negative integer; everything is a function of it.
        num_train_ids, num_test_ids: identities per split (generated layout only).
        images_per_camera: ``(min, max)`` images per (identity, camera) seen (generated layout only).
        height, width: image size (default 128x64, the 2:1 aspect of 288x144).
        modality_gap: 0 (infrared = grey visible) .. 1 (infrared keeps no colour information).
        counts: per-(camera, identity) image counts to copy, e.g. the real SYSU-MM01 ones.
        test_ids: the test identities; required with ``counts`` and only with it.
        render_cache: rendered images :meth:`read` keeps in memory (:class:`RenderCache`; 0: none).
            Pixels do not depend on it.

    Raises:
        ConfigError: an argument out of range, or ``counts``/``test_ids`` inconsistent.
    """

    name = "synthetic"
    trial = 1
    """The one fixed split of this data set, as RegDB's protocol reads a trial: the smoke stand-in of the RegDB
    settings evaluates this data set's test set with RegDB's protocol (every visible image against every
    infrared one, nothing removed, plain CMC)."""

    def __init__(
        self,
        *,
        seed: int = 0,
        num_train_ids: int = 32,
        num_test_ids: int = 16,
        images_per_camera: tuple[int, int] = (2, 6),
        height: int = 128,
        width: int = 64,
        modality_gap: float = 0.5,
        counts: SysuPermutations | None = None,
        test_ids: Sequence[int] | None = None,
        render_cache: int = DEFAULT_CAPACITY,
    ) -> None:
        self._cache = RenderCache(render_cache)
        self.world = SyntheticWorld(seed, height, width, modality_gap)
        self.seed = self.world.seed
        self.modality_gap = self.world.renderer.modality_gap
        if counts is None:
            if test_ids is not None:
                raise ConfigError("test_ids: only used with counts (the real SYSU-MM01 layout); pass counts too")
            check_positive_integer("num_train_ids", num_train_ids, _MAX_NUMBER - 1)
            check_positive_integer("num_test_ids", num_test_ids, _MAX_NUMBER - num_train_ids)
            low, high = check_range("images_per_camera", images_per_camera, _MAX_NUMBER)
            train_pids = range(1, num_train_ids + 1)
            test_pids = range(num_train_ids + 1, num_train_ids + num_test_ids + 1)
            table = {}
            for pid in train_pids:
                table |= self._generated_counts(pid, low, high, test=False)
            for pid in test_pids:
                table |= self._generated_counts(pid, low, high, test=True)
        else:
            table, train_pids, test_pids = _real_layout(counts, test_ids)
        self._counts: dict[tuple[int, int], int] = table
        self.train = self._samples(train_pids)
        self.test = self._samples(test_pids)

    def _generated_counts(self, pid: int, low: int, high: int, *, test: bool) -> dict[tuple[int, int], int]:
        """Which cameras see ``pid`` and how often, from the identity's coverage generator."""
        rng = derive_rng(self.seed, Stream.COVERAGE, pid)
        seen = {c for c in VISIBLE_CAMERAS if rng.random() < _VISIBLE_COVERAGE}
        seen |= {c for c in INFRARED_CAMERAS if rng.random() < _INFRARED_COVERAGE}
        if not seen & set(INFRARED_CAMERAS):
            seen.add(int(rng.choice(INFRARED_CAMERAS)))
        if test:
            # Indoor search must have a true match for every query: camera-3 queries never
            # see camera 2 (official protocol), so they need camera 1; camera-6 ones need 1 or 2.
            if 3 in seen:
                seen.add(1)
            elif not seen & set(INDOOR_VISIBLE_CAMERAS):
                seen.add(int(rng.choice(INDOOR_VISIBLE_CAMERAS)))
        elif not seen & set(VISIBLE_CAMERAS):
            seen.add(int(rng.choice(VISIBLE_CAMERAS)))
        return {(camid, pid): int(rng.integers(low, high + 1)) for camid in sorted(seen)}

    def _samples(self, pids: Sequence[int]) -> tuple[Sample, ...]:
        samples = []
        for pid in pids:
            for camid in SYSU_LIKE_CAMERAS:
                for n in range(1, self._counts.get((camid, pid), 0) + 1):
                    modality = SYSU_LIKE_CAMERAS[camid].modality
                    samples.append(Sample(f"synthetic://cam{camid}/{pid:04d}/{n:04d}", pid, camid, modality, n))
        return tuple(samples)

    def counts(self) -> dict[tuple[int, int], int]:
        """Images per (camera, identity) over train and test, like :meth:`SysuPermutations.counts`."""
        return dict(self._counts)

    def render(self, camid: int, pid: int, instance: int) -> np.ndarray:
        """The pixels of image ``instance`` of ``pid`` in ``camid``: ``uint8 [H, W, 3]``.

        Raises:
            DatasetError: no such image in this data set.
        """
        if not 1 <= instance <= self._counts.get((camid, pid), 0):
            raise DatasetError(
                f"synthetic://cam{camid}/{pid:04d}/{instance:04d}",
                f"an image of this data set; camera {camid} holds {self._counts.get((camid, pid), 0)} of id {pid}",
            )
        rng = derive_rng(self.seed, Stream.IMAGE, pid, camid, instance)
        return self.world.render(pid, SYSU_LIKE_CAMERAS[camid], sample_view(rng), rng)

    def read(self, sample: Sample) -> Image.Image:
        """Render ``sample`` as an RGB image of (height, width).

        Raises:
            DatasetError: ``sample`` is not one of this data set's (bad key, or fields that
                disagree with its key).
        """
        match = _KEY.fullmatch(sample.path)
        if match is None:
            raise DatasetError(sample.path, "a key synthetic://cam{1-6}/PPPP/NNNN of the synthetic data set", "path")
        camid, pid, instance = (int(g) for g in match.groups())
        for field, value, expected in (
            ("pid", sample.pid, pid),
            ("camid", sample.camid, camid),
            ("modality", sample.modality, SYSU_LIKE_CAMERAS[camid].modality),
            ("instance", sample.instance, instance),
        ):
            if value != expected:
                raise DatasetError(sample.path, f"{field} {expected!s} as the key says, got {value!s}", field)
        pixels = self._cache.get((camid, pid, instance), lambda: self.render(camid, pid, instance))
        return Image.fromarray(pixels)

    def permutations(self, num_trials: int = 10) -> SysuPermutations:
        """Seeded gallery permutations in ``rand_perm_cam.mat``'s layout for this data set's counts.

        One permutation of ``1..n`` per trial and (camera, identity) with images, each from
        its own generator, so the official SYSU-MM01 gallery sampling (first ``shots``
        numbers of the trial's row) runs on synthetic data. With real ``counts``, prefer the
        official file: these rows are not SYSU-MM01's.

        Raises:
            ConfigError: ``num_trials`` is not a positive integer.
        """
        check_positive_integer("num_trials", num_trials)
        table = {}
        for (camid, pid), n in sorted(self._counts.items()):
            rng = derive_rng(self.seed, Stream.PERMUTATION, camid, pid)
            table[(camid, pid)] = np.stack([rng.permutation(n) + 1 for _ in range(num_trials)]).astype(np.int64)
        return SysuPermutations(table=table, num_trials=num_trials, source=f"synthetic(seed={self.seed})")


def _real_layout(
    counts: SysuPermutations, test_ids: Sequence[int] | None
) -> tuple[dict[tuple[int, int], int], tuple[int, ...], tuple[int, ...]]:
    """Counts, train ids and test ids of the real-counts layout (SYSU-MM01 train+val = train)."""
    if not isinstance(counts, SysuPermutations):
        raise ConfigError(f"counts: expected a SysuPermutations (load_rand_perm_cam), got {type(counts).__name__}")
    if test_ids is None:
        raise ConfigError("test_ids: required with counts, e.g. load_id_list('<SYSU-MM01>/exp/test_id.txt')")
    table = counts.counts()
    bad = sorted({cam for cam, _ in table} - set(SYSU_LIKE_CAMERAS))
    if bad:
        raise ConfigError(f"counts: expected SYSU-MM01 cameras 1..6, got camera(s) {bad} from {counts.source}")
    by_pid: dict[int, set[int]] = {}
    for camid, pid in table:
        by_pid.setdefault(pid, set()).add(camid)
    tests = tuple(sorted(int(p) for p in test_ids))
    missing = [p for p in tests if p not in by_pid]
    if missing:
        raise ConfigError(f"test_ids: identities {missing[:5]} have no image in counts ({counts.source})")
    test_set = set(tests)
    train = tuple(
        pid
        for pid in sorted(by_pid)
        if pid not in test_set and by_pid[pid] & set(VISIBLE_CAMERAS) and by_pid[pid] & set(INFRARED_CAMERAS)
    )
    kept = test_set | set(train)
    return {key: n for key, n in table.items() if key[1] in kept}, train, tests
