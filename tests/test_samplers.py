"""Identity samplers (AGW images, MITML tracklets) and MITML frame sampling.

Uniformity checks are chi-square tests at ALPHA = 1e-4 (false-alarm probability per check for a
correct sampler under an arbitrary seed; the seeds here are fixed, so the tests are deterministic).
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.stats
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.utils.data import DataLoader, Dataset

from reid.data.samplers import IdentitySampler, TrackletSampler, frame_chunks, frame_indices
from reid.data.transforms.draws import derive_generator
from reid.errors import ConfigError

ALPHA = 1e-4
FAST = settings(max_examples=30, deadline=None)


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def shuffled_labels(counts: list[int], seed: int) -> list[int]:
    """Label ``i`` repeated ``counts[i]`` times, in a shuffled order (datasets are not sorted by label)."""
    labels = [i for i, c in enumerate(counts) for _ in range(c)]
    np.random.default_rng(seed).shuffle(labels)
    return labels


@st.composite
def paired_labels(draw: st.DrawFn) -> tuple[list[int], list[int], int, int]:
    n_ids = draw(st.integers(1, 10))
    vis = draw(st.lists(st.integers(1, 6), min_size=n_ids, max_size=n_ids))
    ir = draw(st.lists(st.integers(1, 6), min_size=n_ids, max_size=n_ids))
    p = draw(st.integers(1, n_ids))
    k = draw(st.integers(1, 4))
    seed = draw(st.integers(0, 1000))
    return shuffled_labels(vis, seed), shuffled_labels(ir, seed + 1), p, k


@FAST
@given(case=paired_labels(), seed=st.integers(0, 2**31))
def test_every_batch_has_p_distinct_ids_and_k_aligned_pairs_each(
    case: tuple[list[int], list[int], int, int], seed: int
) -> None:
    vis, ir, p, k = case
    state = torch.random.get_rng_state()
    sampler = IdentitySampler(vis, ir, num_ids_per_batch=p, num_per_id=k, generator=gen(seed))
    n = max(len(vis), len(ir))
    plans = sampler.plan()
    assert len(plans) == sampler.num_batches == n // (p * k) + 1
    for plan in plans:
        assert len(plan.ids) == len(set(plan.ids)) == p
        for label, v, i in zip(plan.ids, plan.visible, plan.infrared):
            assert len(v) == len(i) == k
            assert all(vis[x] == label for x in v) and all(ir[x] == label for x in i)
    pairs = list(sampler)
    assert pairs == [pair for plan in plans for pair in plan.pairs()]
    assert all(vis[v] == ir[i] for v, i in pairs)
    assert len(pairs) == sampler.num_pairs == (n // (p * k) + 1) * p * k
    assert len(sampler) == n  # AGW's __len__
    assert torch.equal(torch.random.get_rng_state(), state)


def test_batches_are_identity_major_as_agw_index_arrays() -> None:
    sampler = IdentitySampler(shuffled_labels([5] * 6, 0), shuffled_labels([3] * 6, 1), num_ids_per_batch=3,
                              num_per_id=2, generator=gen(0))
    vis = sampler.visible_labels
    batch = list(sampler)[: sampler.batch_size]
    assert [vis[v] for v, _ in batch] == [label for label in sampler.plan()[0].ids for _ in range(2)]


def test_epochs_are_reproducible_from_seed_and_epoch_alone() -> None:
    vis, ir = shuffled_labels([4] * 12, 0), shuffled_labels([2] * 12, 1)
    a = IdentitySampler(vis, ir, num_ids_per_batch=4, num_per_id=2, generator=gen(42))
    b = IdentitySampler(vis, ir, num_ids_per_batch=4, num_per_id=2, generator=gen(42))
    c = IdentitySampler(vis, ir, num_ids_per_batch=4, num_per_id=2, generator=gen(43))
    assert a.plan() == b.plan() and a.plan() != c.plan()
    first = list(a)
    assert list(a) == first, "iterating twice in one epoch differs"
    for epoch in range(3):  # b runs through epochs 0..2 first; a jumps to epoch 3 directly
        b.set_epoch(epoch)
        list(b)
    a.set_epoch(3)
    b.set_epoch(3)
    assert list(a) == list(b) and list(a) != first
    resumed = IdentitySampler(vis, ir, num_ids_per_batch=4, num_per_id=2, generator=gen(7))
    resumed.load_state_dict(a.state_dict())
    assert list(resumed) == list(a)
    g1, g2 = derive_generator(5, 1), derive_generator(5, 2)
    assert not torch.equal(torch.rand(8, generator=g1), torch.rand(8, generator=g2))
    assert torch.equal(torch.rand(8, generator=derive_generator(5, 1)), torch.rand(8, generator=derive_generator(5, 1)))
    with pytest.raises(ConfigError, match="non-negative"):
        derive_generator(5, -1)


def test_ids_and_samples_are_drawn_uniformly_and_all_ids_appear() -> None:
    counts = [3 + (i % 5) for i in range(30)]
    vis, ir = shuffled_labels(counts, 0), shuffled_labels([2] * 30, 1)
    sampler = IdentitySampler(vis, ir, num_ids_per_batch=4, num_per_id=4, generator=gen(1))
    id_hits = np.zeros(30)
    pos_hits: dict[int, int] = {}
    target = 7  # label 7 has counts[7] = 5 visible images
    for epoch in range(20):
        sampler.set_epoch(epoch)
        for plan in sampler.plan():
            for label, v in zip(plan.ids, plan.visible):
                id_hits[label] += 1
                if label == target:
                    for x in v:
                        pos_hits[x] = pos_hits.get(x, 0) + 1
        if epoch == 4:
            assert id_hits.min() > 0, "an identity was never sampled in 5 epochs"
    assert scipy.stats.chisquare(id_hits).pvalue > ALPHA
    assert sorted(pos_hits) == [i for i, label in enumerate(vis) if label == target]
    assert scipy.stats.chisquare(list(pos_hits.values())).pvalue > ALPHA


def test_only_ids_of_both_modalities_are_sampled() -> None:
    vis = [0, 0, 1, 1, 2, 2, 3]
    ir = [0, 1, 2, 4, 4]
    sampler = IdentitySampler(vis, ir, num_ids_per_batch=3, num_per_id=1, generator=gen(0))
    assert sampler.ids == (0, 1, 2)
    assert all(set(p.ids) == {0, 1, 2} for p in sampler.plan())


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (dict(num_ids_per_batch=4), "at least num_ids_per_batch=4"),
        (dict(num_per_id=0), "num_per_id: expected a positive integer"),
        (dict(generator=None), "torch.Generator"),
    ],
)
def test_bad_sampler_arguments_are_named(kwargs: dict, message: str) -> None:
    args = dict(num_ids_per_batch=2, num_per_id=2, generator=gen(0)) | kwargs
    with pytest.raises(ConfigError, match=message):
        IdentitySampler([0, 1, 2], [0, 1, 2], **args)


def test_bad_labels_are_named() -> None:
    with pytest.raises(ConfigError, match="visible_labels: expected a non-empty"):
        IdentitySampler([], [0], num_ids_per_batch=1, generator=gen(0))
    with pytest.raises(ConfigError, match=r"infrared_labels\[1\]"):
        IdentitySampler([0], [0, 0.5], num_ids_per_batch=1, generator=gen(0))
    with pytest.raises(ConfigError, match="set_epoch"):
        IdentitySampler([0], [0], num_ids_per_batch=1, generator=gen(0)).set_epoch(-1)


class PairDataset(Dataset):
    def __init__(self, vis: list[int], ir: list[int]) -> None:
        self.vis, self.ir = vis, ir

    def __len__(self) -> int:
        return len(self.vis)

    def __getitem__(self, pair: tuple[int, int]) -> tuple[int, int]:
        v, i = pair
        return self.vis[v], self.ir[i]


def test_a_dataloader_gets_one_plan_per_batch() -> None:
    vis, ir = shuffled_labels([6] * 10, 0), shuffled_labels([3] * 10, 1)
    sampler = IdentitySampler(vis, ir, num_ids_per_batch=4, num_per_id=2, generator=gen(3))
    loader = DataLoader(PairDataset(vis, ir), sampler=sampler, batch_size=sampler.batch_size, drop_last=True)
    batches = list(loader)
    assert len(batches) == sampler.num_batches == len(loader) + 1  # AGW's __len__ quirk: one batch more than reported
    for (v, i), plan in zip(batches, sampler.plan()):
        assert torch.equal(v, i)
        assert v.tolist() == [label for label in plan.ids for _ in range(2)]


# ---------------------------------------------------------------- tracklets


@FAST
@given(case=paired_labels(), seed=st.integers(0, 2**31))
def test_tracklet_sampler_uses_min_and_no_extra_batch(case: tuple[list[int], list[int], int, int], seed: int) -> None:
    vis, ir, p, k = case
    n = min(len(vis), len(ir))
    if n < p * k:
        with pytest.raises(ConfigError, match="tracklets per modality"):
            TrackletSampler(vis, ir, num_ids_per_batch=p, num_per_id=k, generator=gen(seed))
        return
    sampler = TrackletSampler(vis, ir, num_ids_per_batch=p, num_per_id=k, generator=gen(seed))
    assert sampler.num_batches == n // (p * k)
    pairs = list(sampler)
    assert len(pairs) == len(sampler) == sampler.num_batches * p * k
    assert all(vis[v] == ir[i] for v, i in pairs)
    assert all(len(set(plan.ids)) == p for plan in sampler.plan())


def test_tracklet_sampler_defaults_are_mitml() -> None:
    vis, ir = shuffled_labels([3] * 20, 0), shuffled_labels([2] * 20, 1)
    sampler = TrackletSampler(vis, ir, generator=gen(0))
    assert (sampler.num_ids_per_batch, sampler.num_per_id) == (8, 2)
    assert sampler.num_batches == 40 // 16 and len(sampler) == 32


# ---------------------------------------------------------------- frame indices


@pytest.mark.parametrize(
    ("n", "s", "expected"),
    [
        (13, 6, (0, 3, 6, 9, 12, 12)),
        (4, 6, (0, 1, 2, 3, 3, 3)),
        (12, 6, (0, 2, 4, 6, 8, 10)),
        (24, 6, (0, 4, 8, 12, 16, 20)),
        (7, 6, (0, 2, 4, 6, 6, 6)),
        (6, 6, (0, 1, 2, 3, 4, 5)),
        (1, 3, (0, 0, 0)),
    ],
)
def test_evenly_takes_the_first_frame_of_each_chunk(n: int, s: int, expected: tuple[int, ...]) -> None:
    assert frame_indices(n, s, mode="evenly") == expected


def test_chunks_pad_with_the_last_frame() -> None:
    assert frame_chunks(13, 6) == [[0, 1, 2], [3, 4, 5], [6, 7, 8], [9, 10, 11], [12, 12, 12], [12, 12, 12]]
    assert frame_chunks(4, 6) == [[0], [1], [2], [3], [3], [3]]
    assert frame_chunks(8, 3) == [[0, 1, 2], [3, 4, 5], [6, 7, 7]]


@FAST
@given(n=st.integers(1, 60), s=st.integers(1, 12), seed=st.integers(0, 2**31))
def test_random_frames_are_one_per_chunk_sorted_and_in_range(n: int, s: int, seed: int) -> None:
    state = torch.random.get_rng_state()
    picks = frame_indices(n, s, mode="random", generator=gen(seed))
    assert len(picks) == s and list(picks) == sorted(picks)
    assert all(0 <= p < n for p in picks)
    assert all(p in chunk for p, chunk in zip(picks, frame_chunks(n, s)))
    assert picks == frame_indices(n, s, mode="random", generator=gen(seed))
    run = frame_indices(n, s, mode="consecutive", generator=gen(seed))
    assert len(run) == s and all(0 <= p < n for p in run)
    assert torch.equal(torch.random.get_rng_state(), state)


def test_random_frame_is_uniform_over_chunk_positions() -> None:
    g = gen(0)
    first, last = np.zeros(3), np.zeros(2)
    for _ in range(3000):
        first[frame_indices(13, 6, generator=g)[0]] += 1  # chunk [0, 1, 2]
        last[frame_indices(8, 3, generator=g)[2] - 6] += 1  # padded chunk [6, 7, 7]: 7 twice as likely
    assert scipy.stats.chisquare(first).pvalue > ALPHA
    assert scipy.stats.chisquare(last, last.sum() * np.array([1 / 3, 2 / 3])).pvalue > ALPHA


def test_consecutive_mode_keeps_mitml_bounds_and_cycles_short_tracklets() -> None:
    assert frame_indices(4, 6, mode="consecutive", generator=gen(0)) == (0, 1, 2, 3, 0, 1)
    g = gen(1)
    starts = np.zeros(20)
    for _ in range(2800):
        run = frame_indices(20, 6, mode="consecutive", generator=g)
        assert run == tuple(range(run[0], run[0] + 6))
        starts[run[0]] += 1
    assert starts[14:].sum() == 0, "MITML never starts at n - S or later"
    assert scipy.stats.chisquare(starts[:14]).pvalue > ALPHA


def test_frame_sampling_errors() -> None:
    with pytest.raises(ConfigError, match="mode"):
        frame_indices(5, 3, mode="dense")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="torch.Generator"):
        frame_indices(5, 3, mode="random")
    with pytest.raises(ConfigError, match="num_frames"):
        frame_indices(0, 3, mode="evenly")
