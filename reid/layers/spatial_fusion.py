"""FF-DML's feature fusion module: Eq. 2, ffdml.txt Sec. 3.3 and Fig. 3, after ASFF (Liu, Huang, Wang 2019).

Each chosen backbone map ``f_i`` is reduced to 256 channels by a 1x1 convolution (``f'_i``), resized to the
resolution of the first (shallowest) chosen map (``f''_i``: "double upsampling on f'_2 and quadruple upsampling on
f'_3"), multiplied point-wise by a weight map of that resolution (alpha, beta, gamma) and the products are
concatenated along the channels:

    f_fusion = (alpha (x) f'_1) (+) (beta (x) f''_2) (+) (gamma (x) f''_3)        (Eq. 2)

Unstated in ffdml.txt and decided here (docs/decisions.md, "FF-DML"): each 1x1 reduction is a convolution without
bias, BatchNorm and ReLU (ASFF's ``add_conv`` with ReLU for its LeakyReLU: the fused map goes through AGW's GeM, whose
cube root of a negative mean is undefined); resizing is ASFF's nearest-neighbour interpolation to the first map's
exact size (so layer4, whose resize the text never gives, is resized like the others); the weight maps are ASFF's
(``weights="asff"``: computed from the reduced maps by 1x1 convolutions, a softmax across the maps at each position)
or free per-position parameters, also normalised by a softmax across the maps (``weights="free"``, the literal
reading of "the values of each position in these weight matrixes are obtained by network training"). Both keep the
weights non-negative, so the fused map stays a valid input of GeM.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from reid.checks import check_generator
from reid.errors import ConfigError

FUSION_WEIGHTS: tuple[str, ...] = ("asff", "free")
"""How the weight maps alpha, beta, gamma are obtained: computed from the features (ASFF) or free parameters."""

UPSAMPLE_MODES: tuple[str, ...] = ("nearest", "bilinear")
"""Interpolation of the reduced maps to the first map's resolution (ASFF: nearest)."""

FUSION_CHANNELS = 256
"""Channels of every reduced map f'_i (Sec. 3.3: "reduced to 256 by 1x1 convolution")."""

ASFF_COMPRESS_CHANNELS = 16
"""ASFF's ``compress_c``: channels of each map's weight embedding before the 1x1 convolution to the weights."""

ASFF_LEAKY_SLOPE = 0.1
"""Negative slope of ASFF's ``add_conv`` activation."""


def _kaiming_(weight: torch.Tensor, generator: torch.Generator) -> None:
    # torchvision's convolution rule (kaiming normal, fan_out, relu), drawn from the method's generator.
    fan_out = weight.shape[0] * weight[0, 0].numel()
    with torch.no_grad():
        weight.normal_(0.0, (2.0 / fan_out) ** 0.5, generator=generator)


def reduce_conv(
    in_channels: int, out_channels: int, activation: nn.Module, *, generator: torch.Generator
) -> nn.Sequential:
    """ASFF's ``add_conv`` with a 1x1 kernel: convolution (no bias), BatchNorm, ``activation``."""
    # Built on the meta device so that nothing is drawn from torch's global generator.
    with torch.device("meta"):
        conv, bn = nn.Conv2d(in_channels, out_channels, kernel_size=1, bias=False), nn.BatchNorm2d(out_channels)
    conv.to_empty(device="cpu")
    bn.to_empty(device="cpu")
    _kaiming_(conv.weight, generator)
    bn.reset_parameters()
    return nn.Sequential(conv, bn, activation)


