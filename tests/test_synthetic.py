import dataclasses
import itertools
import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reid.data.datasets.synthetic import SyntheticVIReID
from reid.data.datasets.synthetic_video import SyntheticVideoVIReID
from reid.data.sample import Modality, Sample
from reid.data.synthetic.person import Pattern, PatternKind, PersonAppearance
from reid.data.synthetic.renderer import PersonRenderer, infrared_intensity, sample_view
from reid.data.synthetic.scene import SceneKind
from reid.data.synthetic.seeds import Stream, derive_rng
from reid.data.synthetic.world import CameraSpec, SyntheticWorld
from reid.data.sysu_permutations import load_id_list, load_rand_perm_cam
from reid.errors import ConfigError, DatasetError

SMALL = {"num_train_ids": 6, "num_test_ids": 4, "height": 64, "width": 32}


def pixels(dataset: SyntheticVIReID, sample: Sample) -> np.ndarray:
    return np.asarray(dataset.read(sample))


# ---------------------------------------------------------------------------------------
# Images: determinism and structure
# ---------------------------------------------------------------------------------------


def test_same_seed_gives_same_samples_and_pixels_in_any_read_order() -> None:
    a, b = SyntheticVIReID(seed=3, **SMALL), SyntheticVIReID(seed=3, **SMALL)
    assert a.train == b.train and a.test == b.test
    picks = [a.train[0], a.test[-1], a.train[len(a.train) // 2], a.test[1]]
    forward = [pixels(a, s) for s in picks]
    backward = [pixels(b, s) for s in reversed(picks)][::-1]
    for x, y in zip(forward, backward):
        np.testing.assert_array_equal(x, y)
    np.testing.assert_array_equal(pixels(a, picks[0]), forward[0])


def test_different_seeds_give_different_data() -> None:
    a, b = SyntheticVIReID(seed=0, **SMALL), SyntheticVIReID(seed=1, **SMALL)
    assert a.train != b.train
    common = min(set(a.train) & set(b.train), key=lambda s: s.path)
    assert not np.array_equal(pixels(a, common), pixels(b, common))


def test_camera_structure_is_sysu_like() -> None:
    data = SyntheticVIReID(seed=5, num_train_ids=20, num_test_ids=12)
    assert data.name == "synthetic"
    train_ids, test_ids = {s.pid for s in data.train}, {s.pid for s in data.test}
    assert train_ids == set(range(1, 21)) and test_ids == set(range(21, 33))
    for split, indoor_rule in ((data.train, False), (data.test, True)):
        cams: dict[int, set[int]] = {}
        for s in split:
            expected = Modality.INFRARED if s.camid in (3, 6) else Modality.VISIBLE
            assert s.modality is expected
            assert s.path == f"synthetic://cam{s.camid}/{s.pid:04d}/{s.instance:04d}"
            cams.setdefault(s.pid, set()).add(s.camid)
        for pid, seen in cams.items():
            assert seen & {1, 2, 4, 5} and seen & {3, 6}, (pid, seen)
            if indoor_rule:
                # Every query has an indoor-search match after the camera-3/camera-2 removal.
                assert (1 in seen) if 3 in seen else bool(seen & {1, 2}), (pid, seen)
    counts = data.counts()
    assert set(counts.values()) <= set(range(2, 7))
    for (camid, pid), n in counts.items():
        held = sorted(s.instance for s in data.train + data.test if (s.camid, s.pid) == (camid, pid))
        assert held == list(range(1, n + 1))
    # Over many identities every camera gets used.
    assert {s.camid for s in data.train} == {1, 2, 3, 4, 5, 6}
    summary = data.summary()
    assert summary["train_ids"] == 20 and summary["test_ids"] == 12
    assert summary["train_visible"] + summary["train_infrared"] == len(data.train)


def test_images_have_the_size_asked_and_infrared_is_grey() -> None:
    data = SyntheticVIReID(seed=2, num_train_ids=4, num_test_ids=2, height=96, width=40)
    visible = [s for s in data.train if s.modality is Modality.VISIBLE][:4]
    infrared = [s for s in data.train if s.modality is Modality.INFRARED][:4]
    for s in visible + infrared:
        image = data.read(s)
        assert image.mode == "RGB" and image.size == (40, 96)
    for s in infrared:
        x = pixels(data, s).astype(int)
        assert np.array_equal(x[..., 0], x[..., 1]) and np.array_equal(x[..., 1], x[..., 2])
    for s in visible:
        x = pixels(data, s).astype(int)
        assert np.abs(x[..., 0] - x[..., 1]).mean() + np.abs(x[..., 1] - x[..., 2]).mean() > 8.0
        assert x.std() > 10.0


def test_foreign_samples_are_refused() -> None:
    data = SyntheticVIReID(seed=0, **SMALL)
    good = data.train[0]
    with pytest.raises(DatasetError, match="x.jpg"):
        data.read(Sample("/tmp/x.jpg", good.pid, good.camid, good.modality, 1))
    with pytest.raises(DatasetError, match="an image of this data set"):
        data.read(Sample("synthetic://cam1/9999/0001", 9999, 1, Modality.VISIBLE, 1))
    with pytest.raises(DatasetError, match=r"\[pid\]"):
        data.read(dataclasses.replace(good, pid=good.pid + 1))
    with pytest.raises(DatasetError, match=r"\[instance\]"):
        data.read(dataclasses.replace(good, instance=None))


def test_default_data_sets_keep_their_documented_size() -> None:
    # Pins the generated data: a change in any random stream or rule shows up here (and the
    # class docstrings quote these figures).
    assert SyntheticVIReID().summary() == {
        "train_ids": 32, "train_visible": 315, "train_infrared": 205,
        "test_ids": 16, "test_visible": 185, "test_infrared": 105,
    }  # fmt: skip
    video = SyntheticVideoVIReID()
    assert video.summary() == {
        "train_ids": 32, "train_visible": 89, "train_infrared": 109,
        "test_ids": 16, "test_visible": 56, "test_infrared": 46,
    }  # fmt: skip
    assert sum(len(t) < 12 for t in video.train + video.test) == 47


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"modality_gap": -0.1}, "modality_gap"),
        ({"modality_gap": 1.5}, "modality_gap"),
        ({"modality_gap": math.nan}, "modality_gap"),
        ({"modality_gap": "0.5"}, "modality_gap"),
        ({"seed": -1}, "seed"),
        ({"num_train_ids": 0}, "num_train_ids"),
        ({"images_per_camera": (3, 2)}, "images_per_camera"),
        ({"height": 8}, "height"),
        ({"test_ids": (1, 2)}, "test_ids"),
    ],
)
def test_bad_arguments_name_the_field(kwargs: dict, field: str) -> None:
    with pytest.raises(ConfigError, match=field):
        SyntheticVIReID(**kwargs)


