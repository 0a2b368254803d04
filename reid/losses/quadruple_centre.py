"""MSCMNet's quadruple centre triplet loss (QCT): Eq. 8-16, mscmnet.txt Sec. III-D, and the released form.

Input: the features of the four streams as four blocks of one batch, ``[V_g, V_c, T_g, T_c]`` (visible global,
visible channel-level, infrared global, infrared channel-level; Eq. 8), each ``[B, D]`` with the same ``B`` labels
(row ``r`` of every block is the same identity: the views of one training pair). For identity ``i``:

- stream centres ``c^{V_g}, c^{V_c}, c^{T_g}, c^{T_c}``: the mean of the identity's rows of each block (Eq. 9);
- ``D^quar``: each visible row (both visible blocks) to the INFRARED global centre, each infrared row to the VISIBLE
  global centre (Eq. 10, "the center of the modality global feature as the reference point");
- modality centres ``c^V = (1/2K) sum (f^{V_g} + f^{V_c})``, ``c^T`` likewise (Eq. 12), and ``D^dual``: each visible row
  to ``c^T``, each infrared row to ``c^V`` (Eq. 13);
- ``L_NM``: every row against the centres (all four blocks) of every other identity, hinged at ``rho`` (Eq. 14).

``L_QC = alpha sum D^quar + (1 - alpha) sum D^dual`` (Eq. 15, ``alpha = 0.05``) and ``L_QCT = L_QC + L_NM`` (Eq. 16).
Decided (docs/decisions.md, "MSCMNet"): the sums of Eq. 10, 13, 14 and 15 over identities and their K samples are
taken as means over the rows (the released code's reduction, and the scale of the mean cross-entropy it is added to);
Eq. 14's sum over other identities is the mean over them (the released code averages over the other rows, which is
the same for the identity sampler's balanced batches); ``rho`` is not given in the paper: 0.7, the released value.

Released (Hua-XC/MSCMNet loss.py ``QuarCenterTripletLoss``, protocols.md sec. 6): the quadruple term is multiplied by 0
and the loss is ``(mean D^dual + L_NM) / 2``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import torch
from torch import Tensor

from reid.errors import ConfigError

QCT_VARIANTS: tuple[str, ...] = ("paper", "released")
"""Eq. 15-16 as printed, or the released loss.py."""

STREAMS: tuple[str, ...] = ("V_g", "V_c", "T_g", "T_c")
"""The four blocks, in the order the loss takes them (Eq. 8)."""


class QctTerms(NamedTuple):
    """The terms of one batch (scalars)."""

    quar: Tensor
    """Mean ``D^quar`` over the rows (Eq. 10)."""
    dual: Tensor
    """Mean ``D^dual`` over the rows (Eq. 13)."""
    negative: Tensor
    """``L_NM`` (Eq. 14), mean over the rows."""


def _check_blocks(blocks: Sequence[Tensor], labels: Tensor) -> None:
    if len(blocks) != len(STREAMS):
        raise ConfigError(f"QCT loss: expected {len(STREAMS)} feature blocks {STREAMS}, got {len(blocks)}")
    shape = blocks[0].shape
    if labels.dim() != 1 or len(shape) != 2 or shape[0] != labels.shape[0] or any(b.shape != shape for b in blocks):
        raise ConfigError(f"QCT loss: expected four [B, D] blocks with B = {labels.shape[0]} labels, got shapes "
                          f"{[tuple(b.shape) for b in blocks]} and labels {tuple(labels.shape)}")


def identity_means(features: Tensor, labels: Tensor, ids: Tensor) -> Tensor:
    """``[len(ids), D]``: the mean of the rows of each identity of ``ids`` (Eq. 9 and 12)."""
    onehot = (labels.unsqueeze(0) == ids.unsqueeze(1)).to(features.dtype)
    return onehot @ features / onehot.sum(dim=1, keepdim=True)


def qct_terms(blocks: Sequence[Tensor], labels: Tensor, *, rho: float) -> QctTerms:
    """``D^quar``, ``D^dual`` and ``L_NM`` of one batch: Eq. 9-14, mscmnet.txt.

    Args:
        blocks: ``[V_g, V_c, T_g, T_c]`` features, each ``[B, D]``.
        labels: ``[B]`` identity of each row (the same for every block).
        rho: the negative margin of Eq. 14.
    """
    _check_blocks(blocks, labels)
    ids, index = torch.unique(labels, return_inverse=True)
    # At least float32 (half-precision features under autocast); float64 stays float64.
    vg, vc, tg, tc = (b.to(torch.promote_types(b.dtype, torch.float32)) for b in blocks)
    # Eq. 9-10: each stream to the other modality's global centre.
    c_vg, c_tg = identity_means(vg, labels, ids)[index], identity_means(tg, labels, ids)[index]
    quar = torch.cat([(vg - c_tg).norm(dim=1), (vc - c_tg).norm(dim=1),
                      (tg - c_vg).norm(dim=1), (tc - c_vg).norm(dim=1)]).mean()
    # Eq. 12-13: each modality's rows to the other modality's centre (its two streams together).
    c_v = identity_means(torch.cat([vg, vc]), labels.repeat(2), ids)[index]
    c_t = identity_means(torch.cat([tg, tc]), labels.repeat(2), ids)[index]
    dual = torch.cat([(vg - c_t).norm(dim=1), (vc - c_t).norm(dim=1),
                      (tg - c_v).norm(dim=1), (tc - c_v).norm(dim=1)]).mean()
    # Eq. 14: every row against the centre (all four streams) of every other identity, hinged at rho.
    rows, row_labels = torch.cat([vg, vc, tg, tc]), labels.repeat(len(STREAMS))
    centres = identity_means(rows, row_labels, ids)
    hinge = (rho - torch.cdist(rows, centres)).clamp(min=0)
    other = (row_labels.unsqueeze(1) != ids.unsqueeze(0)).to(hinge.dtype)
    negative = ((hinge * other).sum(dim=1) / other.sum(dim=1).clamp(min=1)).mean()
    return QctTerms(quar=quar, dual=dual, negative=negative)


def qct_loss(blocks: Sequence[Tensor], labels: Tensor, *, variant: str = "paper", alpha: float = 0.05,
             rho: float = 0.7) -> Tensor:
    """``L_QCT``: Eq. 15-16, mscmnet.txt (``variant="paper"``), or the released ``(D^dual + L_NM) / 2``.

    Raises:
        ConfigError: an unknown variant, ``alpha`` outside [0, 1], a negative ``rho``, or malformed blocks.
    """
    if variant not in QCT_VARIANTS:
        raise ConfigError(f"QCT loss variant: expected one of {QCT_VARIANTS}, got {variant!r}")
    if not 0 <= alpha <= 1:
        raise ConfigError(f"QCT loss alpha: expected a weight in [0, 1], got {alpha!r}")
    if not rho >= 0:
        raise ConfigError(f"QCT loss rho: expected a margin >= 0, got {rho!r}")
    terms = qct_terms(blocks, labels, rho=rho)
    if variant == "released":
        return (terms.dual + terms.negative) / 2
    return alpha * terms.quar + (1 - alpha) * terms.dual + terms.negative
