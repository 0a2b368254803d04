"""Read a figure sweep file, ``<paper>/figure<N>.yaml`` (format: golden/README.md, "A figure sweep file").

A figure of curves prints no number to compare with; the file holds what the figure sweeps (method, setting, one
option per panel over its values, the other options fixed) and what the text states about it (the best value, the
peaks). Every error is a :class:`~reid.errors.GoldenError` naming the file and the field. Whether the method is
registered and every point's overrides build a config is checked by :func:`reid.harness.figures.check_figure` (it
needs the method registry, a layer above this one).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from reid.errors import GoldenError
from reid.golden.parse import _OVERRIDE, _check_markup, _Fields, read_yaml
from reid.golden.schema import PAPERS, RETRIEVAL_METRICS, FigurePanel, GoldenFigure, Setting

FIGURE_FILE = re.compile(r"figure([1-9][0-9]*)\.yaml")
"""Name of a figure sweep file: ``figure<N>.yaml``."""

_OPTION = re.compile(r"method_options\.[A-Za-z_][A-Za-z0-9_]*")
_METHOD = re.compile(r"[a-z][a-z0-9_]*")
_PANEL = re.compile(r"[a-z]")


def parse_figure(path: Path, settings: Mapping[str, Setting]) -> GoldenFigure:
    """One ``<paper>/figure<N>.yaml`` file, checked against its folder, its file name and ``settings``."""
    match = FIGURE_FILE.fullmatch(path.name)
    if match is None:
        raise GoldenError(path, "a file name figure<N>.yaml")
    f = _Fields(path, read_yaml(path), "",
                allowed=("paper", "figure", "caption", "source", "method", "setting", "metrics", "panels"))
    paper = f.text("paper")
    if paper not in PAPERS or paper != path.parent.name:
        raise f.fail("paper", f"one of {PAPERS} equal to the folder name {path.parent.name!r}, got {paper!r}")
    figure = f.get("figure", int)
    if figure != int(match.group(1)):
        raise f.fail("figure", f"the number in the file name ({match.group(1)}), got {figure}")
    caption = f.text("caption")
    _check_markup(f, "caption", caption)
    method = f.text("method")
    if not _METHOD.fullmatch(method):
        raise f.fail("method", f"a method name (a registered method or a paper key), got {method!r}")
    setting = f.text("setting")
    if setting not in settings:
        raise f.fail("setting", f"a key of settings.yaml ({sorted(settings)}), got {setting!r}")
    if not settings[setting].runnable:
        raise f.fail("setting", f"a setting one of our protocols evaluates, got {setting!r} (a detection setting)")
    metrics = tuple(f.items("metrics"))
    if not metrics or len(set(metrics)) != len(metrics) or not set(metrics) <= set(RETRIEVAL_METRICS):
        raise f.fail("metrics", f"distinct names among {list(RETRIEVAL_METRICS)}, got {metrics!r}")
    panels = tuple(_panel(path, body, i) for i, body in enumerate(f.items("panels")))
    if not panels:
        raise f.fail("panels", "at least one panel")
    letters = [p.panel for p in panels]
    if len(set(letters)) != len(letters):
        raise f.fail("panels", f"distinct panel letters, got {letters}")
    return GoldenFigure(paper=paper, figure=figure, caption=caption, source=f.text("source"), method=method,
                        setting=setting, metrics=metrics, panels=panels, path=path)


def _panel(path: Path, body: Any, index: int) -> FigurePanel:
    p = _Fields(path, body, f"panels[{index}]", allowed=(
        "panel", "option", "values", "smoke_values", "fixed", "stated_best", "stated_peaks", "text", "note"))
    panel = p.text("panel")
    if not _PANEL.fullmatch(panel):
        raise p.fail("panel", f"one lower-case letter as printed (a, b), got {panel!r}")
    option = p.text("option")
    if not _OPTION.fullmatch(option):
        raise p.fail("option", f"a method option, 'method_options.<name>', got {option!r}")
    values = _numbers(p, "values")
    smoke = _numbers(p, "smoke_values")
    stray = [v for v in smoke if v not in values]
    if stray:
        raise p.fail("smoke_values", f"values among the panel's values {list(values)}; not among them: {stray}")
    fixed = tuple(p.items("fixed", required=False))
    for k, item in enumerate(fixed):
        if not isinstance(item, str) or not _OVERRIDE.fullmatch(item):
            raise p.fail(f"fixed[{k}]", f"a 'key=value' string, got {item!r}")
        if item.split("=", 1)[0] == option:
            raise p.fail(f"fixed[{k}]", f"an override of another key than the swept {option!r}, got {item!r}")
    best = p.number("stated_best", required=False)
    if best is not None and best not in values:
        raise p.fail("stated_best", f"one of the panel's values {list(values)}, got {best:g}")
    peaks = _numbers(p, "stated_peaks", required=False)
    stray = [v for v in peaks if v not in values]
    if stray:
        raise p.fail("stated_peaks", f"values among the panel's values {list(values)}; not among them: {stray}")
    note = p.text("note", required=False)
    if note is not None:
        _check_markup(p, "note", note)
    return FigurePanel(panel=panel, option=option, values=values, smoke_values=smoke, fixed=fixed, stated_best=best,
                       stated_peaks=peaks, text=p.text("text"), note=note)


def _numbers(p: _Fields, key: str, *, required: bool = True) -> tuple[float, ...]:
    """A list of distinct finite numbers in increasing order (empty allowed only when not required)."""
    raw = p.items(key, required=required)
    if required and not raw:
        raise p.fail(key, "a non-empty list of numbers")
    if any(isinstance(v, bool) or not isinstance(v, int | float) or v != v or v in (float("inf"), float("-inf"))
           for v in raw):
        raise p.fail(key, f"finite numbers, got {raw!r}")
    numbers = tuple(float(v) for v in raw)
    if any(b <= a for a, b in zip(numbers, numbers[1:])):
        raise p.fail(key, f"distinct numbers in increasing order, got {list(numbers)}")
    return numbers
