"""Run the cases of whole papers outside pytest (``reid reproduce``), one line per row."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from reid.golden import Golden
from reid.harness.cases import table_cases
from reid.harness.reproduce import reproduce_case
from reid.harness.result import CaseResult


def run_tables(
    golden: Golden,
    papers: Sequence[str],
    *,
    profile: str,
    runs_dir: Path,
    device: str = "cpu",
    data_root: Path | None = None,
    tables: Sequence[int] | None = None,
    extra_overrides: Sequence[str] = (),
    echo: Callable[[str], None] = print,
) -> list[CaseResult]:
    """Every case of ``papers`` (or of their ``tables``), in printed order; a case whose runs raise is
    recorded as an error and the others go on.

    Returns:
        The results, also written under ``runs_dir/results``.
    """
    results = []
    for paper in papers:
        for table in golden.paper_tables(paper):
            if tables and table.table not in tables:
                continue
            for case in table_cases(golden, paper, table.table):
                try:
                    result = reproduce_case(
                        case,
                        golden,
                        profile=profile,
                        runs_dir=runs_dir,
                        device=device,
                        data_root=data_root,
                        extra_overrides=extra_overrides,
                    )
                except Exception as err:  # the case's result file says "error"; the table goes on
                    echo(f"{table.key} {case.id}: error: {type(err).__name__}: {err}")
                    continue
                detail = result.reason if result.outcome == "skipped" else "; ".join(result.problems)
                echo(f"{table.key} {case.id}: {result.outcome}" + (f" ({detail})" if detail else ""))
                results.append(result)
    return results
