import re
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reid.data.datasets.hitsz_vcm import HITSZVCM, frame_path
from reid.data.sample import Modality, Tracklet
from reid.errors import ConfigError, DatasetError
from tests.trees import VcmSpec, VcmTrack, VcmTree, corrupt, make_vcm_tree, remove, small_vcm_spec


def expected(tracks: tuple[VcmTrack, ...], frames: tuple[tuple[Path, ...], ...], min_len: int) -> tuple[Tracklet, ...]:
    return tuple(
        Tracklet(tuple(str(f) for f in files), t.pid, t.camid, t.modality)
        for t, files in zip(tracks, frames)
        if t.length >= min_len
    )


@pytest.fixture()
def tree(tmp_path: Path) -> VcmTree:
    return make_vcm_tree(tmp_path / "VCM", small_vcm_spec())


def test_frame_names_decode_to_identity_modality_camera_file() -> None:
    assert frame_path("0001M2D3T1F1.jpg") == "0001/rgb/D3/1.jpg"
    assert frame_path("0123M1D12T0005F0007.jpg") == "0123/ir/D12/0007.jpg"
    assert frame_path("123M1D1T1F1.jpg") is None
    assert frame_path("0001M1T1D1F1.jpg") is None
    assert frame_path("0001M1D1T1F") is None


def test_short_tracklets_are_dropped_and_query_rows_follow_them(tree: VcmTree) -> None:
    ds = HITSZVCM(tree.root)
    assert ds.name == "hitsz_vcm" and ds.min_seq_len == 12
    assert ds.train == expected(tree.spec.train, tree.train_frames, 12)
    assert ds.test == expected(tree.spec.test, tree.test_frames, 12)
    # query_IDX = 7 2 3 5: test rows 3 (4 frames) and 6 (3 frames) are dropped, so the
    # 1-based rows 7, 2, 5 become 0-based rows 4, 1, 3 of the kept test tracklets.
    assert ds.query_rows == (4, 1, 3)
    assert ds.dropped_query_idx == (3,)
    assert [ds.test[r].frames for r in ds.query_rows] == [
        tuple(str(f) for f in tree.test_frames[i - 1]) for i in (7, 2, 5)
    ]


def test_min_seq_len_zero_keeps_every_row(tree: VcmTree) -> None:
    ds = HITSZVCM(tree.root, min_seq_len=0)
    assert ds.test == expected(tree.spec.test, tree.test_frames, 0)
    assert len(ds.train) == 5 and len(ds.test) == 7
    assert ds.query_rows == (6, 1, 2, 4) and ds.dropped_query_idx == ()


def test_summary_counts_tracklets(tree: VcmTree) -> None:
    assert HITSZVCM(tree.root).summary() == {
        "train_ids": 2, "train_visible": 2, "train_infrared": 2,
        "test_ids": 3, "test_visible": 2, "test_infrared": 3,
    }


track = st.builds(
    VcmTrack,
    modality=st.sampled_from(Modality),
    pid=st.integers(1, 4),
    camid=st.integers(1, 12),
    length=st.integers(1, 6),
)


@settings(max_examples=8, deadline=None)
@given(
    train=st.lists(track, min_size=1, max_size=4),
    test=st.lists(track, min_size=1, max_size=6),
    min_len=st.integers(0, 7),
    data=st.data(),
)
def test_query_rows_always_name_the_written_query_tracklets(
    train: list[VcmTrack], test: list[VcmTrack], min_len: int, data: st.DataObject
) -> None:
    ir_rows = [i for i, t in enumerate(test, start=1) if t.modality is Modality.INFRARED]
    query = data.draw(st.permutations(ir_rows)) if ir_rows else []
    with tempfile.TemporaryDirectory() as tmp:
        tree = make_vcm_tree(Path(tmp), VcmSpec(tuple(train), tuple(test), tuple(query)))
        (tree.root / "info" / "query_IDX.txt").write_text(" ".join(map(str, query)) + "\n")
        if not query:
            with pytest.raises(DatasetError, match="query_IDX.txt"):
                HITSZVCM(tree.root, min_seq_len=min_len)
            return
        ds = HITSZVCM(tree.root, min_seq_len=min_len)
        assert ds.train == expected(tree.spec.train, tree.train_frames, min_len)
        assert ds.test == expected(tree.spec.test, tree.test_frames, min_len)
        kept = [i for i in query if test[i - 1].length >= min_len]
        written = [tuple(str(f) for f in tree.test_frames[i - 1]) for i in kept]
        assert [ds.test[r].frames for r in ds.query_rows] == written
        assert ds.dropped_query_idx == tuple(i for i in query if test[i - 1].length < min_len)
        assert all(ds.test[r].modality is Modality.INFRARED for r in ds.query_rows)


