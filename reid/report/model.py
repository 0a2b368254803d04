"""The report's data: golden tables joined with case results and run records, ready for the templates.

Nothing here formats HTML; :mod:`reid.report.render` does. Each printed cell gets the paper's
value, ours (when the row ran), what ours was judged against and a verdict:

``within`` / ``outside``   ours compared with what the case was checked against (the paper's value
                           and tolerance in the paper profile; the band of the recorded smoke seeds
                           in the smoke profile, where the paper's value is context only)
``unchecked``              the row ran, but this cell was not compared (the case failed before any
                           comparison: a stale or missing smoke recording)
``not_run``                a runnable row without a result (or a cell our code does not measure)
``reference``              a method we do not implement: the paper's number only
``not_applicable``         a row that cannot run on the data we support

One verdict source: every cell's verdict, every row's outcome, the claims audit and the index
counts come from the case results (their ``cells`` and ``outcome``), never recomputed here. Rows
are counted by outcome and cells by verdict, so a row that failed without an ``outside`` cell (on
the sanity bound, a stale or missing recording) counts as failed. Claims are checked on our runs
in the paper profile only: a smoke number says nothing about a paper's claim.

A figure sweep (golden/<paper>/figure<N>.yaml) is shown per panel: our points (value -> metric) from the figure
point results (:mod:`reid.harness.figures`), beside the paper's chosen value and the peaks the text names; the stated
best value is judged (:func:`~reid.harness.figures.panel_optimum`) in the paper profile only, as the claims are.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reid.engine.record import RECORD, load_run_record
from reid.errors import ArtifactError
from reid.golden import Golden, GoldenRow, GoldenTable, claim_agrees, claim_quantity
from reid.golden.schema import CellRef, Claim, FigurePanel, GoldenFigure
from reid.harness.figures import PanelOptimum, PointResult, panel_optimum, value_text
from reid.harness.result import CaseResult
from reid.profiles import SMOKE_STAND_IN

VERDICT_TEXT: Mapping[str, str] = {
    "within": "within tolerance",
    "outside": "outside tolerance",
    "unchecked": "ran, not compared",
    "not_run": "not run",
    "reference": "reference only",
    "not_applicable": "not applicable",
}


ROW_OUTCOMES: tuple[str, ...] = ("passed", "failed", "error", "skipped", "not_run")
"""How the index counts a paper's runnable rows: a case result's outcome, or ``not_run`` (no result)."""


@dataclass(frozen=True)
class CellView:
    """One printed cell.

    Attributes:
        paper: the paper's value (what ours is judged against in the paper profile; context only in smoke).
        ours: our value, as the case result compared it (or as evaluated, for an unchecked cell).
        tolerance: the half-width ours was allowed: the golden tolerance (paper) or the band's (smoke).
        verdict: the case result's verdict for the cell (module docstring).
        expected: what ours was compared with: the paper's value (paper) or the band's centre (smoke).
        basis: ``"paper"`` or ``"smoke"``: the profile the verdict belongs to.
    """

    setting: str
    metric: str
    paper: float | None
    ours: float | None
    tolerance: float | None
    verdict: str
    expected: float | None = None
    basis: str = "paper"

    @property
    def difference(self) -> float | None:
        """Ours minus the paper's value, in the paper profile only (a smoke verdict says nothing about it)."""
        if self.basis != "paper" or self.ours is None or self.paper is None:
            return None
        return self.ours - self.paper

    @property
    def band(self) -> tuple[float, float] | None:
        """The smoke band ours was judged against, ``(low, high)``; ``None`` in the paper profile."""
        if self.basis != "smoke" or self.expected is None or self.tolerance is None:
            return None
        return self.expected - self.tolerance, self.expected + self.tolerance


@dataclass(frozen=True)
class RowView:
    row: GoldenRow
    cells: list[CellView]
    outcome: str | None
    reason: str | None
    problems: list[str]
    runs: list[str]
    regdb_note: str | None = None
    """How many RegDB splits the row's RegDB values are the mean of (``RegDB: mean of 10 splits``), when they are."""
    selection_notes: list[str] = field(default_factory=list)
    """Per setting, what selecting the epoch on the test set as the released code does would have reported
    (:func:`selection_note`); empty when the runs did not evaluate during training."""

    @property
    def state(self) -> str | None:
        """What the index counts the row as: its case outcome, ``not_run`` for a runnable row without a result,
        ``None`` for a row that cannot run (reference, not applicable)."""
        if self.outcome is not None:
            return self.outcome
        return "not_run" if self.row.status == "reproduce" else None


