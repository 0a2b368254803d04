"""Speed of ``reid.eval.ranking.rank_metrics`` against a per-query loop and a full argsort.

Not a test: prints figures. Usage::

    python benchmarks/perf/ranking_speed.py [--sizes sysu,vcm,big] [--repeat N] [--device cpu]
        [--threads T] [--distances features,uniform] [--dtype float32] [--loop-queries N]
        [--big-size 50000]

Sizes (synthetic, seeded; identity and camera structure of the real test sets):

* ``sysu``: SYSU-MM01 all-search multi-shot: 96 ids; queries = infrared cameras 3 and 6
  (3,803); gallery = 10 shots in 301 of the 384 (id, visible camera 1/2/4/5) pairs
  (3,010); removal ``"sysu"``, de-duplicated CMC.
* ``vcm``: HITSZ-VCM infrared -> visible: ~500 ids, 12 cameras, ~10-11 tracklets per id on
  each side (5,159 x 5,643); removal ``"same_id_same_cam"``, plain CMC.
* ``big``: 50,000 x 50,000 float32 (10 GB, filled chunkwise in place), 5,000 ids, 12
  cameras, the ``vcm`` rules; wall time and peak resident memory above the distance matrix.

The loop (b) is timed on the first ``--loop-queries`` queries and scaled to all of them;
it is single-threaded NumPy, as in the reference code. rank_metrics runs one chunk per
torch thread on CPU; torch.argsort uses the torch threads.

Distances: ``features`` = negative cosine similarity of noisy identity-centred features
(a weak trained model: mAP in the tens of percent, the realistic case); ``uniform`` =
i.i.d. uniform distances (true matches spread over the whole list: the worst case for
methods that rank only the true matches).
"""

from __future__ import annotations

import argparse
import resource
import statistics
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from reid.eval.ranking import rank_metrics


@dataclass(frozen=True)
class Case:
    """One synthetic evaluation: ids, cameras and the protocol options."""

    name: str
    q_pids: np.ndarray
    g_pids: np.ndarray
    q_cams: np.ndarray
    g_cams: np.ndarray
    removal: str
    dedup_cmc: bool


