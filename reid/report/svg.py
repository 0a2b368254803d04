"""Inline SVG pictures: an image with no external asset, no script and no plotting dependency.

:func:`cmc_svg` draws a run's CMC curve (the mean over its trials, the min-max spread as a band);
:func:`table_svg` draws a table's cells, ours against what it was compared with; :func:`sweep_svg` a figure
panel's points beside the paper's chosen value and stated peaks. All take plain
numbers and labels and XML-escape every text they write, so a label from a user's file cannot
inject markup; the report inserts their output unescaped (the only markup it does).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import NamedTuple
from xml.sax.saxutils import escape

WIDTH, HEIGHT = 380, 240
LEFT, RIGHT, TOP, BOTTOM = 48, 12, 26, 40
MEAN_COLOUR, BAND_COLOUR = "#1f77b4", "#aec7e8"

VERDICT_COLOURS: Mapping[str, str] = {"within": "#2ca02c", "outside": "#d62728", "unchecked": "#7f7f7f"}
"""A dot's fill by the cell's verdict (the table colours of base.html, saturated); any other verdict: grey."""
OTHER_COLOUR = "#7f7f7f"
PAPER_COLOUR, TOLERANCE_COLOUR = "#222222", "#d9d9d9"


def _attr(text: str) -> str:
    return escape(text, {'"': "&quot;"})


def _header(width: float, height: float, title: str) -> list[str]:
    return [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" height="{height:.0f}" '
        f'viewBox="0 0 {width:.0f} {height:.0f}" role="img" aria-label="{_attr(title)}">',
        f"<title>{escape(title)}</title>",
    ]


def cmc_svg(trials: Sequence[Sequence[float]], title: str) -> str:
    """An SVG plot of a CMC curve (matching rate in percent against rank 1..k).

    One line, the mean over ``trials`` at each rank, over a shaded band from the lowest to the highest
    trial at that rank; a legend names both. Trials of different lengths are cut to the shortest.
    """
    length = min((len(values) for values in trials), default=0)
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def x(rank: int) -> float:
        return LEFT + (rank - 1) / max(length - 1, 1) * plot_w

    def y(value: float) -> float:
        return TOP + (1 - min(max(value, 0.0), 100.0) / 100.0) * plot_h

    parts = _header(WIDTH, HEIGHT, title)
    parts.append(f'<text x="{LEFT}" y="{TOP - 10}" font-size="11">{escape(title)}</text>')
    parts.append(f'<rect x="{LEFT}" y="{TOP}" width="{plot_w}" height="{plot_h}" fill="none" stroke="#999"/>')
    for tick in (0, 25, 50, 75, 100):
        parts.append(f'<text x="{LEFT - 4}" y="{y(tick) + 4:.1f}" font-size="10" text-anchor="end">{tick}</text>')
    for rank in sorted({1, max(length, 1), *range(5, length + 1, 5)}):
        parts.append(f'<text x="{x(rank):.1f}" y="{TOP + plot_h + 14}" font-size="10" '
                     f'text-anchor="middle">{rank}</text>')
    parts.append(f'<text x="{LEFT + plot_w / 2:.1f}" y="{HEIGHT - 6}" font-size="11" text-anchor="middle">rank</text>')
    middle = TOP + plot_h / 2
    parts.append(f'<text x="12" y="{middle:.1f}" font-size="11" text-anchor="middle" '
                 f'transform="rotate(-90 12 {middle:.1f})">matching rate (%)</text>')
    if length:
        columns = [[values[r] for values in trials] for r in range(length)]
        low = [min(c) for c in columns]
        high = [max(c) for c in columns]
        mean = [sum(c) / len(c) for c in columns]
        upper = [f"{x(r + 1):.1f},{y(v):.1f}" for r, v in enumerate(high)]
        lower = [f"{x(r + 1):.1f},{y(v):.1f}" for r, v in reversed(list(enumerate(low)))]
        parts.append(f'<path class="cmc-band" d="M{" L".join(upper + lower)} Z" fill="{BAND_COLOUR}" '
                     f'fill-opacity="0.6" stroke="none"><title>min-max over trials</title></path>')
        line = " L".join(f"{x(r + 1):.1f},{y(v):.1f}" for r, v in enumerate(mean))
        count = len(trials)
        name = f"mean of {count} trial{'s' if count != 1 else ''}"
        parts.append(f'<path class="cmc-mean" d="M{line}" fill="none" stroke="{MEAN_COLOUR}" stroke-width="1.8">'
                     f"<title>{name}: rank-1 {mean[0]:.2f}</title></path>")
        # legend, lower right inside the plot (a CMC curve rises towards the top left)
        lx, ly = LEFT + plot_w - 130, TOP + plot_h - 30
        parts.append(f'<rect x="{lx - 6}" y="{ly - 10}" width="134" height="36" fill="#fff" fill-opacity="0.85" '
                     f'stroke="#ccc"/>')
        parts.append(f'<line x1="{lx}" y1="{ly - 3}" x2="{lx + 18}" y2="{ly - 3}" stroke="{MEAN_COLOUR}" '
                     f'stroke-width="1.8"/>')
        parts.append(f'<text x="{lx + 24}" y="{ly + 1}" font-size="10">{name}</text>')
        parts.append(f'<rect x="{lx}" y="{ly + 7}" width="18" height="8" fill="{BAND_COLOUR}"/>')
        parts.append(f'<text x="{lx + 24}" y="{ly + 15}" font-size="10">min-max over trials</text>')
    parts.append("</svg>")
    return "".join(parts)


class DotLine(NamedTuple):
    """One cell of :func:`table_svg`: the paper's value, what ours was compared with (``expected`` ±
    ``tolerance``; ``None`` where it was not compared), ours and the cell's verdict."""

    label: str
    paper: float | None
    expected: float | None
    tolerance: float | None
    ours: float
    verdict: str


