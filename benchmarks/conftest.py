"""The benchmark harness as pytest: one module per paper table, one case per printed row; one module per figure
sweep (golden/<paper>/figure<N>.yaml), one case per point (``a-theta1=0.6``, reid.harness.figures).

    pytest benchmarks -k cmmp --gpu              # every CMMP row, paper profile on CUDA, real data
    pytest benchmarks -k "xiv and table4"        # one table, smoke profile on the synthetic data (CPU)
    pytest benchmarks --smoke-selection=ci       # the CI selection (see below)

Options: ``--gpu`` (paper profile on CUDA; without a CUDA device it is a usage error, saying what to run),
``--profile smoke|paper`` (default: paper with ``--gpu``, else smoke), ``--data-root`` (or
``$REID_DATA_ROOT``: the folder holding ``sysu_mm01/``, ``regdb/``, ...; missing data skips
with the path expected), ``--runs-dir`` (where runs, their cache and case results go),
``--pretrained`` (ImageNet weights file for paper runs; a paper run without one is refused unless
``--from-scratch``), ``--report-dir`` (where the report is rendered at the session's end; default
``reports/``, as ``reid report``), ``--regdb-splits N`` (paper profile: a RegDB setting trains its first N of the 10
splits, each on its own, and its case compares their mean; default 10), ``--smoke-selection ci|all``.

Markers: the paper key (``-m xiv``), ``table<N>`` (``-m "xiv and table4"``) and ``figure<N>`` (``-m "ffdml and
figure4"``).

CI selection (``--smoke-selection=ci``, :func:`ci_selection`): per registered method, every row
that trains the method's most shared smoke config (one training per method: runs are cached by
fingerprint); rows that do not run (reference, not applicable, not yet implemented) stay collected
and skip with their reason, so every table shows whole; plus every method's broken controls
(test_controls.py), which must fail the sanity bound, except those known not to be caught (marker
``blind_control``, run by the full smoke set). No figure point is in the CI selection (a sweep trains one model per
point; the full smoke set runs each figure's ``smoke_values``). Each smoke case is in the ``xdist_group`` of
its first training's fingerprint (:meth:`Bench.group`), so ``-n 2 --dist loadgroup`` keeps the rows of
one training on one worker instead of leaving a worker waiting on the other's run lock.

Smoke cases run with any thread count (xdist workers take one torch thread each): a smoke verdict
is statistical (reid.harness.smoke_golden), not a bitwise match with one machine's recording.

Fresh after every run: at the session's end (under pytest-xdist on the controller, once every worker has written
its case results) the HTML report of the profile and its verdicts (``verdicts.csv``, ``verdicts.json``) are rendered
from the case results in the runs folder, as ``reid report`` renders them, and the terminal summary names the index
page. Nothing is rendered without a case result of the profile, nor for ``--collect-only``; a rendering error is a
warning line in the summary and leaves the outcome and the exit status as they are.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from reid.config import fingerprint
from reid.engine.run_config import DATA_ROOT_ENV, pretrained_files, resolve_device, set_threads
from reid.errors import ConfigError, GoldenError
from reid.golden import PAPERS, Golden, load_golden
from reid.harness.cases import REGDB_SPLITS, Case, check_regdb_splits, plan, table_cases
from reid.harness.controls import ControlNotCaughtError, ci_control_problems
from reid.harness.figures import FigurePoint, check_figure, figure_points, plan_point, reproduce_point
from reid.harness.reproduce import KNOWN_BELOW_BOUND, reproduce_case
from reid.harness.result import load_results
from reid.harness.selection import ci_selection
from reid.report import render_results

if os.environ.get("PYTEST_XDIST_WORKER"):
    set_threads(1)

REPO_ROOT = Path(__file__).resolve().parent.parent
MAX_TABLES = 12
SESSION_REPORT = pytest.StashKey[str]()
"""The terminal summary's line about the report rendered at the session's end."""


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("vireid-repro benchmarks")
    group.addoption("--gpu", action="store_true", help="paper profile on CUDA with the real data sets")
    group.addoption(
        "--profile",
        choices=("smoke", "paper"),
        default=None,
        help="smoke (synthetic data, small sizes; default without --gpu) or paper (default with --gpu)",
    )
    group.addoption("--data-root", default=None, help=f"folder of the real data sets (default ${DATA_ROOT_ENV})")
    group.addoption(
        "--runs-dir",
        default=str(REPO_ROOT / "runs" / "benchmarks"),
        help="runs, their cache and case results (default runs/benchmarks/<profile>)",
    )
    group.addoption("--pretrained", action="append", default=[], metavar="[ARCH=]PATH",
                    help="ImageNet weights for paper-profile runs, one per architecture: ARCH=PATH (resnet50=PATH), a "
                         "folder of torchvision's files, or a file named as torchvision does (repeatable)")
    group.addoption("--from-scratch", action="store_true",
                    help="let paper-profile runs start from scratch when no ImageNet weights file is found (refused "
                         "otherwise; a file that is found is still used)")
    group.addoption("--report-dir", default=str(REPO_ROOT / "reports"), metavar="DIR",
                    help="where the report of the session's profile is rendered at its end (default reports/, as "
                         "reid report)")
    group.addoption("--regdb-splits", type=int, default=REGDB_SPLITS, metavar="N",
                    help=f"paper profile: a RegDB setting trains its first N splits, 1 to {REGDB_SPLITS}, each on its "
                         f"own, and compares their mean with the paper's (default {REGDB_SPLITS}, as the papers)")
    group.addoption(
        "--smoke-selection",
        choices=("ci", "all"),
        default="all",
        help="smoke profile: every runnable row (all) or the CI selection (ci)",
    )


def pytest_configure(config: pytest.Config) -> None:
    gpu = config.getoption("--gpu")
    profile = config.getoption("--profile") or ("paper" if gpu else "smoke")
    try:
        check_regdb_splits(config.getoption("--regdb-splits"))
    except ConfigError as err:
        raise pytest.UsageError(str(err)) from None
    if gpu or profile == "paper":
        try:  # the rule is the engine's: the paper profile needs CUDA
            resolve_device(None, profile="paper")
        except ConfigError as err:
            raise pytest.UsageError(f"{'--gpu' if gpu else '--profile paper'}: {err}") from None
    for paper in PAPERS:
        config.addinivalue_line("markers", f"{paper}: rows of the {paper} paper's tables")
    for number in range(1, MAX_TABLES + 1):
        config.addinivalue_line("markers", f"table{number}: rows of a paper's Table {number}")
        config.addinivalue_line("markers", f"figure{number}: points of a paper's Figure {number} (a sweep)")


class Bench:
    """What every case needs: the golden files and the command-line options."""

    def __init__(self, config: pytest.Config) -> None:
        self.golden: Golden = load_golden()
        self.gpu = config.getoption("--gpu")
        self.profile = config.getoption("--profile") or ("paper" if self.gpu else "smoke")
        root = config.getoption("--data-root")  # else the config builder reads $REID_DATA_ROOT
        self.data_root = Path(root) if root else None
        self.runs_dir = Path(config.getoption("--runs-dir")) / self.profile
        try:
            self.pretrained = pretrained_files(config.getoption("--pretrained"))
        except ConfigError as err:
            raise pytest.UsageError(str(err)) from None
        self.from_scratch = config.getoption("--from-scratch")
        self.regdb_splits = config.getoption("--regdb-splits")  # checked by pytest_configure
        # pytest_configure refused a paper profile or --gpu without CUDA.
        self.device = "cuda" if self.gpu or self.profile == "paper" else "cpu"

    def check(self, case: Case) -> None:
        """Run ``case``; skip with its reason, or fail listing every deviation."""
        result = reproduce_case(
            case,
            self.golden,
            profile=self.profile,
            runs_dir=self.runs_dir,
            device=self.device,
            data_root=self.data_root,
            pretrained=self.pretrained,
            from_scratch=self.from_scratch,
            regdb_splits=self.regdb_splits,
        )
        if result.outcome == "skipped":
            pytest.skip(result.reason)
        if result.outcome == "failed" and result.reason and result.reason.startswith(KNOWN_BELOW_BOUND):
            pytest.xfail(f"{result.reason}\n  " + "\n  ".join(result.problems))
        if result.outcome == "failed":
            pytest.fail(
                f"{case.table.key} / {case.id} ({result.expected_source}):\n  " + "\n  ".join(result.problems),
                pytrace=False,
            )

    def check_point(self, point: FigurePoint) -> None:
        """Run a figure sweep's ``point``; skip with its reason, or fail listing its problems (a metric not measured
        or not finite; in smoke, the sanity bound). The text's stated optimum is never asserted: the report judges
        it from every point's result in the paper profile."""
        result = reproduce_point(
            point,
            self.golden,
            profile=self.profile,
            runs_dir=self.runs_dir,
            device=self.device,
            data_root=self.data_root,
            pretrained=self.pretrained,
            from_scratch=self.from_scratch,
            regdb_splits=self.regdb_splits,
        )
        if result.outcome == "skipped":
            pytest.skip(result.reason)
        if result.outcome == "failed" and result.reason and result.reason.startswith(KNOWN_BELOW_BOUND):
            pytest.xfail(f"{result.reason}\n  " + "\n  ".join(result.problems))
        if result.outcome == "failed":
            pytest.fail(f"{point.figure.key} / {point.id}:\n  " + "\n  ".join(result.problems), pytrace=False)

    def point_group(self, point: FigurePoint) -> str:
        """A figure point's xdist group, as :meth:`group`: the fingerprint of its training under the smoke profile
        (points that train the same model, and table rows that do, share a worker), else its method."""
        if self.profile != "smoke" or point.skip_reason() is not None:
            return point.figure.method
        return fingerprint(plan_point(point, self.golden, "smoke")[0].config)

    def group(self, case: Case) -> str:
        """The case's xdist group: under the smoke profile the fingerprint of its first training, so rows that train
        the same model share a worker (no worker waits on the other's run lock) and different models spread over
        the workers (one group per method put CMMP's 27 smoke trainings on one worker); else its method."""
        if self.profile != "smoke" or case.skip_reason() is not None:
            return case.row.method or "none"
        return fingerprint(plan(case, self.golden, "smoke")[0].config)

    def check_control(self, method: str, name: str) -> None:
        """Train ``method``'s CI smoke config broken by control ``name``; fail unless the smoke verdict catches it."""
        if self.profile != "smoke":
            pytest.skip("broken controls are smoke-tier cases (CPU, synthetic data)")
        try:
            problems = ci_control_problems(self.golden, method, name, self.runs_dir, device=self.device)
        except GoldenError as err:
            pytest.fail(str(err), pytrace=False)
        if not problems:
            raise ControlNotCaughtError(f"{method} broken by {name} passes the smoke verdict of its CI row: the smoke "
                                        "tier cannot tell it from a working run")


