"""Run records: one JSON file per run saying what ran, where, from which code and weights, and what it scored.

The report joins these records with the papers' numbers, so a record carries everything that
decides or qualifies its numbers: the full config and its fingerprint, the git commit of the
code (and whether the work tree had changes), library versions and the device, the seed and
the stream ids derived from it, the evaluation protocol, per-epoch losses and rates, every
evaluation, which epoch's model the final numbers belong to (and whether that choice looked at
the test set), the initial weights (or that there were none), and the wall time.
"""

from __future__ import annotations

import dataclasses
import json
import platform
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torchvision

from reid.backbones.pretrained import weights_sha256
from reid.errors import ArtifactError
from reid.io import atomic_write_text

RECORD_FORMAT = 1
"""Version of the record layout; a file with another version is refused."""

RECORD = "record.json"
STATUSES = ("completed", "failed")
SELECTIONS = ("last", "best-on-test")


@dataclass(frozen=True)
class RunRecord:
    """Everything one run did and found (JSON: :meth:`to_dict`, :func:`write_run_record`).

    Attributes:
        config: the full run config (:func:`reid.config.to_dict`).
        fingerprint: :func:`reid.config.fingerprint` of it; names the run folder.
        status: ``"completed"`` or ``"failed"``.
        error: the error that stopped a failed run (type and message), else ``None``.
        git: ``{"sha": .., "dirty": ..}`` of the checkout the package was imported from
            (both ``None`` when it is not a git checkout).
        environment: python, platform, torch, torchvision, CUDA and cuDNN versions, device and
            its name, torch threads, cuDNN flags.
        seeds: the run seed and the id of every stream derived from it.
        protocol: the evaluation settings (``reid.config.EvalConfig`` as a dict).
        weights: ``{"pretrained": path or None, "from_scratch": bool, "sha256": digest or None}``.
        epochs: one entry per completed epoch: ``epoch``, ``lr`` (group -> rate), ``train``
            (mean losses, steps, images/s) and ``evaluation`` (or ``None``).
        selection: ``{"rule", "epoch", "selection_uses_test_set", "criterion"}``: which epoch's
            model the final evaluation is of; ``None`` if the run failed before choosing.
        final_evaluation: the evaluation of the selected model, or ``None``.
        wall_time_s: seconds spent in the run, summed over resumed segments.
        resumed_at_epochs: epochs a resumed segment started from (empty for one segment).
        stages: the earlier runs this one was initialised from, first to last (CMMP: its
            pre-training): ``stage``, ``method``, ``fingerprint``, ``wall_time_s``, ``epochs`` and
            ``final_train`` (the last epoch's losses); empty for a single-stage run.
        format: the record layout version.
    """

    config: dict[str, Any]
    fingerprint: str
    status: str
    error: str | None
    git: dict[str, Any]
    environment: dict[str, Any]
    seeds: dict[str, Any]
    protocol: dict[str, Any]
    weights: dict[str, Any]
    epochs: list[dict[str, Any]]
    selection: dict[str, Any] | None
    final_evaluation: dict[str, Any] | None
    wall_time_s: float
    resumed_at_epochs: list[int] = field(default_factory=list)
    stages: list[dict[str, Any]] = field(default_factory=list)
    format: int = RECORD_FORMAT

    @property
    def total_wall_time_s(self) -> float:
        """Seconds of this run and of every stage it was initialised from."""
        return self.wall_time_s + sum(float(stage["wall_time_s"]) for stage in self.stages)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (a deep copy)."""
        return json.loads(json.dumps(dataclasses.asdict(self), allow_nan=False))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], path: str | Path = "<record>") -> RunRecord:
        """Validate and rebuild a record.

        Raises:
            ArtifactError: a missing or unknown key, a value of the wrong type, an unknown status
                or selection rule, or inconsistent weights / selection fields; names ``path`` and the key.
        """
        if not isinstance(data, Mapping):
            raise ArtifactError(path, f"a JSON object, got {type(data).__name__}")
        expected = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - expected)
        if unknown:
            raise ArtifactError(path, f"only the keys {sorted(expected)}", unknown[0])
        data = {"stages": [], **data}  # records written before stages existed had none
        for name, types in _TYPES.items():
            if name not in data:
                raise ArtifactError(path, "a value (key missing)", name)
            if not _is(data[name], types):
                names = " or ".join("null" if t is type(None) else t.__name__ for t in types)
                raise ArtifactError(path, f"{names}, got {type(data[name]).__name__}", name)
        if data["format"] != RECORD_FORMAT:
            raise ArtifactError(path, f"record format {RECORD_FORMAT}, got {data['format']!r}", "format")
        if data["status"] not in STATUSES:
            raise ArtifactError(path, f"one of {', '.join(STATUSES)}, got {data['status']!r}", "status")
        if (data["status"] == "failed") != (data["error"] is not None):
            raise ArtifactError(path, "an error message exactly when status is 'failed'", "error")
        _check_weights(data["weights"], path)
        if data["selection"] is not None:
            _check_selection(data["selection"], path)
        for i, entry in enumerate(data["epochs"]):
            if not isinstance(entry, Mapping) or not {"epoch", "lr", "train", "evaluation"} <= set(entry):
                raise ArtifactError(path, "an object with epoch, lr, train and evaluation", f"epochs[{i}]")
        return cls(**{name: data[name] for name in expected})


_TYPES: dict[str, tuple[type, ...]] = {
    "format": (int,),
    "config": (dict,),
    "fingerprint": (str,),
    "status": (str,),
    "error": (str, type(None)),
    "git": (dict,),
    "environment": (dict,),
    "seeds": (dict,),
    "protocol": (dict,),
    "weights": (dict,),
    "epochs": (list,),
    "selection": (dict, type(None)),
    "final_evaluation": (dict, type(None)),
    "wall_time_s": (int, float),
    "resumed_at_epochs": (list,),
    "stages": (list,),
}


def _is(value: Any, types: tuple[type, ...]) -> bool:
    # bool is an int subclass; no field of a record is a boolean at the top level.
    return isinstance(value, types) and not isinstance(value, bool)


def _check_weights(weights: Mapping[str, Any], path: str | Path) -> None:
    if set(weights) != {"pretrained", "from_scratch", "sha256"}:
        raise ArtifactError(path, "keys pretrained, from_scratch, sha256", "weights")
    if not isinstance(weights["from_scratch"], bool):
        raise ArtifactError(path, "true or false", "weights.from_scratch")
    if weights["from_scratch"] != (weights["pretrained"] is None):
        raise ArtifactError(path, "from_scratch true exactly when pretrained is null", "weights.from_scratch")


def _check_selection(selection: Mapping[str, Any], path: str | Path) -> None:
    if set(selection) != {"rule", "epoch", "selection_uses_test_set", "criterion"}:
        raise ArtifactError(path, "keys rule, epoch, selection_uses_test_set, criterion", "selection")
    if selection["rule"] not in SELECTIONS:
        raise ArtifactError(path, f"one of {', '.join(SELECTIONS)}, got {selection['rule']!r}", "selection.rule")
    if selection["selection_uses_test_set"] is not (selection["rule"] == "best-on-test"):
        raise ArtifactError(
            path, "selection_uses_test_set true exactly for rule 'best-on-test'", "selection.selection_uses_test_set"
        )


def write_run_record(path: str | Path, record: RunRecord) -> None:
    """Write ``record`` as indented JSON, atomically (strict JSON: a NaN anywhere is an error)."""
    atomic_write_text(path, json.dumps(record.to_dict(), indent=2, sort_keys=True, allow_nan=False) + "\n")


def load_run_record(path: str | Path) -> RunRecord:
    """Read and validate a record written by :func:`write_run_record`.

    Raises:
        ArtifactError: the file is missing, not JSON, or not a valid record (the message names the key).
    """
    path = Path(path)
    if not path.is_file():
        raise ArtifactError(path, "a run record file; none found")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ArtifactError(path, f"a JSON run record ({err})") from err
    return RunRecord.from_dict(data, path)


def git_state(package_root: str | Path | None = None) -> dict[str, Any]:
    """``{"sha", "dirty"}`` of the git checkout holding this package, or both ``None``.

    Only a checkout whose top level is the folder holding the ``reid`` package counts: an
    installed copy inside some other repository (a virtual environment in a project) must not
    report that repository's commit. ``dirty`` includes untracked files that git does not ignore
    (a new module changes behaviour as much as an edit).
    """
    root = Path(package_root) if package_root is not None else Path(__file__).resolve().parents[2]
    top = _git(["rev-parse", "--show-toplevel"], root)
    if top is None or Path(top).resolve() != root.resolve():
        return {"sha": None, "dirty": None}
    sha = _git(["rev-parse", "HEAD"], root)
    status = _git(["status", "--porcelain"], root)
    return {"sha": sha, "dirty": None if status is None else bool(status)}


def _git(args: list[str], cwd: Path) -> str | None:
    """Output of ``git <args>`` in ``cwd`` (no shell), or ``None`` when git or the checkout is missing."""
    try:
        done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def environment_info(device: torch.device | str) -> dict[str, Any]:
    """Versions and the device, for the record."""
    device = torch.device(device)
    cudnn = torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None
    if device.type == "cuda":
        name = torch.cuda.get_device_name(device)
    else:
        name = platform.processor() or platform.machine()
    return {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
        "cuda": torch.version.cuda,
        "cudnn": cudnn,
        "device": str(device),
        "device_name": name,
        "torch_threads": torch.get_num_threads(),
    }


def weights_info(pretrained: str | Path | None) -> dict[str, Any]:
    """The record's ``weights`` field: the initial weights file and its digest, or from scratch.

    A named file that does not exist gets digest ``None`` (the run itself fails on it; its
    failed record still says which file was asked for). The digest is the one the preflight checked
    (:func:`reid.backbones.pretrained.weights_sha256`, hashed once per process).
    """
    if pretrained is None:
        return {"pretrained": None, "from_scratch": True, "sha256": None}
    digest = weights_sha256(pretrained) if Path(pretrained).is_file() else None
    return {"pretrained": str(pretrained), "from_scratch": False, "sha256": digest}
