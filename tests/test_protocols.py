"""Evaluation protocols: query / gallery of every trial, checked against the official files and re-implementations."""

from __future__ import annotations

import os
import random
import tempfile
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import scipy.io
from hypothesis import given, settings
from hypothesis import strategies as st

from reid.data.sample import Modality, Sample, Tracklet
from reid.data.sysu_permutations import SysuPermutations, load_id_list, load_rand_perm_cam
from reid.errors import ConfigError, DatasetError
from reid.eval.protocols import (
    EvalSplit,
    build_trials,
    camids,
    hitsz_vcm_split,
    llcm_trials,
    pids,
    protocol_options,
    regdb_trial,
    sysu_mm01_trials,
)

IR, VIS = Modality.INFRARED, Modality.VISIBLE
SYSU_CAMS = ("cam1", "cam2", "cam3", "cam4", "cam5", "cam6")


def sysu_sample(root: str, cam: int, pid: int, number: int) -> Sample:
    # Same string AGW builds: os.path.join(data_path, cam, id) + '/' + file name.
    path = os.path.join(root, f"cam{cam}", f"{pid:04d}") + f"/{number:04d}.jpg"
    return Sample(path, pid, cam, IR if cam in (3, 6) else VIS, number)


def agw_process_gallery(root: str, ids: list[int], folders: list[str], trial: int) -> list[str]:
    """Independent re-implementation of AGW ``process_gallery_sysu`` / MSCMNet ``process_gallery_llcm``.

    Literal reading of the reference: global ``random.seed(trial)``, ids as sorted "%04d" strings,
    folders in the given order, ``random.choice`` over the sorted full-path list of each existing folder.
    The global generator state is restored afterwards so no other test sees the seed.
    """
    state = random.getstate()
    try:
        random.seed(trial)
        chosen = []
        for name in sorted("%04d" % i for i in ids):  # noqa: UP031 (the reference, literally)
            for folder in folders:
                img_dir = os.path.join(root, folder, name)
                if os.path.isdir(img_dir):
                    files = sorted([img_dir + "/" + f for f in os.listdir(img_dir)])
                    chosen.append(random.choice(files))
    finally:
        random.setstate(state)
    return chosen


# --------------------------------------------------------------------------- SYSU-MM01, official files


@pytest.fixture(scope="module")
def official(sysu_split_dir: Path) -> SimpleNamespace:
    """Full-size SYSU-MM01 test records built from the permutation lengths (no image files needed)."""
    perms = load_rand_perm_cam(sysu_split_dir / "rand_perm_cam.mat")
    test_ids = load_id_list(sysu_split_dir / "test_id.mat")
    test = [
        sysu_sample("/fake/SYSU-MM01", cam, pid, number)
        for (cam, pid), n in sorted(perms.counts().items())
        if pid in test_ids
        for number in range(1, n + 1)
    ]
    raw = scipy.io.loadmat(str(sysu_split_dir / "rand_perm_cam.mat"))["rand_perm_cam"]
    return SimpleNamespace(perms=perms, ids=test_ids, test=test, raw=raw)


def raw_gallery(raw: np.ndarray, ids: tuple[int, ...], cams: tuple[int, ...], trial: int, shots: int) -> set:
    """The official gallery read straight from the loadmat structure (MATLAB rand_perm_cam{cam}{id}(trial, 1:shots))."""
    keys = set()
    for cam in cams:
        people = raw[cam - 1, 0]
        for pid in ids:
            if pid > people.shape[0] or people[pid - 1, 0].size == 0:
                continue
            keys |= {(cam, pid, int(n)) for n in people[pid - 1, 0][trial, :shots]}
    return keys