@dataclass(frozen=True)
class TableView:
    table: GoldenTable
    headers: list[tuple[str, list[str]]]
    rows: list[RowView]
    labels: Mapping[str, str] = field(default_factory=dict)
    """Setting -> its column head, when it differs from the setting's key (a smoke stand-in says so)."""

    def count(self, verdict: str) -> int:
        """Cells with ``verdict``."""
        return sum(1 for row in self.rows for cell in row.cells if cell.verdict == verdict)

    def count_rows(self, state: str) -> int:
        """Rows whose :attr:`RowView.state` is ``state`` (an outcome, or ``not_run``)."""
        return sum(1 for row in self.rows if row.state == state)

    def label(self, setting: str) -> str:
        return self.labels.get(setting, setting)

    def plotted_cells(self) -> list[tuple[str, CellView]]:
        """The cells the table's picture draws, each with its line's label (``row: setting metric``): every cell
        of a runnable row with a result that has both the paper's value and ours."""
        return [(f"{row.row.row_id}: {cell.setting} {cell.metric}", cell)
                for row in self.rows if row.row.status == "reproduce" and row.outcome is not None
                for cell in row.cells if cell.paper is not None and cell.ours is not None]


@dataclass(frozen=True)
class ClaimView:
    claim: Claim
    paper_quantity: float | None
    paper_agrees: bool | None
    our_quantity: float | None
    our_agrees: bool | None
    our_tolerance: float | None
    checked: bool = True
    """Whether the claim was checked on our runs: only in the paper profile (smoke numbers are not the paper's)."""


@dataclass(frozen=True)
class RunView:
    """One training run as the report shows it (from its record)."""

    fingerprint: str
    method: str
    profile: str
    dataset: str
    status: str
    environment: Mapping[str, Any]
    protocol: Mapping[str, Any]
    weights: Mapping[str, Any]
    selection: Mapping[str, Any] | None
    wall_time_s: float
    git: Mapping[str, Any]
    curves: list[tuple[str, list[float]]] = field(default_factory=list)
    stages: list[Mapping[str, Any]] = field(default_factory=list)


@dataclass(frozen=True)
class PointView:
    """One value of a figure panel under the profile: its point result, or none (``outcome`` ``not_run``)."""

    value: float
    outcome: str
    metrics: Mapping[str, float | None]
    fingerprint: str | None = None
    reason: str | None = None
    problems: list[str] = field(default_factory=list)

    @property
    def text(self) -> str:
        """The value as the point's id writes it (``0.6``)."""
        return value_text(self.value)


@dataclass(frozen=True)
class PanelView:
    """One panel of a figure sweep: every value the profile runs, and the stated best value against ours.

    Attributes:
        panel: the golden panel.
        points: one per value of the profile (:meth:`~reid.golden.schema.FigurePanel.profile_values`), in order.
        optima: per plotted metric, the stated best against our argmax (:func:`~reid.harness.figures.panel_optimum`).
        judged: whether the stated best is judged: the paper profile only (smoke numbers are not the paper's).
    """

    panel: FigurePanel
    points: list[PointView]
    optima: list[PanelOptimum]
    judged: bool

    def series(self, metric: str) -> list[tuple[float, float]]:
        """``(value, ours)`` of every point with a number for ``metric``, in value order."""
        return [(p.value, p.metrics[metric]) for p in self.points if p.metrics.get(metric) is not None]

    @property
    def has_results(self) -> bool:
        """Whether any point of the profile has a result."""
        return any(p.outcome != "not_run" for p in self.points)


@dataclass(frozen=True)
class FigureView:
    figure: GoldenFigure
    panels: list[PanelView]


@dataclass(frozen=True)
class PaperView:
    paper: str
    tables: list[TableView]
    claims: list[ClaimView]
    runs: list[RunView]
    figures: list[FigureView] = field(default_factory=list)

    @property
    def num_rows(self) -> int:
        return sum(len(t.rows) for t in self.tables)

    def count(self, verdict: str) -> int:
        """Cells of every table with ``verdict``."""
        return sum(t.count(verdict) for t in self.tables)

    def count_rows(self, state: str) -> int:
        """Rows of every table whose case outcome is ``state`` (``not_run``: runnable, no result)."""
        return sum(t.count_rows(state) for t in self.tables)

    def golden_row(self, table: int, row_id: str) -> GoldenRow | None:
        """The row ``row_id`` of table ``table`` (a claim's cell), or ``None``."""
        view = next((t for t in self.tables if t.table.table == table), None)
        return next((r.row for r in view.rows if r.row.row_id == row_id), None) if view else None


