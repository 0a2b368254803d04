"""CMMP's learnable mask token (cmmp.txt Sec. 3.1): masked patches are replaced, the whole image is encoded.

"Each mask patch is substituted with a learnable mask token vector ... The dimensions of the
mask tokens match those of other areas within the image": one learnable ``[3, s, s]`` patch
(the input's channels and the patch size), tiled over the patch grid and written into every
masked cell, of the visible, generated and infrared images alike. Unlike MAE, nothing is
dropped: the encoder sees the image with the tokens in place (as SimMIM).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from reid.checks import check_positive_integer
from reid.errors import ConfigError


class MaskToken(nn.Module):
    """A learnable ``[channels, size, size]`` patch written into the masked pixels of images.

    Args:
        size: patch side in pixels (the mask generator's cell size).
        channels: image channels (3).

    The token starts at zero: the mean of ImageNet-normalised pixels, so an untrained token is
    a grey patch (SimMIM starts its token at zero too, before a truncated-normal draw we skip
    because it would need a generator for a value the first steps overwrite anyway).
    """

    def __init__(self, size: int, channels: int = 3) -> None:
        super().__init__()
        self.size = check_positive_integer("MaskToken.size", size)
        channels = check_positive_integer("MaskToken.channels", channels)
        self.token = nn.Parameter(torch.zeros(channels, size, size))

    def tiled(self, height: int, width: int) -> torch.Tensor:
        """The token repeated over the cell grid (top-left aligned) and cut to ``[C, H, W]``."""
        rows, cols = math.ceil(height / self.size), math.ceil(width / self.size)
        return self.token.repeat(1, rows, cols)[:, :height, :width]

    def forward(self, images: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """``images`` ``[B, C, H, W]`` with the pixels where ``mask`` ``[B, 1, H, W]`` is 1 replaced by the token.

        Raises:
            ConfigError: shapes that do not match.
        """
        if images.ndim != 4 or mask.ndim != 4 or mask.shape[1] != 1 or mask.shape[0] != images.shape[0] \
                or mask.shape[2:] != images.shape[2:] or images.shape[1] != self.token.shape[0]:
            raise ConfigError(
                f"MaskToken: expected images [B, {self.token.shape[0]}, H, W] and mask [B, 1, H, W], "
                f"got {tuple(images.shape)} and {tuple(mask.shape)}"
            )
        token = self.tiled(images.shape[2], images.shape[3]).to(images.dtype)
        return images * (1 - mask) + token * mask

    def extra_repr(self) -> str:
        return f"channels={self.token.shape[0]}, size={self.size}"