@pytest.mark.parametrize(
    ("mode", "shots", "size", "cams"),
    [
        ("all", 1, 301, (1, 2, 4, 5)),
        ("indoor", 1, 112, (1, 2)),
        ("all", 10, 3010, (1, 2, 4, 5)),
        ("indoor", 10, 1120, (1, 2)),
    ],
)
def test_official_sysu_galleries_follow_the_permutation_file(official, mode, shots, size, cams) -> None:
    trials = sysu_mm01_trials(official.test, mode=mode, shots=shots, permutations=official.perms)
    assert [t.trial for t in trials] == list(range(10))
    galleries = []
    for trial in trials:
        assert len(trial.query) == 3803
        assert {(s.camid, s.modality) for s in trial.query} == {(3, IR), (6, IR)}
        assert len(trial.gallery) == size
        got = {(s.camid, s.pid, s.instance) for s in trial.gallery}
        assert len(got) == size
        assert got == raw_gallery(official.raw, official.ids, cams, trial.trial, shots)
        assert (trial.removal, trial.dedup_cmc) == ("sysu", True)
        assert trial.options["gallery_sampling"] == "official"
        assert trial.options["permutation_source"] == str(Path(official.perms.source))
        assert (trial.options["mode"], trial.options["shots"]) == (mode, shots)
        galleries.append(frozenset(got))
    assert len(set(galleries)) == 10
    assert all(t.query is trials[0].query for t in trials)


def test_official_sysu_seeded_gallery_sizes(official) -> None:
    for mode, size in (("all", 301), ("indoor", 112)):
        trials = sysu_mm01_trials(official.test, mode=mode, gallery_sampling="seeded")
        assert [len(t.gallery) for t in trials] == [size] * 10
        assert trials[0].options["seed"] == 0 and "permutation_source" not in trials[0].options


# --------------------------------------------------------------------------- SYSU-MM01, small hand-built cases


def small_sysu(root: str, counts: dict[tuple[int, int], int]) -> list[Sample]:
    return [sysu_sample(root, cam, pid, n) for (cam, pid), k in counts.items() for n in range(1, k + 1)]


SMALL = {(1, 5): 3, (2, 5): 12, (3, 5): 2, (6, 5): 1, (1, 7): 2, (4, 7): 1, (5, 7): 4, (3, 7): 3}


def small_perms(rows: int = 10) -> SysuPermutations:
    gen = np.random.default_rng(0)
    table = {key: np.stack([gen.permutation(n) + 1 for _ in range(rows)]) for key, n in SMALL.items()}
    return SysuPermutations(table=table, num_trials=rows, source="hand-built")


def test_official_takes_first_shots_and_all_of_a_short_folder() -> None:
    perms = small_perms()
    test = small_sysu("/r", SMALL)
    (trial,) = sysu_mm01_trials(test, shots=10, permutations=perms, num_trials=1)
    got = [(s.camid, s.pid, s.instance) for s in trial.gallery]
    # pid 5 before 7; cameras 1, 2, 4, 5; permutation order inside a folder.
    expected = [
        (c, p, int(n)) for p in (5, 7) for c in (1, 2, 4, 5) if (c, p) in SMALL for n in perms.table[(c, p)][0, :10]
    ]
    assert got == expected
    assert sum(1 for g in got if g[:2] == (2, 5)) == 10
    assert [s.camid for s in trial.query] == [3, 3, 6, 3, 3, 3]


def test_official_errors_name_camera_id_and_image() -> None:
    test = small_sysu("/r", SMALL)
    shifted = dict(small_perms().table)
    shifted[(1, 7)] = np.array([[3, 2]] * 10)
    with pytest.raises(DatasetError, match=r"camera 1, id 7, image 0003"):
        sysu_mm01_trials(test, permutations=SysuPermutations(shifted, 10, "x.mat"), num_trials=1)
    short = dict(small_perms().table)
    short[(5, 7)] = np.array([[1, 2, 3]] * 10)
    with pytest.raises(DatasetError, match=r"x.mat \[rand_perm_cam\{5\}\{7\}\]: expected a permutation of the 4"):
        sysu_mm01_trials(test, permutations=SysuPermutations(short, 10, "x.mat"))
    no_number = [Sample(s.path, s.pid, s.camid, s.modality) for s in test]
    with pytest.raises(DatasetError, match=r"\[instance\]"):
        sysu_mm01_trials(no_number, permutations=small_perms())
    wrong = [*test, Sample("/r/cam2/0005/0099.jpg", 5, 2, IR, 99)]
    with pytest.raises(DatasetError, match=r"0099.jpg \[modality\]"):
        sysu_mm01_trials(wrong, permutations=small_perms())
    with pytest.raises(DatasetError, match=r"\[camid\]"):
        sysu_mm01_trials([*test, Sample("/r/cam7/0005/0001.jpg", 5, 7, VIS, 1)], permutations=small_perms())


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"mode": "outdoor"}, r"mode='outdoor' is not valid; expected one of 'all', 'indoor'"),
        ({"shots": 5}, r"shots=5 is not valid; expected one of 1, 10"),
        ({"gallery_sampling": "random"}, r"expected one of 'official', 'seeded'"),
        ({"num_trials": 11}, r"num_trials=11 is not valid; expected an integer in 1..10"),
        ({"gallery_sampling": "seeded", "shots": 10, "permutations": None}, r"single-shot only"),
        ({"gallery_sampling": "seeded", "num_trials": 0, "permutations": None}, r"expected an integer >= 1"),
        ({"gallery_sampling": "seeded"}, r"permutations are used only with gallery_sampling='official'"),
    ],
)
def test_sysu_option_errors_list_valid_values(options, message) -> None:
    with pytest.raises(ConfigError, match=message):
        sysu_mm01_trials(small_sysu("/r", SMALL), **({"permutations": small_perms()} | options))


