"""Is the synthetic VI-ReID data learnable, and does its modality gap behave? A documented experiment.

A small CNN (four conv blocks, global average pooling, a BN neck, a linear classifier) is
trained briefly with cross-entropy on the train identities of
:class:`reid.data.datasets.synthetic.SyntheticVIReID` (both modalities, 64x32), then its
L2-normalised BN-neck features rank the unseen test identities:

* cross-modality: every infrared test image queries every visible test image;
* same-modality: every visible test image queries the visible test images of the other cameras.

Rank-1 and mAP (percent) are printed next to their exact chance levels (random ranking),
for each ``--modality-gap``. This tests the DATA, not a paper method: the model and metrics
are self-contained on purpose (no dependency on ``reid.eval``). It also times rendering.

Usage::

    python benchmarks/perf/synthetic_learnability.py                   # gaps 0.0 0.5 1.0, 300 steps
    python benchmarks/perf/synthetic_learnability.py --modality-gap 0.5 --steps 150 --seed 1

``tests/test_synthetic_learnable.py`` runs :func:`run_experiment` with a small budget.
"""

from __future__ import annotations

import argparse
import itertools
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

import reid  # noqa: F401  (imports torchvision through the compat shim first)
from reid.data.datasets.synthetic import SyntheticVIReID
from reid.data.sample import Modality, Sample, relabel

HEIGHT, WIDTH = 64, 32


@dataclass(frozen=True)
class Retrieval:
    """Rank-1 and mAP in percent, with what a random ranking would score on the same sets."""

    rank1: float
    mAP: float
    chance_rank1: float
    chance_mAP: float


@dataclass(frozen=True)
class Result:
    """One experiment: cross- and same-modality retrieval on the test identities."""

    modality_gap: float
    cross: Retrieval
    same: Retrieval
    train_seconds: float


def expected_random_ap(num_relevant: int, num_items: int) -> float:
    """Exact expected average precision of a uniformly random ranking.

    With ``R`` relevant among ``N`` items, ``E[AP] = H_N / N + (R - 1) / (N (N - 1)) * (N - H_N)``
    (H_N the N-th harmonic number): from ``AP = (1/R) sum_k rel_k * hits_k / k`` with
    ``E[rel_k] = R/N`` and ``E[rel_k rel_j] = R (R - 1) / (N (N - 1))`` for ``j != k``.
    """
    n, r = num_items, num_relevant
    harmonic = float(np.sum(1.0 / np.arange(1, n + 1)))
    if n == 1:
        return 1.0
    return harmonic / n + (r - 1) / (n * (n - 1)) * (n - harmonic)


def retrieval(
    query: np.ndarray, query_pids: np.ndarray, gallery: np.ndarray, gallery_pids: np.ndarray, valid: np.ndarray
) -> Retrieval:
    """Rank-1 and mAP of cosine ranking, and their chance levels.

    Args:
        query: ``[Q, D]`` L2-normalised features; gallery: ``[G, D]``.
        query_pids, gallery_pids: identities ``[Q]``, ``[G]``.
        valid: ``bool [Q, G]``: which gallery items each query may see (e.g. other cameras).
            Queries without a true match among their valid items are skipped.
    """
    scores = query @ gallery.T
    hits, aps, chance_hits, chance_aps = [], [], [], []
    for q in range(len(query)):
        keep = valid[q]
        relevant = gallery_pids[keep] == query_pids[q]
        if not relevant.any():
            continue
        order = np.argsort(-scores[q, keep], kind="stable")
        ranked = relevant[order]
        positions = np.flatnonzero(ranked) + 1
        hits.append(float(ranked[0]))
        aps.append(float(np.mean(np.arange(1, len(positions) + 1) / positions)))
        chance_hits.append(relevant.sum() / len(relevant))
        chance_aps.append(expected_random_ap(int(relevant.sum()), len(relevant)))
    return Retrieval(
        rank1=100.0 * float(np.mean(hits)),
        mAP=100.0 * float(np.mean(aps)),
        chance_rank1=100.0 * float(np.mean(chance_hits)),
        chance_mAP=100.0 * float(np.mean(chance_aps)),
    )


class SmallCNN(nn.Module):
    """Four conv-BN-ReLU blocks (``width``-2x-4x-4x channels), average pooling, BN neck, classifier.

    Input ``[B, 3, 64, 32]``; ``forward`` returns (neck features ``[B, 4 * width]``, logits ``[B, C]``).
    """

    def __init__(self, num_classes: int, generator: torch.Generator, width: int = 32) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        channels = (3, width, 2 * width, 4 * width, 4 * width)
        for i, (cin, cout) in enumerate(itertools.pairwise(channels)):
            layers += [nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]
            if i < 3:
                layers.append(nn.MaxPool2d(2))
        self.body = nn.Sequential(*layers)
        self.neck = nn.BatchNorm1d(channels[-1])
        self.classifier = nn.Linear(channels[-1], num_classes, bias=False)
        # Explicit initialisation from the given generator: no global RNG involved.
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu", generator=generator)
            elif isinstance(module, nn.Linear):
                nn.init.normal_(module.weight, std=0.01, generator=generator)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        pooled = self.body(x).mean(dim=(2, 3))
        feature = self.neck(pooled)
        return feature, self.classifier(feature)


