"""What a golden file holds, as frozen dataclasses (the format: golden/README.md).

A :class:`GoldenTable` is one results table of a paper as printed: column groups (an
evaluation :class:`Setting` and its metrics), tolerances, and rows with a status that says
whether our code runs them. A :class:`Claim` is a sentence of the paper turned into arithmetic
over table cells (:class:`CellRef`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reid.golden.names import plain

PAPERS: tuple[str, ...] = ("cmmp", "ffdml", "xiv", "mscmnet", "cmft")
"""Paper keys, in the order of the project's mission statement."""

METRIC_UNITS: Mapping[str, str] = {
    "rank1": "percent",
    "rank5": "percent",
    "rank10": "percent",
    "rank20": "percent",
    "mAP": "percent",
    "mINP": "percent",
    "params_M": "millions of parameters",
    "flops_G": "GFLOPs",
    "precision": "fraction",
    "recall": "fraction",
    "f1": "fraction",
    "accuracy": "fraction",
    "fps": "frames per second",
}
"""Every metric a golden table may print, with its unit."""

RETRIEVAL_METRICS: tuple[str, ...] = ("rank1", "rank5", "rank10", "rank20", "mAP", "mINP")
"""The metrics an evaluation of ours produces (:data:`reid.eval.evaluate.METRICS`)."""

STATUSES: tuple[str, ...] = ("reproduce", "reference", "not_applicable")
"""Row statuses: our code runs it; a method we do not implement; cannot be run here (with a reason)."""

CLAIM_KINDS: tuple[str, ...] = ("value", "difference", "relative", "at_least")
"""How a claim's number follows from its cells (golden/README.md, "A claims file")."""

DEFAULT_CLAIM_TOLERANCE = 0.01
"""How far a claim's stated number may be from the paper's own cells and still agree (rounding)."""


@dataclass(frozen=True)
class Setting:
    """One named evaluation setting (golden/settings.yaml).

    Attributes:
        key: its name (``sysu_all_single``).
        description: in words.
        dataset: the data set evaluated on (a name of :data:`reid.data.datasets.DATASETS`).
        train: the data set the model trains on.
        protocol: a name of :func:`reid.eval.protocols.build_trials`, or ``"detection"``.
        options: the protocol options that define the setting (``mode``, ``shots``, ``direction``).
    """

    key: str
    description: str
    dataset: str
    train: str
    protocol: str
    options: Mapping[str, Any]

    @property
    def runnable(self) -> bool:
        """Whether one of our evaluation protocols computes this setting."""
        return self.protocol != "detection"


@dataclass(frozen=True)
class ColumnGroup:
    """Adjacent columns of one setting, e.g. SYSU-MM01 all-search: rank1 rank10 rank20 mAP."""

    setting: str
    metrics: tuple[str, ...]


@dataclass(frozen=True)
class GoldenRow:
    """One printed row.

    Attributes:
        label: as printed (kept for traceability).
        group: the sub-table heading it sits under, or ``None``.
        status: one of :data:`STATUSES`.
        method: the method that runs it (``reproduce``), or ``None``.
        overrides: ``key=value`` config overrides that select the row's variant (every profile).
        paper_overrides: overrides applied under the paper profile only (the paper's input size for
            this row, say), so the smoke profile keeps its own sizes.
        alias: canonical method name (golden/aliases.yaml), or ``None`` for a variant.
        values: ``(setting, metric) -> value`` for every printed cell (``-`` cells absent).
        tolerance: ``metric -> tolerance`` after the row's overrides of the table defaults.
        reason: why a ``not_applicable`` row cannot run.
        note: anything a reader must know.
        name: the method or variant, without its citation, in the canonical markup (``_{...}`` subscripts,
            ``^{...}`` superscripts): :func:`reid.golden.names.split_label` of the label, or the golden file's
            ``name:`` where the rule fails.
        citation: the citation printed with the label (``[23]``, ``Hao et al. (2019)``), or ``None``: the rule's,
            or the golden file's ``citation:``.
        hand: the fields the golden file gives by hand instead of the rule (``name``, ``citation``).
    """

    label: str
    group: str | None
    status: str
    method: str | None
    overrides: tuple[str, ...]
    paper_overrides: tuple[str, ...]
    alias: str | None
    values: Mapping[tuple[str, str], float]
    tolerance: Mapping[str, float]
    reason: str | None
    note: str | None
    name: str
    citation: str | None
    hand: tuple[str, ...] = ()

    def profile_overrides(self, profile: str) -> tuple[str, ...]:
        """The overrides of this row under ``profile``."""
        return self.overrides + (self.paper_overrides if profile == "paper" else ())

    @property
    def plain_name(self) -> str:
        """:attr:`name` on one line without braces (``L_id+L_KD``, ``D^2RL``): :func:`reid.golden.names.plain`."""
        return plain(self.name)

    @property
    def row_id(self) -> str:
        """The row's name in its table and the benchmark test id: ``group/name`` or ``name``, the name
        :attr:`plain_name` (the clean name, not the printed label)."""
        return self.plain_name if self.group is None else f"{self.group}/{self.plain_name}"