class SpatialWeightFusion(nn.Module):
    """Eq. 2, ffdml.txt: reduce, resize, weight point-wise and concatenate several backbone maps.

    Args:
        in_channels: channels of each input map, shallowest first.
        size: ``(h, w)`` of the first input map (the fused resolution); used by ``weights="free"``, and checked
            against the input at every call.
        weights: one of :data:`FUSION_WEIGHTS`.
        upsample: one of :data:`UPSAMPLE_MODES`.
        channels: channels of each reduced map (256).
        generator: draws every initial weight.

    Input: the maps ``[N, C_i, H_i, W_i]`` in the order of ``in_channels``, ``(H_0, W_0) == size`` and every other map
    no larger. Output: ``[N, channels * len(in_channels), H_0, W_0]``.
    """

    def __init__(
        self,
        in_channels: Sequence[int],
        size: tuple[int, int],
        *,
        weights: str = "asff",
        upsample: str = "nearest",
        channels: int = FUSION_CHANNELS,
        generator: torch.Generator,
    ) -> None:
        super().__init__()
        check_generator(generator, "SpatialWeightFusion")
        if len(in_channels) < 2:
            raise ConfigError(f"SpatialWeightFusion.in_channels: expected two or more maps, got {in_channels!r}")
        if weights not in FUSION_WEIGHTS:
            raise ConfigError(f"SpatialWeightFusion.weights: expected one of {FUSION_WEIGHTS}, got {weights!r}")
        if upsample not in UPSAMPLE_MODES:
            raise ConfigError(f"SpatialWeightFusion.upsample: expected one of {UPSAMPLE_MODES}, got {upsample!r}")
        if len(size) != 2 or any(not isinstance(s, int) or s < 1 for s in size):
            raise ConfigError(f"SpatialWeightFusion.size: expected (height, width) of positive integers, got {size!r}")
        self.size = tuple(size)
        self.weights = weights
        self.upsample = upsample
        self.out_channels = channels * len(in_channels)
        self.reduce = nn.ModuleList(reduce_conv(c, channels, nn.ReLU(), generator=generator) for c in in_channels)
        if weights == "asff":
            self.embed = nn.ModuleList(
                reduce_conv(channels, ASFF_COMPRESS_CHANNELS, nn.LeakyReLU(ASFF_LEAKY_SLOPE), generator=generator)
                for _ in in_channels
            )
            with torch.device("meta"):
                self.to_weights = nn.Conv2d(ASFF_COMPRESS_CHANNELS * len(in_channels), len(in_channels), 1)
            self.to_weights.to_empty(device="cpu")
            _kaiming_(self.to_weights.weight, generator)
            nn.init.zeros_(self.to_weights.bias)
        else:
            # One logit map per input, zero at the start: every map weighs 1 / L at first.
            self.maps = nn.Parameter(torch.zeros(len(in_channels), 1, *self.size))

    def weight_maps(self, reduced: Sequence[torch.Tensor]) -> torch.Tensor:
        """alpha, beta, gamma, ...: ``[N or 1, L, H_0, W_0]`` for the ``L`` reduced, resized maps."""
        if self.weights == "free":
            return torch.softmax(self.maps.transpose(0, 1), dim=1)
        embedded = torch.cat([embed(x) for embed, x in zip(self.embed, reduced)], dim=1)
        return torch.softmax(self.to_weights(embedded), dim=1)

    def forward(self, maps: Sequence[torch.Tensor]) -> torch.Tensor:
        if len(maps) != len(self.reduce):
            raise ConfigError(f"SpatialWeightFusion: expected {len(self.reduce)} maps, got {len(maps)}")
        if tuple(maps[0].shape[-2:]) != self.size:
            raise ConfigError(
                f"SpatialWeightFusion: the first map is {tuple(maps[0].shape[-2:])}, expected {self.size} (the size "
                f"the fusion was built for: the input resolution of the run divided by the map's reduction)"
            )
        resized = []
        for reduce, x in zip(self.reduce, maps):
            x = reduce(x)
            if tuple(x.shape[-2:]) != self.size:
                align = {} if self.upsample == "nearest" else {"align_corners": False}
                x = nn.functional.interpolate(x, size=self.size, mode=self.upsample, **align)
            resized.append(x)
        weights = self.weight_maps(resized)
        return torch.cat([x * weights[:, i : i + 1] for i, x in enumerate(resized)], dim=1)