def test_permutations_are_seeded_permutations_of_each_cameras_images() -> None:
    data = SyntheticVIReID(seed=4, **SMALL)
    perms = data.permutations(num_trials=10)
    assert perms.num_trials == 10 and perms.source == "synthetic(seed=4)"
    assert perms.counts() == data.counts()
    for (camid, pid), table in perms.table.items():
        n = data.counts()[(camid, pid)]
        assert table.shape == (10, n)
        for row in table:
            assert sorted(row) == list(range(1, n + 1))
    np.testing.assert_array_equal(perms.table[(camid, pid)], data.permutations().table[(camid, pid)])
    rows = [tuple(t[0]) for t in perms.table.values() if t.shape[1] >= 4]
    assert len(set(rows)) > 1
    with pytest.raises(ConfigError, match="num_trials"):
        data.permutations(num_trials=0)


def test_real_sysu_counts_are_copied_exactly(sysu_split_dir: Path) -> None:
    perms = load_rand_perm_cam(sysu_split_dir / "rand_perm_cam.mat")
    test_ids = load_id_list(sysu_split_dir / "test_id.mat")
    data = SyntheticVIReID(seed=0, counts=perms, test_ids=test_ids)
    file_counts = perms.counts()
    rgb = sum(n for (cam, _), n in file_counts.items() if cam in (1, 2, 4, 5))
    ir = sum(n for (cam, _), n in file_counts.items() if cam in (3, 6))
    assert (rgb, ir) == (30071, 15792)
    kept = {s.pid for s in data.train} | {s.pid for s in data.test}
    assert data.counts() == {key: n for key, n in file_counts.items() if key[1] in kept}
    summary = data.summary()
    assert (summary["train_ids"], summary["train_visible"], summary["train_infrared"]) == (395, 22258, 11909)
    assert summary["test_ids"] == 96 and {s.pid for s in data.test} == set(test_ids)
    assert sum(s.camid in (3, 6) for s in data.test) == 3803
    for s in (data.train[0], data.test[-1]):
        assert data.read(s).size == (64, 128)
    with pytest.raises(ConfigError, match="test_ids"):
        SyntheticVIReID(counts=perms)


