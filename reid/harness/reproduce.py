"""One benchmark case from start to verdict: skip or plan, run, compare, write the result.

``paper`` profile: compared with the paper's numbers within the golden tolerances (a RegDB setting's values:
the mean over the splits run, each trained on its own). ``smoke``
profile: compared with the band of the table's smoke recording over seeds
(:mod:`reid.harness.smoke_golden`) and with sanity bounds (values in range, a rising CMC, rank-1 and
mAP well above those of random features on the same trials).
"""

from __future__ import annotations

import contextlib
from collections.abc import Collection, Mapping, Sequence
from pathlib import Path
from typing import Any

from reid.data.datasets import SYNTHETIC
from reid.engine.run_config import DATA_ROOT_ENV
from reid.errors import ConfigError, GoldenError
from reid.golden import Golden
from reid.harness.cases import REGDB_SPLITS, Case, Training, plan, regdb_splits_note, table_cases
from reid.harness.compare import (
    SANITY_MAP_FACTOR,
    SANITY_RANK1_FACTOR,
    CellComparison,
    compare_cells,
    sanity_problems,
)
from reid.harness.execute import CaseRuns, SettingResult, execute
from reid.harness.result import CaseResult, result_path, write_result
from reid.harness.smoke_golden import (
    MIN_SEEDS,
    SMOKE_SEEDS,
    SmokeEntry,
    load_below_bound,
    load_smoke_golden,
    smoke_path,
    write_smoke_golden,
)

KNOWN_BELOW_BOUND = "known below the sanity bound (golden/smoke/below_bound.yaml)"
"""How a failed smoke case's ``reason`` starts when its method's smoke runs are known to stay below the sanity bound:
its problems (bound, band, or a row with no recording yet) are reported, not judged; a stale recording (made for other
configs) is still a plain failure."""

DATA_LAYOUT_DOC = "README.md, section Data, and the data set class docstring in reid/data/datasets/"


def missing_data(trainings: Sequence[Training]) -> str | None:
    """Why the real data of a planned case is not there (the folder expected), or ``None``."""
    for training in trainings:
        for config in (training.config, *(e.config for e in training.evaluations)):
            name, root = config.data.dataset, config.data.root
            if name in SYNTHETIC:
                continue
            if root is None:
                return (
                    f"no data root given for {name}: pass --data-root DIR (or set {DATA_ROOT_ENV}) with the data "
                    f"set at DIR/{name}; layout: {DATA_LAYOUT_DOC}"
                )
            if not Path(root).is_dir():
                return f"data set {name} not found: expected {root}; layout: {DATA_LAYOUT_DOC}"
    return None


