from pathlib import Path

import numpy as np
import pytest
import scipy.io

from reid.data.sysu_permutations import load_id_list, load_rand_perm_cam
from reid.errors import DatasetError


def test_official_file_describes_the_published_dataset(sysu_split_dir: Path) -> None:
    perms = load_rand_perm_cam(sysu_split_dir / "rand_perm_cam.mat")
    counts = perms.counts()
    rgb = sum(n for (cam, _), n in counts.items() if cam in (1, 2, 4, 5))
    ir = sum(n for (cam, _), n in counts.items() if cam in (3, 6))
    assert (rgb, ir) == (30071, 15792)
    assert perms.num_trials == 10
    test_ids = load_id_list(sysu_split_dir / "test_id.mat")
    assert len(test_ids) == 96
    assert len(load_id_list(sysu_split_dir / "train_id.mat")) == 296
    query = sum(counts.get((cam, pid), 0) for cam in (3, 6) for pid in test_ids)
    assert query == 3803


def test_instances_follow_the_permutation_row(sysu_split_dir: Path) -> None:
    perms = load_rand_perm_cam(sysu_split_dir / "rand_perm_cam.mat")
    (cam, pid), perm = next(iter(perms.table.items()))
    assert perms.instances(cam, pid, trial=3, shots=10) == tuple(perm[3, :10])
    assert perms.instances(cam, 10_000, trial=0, shots=1) == ()


def test_bad_files_name_path_and_field(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="rand_perm_cam.mat"):
        load_rand_perm_cam(tmp_path / "rand_perm_cam.mat")
    bad = tmp_path / "bad.mat"
    scipy.io.savemat(bad, {"other": np.zeros(3)})
    with pytest.raises(DatasetError, match=r"bad.mat \[rand_perm_cam\]"):
        load_rand_perm_cam(bad)
    ids = tmp_path / "test_id.txt"
    ids.write_text("1,2,x")
    with pytest.raises(DatasetError, match="test_id.txt"):
        load_id_list(ids)
    ids.write_text("3,1,2\n")
    assert load_id_list(ids) == (3, 1, 2)