# ---------------------------------------------------------------------------------------
# The modality gap, at the pixel level
# ---------------------------------------------------------------------------------------

INDOOR_IR = CameraSpec(3, Modality.INFRARED, SceneKind.INDOOR, place=2)
INDOOR_VIS = CameraSpec(2, Modality.VISIBLE, SceneKind.INDOOR, place=2)


def render(world: SyntheticWorld, appearance: PersonAppearance, camera: CameraSpec) -> np.ndarray:
    rng = derive_rng(0, Stream.IMAGE, 1, 2, 3)
    return world.renderer.render(appearance, sample_view(rng), world.scene(camera), rng)


def test_infrared_intensity_mixes_luminance_and_thermal_by_the_gap() -> None:
    lum, thermal = np.array([0.2, 0.8]), np.array([0.9, 0.1])
    np.testing.assert_allclose(infrared_intensity(lum, thermal, 0.0), lum)
    np.testing.assert_allclose(infrared_intensity(lum, thermal, 1.0), thermal)
    np.testing.assert_allclose(infrared_intensity(lum, thermal, 0.25), [0.375, 0.625])


def test_at_full_gap_infrared_keeps_texture_and_thermal_but_no_colour() -> None:
    world = SyntheticWorld(seed=0, height=64, width=32, modality_gap=1.0)
    person = world.appearance(7)
    recoloured = dataclasses.replace(person, colours=person.colours[:, ::-1].copy(), secondary=person.secondary * 0.5)
    striped = Pattern(PatternKind.STRIPES, frequency=10.0, angle=0.0, thermal_depth=0.5)
    plain = Pattern(PatternKind.PLAIN, frequency=10.0, angle=0.0, thermal_depth=0.5)
    hot = dataclasses.replace(person, thermal=np.clip(person.thermal + 0.3, 0.0, 1.0))
    ir = render(world, person, INDOOR_IR)
    np.testing.assert_array_equal(render(world, recoloured, INDOOR_IR), ir)
    assert not np.array_equal(render(world, hot, INDOOR_IR), ir)
    np.testing.assert_array_equal(render(world, hot, INDOOR_VIS), render(world, person, INDOOR_VIS))
    assert not np.array_equal(render(world, recoloured, INDOOR_VIS), render(world, person, INDOOR_VIS))
    assert not np.array_equal(
        render(world, dataclasses.replace(person, upper_pattern=striped), INDOOR_IR),
        render(world, dataclasses.replace(person, upper_pattern=plain), INDOOR_IR),
    )


def test_gap_changes_infrared_people_only() -> None:
    grey = SyntheticVIReID(seed=1, modality_gap=0.0, **SMALL)
    thermal = SyntheticVIReID(seed=1, modality_gap=1.0, **SMALL)
    vis = next(s for s in grey.train if s.modality is Modality.VISIBLE)
    ir = next(s for s in grey.train if s.modality is Modality.INFRARED)
    np.testing.assert_array_equal(pixels(grey, vis), pixels(thermal, vis))
    a, b = pixels(grey, ir), pixels(thermal, ir)
    changed = (a != b).any(axis=2)
    # Only the person changes: a minority of pixels, concentrated in the middle columns.
    assert 0.05 < changed.mean() < 0.6
    assert changed[:, 12:20].mean() > changed[:, :4].mean()


@settings(max_examples=20, deadline=None)
@given(
    seed=st.integers(0, 2**32),
    pid=st.integers(1, 9999),
    instance=st.integers(0, 10**6),
    height=st.integers(16, 96),
    width=st.integers(8, 48),
    gap=st.floats(0.0, 1.0),
    camera=st.sampled_from([INDOOR_IR, INDOOR_VIS, CameraSpec(6, Modality.INFRARED, SceneKind.OUTDOOR, 6)]),
)
def test_any_seed_and_identity_render_a_valid_image(
    seed: int, pid: int, instance: int, height: int, width: int, gap: float, camera: CameraSpec
) -> None:
    world = SyntheticWorld(seed, height, width, gap)
    rng = derive_rng(seed, Stream.IMAGE, pid, camera.camid, instance)
    image = world.render(pid, camera, sample_view(rng), rng)
    assert image.shape == (height, width, 3) and image.dtype == np.uint8
    assert image.std() > 0
    if camera.modality is Modality.INFRARED:
        assert (image == image[..., :1]).all()