def test_official_without_permutations_and_empty_query_are_errors() -> None:
    with pytest.raises(ConfigError, match="needs permutations"):
        sysu_mm01_trials(small_sysu("/r", SMALL))
    with pytest.raises(ConfigError, match="query cameras 3 and 6"):
        sysu_mm01_trials(small_sysu("/r", {(1, 5): 3}), gallery_sampling="seeded")


layouts = st.dictionaries(
    st.tuples(st.sampled_from((1, 2, 3, 4, 5, 6)), st.integers(1, 40)), st.integers(1, 12), min_size=1, max_size=14
).filter(lambda d: any(c in (3, 6) for c, _ in d) and any(c in (1, 2, 4, 5) for c, _ in d))


@settings(max_examples=15, deadline=None)
@given(layout=layouts, trial=st.integers(0, 50), order=st.randoms(use_true_random=False))
def test_seeded_sysu_matches_agw_process_gallery(layout, trial, order) -> None:
    with tempfile.TemporaryDirectory() as root:
        test = small_sysu(root, layout)
        for s in test:
            os.makedirs(os.path.dirname(s.path), exist_ok=True)
            Path(s.path).touch()
        order.shuffle(test)  # the protocol must not depend on the loader's record order
        ids = sorted({p for _, p in layout})
        for mode, folders in (("all", ["cam1", "cam2", "cam4", "cam5"]), ("indoor", ["cam1", "cam2"])):
            if not any(c in (1, 2) for c, _ in layout) and mode == "indoor":
                continue
            splits = sysu_mm01_trials(test, mode=mode, gallery_sampling="seeded", num_trials=trial + 1)
            expected = agw_process_gallery(root, ids, folders, trial)
            assert [s.path for s in splits[trial].gallery] == expected


def test_seeded_sysu_one_image_per_id_and_camera_reproducible_and_trial_dependent() -> None:
    layout = {(c, p): 6 + (p + c) % 5 for c in (1, 2, 3, 4, 5, 6) for p in range(1, 31) if (p + c) % 7}
    test = small_sysu("/r", layout)
    first = sysu_mm01_trials(test, gallery_sampling="seeded")
    again = sysu_mm01_trials(test, gallery_sampling="seeded")
    assert [t.gallery for t in first] == [t.gallery for t in again]
    expected_keys = sorted((p, c) for c, p in layout if c in (1, 2, 4, 5))
    for t in first:
        assert sorted((s.pid, s.camid) for s in t.gallery) == expected_keys
        assert (t.removal, t.dedup_cmc, t.options["seed"]) == ("sysu", True, t.trial)
    assert len({t.gallery for t in first}) == 10


# --------------------------------------------------------------------------- RegDB


def regdb(trial: int = 3) -> SimpleNamespace:
    vis = [Sample(f"/g/Visible/{p}/v{k}.bmp", p, 1, VIS) for p in (2, 9) for k in range(3)]
    th = [Sample(f"/g/Thermal/{p}/t{k}.bmp", p, 2, IR) for p in (9, 2) for k in range(2)]
    return SimpleNamespace(name="regdb", test=tuple(th[:1] + vis + th[1:]), trial=trial)


