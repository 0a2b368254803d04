"""AGW's non-local attention block (dot-product form of Wang et al., CVPR 2018).

AGW (Ye et al., TPAMI 2021; protocols.md sec. 4) inserts these blocks into the shared ResNet-50 body;
CAJ and CMMP's CAJ encoder use the same ``model.py``, MSCMNet a copy with the embedding fixed. With
``L = H * W`` positions and ``C'`` embedding channels::

    theta, phi, g = 1x1 convs C -> C'            (each with a bias, PyTorch's default init)
    f = theta(x)^T phi(x) / L                      [N, L, L]   (dot product scaled by 1/L, NO softmax)
    y = f g(x)                                     [N, L, C'] -> [N, C', H, W]
    z = BN(W y) + x,  W = 1x1 conv C' -> C         BN's weight and bias start at ZERO

so the block is exactly the identity at initialisation, in training and in evaluation mode.

Embedding width: AGW's ``Non_local(in_channels, reduc_ratio=2)`` sets ``inter_channels =
reduc_ratio // reduc_ratio`` = 1 (model.py at HEAD e817a26), a one-channel embedding whatever ``C``.
MSCMNet uses ``in_channels // reduc_ratio`` = ``C // 2``, the usual non-local width. Both are offered:
:data:`NON_LOCAL_EMBEDDINGS` names them, ``"half"`` is the default (docs/decisions.md).
"""

from __future__ import annotations

import math
from typing import Literal

import torch
from torch import nn

from reid.checks import check_generator
from reid.errors import ConfigError

NonLocalEmbedding = Literal["half", "agw_one"]

NON_LOCAL_EMBEDDINGS: tuple[str, ...] = ("half", "agw_one")
"""Named embedding widths: ``"half"`` = ``C // 2`` (MSCMNet; Wang et al.), ``"agw_one"`` = 1 (AGW/CAJ as released)."""

AGW_REFERENCE_INTER_CHANNELS: int = 1
"""AGW's embedding width: ``reduc_ratio // reduc_ratio`` with ``reduc_ratio = 2`` (model.py, protocols.md sec. 4)."""


def inter_channels_for(in_channels: int, embedding: str) -> int:
    """The embedding width ``C'`` a named variant gives for ``in_channels`` input channels.

    Raises:
        ConfigError: unknown ``embedding`` name, or a ``"half"`` width of zero.
    """
    if embedding == "half":
        inter = in_channels // 2
    elif embedding == "agw_one":
        inter = AGW_REFERENCE_INTER_CHANNELS
    else:
        raise ConfigError(f"non-local embedding: expected one of {NON_LOCAL_EMBEDDINGS}, got {embedding!r}")
    if inter < 1:
        raise ConfigError(f"non-local embedding {embedding!r}: in_channels={in_channels} gives no channel")
    return inter


def reset_conv_default_(conv: nn.Conv2d, generator: torch.Generator) -> None:
    """PyTorch's default ``nn.Conv2d`` initialisation, drawn from ``generator``.

    Weight ~ kaiming_uniform(a = sqrt(5)), bias ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in)) (torch
    ``_ConvNd.reset_parameters``). AGW leaves the non-local convolutions at this default.
    """
    nn.init.kaiming_uniform_(conv.weight, a=math.sqrt(5), generator=generator)
    if conv.bias is not None:
        fan_in = conv.weight[0].numel()
        bound = 1.0 / math.sqrt(fan_in)
        nn.init.uniform_(conv.bias, -bound, bound, generator=generator)


class NonLocalBlock(nn.Module):
    """AGW's dot-product non-local block: ``[N, C, H, W] -> [N, C, H, W]``, identity at init.

    Source: AGW ``Non_local`` (model.py; protocols.md sec. 4), from Wang et al. "Non-local Neural
    Networks" (CVPR 2018), dot-product version with ``1/L`` normalisation.

    Args:
        in_channels: ``C``.
        inter_channels: embedding width ``C'``; ``None`` gives ``C // 2`` (``"half"``). Use
            :meth:`agw_reference` or :meth:`from_embedding` for AGW's one-channel embedding.
        generator: the source of the random initial weights of ``theta``, ``phi``, ``g`` and ``W``.

    Raises:
        ConfigError: non-positive channel counts, or ``generator`` is not a ``torch.Generator``.
    """

    def __init__(self, in_channels: int, inter_channels: int | None = None, *, generator: torch.Generator) -> None:
        super().__init__()
        check_generator(generator, "NonLocalBlock")
        if inter_channels is None:
            inter_channels = inter_channels_for(in_channels, "half")
        if in_channels < 1 or inter_channels < 1:
            raise ConfigError(
                f"NonLocalBlock: expected positive channel counts, got in_channels={in_channels}, "
                f"inter_channels={inter_channels}"
            )
        self.in_channels = in_channels
        self.inter_channels = inter_channels
        # Built on the meta device so that construction draws nothing from torch's global generator;
        # every value is then set by reset_parameters from the generator passed in.
        with torch.device("meta"):
            self.theta = nn.Conv2d(in_channels, inter_channels, kernel_size=1)
            self.phi = nn.Conv2d(in_channels, inter_channels, kernel_size=1)
            self.g = nn.Conv2d(in_channels, inter_channels, kernel_size=1)
            self.w_conv = nn.Conv2d(inter_channels, in_channels, kernel_size=1)
            self.w_bn = nn.BatchNorm2d(in_channels)
        self.to_empty(device="cpu")
        self.reset_parameters(generator)

    @classmethod
    def from_embedding(
        cls, in_channels: int, embedding: NonLocalEmbedding, *, generator: torch.Generator
    ) -> NonLocalBlock:
        """A block whose embedding width is named (one of :data:`NON_LOCAL_EMBEDDINGS`)."""
        return cls(in_channels, inter_channels_for(in_channels, embedding), generator=generator)

    @classmethod
    def agw_reference(cls, in_channels: int, *, generator: torch.Generator) -> NonLocalBlock:
        """AGW/CAJ's block as released: a one-channel embedding (``reduc_ratio // reduc_ratio``)."""
        return cls(in_channels, AGW_REFERENCE_INTER_CHANNELS, generator=generator)

    def reset_parameters(self, generator: torch.Generator) -> None:
        """Default conv init for theta/phi/g/W; W's BatchNorm weight and bias zero (AGW model.py)."""
        for conv in (self.theta, self.phi, self.g, self.w_conv):
            reset_conv_default_(conv, generator)
        self.w_bn.reset_running_stats()
        # Zero scale and shift make BN(W y) = 0, so z = x: the block starts as the identity.
        nn.init.zeros_(self.w_bn.weight)
        nn.init.zeros_(self.w_bn.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x: [N, C, H, W] -> z: [N, C, H, W]``."""
        n, _, h, w = x.shape
        theta = self.theta(x).flatten(2).transpose(1, 2)  # [N, L, C']
        phi = self.phi(x).flatten(2)  # [N, C', L]
        g = self.g(x).flatten(2).transpose(1, 2)  # [N, L, C']
        f = torch.matmul(theta, phi)  # [N, L, L]
        f = f / f.shape[-1]
        y = torch.matmul(f, g)  # [N, L, C']
        # contiguous() keeps z in x's NCHW layout: a channels-last z would steer the next conv to other
        # kernels and change later outputs by rounding even though the block is the identity.
        y = y.transpose(1, 2).contiguous().view(n, self.inter_channels, h, w)
        return self.w_bn(self.w_conv(y)) + x

    def extra_repr(self) -> str:
        return f"in_channels={self.in_channels}, inter_channels={self.inter_channels}"
