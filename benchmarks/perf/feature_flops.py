"""FLOPs of a method's feature extractor at its paper input, for each last stride: the evidence of a FLOPs claim.

Not a test: prints figures. Usage::

    python benchmarks/perf/feature_flops.py [--method xiv] [--strides 1 2]

For each ``model.last_stride`` it builds the method's paper config without ImageNet weights and prints the forward
FLOPs of one image through the backbone (``torch.utils.flop_counter``, which counts 2 per multiply-add), the
multiply-adds (what papers usually call FLOPs), and the training FLOPs per image of the method's own step as
``reid plan`` measures them. xiv.txt quotes 2.7 G for its extractor at 256 x 128 (docs/decisions.md, "Last stride
1, against the 2.7 GFLOPs the paper quotes").
"""

from __future__ import annotations

import argparse
import sys

import torch
from torch.utils.flop_counter import FlopCounterMode

import reid  # noqa: F401  (torchvision shim before anything imports torchvision)
from reid.harness.plan import measure_training, probe, without_pretrained
from reid.profiles import build_config


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--method", default="xiv")
    parser.add_argument("--strides", type=int, nargs="+", default=[1, 2])
    args = parser.parse_args(argv)
    print(f"{'last_stride':>11}  {'input':>9}  {'forward GFLOP':>13}  {'G mult-adds':>11}  {'train GFLOP/image':>17}")
    for stride in args.strides:
        config = without_pretrained(build_config(args.method, "paper", [f"model.last_stride={stride}"]))
        method, _ = probe(config, torch.Generator().manual_seed(0))
        image = torch.zeros(1, 3, config.data.height, config.data.width)
        method.eval()
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            method.net.backbone(image)
        forward = counter.get_total_flops()
        _, train = measure_training(config)
        size = f"{config.data.height}x{config.data.width}"
        print(f"{stride:>11}  {size:>9}  {forward / 1e9:>13.3f}  {forward / 2e9:>11.3f}  {train / 1e9:>17.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
