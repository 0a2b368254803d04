"""The ``reid`` command."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

import reid
from reid.errors import ReidError


def _demo(args: argparse.Namespace) -> int:
    from reid.data.datasets.synthetic import SyntheticVIReID
    from reid.demo import format_rows, run_demo

    dataset = SyntheticVIReID(seed=args.seed, modality_gap=args.modality_gap)
    counts = dataset.summary()
    print(
        f"synthetic data (seed {args.seed}, modality gap {args.modality_gap}): "
        f"{counts['test_ids']} test ids, {counts['test_visible']} visible + {counts['test_infrared']} infrared "
        "test images"
    )
    print("descriptor: standardised 32x16 luminance (no training); galleries: 'official' = the data set's own "
          "seeded permutations in rand_perm_cam layout, 'seeded' = AGW/CAJ per-trial random choice")
    print(format_rows(run_demo(dataset, num_trials=args.trials)))
    print(f"chance: rank-1 = {100 / counts['test_ids']:.2f} (1 of {counts['test_ids']} identities)")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="reid", description=__doc__)
    parser.add_argument("--version", action="version", version=f"vireid-repro {reid.__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser("demo", help="evaluate every SYSU-MM01 protocol option on the synthetic data")
    demo.add_argument("--seed", type=int, default=0, help="synthetic data seed (default 0)")
    demo.add_argument("--modality-gap", type=float, default=0.5, help="synthetic modality gap in [0, 1] (default 0.5)")
    demo.add_argument("--trials", type=int, default=10, help="gallery trials per setting (default 10)")
    demo.set_defaults(handler=_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``reid`` console script."""
    args = build_parser().parse_args(argv)
    try:
        return args.handler(args)
    except ReidError as err:
        print(f"reid: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
