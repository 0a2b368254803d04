"""The training data path: pair keys, views from one generator per pair, batches, shards, replay."""

from __future__ import annotations

from collections import Counter

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from reid.config import DataConfig
from reid.data.datasets import SyntheticVIReID
from reid.data.pipeline import (
    AUGMENT_STREAM,
    LOADER_STREAM,
    SAMPLER_STREAM,
    STREAMS,
    PairBatchSampler,
    PairedViewDataset,
    PairKey,
    build_train_loader,
    collate_pairs,
)
from reid.data.sample import Modality
from reid.data.samplers import IdentitySampler
from reid.data.transforms import (
    LANCZOS,
    ChannelExchange,
    agw_train,
    derive_generator,
    eval_transform,
    resize,
    to_tensor,
)
from reid.errors import ConfigError
from reid.methods.base import TrainBatch, ViewSpec

H, W = 32, 16
SEED = 7
RESAMPLE = LANCZOS  # AGW.entry_resample
FAST = settings(max_examples=15, deadline=None)


@pytest.fixture(scope="module")
def dataset() -> SyntheticVIReID:
    return SyntheticVIReID(num_train_ids=6, num_test_ids=4, height=H, width=W)


def random_views() -> dict[str, ViewSpec]:
    """CAJ-like: an augmented visible view, a view derived from it, an augmented infrared view."""
    return {
        "rgb": ViewSpec(Modality.VISIBLE, agw_train(H, W)),
        "rgb_ex": ViewSpec("rgb", ChannelExchange(gray=2)),
        "ir": ViewSpec(Modality.INFRARED, agw_train(H, W)),
    }


def pair_dataset(dataset: SyntheticVIReID, views: dict[str, ViewSpec] | None = None, seed: int = SEED):
    return PairedViewDataset(dataset, views or random_views(), height=H, width=W, resample=RESAMPLE, seed=seed)


def config(workers: int = 0, p: int = 3, k: int = 2) -> DataConfig:
    return DataConfig(height=H, width=W, num_ids_per_batch=p, num_per_id=k, num_workers=workers)


def assert_same_batches(a: list[TrainBatch], b: list[TrainBatch]) -> None:
    assert len(a) == len(b)
    for x, y in zip(a, b, strict=True):
        assert torch.equal(x.labels, y.labels)
        assert list(x.views) == list(y.views)
        for name in x.views:
            assert torch.equal(x.views[name], y.views[name]), name


# ---------------------------------------------------------------------------------------
# PairedViewDataset
# ---------------------------------------------------------------------------------------


def test_lists_labels_and_classes(dataset: SyntheticVIReID) -> None:
    pairs = pair_dataset(dataset)
    assert pairs.visible == tuple(s for s in dataset.train if s.modality is Modality.VISIBLE)
    assert pairs.infrared == tuple(s for s in dataset.train if s.modality is Modality.INFRARED)
    assert pairs.num_classes == 6
    # Identities 1..6 -> labels 0..5 in ascending order.
    assert pairs.visible_labels == [s.pid - 1 for s in pairs.visible]
    assert pairs.infrared_labels == [s.pid - 1 for s in pairs.infrared]


def test_deterministic_views_load_the_keyed_samples(dataset: SyntheticVIReID) -> None:
    views = {
        "v": ViewSpec(Modality.VISIBLE, eval_transform(H, W)),
        "i": ViewSpec(Modality.INFRARED, eval_transform(H, W)),
    }
    pairs = pair_dataset(dataset, views)
    vis = next(i for i, s in enumerate(pairs.visible) if s.pid == 3)
    ir = [i for i, s in enumerate(pairs.infrared) if s.pid == 3][-1]
    out, label = pairs[PairKey(0, 0, vis, ir)]
    assert label == 2
    for name, sample in (("v", pairs.visible[vis]), ("i", pairs.infrared[ir])):
        expected = eval_transform(H, W)(to_tensor(resize(dataset.read(sample), (H, W), resample=RESAMPLE)), None)
        assert torch.equal(out[name], expected)


