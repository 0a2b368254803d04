"""Figure sweeps as benchmark cases: one per (panel, value) of a golden figure, and the optima the text states.

A :class:`FigurePoint` trains the figure's method under the profile's config, the panel's fixed overrides and
``option=value``, and is evaluated on the figure's setting exactly as a table row is: it is a one-row case for
:func:`reid.harness.cases.plan` and :func:`reid.harness.execute.execute`, so its training is cached by fingerprint and
a point equal to a table row's config (FF-DML's theta1 = 0.6, theta2 = 1.8: the paper config) reuses that training.

The paper profile runs every value of a panel, the smoke profile its ``smoke_values`` (fewer points is a size). A
point's verdict (:func:`reproduce_point`): it ran and every metric the figure plots is a finite number; in smoke its
metrics must also clear the sanity bound (:func:`~reid.harness.compare.sanity_problems`). A figure prints curves,
not numbers, so nothing is compared with a value; what the text states, the best value of each panel, is a claim
(:func:`panel_optimum`): our argmax of each metric over the panel's points against the stated best, judged in the
paper profile only (the report shows it; no test asserts it).

Results: ``<runs>/results/<paper>_figure<N>/<point slug>.json`` (:class:`PointResult`), beside the case results.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reid.errors import ArtifactError, ConfigError, GoldenError, ReidError
from reid.golden import PAPERS, ColumnGroup, Golden, GoldenFigure, GoldenRow, GoldenTable
from reid.golden.schema import FigurePanel
from reid.harness.cases import REGDB_SPLITS, Training, plan, slugify
from reid.harness.compare import SANITY_MAP_FACTOR, SANITY_RANK1_FACTOR, sanity_problems
from reid.harness.execute import execute
from reid.harness.reproduce import KNOWN_BELOW_BOUND, missing_data
from reid.harness.result import check_result_header
from reid.harness.smoke_golden import load_below_bound
from reid.io import atomic_write_text
from reid.methods import list_methods, method_class
from reid.profiles import PROFILES, build_config

POINT_FORMAT = 1
"""Version of the figure point result layout."""

POINT_OUTCOMES = ("passed", "failed", "skipped", "error")
"""passed: ran, every plotted metric finite (and, in smoke, sane); failed: not; skipped: not run (reason); error: the
runs raised (message)."""

FIGURE_RESULTS = re.compile(r"[a-z0-9]+_figure[1-9][0-9]*")
"""Name of a figure's results folder, ``<paper>_figure<N>``."""


def value_text(value: float) -> str:
    """A swept value as written in a point's id and override: Python's float repr (``0.6``, ``1.0``), so the override
    keeps the option a float and every id is unambiguous."""
    return repr(float(value))


@dataclass(frozen=True)
class FigurePoint:
    """One point of a figure sweep: a panel's option at one value.

    Attributes:
        figure: the golden figure.
        panel: the panel the point belongs to.
        value: the swept option's value.
    """

    figure: GoldenFigure
    panel: FigurePanel
    value: float

    @property
    def override(self) -> str:
        """``option=value`` (after the panel's fixed overrides)."""
        return f"{self.panel.option}={value_text(self.value)}"

    @property
    def id(self) -> str:
        """The point's name, pytest's test id: ``<panel>-<option name>=<value>`` (``a-theta1=0.6``)."""
        return f"{self.panel.panel}-{self.panel.name}={value_text(self.value)}"

    @property
    def slug(self) -> str:
        """A file-name-safe form of the id (the result file's name)."""
        return slugify(self.id)

    @property
    def row(self) -> GoldenRow:
        """The point as a table row :func:`~reid.harness.cases.plan` reads: the figure's method, the panel's fixed
        overrides then ``option=value``; one NaN per plotted metric of the setting marks the cells to measure (a figure
        prints no number)."""
        return GoldenRow(
            label=self.id, group=None, status="reproduce", method=self.figure.method,
            overrides=(*self.panel.fixed, self.override), paper_overrides=(), alias=None,
            values={(self.figure.setting, metric): math.nan for metric in self.figure.metrics}, tolerance={},
            reason=None, note=None, name=self.id, citation=None,
        )

    @property
    def table(self) -> GoldenTable:
        """A one-row table of :attr:`row` on the figure's setting (what :func:`~reid.harness.cases.plan` reads)."""
        figure = self.figure
        return GoldenTable(paper=figure.paper, table=figure.figure, caption=figure.caption, source=figure.source,
                           columns=(ColumnGroup(figure.setting, figure.metrics),), rows=(self.row,), path=figure.path)

    def skip_reason(self) -> str | None:
        """Why this point does not run, or ``None`` when it does."""
        method = self.figure.method
        if method not in list_methods():
            return f"not yet implemented: {method!r}, the paper's own method, is not registered yet"
        return method_class(method).unsupported(build_config(method, "paper", self.row.profile_overrides("paper")))