def images_tensor(dataset: SyntheticVIReID, samples: Sequence[Sample]) -> torch.Tensor:
    """Render ``samples`` into ``float [N, 3, H, W]`` in [0, 1]."""
    pixels = np.stack([dataset.render(s.camid, s.pid, s.instance) for s in samples])
    return torch.from_numpy(pixels).permute(0, 3, 1, 2).float().div_(255.0)


def train(
    model: SmallCNN,
    images: torch.Tensor,
    labels: torch.Tensor,
    steps: int,
    batch_size: int,
    generator: torch.Generator,
) -> None:
    """Cross-entropy with Adam on random batches, random horizontal flips."""
    optimiser = torch.optim.Adam(model.parameters(), lr=2e-3, weight_decay=5e-4)
    loss_fn = nn.CrossEntropyLoss()
    model.train()
    for _ in range(steps):
        index = torch.randint(len(images), (batch_size,), generator=generator)
        batch = images[index]
        flip = torch.rand(len(batch), generator=generator) < 0.5
        batch = torch.where(flip[:, None, None, None], batch.flip(3), batch)
        _, logits = model(batch)
        loss = loss_fn(logits, labels[index])
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()


@torch.no_grad()
def features(model: SmallCNN, images: torch.Tensor) -> np.ndarray:
    """L2-normalised neck features, ``[N, D]``."""
    model.eval()
    feats = torch.cat([model(chunk)[0] for chunk in images.split(256)])
    return torch.nn.functional.normalize(feats, dim=1).numpy()


def run_experiment(
    modality_gap: float,
    *,
    steps: int = 300,
    seed: int = 0,
    num_train_ids: int = 48,
    num_test_ids: int = 16,
    width: int = 32,
    batch_size: int = 64,
) -> Result:
    """Train on the train ids of ``SyntheticVIReID(seed, modality_gap)``, evaluate on its test ids."""
    dataset = SyntheticVIReID(
        seed=seed,
        num_train_ids=num_train_ids,
        num_test_ids=num_test_ids,
        height=HEIGHT,
        width=WIDTH,
        modality_gap=modality_gap,
    )
    generator = torch.Generator().manual_seed(seed)
    labels_of = relabel(s.pid for s in dataset.train)
    model = SmallCNN(len(labels_of), generator, width)
    start = time.perf_counter()
    train(
        model,
        images_tensor(dataset, dataset.train),
        torch.tensor([labels_of[s.pid] for s in dataset.train]),
        steps,
        batch_size,
        generator,
    )
    train_seconds = time.perf_counter() - start
    test = dataset.test
    feats = features(model, images_tensor(dataset, test))
    pids = np.array([s.pid for s in test])
    cams = np.array([s.camid for s in test])
    infrared = np.array([s.modality is Modality.INFRARED for s in test])
    visible = ~infrared
    cross = retrieval(
        feats[infrared],
        pids[infrared],
        feats[visible],
        pids[visible],
        np.ones((infrared.sum(), visible.sum()), dtype=bool),
    )
    same = retrieval(
        feats[visible],
        pids[visible],
        feats[visible],
        pids[visible],
        cams[visible][:, None] != cams[visible][None, :],
    )
    return Result(modality_gap, cross, same, train_seconds)


def rendering_speed(height: int, width: int, count: int = 500) -> float:
    """Milliseconds per image of ``SyntheticVIReID.render`` at (height, width), fresh data set."""
    dataset = SyntheticVIReID(height=height, width=width)
    samples = (dataset.train + dataset.test)[:count]
    start = time.perf_counter()
    for s in samples:
        dataset.render(s.camid, s.pid, s.instance)
    return 1000.0 * (time.perf_counter() - start) / len(samples)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--modality-gap",
        type=float,
        nargs="+",
        default=[0.0, 0.5, 1.0],
        help="modality gaps to try (default: 0.0 0.5 1.0)",
    )
    parser.add_argument("--steps", type=int, default=300, help="training steps of batch 64 (default 300)")
    parser.add_argument("--seed", type=int, default=0, help="data and model seed (default 0)")
    parser.add_argument("--train-ids", type=int, default=48, help="training identities (default 48)")
    parser.add_argument("--test-ids", type=int, default=16, help="test identities (default 16)")
    args = parser.parse_args(argv)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    for size in ((128, 64), (HEIGHT, WIDTH)):
        print(f"rendering {size[0]}x{size[1]}: {rendering_speed(*size):.3f} ms/image")
    print(
        f"{args.train_ids} train ids, {args.test_ids} test ids, {args.steps} steps, seed {args.seed}, "
        f"images {HEIGHT}x{WIDTH}; metrics in percent, chance = random ranking"
    )
    header = (
        f"{'gap':>4} | {'cross R1':>8} {'chance':>6} {'cross mAP':>9} {'chance':>6} | "
        f"{'same R1':>7} {'chance':>6} {'same mAP':>8} {'chance':>6} | {'train s':>7}"
    )
    print(header)
    print("-" * len(header))
    for gap in args.modality_gap:
        r = run_experiment(
            gap, steps=args.steps, seed=args.seed, num_train_ids=args.train_ids, num_test_ids=args.test_ids
        )
        c, s = r.cross, r.same
        print(
            f"{gap:>4.2f} | {c.rank1:>8.1f} {c.chance_rank1:>6.1f} {c.mAP:>9.1f} {c.chance_mAP:>6.1f} | "
            f"{s.rank1:>7.1f} {s.chance_rank1:>6.1f} {s.mAP:>8.1f} {s.chance_mAP:>6.1f} | {r.train_seconds:>7.1f}"
        )


if __name__ == "__main__":
    main()