def test_renderer_refuses_bad_sizes_and_gaps() -> None:
    with pytest.raises(ConfigError, match="width"):
        PersonRenderer(64, 4)
    with pytest.raises(ConfigError, match="modality_gap"):
        PersonRenderer(64, 32, modality_gap=True)


# ---------------------------------------------------------------------------------------
# Video
# ---------------------------------------------------------------------------------------

VIDEO = {"num_train_ids": 6, "num_test_ids": 4, "height": 48, "width": 24}


def test_video_structure_is_vcm_like() -> None:
    data = SyntheticVideoVIReID(seed=0, frames=(8, 20), **VIDEO)
    assert data.name == "synthetic_video"
    assert {t.pid for t in data.train} == set(range(1, 7)) and {t.pid for t in data.test} == set(range(7, 11))
    lengths = [len(t) for t in data.train + data.test]
    assert min(lengths) >= 8 and max(lengths) <= 20 and min(lengths) < 12
    assert data.query_rows == tuple(i for i, t in enumerate(data.test) if t.modality is Modality.INFRARED)
    assert data.query_rows and len(data.query_rows) < len(data.test)
    for split in (data.train, data.test):
        by_pid: dict[int, dict[Modality, set[int]]] = {}
        for t in split:
            by_pid.setdefault(t.pid, {}).setdefault(t.modality, set()).add(t.camid)
            assert len(set(t.frames)) == len(t)
        for seen in by_pid.values():
            assert seen[Modality.VISIBLE] and seen[Modality.INFRARED]
            assert not seen[Modality.VISIBLE] & seen[Modality.INFRARED]
    summary = data.summary()
    assert summary["test_infrared"] == len(data.query_rows)
    again = SyntheticVideoVIReID(seed=0, frames=(8, 20), **VIDEO)
    frame = data.test[0].frames[3]
    assert again.test == data.test
    np.testing.assert_array_equal(np.asarray(again.read(frame)), np.asarray(data.read(frame)))
    assert again.read(frame).size == (24, 48)
    ir = data.test[data.query_rows[0]].frames[0]
    x = np.asarray(data.read(ir))
    assert (x == x[..., :1]).all()
    with pytest.raises(DatasetError, match="frame"):
        data.read("synthetic-video://cam1/rgb/0001/001/999")
    with pytest.raises(ConfigError, match="frames"):
        SyntheticVideoVIReID(frames=(0, 5))


def test_motion_is_identity_specific_and_consistent_within_identity() -> None:
    data = SyntheticVideoVIReID(seed=1, tracklets_per_camera=(2, 2), frames=(16, 16), **VIDEO)
    by_pid: dict[int, list] = {}
    for t in data.train:
        by_pid.setdefault(t.pid, []).append(t)
    gaits = {pid: data.gait(pid) for pid in by_pid}
    assert len({g.frequency for g in gaits.values()}) == len(gaits)
    for pid, tracklets in by_pid.items():
        gait = gaits[pid]
        for t in tracklets:
            legs = data.motion(t)[:, 0]
            # Leg angle = amplitude * sin(phase0 + 2 pi f t): the stride frequency fitted to
            # each tracklet's samples is the identity's.
            assert np.abs(legs).max() <= gait.leg_amplitude + 1e-9
            assert abs(_frequency_from_samples(legs) - gait.frequency) < 0.01, pid
        first, second = tracklets[0], tracklets[1]
        assert not np.allclose(data.motion(first), data.motion(second))
    frames = [np.asarray(data.read(f), dtype=float) for f in by_pid[1][0].frames[:4]]
    assert all(np.abs(a - b).mean() > 1.0 for a, b in itertools.pairwise(frames))


def _frequency_from_samples(values: np.ndarray) -> float:
    """Least-squares stride frequency (cycles per frame) of ``a * sin(phi + 2 pi f t)`` samples."""
    t = np.arange(len(values))
    best, best_err = 0.0, np.inf
    for f in np.linspace(0.05, 0.3, 501):
        basis = np.stack([np.sin(2 * np.pi * f * t), np.cos(2 * np.pi * f * t)], axis=1)
        coef, *_ = np.linalg.lstsq(basis, values, rcond=None)
        err = float(np.sum((basis @ coef - values) ** 2))
        if err < best_err:
            best, best_err = float(f), err
    return best
