"""What the smoke tier costs and what it can tell: whole smoke runs against random features and the machine.

Not a test: prints figures. Usage::

    python benchmarks/perf/smoke_budget.py [--methods agw,caj,cmmp,xiv] [--seeds 0,1] [--controls]
                                           [--threads N] [key=value ...]

Each method trains its CI smoke config (the config its CI cases check, ``reid.harness.selection``) once per
seed, plus the overrides, from scratch in a temporary runs folder, and is evaluated as the run evaluates it.
Printed per run: wall time in seconds and in reference steps, the test set's size, rank-1 and mAP against
those of random features on the same trials and their ratios, and whether the run clears the smoke sanity
bound (``reid.harness.compare``). Then per method: the mean ratios over the seeds against the smoke tier's
learning goal (rank-1 at least 3x and mAP at least 2x random features, mean of at least 2 seeds) and the
seed range. ``--controls`` also trains each broken control (``reid.harness.controls``) of seed 0, which
must fail the bound.

The first lines measure this machine: the time of a reference step (torchvision ResNet-18, batch 32 at 64 x 32,
forward + backward + SGD, one thread) and the smoke budgets in reference steps, so a slower or faster machine reads
the same budget: CI (``.ci/run``) and the full smoke set are budgeted at :data:`CI_BUDGET_STEPS` and
:data:`FULL_SMOKE_BUDGET_STEPS` reference steps (15 and 45 minutes on the machine whose step took
:data:`BUDGET_REFERENCE_MS`), and each run's wall time is printed in reference steps too.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import statistics
import sys
import tempfile
import time

import torch

import reid  # noqa: F401  (torchvision shim before anything imports torchvision)
from reid.checks import positive_int_argument
from reid.compat import import_torchvision
from reid.config import RunConfig, apply_overrides
from reid.engine.control import RunControl
from reid.engine.run import run
from reid.errors import NonFiniteFeaturesError, NonFiniteLossError
from reid.golden import load_golden
from reid.harness.compare import (
    SANITY_MAP_FACTOR,
    SANITY_RANK1_FACTOR,
    random_features_metrics,
    sanity_problems,
)
from reid.harness.controls import CONTROLS
from reid.harness.execute import SettingResult, primary_metrics
from reid.harness.selection import ci_trainings

REFERENCE_THREADS = 1
"""The reference step runs with one torch thread, as every CI worker does (``-n 2``, one thread each), whatever
``--threads`` the smoke runs use: a budget is a count of steps of one fixed kind."""

BUDGET_REFERENCE_MS = 225.0
"""The reference step on the 2-core machine the budgets were set on (AMD EPYC, 2026-12-07; 219-231 ms)."""

CI_BUDGET_STEPS = round(15 * 60 * 1000 / BUDGET_REFERENCE_MS)
"""CI's budget, ``.ci/run`` on 2 cores, in reference steps (15 minutes at :data:`BUDGET_REFERENCE_MS`)."""

FULL_SMOKE_BUDGET_STEPS = round(45 * 60 * 1000 / BUDGET_REFERENCE_MS)
"""The full smoke set's budget (every runnable row, one seed, 2 cores) in reference steps (45 minutes)."""

LEARNING_GOAL = {"rank1": 3.0, "mAP": 2.0}
"""The smoke tier's learning goal: the mean over seeds of a CI config's rank-1 and mAP, in multiples of
random features' on the same trials."""


