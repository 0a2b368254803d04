"""Claim arithmetic: the quantity a claim speaks of, computed from any source of cell values.

The same function checks a claim against the paper's own tables (does the text agree with the
numbers the paper printed?) and against our runs (does the effect the text claims appear when we
run the rows?); only ``value_of`` differs.
"""

from __future__ import annotations

from collections.abc import Callable

from reid.golden.schema import CellRef, Claim

CellValue = Callable[[CellRef], float | None]
"""A cell's value, or ``None`` when the source has none (a row not run)."""


def claim_quantity(claim: Claim, value_of: CellValue) -> float | None:
    """What the claim's number measures, from ``value_of``; ``None`` if a cell has no value.

    ``value``: a. ``difference``: a - b (points). ``relative``: 100 (a - b) / b (percent).
    ``at_least``: the smallest a - b over the cells of b (every margin must reach the value).
    """
    a = value_of(claim.a)
    others = [value_of(cell) for cell in claim.b]
    if a is None or any(b is None for b in others):
        return None
    if claim.kind == "value":
        return a
    if claim.kind == "difference":
        return a - others[0]
    if claim.kind == "relative":
        return 100.0 * (a - others[0]) / others[0] if others[0] != 0 else None
    return min(a - b for b in others)


def claim_agrees(claim: Claim, quantity: float | None, tolerance: float | None = None) -> bool | None:
    """Whether ``quantity`` bears the claim out: equal to its number within ``tolerance`` (the
    claim's own by default), or for ``at_least`` no smaller than it less the tolerance; ``None``
    when there is no quantity."""
    if quantity is None:
        return None
    slack = claim.tolerance if tolerance is None else tolerance
    if claim.kind == "at_least":
        return quantity >= claim.value - slack
    return abs(quantity - claim.value) <= slack
