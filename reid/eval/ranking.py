"""Ranking metrics of person re-identification: CMC, mAP and mINP, exact, vectorised and chunked.

Definitions (``../shared/notes/protocols.md`` sections 1.2, 1.3, 2, 3 and 7):

* Gallery removal. ``"sysu"``: the official SYSU-MM01 MATLAB evaluation relabels cameras
  by location (``cam_id = [1 2 2 4 5 6]``: infrared camera 3 sits in the room of visible
  camera 2) and, for each probe, drops every gallery item at the probe's location,
  whatever its identity (AGW ``eval_sysu``: ``(q_cam == 3) & (g_cam == 2)``).
  ``"same_id_same_cam"``: Market-style, drop gallery items with the query's identity and
  camera (AGW ``eval_llcm``, MITML ``evaluate``). ``"none"``: keep everything (AGW
  ``eval_regdb``, whose query and gallery cameras never coincide).
* Ranked list: the kept gallery items by ascending distance; equal distances keep gallery
  order (a stable sort: the order of ``numpy.argsort(kind="stable")``).
* CMC, de-duplicated (official SYSU MATLAB code, AGW ``eval_sysu`` and ``eval_llcm``):
  rank-k hit iff the true identity is among the first k *distinct* identities of the
  ranked list. Plain (AGW ``eval_regdb``, MITML ``evaluate``): iff a true match is among
  the first k items.
* AP: mean over the true matches j (1-based) of ``j / r_j``, ``r_j`` the 1-based rank of
  the j-th true match in the (never de-duplicated) ranked list.
* INP (Ye et al., AGW ``eval_metrics.py``): number of true matches over the rank of the
  last one.
* Queries without a true match in the kept gallery are left out of every average
  (``num_valid`` counts the others), as in the official and AGW code.

How it is computed (exact; see docs/decisions.md, "Ranking metrics" entries):

1. True matches come from the gallery grouped by identity, never from a ``[Q, G]`` pass.
2. The rank of a true match of distance ``v`` at gallery column ``c`` is
   ``1 + #{kept items < v} + #{kept items == v at a column < c}``. Only kept items no
   farther than the query's farthest true match ("candidates") can count. Their values
   are packed into rows of similar length (+inf padding) and sorted by value only (no
   argsort); every true match finds its count by binary search in its row.
3. The sort key is the distance, float64 rounded to float32 (rounding is monotone); the
   matches whose key another candidate shares are counted exactly on the distances.
4. The de-duplicated CMC rank is one plus the number of distinct identities in front of
   the first true match.

On CPU the passes over ``[chunk, gallery]`` blocks run through NumPy on zero-copy views,
one chunk per torch thread (NumPy releases the GIL): on the measured torch 2.13 CPU build
NumPy's boolean masks, counts and selections were 5-10x faster and its SIMD value sort
~3x faster than torch's. On other devices (CUDA) torch runs the same steps. Both compute
the same integer ranks, so the metrics do not depend on the device.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from reid.errors import ConfigError

REMOVAL_RULES = ("sysu", "same_id_same_cam", "none")

# Bytes of temporaries per chunk of queries when ``chunk_size`` is None. CPU time was flat
# within noise from 16 to 256 MiB at SYSU and HITSZ-VCM sizes (4 MiB: per-chunk overhead
# shows); 32 MiB keeps ~29 queries per chunk for a 50,000-item gallery. On CPU one chunk
# runs per torch thread at a time. See docs/decisions.md, "Default chunk size (ranking)".
DEFAULT_CHUNK_BYTES = 32 * 2**20

# Integer distances are compared as float64, which holds integers exactly up to 2**53.
_FLOAT64_EXACT_INT = 2**53

ArrayLike = np.ndarray | torch.Tensor | Sequence[int]


@dataclass(frozen=True)
class RankMetrics:
    """Ranking metrics over the valid queries, in percent.

    Attributes:
        cmc: ``max_rank`` values; ``cmc[k - 1]`` is the rank-k hit rate (percent). Ranks
            beyond the length of a query's ranked list count as hits (its true match came
            earlier), so the curve ends at 100 when ``max_rank`` exceeds the gallery.
        mAP: mean average precision (percent).
        mINP: mean inverse negative penalty (percent).
        num_valid: queries with at least one true match after removal.
    """

    cmc: tuple[float, ...]
    mAP: float
    mINP: float
    num_valid: int

    def _rank(self, k: int) -> float | None:
        return self.cmc[k - 1] if len(self.cmc) >= k else None

    @property
    def rank1(self) -> float | None:
        """Rank-1 hit rate (percent)."""
        return self._rank(1)

    @property
    def rank5(self) -> float | None:
        """Rank-5 hit rate (percent); None when ``max_rank < 5``."""
        return self._rank(5)

    @property
    def rank10(self) -> float | None:
        """Rank-10 hit rate (percent); None when ``max_rank < 10``."""
        return self._rank(10)

    @property
    def rank20(self) -> float | None:
        """Rank-20 hit rate (percent); None when ``max_rank < 20``."""
        return self._rank(20)

    def as_dict(self) -> dict[str, float | int | None]:
        """The project's fixed metric names: rank1 rank5 rank10 rank20 mAP mINP num_valid."""
        return {
            "rank1": self.rank1,
            "rank5": self.rank5,
            "rank10": self.rank10,
            "rank20": self.rank20,
            "mAP": self.mAP,
            "mINP": self.mINP,
            "num_valid": self.num_valid,
        }