def resnet18_step_ms(repeats: int = 10) -> float:
    """Median milliseconds of the reference step: torchvision ResNet-18, batch 32 x 3 x 64 x 32, forward, backward
    and SGD step, with :data:`REFERENCE_THREADS` torch threads (the process's count is restored after)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(REFERENCE_THREADS)
    try:
        model = import_torchvision().models.resnet18(num_classes=100)
        optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
        generator = torch.Generator().manual_seed(0)
        images = torch.randn(32, 3, 64, 32, generator=generator)
        labels = torch.randint(0, 100, (32,), generator=generator)
        times = []
        for _ in range(repeats + 2):
            start = time.perf_counter()
            optimizer.zero_grad()
            torch.nn.functional.cross_entropy(model(images), labels).backward()
            optimizer.step()
            times.append(time.perf_counter() - start)
    finally:
        torch.set_num_threads(threads)
    return 1000 * statistics.median(times[2:])


@dataclasses.dataclass(frozen=True)
class SmokeRun:
    """One smoke run's figures (metrics in percent, of the primary feature, mean over trials)."""

    method: str
    seed: int
    control: str | None
    wall_s: float
    train_s: float
    rank1: float
    mAP: float
    random_rank1: float
    random_mAP: float
    num_query: int
    gallery_ids: int
    clears_bound: bool
    diverged: str | None = None

    @property
    def rank1_ratio(self) -> float:
        return self.rank1 / self.random_rank1

    @property
    def map_ratio(self) -> float:
        return self.mAP / self.random_mAP


def smoke_run(
    method: str, base: RunConfig, seed: int, overrides: list[str], out_dir: str, control: RunControl | None = None
) -> SmokeRun:
    """Train and evaluate ``base`` (``method``'s CI smoke config) with ``seed`` and the overrides (broken by
    ``control``); time the run."""
    config = dataclasses.replace(apply_overrides(base, overrides), seed=seed)
    start = time.perf_counter()
    try:
        record = run(config, out_dir=out_dir, device="cpu", resume=False, control=control)
    except (NonFiniteLossError, NonFiniteFeaturesError) as err:
        return SmokeRun(method, seed, None if control is None else control.name, time.perf_counter() - start, 0.0,
                        math.nan, math.nan, math.nan, math.nan, 0, 0, False, diverged=f"{type(err).__name__}")
    wall = time.perf_counter() - start
    evaluation = record.final_evaluation
    metrics = primary_metrics(evaluation)
    random = random_features_metrics(evaluation)
    problems = sanity_problems({"run": SettingResult("run", metrics, evaluation, record.fingerprint, None)})
    return SmokeRun(
        method=method,
        seed=seed,
        control=None if control is None else control.name,
        wall_s=wall,
        train_s=sum(epoch["train"]["seconds"] for epoch in record.epochs),
        rank1=metrics["rank1"],
        mAP=metrics["mAP"],
        random_rank1=random["rank1"],
        random_mAP=random["mAP"],
        num_query=min(split["num_query"] for split in evaluation["splits"]),
        gallery_ids=min(split["num_gallery_ids"] for split in evaluation["splits"]),
        clears_bound=not problems,
    )


def describe(result: SmokeRun, step_ms: float) -> str:
    name = result.method + (f" {result.control}" if result.control else "")
    if result.diverged:
        return f"{name} seed {result.seed}: {result.wall_s:6.1f} s wall; diverged ({result.diverged}); FAILS the bound"
    verdict = "clears the bound" if result.clears_bound else "FAILS the bound"
    return (
        f"{name} seed {result.seed}: {result.wall_s:6.1f} s wall = {1000 * result.wall_s / step_ms:5.0f} reference "
        f"steps ({result.train_s:.1f} s training); {result.num_query} queries, {result.gallery_ids} gallery ids; "
        f"rank-1 {result.rank1:5.2f} = {result.rank1_ratio:.1f}x random ({result.random_rank1:.2f}), "
        f"mAP {result.mAP:5.2f} = {result.map_ratio:.1f}x random ({result.random_mAP:.2f}); {verdict}"
    )


def _names(text: str) -> list[str]:
    names = [name for name in text.split(",") if name]
    if not names:
        raise argparse.ArgumentTypeError(f"expected comma-separated method names, got {text!r}")
    return names