@dataclass(frozen=True)
class GoldenTable:
    """One results table of one paper.

    Attributes:
        paper: a key of :data:`PAPERS`.
        table: the table's number (roman numerals as integers).
        caption: as printed.
        source: where in the paper text it is.
        columns: column groups, left to right.
        rows: top to bottom.
        path: the golden file it was read from.
    """

    paper: str
    table: int
    caption: str
    source: str
    columns: tuple[ColumnGroup, ...]
    rows: tuple[GoldenRow, ...]
    path: Path

    @property
    def key(self) -> str:
        """``<paper>_table<N>``: the benchmark module and report anchor name."""
        return f"{self.paper}_table{self.table}"

    @property
    def cells(self) -> tuple[tuple[str, str], ...]:
        """Every ``(setting, metric)`` column, in printed order."""
        return tuple((group.setting, metric) for group in self.columns for metric in group.metrics)

    def row(self, row_id: str) -> GoldenRow:
        """The row named ``row_id`` (``group/name`` or ``name``, :attr:`GoldenRow.row_id`).

        Raises:
            KeyError: no such row; the message lists the valid ids.
        """
        for row in self.rows:
            if row.row_id == row_id:
                return row
        raise KeyError(f"{self.key} has no row {row_id!r}; rows: {[r.row_id for r in self.rows]}")


@dataclass(frozen=True)
class CellRef:
    """One cell of one table of the same paper."""

    table: int
    row: str
    setting: str
    metric: str


@dataclass(frozen=True)
class Claim:
    """A textual claim of a paper as arithmetic over its table cells.

    Attributes:
        paper: the paper that makes it.
        id: unique within the paper.
        text: the sentence, quoted.
        source: where in the text.
        kind: one of :data:`CLAIM_KINDS`.
        a: the cell the claim is about.
        b: the cells it compares with (empty for ``value``).
        value: the number the text states.
        tolerance: how far the cells' arithmetic may be from ``value`` and still agree.
    """

    paper: str
    id: str
    text: str
    source: str
    kind: str
    a: CellRef
    b: tuple[CellRef, ...]
    value: float
    tolerance: float


@dataclass(frozen=True)
class FigurePanel:
    """One panel of a figure sweep: one option swept over values, the others fixed.

    Attributes:
        panel: its letter as printed (``a``), the first part of its points' ids.
        option: the swept config key, ``method_options.<name>``.
        values: every value the paper profile runs, in order (the paper's grid, or our reading of its range).
        smoke_values: the values the smoke profile runs (a subset of ``values``: fewer points is a size).
        fixed: ``key=value`` overrides every point of the panel applies (the other option held still).
        stated_best: the value the text says is best (the paper's chosen value); ``None`` when it states none.
        stated_peaks: values the text names as peaks of the curve (drawn as ticks; not judged).
        text: the sentences that state the best value and the peaks, quoted.
        note: anything a reader must know (how the grid was read).
    """

    panel: str
    option: str
    values: tuple[float, ...]
    smoke_values: tuple[float, ...]
    fixed: tuple[str, ...]
    stated_best: float | None
    stated_peaks: tuple[float, ...]
    text: str
    note: str | None = None

    @property
    def name(self) -> str:
        """The option's name without its section (``theta1``)."""
        return self.option.split(".", 1)[1]

    def profile_values(self, profile: str) -> tuple[float, ...]:
        """The values run under ``profile``: :attr:`values` in the paper profile, :attr:`smoke_values` in smoke."""
        return self.values if profile == "paper" else self.smoke_values


@dataclass(frozen=True)
class GoldenFigure:
    """A figure of a paper that sweeps an option of one method on one setting (a ``figure sweep`` file).

    The paper prints curves, not numbers: nothing here is compared with a value. What is golden is the sweep
    (method, setting, which option over which values, the others fixed) and the optima the text states.

    Attributes:
        paper: a key of :data:`PAPERS`.
        figure: its number.
        caption: as printed.
        source: where in the paper text.
        method: the method swept (a registered method or the paper's key).
        setting: a key of settings.yaml: what each point trains and is evaluated on.
        metrics: the metrics the figure plots (retrieval metrics).
        panels: left to right (``a``, ``b``).
        path: the golden file.
    """

    paper: str
    figure: int
    caption: str
    source: str
    method: str
    setting: str
    metrics: tuple[str, ...]
    panels: tuple[FigurePanel, ...]
    path: Path

    @property
    def key(self) -> str:
        """``<paper>_figure<N>``: the benchmark module, the results folder and the report anchor name."""
        return f"{self.paper}_figure{self.figure}"

    def panel(self, panel: str) -> FigurePanel:
        """The panel lettered ``panel``.

        Raises:
            KeyError: no such panel; the message lists them.
        """
        for found in self.panels:
            if found.panel == panel:
                return found
        raise KeyError(f"{self.key} has no panel {panel!r}; panels: {[p.panel for p in self.panels]}")