def sysu_location(camids: np.ndarray | torch.Tensor) -> np.ndarray | torch.Tensor:
    """Relabel SYSU-MM01 cameras by location: infrared camera 3 becomes 2, others unchanged.

    Official SYSU-MM01 MATLAB evaluation, ``cam_id = [1 2 2 4 5 6]`` (protocols.md sec. 1.2):
    camera 3 (infrared) is in the same room as camera 2 (visible).
    """
    where = np.where if isinstance(camids, np.ndarray) else torch.where
    return where(camids == 3, 2, camids)


def is_kept(removal: str, q_pid: Any, q_cam: Any, g_pid: Any, g_cam: Any) -> Any:
    """Whether a query ranks a gallery item, elementwise (broadcasting NumPy or torch arrays).

    Args:
        removal: ``"sysu"``: official SYSU-MM01 location rule (protocols.md sec. 1.2/1.3):
            drop every gallery item at the query's location, whatever its identity.
            ``"same_id_same_cam"``: drop the query's identity in the query's camera (AGW
            ``eval_llcm``, MITML ``evaluate``; protocols.md sec. 3/7). ``"none"``: drop
            nothing (AGW ``eval_regdb``, sec. 2).
        q_pid, q_cam: query identities and cameras.
        g_pid, g_cam: gallery identities and cameras.

    Returns:
        Boolean array of the broadcast shape.

    Raises:
        ConfigError: unknown ``removal``.
    """
    if removal == "sysu":
        return sysu_location(q_cam) != sysu_location(g_cam)
    if removal == "same_id_same_cam":
        return (q_pid != g_pid) | (q_cam != g_cam)
    if removal == "none":
        return (q_pid == g_pid) | (q_pid != g_pid)  # all True, in the broadcast shape
    raise ConfigError(f"removal: expected one of {', '.join(REMOVAL_RULES)}; got {removal!r}")


def kept_gallery_mask(removal: str, q_pids: Any, q_camids: Any, g_pids: Any, g_camids: Any) -> Any:
    """``[Q, G]`` boolean: which gallery items each query ranks (see :func:`is_kept`)."""
    return is_kept(removal, q_pids[:, None], q_camids[:, None], g_pids[None, :], g_camids[None, :])


