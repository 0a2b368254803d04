"""Shared fixtures.

Torch runs one thread per xdist worker: two workers with two threads each were measured 2x slower.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
import torch
import yaml

from reid.golden import load_golden
from reid.harness.reproduce import record_smoke_table

if os.environ.get("PYTEST_XDIST_WORKER"):
    torch.set_num_threads(1)

REPO_ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def sysu_split_dir() -> Path:
    """The official SYSU-MM01 split files: $REID_SYSU_SPLITS, else ../shared/data/sysu_mm01 beside the checkout."""
    path = Path(os.environ.get("REID_SYSU_SPLITS", REPO_ROOT.parent / "shared" / "data" / "sysu_mm01"))
    if not (path / "rand_perm_cam.mat").is_file():
        pytest.skip(f"official SYSU-MM01 split files not found: expected {path}/rand_perm_cam.mat "
                    "(set REID_SYSU_SPLITS)")
    return path


# A golden folder of one tiny table: an AGW row that trains in seconds and a reference row.
TINY = [
    "model.non_local=False",
    "data.options={'seed': 0, 'num_train_ids': 8, 'num_test_ids': 6, 'images_per_camera': (1, 2)}",
    "data.num_ids_per_batch=4",
    "optim.epochs=1",
    "optim.warmup_epochs=1",
    "optim.milestones=(1,)",
    "eval.protocol_options.num_trials=2",
]


def write_tiny_mscmnet(root: Path, *, caption: str, label: str, overrides: list[str] | None = None) -> None:
    """Write the tiny golden folder into ``root``: the real settings and aliases, MSCMNet's Table 1 with one AGW row
    labelled ``label`` (and trained with ``overrides``) beside a DDAG reference row, and one claim relating them."""
    shutil.copy(REPO_ROOT / "golden" / "settings.yaml", root)
    shutil.copy(REPO_ROOT / "golden" / "aliases.yaml", root)
    (root / "mscmnet").mkdir()
    agw = {"label": label, "status": "reproduce", "method": "agw", "alias": "AGW",
           "values": [47.5, 47.65, 54.17, 62.97]}
    if overrides is not None:
        agw["overrides"] = overrides
    table = {
        "paper": "mscmnet", "table": 1, "caption": caption, "source": "test",
        "columns": [{"setting": "sysu_all_single", "metrics": ["rank1", "mAP"]},
                    {"setting": "sysu_indoor_single", "metrics": ["rank1", "mAP"]}],
        "tolerance": {"rank1": 3.0, "mAP": 3.0},
        "rows": [agw, {"label": "DDAG", "status": "reference", "alias": "DDAG", "values": [54.75, 53.02, None, 67.98]}],
    }
    (root / "mscmnet" / "table1.yaml").write_text(yaml.safe_dump(table, sort_keys=False))
    claims = {"paper": "mscmnet", "claims": [{
        "id": "ddag-over-agw", "text": "DDAG beats AGW by 7.25 rank-1", "source": "test", "kind": "difference",
        "a": {"table": 1, "row": "DDAG", "setting": "sysu_all_single", "metric": "rank1"},
        "b": {"table": 1, "row": label, "setting": "sysu_all_single", "metric": "rank1"},
        "value": 7.25}]}
    (root / "mscmnet" / "claims.yaml").write_text(yaml.safe_dump(claims, sort_keys=False))


@pytest.fixture(scope="session")
def tiny_golden(tmp_path_factory):
    """The golden folder of the tiny table (its caption and label carry markup, for the escaping tests)."""
    root = tmp_path_factory.mktemp("golden")
    write_tiny_mscmnet(root, caption="A tiny table <script>alert(1)</script>", label="AGW <b>tiny</b>",
                       overrides=TINY)
    return load_golden(root)


@pytest.fixture(scope="session")
def recorded(tiny_golden, tmp_path_factory):
    """(runs folder, smoke recording) of the tiny table, recorded once."""
    runs = tmp_path_factory.mktemp("runs")
    path = record_smoke_table(tiny_golden, "mscmnet", 1, runs)
    return runs, path
