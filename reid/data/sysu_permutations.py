"""The official SYSU-MM01 gallery permutations (``rand_perm_cam.mat``).

The file comes with the dataset's official evaluation code (``data_split/``), not with
the images, and must not be redistributed: users point the loader at their copy.

Layout (checked with scipy): variable ``rand_perm_cam`` of shape (6, 1); entry
``[cam - 1][0]`` is an object array over person ids 1..N_cam (333 for cams 1, 2, 6;
533 for cams 3, 4, 5); its element ``[pid - 1][0]`` is an integer array of shape
(10, n_images): one 1-based permutation per trial of that person's image numbers
(``NNNN.jpg``) in that camera, with n_images = 0 where the person has no image there.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from reid.errors import DatasetError

SYSU_CAMERAS = (1, 2, 3, 4, 5, 6)


@dataclass(frozen=True)
class SysuPermutations:
    """Per-(camera, identity) image permutations, one row per trial.

    Attributes:
        table: ``(camid, pid) -> int64 array [num_trials, n_images]`` of 1-based image
            numbers; only pairs with at least one image are present.
        num_trials: rows per permutation (10 in the official file).
        source: where the permutations came from (a path, or a description of a generator).
    """

    table: Mapping[tuple[int, int], np.ndarray]
    num_trials: int
    source: str

    def counts(self) -> dict[tuple[int, int], int]:
        """Images per (camera, identity): the dataset's shape as the file describes it."""
        return {key: perm.shape[1] for key, perm in self.table.items()}

    def instances(self, camid: int, pid: int, trial: int, shots: int) -> tuple[int, ...]:
        """The first ``shots`` image numbers of ``(camid, pid)`` in ``trial`` (0-based).

        Fewer than ``shots`` come back when the person has fewer images there, none when
        the person was never seen by that camera: the official MATLAB code does the same.
        """
        perm = self.table.get((camid, pid))
        if perm is None:
            return ()
        return tuple(int(i) for i in perm[trial, :shots])


def load_rand_perm_cam(path: str | Path) -> SysuPermutations:
    """Read the official ``rand_perm_cam.mat``.

    Raises:
        DatasetError: the file is missing, unreadable or not laid out as documented above.
    """
    import scipy.io

    path = Path(path)
    if not path.is_file():
        raise DatasetError(path, "the official SYSU-MM01 rand_perm_cam.mat (from its evaluation code, data_split/)")
    try:
        mat = scipy.io.loadmat(str(path))
    except (ValueError, OSError, TypeError) as err:
        raise DatasetError(path, f"a MATLAB .mat file readable by scipy ({err})") from None
    if "rand_perm_cam" not in mat:
        raise DatasetError(path, "a variable named 'rand_perm_cam'", field="rand_perm_cam")
    cams = mat["rand_perm_cam"]
    if cams.shape != (len(SYSU_CAMERAS), 1):
        raise DatasetError(path, f"shape (6, 1), got {cams.shape}", field="rand_perm_cam")
    table: dict[tuple[int, int], np.ndarray] = {}
    num_trials: int | None = None
    for camid in SYSU_CAMERAS:
        people = cams[camid - 1, 0]
        for index in range(people.shape[0]):
            perm = np.asarray(people[index, 0], dtype=np.int64)
            field = f"rand_perm_cam{{{camid}}}{{{index + 1}}}"
            if perm.ndim != 2:
                raise DatasetError(path, f"a 2-D (trials, images) array, got shape {perm.shape}", field=field)
            num_trials = perm.shape[0] if num_trials is None else num_trials
            if perm.shape[0] != num_trials:
                expected = f"{num_trials} trials like the other entries, got {perm.shape[0]}"
                raise DatasetError(path, expected, field=field)
            if perm.shape[1] == 0:
                continue
            expected = np.arange(1, perm.shape[1] + 1)
            if not all(np.array_equal(np.sort(row), expected) for row in perm):
                raise DatasetError(path, f"each row a permutation of 1..{perm.shape[1]}", field=field)
            table[(camid, index + 1)] = perm
    return SysuPermutations(table=table, num_trials=num_trials or 0, source=str(path))


def load_id_list(path: str | Path) -> tuple[int, ...]:
    """Read a SYSU-MM01 id list: ``exp/*_id.txt`` (one comma-separated line) or the ``*_id.mat`` files.

    Raises:
        DatasetError: missing file, or content that is not a list of positive integers.
    """
    path = Path(path)
    if not path.is_file():
        raise DatasetError(path, "an identity list file (one line of comma-separated integers)")
    if path.suffix == ".mat":
        import scipy.io

        mat = scipy.io.loadmat(str(path))
        if "id" not in mat:
            raise DatasetError(path, "a variable named 'id'", field="id")
        ids = [int(i) for i in np.asarray(mat["id"]).ravel()]
    else:
        text = path.read_text().strip()
        try:
            ids = [int(tok) for tok in text.split(",") if tok.strip()]
        except ValueError:
            raise DatasetError(path, "comma-separated integers on one line", field="line 1") from None
    if not ids or min(ids) < 1 or len(set(ids)) != len(ids):
        raise DatasetError(path, "a non-empty list of distinct positive identity numbers")
    return tuple(ids)
