"""Training samplers: P identities x K samples per modality per batch, and tracklet frame sampling.

:class:`IdentitySampler` (AGW, images) and :class:`TrackletSampler` (MITML, video) share one
machinery, :class:`PairedIdentitySampler`: an epoch is a list of :class:`BatchPlan` s, each naming
P distinct identities and, per identity, K visible and K infrared dataset indices drawn with
replacement. The sampler yields ``(visible_index, infrared_index)`` pairs whose labels agree,
batch after batch, identity-major (the order AGW's ``index1``/``index2`` arrays have), so a
loader with ``batch_size = P * K`` gets one plan per batch.

Randomness: the constructor draws one base seed from the generator passed in; epoch ``e``'s
plan comes from ``derive_generator(base_seed, e)`` (``SeedSequence(base_seed, spawn_key=(e,))``). An epoch
is therefore reproducible from ``(base_seed, epoch)`` alone, whatever ran before it, which is
what exact resume needs (``state_dict`` / ``load_state_dict``). A data-parallel variant can
give each rank a slice of every plan's identities (``plan.ids[rank::world]``) without changing
the draws.
"""

from __future__ import annotations

import abc
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
from torch.utils.data import Sampler

from reid.checks import check_generator, check_integer, check_positive_integer
from reid.data.transforms.draws import derive_generator
from reid.errors import ConfigError


@dataclass(frozen=True)
class BatchPlan:
    """One batch: P identities and, per identity, K visible and K infrared dataset indices.

    Attributes:
        ids: the P distinct labels, in draw order.
        visible: ``visible[p]`` = K indices into the visible training list with label ``ids[p]``.
        infrared: the same for the infrared list.
    """

    ids: tuple[int, ...]
    visible: tuple[tuple[int, ...], ...]
    infrared: tuple[tuple[int, ...], ...]

    def pairs(self) -> list[tuple[int, int]]:
        """Aligned ``(visible_index, infrared_index)`` pairs, identity-major: ``P * K`` of them."""
        return [(v, i) for vis, ir in zip(self.visible, self.infrared) for v, i in zip(vis, ir)]


def _labels(values: Sequence[int] | np.ndarray | torch.Tensor, name: str) -> list[int]:
    if isinstance(values, (torch.Tensor, np.ndarray)):
        values = values.tolist()
    out = list(values)
    if not out:
        raise ConfigError(f"{name}: expected a non-empty sequence of integer labels, got none")
    for i, v in enumerate(out):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
            raise ConfigError(f"{name}[{i}]: expected an integer label, got {v!r}")
    return [int(v) for v in out]


def _positions(labels: list[int]) -> dict[int, torch.Tensor]:
    """Label -> ascending dataset indices with that label (AGW ``GenIdx``)."""
    groups: dict[int, list[int]] = {}
    for index, label in enumerate(labels):
        groups.setdefault(label, []).append(index)
    return {label: torch.tensor(idx, dtype=torch.long) for label, idx in groups.items()}


