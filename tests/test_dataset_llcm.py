import re
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from reid.data.datasets.llcm import LLCM
from reid.data.sample import Modality, Sample
from reid.errors import DatasetError
from tests.trees import LLCMTree, WrittenImage, corrupt, make_llcm_tree, remove, rewrite_line, small_llcm_spec


def as_samples(images: list[WrittenImage] | tuple[WrittenImage, ...]) -> tuple[Sample, ...]:
    return tuple(Sample(str(i.path), i.pid, i.camid, i.modality) for i in images)


def deen_test_order(images: tuple[WrittenImage, ...]) -> list[WrittenImage]:
    """Visible then NIR; identity-major, then camera, then file name (DEEN process_*_llcm)."""
    return sorted(images, key=lambda i: (i.modality is Modality.INFRARED, i.pid, i.camid, i.path.name))


@pytest.fixture()
def tree(tmp_path: Path) -> LLCMTree:
    return make_llcm_tree(tmp_path / "LLCM", small_llcm_spec())


def test_train_follows_the_idx_files_and_test_every_test_image(tree: LLCMTree) -> None:
    ds = LLCM(tree.root)
    assert ds.name == "llcm"
    assert ds.train == as_samples(tree.train)
    assert ds.test == as_samples(deen_test_order(tree.test))
    assert {s.pid for s in ds.train} == {4, 9, 12} and {s.pid for s in ds.test} == {7, 10, 30}
    assert {s.camid for s in ds.test if s.modality is Modality.INFRARED} <= {1, 2, 4, 5, 6, 7, 8, 9}
    assert all(Path(s.path).is_absolute() for s in ds.train + ds.test)


def test_summary(tree: LLCMTree) -> None:
    vis = sum(i.modality is Modality.VISIBLE for i in tree.test)
    assert LLCM(tree.root).summary() == {
        "train_ids": 3,
        "train_visible": sum(i.modality is Modality.VISIBLE for i in tree.train),
        "train_infrared": sum(i.modality is Modality.INFRARED for i in tree.train),
        "test_ids": 3,
        "test_visible": vis,
        "test_infrared": len(tree.test) - vis,
    }


def test_two_digit_training_cameras_and_hidden_files(tree: LLCMTree) -> None:
    image = tree.train[0]
    renamed = image.path.with_name(image.path.name.replace("_c", "_c1", 1))
    image.path.rename(renamed)
    idx = tree.root / "idx" / "train_vis.txt"
    idx.write_text(idx.read_text().replace(image.path.name, renamed.name))
    (tree.root / "test_vis" / ".DS_Store").write_text("")
    ds = LLCM(tree.root)
    assert ds.train[0].camid == int(f"1{image.camid:02d}")


def _edit(name: str, old: str, new: str, count: int = 1) -> Callable[[Path], None]:
    def damage(root: Path) -> None:
        path = root / "idx" / name
        text = path.read_text()
        assert old in text
        path.write_text(text.replace(old, new, count))

    return damage




def _mkdir(rel: str) -> Callable[[Path], None]:
    def damage(root: Path) -> None:
        (root / rel).mkdir(parents=True)

    return damage


def _stray_file(root: Path) -> None:
    folder = next((root / "test_vis").glob("cam*/0007"))
    (folder / "notes.txt").write_text("")


def _identity_is_file(root: Path) -> None:
    folder = next((root / "test_nir").glob("cam*/0030"))
    shutil.rmtree(folder)
    folder.write_text("")


def _delete_first_training_image(root: Path) -> None:
    rel = (root / "idx" / "train_nir.txt").read_text().split()[0]
    (root / rel).unlink()


def _relabel_one_nir_line(root: Path) -> None:
    path = root / "idx" / "train_nir.txt"
    lines = path.read_text().splitlines()
    rel, label = lines[0].split()
    lines[0] = f"{rel} {int(label) + 1}"
    path.write_text("\n".join(lines) + "\n")


def _two_ids_one_label(root: Path) -> None:
    path = root / "idx" / "train_vis.txt"
    path.write_text(path.read_text().replace(" 2\n", " 0\n"))


@pytest.mark.parametrize(
    ("damage", "where"),
    [
        (remove("idx/train_vis.txt"), "idx/train_vis.txt: expected an index file"),
        (remove("idx/test_id.txt"), "idx/test_id.txt: expected an identity list"),
        (remove("test_nir"), "test_nir: expected the folder of NIR test cameras"),
        (rewrite_line("idx/train_nir.txt", 2, lambda s: s.split()[0]), r"train_nir.txt \[line 2\]"),
        (rewrite_line("idx/train_vis.txt", 1, lambda s: s.replace("_c", "_x", 1)),
         r"train_vis.txt \[line 1\]: expected an image name '<id>_c<camera>"),
        (rewrite_line("idx/train_vis.txt", 2, lambda s: s.replace("/0004/", "/", 1)),
         r"train_vis.txt \[line 2\]: expected an image inside its 4-digit identity folder"),
        (_delete_first_training_image, r"train_nir.txt \[line 1\]: expected an existing image"),
        (_relabel_one_nir_line,
         r"train_nir.txt \[line 1\]: expected label \d for identity 0004, as train_vis.txt line 1 gives"),
        (_two_ids_one_label, "train_vis.txt: expected one identity per label"),
        (_mkdir("test_nir/cam3"), "test_nir/cam3: expected only camera folders cam1, cam2, cam4"),
        (_mkdir("test_vis/cam10"), "test_vis/cam10: expected only camera folders cam1, cam2, cam3"),
        (_mkdir("test_vis/extra"), "test_vis/extra: expected only camera folders"),
        (_stray_file, "0007/notes.txt: expected only image files"),
        (_identity_is_file, "0030: expected a folder of images"),
        (_edit("test_id.txt", "10", "10,55"), "test_id.txt: expected test identities with images .* \\['0055'\\]"),
        (_edit("test_id.txt", "10", "10,9"), "test_id.txt: expected identities disjoint from the training"),
        (_edit("test_id.txt", ",", ";"), r"test_id.txt \[line 1\]"),
    ],
)
def test_layout_errors_name_the_path_and_what_was_expected(
    tree: LLCMTree, damage: Callable[[Path], None], where: str
) -> None:
    damage(tree.root)
    with pytest.raises(DatasetError, match=where):
        LLCM(tree.root)


def test_missing_root_is_named(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match=re.escape(str(tmp_path / "LLCM"))):
        LLCM(tmp_path / "LLCM")


def test_unreadable_image_fails_at_read_or_with_verify_images(tree: LLCMTree) -> None:
    ds = LLCM(tree.root, verify_images=True)
    assert ds.read(ds.train[0]).size == (8, 16)
    bad = ds.test[0]
    corrupt(Path(bad.path))
    with pytest.raises(DatasetError, match=re.escape(bad.path)):
        ds.read(bad)
    with pytest.raises(DatasetError, match=re.escape(bad.path)):
        LLCM(tree.root, verify_images=True)