@dataclass(frozen=True)
class AliasView:
    """The same method's numbers for one setting and metric as different papers print them."""

    alias: str
    setting: str
    metric: str
    values: list[tuple[str, int, GoldenRow, float]]
    """``(paper, table, row, value)`` per printing: the report names the row by its clean name and citation."""

    @property
    def spread(self) -> float:
        numbers = [v for *_, v in self.values]
        return max(numbers) - min(numbers)


@dataclass(frozen=True)
class GridRow:
    """One method of the cross-paper grid: per setting, its :class:`AliasView` of each metric several papers print."""

    alias: str
    cells: Mapping[str, list[AliasView]]

    @property
    def spread(self) -> float:
        """The largest disagreement between papers over the method's settings and metrics."""
        return max(view.spread for views in self.cells.values() for view in views)

    def setting_spread(self, setting: str) -> float | None:
        views = self.cells.get(setting)
        return max(view.spread for view in views) if views else None


@dataclass(frozen=True)
class Report:
    profile: str
    papers: list[PaperView]
    aliases: list[AliasView]
    golden_root: Path
    runs_dir: Path

    @property
    def grid(self) -> tuple[list[str], list[GridRow]]:
        """The cross-paper view as a method x setting grid: ``(settings, rows)``, the rows sorted by disagreement
        (largest spread first, then by name) and the settings in the order the golden files first print them."""
        settings: list[str] = []
        cells: dict[str, dict[str, list[AliasView]]] = defaultdict(lambda: defaultdict(list))
        for view in self.aliases:
            if view.setting not in settings:
                settings.append(view.setting)
            cells[view.alias][view.setting].append(view)
        rows = [GridRow(alias, dict(by_setting)) for alias, by_setting in cells.items()]
        return settings, sorted(rows, key=lambda row: (-row.spread, row.alias.lower()))


def _scalar(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, Mapping):
        return json.dumps(value, sort_keys=True, default=str)
    if isinstance(value, list | tuple):
        return ", ".join(_scalar(v) for v in value)
    return json.dumps(value, default=str)  # numbers as written, true / false / null as in the record


def flat_items(mapping: Mapping[str, Any], prefix: str = "") -> list[tuple[str, str]]:
    """``(key, value)`` pairs of a record's mapping for a two-column table: nested mappings flattened to dotted
    keys (``distributed.world_size``), lists joined with ``", "``, other values as JSON writes them (``null``,
    ``false``), strings as they are; an empty nested mapping is one row ``{}``.
    """
    items: list[tuple[str, str]] = []
    for key, value in mapping.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            items.extend(flat_items(value, f"{name}."))
        else:
            items.append((name, _scalar(value)))
    return items


def _primary_mean(evaluation: Mapping[str, Any]) -> Mapping[str, Any]:
    return evaluation["features"][evaluation["primary_feature"]]["mean"]


def _row_view(table: GoldenTable, row: GoldenRow, result: CaseResult | None, profile: str) -> RowView:
    checked = {(c["setting"], c["metric"]): c for c in result.cells} if result else {}
    ran = result is not None and result.outcome in ("passed", "failed")
    basis = "smoke" if profile == "smoke" else "paper"
    cells = []
    for setting, metric in table.cells:
        paper = row.values.get((setting, metric))
        if row.status != "reproduce":
            tolerance = row.tolerance.get(metric) if basis == "paper" else None
            cells.append(CellView(setting, metric, paper, None, tolerance, row.status, None, basis))
            continue
        check = checked.get((setting, metric)) if ran else None
        if check is not None and check.get("ours") is not None:
            # The case result's own comparison: its value, what it was compared with, its verdict.
            ours, expected, tolerance, verdict = check["ours"], check["expected"], check["tolerance"], check["verdict"]
        else:
            evaluated = ran and setting in result.evaluations
            ours = _primary_mean(result.evaluations[setting]).get(metric) if evaluated else None
            expected = paper if basis == "paper" else None
            tolerance = row.tolerance.get(metric) if basis == "paper" else None
            verdict = "unchecked" if ours is not None else "not_run"
        cells.append(CellView(setting, metric, paper, ours, tolerance, verdict, expected, basis))
    return RowView(row=row, cells=cells, outcome=result.outcome if result else None,
                   reason=result.reason if result else None, problems=list(result.problems) if result else [],
                   runs=list(result.runs) if result else [],
                   regdb_note=result.regdb_splits["note"] if result and result.regdb_splits else None,
                   selection_notes=[selection_note(setting, picked)
                                    for setting, picked in sorted((result.test_selection or {}).items())]
                   if result else [])