def test_views_follow_one_generator_per_pair(dataset: SyntheticVIReID) -> None:
    """The views equal the recipe applied by hand, in view order, with derive_generator(seed, AUGMENT, e, pos)."""
    pairs = pair_dataset(dataset)
    key = PairKey(epoch=3, position=11, visible=4, infrared=pairs.infrared_labels.index(pairs.visible_labels[4]))
    out, _ = pairs[key]
    g = derive_generator(SEED, AUGMENT_STREAM, 3, 11)
    vis = pairs.load(pairs.visible[key.visible])
    ir = pairs.load(pairs.infrared[key.infrared])
    rgb = agw_train(H, W)(vis, g)
    rgb_ex = ChannelExchange(gray=2)(rgb, g)
    ir_view = agw_train(H, W)(ir, g)
    assert list(out) == ["rgb", "rgb_ex", "ir"]
    assert torch.equal(out["rgb"], rgb) and torch.equal(out["rgb_ex"], rgb_ex) and torch.equal(out["ir"], ir_view)


def test_derived_view_transforms_its_source_view(dataset: SyntheticVIReID) -> None:
    """ChannelExchange of the augmented rgb view: every channel equals one channel of that view."""
    pairs = pair_dataset(dataset)
    for position in range(8):
        out, _ = pairs[PairKey(0, position, position, pairs.infrared_labels.index(pairs.visible_labels[position]))]
        ex, rgb = out["rgb_ex"], out["rgb"]
        assert torch.equal(ex[0], ex[1]) and torch.equal(ex[1], ex[2])
        assert any(torch.equal(ex[0], rgb[c]) for c in range(3))


@FAST
@given(keys=st.lists(st.tuples(st.integers(0, 3), st.integers(0, 50), st.integers(0, 20)), min_size=2, max_size=6))
def test_same_key_same_views_whatever_the_order(dataset: SyntheticVIReID, keys: list[tuple[int, int, int]]) -> None:
    pairs = pair_dataset(dataset)
    full = [PairKey(e, p, v, pairs.infrared_labels.index(pairs.visible_labels[v])) for e, p, v in keys]
    forward = [pairs[k][0] for k in full]
    backward = [pairs[k][0] for k in reversed(full)][::-1]
    for a, b in zip(forward, backward, strict=True):
        assert all(torch.equal(a[n], b[n]) for n in a)


def test_different_keys_differ(dataset: SyntheticVIReID) -> None:
    pairs = pair_dataset(dataset)
    ir = pairs.infrared_labels.index(pairs.visible_labels[0])
    base = pairs[PairKey(0, 0, 0, ir)][0]
    for other in (PairKey(0, 1, 0, ir), PairKey(1, 0, 0, ir)):
        views = pairs[other][0]
        assert any(not torch.equal(base[n], views[n]) for n in base), other
    other_seed = pair_dataset(dataset, seed=SEED + 1)[PairKey(0, 0, 0, ir)][0]
    assert any(not torch.equal(base[n], other_seed[n]) for n in base)


def test_bad_views_and_misaligned_pairs_are_refused(dataset: SyntheticVIReID) -> None:
    with pytest.raises(ConfigError, match="earlier view"):
        pair_dataset(
            dataset, {"ex": ViewSpec("rgb", ChannelExchange()), "rgb": ViewSpec(Modality.VISIBLE, agw_train(H, W))}
        )
    with pytest.raises(ConfigError, match="at least one"):
        PairedViewDataset(dataset, {}, height=H, width=W, resample=RESAMPLE, seed=0)
    with pytest.raises(ConfigError, match="missing"):
        PairedViewDataset(dataset, random_views(), height=H, width=W, resample=RESAMPLE, seed=0, labels={1: 0})
    pairs = pair_dataset(dataset)
    ir_other = next(i for i, lab in enumerate(pairs.infrared_labels) if lab != pairs.visible_labels[0])
    with pytest.raises(ConfigError, match="differ"):
        pairs[PairKey(0, 0, 0, ir_other)]