# pytest_generate_tests runs before any fixture exists, so the golden files are read once per process here and
# the session fixture hands out the same object.
_BENCH: Bench | None = None


def _bench(config: pytest.Config) -> Bench:
    global _BENCH
    if _BENCH is None:
        _BENCH = Bench(config)
    return _BENCH


@pytest.fixture(scope="session")
def bench(request: pytest.FixtureRequest) -> Bench:
    return _bench(request.config)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "point" in metafunc.fixturenames:
        _parametrize_points(metafunc)
    if "case" not in metafunc.fixturenames:
        return
    module = metafunc.module
    cases = table_cases(_bench(metafunc.config).golden, module.PAPER, module.TABLE)
    marks = [getattr(pytest.mark, module.PAPER), getattr(pytest.mark, f"table{module.TABLE}")]
    bench = _bench(metafunc.config)
    metafunc.parametrize("case", [
        pytest.param(c, id=c.id, marks=[*marks, pytest.mark.xdist_group(bench.group(c))]) for c in cases
    ])


def _parametrize_points(metafunc: pytest.Metafunc) -> None:
    """One case per point of the module's figure (``PAPER``, ``FIGURE``) under the session's profile."""
    module, bench = metafunc.module, _bench(metafunc.config)
    check_figure(bench.golden.figures[(module.PAPER, module.FIGURE)])  # a bad figure file fails the collection
    points = figure_points(bench.golden, module.PAPER, module.FIGURE, bench.profile)
    marks = [getattr(pytest.mark, module.PAPER), getattr(pytest.mark, f"figure{module.FIGURE}")]
    metafunc.parametrize("point", [
        pytest.param(p, id=p.id, marks=[*marks, pytest.mark.xdist_group(bench.point_group(p))]) for p in points
    ])


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("--smoke-selection") != "ci" or _bench(config).profile != "smoke":
        return
    selected = ci_selection(_bench(config).golden)
    keep, drop = [], []
    for item in items:
        if hasattr(item, "callspec") and "point" in item.callspec.params:  # a figure sweep's point: never in CI
            drop.append(item)
            continue
        case = item.callspec.params.get("case") if hasattr(item, "callspec") else None
        runs = case is not None and case.skip_reason() is None
        key = (case.table.paper, case.table.table, case.id) if case is not None else None
        blind = item.get_closest_marker("blind_control") is not None  # known not caught: the full smoke set runs it
        (keep if (not runs or key in selected) and not blind else drop).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