def rank_metrics(
    distmat: np.ndarray | torch.Tensor,
    q_pids: ArrayLike,
    g_pids: ArrayLike,
    q_camids: ArrayLike,
    g_camids: ArrayLike,
    *,
    removal: str,
    dedup_cmc: bool,
    max_rank: int = 20,
    chunk_size: int | None = None,
) -> RankMetrics:
    """CMC, mAP and mINP of a query x gallery distance matrix (smaller is closer).

    Computed on the device of ``distmat`` (NumPy arrays: CPU), ``chunk_size`` queries at a
    time, so temporaries stay ``O(chunk_size x G)`` per chunk in flight (on CPU, one per
    torch thread). Results are exact (ties by gallery order) and do not depend on the
    chunk size, the thread count or the device.

    Args:
        distmat: ``[Q, G]`` float or integer distances; NaN is rejected.
        q_pids, g_pids: ``[Q]`` / ``[G]`` integer identities.
        q_camids, g_camids: ``[Q]`` / ``[G]`` integer cameras (SYSU: 1..6).
        removal: which gallery items a query does not rank: ``"sysu"``,
            ``"same_id_same_cam"`` or ``"none"`` (see :func:`is_kept`).
        dedup_cmc: CMC over distinct identities (SYSU, LLCM) instead of items (RegDB, VCM).
            mAP and mINP are never de-duplicated.
        max_rank: length of the CMC curve.
        chunk_size: queries per chunk; None picks it from a 32 MiB budget of temporaries
            (:func:`default_chunk_size`).

    Returns:
        The metrics over the queries that keep at least one true match.

    Raises:
        ConfigError: unknown ``removal``.
        TypeError: a non-numeric distance matrix or non-integer ids.
        ValueError: bad shapes or lengths, NaN distances, ``max_rank`` or ``chunk_size``
            below 1, or no query with a true match (every average would be empty).
    """
    if removal not in REMOVAL_RULES:
        raise ConfigError(f"removal: expected one of {', '.join(REMOVAL_RULES)}; got {removal!r}")
    if not _is_positive_int(max_rank):
        raise ValueError(f"max_rank: expected an integer >= 1; got {max_rank!r}")
    if chunk_size is not None and not _is_positive_int(chunk_size):
        raise ValueError(f"chunk_size: expected None or an integer >= 1; got {chunk_size!r}")

    dist = _distance_tensor(distmat)
    num_q, num_g = dist.shape
    q_pid = _id_tensor("q_pids", q_pids, num_q, "rows")
    g_pid = _id_tensor("g_pids", g_pids, num_g, "columns")
    q_cam = _id_tensor("q_camids", q_camids, num_q, "rows")
    g_cam = _id_tensor("g_camids", g_camids, num_g, "columns")
    groups = _identity_groups(q_pid, g_pid)
    xp = _backend(dist.device)

    def arr(tensor: torch.Tensor) -> Any:
        return xp.from_torch(tensor.to(dist.device))

    gallery = _Gallery(arr(g_pid), arr(g_cam), arr(groups.g_label), groups.num_labels, arr(groups.g_order))
    q_pid, q_cam, q_start, q_size = (arr(t) for t in (q_pid, q_cam, groups.q_start, groups.q_size))
    if chunk_size is None:
        chunk_size = default_chunk_size(num_g, _comparable_size(dist.dtype))

    def run(start: int) -> tuple[Any, Any, Any]:
        part = slice(start, start + chunk_size)
        queries = _Queries(q_pid[part], q_cam[part], q_start[part], q_size[part], first_row=start)
        return _chunk_metrics(xp, xp.from_torch(_comparable(dist[part])), queries, gallery, removal, dedup_cmc)

    starts = range(0, num_q, chunk_size)
    workers = min(xp.workers(), len(starts))
    if workers > 1:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            per_query = list(pool.map(run, starts))
    else:
        per_query = [run(start) for start in starts]
    cmc_rank, ap, inp = (
        np.concatenate([xp.to_numpy(part[i]) for part in per_query]) if per_query else np.zeros(0) for i in range(3)
    )
    return _summarise(cmc_rank, ap, inp, max_rank, removal)