def _info(name: str, edit: Callable[[list[str]], list[str]]) -> Callable[[Path], None]:
    def damage(root: Path) -> None:
        path = root / "info" / name
        path.write_text("".join(line + "\n" for line in edit(path.read_text().splitlines())))

    return damage


def _set(index: int, text: str) -> Callable[[list[str]], list[str]]:
    def edit(lines: list[str]) -> list[str]:
        lines[index] = text
        return lines

    return edit



INFO_FILES = ("train_name.txt", "track_train_info.txt", "test_name.txt", "track_test_info.txt", "query_IDX.txt")
TRAIN_TRACKS, TEST_TRACKS, QUERY = "track_train_info.txt", "track_test_info.txt", "query_IDX.txt"
TOO_FAR = r"track_test_info.txt \[line {line}\]: expected 1 <= start <= end <= 75 \(lines of test_name.txt\)"


def _delete_frame(root: Path) -> None:
    (root / "0008" / "rgb" / "D4" / "0001.jpg").unlink()


@pytest.mark.parametrize(
    ("damage", "where"),
    [
        *[(remove(f"info/{name}"), f"info/{name}: expected a HITSZ-VCM info file") for name in INFO_FILES],
        (remove("info"), "info: expected the info folder"),
        (_info(TRAIN_TRACKS, _set(1, "2 13 26 1")), r"track_train_info.txt \[line 2\]: expected five integers"),
        (_info(TRAIN_TRACKS, _set(0, "1 1 12 1 x")), r"track_train_info.txt \[line 1\]: expected five integers"),
        (_info(TEST_TRACKS, _set(3, "3 18 33 8 4")), r"track_test_info.txt \[line 4\]: expected modality code 1"),
        (_info(TEST_TRACKS, _set(0, "2 12 1 7 2")), TOO_FAR.format(line=1)),
        (_info(TEST_TRACKS, _set(6, "1 61 76 9 1")), TOO_FAR.format(line=7)),
        (_info(TEST_TRACKS, lambda lines: lines[:2] + [""] + lines[2:]), r"track_test_info.txt \[line 3\]"),
        (_info("train_name.txt", _set(3, "0001M1D1T0001F0004")), r"train_name.txt \[line 4\]: expected an existing"),
        (_info("train_name.txt", _set(4, "1M1D1T0001F0005.jpg")), r"train_name.txt \[line 5\]: expected a frame name"),
        (_delete_frame, r"test_name.txt \[line 30\]: expected an existing frame; .*0008/rgb/D4/0001\.jpg"),
        (_info(QUERY, lambda lines: lines + ["1"]), "query_IDX.txt: expected one line"),
        (_info(QUERY, _set(0, "7,2,5")), r"query_IDX.txt \[line 1\]: expected whitespace-separated"),
        (_info(QUERY, _set(0, "7 2 7")), r"query_IDX.txt \[line 1\]: expected each query row once"),
        (_info(QUERY, _set(0, "7 2 8")), r"query_IDX.txt \[entry 3\]: expected a row of .* in 1..7, got 8"),
        (_info(QUERY, _set(0, "7 0")), r"query_IDX.txt \[entry 2\]: expected a row .* got 0"),
        (_info(QUERY, _set(0, "7 4")), r"query_IDX.txt \[entry 2\]: expected an infrared query tracklet; row 4"),
    ],
)
def test_layout_errors_name_the_path_and_what_was_expected(
    tree: VcmTree, damage: Callable[[Path], None], where: str
) -> None:
    damage(tree.root)
    with pytest.raises(DatasetError, match=where):
        HITSZVCM(tree.root)


def test_frames_of_dropped_tracklets_are_not_needed(tree: VcmTree) -> None:
    shutil.rmtree(tree.root / "0009" / "rgb")
    assert len(HITSZVCM(tree.root).test) == 5
    with pytest.raises(DatasetError, match=re.escape("0009/rgb/D2/0001.jpg")):
        HITSZVCM(tree.root, min_seq_len=0)


def test_missing_root_is_named(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match=re.escape(str(tmp_path / "VCM"))):
        HITSZVCM(tmp_path / "VCM")


@pytest.mark.parametrize("value", [-1, 1.5, True])
def test_bad_min_seq_len_is_a_config_error(tree: VcmTree, value: object) -> None:
    with pytest.raises(ConfigError, match="min_seq_len"):
        HITSZVCM(tree.root, min_seq_len=value)


def test_unreadable_frame_fails_at_read_or_with_verify_images(tree: VcmTree) -> None:
    ds = HITSZVCM(tree.root, verify_images=True)
    frame = ds.test[0].frames[3]
    assert ds.read(frame).size == (8, 16)
    corrupt(Path(frame))
    with pytest.raises(DatasetError, match=re.escape(frame)):
        ds.read(frame)
    with pytest.raises(DatasetError, match=re.escape(frame)):
        HITSZVCM(tree.root, verify_images=True)
