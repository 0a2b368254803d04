import re
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reid.data.datasets.sysu_mm01 import SYSUMM01
from reid.data.sample import Modality, Sample
from reid.errors import ConfigError, DatasetError
from tests.trees import SysuSpec, SysuTree, WrittenImage, corrupt, make_sysu_tree, small_sysu_spec

CAMERA_ORDER = {1: 0, 2: 1, 4: 2, 5: 3, 3: 0, 6: 1}


def agw_order(images: list[WrittenImage]) -> list[WrittenImage]:
    """Visible images then infrared; each identity-major, cameras in AGW's list order, then image number."""
    def key(i: WrittenImage) -> tuple:
        return (i.modality is Modality.INFRARED, i.pid, CAMERA_ORDER[i.camid], i.instance)

    return sorted(images, key=key)


def as_samples(images: list[WrittenImage]) -> tuple[Sample, ...]:
    return tuple(Sample(str(i.path), i.pid, i.camid, i.modality, i.instance) for i in images)


@pytest.fixture()
def tree(tmp_path: Path) -> SysuTree:
    return make_sysu_tree(tmp_path / "SYSU-MM01", small_sysu_spec())


def test_train_is_train_plus_val_and_test_is_every_test_image_in_agw_order(tree: SysuTree) -> None:
    ds = SYSUMM01(tree.root)
    assert ds.name == "sysu_mm01"
    assert ds.train == as_samples(agw_order(tree.of([1, 2, 3])))
    assert ds.test == as_samples(agw_order(tree.of([5, 8, 13])))
    assert all(Path(s.path).is_absolute() for s in ds.train + ds.test)
    assert {s.modality for s in ds.test if s.camid in (3, 6)} == {Modality.INFRARED}
    assert {s.modality for s in ds.test if s.camid in (1, 2, 4, 5)} == {Modality.VISIBLE}


def test_train_only_switch_leaves_the_val_ids_out(tree: SysuTree) -> None:
    ds = SYSUMM01(tree.root, train_ids="train")
    assert {s.pid for s in ds.train} == {1, 2}
    assert ds.train == as_samples(agw_order(tree.of([1, 2])))


def test_summary_counts_ids_and_images_per_modality(tree: SysuTree) -> None:
    summary = SYSUMM01(tree.root).summary()
    train, test = tree.of([1, 2, 3]), tree.of([5, 8, 13])
    assert summary == {
        "train_ids": 3,
        "train_visible": sum(i.modality is Modality.VISIBLE for i in train),
        "train_infrared": sum(i.modality is Modality.INFRARED for i in train),
        "test_ids": 3,
        "test_visible": sum(i.modality is Modality.VISIBLE for i in test),
        "test_infrared": sum(i.modality is Modality.INFRARED for i in test),
    }


def test_relative_root_gives_absolute_paths(tree: SysuTree, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tree.root.parent)
    ds = SYSUMM01(tree.root.name)
    assert ds.test[0].path == str(agw_order(tree.of([5, 8, 13]))[0].path)


@settings(max_examples=8, deadline=None)
@given(
    counts=st.dictionaries(
        st.tuples(st.integers(1, 6), st.integers(1, 12)), st.integers(1, 3), min_size=1, max_size=12
    ),
    data=st.data(),
)
def test_every_written_image_is_loaded_once_with_its_labels(counts: dict, data: st.DataObject) -> None:
    pids = sorted({pid for _, pid in counts})
    roles = data.draw(st.lists(st.sampled_from(["train", "val", "test"]), min_size=len(pids), max_size=len(pids)))
    ids = {role: tuple(p for p, r in zip(pids, roles) if r == role) for role in ("train", "val", "test")}
    # load_id_list refuses empty lists, and every split needs at least one identity.
    ids = {role: v if v else (900 + i,) for i, (role, v) in enumerate(ids.items())}
    counts = dict(counts) | {(1, extra[0]): 1 for role, extra in ids.items() if extra[0] >= 900}
    with tempfile.TemporaryDirectory() as tmp:
        tree = make_sysu_tree(Path(tmp), SysuSpec(counts, ids["train"], ids["val"], ids["test"]))
        ds = SYSUMM01(tree.root)
        assert ds.train == as_samples(agw_order(tree.of(ids["train"] + ids["val"])))
        assert ds.test == as_samples(agw_order(tree.of(ids["test"])))
        assert len(ds.train) + len(ds.test) == sum(counts.values())


