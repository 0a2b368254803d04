"""Batch-hard triplet loss (Hermans et al. 2017) within one batch or across two sets of features.

For each anchor, the hardest positive (the farthest candidate with the anchor's label) and the hardest
negative (the nearest candidate with another label) form one triplet; the loss is the mean hinge
``max(0, d_ap - d_an + margin)`` (BoT ``layers/triplet_loss.py`` ``TripletLoss`` with
``nn.MarginRankingLoss``; AGW ``loss.py`` ``OriTripletLoss``), or the soft margin
``log(1 + exp(d_ap - d_an))`` (BoT with ``margin=None``).

Two forms, one code path:

* within a batch (``other=None``): candidates are the batch itself. XIV Eq. 10 (``xiv.txt``), the
  per-modality term of the MRG constraint with margin ``alpha_2 = 0.3``.
* cross-set: anchors come from ``features``, candidates from ``other`` (no concatenation, no copy).
  XIV Eq. 5 and 6: ``L_{I-X}`` = anchors I, candidates X; ``L_{X-I}`` the other way round, margin
  ``alpha_1 = 0.5``. Eq. 4 divides their *sum* by M, i.e. it is the sum of the two per-anchor means this
  module returns.

Distances: :func:`reid.losses.distance.pairwise_euclidean` (clamp 1e-12 then sqrt, as AGW and BoT).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from reid.errors import ConfigError
from reid.losses.distance import check_labelled_features, pairwise_euclidean


class HardestPairs(NamedTuple):
    """Per-anchor hardest distances of a batch (shapes ``[N]``, N anchors).

    Attributes:
        positive: distance to the farthest candidate with the anchor's label (``-inf`` where none).
        negative: distance to the nearest candidate with another label (``+inf`` where none).
        valid: whether the anchor has both a positive and a negative; only these enter a loss.
    """

    positive: Tensor
    negative: Tensor
    valid: Tensor

    def correct(self) -> int:
        """Valid anchors whose hardest negative is at least as far as their hardest positive.

        The ``correct`` count AGW's ``OriTripletLoss`` returns beside the loss (``dist_an >= dist_ap``).
        """
        return int((self.negative >= self.positive)[self.valid].sum())


def hardest_pairs(
    features: Tensor,
    labels: Tensor,
    *,
    other: Tensor | None = None,
    other_labels: Tensor | None = None,
    exclude_self: bool = False,
) -> HardestPairs:
    """Hardest positive and hardest negative distance of every anchor (batch-hard mining, Hermans et al.).

    Within a batch the anchor is one of its own positives by default, as in BoT
    ``hard_example_mining`` and AGW ``OriTripletLoss`` (their masks keep the diagonal) and as XIV Eq. 10
    writes it (``j = 1..M`` includes ``i``). Its distance to itself is the clamp floor ``1e-6``, which never
    beats a real positive in the max; it matters only for an identity seen once in the batch, whose anchor
    then still pushes its nearest negative beyond the margin. ``exclude_self=True`` drops the diagonal
    (fast-reid's later choice); such singleton anchors then have no positive and are not valid.

    Args:
        features: ``[N, D]`` anchor features.
        labels: ``[N]`` integer identities of the anchors.
        other: ``[M, D]`` candidate features for the cross-set form (XIV Eq. 5/6); ``None``: the batch itself.
        other_labels: ``[M]`` identities of ``other``; given exactly when ``other`` is.
        exclude_self: within one batch, leave the anchor out of its own positives.

    Returns:
        :class:`HardestPairs` with ``[N]`` positive and negative distances and the ``[N]`` valid mask.

    Raises:
        ValueError, TypeError: malformed tensors (see :func:`check_labelled_features`), or ``other``
            without ``other_labels`` (or the reverse).
        ConfigError: ``exclude_self`` with ``other`` (the anchors are not among the candidates).
    """
    check_labelled_features(features, labels)
    if (other is None) != (other_labels is None):
        raise ValueError("other, other_labels: expected both (cross-set form) or neither (within-batch form)")
    if other is None:
        candidate_labels = labels
        dist = pairwise_euclidean(features)
    else:
        if exclude_self:
            raise ConfigError("exclude_self: only applies within one batch (other=None); anchors are not among other")
        check_labelled_features(other, other_labels, name="other")
        candidate_labels = other_labels
        dist = pairwise_euclidean(features, other)
    same = labels.unsqueeze(1) == candidate_labels.unsqueeze(0)
    is_pos = same
    if exclude_self:
        is_pos = same & ~torch.eye(same.shape[0], dtype=torch.bool, device=same.device)
    is_neg = ~same
    # Filling the excluded entries with -inf / +inf keeps them out of max / min and out of the gradient.
    positive = torch.where(is_pos, dist, -math.inf).max(dim=1).values
    negative = torch.where(is_neg, dist, math.inf).min(dim=1).values
    valid = is_pos.any(dim=1) & is_neg.any(dim=1)
    return HardestPairs(positive, negative, valid)


def batch_hard_triplet(
    features: Tensor,
    labels: Tensor,
    margin: float,
    *,
    other: Tensor | None = None,
    other_labels: Tensor | None = None,
    soft_margin: bool = False,
    exclude_self: bool = False,
) -> Tensor:
    """Batch-hard triplet loss, mean over the valid anchors.

    ``loss = mean_i max(0, d_ap(i) - d_an(i) + margin)`` — BoT ``TripletLoss`` (``nn.MarginRankingLoss``
    with ``y = 1``), AGW ``OriTripletLoss``, XIV Eq. 5, 6 and 10 (``xiv.txt``, divided by the number of
    anchors as in Eq. 4 and 8). ``soft_margin=True``: ``mean_i log(1 + exp(d_ap(i) - d_an(i)))``
    (Hermans et al.'s soft margin, BoT's ``nn.SoftMarginLoss`` when ``margin=None``).

    Anchors without a positive or without a negative among the candidates have no triplet and are
    left out of the mean (the references crash on them, or silently mis-shape with unequal counts).

    Args:
        features: ``[N, D]`` anchor features.
        labels: ``[N]`` integer identities.
        margin: hinge margin, ``>= 0`` (XIV: 0.3 within a modality, 0.5 across; BoT/AGW: 0.3). Must be 0
            with ``soft_margin``, which has none.
        other: ``[M, D]`` candidates of the cross-set form; ``None``: the batch itself.
        other_labels: ``[M]`` identities of ``other``.
        soft_margin: use the soft-margin form instead of the hinge.
        exclude_self: within one batch, leave the anchor out of its own positives (see :func:`hardest_pairs`).

    Returns:
        Scalar loss tensor.

    Raises:
        ConfigError: a negative or non-finite margin, a non-zero margin with ``soft_margin``, or
            ``exclude_self`` with ``other``.
        ValueError: no anchor has both a positive and a negative (e.g. a batch of one identity), or
            malformed tensors.
    """
    _check_margin(margin, soft_margin)
    pairs = hardest_pairs(features, labels, other=other, other_labels=other_labels, exclude_self=exclude_self)
    if not bool(pairs.valid.any()):
        where = "other" if other is not None else "the batch"
        raise ValueError(
            f"labels: no anchor has both a positive and a negative in {where}; expected at least two identities "
            f"with a shared one (got {labels.unique().numel()} anchor identities)"
        )
    positive = pairs.positive[pairs.valid]
    negative = pairs.negative[pairs.valid]
    target = torch.ones_like(negative)
    if soft_margin:
        return F.soft_margin_loss(negative - positive, target)
    return F.margin_ranking_loss(negative, positive, target, margin=float(margin))


class BatchHardTripletLoss(nn.Module):
    """Module form of :func:`batch_hard_triplet` (BoT ``TripletLoss``, XIV Eq. 5, 6 and 10).

    Args:
        margin: hinge margin, ``>= 0`` (0 with ``soft_margin``).
        soft_margin: soft-margin form ``log(1 + exp(d_ap - d_an))``.
        exclude_self: within one batch, leave the anchor out of its own positives.
    """

    def __init__(self, margin: float, *, soft_margin: bool = False, exclude_self: bool = False) -> None:
        super().__init__()
        _check_margin(margin, soft_margin)
        self.margin = float(margin)
        self.soft_margin = soft_margin
        self.exclude_self = exclude_self

    def forward(
        self,
        features: Tensor,
        labels: Tensor,
        other: Tensor | None = None,
        other_labels: Tensor | None = None,
    ) -> Tensor:
        """Scalar loss of ``[N, D]`` anchors against the batch itself or against ``[M, D]`` ``other``."""
        return batch_hard_triplet(
            features,
            labels,
            self.margin,
            other=other,
            other_labels=other_labels,
            soft_margin=self.soft_margin,
            exclude_self=self.exclude_self,
        )

    def extra_repr(self) -> str:
        return f"margin={self.margin}, soft_margin={self.soft_margin}, exclude_self={self.exclude_self}"


def _check_margin(margin: float, soft_margin: bool) -> None:
    if isinstance(margin, bool) or not isinstance(margin, int | float) or not math.isfinite(margin) or margin < 0:
        raise ConfigError(f"margin: expected a finite number >= 0; got {margin!r}")
    if soft_margin and margin != 0:
        raise ConfigError(f"margin: the soft-margin triplet has none; expected 0 with soft_margin=True, got {margin}")
