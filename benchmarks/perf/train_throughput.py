"""Training throughput: the model alone on random tensors against the full pipeline, and their ratio.

Not a test: prints figures. Usage::

    python benchmarks/perf/train_throughput.py [--method agw] [--profile smoke|paper] [--device cpu|cuda]
        [--steps 20] [--rounds 5] [--workers 0] [key=value ...]

Both measurements run the same method, config, optimiser and :func:`reid.engine.train.train_one_epoch`
(forward, loss, backward, step; AMP and channels-last as the config says on CUDA), for ``--steps``
batches after 3 warm-up batches, alternating ``--rounds`` times so that a machine's drift in speed
(easily +-20% on shared CPUs) falls on both alike; the ratio is the median of the rounds' ratios:

* model only: pre-made random batches of the config's shape, already on the device;
* full pipeline: the run's DataLoader (decode or render, resize, augmentation, collation, transfer).

The issue's goal is a pipeline that keeps at least 90% of the model-only speed; on a GPU that needs
``--workers`` to cover the CPU work of loading and augmenting. ``images`` counts every view of every
pair (AGW: 2 per pair, CAJ: 3).
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import sys

import torch

import reid  # noqa: F401  (torchvision shim before anything imports torchvision)
from reid.checks import positive_int_argument
from reid.data.datasets import build_dataset
from reid.data.pipeline import build_train_loader
from reid.data.sample import relabel
from reid.engine.optim import build_optimizer
from reid.engine.run import build_method, entry_resample
from reid.engine.train import train_one_epoch
from reid.methods.base import TrainBatch
from reid.profiles import build_config


def measure(method, batches, optimizer, config, device) -> float:
    """Images per second of ``train_one_epoch`` over ``batches`` (an iterable of TrainBatch)."""
    channels_last = config.channels_last and device.type == "cuda"
    scaler = torch.amp.GradScaler("cuda") if config.amp and device.type == "cuda" else None
    stats = train_one_epoch(
        method, batches, optimizer, epoch=0, device=device, scaler=scaler, amp=config.amp, channels_last=channels_last
    )
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return stats["images_per_s"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--method", default="agw")
    parser.add_argument("--profile", default="smoke", choices=("smoke", "paper"))
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    # A median of no rounds or steps is not a figure.
    parser.add_argument("--steps", type=positive_int_argument, default=20,
                        help="timed batches per measurement (default 20)")
    parser.add_argument("--rounds", type=positive_int_argument, default=5,
                        help="alternating measurements of each (default 5)")
    parser.add_argument("--workers", type=int, default=None, help="data-loader workers (default: the config's)")
    parser.add_argument("overrides", nargs="*", help="key=value config overrides")
    args = parser.parse_args(argv)

    config = build_config(args.method, args.profile, args.overrides)
    if args.workers is not None:
        config = build_config(args.method, args.profile, [*args.overrides, f"data.num_workers={args.workers}"])
    device = torch.device(args.device)
    dataset = build_dataset(config.data.dataset, config.data.root, **config.data.options)
    labels = relabel(s.pid for s in dataset.train)
    method = build_method(config, len(labels)).to(device)
    optimizer = build_optimizer(method, config.optim)
    loader, batch_sampler = build_train_loader(
        dataset,
        method.train_views(config.data.height, config.data.width),
        config.data,
        seed=config.seed,
        resample=entry_resample(config.method),
        pin_memory=device.type == "cuda",
    )

    real = list(itertools.islice(iter(loader), 1))[0]
    generator = torch.Generator().manual_seed(0)
    fake = TrainBatch(
        views={k: torch.randn(v.shape, generator=generator) for k, v in real.views.items()},
        labels=real.labels.clone(),
    ).to(device)

    def endless_loader():
        epoch = 0
        while True:
            batch_sampler.set_epoch(epoch)
            yield from loader
            epoch += 1

    warmup = 3
    measure(method, [fake] * warmup, optimizer, config, device)
    batches = endless_loader()
    measure(method, itertools.islice(batches, warmup), optimizer, config, device)
    model_only, pipeline = [], []
    for _ in range(args.rounds):
        model_only.append(measure(method, [fake] * args.steps, optimizer, config, device))
        pipeline.append(measure(method, itertools.islice(batches, args.steps), optimizer, config, device))
    ratios = [p / m for p, m in zip(pipeline, model_only)]

    views = len(real.views)
    print(
        f"torch {torch.__version__}, device {device}, {torch.get_num_threads()} threads, method {config.method}, "
        f"profile {config.profile}, {config.model.arch} at {config.data.height}x{config.data.width}, "
        f"batch {real.labels.numel()} pairs x {views} views, {config.data.num_workers} workers, "
        f"{args.rounds} rounds x {args.steps} steps each"
    )
    print(f"model only (random tensors on device): {statistics.median(model_only):8.1f} images/s (median)")
    print(f"full pipeline (load, augment, model):  {statistics.median(pipeline):8.1f} images/s (median)")
    spread = f"rounds {min(ratios):.1%} .. {max(ratios):.1%}"
    print(f"pipeline / model only: {statistics.median(ratios):.1%} median, {spread} (goal >= 90%)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