class PairedIdentitySampler(Sampler[tuple[int, int]], abc.ABC):
    """Shared machinery of the identity samplers; subclasses fix the epoch size and length rules.

    Identities are those present in BOTH modalities (the reference draws from the visible
    labels and assumes every one also has infrared samples; SYSU-MM01, RegDB, LLCM and
    HITSZ-VCM training sets satisfy that).

    Args:
        visible_labels: training label of each visible sample (or tracklet), by dataset index.
        infrared_labels: the same for infrared.
        num_ids_per_batch: P, distinct identities per batch.
        num_per_id: K, samples per identity per modality per batch (drawn with replacement).
        generator: the base seed is drawn from it once, at construction.

    Raises:
        ConfigError: empty label lists, non-integer labels, P or K below 1, or fewer than P
            identities common to both modalities.
    """

    def __init__(
        self,
        visible_labels: Sequence[int] | np.ndarray | torch.Tensor,
        infrared_labels: Sequence[int] | np.ndarray | torch.Tensor,
        *,
        num_ids_per_batch: int,
        num_per_id: int,
        generator: torch.Generator,
    ) -> None:
        name = type(self).__name__
        for arg, value in (("num_ids_per_batch", num_ids_per_batch), ("num_per_id", num_per_id)):
            check_positive_integer(f"{name}.{arg}", value)
        check_generator(generator, name)
        self.visible_labels = _labels(visible_labels, f"{name}.visible_labels")
        self.infrared_labels = _labels(infrared_labels, f"{name}.infrared_labels")
        self.num_ids_per_batch = num_ids_per_batch
        self.num_per_id = num_per_id
        self._visible_pos = _positions(self.visible_labels)
        self._infrared_pos = _positions(self.infrared_labels)
        self.ids: tuple[int, ...] = tuple(sorted(self._visible_pos.keys() & self._infrared_pos.keys()))
        if len(self.ids) < num_ids_per_batch:
            raise ConfigError(
                f"{name}: expected at least num_ids_per_batch={num_ids_per_batch} identities present in both "
                f"modalities, got {len(self.ids)}"
            )
        self.base_seed = int(torch.randint(0, 2**63 - 1, (), generator=generator).item())
        self.epoch = 0

    @property
    def batch_size(self) -> int:
        """Pairs per batch, ``P * K`` (each pair is one visible and one infrared sample)."""
        return self.num_ids_per_batch * self.num_per_id

    @property
    @abc.abstractmethod
    def num_batches(self) -> int:
        """Batches per epoch (the number of plans :meth:`plan` returns)."""

    @property
    def num_pairs(self) -> int:
        """Pairs one epoch's iteration actually yields: ``num_batches * P * K``."""
        return self.num_batches * self.batch_size

    def set_epoch(self, epoch: int) -> None:
        """Select the epoch the next iteration draws (as ``DistributedSampler.set_epoch``)."""
        check_integer(f"{type(self).__name__}.set_epoch", epoch, 0)
        self.epoch = epoch

    def state_dict(self) -> dict[str, int]:
        """What a checkpoint needs to replay the current epoch exactly."""
        return {"base_seed": self.base_seed, "epoch": self.epoch}

    def load_state_dict(self, state: dict[str, int]) -> None:
        """Restore :meth:`state_dict` output."""
        self.base_seed = int(state["base_seed"])
        self.set_epoch(int(state["epoch"]))

    def plan(self, epoch: int | None = None) -> list[BatchPlan]:
        """The batches of ``epoch`` (default: the current one); the same list every time it is asked for.

        Per batch: P identities uniformly without replacement (AGW ``np.random.choice(uni_label, P,
        replace=False)``), then per identity K visible and K infrared indices uniformly WITH
        replacement from that identity's samples (``np.random.choice(pos, K)``).
        """
        generator = derive_generator(self.base_seed, self.epoch if epoch is None else epoch)
        ids = torch.tensor(self.ids, dtype=torch.long)
        k = self.num_per_id
        plans = []
        for _ in range(self.num_batches):
            chosen = ids[torch.randperm(len(ids), generator=generator)[: self.num_ids_per_batch]].tolist()
            visible, infrared = [], []
            for label in chosen:
                vis, ir = self._visible_pos[label], self._infrared_pos[label]
                visible.append(tuple(vis[torch.randint(0, len(vis), (k,), generator=generator)].tolist()))
                infrared.append(tuple(ir[torch.randint(0, len(ir), (k,), generator=generator)].tolist()))
            plans.append(BatchPlan(tuple(chosen), tuple(visible), tuple(infrared)))
        return plans

    def __iter__(self) -> Iterator[tuple[int, int]]:
        for batch in self.plan():
            yield from batch.pairs()


class IdentitySampler(PairedIdentitySampler):
    """AGW's cross-modality identity sampler for image datasets (root utils.py; protocols.md sec. 4).

    Per epoch ``N = max(#visible, #infrared)`` and ``int(N / (P * K)) + 1`` batches, P = 8 ids x
    K = 4 samples per modality by default (AGW/CAJ/FF-DML; MSCMNet uses P = 6).

    Quirk kept: ``len()`` is ``N``, as AGW's ``__len__``, although iteration yields
    ``(N // (P*K) + 1) * P * K`` pairs (:attr:`num_pairs`); a ``DataLoader`` with ``drop_last``
    therefore reports ``N // (P*K)`` batches and delivers one more. Use :attr:`num_batches`
    for schedules.
    """

    def __init__(
        self,
        visible_labels: Sequence[int] | np.ndarray | torch.Tensor,
        infrared_labels: Sequence[int] | np.ndarray | torch.Tensor,
        *,
        num_ids_per_batch: int = 8,
        num_per_id: int = 4,
        generator: torch.Generator,
    ) -> None:
        super().__init__(
            visible_labels,
            infrared_labels,
            num_ids_per_batch=num_ids_per_batch,
            num_per_id=num_per_id,
            generator=generator,
        )
        self.epoch_size = max(len(self.visible_labels), len(self.infrared_labels))

    @property
    def num_batches(self) -> int:
        return self.epoch_size // self.batch_size + 1

    def __len__(self) -> int:
        return self.epoch_size