def selection_note(setting: str, picked: Mapping[str, Any]) -> str:
    """One line: the gain the released code's test-set selection would have reported over our last epoch.

    E.g. ``sysu_all_single: test-set selection (best trial-0 rank-1 of 41 evaluations, epoch 62) would report
    rank-1 +1.20, mAP +0.85 over the last epoch``.
    """
    gain = picked["gain"]
    epoch = picked["epoch"]
    where = f"epoch {epoch + 1}" if isinstance(epoch, int) else "per split"
    parts = ", ".join(f"{name} {gain[name]:+.2f}" for name in ("rank1", "mAP") if gain.get(name) is not None)
    return (f"{setting}: test-set selection (best trial-0 rank-1 of {picked['evaluated_epochs']} evaluations, "
            f"{where}) would report {parts} over the last epoch")


def _claim_view(golden: Golden, claim: Claim, views: Mapping[int, TableView], profile: str) -> ClaimView:
    def paper_value(ref: CellRef) -> float | None:
        return golden.cell(claim.paper, ref)

    def our_value(ref: CellRef) -> float | None:
        view = views.get(ref.table)
        row = next((r for r in view.rows if r.row.row_id == ref.row), None) if view else None
        cell = next((c for c in row.cells if (c.setting, c.metric) == (ref.setting, ref.metric)), None) if row else None
        # Only cells the case compared (the verdict source): an unchecked value is not evidence either way.
        return cell.ours if cell and cell.verdict in ("within", "outside") else None

    def tolerance(ref: CellRef) -> float:
        return golden.tables[(claim.paper, ref.table)].row(ref.row).tolerance.get(ref.metric, 0.0)

    paper_quantity = claim_quantity(claim, paper_value)
    if profile != "paper":
        # Smoke numbers come from synthetic data at smoke sizes: they cannot confirm or refute a paper's claim.
        return ClaimView(claim=claim, paper_quantity=paper_quantity, paper_agrees=claim_agrees(claim, paper_quantity),
                         our_quantity=None, our_agrees=None, our_tolerance=None, checked=False)
    ours = claim_quantity(claim, our_value)
    # Our quantity is a difference of measured cells: it may be off by the cells' tolerances together.
    slack = tolerance(claim.a) + (max(tolerance(b) for b in claim.b) if claim.b else 0.0)
    return ClaimView(claim=claim, paper_quantity=paper_quantity, paper_agrees=claim_agrees(claim, paper_quantity),
                     our_quantity=ours, our_agrees=claim_agrees(claim, ours, slack), our_tolerance=slack)


def _run_view(folder: Path) -> RunView | None:
    path = folder / RECORD
    if not path.is_file():
        return None
    record = load_run_record(path)
    curves = []
    evaluation = record.final_evaluation
    if evaluation is not None:
        for trial in evaluation["features"][evaluation["primary_feature"]]["trials"]:
            if "cmc" in trial:
                curves.append((f"trial {len(curves)}", list(trial["cmc"])))
    return RunView(
        fingerprint=record.fingerprint, method=record.config["method"], profile=record.config["profile"],
        dataset=record.config["data"]["dataset"], status=record.status, environment=record.environment,
        protocol=record.protocol, weights=record.weights, selection=record.selection,
        wall_time_s=record.wall_time_s, git=record.git, curves=curves, stages=list(record.stages),
    )


def _alias_views(golden: Golden) -> list[AliasView]:
    values: dict[tuple[str, str, str], list[tuple[str, int, GoldenRow, float]]] = defaultdict(list)
    for (paper, number), table in golden.tables.items():
        for row in table.rows:
            if row.alias is None:
                continue
            for (setting, metric), value in row.values.items():
                values[(row.alias, setting, metric)].append((paper, number, row, value))
    views = [AliasView(alias, setting, metric, entries) for (alias, setting, metric), entries in values.items()
             if len({paper for paper, *_ in entries}) > 1]
    return sorted(views, key=lambda v: (v.alias.lower(), v.setting, v.metric))