def reproduce_case(
    case: Case,
    golden: Golden,
    *,
    profile: str,
    runs_dir: Path,
    device: str = "cpu",
    data_root: Path | None = None,
    extra_overrides: Sequence[str] = (),
    pretrained: Mapping[str, str] | None = None,
    progress: bool = False,
    rank1_factor: float = SANITY_RANK1_FACTOR,
    map_factor: float = SANITY_MAP_FACTOR,
    from_scratch: bool = False,
    regdb_splits: int = REGDB_SPLITS,
) -> CaseResult:
    """Run ``case`` under ``profile`` and return (and write) its result; ``from_scratch`` allows paper-profile
    trainings without ImageNet weights (``--from-scratch``, :func:`reid.engine.run.check_weights`).

    ``regdb_splits``: a paper-profile RegDB setting trains its first N splits, and the mean over them is what is
    compared with the paper (``--regdb-splits``; the result's ``regdb_splits`` says how many ran).

    ``rank1_factor``, ``map_factor``: the smoke sanity bound, in multiples of random features' rank-1
    and mAP on the same trials (:func:`~reid.harness.compare.sanity_problems`).

    Raises:
        whatever the runs raise; an ``"error"`` result naming it is written first.
    """
    row = case.row
    base = {
        "paper": case.table.paper,
        "table": case.table.table,
        "row": case.id,
        "label": row.label,
        "profile": profile,
    }
    path = result_path(runs_dir, case.table.paper, case.table.table, case.slug)
    reason = case.skip_reason()
    trainings = [] if reason is not None else plan(case, golden, profile, data_root=data_root,
                                                    extra_overrides=extra_overrides, pretrained=pretrained,
                                                    regdb_splits=regdb_splits)
    reason = reason or missing_data(trainings)
    if reason is not None:
        result = CaseResult(**base, outcome="skipped", reason=reason, expected_source=None)
        write_result(path, result)
        return result

    try:
        runs = execute(trainings, runs_dir, device=device, progress=progress, from_scratch=from_scratch)
    except Exception as err:
        write_result(
            path, CaseResult(**base, outcome="error", reason=f"{type(err).__name__}: {err}", expected_source=None)
        )
        raise

    problems: list[str] = []
    known = None
    if profile == "smoke":
        cells, source, stale, unrecorded = _against_smoke_golden(case, golden, runs)
        sanity = sanity_problems(runs.settings, rank1_factor, map_factor)
        problems += stale + sanity
        below = load_below_bound(golden.root).get(row.method)
        judged = sanity or unrecorded or any(c.verdict == "outside" for c in cells)
        if below is not None and (unrecorded or not stale) and judged:
            # Runs at noise level are not judged: a draw that escapes the collapse leaves a band of collapsed
            # seeds (measured: CMMP rank-10 36.96 with two threads against 25.7 +- 6.2 with one).
            known = f"{KNOWN_BELOW_BOUND}: {below}"
    else:
        tolerance = {cell: row.tolerance[cell[1]] for cell in row.values}
        cells, source = compare_cells(row.values, tolerance, runs.settings), "paper"
    problems = [c.describe() for c in cells if c.verdict == "outside"] + problems
    result = CaseResult(
        **base,
        outcome="failed" if problems else "passed",
        reason=known,
        expected_source=source,
        cells=[
            {
                "setting": c.setting,
                "metric": c.metric,
                "expected": c.expected,
                "ours": c.ours,
                "tolerance": c.tolerance,
                "verdict": c.verdict,
                "paper": row.values.get((c.setting, c.metric)),
            }
            for c in cells
        ],
        problems=problems,
        runs={fp: str(runs_dir / fp) for fp in runs.records},
        evaluations={key: dict(r.evaluation) for key, r in runs.settings.items()},
        wall_time_s=runs.wall_time_s,
        regdb_splits=regdb_splits_summary(runs.settings),
        test_selection={key: dict(r.test_selection) for key, r in runs.settings.items() if r.test_selection} or None,
    )
    write_result(path, result)
    return result


def regdb_splits_summary(settings: Mapping[str, SettingResult]) -> dict[str, Any] | None:
    """A case result's ``regdb_splits`` (:class:`~reid.harness.result.CaseResult`): how many splits the settings'
    means are over, in words and per split; ``None`` when no setting is a mean over splits."""
    averaged = {key: result for key, result in settings.items() if result.per_split}
    if not averaged:
        return None
    splits = sorted({split for result in averaged.values() for split in result.per_split})
    per_split = {
        key: {str(split): {"run": one.run_fingerprint, "metrics": dict(one.metrics)}
              for split, one in result.per_split.items()}
        for key, result in averaged.items()
    }
    return {"note": regdb_splits_note(splits), "splits": splits, "of": REGDB_SPLITS, "per_split": per_split}


def _against_smoke_golden(
    case: Case, golden: Golden, runs: CaseRuns
) -> tuple[list[CellComparison], str, list[str], bool]:
    """(cells compared with the recording, its file, problems with the recording itself, whether the row has no
    recording at all)."""
    path = smoke_path(golden.root, case.table.paper, case.table.table)
    try:
        recording = load_smoke_golden(path)
    except GoldenError as err:
        return [], str(path), [str(err)], False
    command = recording.command
    entry = recording.rows.get(case.id)
    if entry is None:
        return [], str(path), [f"no smoke recording of row {case.id!r} in {path}; record it with `{command}`"], True
    made = tuple(runs.records)
    if entry.fingerprints != made:
        return (
            [],
            str(path),
            [
                f"the smoke recording of row {case.id!r} is stale: recorded for configs "
                f"{list(entry.fingerprints)}, the row's smoke configs are now {list(made)}; "
                f"record it again with `{command}`"
            ],
            False,
        )
    return against_band(entry, runs.settings), str(path), [], False


