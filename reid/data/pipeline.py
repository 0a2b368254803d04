"""The training data path: identity-sampled (visible, infrared) pairs -> every view of a method -> a batch.

:class:`PairBatchSampler` turns the :class:`~reid.data.samplers.IdentitySampler`'s batch plans
into lists of :class:`PairKey`; :class:`PairedViewDataset` turns one key into the method's views
(:meth:`~reid.methods.base.ReIDMethod.train_views`); :func:`collate_pairs` stacks them into a
:class:`~reid.data.batch.TrainBatch`; :func:`build_train_loader` wires the three into a
``DataLoader``.

Randomness. Every random stream of a run is derived from its one seed with
:func:`~reid.data.transforms.derive_generator` under a stream id of :data:`STREAMS`, the stream
id always first in the key, so two streams never share a key. A pair's augmentations come from
its own generator, ``derive_generator(seed, AUGMENT_STREAM, epoch, position)``, where
``position`` counts the pairs of the epoch in the global (all ranks) batch order. A pair's
views are therefore a function of ``(seed, epoch, position)`` and the sampled indices alone:
they do not depend on the number of workers, on which worker or rank builds them, or on what
ran before (an epoch replays exactly after a resume).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from types import MappingProxyType
from typing import Any, NamedTuple

import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset, Sampler

from reid.checks import check_integer
from reid.config import DataConfig
from reid.data.batch import TrainBatch, ViewSpec
from reid.data.datasets.base import ImageDataset
from reid.data.sample import Modality, Sample, relabel
from reid.data.samplers import IdentitySampler, PairedIdentitySampler
from reid.data.transforms import derive_generator, resize, to_tensor
from reid.errors import ConfigError

SAMPLER_STREAM = 1
"""Stream id of the identity sampler: ``IdentitySampler(generator=derive_generator(seed, SAMPLER_STREAM))``."""
AUGMENT_STREAM = 2
"""Stream id of the training augmentations: ``derive_generator(seed, AUGMENT_STREAM, epoch, position)`` per pair."""

LOADER_STREAM = 3
"""Stream id of the ``DataLoader``'s own generator. It only seeds the workers' global RNGs, which no pair
uses; passing it keeps iteration from drawing from torch's global generator (as it does by default)."""

STREAMS: Mapping[str, int] = MappingProxyType(
    {"sampler": SAMPLER_STREAM, "augment": AUGMENT_STREAM, "loader": LOADER_STREAM}
)
"""Stream ids the data path uses (first key element of :func:`derive_generator`). Other parts of the
engine (model initialisation, ...) take ids not listed here."""


class PairKey(NamedTuple):
    """One training pair of an epoch: what :class:`PairedViewDataset` needs to build its views.

    Attributes:
        epoch: the epoch the pair belongs to.
        position: 0-based index of the pair in the epoch's global pair order (all ranks).
        visible: index into the dataset's visible training list.
        infrared: index into the dataset's infrared training list (same label as ``visible``).
    """

    epoch: int
    position: int
    visible: int
    infrared: int


def split_by_modality(samples: Sequence[Sample]) -> tuple[tuple[Sample, ...], tuple[Sample, ...]]:
    """The visible and the infrared training lists, each in dataset order (AGW's two training arrays)."""
    visible = tuple(s for s in samples if s.modality is Modality.VISIBLE)
    infrared = tuple(s for s in samples if s.modality is Modality.INFRARED)
    return visible, infrared


def _check_views(views: Mapping[str, ViewSpec]) -> Mapping[str, ViewSpec]:
    """Views in order; a derived view must name an earlier view (it transforms that view's output)."""
    if not views:
        raise ConfigError("views: expected at least one training view, got none")
    seen: set[str] = set()
    for name, spec in views.items():
        if not isinstance(spec, ViewSpec):
            raise ConfigError(f"views[{name!r}]: expected a ViewSpec, got {type(spec).__name__}")
        # Modality is a str enum: test it first, so only plain strings name views.
        if not isinstance(spec.source, Modality) and spec.source not in seen:
            raise ConfigError(
                f"views[{name!r}].source={spec.source!r}: expected a Modality or the name of an earlier view "
                f"({', '.join(sorted(seen)) or 'none yet'})"
            )
        seen.add(name)
    return MappingProxyType(dict(views))