def column_head(golden: Golden, setting: str, profile: str) -> str:
    """A setting's column head: its key, and under the smoke profile the data set that stands in for a real one
    (``regdb_v2t (synthetic stand-in)``, :data:`reid.profiles.SMOKE_STAND_IN`)."""
    known = golden.settings.get(setting)
    stand_in = SMOKE_STAND_IN.get(known.dataset) if known is not None and profile == "smoke" else None
    return f"{setting} ({stand_in} stand-in)" if stand_in else setting


def _figure_view(figure: GoldenFigure, results: Mapping[tuple[str, float], PointResult], profile: str) -> FigureView:
    panels = []
    for panel in figure.panels:
        values = panel.profile_values(profile)
        points = []
        for value in values:
            found = results.get((panel.panel, value))
            if found is None:
                points.append(PointView(value, "not_run", {metric: None for metric in figure.metrics}))
                continue
            ran = found.outcome in ("passed", "failed")
            metrics = {metric: found.metrics.get(metric) if ran else None for metric in figure.metrics}
            points.append(PointView(value, found.outcome, metrics, found.fingerprint, found.reason,
                                    list(found.problems)))
        optima = [panel_optimum(panel, metric, {p.value: p.metrics[metric] for p in points}, values)
                  for metric in figure.metrics]
        panels.append(PanelView(panel=panel, points=points, optima=optima, judged=profile == "paper"))
    return FigureView(figure=figure, panels=panels)


def build_report(golden: Golden, results: Sequence[CaseResult], *, profile: str, runs_dir: Path,
                 papers: Sequence[str] | None = None, point_results: Sequence[PointResult] = ()) -> Report:
    """Join ``golden`` with the case ``results`` and the figure ``point_results`` of ``profile`` (and the run records
    they name).

    Raises:
        ArtifactError: a result names a table, row or figure the golden files do not have (results of
            another golden version: delete them or run the cases again).
    """
    by_row: dict[tuple[str, int, str], CaseResult] = {}
    for result in results:
        if result.profile != profile:
            continue
        key = (result.paper, result.table, result.row)
        if (result.paper, result.table) not in golden.tables:
            raise ArtifactError(runs_dir / "results", f"results of golden tables only; {key} has no table")
        by_row[key] = result
    by_point: dict[tuple[str, int], dict[tuple[str, float], PointResult]] = defaultdict(dict)
    for point in point_results:
        if point.profile != profile:
            continue
        if (point.paper, point.figure) not in golden.figures:
            raise ArtifactError(runs_dir / "results", f"results of golden figures only; {point.paper} figure "
                                                      f"{point.figure} point {point.point!r} has no figure")
        by_point[(point.paper, point.figure)][(point.panel, float(point.value))] = point
    views = []
    for paper in papers or sorted({p for p, _ in golden.tables} | {p for p, _ in golden.figures}):
        tables = []
        for table in golden.paper_tables(paper):
            headers = [(g.setting, list(g.metrics)) for g in table.columns]
            rows = [_row_view(table, row, by_row.get((paper, table.table, row.row_id)), profile)
                    for row in table.rows]
            labels = {g.setting: column_head(golden, g.setting, profile) for g in table.columns}
            tables.append(TableView(table=table, headers=headers, rows=rows, labels=labels))
        by_number = {t.table.table: t for t in tables}
        claims = [_claim_view(golden, claim, by_number, profile) for claim in golden.claims.get(paper, ())]
        figures = [_figure_view(figure, by_point.get((paper, figure.figure), {}), profile)
                   for figure in golden.paper_figures(paper)]
        fingerprints = sorted({fp for t in tables for r in t.rows for fp in r.runs}
                              | {p.fingerprint for f in figures for panel in f.panels for p in panel.points
                                 if p.fingerprint is not None})
        runs = [view for view in (_run_view(runs_dir / fp) for fp in fingerprints) if view is not None]
        views.append(PaperView(paper=paper, tables=tables, claims=claims, runs=runs, figures=figures))
    return Report(profile=profile, papers=views, aliases=_alias_views(golden), golden_root=golden.root,
                  runs_dir=runs_dir)