def test_collate_shapes(dataset: SyntheticVIReID) -> None:
    pairs = pair_dataset(dataset)
    items = [pairs[PairKey(0, i, i, pairs.infrared_labels.index(pairs.visible_labels[i]))] for i in range(5)]
    batch = collate_pairs(items)
    assert isinstance(batch, TrainBatch)
    assert {n: tuple(v.shape) for n, v in batch.views.items()} == {n: (5, 3, H, W) for n in ("rgb", "rgb_ex", "ir")}
    assert batch.labels.dtype == torch.int64 and batch.labels.tolist() == [lab for _, lab in items]
    assert torch.equal(batch.views["ir"][3], items[3][0]["ir"])


# ---------------------------------------------------------------------------------------
# PairBatchSampler
# ---------------------------------------------------------------------------------------


def identity_sampler(p: int, k: int, seed: int = 0) -> IdentitySampler:
    vis = [i % 6 for i in range(40)]
    ir = [(5 - i) % 6 for i in range(25)]
    return IdentitySampler(vis, ir, num_ids_per_batch=p, num_per_id=k, generator=torch.Generator().manual_seed(seed))


def test_batch_sampler_follows_the_plans() -> None:
    sampler = identity_sampler(3, 2)
    batches = PairBatchSampler(sampler)
    batches.set_epoch(4)
    keys = list(batches)
    plans = sampler.plan(4)
    assert len(keys) == len(batches) == sampler.num_batches == len(plans)
    flat = [k for batch in keys for k in batch]
    assert [k.position for k in flat] == list(range(len(flat)))
    assert all(k.epoch == 4 for k in flat)
    assert [(k.visible, k.infrared) for k in keys[2]] == plans[2].pairs()


