"""CMMP's reconstruction loss (cmmp.txt Eq. 1, Sec. 3.4): mean absolute error over the masked pixels.

``L = ||Y_M - X_M||_1 / Omega(X_M)``: ``X`` the input images, ``Y`` their reconstructions, ``M``
the masked pixels, ``Omega`` their number. Pixels have three channels; the sum runs over all
of them and ``Omega`` counts each masked pixel once per channel, so ``L`` is the mean absolute
error per masked value (SimMIM divides by the masked count and the channel count the same way).
The targets (visible and generated images by default) are pooled: one sum over all of their
masked values over one count. The "whole image" area of Table 4 is the same mean over every
pixel.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from reid.errors import ConfigError

AREAS = ("mask", "whole")
"""Where the loss is taken: the masked pixels (Sec. 3.4, the default) or the whole image (Table 4)."""


def masked_l1(
    predictions: Sequence[torch.Tensor], targets: Sequence[torch.Tensor], mask: torch.Tensor, *, area: str = "mask"
) -> torch.Tensor:
    """Eq. 1: mean absolute error of each prediction against its target over the masked values.

    Args:
        predictions: reconstructions ``[B, C, H, W]``, one per target image.
        targets: the original (unmasked) images, same shapes.
        mask: ``[B, 1, H, W]``, 1 on masked pixels (shared by every target, Sec. 3.1).
        area: ``"mask"`` (Eq. 1) or ``"whole"`` (every pixel, Table 4's alternative).

    Returns:
        A scalar. With ``area="mask"`` and no masked pixel it is 0 (nothing to reconstruct).

    Raises:
        ConfigError: an unknown area, no target, or shapes that do not match.
    """
    if area not in AREAS:
        raise ConfigError(f"area={area!r} is not valid; expected one of {', '.join(AREAS)}")
    if not predictions or len(predictions) != len(targets):
        raise ConfigError(
            f"masked_l1: expected one prediction per target (at least one), got {len(predictions)} and {len(targets)}"
        )
    for i, (prediction, target) in enumerate(zip(predictions, targets)):
        if prediction.shape != target.shape or prediction.ndim != 4:
            raise ConfigError(
                f"masked_l1: prediction {i} {tuple(prediction.shape)} and target {tuple(target.shape)} must be "
                "equal [B, C, H, W] shapes"
            )
        if mask.shape != (target.shape[0], 1, *target.shape[2:]):
            raise ConfigError(
                f"masked_l1: expected a mask [B, 1, H, W] of {tuple(target.shape)}, got {tuple(mask.shape)}"
            )
    weight = mask if area == "mask" else torch.ones_like(mask)
    total = sum(((p - t).abs() * weight).sum() for p, t in zip(predictions, targets))
    count = weight.sum() * predictions[0].shape[1] * len(predictions)
    return total / count.clamp_min(1.0)
