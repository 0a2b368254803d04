"""Smoke golden: what the smoke profile gave for each runnable row over several seeds, recorded by a
command, never by a test.

The paper's numbers cannot be expected of a few CPU epochs on synthetic data, so a smoke case is
compared with recorded smoke runs of the same row (``golden/smoke/<paper>_table<N>.json``), one
per seed of :data:`SMOKE_SEEDS`, keyed by the fingerprints of the configs that made seed 0's
(the case's own): when a row's smoke config changes, its entry is stale and the case fails until
it is recorded again with :data:`RECORD_COMMAND`.

A cell passes when it lies inside the band of its seeds (:func:`smoke_band`): the seeds' mean
plus or minus the larger of :data:`BAND_SDS` sample standard deviations and the metric's floor
(:data:`BAND_FLOOR`). A run from scratch is bitwise repeatable on one machine only (other CPUs
and thread counts pick other kernels, and a few epochs amplify the rounding), so a recording is
a sample of a distribution, and another machine's run is one more draw of it
(docs/decisions.md, "Smoke verdicts are statistical").
"""

from __future__ import annotations

import datetime
import json
import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import yaml

from reid.engine.record import git_state
from reid.errors import GoldenError
from reid.golden import RETRIEVAL_METRICS
from reid.io import atomic_write_text

SMOKE_FORMAT = 2
"""Version of the smoke golden layout (2: values per seed; 1 had one run and a flat tolerance)."""

SMOKE_SEEDS: tuple[int, ...] = (0, 1, 2)
"""The run seeds every row is recorded with; the case itself runs seed 0 (the profile's)."""

MIN_SEEDS = 3
"""Fewest seeds a recording may hold: a band needs a spread."""

BAND_SDS = 3.0
"""Half-width of a band in sample standard deviations of the recorded seeds."""

BAND_FLOOR: Mapping[str, float] = {metric: 8.0 for metric in RETRIEVAL_METRICS}
"""Smallest half-width (points). Three seeds can agree by luck: AGW's three one-thread seeds gave indoor rank-1
14.18, 13.46, 14.91 (sd 0.7) and a two-thread run 8.39; at the smoke test set's 322 queries a rank-1 near 15 % has a
binomial standard error of 2 points from the queries alone (docs/decisions.md, "Smoke verdicts are statistical")."""

SMOKE_THREADS = 1
"""CPU threads of the recording runs (recorded in the file). Cases run with any thread count."""

BELOW_BOUND_FILE = "below_bound.yaml"
"""``golden/smoke/below_bound.yaml``: methods known not to clear the smoke sanity bound, with the reason."""

RECORD_COMMAND = "reid record-smoke {paper} --table {table}"
"""The command that (re)records a table's smoke golden."""


@dataclass(frozen=True)
class SmokeEntry:
    """One row's recorded smoke values.

    Attributes:
        fingerprints: seed 0's training configs' fingerprints, in plan order.
        seeds: run seed -> ``(setting, metric) -> value``.
    """

    fingerprints: tuple[str, ...]
    seeds: Mapping[int, Mapping[tuple[str, str], float]]

    def cells(self) -> list[tuple[str, str]]:
        """The ``(setting, metric)`` cells every seed recorded."""
        common = set.intersection(*(set(values) for values in self.seeds.values())) if self.seeds else set()
        return sorted(common)

    def band(self, cell: tuple[str, str]) -> tuple[float, float]:
        """``(centre, half-width)`` of ``cell`` (:func:`smoke_band`)."""
        return smoke_band([values[cell] for values in self.seeds.values()], cell[1])


def smoke_band(values: Sequence[float], metric: str) -> tuple[float, float]:
    """``(mean, half-width)`` of the recorded seeds' ``values`` of ``metric``: a new run passes within
    ``max(BAND_SDS x sample standard deviation, BAND_FLOOR[metric])`` of the mean.

    Raises:
        ValueError: fewer than two values.
    """
    if len(values) < 2:
        raise ValueError(f"a smoke band needs at least two seeds' values, got {len(values)}")
    centre = statistics.fmean(values)
    return centre, max(BAND_SDS * statistics.stdev(values), BAND_FLOOR[metric])


@dataclass(frozen=True)
class SmokeGolden:
    """A table's recording.

    Attributes:
        path: its file.
        command: the command that made it.
        recorded: git state, versions and date of the recording.
        rows: row id -> entry.
    """

    path: Path
    command: str
    recorded: Mapping[str, Any]
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
        seeds = {}
        for seed, settings in _mapping(entry, "seeds", path, where).items():
            if not seed.isdigit():
                raise GoldenError(path, "run seeds as non-negative integers", f"{where}.seeds.{seed}")
            seeds[int(seed)] = _values(settings, path, f"{where}.seeds.{seed}")
        if len(seeds) < MIN_SEEDS:
            raise GoldenError(path, f"values of at least {MIN_SEEDS} seeds (a band needs a spread)", f"{where}.seeds")
        if 0 not in seeds:
            raise GoldenError(path, "seed 0's values (the seed every case runs)", f"{where}.seeds")
        rows[row_id] = SmokeEntry(tuple(fingerprints), seeds)
    return SmokeGolden(
        path=path,
        command=str(data.get("command", command)),
        recorded=dict(_mapping(data, "recorded", path)),
        rows=rows,
    )


def load_below_bound(golden_root: Path) -> dict[str, str]:
    """Method -> why its smoke runs are known to stay below the sanity bound (:data:`BELOW_BOUND_FILE`; none when
    the file is absent).

    Raises:
        GoldenError: the file is not a mapping of registered-looking method names to non-empty reasons.
    """
    path = golden_root / "smoke" / BELOW_BOUND_FILE
    if not path.is_file():
        return {}
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as err:
        raise GoldenError(path, f"valid YAML ({err})") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise GoldenError(path, "a mapping of method names to the reason their smoke runs stay below the bound")
    for method, reason in data.items():
        if not isinstance(method, str) or not isinstance(reason, str) or not reason.strip():
            raise GoldenError(path, "a non-empty reason (text)", str(method))
    return {method: " ".join(reason.split()) for method, reason in data.items()}


def _values(settings: Any, path: Path, where: str) -> dict[tuple[str, str], float]:
    if not isinstance(settings, dict):
        raise GoldenError(path, "a JSON object of settings", where)
    values = {}
    for setting, metrics in settings.items():
        if not isinstance(metrics, dict):
            raise GoldenError(path, "a JSON object of metric values", f"{where}.{setting}")
        for metric, value in metrics.items():
            valid = not isinstance(value, bool) and isinstance(value, (int, float)) and math.isfinite(value)
            if metric not in RETRIEVAL_METRICS or not valid:
                raise GoldenError(path, f"metric names {RETRIEVAL_METRICS} with finite numbers",
                                  f"{where}.{setting}.{metric}")
            values[(setting, metric)] = float(value)
    return values


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
        "band": {"sds": BAND_SDS, "floor": dict(BAND_FLOOR)},
        "rows": {
            row_id: {
                "fingerprints": list(entry.fingerprints),
                "seeds": {str(seed): _nested(values) for seed, values in sorted(entry.seeds.items())},
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