@FAST
@given(p=st.sampled_from([2, 4, 6]), k=st.integers(1, 3), seed=st.integers(0, 10**6), epoch=st.integers(0, 5))
def test_shards_partition_every_batch(p: int, k: int, seed: int, epoch: int) -> None:
    full = PairBatchSampler(identity_sampler(p, k, seed))
    full.set_epoch(epoch)
    for world in (w for w in (1, 2, 3, 6) if p % w == 0):
        shards = []
        for rank in range(world):
            part = PairBatchSampler(identity_sampler(p, k, seed), rank=rank, world_size=world)
            part.set_epoch(epoch)
            shards.append(list(part))
        for b, batch in enumerate(full):
            pieces = [shard[b] for shard in shards]
            assert sorted(key for piece in pieces for key in piece) == sorted(batch)
            assert all(len(piece) == p // world * k for piece in pieces)
            for rank, piece in enumerate(pieces):
                # Whole identities per rank: each of its ids with all K pairs.
                ids = Counter(piece_key.visible % 6 for piece_key in piece)
                assert len(ids) == p // world and set(ids.values()) == {k}, (world, rank)


def test_shard_arguments_are_checked() -> None:
    with pytest.raises(ConfigError, match="divisible"):
        PairBatchSampler(identity_sampler(3, 2), rank=0, world_size=2)
    with pytest.raises(ConfigError, match="rank"):
        PairBatchSampler(identity_sampler(4, 2), rank=2, world_size=2)


# ---------------------------------------------------------------------------------------
# build_train_loader
# ---------------------------------------------------------------------------------------


def epoch_batches(loader, batch_sampler: PairBatchSampler, epoch: int) -> list[TrainBatch]:
    batch_sampler.set_epoch(epoch)
    return list(loader)


def test_loader_batches_hold_p_ids_times_k_aligned_pairs(dataset: SyntheticVIReID) -> None:
    loader, batches = build_train_loader(dataset, random_views(), config(p=3, k=2), seed=SEED, resample=RESAMPLE)
    pairs = loader.dataset
    batches.set_epoch(1)
    keys = list(batches)
    got = list(loader)
    assert len(got) == len(keys) == len(loader)
    for batch_keys, batch in zip(keys, got, strict=True):
        vis = [pairs.visible_labels[k.visible] for k in batch_keys]
        ir = [pairs.infrared_labels[k.infrared] for k in batch_keys]
        assert vis == ir == batch.labels.tolist()
        assert sorted(Counter(vis).values()) == [2, 2, 2]
        assert all(v.shape == (6, 3, H, W) for v in batch.views.values())


def test_sampler_stream_is_derived_from_the_seed(dataset: SyntheticVIReID) -> None:
    _, batches = build_train_loader(dataset, random_views(), config(), seed=SEED, resample=RESAMPLE)
    pairs = PairedViewDataset(dataset, random_views(), height=H, width=W, resample=RESAMPLE, seed=SEED)
    expected = IdentitySampler(
        pairs.visible_labels,
        pairs.infrared_labels,
        num_ids_per_batch=3,
        num_per_id=2,
        generator=derive_generator(SEED, SAMPLER_STREAM),
    )
    assert batches.sampler.base_seed == expected.base_seed
    assert dict(STREAMS) == {"sampler": SAMPLER_STREAM, "augment": AUGMENT_STREAM, "loader": LOADER_STREAM}
    assert len(set(STREAMS.values())) == len(STREAMS)


def test_worker_count_does_not_change_batches_and_epochs_replay(dataset: SyntheticVIReID) -> None:
    single, single_sampler = build_train_loader(dataset, random_views(), config(0), seed=SEED, resample=RESAMPLE)
    multi, multi_sampler = build_train_loader(dataset, random_views(), config(2), seed=SEED, resample=RESAMPLE)
    assert multi.persistent_workers and multi.num_workers == 2
    first = epoch_batches(single, single_sampler, 0)
    second = epoch_batches(single, single_sampler, 1)
    assert_same_batches(epoch_batches(multi, multi_sampler, 0), first)
    # Persistent workers: the next epoch follows set_epoch from the main process.
    assert_same_batches(epoch_batches(multi, multi_sampler, 1), second)
    assert not torch.equal(first[0].views["rgb"], second[0].views["rgb"])
    # Replay: an earlier epoch again, and a freshly built loader (a resumed run), give the same batches.
    assert_same_batches(epoch_batches(single, single_sampler, 0), first)
    fresh, fresh_sampler = build_train_loader(dataset, random_views(), config(0), seed=SEED, resample=RESAMPLE)
    assert_same_batches(epoch_batches(fresh, fresh_sampler, 1), second)


def test_sharded_loaders_rebuild_the_global_batch(dataset: SyntheticVIReID) -> None:
    """Rank shards carry the same pair generators as the single-process batch (position is global)."""
    cfg = config(p=4, k=2)
    full, full_sampler = build_train_loader(dataset, random_views(), cfg, seed=SEED, resample=RESAMPLE)
    whole = epoch_batches(full, full_sampler, 2)
    parts = []
    for rank in range(2):
        loader, sampler = build_train_loader(
            dataset, random_views(), cfg, seed=SEED, resample=RESAMPLE, rank=rank, world_size=2
        )
        parts.append(epoch_batches(loader, sampler, 2))
    for b, batch in enumerate(whole):
        # Identity-major: rank 0 holds ids 0 and 2 of the plan, rank 1 ids 1 and 3 (K = 2 rows each).
        order = [0, 1, 4, 5, 2, 3, 6, 7]
        for name, view in batch.views.items():
            joined = torch.cat([parts[0][b].views[name], parts[1][b].views[name]])
            assert torch.equal(joined, view[order])
        assert torch.cat([parts[0][b].labels, parts[1][b].labels]).tolist() == batch.labels[order].tolist()


def test_iteration_leaves_the_global_generator_alone(dataset: SyntheticVIReID) -> None:
    loader, batches = build_train_loader(dataset, random_views(), config(), seed=SEED, resample=RESAMPLE)
    state = torch.get_rng_state()
    epoch_batches(loader, batches, 0)
    assert torch.equal(state, torch.get_rng_state())


def test_bad_worker_count_is_refused(dataset: SyntheticVIReID) -> None:
    with pytest.raises(ConfigError, match="num_workers"):
        build_train_loader(dataset, random_views(), config(-1), seed=SEED, resample=RESAMPLE)
