"""Render a :class:`~reid.report.model.Report` to static HTML: ``index.html`` and one page per paper.

Jinja templates inside the package (``reid/report/templates``), autoescaping on for every
template, so any text from a golden file, a record or a user's file is escaped; the only markup
inserted unescaped is the ``<sub>`` / ``<sup>`` of golden names, captions and notes (the ``markup`` filter,
:func:`reid.report.markup.to_html`, which escapes every piece of text) and the SVG this package draws itself from
numbers (:func:`reid.report.svg.cmc_svg`, :func:`reid.report.svg.table_svg`, :func:`reid.report.svg.sweep_svg`, which
escape their labels). No
external assets: CSS is inline, plots are inline SVG, no script.
"""

from __future__ import annotations

import datetime
from pathlib import Path

import jinja2
from markupsafe import Markup

from reid.golden import Golden
from reid.harness.figures import load_point_results
from reid.harness.result import load_results
from reid.io import atomic_write_text
from reid.report.export import write_verdicts
from reid.report.markup import printed, to_html
from reid.report.model import (
    ROW_OUTCOMES,
    VERDICT_TEXT,
    FigureView,
    PanelView,
    Report,
    RunView,
    TableView,
    build_report,
    flat_items,
)
from reid.report.svg import DotLine, cmc_svg, sweep_svg, table_svg


def _number(value: float | None, digits: int = 2) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def _signed(value: float | None) -> str:
    return "" if value is None else f"{value:+.2f}"


def cmc_picture(run: RunView) -> Markup:
    """A run's CMC curve: the mean over its final evaluation's trials and their spread."""
    return Markup(cmc_svg([values for _, values in run.curves],
                          f"CMC, {run.method} {run.fingerprint} (final evaluation)"))


def table_picture(view: TableView, profile: str) -> Markup | None:
    """The table's cells, ours against what each was compared with (:meth:`TableView.plotted_cells`);
    ``None`` when no cell has both the paper's value and ours."""
    lines = [DotLine(label, cell.paper, cell.expected, cell.tolerance, cell.ours, cell.verdict)
             for label, cell in view.plotted_cells() if cell.ours is not None]
    if not lines:
        return None
    band = "recorded smoke band" if profile == "smoke" else "paper ± tolerance"
    title = f"Table {view.table.table}: ours against the {'smoke band' if profile == 'smoke' else 'paper'}"
    return Markup(table_svg(lines, title, band=band))


def sweep_picture(figure: FigureView, panel: PanelView, metric: str) -> Markup | None:
    """A figure panel's points for ``metric`` beside the paper's chosen value and stated peaks; ``None`` when no point
    has a number for it."""
    points = panel.series(metric)
    if not points:
        return None
    golden = panel.panel
    title = f"Figure {figure.figure.figure}({golden.panel}): {metric} against {golden.name}, ours"
    return Markup(sweep_svg(points, title, option=golden.option, metric=metric, values=golden.values,
                            chosen=golden.stated_best, peaks=golden.stated_peaks))


def environment() -> jinja2.Environment:
    """The template environment (autoescape on; undefined names are errors, not blanks)."""
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("reid.report", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["num"] = _number
    env.filters["signed"] = _signed
    env.globals["verdict_text"] = VERDICT_TEXT
    env.globals["row_outcomes"] = ROW_OUTCOMES
    env.globals["cell_verdicts"] = tuple(VERDICT_TEXT)
    env.filters["flat_items"] = flat_items
    env.filters["markup"] = to_html
    env.filters["printed"] = printed
    env.globals["cmc_picture"] = cmc_picture
    env.globals["table_picture"] = table_picture
    env.globals["sweep_picture"] = sweep_picture
    return env


def render_report(report: Report, out_dir: str | Path) -> list[Path]:
    """Write ``index.html`` and ``<paper>.html`` for every paper of ``report`` into ``out_dir``.

    Returns:
        The files written (each atomically).
    """
    out = Path(out_dir)
    env = environment()
    created = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    written = []
    index = env.get_template("index.html").render(report=report, created=created)
    atomic_write_text(out / "index.html", index)
    written.append(out / "index.html")
    for paper in report.papers:
        page = env.get_template("paper.html").render(report=report, paper=paper, created=created)
        atomic_write_text(out / f"{paper.paper}.html", page)
        written.append(out / f"{paper.paper}.html")
    return written


def render_results(golden: Golden, profile: str, runs_dir: Path, out_dir: str | Path) -> list[Path]:
    """Render the report of ``profile`` from ``golden`` and the case results under ``runs_dir`` into ``out_dir``,
    with its verdicts exported beside it (:func:`reid.report.export.write_verdicts`).

    Returns:
        The files written: ``index.html`` first, then the paper pages, then ``verdicts.csv`` and ``verdicts.json``.
    """
    report = build_report(golden, load_results(runs_dir), profile=profile, runs_dir=runs_dir,
                          point_results=load_point_results(runs_dir))
    return render_report(report, out_dir) + write_verdicts(report, out_dir)