def against_band(entry: SmokeEntry, ours: Mapping[str, SettingResult]) -> list[CellComparison]:
    """Every recorded cell of ``entry`` against ``ours``, each within its seed band (centre: the seeds' mean,
    tolerance: the band's half-width, :func:`~reid.harness.smoke_golden.smoke_band`)."""
    bands = {cell: entry.band(cell) for cell in entry.cells()}
    expected = {cell: centre for cell, (centre, _) in bands.items()}
    tolerance = {cell: half for cell, (_, half) in bands.items()}
    return compare_cells(expected, tolerance, ours)


def record_smoke_table(
    golden: Golden,
    paper: str,
    table: int,
    runs_dir: Path,
    *,
    device: str = "cpu",
    progress: bool = False,
    seeds: tuple[int, ...] = SMOKE_SEEDS,
    rows: Collection[str] | None = None,
) -> Path | None:
    """Run the runnable rows of a table under the smoke profile once per seed of ``seeds`` and write its
    recording (the regeneration command, :data:`~reid.harness.smoke_golden.RECORD_COMMAND`; never called by a
    test case).

    ``rows``: only these row ids, kept beside the other rows of the table's current recording (when it can
    be read); ``None``: every runnable row, replacing the recording whole.

    Returns:
        The recording's path, or ``None`` when nothing was recorded.

    Raises:
        ConfigError: ``seeds`` without seed 0 (the seed every case runs) or with fewer than
            :data:`~reid.harness.smoke_golden.MIN_SEEDS` seeds.
    """
    if 0 not in seeds or len(set(seeds)) < MIN_SEEDS:
        raise ConfigError(f"seeds={seeds}: expected at least {MIN_SEEDS} distinct seeds, 0 among them")
    path = smoke_path(golden.root, paper, table)
    entries: dict[str, SmokeEntry] = {}
    if rows is not None and path.is_file():
        with contextlib.suppress(GoldenError):
            entries = dict(load_smoke_golden(path).rows)
    recorded = False
    for case in table_cases(golden, paper, table):
        if case.skip_reason() is not None or (rows is not None and case.id not in rows):
            continue
        per_seed, fingerprints = {}, ()
        for seed in seeds:
            trainings = plan(case, golden, "smoke", extra_overrides=(f"seed={seed}",))
            runs = execute(trainings, runs_dir, device=device, progress=progress)
            if seed == 0:
                fingerprints = tuple(runs.records)
            per_seed[seed] = {
                (key, metric): float(value)
                for key, result in runs.settings.items()
                for metric, value in result.metrics.items()
                if value is not None
            }
        entries[case.id] = SmokeEntry(fingerprints=fingerprints, seeds=per_seed)
        recorded = True
    if not recorded:
        return None
    order = {case.id: i for i, case in enumerate(table_cases(golden, paper, table))}
    write_smoke_golden(path, paper, table, dict(sorted(entries.items(), key=lambda item: order.get(item[0], 0))))
    return path


def record_smoke(
    golden: Golden,
    papers: Sequence[str],
    runs_dir: Path,
    *,
    tables: Collection[int] | None = None,
    ci_only: bool = False,
    recorded_only: bool = False,
) -> list[tuple[str, Path | None]]:
    """Record the smoke golden of ``papers``' tables (only ``tables`` when given; only the CI selection's rows when
    ``ci_only``, only the rows the table's recording already has when ``recorded_only``, the tables' other recorded
    rows kept): ``(table key, written file or None)`` per table recorded."""
    from reid.harness.selection import ci_selection

    selected = ci_selection(golden) if ci_only else None
    written = []
    for paper in papers:
        for table in golden.paper_tables(paper):
            if tables and table.table not in tables:
                continue
            rows = None if selected is None else {row for p, n, row in selected if (p, n) == (paper, table.table)}
            if recorded_only:
                path = smoke_path(golden.root, paper, table.table)
                present = set(load_smoke_golden(path).rows) if path.is_file() else set()
                rows = present if rows is None else rows & present
            if rows == set():
                continue
            written.append((table.key, record_smoke_table(golden, paper, table.table, runs_dir, rows=rows)))
    return written