def figure_points(golden: Golden, paper: str, figure: int, profile: str) -> list[FigurePoint]:
    """Every point of ``paper``'s figure ``figure`` under ``profile``: panel by panel, the values in order."""
    found = golden.figures[(paper, figure)]
    return [FigurePoint(found, panel, value) for panel in found.panels for value in panel.profile_values(profile)]


def check_figure(figure: GoldenFigure) -> str:
    """Check that ``figure`` can run: its method is registered (or a paper's key, not implemented yet), each panel's
    option is one of the method's options, and every point's overrides build a config under both profiles.

    Returns:
        ``"registered"`` or ``"planned"`` (a paper key not registered yet).

    Raises:
        GoldenError: naming the file and the field.
    """
    method = figure.method
    if method not in list_methods():
        if method in PAPERS:
            return "planned"
        raise GoldenError(figure.path, f"a registered method ({list_methods()}) or a paper's own method named by its "
                                       f"key ({list(PAPERS)}), got {method!r}", "method")
    options = build_config(method, "paper").method_options
    for i, panel in enumerate(figure.panels):
        if panel.name not in options:
            raise GoldenError(figure.path, f"an option of {method!r} ({sorted(options)}), got {panel.option!r}",
                              f"panels[{i}].option")
        for value in panel.values:
            point = FigurePoint(figure, panel, value)
            for profile in PROFILES:
                try:
                    build_config(method, profile, point.row.profile_overrides(profile))
                except (ConfigError, ReidError) as err:
                    raise GoldenError(figure.path, f"overrides valid for {method!r} under profile {profile!r} "
                                                   f"({err})", f"panels[{i}].fixed") from None
    return "registered"


@dataclass(frozen=True)
class PointResult:
    """What one figure point did (``<runs>/results/<paper>_figure<N>/<slug>.json``).

    Attributes:
        paper, figure, panel: which figure and panel.
        point: the point's id (``a-theta1=0.6``).
        option, value: the swept option and its value.
        profile: ``"smoke"`` or ``"paper"``.
        outcome: one of :data:`POINT_OUTCOMES`.
        reason: why it was skipped, the error, or why its problems are known (smoke); else ``None``.
        setting: the setting it was evaluated on.
        metrics: the plotted metrics, ours (``None``: not measured).
        fingerprint: the training run's config fingerprint (``None`` when nothing ran).
        problems: a metric not measured or not finite, sanity problems (smoke), in words.
        runs: training run fingerprint -> its run folder.
        wall_time_s: training and evaluation time of the runs (as recorded when they were made).
        format: the layout version.
    """

    paper: str
    figure: int
    panel: str
    point: str
    option: str
    value: float
    profile: str
    outcome: str
    reason: str | None
    setting: str
    metrics: dict[str, float | None] = field(default_factory=dict)
    fingerprint: str | None = None
    problems: list[str] = field(default_factory=list)
    runs: dict[str, str] = field(default_factory=dict)
    wall_time_s: float = 0.0
    format: int = POINT_FORMAT

    def to_dict(self) -> dict[str, Any]:
        return json.loads(json.dumps(dataclasses.asdict(self), allow_nan=False))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], path: Path) -> PointResult:
        """Rebuild a result; ``ArtifactError`` names the file and the key at fault."""
        names = check_result_header(cls, data, path, format_value=POINT_FORMAT, what="figure point result",
                                    outcomes=POINT_OUTCOMES,
                                    strings=("paper", "panel", "point", "option", "profile", "setting"),
                                    integers=("figure",))
        if isinstance(data.get("value"), bool) or not isinstance(data.get("value"), int | float):
            raise ArtifactError(path, "a number", "value")
        metrics = data.get("metrics", {})
        if not isinstance(metrics, Mapping) or not all(
                v is None or isinstance(v, int | float) and not isinstance(v, bool) for v in metrics.values()):
            raise ArtifactError(path, "an object of numbers or null", "metrics")
        return cls(**{k: data[k] for k in names if k in data})


def point_result_path(runs_dir: Path, paper: str, figure: int, slug: str) -> Path:
    """Where a figure point writes its result."""
    return runs_dir / "results" / f"{paper}_figure{figure}" / f"{slug}.json"


def write_point_result(path: Path, result: PointResult) -> None:
    """Write ``result`` as JSON, atomically."""
    atomic_write_text(path, json.dumps(result.to_dict(), indent=2, allow_nan=False) + "\n")


