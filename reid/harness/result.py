"""The result of one benchmark case, as the report reads it (``<runs>/results/<paper>_table<N>/<row>.json``).

Written atomically by every case that ran, passed or failed, and by skipped cases too (with their
reason), so the report can show every row of a table whatever happened to it.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reid.errors import ArtifactError
from reid.io import atomic_write_text

RESULT_FORMAT = 1
"""Version of the case result layout."""

TABLE_RESULTS = re.compile(r"[a-z0-9]+_table[1-9][0-9]*")
"""Name of a table's results folder, ``<paper>_table<N>`` (a figure's, ``<paper>_figure<N>``, holds figure point
results: :mod:`reid.harness.figures`)."""

OUTCOMES = ("passed", "failed", "skipped", "error")
"""passed: every measured cell within tolerance and sane; failed: some not; skipped: not run (reason);
error: the runs raised (message)."""


def check_result_header(
    cls: type, data: Any, path: Path, *, format_value: int, what: str, outcomes: tuple[str, ...],
    strings: tuple[str, ...], integers: tuple[str, ...],
) -> set[str]:
    """The checks every result file kind shares (a JSON object of ``cls``'s fields only, its ``format``, an
    ``outcome`` among ``outcomes``, the named string and integer keys); returns ``cls``'s field names.

    Raises:
        ArtifactError: naming the file and the key at fault.
    """
    if not isinstance(data, Mapping):
        raise ArtifactError(path, "a JSON object")
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise ArtifactError(path, f"only the keys {sorted(names)}", unknown[0])
    if data.get("format") != format_value:
        raise ArtifactError(path, f"{what} format {format_value}", "format")
    if data.get("outcome") not in outcomes:
        raise ArtifactError(path, f"one of {outcomes}", "outcome")
    for key in strings:
        if not isinstance(data.get(key), str):
            raise ArtifactError(path, "a string", key)
    for key in integers:
        if isinstance(data.get(key), bool) or not isinstance(data.get(key), int):
            raise ArtifactError(path, "an integer", key)
    return names


@dataclass(frozen=True)
class CaseResult:
    """What one case did.

    Attributes:
        paper, table, row, label: which row.
        profile: ``"smoke"`` or ``"paper"``.
        outcome: one of :data:`OUTCOMES`.
        reason: why it was skipped, or the error; else ``None``.
        expected_source: ``"paper"`` (golden table) or the smoke golden file it was compared with.
        cells: per expected cell: setting, metric, expected, ours, tolerance, verdict.
        problems: every deviation and sanity problem, in words.
        runs: training run fingerprint -> its run folder.
        evaluations: setting -> the evaluation dict (protocol options, splits, features, CMC per trial).
        wall_time_s: training and evaluation time of the runs (as recorded when they were made).
        regdb_splits: when the case's RegDB values are means over separately trained splits (paper profile):
            ``note`` (``"RegDB: mean of 10 splits"``, ``"RegDB: split 1 only (1 of 10)"``), ``splits`` (the 1-based
            splits run), ``of`` (RegDB's 10) and ``per_split``: setting -> split -> ``run`` (fingerprint) and
            ``metrics``; ``None`` otherwise (and in results written before it was recorded).
        test_selection: setting -> what the released code's selection on the test set would have reported instead
            of the last epoch (``rule``, ``epoch``, ``evaluated_epochs``, ``metrics``, ``last_metrics``, ``gain``;
            reid/engine/selection.py), for the settings whose runs evaluated during training; ``None`` when none did.
        format: the layout version.
    """

    paper: str
    table: int
    row: str
    label: str
    profile: str
    outcome: str
    reason: str | None
    expected_source: str | None
    cells: list[dict[str, Any]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    runs: dict[str, str] = field(default_factory=dict)
    evaluations: dict[str, Any] = field(default_factory=dict)
    wall_time_s: float = 0.0
    regdb_splits: dict[str, Any] | None = None
    test_selection: dict[str, Any] | None = None
    format: int = RESULT_FORMAT

    def to_dict(self) -> dict[str, Any]:
        return json.loads(json.dumps(dataclasses.asdict(self), allow_nan=False))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], path: Path) -> CaseResult:
        """Rebuild a result; ``ArtifactError`` names the file and the key at fault."""
        names = check_result_header(cls, data, path, format_value=RESULT_FORMAT, what="result", outcomes=OUTCOMES,
                                    strings=("paper", "row", "label", "profile"), integers=("table",))
        splits = data.get("regdb_splits")
        if splits is not None and not (isinstance(splits, Mapping) and isinstance(splits.get("note"), str)):
            raise ArtifactError(path, "null or an object with a string 'note'", "regdb_splits")
        selections = data.get("test_selection")
        if selections is not None and not (isinstance(selections, Mapping) and all(
                isinstance(v, Mapping) and isinstance(v.get("gain"), Mapping) for v in selections.values())):
            raise ArtifactError(path, "null or an object of settings, each with a 'gain' object", "test_selection")
        return cls(**{k: data[k] for k in names if k in data})


def result_path(runs_dir: Path, paper: str, table: int, slug: str) -> Path:
    """Where a case writes its result."""
    return runs_dir / "results" / f"{paper}_table{table}" / f"{slug}.json"


def write_result(path: Path, result: CaseResult) -> None:
    """Write ``result`` as JSON, atomically."""
    atomic_write_text(path, json.dumps(result.to_dict(), indent=2, allow_nan=False) + "\n")


def load_results(runs_dir: Path) -> list[CaseResult]:
    """Every case result under ``runs_dir/results/<paper>_table<N>/`` (none if the folder does not exist; a figure's
    point results are :func:`reid.harness.figures.load_point_results`'s).

    Raises:
        ArtifactError: a result file that is not valid JSON or not a result.
    """
    folder = runs_dir / "results"
    out = []
    for path in sorted(folder.glob("*/*.json")) if folder.is_dir() else []:
        if not TABLE_RESULTS.fullmatch(path.parent.name):
            continue
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as err:
            raise ArtifactError(path, f"valid JSON ({err})") from None
        out.append(CaseResult.from_dict(data, path))
    return out