def _remove_cam(root: Path) -> None:
    shutil.rmtree(root / "cam3")


def _cam_is_file(root: Path) -> None:
    shutil.rmtree(root / "cam5")
    (root / "cam5").write_text("")


def _identity_is_file(root: Path) -> None:
    shutil.rmtree(root / "cam1" / "0008")
    (root / "cam1" / "0008").write_text("")


def _bad_image_name(root: Path) -> None:
    shutil.copy(root / "cam2" / "0005" / "0001.jpg", root / "cam2" / "0005" / "img1.jpg")


def _subfolder_in_identity(root: Path) -> None:
    (root / "cam6" / "0001" / "0099.jpg").unlink(missing_ok=True)
    (root / "cam6" / "0001" / "0099.jpg").mkdir()


def _absent_test_identity(root: Path) -> None:
    (root / "exp" / "test_id.txt").write_text("13,5,8,77\n")


def _absent_val_identity(root: Path) -> None:
    (root / "exp" / "val_id.txt").write_text("3,40\n")


def _overlap(root: Path) -> None:
    (root / "exp" / "test_id.txt").write_text("13,5,8,2\n")


def _malformed_ids(root: Path) -> None:
    (root / "exp" / "train_id.txt").write_text("1;2\n")


def _missing_split_file(root: Path) -> None:
    (root / "exp" / "test_id.txt").unlink()


def _missing_exp(root: Path) -> None:
    shutil.rmtree(root / "exp")


@pytest.mark.parametrize(
    ("damage", "where"),
    [
        (_remove_cam, "cam3: expected the folder of camera 3"),
        (_cam_is_file, "cam5: expected the folder of camera 5"),
        (_identity_is_file, "cam1/0008: expected a folder"),
        (_bad_image_name, "cam2/0005/img1.jpg: expected only image files named NNNN.jpg"),
        (_subfolder_in_identity, "cam6/0001/0099.jpg: expected only image files"),
        (_absent_test_identity, "exp/test_id.txt: expected identities with images; 0077"),
        (_absent_val_identity, "exp/val_id.txt: expected identities with images; 0040"),
        (_overlap, "exp/test_id.txt: expected identities disjoint"),
        (_malformed_ids, r"exp/train_id.txt \[line 1\]"),
        (_missing_split_file, "exp/test_id.txt: expected an identity list"),
        (_missing_exp, "exp: expected the official split folder"),
    ],
)
def test_layout_errors_name_the_path_and_what_was_expected(
    tree: SysuTree, damage: Callable[[Path], None], where: str
) -> None:
    damage(tree.root)
    with pytest.raises(DatasetError, match=where):
        SYSUMM01(tree.root)


def test_missing_root_is_named(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match=re.escape(str(tmp_path / "nowhere"))):
        SYSUMM01(tmp_path / "nowhere")


def test_val_list_is_not_needed_for_train_only(tree: SysuTree) -> None:
    (tree.root / "exp" / "val_id.txt").unlink()
    assert {s.pid for s in SYSUMM01(tree.root, train_ids="train").train} == {1, 2}
    with pytest.raises(DatasetError, match="val_id.txt"):
        SYSUMM01(tree.root)


def test_hidden_files_are_not_images(tree: SysuTree) -> None:
    (tree.root / "cam1" / "0001" / ".DS_Store").write_text("")
    assert len(SYSUMM01(tree.root).train) == len(tree.of([1, 2, 3]))


def test_unreadable_image_fails_at_read_or_with_verify_images(tree: SysuTree) -> None:
    bad = tree.of([8])[0].path
    corrupt(bad)
    ds = SYSUMM01(tree.root)
    sample = next(s for s in ds.test if s.path == str(bad))
    with pytest.raises(DatasetError, match=re.escape(str(bad))):
        ds.read(sample)
    with pytest.raises(DatasetError, match=re.escape(str(bad))):
        SYSUMM01(tree.root, verify_images=True)


def test_read_returns_the_written_pixels(tree: SysuTree) -> None:
    ds = SYSUMM01(tree.root, verify_images=True)
    first, second = (ds.read(s) for s in ds.train[:2])
    assert first.size == (8, 16) and first.mode == "RGB"
    assert first.tobytes() != second.tobytes()


def test_unknown_train_ids_choice_is_a_config_error(tree: SysuTree) -> None:
    with pytest.raises(ConfigError, match="train_ids"):
        SYSUMM01(tree.root, train_ids="val")
