"""Smoke golden: what the smoke profile gave for each runnable row, recorded by a command, never by a test.

The paper's numbers cannot be expected of a few CPU epochs on synthetic data, so a smoke case is
compared with a recorded smoke run of the same row (``golden/smoke/<paper>_table<N>.json``),
keyed by the fingerprints of the configs that made it: when a row's smoke config changes, its
entry is stale and the case fails until it is recorded again with :data:`RECORD_COMMAND`.
"""

from __future__ import annotations

import datetime
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from reid.engine.record import git_state
from reid.errors import GoldenError
from reid.golden import RETRIEVAL_METRICS
from reid.io import atomic_write_text

SMOKE_FORMAT = 1
"""Version of the smoke golden layout."""

SMOKE_TOLERANCE: Mapping[str, float] = {metric: 4.0 if metric == "mINP" else 3.0 for metric in RETRIEVAL_METRICS}
"""Absolute tolerance (points) of a smoke case against its recording (docs/decisions.md, "Smoke golden")."""

SMOKE_THREADS = 1
"""CPU threads of every smoke run, recorded or checked: results depend on the thread count."""

RECORD_COMMAND = "reid record-smoke {paper} --table {table}"
"""The command that (re)records a table's smoke golden."""


@dataclass(frozen=True)
class SmokeEntry:
    """One row's recorded smoke values.

    Attributes:
        fingerprints: the training configs' fingerprints, in plan order.
        values: ``(setting, metric) -> value``.
    """

    fingerprints: tuple[str, ...]
    values: Mapping[tuple[str, str], float]


@dataclass(frozen=True)
class SmokeGolden:
    """A table's recording.

    Attributes:
        path: its file.
        command: the command that made it.
        recorded: git state, versions and date of the recording.
        tolerance: per metric.
        rows: row id -> entry.
    """

    path: Path
    command: str
    recorded: Mapping[str, Any]
    tolerance: Mapping[str, float]
    rows: Mapping[str, SmokeEntry]


def smoke_path(golden_root: Path, paper: str, table: int) -> Path:
    """``golden/smoke/<paper>_table<N>.json``."""
    return golden_root / "smoke" / f"{paper}_table{table}.json"


def load_smoke_golden(path: Path) -> SmokeGolden:
    """Read and check one recording.

    Raises:
        GoldenError: missing file (the message gives the command that records it), or a malformed field.
    """
    paper, _, number = path.stem.partition("_table")
    command = RECORD_COMMAND.format(paper=paper, table=number)
    if not path.is_file():
        raise GoldenError(path, f"a smoke golden recording; make it with `{command}`")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise GoldenError(path, f"valid JSON ({err}); record it again with `{command}`") from None
    if not isinstance(data, dict) or data.get("format") != SMOKE_FORMAT:
        raise GoldenError(path, f"a JSON object with format {SMOKE_FORMAT}", "format")
    rows = {}
    for row_id, entry in _mapping(data, "rows", path).items():
        where = f"rows[{row_id!r}]"
        fingerprints = entry.get("fingerprints") if isinstance(entry, dict) else None
        if not isinstance(fingerprints, list) or not all(isinstance(f, str) for f in fingerprints):
            raise GoldenError(path, "a list of config fingerprints", f"{where}.fingerprints")
        values = {}
        for setting, metrics in _mapping(entry, "values", path, where).items():
            if not isinstance(metrics, dict):
                raise GoldenError(path, "a JSON object of metric values", f"{where}.values.{setting}")
            for metric, value in metrics.items():
                if metric not in RETRIEVAL_METRICS or isinstance(value, bool) or not isinstance(value, (int, float)):
                    raise GoldenError(
                        path, f"metric names {RETRIEVAL_METRICS} with numbers", f"{where}.values.{setting}.{metric}"
                    )
                values[(setting, metric)] = float(value)
        rows[row_id] = SmokeEntry(tuple(fingerprints), values)
    tolerance = {m: float(t) for m, t in _mapping(data, "tolerance", path).items()}
    return SmokeGolden(
        path=path,
        command=str(data.get("command", command)),
        recorded=dict(_mapping(data, "recorded", path)),
        tolerance=tolerance,
        rows=rows,
    )


def _mapping(data: Any, key: str, path: Path, where: str | None = None) -> Mapping[str, Any]:
    value = data.get(key) if isinstance(data, dict) else None
    if not isinstance(value, dict):
        raise GoldenError(path, "a JSON object", f"{where}.{key}" if where else key)
    return value


def write_smoke_golden(path: Path, paper: str, table: int, rows: Mapping[str, SmokeEntry]) -> None:
    """Write a table's recording atomically (replacing the previous one whole)."""
    data = {
        "format": SMOKE_FORMAT,
        "paper": paper,
        "table": table,
        "command": RECORD_COMMAND.format(paper=paper, table=table),
        "recorded": {
            "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
            "git": git_state(),
            "torch": torch.__version__,
            "torch_threads": torch.get_num_threads(),
        },
        "tolerance": dict(SMOKE_TOLERANCE),
        "rows": {
            row_id: {
                "fingerprints": list(entry.fingerprints),
                "values": _nested(entry.values),
            }
            for row_id, entry in rows.items()
        },
    }
    atomic_write_text(path, json.dumps(data, indent=2, sort_keys=False, allow_nan=False) + "\n")


def _nested(values: Mapping[tuple[str, str], float]) -> dict[str, dict[str, float]]:
    out: dict[str, dict[str, float]] = {}
    for (setting, metric), value in values.items():
        out.setdefault(setting, {})[metric] = round(value, 4)
    return out