class PairedViewDataset(Dataset):
    """Every training view of one (visible, infrared) pair, indexed by :class:`PairKey`.

    Each sample is decoded once per pair (``dataset.read``), resized once with Pillow to
    ``(height, width)`` with ``resample`` (AGW/CAJ pre-resize with LANCZOS: pass
    the method's ``entry_resample``) and turned into a ``[3, H, W]`` float tensor.
    The views are then built in the order given, all drawing from the pair's one generator.

    Args:
        dataset: the image dataset; its ``train`` samples, split by modality in dataset order,
            are the visible and infrared training lists.
        views: view name -> :class:`ViewSpec` (the method's ``train_views(height, width)``).
        height, width: the size of the one resize at the entry.
        resample: Pillow filter of that resize.
        seed: the run's seed.
        labels: identity -> training label; default :func:`relabel` over the training identities
            of both modalities (contiguous ``0..N-1`` in ascending identity order).

    Attributes:
        visible, infrared: the two training lists.
        visible_labels, infrared_labels: the training label of each entry of the lists (the
            identity sampler's input).
        num_classes: the number of training labels.

    Raises:
        ConfigError: an empty modality, a view naming no earlier view, or a training identity
            missing from ``labels``.
    """

    def __init__(
        self,
        dataset: ImageDataset,
        views: Mapping[str, ViewSpec],
        *,
        height: int,
        width: int,
        resample: Image.Resampling,
        seed: int,
        labels: Mapping[int, int] | None = None,
    ) -> None:
        self.dataset = dataset
        self.views = _check_views(views)
        self.size = (height, width)
        self.resample = resample
        self.seed = seed
        self.visible, self.infrared = split_by_modality(dataset.train)
        if not self.visible or not self.infrared:
            raise ConfigError(
                f"{dataset.name}: the training set has {len(self.visible)} visible and {len(self.infrared)} "
                "infrared images; both must be non-empty"
            )
        mapping = relabel(s.pid for s in dataset.train) if labels is None else dict(labels)
        missing = sorted({s.pid for s in dataset.train} - set(mapping))
        if missing:
            raise ConfigError(f"labels: expected a label for every training identity; missing {missing[:5]}")
        self.visible_labels: list[int] = [mapping[s.pid] for s in self.visible]
        self.infrared_labels: list[int] = [mapping[s.pid] for s in self.infrared]
        self.num_classes = len(set(mapping.values()))
        # derive_generator checks the seed; fail here, not inside a worker.
        derive_generator(seed, AUGMENT_STREAM)

    def pair_generator(self, key: PairKey) -> torch.Generator:
        """The one generator every random draw of the pair's views comes from."""
        return derive_generator(self.seed, AUGMENT_STREAM, key.epoch, key.position)

    def load(self, sample: Sample) -> torch.Tensor:
        """Decode, resize and convert one sample: ``[3, H, W]`` float in [0, 1]."""
        return to_tensor(resize(self.dataset.read(sample), self.size, resample=self.resample))

    def __getitem__(self, key: PairKey) -> tuple[dict[str, torch.Tensor], int]:
        """The views of pair ``key`` and its label.

        Returns:
            ``(views, label)``: view name -> ``[3, H, W]`` tensor, in the order of ``views``.

        Raises:
            ConfigError: the two indices carry different labels (the sampler aligns them).
        """
        label = self.visible_labels[key.visible]
        if self.infrared_labels[key.infrared] != label:
            raise ConfigError(
                f"pair {key}: visible label {label} and infrared label {self.infrared_labels[key.infrared]} differ; "
                "expected an identity-aligned pair"
            )
        sources = {
            Modality.VISIBLE: self.load(self.visible[key.visible]),
            Modality.INFRARED: self.load(self.infrared[key.infrared]),
        }
        return apply_views(self.views, sources, self.pair_generator(key)), label


class PairBatchSampler(Sampler[list[PairKey]]):
    """One list of :class:`PairKey` per batch plan of the identity sampler's current epoch.

    Keys follow the plan's pair order (identity-major, K pairs per identity); ``position``
    counts pairs over the epoch's global batches, so it is the same on every rank.

    Sharding for data parallelism: rank ``r`` of ``world_size`` gets the pairs of the plan's
    identities ``ids[r::world_size]`` (each with all its K pairs), so the ranks' shards
    partition every global batch and each rank's batch still holds whole identities (the
    triplet losses need positives within the rank).

    Args:
        sampler: the identity sampler (its ``epoch`` selects the plans).
        rank, world_size: this process's shard.

    Raises:
        ConfigError: a rank outside ``0..world_size-1``, or P not divisible by ``world_size``
            (ranks would get batches of different sizes).
    """

    def __init__(self, sampler: IdentitySampler, *, rank: int = 0, world_size: int = 1) -> None:
        for arg, value, low in (("world_size", world_size, 1), ("rank", rank, 0)):
            check_integer(f"PairBatchSampler.{arg}", value, low)
        if rank >= world_size:
            raise ConfigError(f"PairBatchSampler.rank: expected 0..{world_size - 1}, got {rank}")
        if sampler.num_ids_per_batch % world_size:
            raise ConfigError(
                f"PairBatchSampler: num_ids_per_batch={sampler.num_ids_per_batch} is not divisible by "
                f"world_size={world_size}; expected equal shares of identities per rank"
            )
        self.sampler = sampler
        self.rank = rank
        self.world_size = world_size

    @property
    def epoch(self) -> int:
        """The epoch the next iteration yields."""
        return self.sampler.epoch

    def set_epoch(self, epoch: int) -> None:
        """Select the epoch of the next iteration (forwarded to the identity sampler)."""
        self.sampler.set_epoch(epoch)

    def state_dict(self) -> dict[str, int]:
        """The identity sampler's state (base seed and epoch)."""
        return self.sampler.state_dict()

    def load_state_dict(self, state: dict[str, int]) -> None:
        """Restore :meth:`state_dict` output."""
        self.sampler.load_state_dict(state)

    def __len__(self) -> int:
        return self.sampler.num_batches

    def __iter__(self) -> Iterator[list[PairKey]]:
        epoch = self.sampler.epoch
        k = self.sampler.num_per_id
        position = 0
        for plan in self.sampler.plan(epoch):
            keys = [PairKey(epoch, position + i, v, r) for i, (v, r) in enumerate(plan.pairs())]
            position += len(keys)
            if self.world_size == 1:
                yield keys
            else:
                shard = range(self.rank, len(plan.ids), self.world_size)
                yield [key for p in shard for key in keys[p * k : (p + 1) * k]]


