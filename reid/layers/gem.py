"""Generalized-mean (GeM) pooling over the spatial positions of a feature map.

AGW (Ye et al., TPAMI 2021) pools its last ResNet map with GeM at a fixed ``p = 3``; CAJ, MSCMNet, FFDML
and CMMP's CAJ encoder inherit it. The formula, exactly as AGW's ``model.py`` (``gm_pool == 'on'``,
protocols.md sec. 4) computes it::

    f_c = (mean_{h,w} x_{c,h,w} ** p + eps) ** (1 / p),   eps = 1e-12

``eps`` is added AFTER the mean and there is NO clamp of ``x``: AGW pools a ReLU output, which is
non-negative. Other GeM implementations (Radenovic et al.; fast-reid) clamp ``x`` to ``eps`` before the
power instead; on non-negative maps the two differ by at most ``eps ** (1/p)``-sized terms near zero.
"""

from __future__ import annotations

import torch
from torch import nn

from reid.errors import ConfigError

AGW_GEM_P: float = 3.0
"""AGW's fixed GeM exponent (``p = 3.0`` in model.py; not learned)."""

AGW_GEM_EPS: float = 1e-12
"""AGW's epsilon, added to the spatial mean before the ``1/p`` root (model.py)."""


def generalized_mean(x: torch.Tensor, p: float | torch.Tensor, eps: float) -> torch.Tensor:
    """AGW's GeM: ``(mean over HW of x**p + eps) ** (1/p)``; ``[N, C, H, W] -> [N, C]``.

    Source: AGW model.py, ``embed_net.forward`` (protocols.md sec. 4). ``x`` should be non-negative
    (a ReLU output), as in AGW: a negative mean of ``x**p`` has no real ``1/p`` root and gives NaN.

    Args:
        x: feature maps ``[N, C, H, W]``.
        p: the exponent (a float or a 0-d tensor when learned).
        eps: added to the mean before the root.

    Returns:
        Pooled features ``[N, C]``.

    Raises:
        ValueError: ``x`` is not 4-D.
    """
    if x.dim() != 4:
        raise ValueError(f"generalized_mean: expected a [N, C, H, W] tensor, got shape {tuple(x.shape)}")
    return (x.flatten(2).pow(p).mean(dim=-1) + eps).pow(1.0 / p)


class GeneralizedMeanPooling(nn.Module):
    """GeM pooling as AGW: ``[N, C, H, W] -> [N, C]`` (see :func:`generalized_mean`).

    Args:
        p: the exponent; AGW's 3.0 by default. ``p = 1`` is average pooling (plus ``eps``).
        eps: added to the spatial mean before the root; AGW's 1e-12 by default.
        learnable: learn ``p`` as a parameter (Radenovic et al.'s GeM). AGW keeps it fixed (False).

    Raises:
        ConfigError: ``p`` is not positive or ``eps`` is negative.
    """

    def __init__(self, p: float = AGW_GEM_P, eps: float = AGW_GEM_EPS, learnable: bool = False) -> None:
        super().__init__()
        if not p > 0:
            raise ConfigError(f"GeneralizedMeanPooling.p: expected a positive exponent, got {p!r}")
        if not eps >= 0:
            raise ConfigError(f"GeneralizedMeanPooling.eps: expected a non-negative number, got {eps!r}")
        self.eps = float(eps)
        self.learnable = bool(learnable)
        if self.learnable:
            self.p: float | nn.Parameter = nn.Parameter(torch.tensor(float(p)))
        else:
            self.p = float(p)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``[N, C, H, W] -> [N, C]``."""
        return generalized_mean(x, self.p, self.eps)

    def extra_repr(self) -> str:
        p = float(self.p.detach()) if isinstance(self.p, nn.Parameter) else self.p
        return f"p={p}, eps={self.eps}, learnable={self.learnable}"
