"""What the smoke budget costs and buys: wall time and rank-1 against chance of whole smoke runs.

Not a test: prints figures. Usage::

    python benchmarks/perf/smoke_budget.py [--methods agw,caj] [--seeds 0,1] [--threads N] [key=value ...]

Each method and seed trains and evaluates once under the smoke profile (plus the overrides), from
scratch in a temporary runs folder, exactly as ``reid train METHOD --profile smoke --seed S`` does.
Printed per run: wall seconds around the whole run (data set, model, training, evaluation; not the
imports), the seconds the run record spent training (a CMMP run's fine-tuning only), and the primary
feature's rank-1 with chance (``100 / gallery identities``) and their ratio; then each method's mean
over the seeds. Foundation II asked for AGW and CAJ smoke runs under a minute on CPU that beat
chance clearly. The first line says how this machine compares (the time of a reference ResNet-18
step, against the machine this project was planned on), because the wall time moves with the
machine and the metrics do not.
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import sys
import tempfile
import time

import torch

import reid  # noqa: F401  (torchvision shim before anything imports torchvision)
from reid.checks import positive_int_argument
from reid.compat import import_torchvision
from reid.engine.run import run
from reid.errors import ReidError
from reid.harness.compare import chance_rank1
from reid.harness.execute import primary_metrics
from reid.profiles import build_config
from reid.registry import method_class

REFERENCE_STEP_MS = 120.0
"""ResNet-18, batch 32 x 3 x 64 x 32, forward + backward + SGD, 2 threads, on the planning machine."""


def resnet18_step_ms(repeats: int = 10) -> float:
    """Median milliseconds of the reference step (:data:`REFERENCE_STEP_MS`) with this process's threads."""
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
    return 1000 * statistics.median(times[2:])


@dataclasses.dataclass(frozen=True)
class SmokeRun:
    """One smoke run's figures."""

    method: str
    seed: int
    wall_s: float
    train_s: float
    rank1: float
    chance: float


def smoke_run(method: str, seed: int, overrides: list[str], out_dir: str) -> SmokeRun:
    """Train and evaluate ``method`` under the smoke profile with ``seed``; time the whole run."""
    config = dataclasses.replace(build_config(method, "smoke", overrides), seed=seed)
    start = time.perf_counter()
    record = run(config, out_dir=out_dir, device="cpu", resume=False)
    wall = time.perf_counter() - start
    chance, _ = chance_rank1(record.final_evaluation)
    train_s = sum(epoch["train"]["seconds"] for epoch in record.epochs)
    return SmokeRun(method, seed, wall, train_s, primary_metrics(record.final_evaluation)["rank1"], chance)


def _names(text: str) -> list[str]:
    names = [name for name in text.split(",") if name]
    if not names:
        raise argparse.ArgumentTypeError(f"expected comma-separated method names, got {text!r}")
    for name in names:
        try:
            method_class(name)
        except ReidError as err:
            raise argparse.ArgumentTypeError(str(err)) from None
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
    parser.add_argument("--methods", type=_names, default=["agw", "caj"], help="comma-separated (default agw,caj)")
    parser.add_argument("--seeds", type=_seeds, default=[0], help="comma-separated run seeds (default 0)")
    parser.add_argument("--threads", type=positive_int_argument, default=None,
                        help="torch threads (default: torch's own)")
    parser.add_argument("--reference-repeats", type=positive_int_argument, default=10,
                        help="timed steps of the ResNet-18 reference (default 10)")
    parser.add_argument("overrides", nargs="*", help="key=value config overrides on top of the smoke profile")
    args = parser.parse_args(argv)
    if args.threads is not None:
        torch.set_num_threads(args.threads)

    step = resnet18_step_ms(args.reference_repeats)
    print(
        f"torch {torch.__version__}, cpu, {torch.get_num_threads()} threads; ResNet-18 reference step {step:.0f} ms "
        f"({step / REFERENCE_STEP_MS:.2f}x the planning machine's {REFERENCE_STEP_MS:.0f} ms)"
    )
    runs: list[SmokeRun] = []
    with tempfile.TemporaryDirectory(prefix="smoke-budget-") as out_dir:
        for method in args.methods:
            for seed in args.seeds:
                result = smoke_run(method, seed, args.overrides, out_dir)
                runs.append(result)
                print(
                    f"{method} seed {seed}: {result.wall_s:6.1f} s wall ({result.train_s:.1f} s training), "
                    f"rank-1 {result.rank1:5.2f} = {result.rank1 / result.chance:.1f}x chance ({result.chance:.2f})"
                )
    for method in args.methods:
        mine = [r for r in runs if r.method == method]
        print(
            f"{method} mean over {len(mine)} seed(s): {statistics.mean(r.wall_s for r in mine):.1f} s wall, "
            f"rank-1 {statistics.mean(r.rank1 for r in mine):.2f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
