"""AGW's weighted regularization triplet (WRT), exactly as the reference ``TripletLoss_WRT``.

Source: Ye et al., "Deep Learning for Person Re-identification: A Survey and Outlook" (AGW), public code
``mangye16/Cross-Modal-Re-ID-baseline`` ``loss.py`` (``TripletLoss_WRT``, ``softmax_weights``); behaviour
written down in protocols.md sec. 4. With ``D`` the pairwise distances of the whole batch
(:func:`reid.losses.distance.pairwise_euclidean`), for anchor ``i``:

* ``P_i`` = rows with label ``y_i``, the anchor itself included (``d_ii = 1e-6``); ``N_i`` = the others.
* ``w^p_ij = exp(d_ij) / sum_{k in P_i} exp(d_ik)``, ``w^n_ij = exp(-d_ij) / sum_{k in N_i} exp(-d_ik)``.
* ``dp_i = sum_j w^p_ij d_ij``, ``dn_i = sum_j w^n_ij d_ij``; loss ``= mean_i log(1 + exp(dp_i - dn_i))``
  (``nn.SoftMarginLoss`` with target 1). No margin.

The softmax is the reference's, to the last quirk (:func:`masked_softmax_weights`): it subtracts the row
maximum of the *masked* scores (excluded entries count as 0) and adds ``1e-6`` to the denominator. For the
positives that maximum is the farthest positive, a true shift. For the negatives the scores are ``-d <= 0``
and the excluded entries 0, so the shift is always 0: the weights are ``exp(-d) / (sum exp(-d) + 1e-6)``.
Once every negative of an anchor is farther than about 14 (``exp(-14) ~ 1e-6``) the weights sum to less
than one and ``dn_i`` shrinks toward 0 — the loss then grows as negatives move away, and its gradient pulls
far negatives closer. This is what AGW and CAJ train with, so it is kept.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from reid.errors import ConfigError
from reid.losses.distance import check_labelled_features, pairwise_euclidean

SOFTMAX_DENOMINATOR_EPS = 1e-6
"""Added to the softmax denominator "to avoid division by zero" (AGW ``loss.py`` ``softmax_weights``)."""


class WeightedDistances(NamedTuple):
    """Per-anchor softmax-weighted distances (shapes ``[N]``).

    Attributes:
        positive: ``dp_i``, weighted mean distance to the anchor's positives (itself included).
        negative: ``dn_i``, weighted mean distance to its negatives (0 where it has none).
    """

    positive: Tensor
    negative: Tensor

    def correct(self) -> int:
        """Anchors with ``dn_i >= dp_i``: the ``correct`` count AGW's ``TripletLoss_WRT`` returns."""
        return int((self.negative >= self.positive).sum())


def masked_softmax_weights(scores: Tensor, mask: Tensor) -> Tensor:
    """Row-wise softmax over the entries of ``mask``, as AGW ``loss.py`` ``softmax_weights`` computes it.

    ``m_i = max_j (scores_ij * mask_ij)`` (excluded entries count as 0, so ``m_i >= 0`` whenever a row has an
    excluded entry), ``W_ij = exp(scores_ij - m_i) mask_ij / (sum_k exp(scores_ik - m_i) mask_ik + 1e-6)``.
    The maximum is not detached, as in the reference: through the ``1e-6`` term it carries gradient.

    Args:
        scores: ``[N, M]`` scores, already zero outside ``mask`` as the reference passes them.
        mask: ``[N, M]`` float (0/1) or bool mask of the entries to weight.

    Returns:
        ``[N, M]`` weights, zero outside ``mask``; each row sums to slightly less than 1.
    """
    mask = mask.to(scores.dtype)
    shift = torch.max(scores * mask, dim=1, keepdim=True).values
    exp = torch.exp(scores - shift)
    normaliser = torch.sum(exp * mask, dim=1, keepdim=True) + SOFTMAX_DENOMINATOR_EPS
    return exp * mask / normaliser


def weighted_distances(features: Tensor, labels: Tensor, *, scale: float = 1.0) -> WeightedDistances:
    """``dp_i`` and ``dn_i`` of WRT (protocols.md sec. 4) over the whole batch.

    The softmax weights see the distances multiplied by ``scale`` (CAJ ``TripletLoss_ADP``'s ``alpha``,
    protocols.md sec. 5); the weighted means use the plain distances. ``scale=1`` is WRT.

    Args:
        features: ``[N, D]`` features of the whole (multi-modality) batch.
        labels: ``[N]`` integer identities.
        scale: factor on the distances inside the weights, ``> 0``.

    Returns:
        :class:`WeightedDistances` with ``[N]`` ``positive`` and ``negative``.

    Raises:
        ConfigError: ``scale`` not a finite number ``> 0``.
    """
    check_positive("scale", scale)
    check_labelled_features(features, labels)
    dist = pairwise_euclidean(features)
    is_pos = (labels.unsqueeze(1) == labels.unsqueeze(0)).to(dist.dtype)
    is_neg = 1.0 - is_pos
    dist_pos = dist * is_pos
    dist_neg = dist * is_neg
    weights_pos = masked_softmax_weights(dist_pos * scale, is_pos)
    weights_neg = masked_softmax_weights(-dist_neg * scale, is_neg)
    return WeightedDistances(
        positive=torch.sum(dist_pos * weights_pos, dim=1),
        negative=torch.sum(dist_neg * weights_neg, dim=1),
    )


def weighted_regularization_triplet(features: Tensor, labels: Tensor) -> Tensor:
    """AGW WRT loss ``mean_i log(1 + exp(dp_i - dn_i))`` (``TripletLoss_WRT``, protocols.md sec. 4).

    Args:
        features: ``[N, D]`` features of the whole batch (AGW: the GeM features before the BNNeck).
        labels: ``[N]`` integer identities.

    Returns:
        Scalar loss tensor. An anchor without negatives contributes ``log(1 + exp(dp_i))`` (``dn_i = 0``),
        as in the reference.
    """
    pair = weighted_distances(features, labels)
    return F.soft_margin_loss(pair.negative - pair.positive, torch.ones_like(pair.negative))


class WeightedRegularizationTriplet(nn.Module):
    """Module form of :func:`weighted_regularization_triplet` (AGW ``TripletLoss_WRT``); no parameters."""

    def forward(self, features: Tensor, labels: Tensor) -> Tensor:
        """Scalar WRT loss of ``[N, D]`` features with ``[N]`` labels."""
        return weighted_regularization_triplet(features, labels)


def check_positive(name: str, value: float) -> None:
    """Raise :class:`ConfigError` unless ``value`` is a finite real number ``> 0`` (not a bool)."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value <= 0:
        raise ConfigError(f"{name}: expected a finite number > 0; got {value!r}")