class TrackletSampler(PairedIdentitySampler):
    """MITML's identity sampler over tracklets (VCM-project233/MITML utils.py; protocols.md sec. 7).

    Per epoch ``N = min(#visible tracklets, #infrared tracklets)`` and ``int(N / (P * K))`` batches
    (no extra batch, unlike AGW), P = 8 ids x K = 2 tracklets per modality by default;
    ``len()`` is the number of pairs yielded, ``num_batches * P * K``, as MITML's.
    """

    def __init__(
        self,
        visible_labels: Sequence[int] | np.ndarray | torch.Tensor,
        infrared_labels: Sequence[int] | np.ndarray | torch.Tensor,
        *,
        num_ids_per_batch: int = 8,
        num_per_id: int = 2,
        generator: torch.Generator,
    ) -> None:
        super().__init__(
            visible_labels,
            infrared_labels,
            num_ids_per_batch=num_ids_per_batch,
            num_per_id=num_per_id,
            generator=generator,
        )
        self.epoch_size = min(len(self.visible_labels), len(self.infrared_labels))
        if self.epoch_size < self.batch_size:
            raise ConfigError(
                f"TrackletSampler: expected at least P*K={self.batch_size} tracklets per modality "
                f"for one batch, got {self.epoch_size}"
            )

    @property
    def num_batches(self) -> int:
        return self.epoch_size // self.batch_size

    def __len__(self) -> int:
        return self.num_pairs


FrameMode = Literal["random", "evenly", "consecutive"]


def frame_chunks(num_frames: int, seq_len: int) -> list[list[int]]:
    """MITML's split of a tracklet into ``seq_len`` consecutive chunks (data_loader.py; protocols.md sec. 7).

    ``n < S``: the frames padded with the last index to ``S``, one per chunk. ``n >= S``: chunk size
    ``c = ceil(n / S)``; the frames padded with the last index to ``c * S`` and cut into ``S`` chunks
    of ``c``. Quirk kept: the padding can fill whole trailing chunks with the last frame
    (n = 13, S = 6: c = 3, chunks 5 and 6 are all frame 12).

    Raises:
        ConfigError: ``num_frames`` or ``seq_len`` below 1.
    """
    for arg, value in (("num_frames", num_frames), ("seq_len", seq_len)):
        check_positive_integer(f"frame_chunks.{arg}", value)
    size = 1 if num_frames < seq_len else math.ceil(num_frames / seq_len)
    strip = list(range(num_frames)) + [num_frames - 1] * (size * seq_len - num_frames)
    return [strip[size * s : size * (s + 1)] for s in range(seq_len)]


def frame_indices(
    num_frames: int, seq_len: int, *, mode: FrameMode = "random", generator: torch.Generator | None = None
) -> tuple[int, ...]:
    """The ``seq_len`` frame indices sampled from a tracklet of ``num_frames`` frames (MITML data_loader.py).

    Modes:
        ``"random"`` (MITML ``video_train``, training): one frame per :func:`frame_chunks` chunk,
            uniform over the chunk's positions (padded positions included, so in a padded last
            chunk the last frame is the likeliest).
        ``"evenly"`` (MITML ``video_test``, evaluation): the first frame of each chunk; no randomness.
        ``"consecutive"`` (MITML's ``random`` mode): a run of ``seq_len`` consecutive frames starting
            at ``U{0 .. max(0, n - S - 1)}`` (the reference's bound: for ``n > S`` the last possible
            start ``n - S`` is never drawn), repeated cyclically when ``n < S``.

    Args:
        num_frames: frames in the tracklet (>= 1).
        seq_len: frames to sample, S (MITML: 6).
        mode: see above.
        generator: required for ``"random"`` and ``"consecutive"``.

    Returns:
        ``seq_len`` indices in ``[0, num_frames)``; non-decreasing for ``"random"`` and ``"evenly"``.

    Raises:
        ConfigError: bad counts, an unknown mode, or no generator for a random mode.
    """
    chunks = frame_chunks(num_frames, seq_len)
    if mode == "evenly":
        return tuple(chunk[0] for chunk in chunks)
    if mode not in ("random", "consecutive"):
        raise ConfigError(f"frame_indices.mode: expected one of 'random', 'evenly', 'consecutive', got {mode!r}")
    check_generator(generator, f"frame_indices(mode={mode!r})")
    assert generator is not None
    if mode == "random":
        picks = torch.randint(0, len(chunks[0]), (seq_len,), generator=generator).tolist()
        return tuple(chunk[p] for chunk, p in zip(chunks, picks))
    begin = int(torch.randint(0, max(0, num_frames - seq_len - 1) + 1, (), generator=generator).item())
    run = list(range(begin, min(begin + seq_len, num_frames)))
    return tuple(run[i % len(run)] for i in range(seq_len))
