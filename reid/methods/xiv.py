"""XIV-ReID: cross-modal learning with a learned X modality (Li, Wei, Hong, Gong, AAAI 2020; xiv.txt).

A lightweight generator ``g`` (Eq. 1) turns each visible image V into an X image; one weight-shared
feature learner ``f`` (the BoT "modified ResNet-50" of Luo et al. 2019: last stride 1, global average
pooling, BNNeck) embeds the infrared, X and visible images of a well-aligned batch of 3M (M of each,
in that order, row i of every block the same identity). Training objective (Eq. 11):

    L = L_M + lambda * L_C
    L_M = L_I + L_X + L_V                       (Eq. 7, modality respective gap, MRG)
    L_m = (1/M) (L_m^id + L_m^tri)              (Eq. 8-10: identity CE + batch-hard triplet, alpha_2)
    L_C = L_cross^{I,X} + L_cross^{I,V}         (Eq. 3, cross modality gap, CMG)
    L_cross^{I,X} = (1/M) (L_{I-X} + L_{X-I})   (Eq. 4-6: hard cross-modal triplets, alpha_1)

Test (Eq. 2): an infrared query ranks the visible gallery by ``D(f(I), f(V)) + D(f(I), f(X))`` with
the Euclidean distance D; ``test_distance="iv"`` keeps ``D(f(I), f(V))`` alone.

Ablations (Tables 4-5): ``use_x=False`` drops X everywhere (Baseline = L_V + L_I when also
``cmg_weight=0``), ``cmg_weight=0`` drops L_C (Baseline+X), ``x_source`` replaces the learned ``g``
by a fixed one-channel image (mean, gray, HSV V, YCbCr Y). Decisions: docs/decisions.md, "XIV".
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import torch
from PIL import Image
from torch import nn

from reid.backbones import MultiStemResNet, ReIDNet
from reid.backbones.densenet import SUPPORTED_DENSENETS, DenseNetBackbone
from reid.config import DataConfig, EvalConfig, ModelConfig, OptimConfig, RunConfig
from reid.data.sample import Modality
from reid.data.transforms import BILINEAR, xiv_train
from reid.errors import ConfigError
from reid.layers import BNNeck, GlobalAveragePooling
from reid.layers.x_modality import X_SOURCES, build_x_modality
from reid.losses import batch_hard_triplet, cross_entropy
from reid.methods.base import ReIDMethod, StepOutput, TrainBatch, ViewSpec
from reid.methods.registry import register_method

TEST_DISTANCES: tuple[str, ...] = ("eq2", "iv")
"""``eq2``: D(I, V) + D(I, X) (Eq. 2); ``iv``: D(I, V) alone."""

X_FEATURE_SUFFIX = "_x"
"""A visible gallery image's X features are extracted as ``<feature>_x`` beside its own."""


