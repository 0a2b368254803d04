"""The CI selection: per method, the rows that train its most shared smoke config, and that training.

One training per method then covers every table that prints the method's full configuration; the
method's broken controls (:mod:`reid.harness.controls`) break the same training.
"""

from __future__ import annotations

from reid.config import fingerprint
from reid.golden import Golden
from reid.harness.cases import Training, plan, table_cases

CiRow = tuple[str, int, str]
"""``(paper, table, row id)``."""


def ci_plans(golden: Golden) -> dict[str, tuple[Training, list[CiRow]]]:
    """Per registered method with runnable rows: the first training of its most shared smoke config (its full
    configuration, printed in most tables; ties: the first in paper and table order) and the rows it serves."""
    by_method: dict[str, dict[str, tuple[Training, list[CiRow]]]] = {}
    for paper, number in golden.tables:
        for case in table_cases(golden, paper, number):
            if case.skip_reason() is not None:
                continue
            training = plan(case, golden, "smoke")[0]
            configs = by_method.setdefault(case.row.method, {})
            _, rows = configs.setdefault(fingerprint(training.config), (training, []))
            rows.append((paper, number, case.id))
    return {method: max(configs.values(), key=lambda entry: len(entry[1])) for method, configs in by_method.items()}


def ci_selection(golden: Golden) -> set[CiRow]:
    """Every ``(paper, table, row id)`` of the CI selection."""
    return {row for _, rows in ci_plans(golden).values() for row in rows}


def ci_trainings(golden: Golden) -> dict[str, Training]:
    """Per method, the training of its CI smoke config."""
    return {method: training for method, (training, _) in ci_plans(golden).items()}
