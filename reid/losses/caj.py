"""CAJ's adaptive weighted triplet ``TripletLoss_ADP`` (``--method adp``), exactly as the reference.

Source: Ye et al., "Channel Augmented Joint Learning for Visible-Infrared Recognition" (ICCV 2021), public
code ``mangye16/Cross-Modal-Re-ID-baseline`` ``ICCV21_CAJ/loss.py`` (``TripletLoss_ADP``); behaviour written
down in protocols.md sec. 5. It is AGW's WRT (:mod:`reid.losses.wrt`, same softmax weighting and quirks)
with three knobs:

* ``alpha``: the distances inside the softmax weights are ``alpha * d`` (the weighted means use ``d``).
* ``square=0``: ``loss = mean_i log(1 + exp(-gamma (dn_i - dp_i)))`` (``nn.SoftMarginLoss`` of
  ``gamma (dn - dp)`` with target 1).
* ``square=1``, the "enhanced squared difference": ``s_i = min(gamma (dp_i - dn_i)^2, 88)``,
  ``y_i = -1`` if ``dp_i > dn_i`` else ``+1``, ``loss = mean_i log(1 + exp(-y_i s_i))``. A violated anchor
  (``dp > dn``) pays ``log(1 + exp(s))``, a satisfied one ``log(1 + exp(-s))``; both push ``dp`` down and ``dn``
  up. The cap 88 keeps ``exp`` finite in float32 (``exp(88.7)`` overflows) and stops the gradient of
  an anchor beyond it.

The released CAJ command uses ``--alpha 1 --gamma 1 --square 1``; with ``alpha = gamma = 1, square = 0``
this loss equals WRT.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from reid.errors import ConfigError
from reid.losses.wrt import check_positive, weighted_distances

SQUARED_DIFFERENCE_CAP = 88.0
"""Upper clamp of ``gamma (dp - dn)^2`` in the squared branch (CAJ ``loss.py``, ``clamp_max(..., max=88)``)."""


def adp_triplet(
    features: Tensor,
    labels: Tensor,
    *,
    alpha: float = 1.0,
    gamma: float = 1.0,
    square: int = 0,
) -> Tensor:
    """CAJ ``TripletLoss_ADP`` loss (protocols.md sec. 5, ``ICCV21_CAJ/loss.py``).

    Args:
        features: ``[N, D]`` features of the whole batch (CAJ: visible, channel-exchanged and infrared
            images, 96 rows).
        labels: ``[N]`` integer identities.
        alpha: factor on the distances inside the softmax weights, ``> 0``.
        gamma: factor on the (squared) difference, ``> 0``.
        square: 0 for the soft-margin difference, 1 for the enhanced squared difference.

    Returns:
        Scalar loss tensor.

    Raises:
        ConfigError: ``alpha`` or ``gamma`` not a finite number ``> 0``, ``square`` not 0 or 1.
    """
    _check_options(alpha, gamma, square)
    pair = weighted_distances(features, labels, scale=alpha)
    return adp_ranking_loss(pair.positive, pair.negative, gamma=gamma, square=square)


def adp_ranking_loss(positive: Tensor, negative: Tensor, *, gamma: float = 1.0, square: int = 0) -> Tensor:
    """The ranking part of ``TripletLoss_ADP`` on per-anchor ``dp`` and ``dn`` (protocols.md sec. 5).

    Args:
        positive: ``[N]`` weighted positive distances ``dp``.
        negative: ``[N]`` weighted negative distances ``dn``.
        gamma: factor on the (squared) difference, ``> 0``.
        square: 0: ``mean log(1 + exp(-gamma (dn - dp)))``; 1: the capped squared difference with the
            sign of the violation as target (module docstring).

    Returns:
        Scalar loss tensor.
    """
    _check_options(1.0, gamma, square)
    if square == 0:
        return F.soft_margin_loss(gamma * (negative - positive), torch.ones_like(negative))
    squared = torch.clamp(gamma * (positive - negative).pow(2), max=SQUARED_DIFFERENCE_CAP)
    # The target is a sign, computed without gradient as in the reference: -1 where the positive is farther.
    target = torch.where(positive > negative, -1.0, 1.0).to(squared.dtype)
    return F.soft_margin_loss(squared, target)


class TripletLossADP(nn.Module):
    """Module form of :func:`adp_triplet` (CAJ ``TripletLoss_ADP(alpha, gamma, square)``).

    Args:
        alpha: factor on the distances inside the softmax weights, ``> 0``.
        gamma: factor on the (squared) difference, ``> 0``.
        square: 0 for the soft-margin difference, 1 for the enhanced squared difference.
    """

    def __init__(self, alpha: float = 1.0, gamma: float = 1.0, square: int = 0) -> None:
        super().__init__()
        _check_options(alpha, gamma, square)
        self.alpha = float(alpha)
        self.gamma = float(gamma)
        self.square = int(square)

    def forward(self, features: Tensor, labels: Tensor) -> Tensor:
        """Scalar loss of ``[N, D]`` features with ``[N]`` labels."""
        return adp_triplet(features, labels, alpha=self.alpha, gamma=self.gamma, square=self.square)

    def extra_repr(self) -> str:
        return f"alpha={self.alpha}, gamma={self.gamma}, square={self.square}"


def _check_options(alpha: float, gamma: float, square: int) -> None:
    check_positive("alpha", alpha)
    check_positive("gamma", gamma)
    if square not in (0, 1) or isinstance(square, float):
        raise ConfigError(f"square: expected 0 (soft-margin difference) or 1 (squared difference); got {square!r}")
