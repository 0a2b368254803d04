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

SANITY_RANK1_FACTOR = 2.0
"""A smoke run's rank-1 must exceed this many times the rank-1 of random features on the same trials."""

SANITY_MAP_FACTOR = 1.5
"""A smoke run's mAP must exceed this many times the mAP of random features on the same trials.

Both factors sit below what every method's CI smoke config reaches on every seed measured; a broken run
that clears them (AGW on mismatched images learns generic appearance) is caught by its row's seed band
(docs/decisions.md, "The sanity bound" and "Broken controls")."""


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
    tolerance: Mapping[tuple[str, str], float],
    ours: Mapping[str, SettingResult],
) -> list[CellComparison]:
    """Every cell of ``expected`` (``(setting, metric) -> value``) against ``ours`` (setting -> result),
    each within its own ``tolerance`` (same keys)."""
    out = []
    for (setting, metric), value in expected.items():
        allowed = tolerance[(setting, metric)]
        result = ours.get(setting)
        measured = result.metrics.get(metric) if result is not None and metric in RETRIEVAL_METRICS else None
        if measured is None:
            out.append(CellComparison(setting, metric, value, None, allowed, "not_run"))
            continue
        verdict = "within" if abs(measured - value) <= allowed else "outside"
        out.append(CellComparison(setting, metric, value, float(measured), allowed, verdict))
    return out


def chance_rank1(evaluation: Mapping[str, Any]) -> tuple[float, int]:
    """Rank-1 of a random ranking, ``100 / gallery identities`` (the smallest gallery of the trials), and that count."""
    gallery_ids = min(split["num_gallery_ids"] for split in evaluation["splits"])
    return 100.0 / gallery_ids, gallery_ids


def random_features_metrics(evaluation: Mapping[str, Any]) -> dict[str, float] | None:
    """Mean rank-1 and mAP of random features over the evaluation's trials (as measured at evaluation,
    :func:`reid.eval.chance.random_ranking_metrics`), or ``None`` for a record made before they were."""
    measured = [split.get("random") for split in evaluation["splits"]]
    if any(m is None for m in measured):
        return None
    return {key: sum(m[key] for m in measured) / len(measured) for key in ("rank1", "mAP")}


def sanity_problems(
    ours: Mapping[str, SettingResult],
    rank1_factor: float = SANITY_RANK1_FACTOR,
    map_factor: float = SANITY_MAP_FACTOR,
) -> list[str]:
    """What is implausible in a run's metrics, whatever any golden says: values outside [0, 100], a CMC
    that decreases, rank-1 not above ``rank1_factor`` x and mAP not above ``map_factor`` x those of random
    features on the same trials (records without them: rank-1 against ``100 / gallery identities``)."""
    problems = []
    for key, result in ours.items():
        values = {m: v for m, v in result.metrics.items() if v is not None}
        for metric, value in values.items():
            if not 0.0 <= value <= 100.0:
                problems.append(f"{key} {metric} = {value:g} is outside [0, 100]")
        ranks = [values[m] for m in ("rank1", "rank5", "rank10", "rank20") if m in values]
        if any(b < a for a, b in zip(ranks, ranks[1:])):
            problems.append(f"{key}: CMC decreases ({ranks})")
        random = random_features_metrics(result.evaluation)
        if random is None:
            random = {"rank1": chance_rank1(result.evaluation)[0]}
        for metric, factor in (("rank1", rank1_factor), ("mAP", map_factor)):
            if metric in values and metric in random and values[metric] <= factor * random[metric]:
                problems.append(
                    f"{key} {metric} = {values[metric]:.2f} is not above {factor:g} x that of random features "
                    f"({random[metric]:.2f} on the same trials)"
                )
    return problems
