"""Pairwise Euclidean distance shared by every metric-learning loss, and the checks on a labelled batch.

Source: AGW/CAJ ``loss.py`` ``pdist_torch`` and BoT ``layers/triplet_loss.py`` ``euclidean_dist``
(protocols.md sec. 4): ``sqrt(clamp(||x||^2 + ||y||^2 - 2 x.y, min=1e-12))``. The clamp keeps the square
root and its gradient finite where two rows coincide (the diagonal of a batch with itself): such a pair
gets distance ``1e-6`` and a zero gradient.
"""

from __future__ import annotations

import torch
from torch import Tensor

SQUARED_DISTANCE_FLOOR = 1e-12
"""Lower clamp of the squared distance before the square root (AGW ``pdist_torch``, BoT ``euclidean_dist``)."""


def pairwise_euclidean(x: Tensor, y: Tensor | None = None) -> Tensor:
    """Euclidean distances between the rows of ``x`` and the rows of ``y``, as AGW computes them.

    ``d_ij = sqrt(max(||x_i||^2 + ||y_j||^2 - 2 x_i . y_j, 1e-12))`` (AGW ``loss.py`` ``pdist_torch``,
    protocols.md sec. 4). The expansion costs one matrix product; its rounding error near zero is
    absorbed by the clamp, so coinciding rows get ``1e-6`` rather than ``0`` (or NaN).

    Args:
        x: ``[N, D]`` floating-point features.
        y: ``[M, D]`` features on the same device and of the same dtype; ``None`` means ``x``.

    Returns:
        ``[N, M]`` distances in float32 or wider (also under autocast), ``>= 1e-6``.

    Raises:
        ValueError: a matrix that is not 2-D, differing feature sizes or devices.
        TypeError: non-floating-point features, or differing dtypes.
    """
    _check_matrix(x, "x")
    if y is None:
        y = x
    else:
        _check_matrix(y, "y")
        if y.shape[1] != x.shape[1]:
            raise ValueError(f"y: expected {x.shape[1]} features per row like x; got shape {tuple(y.shape)}")
        if y.device != x.device:
            raise ValueError(f"y: expected a tensor on {x.device} like x; got {y.device}")
        if y.dtype != x.dtype:
            raise TypeError(f"y: expected dtype {x.dtype} like x; got {y.dtype}")
    # float32 even inside a float16 autocast region: the expansion cancels catastrophically in half precision
    # (distances of close rows vanish) and CAJ's exp cap of 88 assumes float32; the losses built on these
    # distances then stay in float32 too.
    with torch.autocast(device_type=x.device.type, enabled=False):
        dtype = torch.promote_types(x.dtype, torch.float32)
        x, y = x.to(dtype), y.to(dtype)
        x_sq = x.pow(2).sum(dim=1, keepdim=True)
        y_sq = y.pow(2).sum(dim=1, keepdim=True)
        squared = torch.addmm(x_sq + y_sq.t(), x, y.t(), beta=1.0, alpha=-2.0)
        return squared.clamp(min=SQUARED_DISTANCE_FLOOR).sqrt()


def check_labelled_features(features: Tensor, labels: Tensor, *, name: str = "features") -> None:
    """Check that ``features`` is an ``[N, D]`` float matrix and ``labels`` its ``[N]`` integer identities.

    Args:
        features: ``[N, D]`` embeddings, ``N >= 1``.
        labels: ``[N]`` integer identity labels on the same device.
        name: how the error messages call ``features`` (its labels are called ``{name} labels``).

    Raises:
        ValueError: wrong shapes, an empty batch or tensors on different devices.
        TypeError: non-floating features or non-integer labels.
    """
    _check_matrix(features, name)
    if features.shape[0] == 0:
        raise ValueError(f"{name}: expected at least one row; got shape {tuple(features.shape)}")
    if labels.dim() != 1 or labels.shape[0] != features.shape[0]:
        raise ValueError(
            f"{name} labels: expected a 1-D tensor of {features.shape[0]} identities (one per row of {name}); "
            f"got shape {tuple(labels.shape)}"
        )
    if labels.dtype.is_floating_point or labels.dtype.is_complex or labels.dtype == torch.bool:
        raise TypeError(f"{name} labels: expected integer identities; got dtype {labels.dtype}")
    if labels.device != features.device:
        raise ValueError(f"{name} labels: expected a tensor on {features.device} like {name}; got {labels.device}")


def _check_matrix(tensor: Tensor, name: str) -> None:
    if tensor.dim() != 2:
        raise ValueError(f"{name}: expected a 2-D [rows, features] tensor; got shape {tuple(tensor.shape)}")
    if not tensor.dtype.is_floating_point:
        raise TypeError(f"{name}: expected floating-point features; got dtype {tensor.dtype}")
