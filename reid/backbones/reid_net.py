"""The re-identification network every method composes: modality stems, a shared body, pooling and a neck.

AGW (two stems, the non-local ResNet body, GeM, BNNeck), CAJ and CMMP's fine-tuning network (the same), CMMP's
pre-training encoder (the same body without a head) and XIV (one stem, BoT's plain ResNet or DenseNet, average
pooling, BNNeck) each build one :class:`ReIDNet` and add their own layers and losses around it. A method that works
between the body's stages inserts or wraps blocks there (:meth:`reid.backbones.MultiStemResNet.insert_after`,
:meth:`~reid.backbones.MultiStemResNet.wrap_blocks`) instead of rebuilding the network.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from reid.errors import ConfigError
from reid.layers.bnneck import BNNeck


class ReIDNet(nn.Module):
    """Stems + shared body + pooling + optional BNNeck.

    Args:
        backbone: a :class:`~reid.backbones.MultiStemResNet` (one stem per modality, or one shared), or a
            single-stem network ``[N, 3, H, W] -> [N, C, h, w]`` (:class:`~reid.backbones.densenet.DenseNetBackbone`).
        pool: ``[N, C, h, w] -> [N, C]``.
        neck: the BNNeck (features for the test, logits for the identity loss), or ``None`` (an encoder).
    """

    def __init__(self, backbone: nn.Module, pool: nn.Module, neck: BNNeck | None = None) -> None:
        super().__init__()
        self.backbone = backbone
        self.pool = pool
        self.neck = neck

    @property
    def out_channels(self) -> int:
        """Channels of the body's last map (the pooled feature's size)."""
        return self.backbone.out_channels

    def body(self, images: Sequence[torch.Tensor], stems: Sequence[int]) -> torch.Tensor:
        """The last map ``[sum N_i, C, h, w]`` of image groups, each through its stem, the body run once on all.

        Raises:
            ConfigError: several groups or a stem other than 0 for a single-stem backbone.
        """
        if hasattr(self.backbone, "forward_stems"):
            return self.backbone.forward_layers(self.backbone.forward_stems(images, stems))["layer4"]
        if len(images) != 1 or list(stems) != [0]:
            raise ConfigError(f"{type(self.backbone).__name__} has one stem: expected one image group through stem 0, "
                              f"got stems {list(stems)}")
        return self.backbone(images[0])

    def embed(self, images: Sequence[torch.Tensor], stems: Sequence[int]) -> torch.Tensor:
        """Pooled features ``[sum N_i, C]`` of image groups (:meth:`body`, then the pooling)."""
        return self.pool(self.body(images, stems))

    def head(self, pooled: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(bn features, identity logits)`` of pooled features.

        Raises:
            ConfigError: the network has no neck (an encoder).
        """
        if self.neck is None:
            raise ConfigError("ReIDNet.head: this network has no neck (an encoder without a re-identification head)")
        return self.neck(pooled)