def render_session_report(golden: Golden, profile: str, runs_dir: Path, report_dir: Path) -> str | None:
    """Render the report of ``profile`` from the case results under ``runs_dir`` into ``report_dir``.

    Returns:
        The terminal summary's line: the index page's path, or a warning naming the error when rendering failed;
        ``None`` when ``runs_dir`` holds no case result of ``profile`` (nothing rendered).
    """
    try:
        if not any(result.profile == profile for result in load_results(runs_dir)):
            return None
        written = render_results(golden, profile, runs_dir, report_dir)
    except Exception as err:  # the report is a by-product: its failure must not hide or change the cases' outcome
        return f"WARNING: the {profile} report was not rendered into {report_dir}: {type(err).__name__}: {err}"
    exports = ", ".join(path.name for path in written if path.suffix != ".html")
    return f"{profile} report: {written[0]} (verdicts: {exports})"


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    config = session.config
    # An xdist worker has written only its own cases: the controller renders once, after all of them.
    if hasattr(config, "workerinput") or config.getoption("collectonly"):
        return
    try:
        bench = _bench(config)
    except Exception as err:  # e.g. a golden file that does not load: said in the summary, the exit status stays
        config.stash[SESSION_REPORT] = f"WARNING: the report was not rendered: {type(err).__name__}: {err}"
        return
    line = render_session_report(bench.golden, bench.profile, bench.runs_dir, Path(config.getoption("--report-dir")))
    if line is not None:
        config.stash[SESSION_REPORT] = line


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, exitstatus: int, config: pytest.Config) -> None:
    line = config.stash.get(SESSION_REPORT, None)
    if line is not None:
        terminalreporter.write_line(line, yellow=line.startswith("WARNING"), bold=True)
