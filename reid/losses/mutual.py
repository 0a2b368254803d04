"""Deep mutual learning between two classifier branches: Eq. 4-6, ffdml.txt Sec. 3.4 (after Zhang et al., CVPR 2018).

Each branch's posterior is the softmax of its logits, no temperature (Eq. 4). The loss between a teacher branch t and
a student branch s is the symmetric Kullback-Leibler divergence

    L_KD = 1/2 [ D_KL(p^t || p^s) + D_KL(p^s || p^t) ]                          (Eq. 5, Eq. 6)

Eq. 5-6 print a sum over the N samples without the 1/N of Eq. 7's cross-entropy; ``reduction="mean"`` (the default,
decided in docs/decisions.md, "FF-DML") divides by N, ``reduction="sum"`` is the printed form. With
``detach_teacher`` the teacher's posterior is a constant target (the joint branch as the "teacher signal" the
specific branches align with), so no gradient reaches the teacher through this term.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from reid.errors import ConfigError

KD_REDUCTIONS: tuple[str, ...] = ("mean", "sum")
"""Over the batch: the mean (Eq. 7's 1/N) or the sum (Eq. 5-6 as printed)."""


def kl_divergence(p_log: torch.Tensor, q_log: torch.Tensor) -> torch.Tensor:
    """``D_KL(p || q) = sum_k p_k (ln p_k - ln q_k)`` per row, from log-probabilities ``[N, K]`` (Eq. 5, ffdml.txt)."""
    return (p_log.exp() * (p_log - q_log)).sum(dim=1)


def symmetric_kl(
    teacher_logits: torch.Tensor,
    student_logits: torch.Tensor,
    *,
    detach_teacher: bool = True,
    reduction: str = "mean",
) -> torch.Tensor:
    """``L_KD`` of Eq. 5-6, ffdml.txt: ``1/2 [D_KL(p^t || p^s) + D_KL(p^s || p^t)]`` over the batch.

    Args:
        teacher_logits: ``[N, K]`` of the teacher branch (the joint branch in FF-DML's full method).
        student_logits: ``[N, K]`` of the student branch.
        detach_teacher: the teacher's posterior is a constant (no gradient reaches the teacher through this term).
        reduction: one of :data:`KD_REDUCTIONS`.

    Raises:
        ConfigError: mismatched shapes or an unknown reduction.
    """
    if reduction not in KD_REDUCTIONS:
        raise ConfigError(f"symmetric_kl.reduction: expected one of {KD_REDUCTIONS}, got {reduction!r}")
    if teacher_logits.shape != student_logits.shape or teacher_logits.dim() != 2:
        raise ConfigError(
            f"symmetric_kl: expected teacher and student logits of one shape [N, K], got "
            f"{tuple(teacher_logits.shape)} and {tuple(student_logits.shape)}"
        )
    if detach_teacher:
        teacher_logits = teacher_logits.detach()
    # Float32 log-softmax: the divergence subtracts nearly equal log-probabilities.
    t_log = F.log_softmax(teacher_logits.float(), dim=1)
    s_log = F.log_softmax(student_logits.float(), dim=1)
    per_sample = 0.5 * (kl_divergence(t_log, s_log) + kl_divergence(s_log, t_log))
    return per_sample.mean() if reduction == "mean" else per_sample.sum()