ROW_H, LABEL_CHARS, PLOT_W = 18, 50, 360


def _short(label: str) -> str:
    # cut in the middle: a line's label ends with its setting and metric, the part that tells the lines apart
    return label if len(label) <= LABEL_CHARS else label[:LABEL_CHARS - 25] + "…" + label[-24:]


def table_svg(lines: Sequence[DotLine], title: str, band: str = "paper ± tolerance") -> str:
    """A horizontal dot plot, one line per cell: a tick at the paper's value, a grey band where ours
    was allowed to be (``expected`` ± ``tolerance``; named by ``band`` in the legend) and a dot for ours
    coloured by the cell's verdict (:data:`VERDICT_COLOURS`). The axis spans every number drawn,
    rounded out to tens.
    """
    numbers = [v for line in lines for v in (line.paper, line.ours) if v is not None]
    for line in lines:
        if line.expected is not None and line.tolerance is not None:
            numbers += [line.expected - line.tolerance, line.expected + line.tolerance]
    points = [v for line in lines for v in (line.paper, line.ours) if v is not None]
    lo = math.floor(min(numbers, default=0.0) / 10) * 10
    hi = math.ceil(max(numbers, default=100.0) / 10) * 10
    # percentages: a band reaching past 0 or 100 is cut at the axis, unless a value itself lies beyond
    lo = max(lo, 0) if min(points, default=0.0) >= 0 else lo
    hi = min(hi, 100) if max(points, default=100.0) <= 100 else hi
    hi = max(hi, lo + 10)
    label_w = 6 * min(max((len(line.label) for line in lines), default=10), LABEL_CHARS) + 12
    top, legend_h = 24, 30
    items = [("tick", "paper"), ("band", band)] + [(verdict, f"ours, {verdict}") for verdict in VERDICT_COLOURS]
    width = max(label_w + PLOT_W + 20, sum(30 + 6 * len(text) for _, text in items) + 8)
    height = top + ROW_H * len(lines) + 22 + legend_h

    def x(value: float) -> float:
        return label_w + (min(max(value, lo), hi) - lo) / (hi - lo) * PLOT_W

    parts = _header(width, height, title)
    parts.append(f'<text x="4" y="14" font-size="11">{escape(title)}</text>')
    bottom = top + ROW_H * len(lines)
    step = 5 if hi - lo <= 30 else 10 if hi - lo <= 60 else 20
    for tick in range(int(lo), int(hi) + 1, step):
        parts.append(f'<line x1="{x(tick):.1f}" y1="{top}" x2="{x(tick):.1f}" y2="{bottom}" stroke="#eee"/>')
        parts.append(f'<text x="{x(tick):.1f}" y="{bottom + 13}" font-size="10" text-anchor="middle">{tick}</text>')
    for i, line in enumerate(lines):
        cy = top + ROW_H * i + ROW_H / 2
        parts.append(f'<text x="{label_w - 6}" y="{cy + 3.5:.1f}" font-size="10" text-anchor="end">'
                     f"<title>{escape(line.label)}</title>{escape(_short(line.label))}</text>")
        parts.append(f'<line x1="{label_w}" y1="{cy:.1f}" x2="{label_w + PLOT_W}" y2="{cy:.1f}" stroke="#f3f3f3"/>')
        if line.expected is not None and line.tolerance is not None:
            low, high = line.expected - line.tolerance, line.expected + line.tolerance
            parts.append(f'<rect class="tolerance" x="{x(low):.1f}" y="{cy - 5:.1f}" '
                         f'width="{max(x(high) - x(low), 1.0):.1f}" height="10" fill="{TOLERANCE_COLOUR}">'
                         f"<title>{escape(band)}: {low:.2f} to {high:.2f}</title></rect>")
        if line.paper is not None:
            parts.append(f'<line class="paper" x1="{x(line.paper):.1f}" y1="{cy - 7:.1f}" x2="{x(line.paper):.1f}" '
                         f'y2="{cy + 7:.1f}" stroke="{PAPER_COLOUR}" stroke-width="2">'
                         f"<title>paper {line.paper:.2f}</title></line>")
        colour = VERDICT_COLOURS.get(line.verdict, OTHER_COLOUR)
        parts.append(f'<circle class="ours {_attr(line.verdict)}" cx="{x(line.ours):.1f}" cy="{cy:.1f}" r="4" '
                     f'fill="{colour}" stroke="#fff"><title>ours {line.ours:.2f} ({escape(line.verdict)})</title>'
                     f"</circle>")
    ly = bottom + 30
    lx = 4.0
    for kind, text in items:
        if kind == "tick":
            parts.append(f'<line x1="{lx + 5}" y1="{ly - 9}" x2="{lx + 5}" y2="{ly + 3}" stroke="{PAPER_COLOUR}" '
                         f'stroke-width="2"/>')
        elif kind == "band":
            parts.append(f'<rect x="{lx}" y="{ly - 8}" width="12" height="10" fill="{TOLERANCE_COLOUR}"/>')
        else:
            parts.append(f'<circle cx="{lx + 5}" cy="{ly - 3}" r="4" fill="{VERDICT_COLOURS[kind]}"/>')
        parts.append(f'<text x="{lx + 16}" y="{ly + 1}" font-size="10">{escape(text)}</text>')
        lx += 16 + 6 * len(text) + 14
    parts.append("</svg>")
    return "".join(parts)


