"""Global average pooling of a feature map: BoT's (and XIV's) pooled feature, CMMP's encoder read-out."""

from __future__ import annotations

import torch
from torch import nn


class GlobalAveragePooling(nn.Module):
    """``[N, C, H, W] -> [N, C]``: the mean over the spatial positions (BoT's ``AdaptiveAvgPool2d(1)``)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mean(dim=(2, 3))
