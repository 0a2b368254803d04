import re
from collections.abc import Callable
from pathlib import Path

import pytest

from reid.data.datasets.idx_file import read_idx_file
from reid.data.datasets.regdb import RegDB
from reid.data.sample import Modality, Sample
from reid.errors import ConfigError, DatasetError
from tests.trees import RegDBSpec, RegDBTree, corrupt, make_regdb_tree, remove, rewrite_line


def expected(tree: RegDBTree, trial: int, split: str) -> tuple[Sample, ...]:
    """Visible lines then thermal lines in file order; pid = label, cameras 1 and 2 (AGW eval_regdb)."""
    return tuple(
        Sample(str(tree.root / r.rel), r.label, camid, modality)
        for modality, camid, name in ((Modality.VISIBLE, 1, "visible"), (Modality.INFRARED, 2, "thermal"))
        for r in tree.lines[(trial, split, name)]
    )


@pytest.fixture()
def tree(tmp_path: Path) -> RegDBTree:
    return make_regdb_tree(tmp_path / "RegDB", RegDBSpec(ids=(1, 2, 3, 4, 5, 6), images_per_id=2, trials=(1, 2)))


@pytest.mark.parametrize("trial", [1, 2])
def test_trial_lists_visible_then_thermal_in_file_order_with_file_labels(tree: RegDBTree, trial: int) -> None:
    ds = RegDB(tree.root, trial=trial)
    assert ds.name == "regdb" and ds.trial == trial
    assert ds.train == expected(tree, trial, "train")
    assert ds.test == expected(tree, trial, "test")
    assert len(ds.train) == len(ds.test) == 3 * 2 * 2


def test_trials_differ_and_pids_are_the_split_labels(tree: RegDBTree) -> None:
    one, two = RegDB(tree.root, trial=1), RegDB(tree.root, trial=2)
    assert {s.path for s in one.train} != {s.path for s in two.train}
    # Labels number each split's identities from 0; train and test reuse the numbers.
    assert {s.pid for s in one.train} == {s.pid for s in one.test} == {0, 1, 2}
    folders = {(s.pid, Path(s.path).parent.name) for s in one.test}
    assert len(folders) == 3


def test_summary(tree: RegDBTree) -> None:
    assert RegDB(tree.root, trial=1).summary() == {
        "train_ids": 3, "train_visible": 6, "train_infrared": 6,
        "test_ids": 3, "test_visible": 6, "test_infrared": 6,
    }


def test_blank_lines_are_skipped_and_idx_entries_keep_their_line_numbers(tmp_path: Path) -> None:
    idx = tmp_path / "train_visible_1.txt"
    idx.write_text("Visible/1/a.bmp 0\n\nVisible/2/b.bmp 1\n")
    entries = read_idx_file(idx)
    assert [(e.line, e.path, e.label) for e in entries] == [(1, "Visible/1/a.bmp", 0), (3, "Visible/2/b.bmp", 1)]


def _first_line(root: Path, name: str) -> str:
    return (root / "idx" / name).read_text().splitlines()[0]




def _delete_listed_image(root: Path) -> None:
    (root / _first_line(root, "test_thermal_1.txt").split()[0]).unlink()


def _empty_file(root: Path) -> None:
    (root / "idx" / "test_visible_1.txt").write_text("\n")


@pytest.mark.parametrize(
    ("damage", "where"),
    [
        (remove("idx/train_thermal_1.txt"), "idx/train_thermal_1.txt: expected an index file"),
        (remove("Thermal"), "Thermal: expected the folder of thermal images"),
        (remove("idx"), "idx: expected the folder of split files"),
        (rewrite_line("idx/train_visible_1.txt", 2, lambda s: s.split()[0]),
         r"train_visible_1.txt \[line 2\]: expected '<relative"),
        (rewrite_line("idx/train_visible_1.txt", 3, lambda s: s.split()[0] + " x"), r"train_visible_1.txt \[line 3\]"),
        (rewrite_line("idx/test_visible_1.txt", 1, lambda s: s.split()[0] + " -1"), r"test_visible_1.txt \[line 1\]"),
        (rewrite_line("idx/test_visible_1.txt", 2, lambda s: s + " extra"), r"test_visible_1.txt \[line 2\]"),
        (rewrite_line("idx/train_thermal_1.txt", 1, lambda s: "../" + s),
         r"train_thermal_1.txt \[line 1\]: expected an image path relative"),
        (rewrite_line("idx/train_thermal_1.txt", 1, lambda s: "/abs/" + s),
         r"train_thermal_1.txt \[line 1\]: expected an image path relative"),
        (rewrite_line("idx/train_thermal_1.txt", 2, lambda s: s.replace("Thermal/", "Visible/", 1)),
         r"train_thermal_1.txt \[line 2\]: expected an image under Thermal/ \(infrared\)"),
        (_delete_listed_image, r"test_thermal_1.txt \[line 1\]: expected an existing image; .*Thermal/.* is missing"),
        (_empty_file, "test_visible_1.txt: expected at least one"),
    ],
)
def test_layout_errors_name_the_file_line_and_expectation(
    tree: RegDBTree, damage: Callable[[Path], None], where: str
) -> None:
    damage(tree.root)
    with pytest.raises(DatasetError, match=where):
        RegDB(tree.root, trial=1)


def test_a_trial_without_idx_files_names_them(tree: RegDBTree) -> None:
    with pytest.raises(DatasetError, match="train_visible_3.txt"):
        RegDB(tree.root, trial=3)


@pytest.mark.parametrize("trial", [0, 11, "1", True])
def test_trial_outside_one_to_ten_is_a_config_error(tree: RegDBTree, trial: object) -> None:
    with pytest.raises(ConfigError, match="trial"):
        RegDB(tree.root, trial=trial)


def test_missing_root_is_named(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match=re.escape(str(tmp_path / "RegDB"))):
        RegDB(tmp_path / "RegDB")


def test_unreadable_image_fails_at_read_or_with_verify_images(tree: RegDBTree) -> None:
    ds = RegDB(tree.root, trial=1, verify_images=True)
    image = ds.read(ds.test[-1])
    assert image.mode == "RGB" and image.size == (8, 16)
    bad = ds.test[-1]
    corrupt(Path(bad.path))
    with pytest.raises(DatasetError, match=re.escape(bad.path)):
        ds.read(bad)
    with pytest.raises(DatasetError, match=re.escape(bad.path)):
        RegDB(tree.root, trial=1, verify_images=True)