SWEEP_W, SWEEP_H = 340, 230
SWEEP_COLOUR, CHOSEN_COLOUR, PEAK_COLOUR = "#1f77b4", "#d62728", "#222222"


def sweep_svg(points: Sequence[tuple[float, float]], title: str, *, option: str, metric: str,
              values: Sequence[float], chosen: float | None = None, peaks: Sequence[float] = ()) -> str:
    """A figure panel's sweep: our points (``(value, metric)``, joined in value order) over the panel's ``values``
    on the x axis, a dashed vertical line at the paper's ``chosen`` value and a tick under the axis at each of the
    ``peaks`` the text names; a legend names the three. The y axis spans our numbers rounded out to fives (within
    0-100 for percentages)."""
    xs = [*values, *(v for v, _ in points)]
    x_lo, x_hi = min(xs, default=0.0), max(xs, default=1.0)
    x_hi = x_hi if x_hi > x_lo else x_lo + 1.0
    ys = [y for _, y in points]
    y_lo = max(math.floor(min(ys, default=0.0) / 5) * 5 - 5, 0) if min(ys, default=0.0) >= 0 else min(ys) - 5
    y_hi = min(math.ceil(max(ys, default=100.0) / 5) * 5 + 5, 100) if max(ys, default=0.0) <= 100 else max(ys) + 5
    y_hi = y_hi if y_hi > y_lo else y_lo + 10
    left, right, top, bottom = 44, 12, 26, 64
    plot_w, plot_h = SWEEP_W - left - right, SWEEP_H - top - bottom

    def x(value: float) -> float:
        return left + (value - x_lo) / (x_hi - x_lo) * plot_w

    def y(value: float) -> float:
        return top + (1 - (value - y_lo) / (y_hi - y_lo)) * plot_h

    parts = _header(SWEEP_W, SWEEP_H, title)
    parts.append(f'<text x="4" y="14" font-size="11">{escape(title)}</text>')
    parts.append(f'<rect x="{left}" y="{top}" width="{plot_w}" height="{plot_h}" fill="none" stroke="#999"/>')
    step = 5 if y_hi - y_lo <= 30 else 10 if y_hi - y_lo <= 60 else 20
    for tick in range(int(math.ceil(y_lo / step) * step), int(y_hi) + 1, step):
        parts.append(f'<line x1="{left}" y1="{y(tick):.1f}" x2="{left + plot_w}" y2="{y(tick):.1f}" stroke="#eee"/>')
        parts.append(f'<text x="{left - 4}" y="{y(tick) + 4:.1f}" font-size="10" text-anchor="end">{tick}</text>')
    labelled = values if len(values) <= 6 else values[::2]
    for value in labelled:
        parts.append(f'<text x="{x(value):.1f}" y="{top + plot_h + 18}" font-size="10" '
                     f'text-anchor="middle">{value:g}</text>')
    axis_y = top + plot_h + 32
    parts.append(f'<text x="{left + plot_w / 2:.1f}" y="{axis_y}" font-size="11" text-anchor="middle">'
                 f"{escape(option)}</text>")
    middle = top + plot_h / 2
    parts.append(f'<text x="11" y="{middle:.1f}" font-size="11" text-anchor="middle" '
                 f'transform="rotate(-90 11 {middle:.1f})">{escape(metric)} (%)</text>')
    if chosen is not None:
        parts.append(f'<line class="chosen" x1="{x(chosen):.1f}" y1="{top}" x2="{x(chosen):.1f}" '
                     f'y2="{top + plot_h}" stroke="{CHOSEN_COLOUR}" stroke-width="1.5" stroke-dasharray="4 3">'
                     f"<title>{escape(f'the paper chose {chosen:g}')}</title></line>")
    for peak in peaks:
        parts.append(f'<path class="peak" d="M{x(peak):.1f},{top + plot_h} l-4,7 h8 Z" fill="{PEAK_COLOUR}">'
                     f"<title>{escape(f'a peak the text names: {peak:g}')}</title></path>")
    ordered = sorted(points)
    if len(ordered) > 1:
        line = " L".join(f"{x(v):.1f},{y(m):.1f}" for v, m in ordered)
        parts.append(f'<path class="ours-line" d="M{line}" fill="none" stroke="{SWEEP_COLOUR}" stroke-width="1.5"/>')
    for value, measured in ordered:
        parts.append(f'<circle class="ours" cx="{x(value):.1f}" cy="{y(measured):.1f}" r="3.5" fill="{SWEEP_COLOUR}" '
                     f'stroke="#fff"><title>{escape(f"{option} = {value:g}: ours {measured:.2f}")}</title></circle>')
    ly, lx = SWEEP_H - 10, 6.0
    items = [("ours", "ours")]
    if chosen is not None:
        items.append(("chosen", "paper's choice"))
    if peaks:
        items.append(("peak", "stated peaks"))
    for kind, text in items:
        if kind == "ours":
            parts.append(f'<circle cx="{lx + 5}" cy="{ly - 3}" r="3.5" fill="{SWEEP_COLOUR}"/>')
        elif kind == "chosen":
            parts.append(f'<line x1="{lx + 5}" y1="{ly - 10}" x2="{lx + 5}" y2="{ly + 3}" stroke="{CHOSEN_COLOUR}" '
                         f'stroke-width="1.5" stroke-dasharray="4 3"/>')
        else:
            parts.append(f'<path d="M{lx + 5},{ly - 8} l-4,7 h8 Z" fill="{PEAK_COLOUR}"/>')
        parts.append(f'<text x="{lx + 14}" y="{ly + 1}" font-size="10">{escape(text)}</text>')
        lx += 14 + 6 * len(text) + 14
    parts.append("</svg>")
    return "".join(parts)
