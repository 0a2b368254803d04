"""Shared fixtures.

Torch runs one thread per xdist worker: two workers with two threads each were measured 2x slower.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

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