def apply_views(
    views: Mapping[str, ViewSpec], sources: Mapping[Modality, torch.Tensor], generator: torch.Generator
) -> dict[str, torch.Tensor]:
    """Every view of one pair, in declaration order: each from its modality's image or an earlier view's output,
    every draw from ``generator``."""
    out: dict[str, torch.Tensor] = {}
    for name, spec in views.items():
        image = sources[spec.source] if isinstance(spec.source, Modality) else out[spec.source]
        out[name] = spec.transform(image, generator)
    return out


def collate_pairs(items: Sequence[tuple[Mapping[str, torch.Tensor], int]]) -> TrainBatch:
    """Stack the pairs of a batch: every view ``[B, 3, H, W]`` (row i = pair i), labels ``[B]`` int64."""
    names = items[0][0].keys()
    views = {name: torch.stack([views[name] for views, _ in items]) for name in names}
    labels = torch.tensor([label for _, label in items], dtype=torch.int64)
    return TrainBatch(views=views, labels=labels)


SAMPLERS: Mapping[str, type[PairedIdentitySampler]] = {"identity": IdentitySampler}
"""Samplers a method may declare (:attr:`reid.methods.base.ReIDMethod.sampler`) for image training: ``identity``
is AGW's cross-modal identity sampler (P identities x K (visible, infrared) pairs)."""


def build_train_loader(
    dataset: ImageDataset,
    views: Mapping[str, ViewSpec],
    data_config: DataConfig,
    *,
    seed: int,
    resample: Image.Resampling,
    pin_memory: bool = False,
    rank: int = 0,
    world_size: int = 1,
    labels: Mapping[int, int] | None = None,
    sampler: str = "identity",
) -> tuple[DataLoader, PairBatchSampler]:
    """The training loader of a run: P identities x K pairs per batch, every view of every pair.

    The identity sampler's generator is ``derive_generator(seed, SAMPLER_STREAM)``; augmentations
    use ``AUGMENT_STREAM`` and the loader itself ``LOADER_STREAM`` (see :data:`STREAMS`). Call
    ``batch_sampler.set_epoch(e)`` before iterating epoch ``e`` (worker processes only build pairs;
    the keys, epoch included, come from the main process, so this also holds with persistent workers).

    Args:
        dataset: the image dataset.
        views: the method's training views, ``method.train_views(height, width)``.
        data_config: P (``num_ids_per_batch``), K (``num_per_id``), ``num_workers``, ``height``, ``width``.
        seed: the run's seed.
        resample: Pillow filter of the entry resize (the method's ``entry_resample``).
        pin_memory: page-locked batches for asynchronous copies to CUDA (CUDA runs only).
        rank, world_size: the data-parallel shard of this process (see :class:`PairBatchSampler`).
        labels: identity -> training label (default: :func:`relabel` of the training identities).
        sampler: the method's sampler, a key of :data:`SAMPLERS`.

    Returns:
        ``(loader, batch_sampler)``; the pair dataset is ``loader.dataset`` (``num_classes``, label lists).

    Raises:
        ConfigError: a sampler this pipeline does not serve, or a bad ``num_workers``.
    """
    if sampler not in SAMPLERS:
        raise ConfigError(f"sampler {sampler!r} is not served by the image pipeline; expected one of "
                          f"{', '.join(SAMPLERS)}")
    pairs = PairedViewDataset(
        dataset,
        views,
        height=data_config.height,
        width=data_config.width,
        resample=resample,
        seed=seed,
        labels=labels,
    )
    identities = SAMPLERS[sampler](
        pairs.visible_labels,
        pairs.infrared_labels,
        num_ids_per_batch=data_config.num_ids_per_batch,
        num_per_id=data_config.num_per_id,
        generator=derive_generator(seed, SAMPLER_STREAM),
    )
    batch_sampler = PairBatchSampler(identities, rank=rank, world_size=world_size)
    workers = data_config.num_workers
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 0:
        raise ConfigError(f"data.num_workers: expected a non-negative integer, got {workers!r}")
    options: dict[str, Any] = {"persistent_workers": True} if workers > 0 else {}
    loader = DataLoader(
        pairs,
        batch_sampler=batch_sampler,
        collate_fn=collate_pairs,
        num_workers=workers,
        pin_memory=pin_memory,
        generator=derive_generator(seed, LOADER_STREAM),
        **options,
    )
    return loader, batch_sampler