def test_regdb_directions_swap_roles_and_keep_file_order() -> None:
    data = regdb()
    forward = regdb_trial(data)
    vis = tuple(s for s in data.test if s.modality is VIS)
    th = tuple(s for s in data.test if s.modality is IR)
    assert (forward.query, forward.gallery, forward.trial) == (vis, th, 2)
    assert (forward.removal, forward.dedup_cmc) == ("none", False)
    assert forward.options == {"protocol": "regdb", "direction": "visible_to_thermal", "regdb_trial": 3}
    backward = regdb_trial(data, direction="thermal_to_visible")
    assert (backward.query, backward.gallery) == (th, vis)
    assert backward.options["direction"] == "thermal_to_visible"


def test_regdb_errors() -> None:
    with pytest.raises(ConfigError, match="'visible_to_thermal', 'thermal_to_visible'"):
        regdb_trial(regdb(), direction="ir_to_vis")
    with pytest.raises(ConfigError, match="dataset.trial=0"):
        regdb_trial(regdb(trial=0))
    only_visible = SimpleNamespace(test=tuple(s for s in regdb().test if s.modality is VIS), trial=1)
    with pytest.raises(ConfigError, match="0 thermal"):
        regdb_trial(only_visible)


# --------------------------------------------------------------------------- LLCM

LLCM_VIS = (1, 2, 3, 4, 5, 6, 7, 8, 9)
LLCM_NIR = (1, 2, 4, 5, 6, 7, 8, 9)


def llcm_test(root: str, gen: np.random.Generator) -> list[Sample]:
    test = []
    for pid in (3, 17, 104, 1002):
        for sub, modality, cams in (("test_vis", VIS, LLCM_VIS), ("test_nir", IR, LLCM_NIR)):
            for cam in cams:
                if gen.random() < 0.4:
                    continue
                # Names whose string order is not creation order ("s10" < "s2").
                for k in gen.choice(20, size=int(gen.integers(1, 6)), replace=False):
                    path = os.path.join(root, sub, f"cam{cam}", f"{pid:04d}") + f"/{pid:04d}_c{cam}_s{k}.jpg"
                    test.append(Sample(path, pid, cam, modality))
    return test


@pytest.mark.parametrize("direction", ["ir_to_vis", "vis_to_ir"])
def test_llcm_matches_reference_sampling(tmp_path: Path, direction: str) -> None:
    test = llcm_test(str(tmp_path), np.random.default_rng(4))
    for s in test:
        os.makedirs(os.path.dirname(s.path), exist_ok=True)
        Path(s.path).touch()
    query_mod, gallery_mod, folders = (
        (IR, VIS, [f"test_vis/cam{c}" for c in LLCM_VIS])
        if direction == "ir_to_vis"
        else (VIS, IR, [f"test_nir/cam{c}" for c in LLCM_NIR])
    )
    trials = llcm_trials(list(reversed(test)), direction=direction)
    ids = sorted({s.pid for s in test})
    galleries = set()
    for t in trials:
        assert sorted(s.path for s in t.query) == sorted(s.path for s in test if s.modality is query_mod)
        assert [s.path for s in t.gallery] == agw_process_gallery(str(tmp_path), ids, folders, t.trial)
        keys = [(s.pid, s.camid) for s in t.gallery]
        assert len(keys) == len(set(keys)) == len({(s.pid, s.camid) for s in test if s.modality is gallery_mod})
        assert (t.removal, t.dedup_cmc, t.options["direction"], t.options["seed"]) == (
            "same_id_same_cam",
            True,
            direction,
            t.trial,
        )
        galleries.add(t.gallery)
    assert len(galleries) > 1
    assert [s.pid for s in trials[0].query] == sorted(s.pid for s in trials[0].query)


def test_llcm_errors() -> None:
    test = llcm_test("/l", np.random.default_rng(1))
    with pytest.raises(ConfigError, match="'ir_to_vis', 'vis_to_ir'"):
        llcm_trials(test, direction="thermal_to_visible")
    with pytest.raises(ConfigError, match="num_trials=0"):
        llcm_trials(test, num_trials=0)
    with pytest.raises(ConfigError, match="0 infrared"):
        llcm_trials([s for s in test if s.modality is VIS])