def _seeds(text: str) -> list[int]:
    try:
        seeds = [int(part) for part in text.split(",") if part]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated non-negative integers, got {text!r}") from None
    if not seeds or min(seeds) < 0:
        raise argparse.ArgumentTypeError(f"expected comma-separated non-negative integers, got {text!r}")
    return seeds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--methods", type=_names, default=None,
                        help="comma-separated (default: every method with a CI smoke config)")
    parser.add_argument("--seeds", type=_seeds, default=[0, 1], help="comma-separated run seeds (default 0,1)")
    parser.add_argument("--controls", action="store_true", help="also train each broken control (seed 0 only)")
    parser.add_argument("--threads", type=positive_int_argument, default=None,
                        help="torch threads (default: torch's own)")
    parser.add_argument("--reference-repeats", type=positive_int_argument, default=10,
                        help="timed steps of the ResNet-18 reference (default 10)")
    parser.add_argument("overrides", nargs="*", help="key=value config overrides on top of the CI smoke config")
    args = parser.parse_args(argv)
    # Planned once: every case of every table is planned to find each method's CI config.
    configs = {method: training.config for method, training in ci_trainings(load_golden()).items()}
    unknown = [name for name in args.methods or () if name not in configs]
    if unknown:
        parser.error(f"--methods: {', '.join(unknown)} has no CI smoke config; expected some of "
                     f"{', '.join(sorted(configs))}")
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    methods = args.methods or sorted(configs)

    step = resnet18_step_ms(args.reference_repeats)
    print(
        f"torch {torch.__version__}, cpu, runs with {torch.get_num_threads()} threads; reference step "
        f"({REFERENCE_THREADS} thread) {step:.0f} ms = {step / BUDGET_REFERENCE_MS:.2f}x the budget machine's "
        f"{BUDGET_REFERENCE_MS:.0f} ms"
    )
    print(
        f"budgets: CI {CI_BUDGET_STEPS} reference steps = {CI_BUDGET_STEPS * step / 60000:.1f} min here; "
        f"full smoke set {FULL_SMOKE_BUDGET_STEPS} reference steps = {FULL_SMOKE_BUDGET_STEPS * step / 60000:.1f} "
        f"min here (2 cores); sanity bound: rank-1 > {SANITY_RANK1_FACTOR:g}x and mAP > {SANITY_MAP_FACTOR:g}x "
        "random features"
    )
    runs: list[SmokeRun] = []
    with tempfile.TemporaryDirectory(prefix="smoke-budget-") as out_dir:
        for method in methods:
            for seed in args.seeds:
                runs.append(smoke_run(method, configs[method], seed, args.overrides, out_dir))
                print(describe(runs[-1], step), flush=True)
            if args.controls:
                for name in sorted(CONTROLS):
                    runs.append(smoke_run(method, configs[method], 0, args.overrides, out_dir, CONTROLS[name]))
                    print(describe(runs[-1], step), flush=True)
    for method in methods:
        mine = [r for r in runs if r.method == method and r.control is None and not r.diverged]
        if not mine:
            print(f"{method}: every seed diverged; learning goal NOT met")
            continue
        rank1 = statistics.mean(r.rank1_ratio for r in mine)
        mean_map = statistics.mean(r.map_ratio for r in mine)
        goal = rank1 >= LEARNING_GOAL["rank1"] and mean_map >= LEARNING_GOAL["mAP"] and len(mine) >= 2
        print(
            f"{method} mean over {len(mine)} seed(s): {statistics.mean(r.wall_s for r in mine):.1f} s wall; "
            f"rank-1 {statistics.mean(r.rank1 for r in mine):.2f} = {rank1:.1f}x random "
            f"(seeds {min(r.rank1 for r in mine):.2f}-{max(r.rank1 for r in mine):.2f}), "
            f"mAP {statistics.mean(r.mAP for r in mine):.2f} = {mean_map:.1f}x random "
            f"(seeds {min(r.mAP for r in mine):.2f}-{max(r.mAP for r in mine):.2f}); learning goal "
            f"(>= {LEARNING_GOAL['rank1']:g}x, >= {LEARNING_GOAL['mAP']:g}x, >= 2 seeds) "
            + ("met" if goal else "NOT met")
        )
        controls = [r for r in runs if r.method == method and r.control is not None]
        if controls:
            caught = sum(not r.clears_bound for r in controls)
            print(f"{method} broken controls failing the bound (as they must): {caught} of {len(controls)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