def sysu_case(rng: np.random.Generator) -> Case:
    """SYSU-MM01 multi-shot all-search structure: 3,803 IR queries, 3,010 gallery items.

    96 ids; 301 of the 384 (id, visible camera) pairs hold 10 shots each (the official
    multi-shot gallery size); queries are spread over the ids and infrared cameras 3 and 6.
    """
    num_ids = 96
    pairs = rng.choice(num_ids * 4, 301, replace=False)
    g_pids = np.repeat(pairs // 4, 10)
    g_cams = np.repeat(np.array([1, 2, 4, 5])[pairs % 4], 10)
    q_pids = rng.integers(0, num_ids, 3803)
    q_cams = rng.choice([3, 6], 3803)
    return Case("sysu", q_pids, g_pids, q_cams, g_cams, "sysu", True)


def vcm_like_case(rng: np.random.Generator, num_q: int, num_g: int, num_ids: int) -> Case:
    """HITSZ-VCM-like structure: ids spread evenly, 12 cameras, Market-style removal."""
    q_pids = rng.permutation(np.arange(num_q) % num_ids)
    g_pids = rng.permutation(np.arange(num_g) % num_ids)
    return Case(
        f"{num_q}x{num_g}",
        q_pids,
        g_pids,
        rng.integers(1, 13, num_q),
        rng.integers(1, 13, num_g),
        "same_id_same_cam",
        False,
    )


def feature_distances(case: Case, rng: np.random.Generator, out: torch.Tensor | None = None) -> torch.Tensor:
    """Negative cosine similarity of identity centre + noise features (dim 64), float32.

    Written row-chunk by row-chunk into ``out`` when given, so a 10 GB matrix needs no
    second copy.
    """
    dim = 64
    num_ids = int(max(case.q_pids.max(), case.g_pids.max())) + 1
    gen = torch.Generator().manual_seed(int(rng.integers(2**31)))
    centres = torch.randn(num_ids, dim, generator=gen)

    def embed(pids: np.ndarray) -> torch.Tensor:
        x = centres[torch.from_numpy(pids)] + 1.6 * torch.randn(len(pids), dim, generator=gen)
        return torch.nn.functional.normalize(x, dim=1)

    q, g = embed(case.q_pids), embed(case.g_pids)
    if out is None:
        return -(q @ g.T)
    for start in range(0, len(q), 4096):
        torch.matmul(q[start : start + 4096], g.T, out=out[start : start + 4096])
        out[start : start + 4096].neg_()
    return out


def uniform_distances(case: Case, rng: np.random.Generator) -> torch.Tensor:
    """I.i.d. uniform float32 distances."""
    gen = torch.Generator().manual_seed(int(rng.integers(2**31)))
    return torch.rand(len(case.q_pids), len(case.g_pids), generator=gen)


def loop_metrics(distmat: np.ndarray, case: Case, num_queries: int) -> tuple[float, float, float]:
    """The plain AGW-style per-query loop over the first ``num_queries`` rows.

    Per query: argsort the row, drop removed items, CMC (de-duplicated or not), AP, INP.
    Returns rank-1, mAP and mINP (fractions) over the valid queries.
    """
    g_loc = np.where(case.g_cams == 3, 2, case.g_cams)
    cmc, aps, inps = [], [], []
    for i in range(num_queries):
        order = np.argsort(distmat[i])
        if case.removal == "sysu":
            keep = g_loc[order] != (2 if case.q_cams[i] == 3 else case.q_cams[i])
        else:
            keep = (case.g_pids[order] != case.q_pids[i]) | (case.g_cams[order] != case.q_cams[i])
        ids = case.g_pids[order][keep]
        match = ids == case.q_pids[i]
        if not match.any():
            continue
        if case.dedup_cmc:
            _, first = np.unique(ids, return_index=True)
            hits = ids[np.sort(first)] == case.q_pids[i]
        else:
            hits = match
        cmc.append(np.minimum(np.cumsum(hits[:20]), 1))
        ranks = np.flatnonzero(match) + 1
        aps.append(np.mean(np.arange(1, len(ranks) + 1) / ranks))
        inps.append(len(ranks) / ranks[-1])
    return float(np.mean([c[0] for c in cmc])), float(np.mean(aps)), float(np.mean(inps))


def median_ms(fn: Callable[[], object], repeat: int) -> float:
    """Median wall time of ``fn`` in milliseconds (one warm-up call first)."""
    fn()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def run_small(case: Case, dist: torch.Tensor, repeat: int, loop_queries: int, label: str) -> None:
    """Time rank_metrics, the loop (scaled from a subset of queries) and one full argsort."""
    num_q, num_g = dist.shape
    metrics = rank_metrics(
        dist, case.q_pids, case.g_pids, case.q_cams, case.g_cams, removal=case.removal, dedup_cmc=case.dedup_cmc
    )
    ours = median_ms(
        lambda: rank_metrics(
            dist, case.q_pids, case.g_pids, case.q_cams, case.g_cams, removal=case.removal, dedup_cmc=case.dedup_cmc
        ),
        repeat,
    )

    def full_argsort() -> None:
        torch.argsort(dist, dim=1)
        if dist.is_cuda:
            torch.cuda.synchronize()

    argsort = median_ms(full_argsort, repeat)
    sub = min(loop_queries, num_q)
    host = dist.cpu().numpy()
    loop = median_ms(lambda: loop_metrics(host, case, sub), max(1, repeat // 2)) * num_q / sub
    print(
        f"{case.name:>5} {label:>8} {num_q}x{num_g}: rank_metrics {ours:8.1f} ms | "
        f"loop {loop:8.1f} ms (timed on {sub} queries, scaled) | torch.argsort {argsort:8.1f} ms | "
        f"loop/ours {loop / ours:5.1f}x  argsort/ours {argsort / ours:4.2f}x | "
        f"R1 {metrics.rank1:.1f} mAP {metrics.mAP:.1f} mINP {metrics.mINP:.1f}"
    )


def vm_rss_kib() -> int:
    """Current resident memory of this process (VmRSS, KiB)."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("VmRSS missing from /proc/self/status")


def run_big(rng: np.random.Generator, size: int) -> None:
    """``size`` x ``size`` (50,000: 10 GB of float32): wall time and peak memory above the matrix.

    Two measures: VmRSS sampled every 10 ms by a thread (can miss a peak shorter than
    that), and the growth of the process's lifetime peak (``ru_maxrss``), which cannot
    miss one but only shows what rises above the earlier peak of building the matrix.
    """
    case = vcm_like_case(rng, size, size, max(1, size // 10))
    dist = torch.empty(size, size, dtype=torch.float32)
    feature_distances(case, rng, out=dist)
    baseline = vm_rss_kib()
    lifetime_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    peak = baseline
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, vm_rss_kib())
            time.sleep(0.01)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    start = time.perf_counter()
    metrics = rank_metrics(
        dist, case.q_pids, case.g_pids, case.q_cams, case.g_cams, removal=case.removal, dedup_cmc=case.dedup_cmc
    )
    wall = time.perf_counter() - start
    done.set()
    sampler.join()
    lifetime_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(
        f"  big {size}x{size} float32 (distmat {dist.numel() * 4 / 2**30:.1f} GiB, baseline VmRSS "
        f"{baseline / 2**20:.2f} GiB): rank_metrics {wall:.1f} s | peak VmRSS above the filled distmat "
        f"{(peak - baseline) / 1024:.0f} MiB (sampled every 10 ms) | lifetime peak (ru_maxrss) grew by "
        f"{(lifetime_after - lifetime_before) / 1024:.0f} MiB, to {lifetime_after / 2**20:.2f} GiB | "
        f"R1 {metrics.rank1:.1f} mAP {metrics.mAP:.1f} mINP {metrics.mINP:.1f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="sysu,vcm", help="comma list of sysu, vcm, big")
    parser.add_argument("--repeat", type=int, default=5, help="timed repeats (median reported)")
    parser.add_argument("--device", default="cpu", help="device of the distance matrix (cpu, cuda)")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    parser.add_argument("--distances", default="features,uniform", help="comma list of features, uniform")
    parser.add_argument("--loop-queries", type=int, default=400, help="queries the loop is timed on")
    parser.add_argument("--dtype", default="float32", choices=["float32", "float64"], help="distance dtype")
    parser.add_argument("--big-size", type=int, default=50_000, help="queries = gallery items of the big case")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    rng = np.random.default_rng(args.seed)
    print(
        f"torch {torch.__version__}, numpy {np.__version__}, {args.threads} torch threads (rank_metrics runs one chunk "
        f"per thread on CPU; the loop is single-threaded), device {args.device}, {args.dtype}; "
        f"times = median of {args.repeat} after one warm-up"
    )
    for size in args.sizes.split(","):
        if size == "big":
            run_big(rng, args.big_size)
            continue
        case = sysu_case(rng) if size == "sysu" else vcm_like_case(rng, 5159, 5643, 500)
        case = Case(size, *(getattr(case, f) for f in ("q_pids", "g_pids", "q_cams", "g_cams", "removal", "dedup_cmc")))
        for kind in args.distances.split(","):
            dist = feature_distances(case, rng) if kind == "features" else uniform_distances(case, rng)
            dist = dist.to(device=args.device, dtype=getattr(torch, args.dtype))
            run_small(case, dist, args.repeat, args.loop_queries, kind)


if __name__ == "__main__":
    main()