def load_point_results(runs_dir: Path) -> list[PointResult]:
    """Every figure point result under ``runs_dir/results/<paper>_figure<N>/`` (none if there is no such folder).

    Raises:
        ArtifactError: a file that is not valid JSON or not a point result.
    """
    folder = runs_dir / "results"
    out = []
    for path in sorted(folder.glob("*/*.json")) if folder.is_dir() else []:
        if not FIGURE_RESULTS.fullmatch(path.parent.name):
            continue
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as err:
            raise ArtifactError(path, f"valid JSON ({err})") from None
        out.append(PointResult.from_dict(data, path))
    return out


def plan_point(point: FigurePoint, golden: Golden, profile: str, **options: Any) -> list[Training]:
    """The trainings of ``point`` (:func:`~reid.harness.cases.plan` of its one-row table; same options)."""
    return plan(point, golden, profile, **options)  # type: ignore[arg-type]


def reproduce_point(
    point: FigurePoint,
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
) -> PointResult:
    """Run ``point`` under ``profile`` as a table row is run, and return (and write) its result.

    Passed: the point ran and every metric the figure plots is finite; in smoke its metrics also clear the sanity
    bound (a method known below it, golden/smoke/below_bound.yaml: its problems are reported as known, as a table
    row's are). Nothing is compared with a paper value (the figure prints none).

    Raises:
        whatever the runs raise; an ``"error"`` result naming it is written first.
    """
    figure, panel = point.figure, point.panel
    base = {"paper": figure.paper, "figure": figure.figure, "panel": panel.panel, "point": point.id,
            "option": panel.option, "value": point.value, "profile": profile, "setting": figure.setting}
    path = point_result_path(runs_dir, figure.paper, figure.figure, point.slug)
    reason = point.skip_reason()
    trainings = [] if reason is not None else plan_point(
        point, golden, profile, data_root=data_root, extra_overrides=extra_overrides, pretrained=pretrained,
        regdb_splits=regdb_splits)
    reason = reason or missing_data(trainings)
    if reason is not None:
        result = PointResult(**base, outcome="skipped", reason=reason)
        write_point_result(path, result)
        return result
    try:
        runs = execute(trainings, runs_dir, device=device, progress=progress, from_scratch=from_scratch)
    except Exception as err:
        write_point_result(path, PointResult(**base, outcome="error", reason=f"{type(err).__name__}: {err}"))
        raise
    measured = runs.settings.get(figure.setting)
    metrics: dict[str, float | None] = {}
    problems: list[str] = []
    for metric in figure.metrics:
        value = measured.metrics.get(metric) if measured is not None else None
        if value is None:
            problems.append(f"{figure.setting} {metric}: not measured")
        elif not math.isfinite(value):
            problems.append(f"{figure.setting} {metric} = {value!r} is not a finite number")
            value = None
        metrics[metric] = None if value is None else float(value)
    known = None
    if profile == "smoke" and measured is not None:
        sanity = sanity_problems({figure.setting: measured}, rank1_factor, map_factor)
        problems += sanity
        below = load_below_bound(golden.root).get(figure.method)
        if sanity and below is not None:
            known = f"{KNOWN_BELOW_BOUND}: {below}"
    result = PointResult(
        **base, outcome="failed" if problems else "passed", reason=known, metrics=metrics,
        fingerprint=measured.run_fingerprint if measured is not None else None, problems=problems,
        runs={fp: str(runs_dir / fp) for fp in runs.records}, wall_time_s=runs.wall_time_s,
    )
    write_point_result(path, result)
    return result


@dataclass(frozen=True)
class PanelOptimum:
    """The text's stated best value of a panel against our points, for one metric.

    Attributes:
        metric: the metric.
        stated: the value the text says is best.
        ours: our best values: every value whose metric is the largest of the panel (several on a tie); empty
            when no point has a number.
        best: that largest metric value, or ``None``.
        missing: the panel's values (under the profile) without a number of ours.
        holds: ``True`` when the stated value is among ours, ``False`` when it is not, ``None`` when it cannot be
            judged (a point missing, or no stated value).
    """

    metric: str
    stated: float | None
    ours: tuple[float, ...]
    best: float | None
    missing: tuple[float, ...]
    holds: bool | None


def panel_optimum(panel: FigurePanel, metric: str, measured: Mapping[float, float | None],
                  values: Sequence[float]) -> PanelOptimum:
    """Our argmax of ``metric`` over the panel's ``values`` (``measured``: value -> our metric) against the stated
    best. Judged only when every value has a finite number: a best over part of the grid says nothing."""
    numbers = {v: float(m) for v, m in measured.items() if v in values and m is not None and math.isfinite(m)}
    missing = tuple(v for v in values if v not in numbers)
    best = max(numbers.values(), default=None)
    ours = tuple(v for v in values if v in numbers and numbers[v] == best)
    holds = None if missing or panel.stated_best is None else panel.stated_best in ours
    return PanelOptimum(metric=metric, stated=panel.stated_best, ours=ours, best=best, missing=missing, holds=holds)