# --------------------------------------------------------------------------- HITSZ-VCM


def tracklet(pid: int, cam: int, modality: Modality, length: int) -> Tracklet:
    return Tracklet(tuple(f"/v/{pid:04d}/{cam}/{k}.jpg" for k in range(length)), pid, cam, modality)


def vcm() -> SimpleNamespace:
    test = (
        tracklet(1, 1, VIS, 20),  # 0
        tracklet(1, 4, IR, 15),  # 1
        tracklet(2, 2, VIS, 11),  # 2: too short
        tracklet(2, 5, IR, 30),  # 3
        tracklet(3, 3, IR, 5),  # 4: too short
        tracklet(3, 3, VIS, 12),  # 5
        tracklet(4, 6, IR, 12),  # 6
    )
    return SimpleNamespace(name="hitsz_vcm", test=test, query_rows=(6, 1, 4, 3))


def test_hitsz_vcm_directions_and_minimum_length() -> None:
    data = vcm()
    forward = hitsz_vcm_split(data)
    assert forward.query == (data.test[6], data.test[1], data.test[3])
    assert forward.gallery == (data.test[0], data.test[5])
    assert (forward.trial, forward.removal, forward.dedup_cmc) == (0, "same_id_same_cam", False)
    assert forward.options == {"protocol": "hitsz_vcm", "direction": "ir_to_vis", "min_len": 12}
    backward = hitsz_vcm_split(data, direction="vis_to_ir")
    assert (backward.query, backward.gallery) == (forward.gallery, forward.query)
    everything = hitsz_vcm_split(data, min_len=0)
    assert len(everything.query) == 4 and len(everything.gallery) == 3


@pytest.mark.parametrize(
    ("rows", "message"),
    [((6, 6), "distinct row numbers"), ((1, 7), "rows of the 7 test tracklets, got 7"), ((1, 0), "row 0 is visible")],
)
def test_hitsz_vcm_bad_query_rows(rows, message) -> None:
    data = vcm()
    data.query_rows = rows
    with pytest.raises(DatasetError, match=rf"hitsz_vcm \[query_rows\]: expected .*{message}"):
        hitsz_vcm_split(data)


def test_hitsz_vcm_option_errors() -> None:
    with pytest.raises(ConfigError, match="min_len=-1 is not valid; expected an integer >= 0"):
        hitsz_vcm_split(vcm(), min_len=-1)
    with pytest.raises(ConfigError, match="1 query and 0 gallery"):
        hitsz_vcm_split(vcm(), min_len=21)


# --------------------------------------------------------------------------- dispatcher and records


def test_build_trials_dispatches_and_lists_valid_names_and_options() -> None:
    test = small_sysu("/r", SMALL)
    via_dataset = build_trials("sysu_mm01", SimpleNamespace(test=test), gallery_sampling="seeded", num_trials=2)
    direct = sysu_mm01_trials(test, gallery_sampling="seeded", num_trials=2)
    assert [t.gallery for t in via_dataset] == [t.gallery for t in direct]
    assert len(build_trials("regdb", regdb(), direction="thermal_to_visible")) == 1
    assert len(build_trials("llcm", llcm_test("/l", np.random.default_rng(2)), num_trials=3)) == 3
    assert build_trials("hitsz_vcm", vcm())[0] == hitsz_vcm_split(vcm())
    assert protocol_options("hitsz_vcm") == ("direction", "min_len")
    with pytest.raises(ConfigError, match="'sysu_mm01', 'regdb', 'llcm', 'hitsz_vcm'"):
        build_trials("market1501", test)
    with pytest.raises(ConfigError, match="no option shot; valid options: mode, shots, gallery_sampling"):
        build_trials("sysu_mm01", test, shot=10)


def test_split_records_and_arrays() -> None:
    split = hitsz_vcm_split(vcm())
    assert isinstance(split, EvalSplit)
    assert pids(split.query).dtype == np.int64
    assert pids(split.query).tolist() == [4, 1, 2] and camids(split.gallery).tolist() == [1, 3]
    assert pids(()).shape == (0,)
    with pytest.raises(TypeError):
        split.options["direction"] = "vis_to_ir"  # type: ignore[index]
