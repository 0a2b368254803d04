"""AGW's two-stream network and training step, the parts AGW, CAJ and CMMP's fine-tuning are built from.

Network (:func:`two_stream_net`, protocols.md sec. 4): modality-specific ResNet stems (visible, thermal), shared
layer1-4 with last stride 1 and non-local blocks (layer2 last 2, layer3 last 3), GeM pooling (p = 3), BNNeck; a
:class:`~reid.backbones.ReIDNet`. Training (:class:`TwoStreamMethod`): each view of a pair through the stem its
method routes it to, the body run once on all of them, cross-entropy on the BN feature's logits plus the method's
metric-learning loss object on the pooled features, labels repeated per view. Test: the pooled ("pool") and BN
("bn", AGW's "FC") features.

A method on this network declares its views (:meth:`~reid.methods.base.ReIDMethod.train_views`), their stems
(:attr:`TwoStreamMethod.view_stems`) and its metric loss object; it inherits no other method.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import torch
from torch import nn

from reid.backbones import MultiStemResNet, ReIDNet
from reid.config import RunConfig
from reid.data.sample import Modality
from reid.layers import BNNeck, GeneralizedMeanPooling
from reid.losses import cross_entropy
from reid.methods.base import ReIDMethod, StepOutput, TrainBatch

STEMS: Mapping[Modality, int] = {Modality.VISIBLE: 0, Modality.INFRARED: 1}
"""Stem of each modality (AGW model.py: visible_module, thermal_module)."""


def two_stream_backbone(
    *,
    arch: str,
    last_stride: int,
    non_local: bool,
    non_local_embedding: str,
    pretrained: str | None,
    generator: torch.Generator,
) -> MultiStemResNet:
    """AGW's body with a visible and a thermal stem (:data:`STEMS`): the encoder CMMP pre-trains too."""
    return MultiStemResNet(
        arch,
        num_stems=len(STEMS),
        last_stride=last_stride,
        non_local=non_local,
        non_local_embedding=non_local_embedding,
        pretrained=pretrained,
        generator=generator,
    )


def two_stream_net(
    *,
    num_classes: int,
    arch: str = "resnet50",
    last_stride: int = 1,
    non_local: bool = True,
    non_local_embedding: str = "half",
    gem_p: float = 3.0,
    pretrained: str | None = None,
    generator: torch.Generator,
) -> ReIDNet:
    """AGW's network: two stems and the shared (non-local) ResNet body, GeM, BNNeck; weights drawn from ``generator``
    in that order."""
    backbone = two_stream_backbone(arch=arch, last_stride=last_stride, non_local=non_local,
                                   non_local_embedding=non_local_embedding, pretrained=pretrained, generator=generator)
    pool = GeneralizedMeanPooling(p=gem_p)
    return ReIDNet(backbone, pool, BNNeck(backbone.out_channels, num_classes, generator=generator))


def network_arguments(config: RunConfig) -> dict[str, Any]:
    """:func:`two_stream_net`'s arguments from ``config.model`` (all but the classes and the generator)."""
    m = config.model
    return {"arch": m.arch, "last_stride": m.last_stride, "non_local": m.non_local,
            "non_local_embedding": m.non_local_embedding, "gem_p": m.gem_p, "pretrained": m.pretrained}


class TwoStreamMethod(ReIDMethod):
    """A method on AGW's two-stream network: :func:`two_stream_net` plus an identity loss and ``metric`` on the
    pooled features of the views, each through its stem (:attr:`view_stems`).

    Args:
        metric: the metric-learning loss object, ``metric(features, labels)`` (its part is ``"triplet"``).
        **network: :func:`two_stream_net`'s arguments.
    """

    metric_learning_terms: ClassVar[tuple[str, ...]] = ("triplet",)
    view_stems: ClassVar[Mapping[str, int]]
    """The stem each training view goes through, in the order the views are concatenated."""

    def __init__(self, *, metric: nn.Module, **network: Any) -> None:
        super().__init__()
        self.net = two_stream_net(**network)
        self.triplet = metric

    @classmethod
    def from_config(cls, config: RunConfig, num_classes: int) -> dict[str, Any]:
        return {"num_classes": num_classes, **network_arguments(config), **config.method_options}

    def training_step(self, batch: TrainBatch) -> StepOutput:
        names = list(self.view_stems)
        features = self.net.embed([batch.views[n] for n in names], [self.view_stems[n] for n in names])
        labels = batch.labels.repeat(len(names))
        _, logits = self.net.head(features)
        parts = {"id": cross_entropy(logits, labels), "triplet": self.triplet(features, labels)}
        return StepOutput(loss=self.total_loss(parts), parts={k: v.detach() for k, v in parts.items()})

    def extract(self, images: torch.Tensor, modality: Modality) -> Mapping[str, torch.Tensor]:
        pooled = self.net.embed([images], [STEMS[modality]])
        bn, _ = self.net.head(pooled)
        return {"pool": pooled, "bn": bn}

    def backbone_parameters(self) -> list[nn.Parameter]:
        # AGW train.py: everything but the bottleneck and classifier (non-local blocks included) at 0.01.
        return list(self.net.backbone.parameters())
