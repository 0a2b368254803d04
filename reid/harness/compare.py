"""Compare what a case measured with what was expected, cell by cell, and check sanity bounds.

Every expected cell gets a verdict: ``within`` / ``outside`` tolerance, or ``not_run`` (a
metric or setting our code does not measure, such as parameter counts or a detector table).
All deviations of a case are reported together, never just the first.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from reid.golden import RETRIEVAL_METRICS
from reid.harness.execute import SettingResult

VERDICTS = ("within", "outside", "not_run")

SANITY_CHANCE_FACTOR = 1.0
"""A smoke run's rank-1 must exceed this many times chance (``100 / gallery identities``): above chance.
The recording (3 points of tolerance) is the sharper check; see docs/decisions.md, "Smoke golden"."""


@dataclass(frozen=True)
class CellComparison:
    """One expected cell beside our value.

    Attributes:
        setting, metric: the cell.
        expected: the paper's (or the smoke golden's) value.
        ours: our value, or ``None`` when not measured.
        tolerance: the allowed absolute difference.
        verdict: one of :data:`VERDICTS`.
    """

    setting: str
    metric: str
    expected: float
    ours: float | None
    tolerance: float
    verdict: str

    @property
    def difference(self) -> float | None:
        """Ours minus expected."""
        return None if self.ours is None else self.ours - self.expected

    def describe(self) -> str:
        if self.ours is None:
            return f"{self.setting} {self.metric}: expected {self.expected:g}, not measured"
        return (
            f"{self.setting} {self.metric}: ours {self.ours:.2f}, expected {self.expected:g} "
            f"(difference {self.difference:+.2f}, tolerance {self.tolerance:g})"
        )


def compare_cells(
    expected: Mapping[tuple[str, str], float],
    tolerance: Mapping[str, float],
    ours: Mapping[str, SettingResult],
) -> list[CellComparison]:
    """Every cell of ``expected`` (``(setting, metric) -> value``) against ``ours`` (setting -> result)."""
    out = []
    for (setting, metric), value in expected.items():
        result = ours.get(setting)
        measured = result.metrics.get(metric) if result is not None and metric in RETRIEVAL_METRICS else None
        if measured is None:
            out.append(CellComparison(setting, metric, value, None, tolerance[metric], "not_run"))
            continue
        verdict = "within" if abs(measured - value) <= tolerance[metric] else "outside"
        out.append(CellComparison(setting, metric, value, float(measured), tolerance[metric], verdict))
    return out


def chance_rank1(evaluation: Mapping[str, Any]) -> tuple[float, int]:
    """Rank-1 of a random ranking, ``100 / gallery identities`` (the smallest gallery of the trials), and that count."""
    gallery_ids = min(split["num_gallery_ids"] for split in evaluation["splits"])
    return 100.0 / gallery_ids, gallery_ids


def sanity_problems(ours: Mapping[str, SettingResult], chance_factor: float = SANITY_CHANCE_FACTOR) -> list[str]:
    """What is implausible in a run's metrics, whatever any golden says: values outside [0, 100],
    a CMC that decreases, or rank-1 below ``chance_factor`` x chance (``100 / gallery identities``)."""
    problems = []
    for key, result in ours.items():
        values = {m: v for m, v in result.metrics.items() if v is not None}
        for metric, value in values.items():
            if not 0.0 <= value <= 100.0:
                problems.append(f"{key} {metric} = {value:g} is outside [0, 100]")
        ranks = [values[m] for m in ("rank1", "rank5", "rank10", "rank20") if m in values]
        if any(b < a for a, b in zip(ranks, ranks[1:])):
            problems.append(f"{key}: CMC decreases ({ranks})")
        chance, gallery_ids = chance_rank1(result.evaluation)
        if "rank1" in values and values["rank1"] <= chance_factor * chance:
            problems.append(
                f"{key} rank1 = {values['rank1']:.2f} is not above {chance_factor:g} x chance "
                f"({chance:.2f} for {gallery_ids} gallery identities)"
            )
    return problems
