"""The project's own promises: README's commands are what CI runs; the torchvision shim is active only when needed."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT


def _readme_commands() -> list[str]:
    readme = (REPO_ROOT / "README.md").read_text()
    block = re.search(r"<!-- quickstart -->\s*```(?:bash|sh)?\n(.*?)```", readme, re.S)
    assert block, "README.md must hold the quick-start commands in a fenced block after <!-- quickstart -->"
    return [line for line in block.group(1).splitlines() if line.strip() and not line.startswith("#")]


def test_readme_gives_exactly_two_commands_and_ci_runs_the_test_one() -> None:
    commands = _readme_commands()
    assert len(commands) == 2, commands
    main_job, test_job = commands
    assert "reid " in main_job and "pytest" in test_job
    ci_lines = (REPO_ROOT / ".ci" / "run").read_text().splitlines()
    assert test_job in ci_lines, f".ci/run must run README's test command verbatim: {test_job!r}"


def test_dependency_ranges_keep_torch_2_13() -> None:
    specifiers = pytest.importorskip("packaging.specifiers")
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
    ranges = {}
    for requirement in project["dependencies"]:
        name = re.match(r"[A-Za-z0-9_.-]+", requirement).group(0)
        ranges[name] = specifiers.SpecifierSet(requirement[len(name):])
    assert "2.13.0" in ranges["torch"] and "2.14.0" not in ranges["torch"]
    # torchvision 0.28 is the release that pins torch 2.13; 0.29 would pull a newer torch.
    assert "0.28.0" in ranges["torchvision"] and "0.29.0" not in ranges["torchvision"]


def test_torchvision_shim_is_active_only_when_the_native_import_fails() -> None:
    from reid.compat import shim_active

    native = subprocess.run([sys.executable, "-c", "import torchvision"], capture_output=True, text=True)
    assert shim_active() == (native.returncode != 0), native.stderr[-500:]
    import torchvision.models
    import torchvision.transforms.v2

    assert torchvision.models.resnet18(num_classes=4).fc.out_features == 4
    assert callable(torchvision.transforms.v2.RandomHorizontalFlip)


def test_the_benchmarks_collect_without_xdist() -> None:
    """``--strict-markers`` knows ``xdist_group`` even when pytest-xdist is not loaded (``-p no:xdist``)."""
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:xdist", "--collect-only", "-q", "--smoke-selection=ci",
         "benchmarks/test_controls.py", "benchmarks/test_xiv_table1.py"],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert "test_broken_control_fails_the_smoke_verdict[agw-permuted_ids]" in done.stdout


def test_the_house_is_one_way() -> None:
    """`lint-imports` keeps pyproject.toml's layers contract: every module imports only from its layer or below."""
    linter = shutil.which("lint-imports", path=str(Path(sys.executable).parent)) or shutil.which("lint-imports")
    assert linter is not None, "lint-imports (import-linter, a test dependency) is not installed"
    done = subprocess.run([linter, "--no-cache"], cwd=REPO_ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert "1 kept, 0 broken" in done.stdout


def test_the_benchmarks_import_nothing_from_the_command_line() -> None:
    """The harness's pytest front end sits beside the CLI, not on top of it (its options come from the library)."""
    for path in (REPO_ROOT / "benchmarks").rglob("*.py"):
        assert not re.search(r"^\s*(from reid\.cli |import reid\.cli)", path.read_text(), re.M), path


def test_the_paper_benchmarks_without_a_gpu_are_a_usage_error() -> None:
    """`pytest benchmarks --gpu` on a machine without CUDA stops (exit 4) saying so, instead of skipping every row."""
    import torch

    if torch.cuda.is_available():
        pytest.skip("a CUDA device is visible")
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:xdist", "-q", "--gpu", "-k", "cmmp", "benchmarks"],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 4, done.stdout[-2000:] + done.stderr[-2000:]
    assert "--gpu: no CUDA device is visible" in done.stderr and "--profile smoke" in done.stderr
