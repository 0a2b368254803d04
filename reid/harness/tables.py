"""Run the cases of whole papers outside pytest (``reid reproduce``), one line per row."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from reid.golden import Golden
from reid.harness.cases import REGDB_SPLITS, check_regdb_splits, plan, table_cases
from reid.harness.execute import preflight_trainings
from reid.harness.reproduce import missing_data, reproduce_case
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
    pretrained: Mapping[str, str] | None = None,
    echo: Callable[[str], None] = print,
    from_scratch: bool = False,
    regdb_splits: int = REGDB_SPLITS,
) -> list[CaseResult]:
    """Every case of ``papers`` (or of their ``tables``), in printed order; a case whose runs raise is
    recorded as an error and the others go on. Every case whose data is there is checked first
    (:func:`~reid.harness.execute.preflight_trainings`); ``from_scratch`` allows paper-profile trainings without
    ImageNet weights (``--from-scratch``); a paper-profile RegDB setting trains its first ``regdb_splits`` splits
    (``--regdb-splits``) and the case compares their mean.

    Raises:
        ConfigError: ``regdb_splits`` outside 1..10, before anything is planned.
        ConfigError, DatasetError, PretrainedWeightsError: a check before the first training failed.

    Returns:
        The results, also written under ``runs_dir/results``.
    """
    check_regdb_splits(regdb_splits)
    cases = [case for paper in papers for table in golden.paper_tables(paper)
             if not tables or table.table in tables for case in table_cases(golden, paper, table.table)]
    # Every case with its data is checked before the first one trains: a reproduction that would fail at its
    # tenth table fails now.
    for case in cases:
        if case.skip_reason() is None:
            trainings = plan(case, golden, profile, data_root=data_root, extra_overrides=extra_overrides,
                             pretrained=pretrained, regdb_splits=regdb_splits)
            if missing_data(trainings) is None:
                preflight_trainings(trainings, from_scratch=from_scratch)
    results = []
    for case in cases:
        key = case.table.key
        try:
            result = reproduce_case(case, golden, profile=profile, runs_dir=runs_dir, device=device,
                                    data_root=data_root, extra_overrides=extra_overrides, pretrained=pretrained,
                                    from_scratch=from_scratch, regdb_splits=regdb_splits)
        except Exception as err:  # the case's result file says "error"; the table goes on
            echo(f"{key} {case.id}: error: {type(err).__name__}: {err}")
            continue
        detail = result.reason if result.outcome == "skipped" else "; ".join(
            [*([result.regdb_splits["note"]] if result.regdb_splits else []), *result.problems])
        echo(f"{key} {case.id}: {result.outcome}" + (f" ({detail})" if detail else ""))
        results.append(result)
    return results
