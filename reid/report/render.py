"""Render a :class:`~reid.report.model.Report` to static HTML: ``index.html`` and one page per paper.

Jinja templates inside the package (``reid/report/templates``), autoescaping on for every
template, so any text from a golden file, a record or a user's file is escaped; the only markup
inserted unescaped is the SVG this package draws itself (:func:`reid.report.svg.cmc_svg`, which
escapes its labels). No external assets: CSS is inline, plots are inline SVG.
"""

from __future__ import annotations

import datetime
from pathlib import Path

import jinja2
from markupsafe import Markup

from reid.golden import Golden
from reid.harness.result import load_results
from reid.io import atomic_write_text
from reid.report.export import write_verdicts
from reid.report.model import ROW_OUTCOMES, VERDICT_TEXT, Report, build_report
from reid.report.svg import cmc_svg


def _number(value: float | None, digits: int = 2) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def _signed(value: float | None) -> str:
    return "" if value is None else f"{value:+.2f}"


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
    env.globals["cmc_svg"] = lambda curves, title: Markup(cmc_svg(curves, title))
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
    report = build_report(golden, load_results(runs_dir), profile=profile, runs_dir=runs_dir)
    return render_report(report, out_dir) + write_verdicts(report, out_dir)