def default_chunk_size(num_gallery: int, element_size: int, budget_bytes: int = DEFAULT_CHUNK_BYTES) -> int:
    """Queries per chunk so that a chunk's temporaries fit ``budget_bytes``.

    A chunk holds at most about ``3 x element_size + 11`` bytes per (query, gallery) pair
    (the worst case: every item is a candidate): the candidate values, their padded and
    packed copies (at most ``element_size`` each), up to four boolean masks (candidates,
    the SYSU location rule, padding, items in front of the first match) and the
    per-identity mask of the de-duplicated CMC, with slack. On CPU one chunk runs per
    torch thread at a time.
    """
    per_row = max(num_gallery, 1) * (3 * element_size + 11)
    return max(1, budget_bytes // per_row)


def average_precision(precision_sum: Any, num_matches: Any) -> Any:
    """Per-query AP from the sum over true matches j of ``j / r_j`` (1-based, ranks ascending).

    Official SYSU-MM01 MATLAB code and AGW ``eval_metrics.py`` (protocols.md sec. 1.2/1.3):
    ``sum_k P@k rel_k / num_rel``, where P@k at the j-th hit is ``j / r_j``.
    """
    return precision_sum / num_matches


def inverse_negative_penalty(last_rank: Any, num_matches: Any) -> Any:
    """Per-query INP: ``num_matches / rank of the last true match``.

    Ye et al., AGW ``eval_metrics.py`` (protocols.md sec. 1.3): the share of true matches in
    the ranked list up to the hardest one.
    """
    return num_matches / last_rank


def _is_positive_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1


def _distance_tensor(distmat: np.ndarray | torch.Tensor) -> torch.Tensor:
    """``distmat`` as a 2-D tensor on its own device, checked, without copying."""
    if isinstance(distmat, torch.Tensor):
        dist = distmat.detach()
    else:
        array = np.asarray(distmat)
        if array.dtype.kind not in "fiu":
            raise TypeError(f"distmat: expected float or integer distances; got dtype {array.dtype}")
        if not array.dtype.isnative:
            array = array.astype(array.dtype.newbyteorder("="))
        with warnings.catch_warnings():
            # Read-only arrays are fine: nothing here writes into the distances.
            warnings.simplefilter("ignore", UserWarning)
            dist = torch.from_numpy(array)
    if dist.dim() != 2:
        raise ValueError(f"distmat: expected a 2-D [num_query, num_gallery] matrix; got shape {tuple(dist.shape)}")
    if dist.dtype == torch.bool or dist.is_complex():
        raise TypeError(f"distmat: expected float or integer distances; got dtype {dist.dtype}")
    return dist


def _comparable(block: torch.Tensor) -> torch.Tensor:
    """A block of distances in float32 or float64, converted exactly (per chunk: memory stays bounded).

    Half precision is upcast to float32 (exact; half types lack search kernels); integers
    to float64, which holds them exactly within +-2**53.
    """
    if block.dtype in (torch.float16, torch.bfloat16):
        return block.float()
    if block.is_floating_point():
        return block
    if block.numel() and (int(block.max()) > _FLOAT64_EXACT_INT or int(block.min()) < -_FLOAT64_EXACT_INT):
        raise ValueError("distmat: integer distances must lie within +-2**53 to be compared exactly as float64")
    return block.double()


def _comparable_size(dtype: torch.dtype) -> int:
    """Bytes per distance after :func:`_comparable`."""
    if dtype in (torch.float16, torch.bfloat16):
        return 4
    return dtype.itemsize if dtype.is_floating_point else 8


def _id_tensor(name: str, ids: ArrayLike, expected: int, axis: str) -> torch.Tensor:
    """1-D int64 ids on CPU, checked against the matching axis of the distance matrix."""
    tensor = ids.detach().cpu() if isinstance(ids, torch.Tensor) else torch.as_tensor(np.asarray(ids))
    if tensor.dim() != 1:
        raise ValueError(f"{name}: expected a 1-D sequence of ids; got shape {tuple(tensor.shape)}")
    if tensor.numel() and (tensor.is_floating_point() or tensor.is_complex() or tensor.dtype == torch.bool):
        raise TypeError(f"{name}: expected integer ids; got dtype {tensor.dtype}")
    if tensor.numel() != expected:
        raise ValueError(f"{name} has {tensor.numel()} entries, distmat has {expected} {axis}")
    return tensor.to(torch.int64)


@dataclass(frozen=True)
class _IdentityGroups:
    """Gallery columns grouped by identity, and each query's group (its true-match candidates)."""

    g_label: torch.Tensor  # [G] dense identity label
    num_labels: int
    g_order: torch.Tensor  # [G] columns sorted by label, ascending within a label
    q_start: torch.Tensor  # [Q] first position of the query's identity in g_order
    q_size: torch.Tensor  # [Q] gallery items of the query's identity (0: absent)


def _identity_groups(q_pid: torch.Tensor, g_pid: torch.Tensor) -> _IdentityGroups:
    """Group the gallery by identity: a query's true matches are found without a [Q, G] pass."""
    labels, g_label, counts = torch.unique(g_pid, return_inverse=True, return_counts=True)
    g_order = torch.argsort(g_label, stable=True)
    group_start = torch.cumsum(counts, 0) - counts
    if labels.numel() == 0:
        zeros = torch.zeros_like(q_pid)
        return _IdentityGroups(g_label, 0, g_order, zeros, zeros)
    position = torch.searchsorted(labels, q_pid).clamp(max=labels.numel() - 1)
    present = labels[position] == q_pid
    q_size = torch.where(present, counts[position], 0)
    return _IdentityGroups(g_label, labels.numel(), g_order, group_start[position], q_size)


@dataclass(frozen=True)
class _Gallery:
    """Gallery arrays of the backend."""

    pid: Any
    cam: Any
    label: Any
    num_labels: int
    order: Any


@dataclass(frozen=True)
class _Queries:
    """One chunk's query arrays of the backend; ``first_row`` places it in the distance matrix."""

    pid: Any
    cam: Any
    group_start: Any
    group_size: Any
    first_row: int


class _NumpyOps:
    """Array operations of the ranking on CPU, through NumPy (zero-copy views of CPU tensors)."""

    int64 = np.int64
    float64 = np.float64
    bool_ = np.bool_
    isnan = staticmethod(np.isnan)
    nonzero = staticmethod(np.nonzero)
    repeat = staticmethod(np.repeat)

    @staticmethod
    def workers() -> int:
        # NumPy releases the GIL in its sorts, comparisons and selections: chunks run in
        # parallel threads, as many as torch may use.
        return torch.get_num_threads()

    @staticmethod
    def from_torch(tensor: torch.Tensor) -> np.ndarray:
        return tensor.numpy()

    @staticmethod
    def to_numpy(array: np.ndarray) -> np.ndarray:
        return array

    @staticmethod
    def zeros(shape: tuple[int, ...], dtype: Any, like: np.ndarray) -> np.ndarray:
        return np.zeros(shape, dtype=dtype)

    @staticmethod
    def full(shape: tuple[int, ...], value: float, like: np.ndarray) -> np.ndarray:
        return np.full(shape, value, dtype=like.dtype)

    @staticmethod
    def arange(n: int, like: np.ndarray) -> np.ndarray:
        return np.arange(n, dtype=np.int64)

    @staticmethod
    def count_rows(mask: np.ndarray) -> np.ndarray:
        return np.count_nonzero(mask, axis=1).astype(np.int64)

    @staticmethod
    def bincount(values: np.ndarray, length: int) -> np.ndarray:
        return np.bincount(values, minlength=length).astype(np.int64)

    @staticmethod
    def segment_max(values: np.ndarray, rows: np.ndarray, num_rows: int) -> np.ndarray:
        out = np.full(num_rows, -np.inf, dtype=values.dtype)
        np.maximum.at(out, rows, values)
        return out

    @staticmethod
    def segment_sum(values: np.ndarray, rows: np.ndarray, num_rows: int) -> np.ndarray:
        return np.bincount(rows, weights=values, minlength=num_rows)

    @staticmethod
    def select(values: np.ndarray, mask: np.ndarray) -> np.ndarray:
        # compress on flat views measured 2x faster than boolean indexing.
        return np.compress(mask.ravel(), values.ravel())

    @staticmethod
    def concatenate(parts: list[np.ndarray]) -> np.ndarray:
        return np.concatenate(parts)

    @staticmethod
    def windows(values: np.ndarray, width: int) -> np.ndarray:
        return np.lib.stride_tricks.sliding_window_view(values, width)

    @staticmethod
    def fill_where_(values: np.ndarray, mask: np.ndarray, fill: float) -> np.ndarray:
        np.putmask(values, mask, fill)
        return values

    @staticmethod
    def sort_rows_(values: np.ndarray) -> np.ndarray:
        # Values only, in place: NumPy's SIMD sort, ~3x torch.sort on CPU.
        values.sort(axis=1)
        return values

    @staticmethod
    def argsort(keys: np.ndarray) -> np.ndarray:
        return np.argsort(keys)

    @staticmethod
    def clamp_max_(values: np.ndarray, high: int) -> np.ndarray:
        return np.minimum(values, high, out=values)

    @staticmethod
    def to_float64(values: np.ndarray) -> np.ndarray:
        return values.astype(np.float64)

    @staticmethod
    def to_float32(values: np.ndarray) -> np.ndarray:
        return values.astype(np.float32)

    @staticmethod
    def length_levels(lengths: np.ndarray) -> np.ndarray:
        return np.ceil(np.log2(np.maximum(lengths, 1))).astype(np.int64)

    @staticmethod
    def unique(values: np.ndarray) -> list[int]:
        return np.unique(values).tolist()

    @staticmethod
    def searchsorted_rows(sorted_rows: np.ndarray, values: np.ndarray) -> np.ndarray:
        # NumPy has no row-wise search; torch's runs on the same memory.
        seq, val = torch.from_numpy(sorted_rows), torch.from_numpy(np.ascontiguousarray(values))
        return torch.searchsorted(seq, val).numpy()

    @staticmethod
    def take_rows(values: np.ndarray, index: np.ndarray) -> np.ndarray:
        return np.take_along_axis(values, index, axis=1)


class _TorchOps:
    """The same operations in torch, on the tensors' own device (CUDA)."""

    int64 = torch.int64
    float64 = torch.float64
    bool_ = torch.bool
    isnan = staticmethod(torch.isnan)
    repeat = staticmethod(torch.repeat_interleave)

    @staticmethod
    def workers() -> int:
        return 1

    @staticmethod
    def from_torch(tensor: torch.Tensor) -> torch.Tensor:
        return tensor

    @staticmethod
    def to_numpy(tensor: torch.Tensor) -> np.ndarray:
        return tensor.cpu().numpy()

    @staticmethod
    def zeros(shape: tuple[int, ...], dtype: torch.dtype, like: torch.Tensor) -> torch.Tensor:
        return torch.zeros(shape, dtype=dtype, device=like.device)

    @staticmethod
    def full(shape: tuple[int, ...], value: float, like: torch.Tensor) -> torch.Tensor:
        return torch.full(shape, value, dtype=like.dtype, device=like.device)

    @staticmethod
    def arange(n: int, like: torch.Tensor) -> torch.Tensor:
        return torch.arange(n, device=like.device)

    @staticmethod
    def nonzero(mask: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return torch.nonzero(mask, as_tuple=True)

    @staticmethod
    def count_rows(mask: torch.Tensor) -> torch.Tensor:
        return torch.count_nonzero(mask, dim=1)

    @staticmethod
    def bincount(values: torch.Tensor, length: int) -> torch.Tensor:
        return torch.bincount(values, minlength=length)

    @staticmethod
    def segment_max(values: torch.Tensor, rows: torch.Tensor, num_rows: int) -> torch.Tensor:
        out = torch.full((num_rows,), -math.inf, dtype=values.dtype, device=values.device)
        return out.scatter_reduce_(0, rows, values, reduce="amax")

    @staticmethod
    def segment_sum(values: torch.Tensor, rows: torch.Tensor, num_rows: int) -> torch.Tensor:
        return torch.zeros(num_rows, dtype=values.dtype, device=values.device).index_add_(0, rows, values)

    @staticmethod
    def select(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return torch.masked_select(values, mask)

    @staticmethod
    def concatenate(parts: list[torch.Tensor]) -> torch.Tensor:
        return torch.cat(parts)

    @staticmethod
    def windows(values: torch.Tensor, width: int) -> torch.Tensor:
        return values.unfold(0, width, 1)

    @staticmethod
    def fill_where_(values: torch.Tensor, mask: torch.Tensor, fill: float) -> torch.Tensor:
        return values.masked_fill_(mask, fill)

    @staticmethod
    def sort_rows_(values: torch.Tensor) -> torch.Tensor:
        return torch.sort(values, dim=1).values

    @staticmethod
    def argsort(keys: torch.Tensor) -> torch.Tensor:
        return torch.argsort(keys)

    @staticmethod
    def clamp_max_(values: torch.Tensor, high: int) -> torch.Tensor:
        return values.clamp_(max=high)

    @staticmethod
    def to_float64(values: torch.Tensor) -> torch.Tensor:
        return values.double()

    @staticmethod
    def to_float32(values: torch.Tensor) -> torch.Tensor:
        return values.float()

    @staticmethod
    def length_levels(lengths: torch.Tensor) -> torch.Tensor:
        return torch.ceil(torch.log2(lengths.clamp(min=1).double())).long()

    @staticmethod
    def unique(values: torch.Tensor) -> list[int]:
        return torch.unique(values).tolist()

    @staticmethod
    def searchsorted_rows(sorted_rows: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
        return torch.searchsorted(sorted_rows, values.contiguous())

    @staticmethod
    def take_rows(values: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
        return torch.gather(values, 1, index)


def _backend(device: torch.device) -> type[_NumpyOps | _TorchOps]:
    """NumPy for CPU tensors (measured faster there), torch on any other device."""
    return _NumpyOps if device.type == "cpu" else _TorchOps


class _Removal:
    """The removal rule on one chunk, in the cheapest exact form.

    ``"sysu"`` removes by location, any identity: a dense ``[C, G]`` mask. The other rules
    remove only items of the query's identity, which the true-match search already lists:
    a sparse list of (row, column) pairs.
    """

    def __init__(self, removal: str, queries: _Queries, gallery: _Gallery, removed: tuple[Any, Any]) -> None:
        self.rule = removal
        self.queries = queries
        self.gallery = gallery
        self.removed = removed
        self.dense = None
        if removal == "sysu":
            self.dense = kept_gallery_mask(removal, queries.pid, queries.cam, gallery.pid, gallery.cam)

    def apply(self, mask: Any) -> Any:
        """Clear the removed items of a ``[C, G]`` mask, in place."""
        if self.dense is not None:
            mask &= self.dense
        if self.removed[0].shape[0]:
            mask[self.removed] = False
        return mask

    def kept_rows(self, rows: Any) -> Any:
        """``[len(rows), G]`` kept mask of some rows of the chunk."""
        q, g = self.queries, self.gallery
        return kept_gallery_mask(self.rule, q.pid[rows], q.cam[rows], g.pid, g.cam)


def _chunk_metrics(
    xp: Any, dist: Any, queries: _Queries, gallery: _Gallery, removal: str, dedup_cmc: bool
) -> tuple[Any, Any, Any]:
    """Per-query CMC rank, AP and INP of one chunk of queries (arrays of backend ``xp``).

    Returns:
        ``[C]`` int64 rank used by the CMC (0 for queries without a true match), ``[C]``
        float64 AP and ``[C]`` float64 INP (0 without a true match).
    """
    num_rows, num_g = dist.shape
    cmc_rank = xp.zeros((num_rows,), xp.int64, dist)
    ap = xp.zeros((num_rows,), xp.float64, dist)
    inp = xp.zeros((num_rows,), xp.float64, dist)
    if num_g == 0:
        return cmc_rank, ap, inp
    if bool(xp.isnan(dist.max())):  # max propagates NaN: one pass, no temporary
        row = queries.first_row + int(xp.nonzero(xp.isnan(dist).any(1))[0][0])
        raise ValueError(f"distmat: row {row} contains NaN; distances must be comparable")

    # True matches: the gallery items of the query's identity that the rule keeps.
    size = queries.group_size
    rows = xp.repeat(xp.arange(num_rows, dist), size)
    within = xp.arange(rows.shape[0], dist) - (size.cumsum(0) - size)[rows]
    cols = gallery.order[queries.group_start[rows] + within]  # ascending within a row
    kept = is_kept(removal, queries.pid[rows], queries.cam[rows], gallery.pid[cols], gallery.cam[cols])
    rule = _Removal(removal, queries, gallery, (rows[~kept], cols[~kept]))
    rows, cols = rows[kept], cols[kept]
    if rows.shape[0] == 0:
        return cmc_rank, ap, inp
    num_matches = xp.bincount(rows, num_rows)
    values = dist[rows, cols]
    ranks, tied = _match_ranks(xp, dist, rule, rows, cols, values, num_matches)

    # Ranks grouped by query (rows already ascend), ascending within a query.
    order = xp.argsort(rows * (num_g + 1) + ranks)
    sorted_ranks = ranks[order]
    starts = num_matches.cumsum(0) - num_matches
    hit = xp.arange(rows.shape[0], dist) - starts[rows] + 1  # j of the j-th true match
    precision_sum = xp.segment_sum(xp.to_float64(hit) / xp.to_float64(sorted_ranks), rows, num_rows)

    valid = xp.nonzero(num_matches > 0)[0]
    count = xp.to_float64(num_matches[valid])
    ap[valid] = average_precision(precision_sum[valid], count)
    last = sorted_ranks[starts[valid] + num_matches[valid] - 1]
    inp[valid] = inverse_negative_penalty(xp.to_float64(last), count)
    first = order[starts[valid]]  # each valid query's first true match
    if dedup_cmc:
        in_front = _distinct_ids_before(xp, dist, rule, valid, cols[first], values[first], tied[first], gallery)
        cmc_rank[valid] = 1 + in_front
    else:
        cmc_rank[valid] = ranks[first]
    return cmc_rank, ap, inp


def _match_ranks(
    xp: Any, dist: Any, rule: _Removal, rows: Any, cols: Any, values: Any, num_matches: Any
) -> tuple[Any, Any]:
    """1-based rank of every true match among its query's kept items, ties by gallery order.

    Only kept items no farther than the query's farthest true match ("candidates") can
    precede a true match. Their sort keys (:func:`_sort_key`) are packed into rows of
    similar length (+inf padding) and sorted, and every true match counts the candidates
    with a smaller key by binary search. Where another candidate has the same key, the
    exact order among that key group is counted on the distances themselves.

    Args:
        xp: the array backend.
        dist: ``[C, G]`` distances.
        rule: the chunk's removal.
        rows, cols: ``[N]`` positions of the true matches, row-major.
        values: ``[N]`` their distances.
        num_matches: ``[C]`` true matches per query.

    Returns:
        ``[N]`` int64 ranks and ``[N]`` bool: whether another candidate has the same sort
        key (always so when another kept item has the same distance).
    """
    num_rows = dist.shape[0]
    farthest = xp.segment_max(values, rows, num_rows)  # -inf: no true match
    candidate = rule.apply(dist <= farthest[:, None])
    cand_count = xp.count_rows(candidate)
    cand_start = cand_count.cumsum(0) - cand_count
    used = num_matches > 0
    longest = int(cand_count[used].max())
    # Row-major candidate keys, then +inf so that every row's window of any bucket width
    # stays inside the array.
    keys = _sort_key(xp, xp.select(dist, candidate))
    padded = xp.concatenate([keys, xp.full((longest,), math.inf, keys)])
    del candidate

    starts = num_matches.cumsum(0) - num_matches
    slot = xp.arange(rows.shape[0], dist) - starts[rows]
    # Each row's match values, padded to the longest row; padded slots are never read.
    thresholds = xp.zeros((num_rows, int(num_matches.max())), padded.dtype, dist)
    thresholds[rows, slot] = _sort_key(xp, values)
    below = xp.zeros(thresholds.shape, xp.int64, dist)
    # Whether the key after a match's search position equals its own: the match is a
    # candidate itself, so then another candidate (or +inf padding) shares its key.
    tie_next = xp.zeros(thresholds.shape, xp.bool_, dist)
    for bucket in _length_buckets(xp, cand_count, used):
        width = int(cand_count[bucket].max())
        # Row r's candidates are padded[cand_start[r]:][:cand_count[r]]: a window copy
        # with the tail masked to +inf packs them without an index array.
        packed = xp.windows(padded, width)[cand_start[bucket]]
        packed = xp.sort_rows_(xp.fill_where_(packed, xp.arange(width, dist) >= cand_count[bucket, None], math.inf))
        limits = thresholds[bucket]
        position = xp.searchsorted_rows(packed, limits)
        below[bucket] = position
        following = xp.take_rows(packed, xp.clamp_max_(position + 1, width - 1))
        tie_next[bucket] = (following == limits) & (position + 1 < width)
    ranks = below[rows, slot] + 1
    tied = tie_next[rows, slot]
    if bool(tied.any()):
        at = xp.nonzero(tied)[0]
        ranks[at] += _tied_in_front(xp, dist, rule, rows[at], cols[at], values[at])
    return ranks, tied


def _length_buckets(xp: Any, lengths: Any, used: Any) -> list[Any]:
    """Rows (``used`` only) grouped by ``ceil(log2(length))``, so padding stays under 2x."""
    level = xp.length_levels(lengths)
    level[~used] = -1
    return [xp.nonzero(level == lv)[0] for lv in xp.unique(level) if lv >= 0]


def _sort_key(xp: Any, values: Any) -> Any:
    """The key candidates are sorted by: the distance itself, float64 rounded to float32.

    Rounding to nearest is monotone, so a smaller key means a smaller distance; equal keys
    are resolved exactly by :func:`_tied_in_front`. float32 sorts ~3x faster than float64
    on CPU, and on real float64 distances equal keys are rare.
    """
    return xp.to_float32(values) if values.dtype == xp.float64 else values


def _tied_in_front(xp: Any, dist: Any, rule: _Removal, rows: Any, cols: Any, values: Any) -> Any:
    """Kept items in front of each key-tied true match, counted within its sort-key group.

    For true matches ``(rows, cols, values)`` whose sort key another candidate shares:
    the kept items of the same row with the same key that rank in front by distance, then
    by gallery column (the stable order).
    """
    num_g = dist.shape[1]
    columns = xp.arange(num_g, dist)
    counts = xp.zeros((rows.shape[0],), xp.int64, dist)
    # Ties are rare on real features; batches as wide as a chunk bound the memory when not.
    step = default_chunk_size(num_g, dist.dtype.itemsize)
    for start in range(0, rows.shape[0], step):
        r, c, v = rows[start : start + step], cols[start : start + step], values[start : start + step]
        row_dist, v = dist[r], v[:, None]
        in_front = (row_dist < v) | ((row_dist == v) & (columns[None, :] < c[:, None]))
        in_front &= _sort_key(xp, row_dist) == _sort_key(xp, v)
        in_front &= rule.kept_rows(r)
        counts[start : start + step] = xp.count_rows(in_front)
    return counts


def _distinct_ids_before(
    xp: Any,
    dist: Any,
    rule: _Removal,
    valid: Any,
    first_cols: Any,
    first_values: Any,
    first_tied: Any,
    gallery: _Gallery,
) -> Any:
    """Distinct gallery identities ranked before each valid query's first true match.

    This is the de-duplicated CMC rank minus one (official SYSU-MM01 MATLAB code, AGW
    ``eval_sysu``, protocols.md sec. 1.2/1.3): the ranked identity list keeps each
    identity's first occurrence, and every item before the first true match is a false one.

    Args:
        xp: the array backend.
        dist: the chunk's ``[C, G]`` distances.
        rule: the chunk's removal.
        valid: ``[V]`` rows of the queries with a true match.
        first_cols, first_values, first_tied: ``[V]`` column, distance and tie flag of each
            valid query's first true match.
        gallery: gallery identity labels.
    """
    limit = xp.full((dist.shape[0],), -math.inf, dist)
    limit[valid] = first_values
    in_front = rule.apply(dist < limit[:, None])
    if bool(first_tied.any()):
        # Equal distance at a smaller column: in front by the stable order.
        sub = xp.nonzero(first_tied)[0]
        tied_rows = valid[sub]
        equal = dist[tied_rows] == first_values[sub, None]
        equal &= xp.arange(dist.shape[1], dist)[None, :] < first_cols[sub, None]
        in_front[tied_rows] |= equal & rule.kept_rows(tied_rows)
    rows, cols = xp.nonzero(in_front)
    seen = xp.zeros((dist.shape[0], gallery.num_labels), xp.bool_, dist)
    seen[rows, gallery.label[cols]] = True
    return xp.count_rows(seen)[valid]


def _summarise(cmc_rank: np.ndarray, ap: np.ndarray, inp: np.ndarray, max_rank: int, removal: str) -> RankMetrics:
    """Average the per-query values over the valid queries (those with a CMC rank)."""
    valid = cmc_rank > 0
    num_valid = int(valid.sum())
    if num_valid == 0:
        raise ValueError(
            f"no query has a true match in the gallery after removal={removal!r}: "
            "every average would be empty (do query and gallery share identities?)"
        )
    ranks = cmc_rank[valid].astype(np.int64)
    hits = np.bincount(np.minimum(ranks, max_rank + 1) - 1, minlength=max_rank + 1)[:max_rank]
    cmc = np.cumsum(hits) * (100.0 / num_valid)
    return RankMetrics(
        cmc=tuple(float(x) for x in cmc),
        mAP=float(ap[valid].mean()) * 100.0,
        mINP=float(inp[valid].mean()) * 100.0,
        num_valid=num_valid,
    )