def modality_respective_loss(
    features: torch.Tensor, logits: torch.Tensor, labels: torch.Tensor, *, margin: float, label_smoothing: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(L_m^id / M, L_m^tri / M)`` of one modality: Eq. 8-10, xiv.txt.

    Identity cross-entropy of the classifier outputs and the batch-hard triplet (margin ``alpha_2``)
    among the modality's own M features, each averaged over the M anchors.
    """
    return cross_entropy(logits, labels, label_smoothing), batch_hard_triplet(features, labels, margin)


def cross_modality_loss(a: torch.Tensor, b: torch.Tensor, labels: torch.Tensor, *, margin: float) -> torch.Tensor:
    """``L_cross^{A,B} = (1/M)(L_{A-B} + L_{B-A})``: Eq. 4-6, xiv.txt.

    Anchors of one modality against the candidates of the other, hardest positive and hardest
    negative, margin ``alpha_1``, in both directions; ``a`` and ``b`` are ``[M, D]`` with the same labels.
    """
    return (batch_hard_triplet(a, labels, margin, other=b, other_labels=labels)
            + batch_hard_triplet(b, labels, margin, other=a, other_labels=labels))


def euclidean(query: torch.Tensor, gallery: torch.Tensor) -> torch.Tensor:
    """``[Q, G]`` Euclidean distances of L2-normalised features (D of Eq. 2; BoT tests normalised features)."""
    q = nn.functional.normalize(query.float(), dim=1)
    g = nn.functional.normalize(gallery.float(), dim=1)
    return torch.cdist(q, g)


def eq2_distance(query: torch.Tensor, gallery: torch.Tensor, gallery_x: torch.Tensor | None) -> torch.Tensor:
    """Eq. 2, xiv.txt: ``D(f(I), f(V)) + D(f(I), f(X))``, decided per gallery item.

    A ``gallery_x`` row that is all zero is a row without X features (the evaluation fills the feature of
    images of the other modality with zeros); that item's missing ``D(f(I), f(X))`` is replaced by its
    ``D(f(I), f(V))``, so items with and without X are ranked on one scale. Without ``gallery_x`` every item
    falls back, which ranks as ``D(f(I), f(V))`` alone.
    """
    distance = euclidean(query, gallery)
    if gallery_x is None:
        return distance
    has_x = gallery_x.any(dim=1)
    return distance + torch.where(has_x.unsqueeze(0), euclidean(query, gallery_x), distance)


@register_method
class XIV(ReIDMethod):
    """X-Infrared-Visible cross-modal learning (xiv.txt).

    Args:
        num_classes: training identities.
        arch: torchvision ResNet name (ResNet-50 in the paper) or DenseNet name (Table 4's DenseNet-121).
        last_stride: layer4 stride of a ResNet (1, the BoT "modified ResNet-50"); a DenseNet keeps its own.
        pretrained: local ImageNet weights of the feature learner, or ``None``.
        use_x: train (and test) with the X modality.
        x_source: ``"learned"`` (g of Eq. 1) or a Table 5 special case (``mean``, ``gray``, ``hsv_v``, ``ycbcr_y``).
        cmg_weight: lambda of Eq. 11 (0.1); 0 drops the CMG constraint.
        cross_margin: alpha_1 of Eq. 5-6 (0.5).
        respective_margin: alpha_2 of Eq. 10 (0.3).
        label_smoothing: of the identity loss; Eq. 9 is the plain cross-entropy (0).
        test_distance: ``"eq2"`` or ``"iv"`` (:data:`TEST_DISTANCES`).
        generator: draws every initial weight.
    """

    name: ClassVar[str] = "xiv"
    # BoT (XIV's base) resizes in torchvision Resize, bilinear by default.
    entry_resample: ClassVar[Image.Resampling] = BILINEAR
    # Eq. 8-10 per-modality triplets and Eq. 3-6 CMG (the identity losses are not metric learning).
    metric_learning_terms: ClassVar[tuple[str, ...]] = ("tri_I", "tri_X", "tri_V", "cmg")

    def __init__(
        self,
        *,
        num_classes: int,
        arch: str = "resnet50",
        last_stride: int = 1,
        pretrained: str | None = None,
        use_x: bool = True,
        x_source: str = "learned",
        cmg_weight: float = 0.1,
        cross_margin: float = 0.5,
        respective_margin: float = 0.3,
        label_smoothing: float = 0.0,
        test_distance: str = "eq2",
        generator: torch.Generator,
    ) -> None:
        super().__init__()
        if x_source not in X_SOURCES:
            raise ConfigError(f"method_options.x_source={x_source!r}: expected one of {X_SOURCES}")
        if test_distance not in TEST_DISTANCES:
            raise ConfigError(f"method_options.test_distance={test_distance!r}: expected one of {TEST_DISTANCES}")
        if not cmg_weight >= 0:
            raise ConfigError(f"method_options.cmg_weight: expected lambda >= 0, got {cmg_weight!r}")
        self.use_x = use_x
        self.cmg_weight = float(cmg_weight)
        self.cross_margin = float(cross_margin)
        self.respective_margin = float(respective_margin)
        self.label_smoothing = float(label_smoothing)
        self.test_distance = test_distance
        # g first: its two 1x1 convolutions take the first draws of the generator.
        self.x_modality = build_x_modality(x_source, generator=generator) if use_x else None
        if arch in SUPPORTED_DENSENETS:
            # Table 4's DenseNet-121 variant: torchvision's network as is (no last-stride change is named).
            backbone = DenseNetBackbone(arch, pretrained=pretrained, generator=generator)
        else:
            backbone = MultiStemResNet(arch, num_stems=1, last_stride=last_stride, non_local=False,
                                       pretrained=pretrained, generator=generator)
        # BoT: one weight-shared learner, global average pooling, BNNeck.
        self.net = ReIDNet(backbone, GlobalAveragePooling(),
                           BNNeck(backbone.out_channels, num_classes, generator=generator))

    @classmethod
    def from_config(cls, config: RunConfig, num_classes: int) -> dict[str, Any]:
        m = config.model
        if m.non_local:
            raise ConfigError("model.non_local=True: XIV's feature learner (BoT ResNet-50) has no non-local blocks")
        return {"num_classes": num_classes, "arch": m.arch, "last_stride": m.last_stride, "pretrained": m.pretrained,
                **config.method_options}

    @classmethod
    def paper_config(cls) -> RunConfig:
        """xiv.txt, Implementation details (and Experimental Settings for the protocol)."""
        return RunConfig(
            method=cls.name,
            profile="paper",
            # 256x128 for ResNet-50; M = 48 per modality = 12 identities x 4 (BoT's K = 4).
            data=DataConfig(dataset="sysu_mm01", height=256, width=128, num_ids_per_batch=12, num_per_id=4),
            model=ModelConfig(arch="resnet50", last_stride=1, non_local=False),
            # Adam, lr 3.5e-4 with warm-up, weight decay 5e-4, 120 epochs, x0.1 at epochs 40 and 70;
            # one rate for the whole network (BoT); warm-up over BoT's 10 epochs.
            optim=OptimConfig(optimizer="adam", lr=3.5e-4, backbone_lr=3.5e-4, weight_decay=5e-4, epochs=120,
                              warmup_epochs=10, milestones=(40, 70), gamma=0.1),
            # Single-shot all-search, 10 trials of a randomly sampled gallery (Experimental Settings).
            eval=EvalConfig(
                protocol="sysu_mm01",
                protocol_options={"mode": "all", "shots": 1, "gallery_sampling": "seeded", "num_trials": 10},
                feature="bn",
                flip=False,
            ),
            method_options={"use_x": True, "x_source": "learned", "cmg_weight": 0.1, "cross_margin": 0.5,
                            "respective_margin": 0.3, "label_smoothing": 0.0, "test_distance": "eq2"},
        )

    def train_views(self, height: int, width: int) -> Mapping[str, ViewSpec]:
        transform = xiv_train(height, width)
        return {"infrared": ViewSpec(Modality.INFRARED, transform), "visible": ViewSpec(Modality.VISIBLE, transform)}

    def embed(self, images: torch.Tensor) -> torch.Tensor:
        """Pooled features ``[N, C]`` of the weight-shared learner (global average pooling, BoT)."""
        return self.net.embed([images], [0])

    def training_step(self, batch: TrainBatch) -> StepOutput:
        infrared, visible, labels = batch.views["infrared"], batch.views["visible"], batch.labels
        blocks = [infrared, self.x_modality(visible), visible] if self.use_x else [infrared, visible]
        names = ["I", "X", "V"] if self.use_x else ["I", "V"]
        # One forward of the well-aligned 3M batch: BN statistics over all three modalities.
        features = self.embed(torch.cat(blocks))
        _, logits = self.net.head(features)
        m = labels.shape[0]
        parts: dict[str, torch.Tensor] = {}
        per = dict(zip(names, features.split(m)))
        for name, block_logits in zip(names, logits.split(m)):
            identity, triplet = modality_respective_loss(per[name], block_logits, labels,
                                                         margin=self.respective_margin,
                                                         label_smoothing=self.label_smoothing)
            parts[f"id_{name}"], parts[f"tri_{name}"] = identity, triplet
        if self.cmg_weight > 0:
            cross = cross_modality_loss(per["I"], per["V"], labels, margin=self.cross_margin)
            if self.use_x:
                cross = cross + cross_modality_loss(per["I"], per["X"], labels, margin=self.cross_margin)
            parts["cmg"] = cross
        loss = self.total_loss(parts, {"cmg": self.cmg_weight})
        return StepOutput(loss=loss, parts={k: v.detach() for k, v in parts.items()})

    def extract(self, images: torch.Tensor, modality: Modality) -> Mapping[str, torch.Tensor]:
        pooled = self.embed(images)
        bn, _ = self.net.head(pooled)
        features = {"pool": pooled, "bn": bn}
        if modality is Modality.VISIBLE and self.use_x and self.test_distance == "eq2":
            x_pooled = self.embed(self.x_modality(images))
            x_bn, _ = self.net.head(x_pooled)
            features |= {f"pool{X_FEATURE_SUFFIX}": x_pooled, f"bn{X_FEATURE_SUFFIX}": x_bn}
        return features

    def distance(self, name: str, query: Mapping[str, torch.Tensor], gallery: Mapping[str, torch.Tensor]
                 ) -> torch.Tensor:
        """Eq. 2 for an infrared query against visible gallery rows (their X features beside them); the
        Euclidean distance alone otherwise (``test_distance="iv"``, or queries that are not infrared)."""
        return eq2_distance(query[name], gallery[name], gallery.get(f"{name}{X_FEATURE_SUFFIX}"))

    def backbone_parameters(self) -> list[nn.Parameter]:
        return list(self.net.backbone.parameters())
