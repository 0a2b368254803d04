"""CMC curves as inline SVG: an image with no external asset and no plotting dependency."""

from __future__ import annotations

from collections.abc import Sequence
from xml.sax.saxutils import escape

WIDTH, HEIGHT, MARGIN = 360, 220, 36
PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22",
           "#17becf")


def cmc_svg(curves: Sequence[tuple[str, Sequence[float]]], title: str) -> str:
    """An SVG plot of CMC curves (percent against rank 1..k), one polyline per named curve.

    Every text is XML-escaped, so a label from a user's file cannot inject markup.
    """
    plot_w, plot_h = WIDTH - 2 * MARGIN, HEIGHT - 2 * MARGIN
    longest = max((len(values) for _, values in curves), default=1)

    def x(rank: int) -> float:
        return MARGIN + (rank - 1) / max(longest - 1, 1) * plot_w

    def y(value: float) -> float:
        return MARGIN + (1 - min(max(value, 0.0), 100.0) / 100.0) * plot_h

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" role="img" '
        f'aria-label="{escape(title, {chr(34): "&quot;"})}">',
        f"<title>{escape(title)}</title>",
        f'<rect x="{MARGIN}" y="{MARGIN}" width="{plot_w}" height="{plot_h}" fill="none" stroke="#999"/>',
    ]
    for tick in (0, 25, 50, 75, 100):
        parts.append(f'<text x="{MARGIN - 4}" y="{y(tick) + 4:.1f}" font-size="10" text-anchor="end">{tick}</text>')
    for rank in sorted({1, longest, *range(5, longest + 1, 5)}):
        parts.append(f'<text x="{x(rank):.1f}" y="{HEIGHT - MARGIN + 14}" font-size="10" '
                     f'text-anchor="middle">{rank}</text>')
    parts.append(f'<text x="{WIDTH / 2}" y="{HEIGHT - 4}" font-size="11" text-anchor="middle">rank</text>')
    parts.append(f'<text x="{MARGIN}" y="{MARGIN - 8}" font-size="11">{escape(title)}</text>')
    for i, (name, values) in enumerate(curves):
        points = " ".join(f"{x(r + 1):.1f},{y(v):.1f}" for r, v in enumerate(values))
        colour = PALETTE[i % len(PALETTE)]
        parts.append(f'<polyline fill="none" stroke="{colour}" stroke-width="1.5" points="{points}">'
                     f"<title>{escape(name)}</title></polyline>")
    parts.append("</svg>")
    return "".join(parts)
