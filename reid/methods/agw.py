"""AGW: the two-stream VI-ReID baseline every paper of this suite builds on.

Ye, Shen, Lin, Xiang, Shao, Hoi, "Deep Learning for Person Re-identification: A Survey and
Outlook", TPAMI 2021; code github.com/mangye16/Cross-Modal-Re-ID-baseline (root model.py,
loss.py, train.py). Facts used here: shared notes protocols.md sec. 4.

Network: modality-specific ResNet stems (visible, thermal), shared layer1-4 with last stride 1
and non-local blocks (layer2 last 2, layer3 last 3), GeM pooling (p = 3), BNNeck. Training:
cross-entropy on the BN feature's logits plus the weighted regularisation triplet (WRT) on the
pooled feature, over the concatenated visible + infrared batch. Test: the pooled ("pool") and
BN ("bn", AGW's "FC") features.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import torch
from PIL import Image
from torch import nn

from reid.backbones import MultiStemResNet
from reid.config import DataConfig, EvalConfig, ModelConfig, OptimConfig, RunConfig
from reid.data.sample import Modality
from reid.data.transforms import LANCZOS, agw_train
from reid.layers import BNNeck, GeneralizedMeanPooling
from reid.losses import WeightedRegularizationTriplet, cross_entropy
from reid.methods.base import ReIDMethod, StepOutput, TrainBatch, ViewSpec
from reid.methods.registry import register_method

# Stem of each modality (AGW model.py: visible_module, thermal_module).
STEMS: Mapping[Modality, int] = {Modality.VISIBLE: 0, Modality.INFRARED: 1}


@register_method
class AGW(ReIDMethod):
    """The AGW baseline (protocols.md sec. 4).

    Args:
        num_classes: training identities.
        arch: torchvision ResNet name (``resnet50`` in the paper).
        last_stride: layer4 stride (1).
        non_local: insert the non-local blocks.
        non_local_embedding: ``"half"`` (C/2) or ``"agw_one"`` (the released code's 1 channel).
        gem_p: GeM exponent (3, fixed).
        pretrained: local ImageNet weights for every stem and the shared body, or ``None``.
        generator: draws every initial weight.
    """

    name: ClassVar[str] = "agw"
    # AGW pre_process_sysu.py resizes with Image.ANTIALIAS (= LANCZOS); CAJ and CMMP inherit it.
    entry_resample: ClassVar[Image.Resampling] = LANCZOS
    num_stems: ClassVar[int] = 2
    metric_learning_terms: ClassVar[tuple[str, ...]] = ("triplet",)

    def __init__(
        self,
        *,
        num_classes: int,
        arch: str = "resnet50",
        last_stride: int = 1,
        non_local: bool = True,
        non_local_embedding: str = "half",
        gem_p: float = 3.0,
        pretrained: str | None = None,
        generator: torch.Generator,
    ) -> None:
        super().__init__()
        self.backbone = MultiStemResNet(
            arch,
            num_stems=self.num_stems,
            last_stride=last_stride,
            non_local=non_local,
            non_local_embedding=non_local_embedding,
            pretrained=pretrained,
            generator=generator,
        )
        self.pool = GeneralizedMeanPooling(p=gem_p)
        self.neck = BNNeck(self.backbone.out_channels, num_classes, generator=generator)
        self.triplet = WeightedRegularizationTriplet()

    @classmethod
    def from_config(cls, config: RunConfig, num_classes: int) -> dict[str, Any]:
        m = config.model
        return {
            "num_classes": num_classes,
            "arch": m.arch,
            "last_stride": m.last_stride,
            "non_local": m.non_local,
            "non_local_embedding": m.non_local_embedding,
            "gem_p": m.gem_p,
            "pretrained": m.pretrained,
            **config.method_options,
        }

    @classmethod
    def paper_config(cls) -> RunConfig:
        """AGW's released training recipe (protocols.md sec. 4; train.py defaults)."""
        return RunConfig(
            method=cls.name,
            profile="paper",
            data=DataConfig(dataset="sysu_mm01", height=288, width=144, num_ids_per_batch=8, num_per_id=4),
            model=ModelConfig(arch="resnet50", last_stride=1, non_local=True, non_local_embedding="half", gem_p=3.0),
            # SGD, nesterov, wd 5e-4; heads 0.1 / backbone 0.01; warm-up 10, x0.1 at 20, x0.01 at 50;
            # train.py loops epochs 0..80 (81 epochs).
            optim=OptimConfig(epochs=81, warmup_epochs=10, milestones=(20, 50), gamma=0.1),
            # test.py: 10 trials of AGW's seeded single-shot gallery, all-search, BN ("FC") feature.
            eval=EvalConfig(
                protocol="sysu_mm01",
                protocol_options={"mode": "all", "shots": 1, "gallery_sampling": "seeded", "num_trials": 10},
                feature="bn",
                flip=False,
            ),
        )

    def train_views(self, height: int, width: int) -> Mapping[str, ViewSpec]:
        transform = agw_train(height, width)
        return {"visible": ViewSpec(Modality.VISIBLE, transform), "infrared": ViewSpec(Modality.INFRARED, transform)}

    def embed(self, images: Sequence[torch.Tensor], stems: Sequence[int]) -> torch.Tensor:
        """Pooled features ``[sum N_i, C]`` of image groups, each through its stem, the body run once."""
        maps = self.backbone.forward_layers(self.backbone.forward_stems(images, stems))["layer4"]
        return self.pool(maps)

    def view_stems(self) -> Mapping[str, int]:
        """The stem each training view goes through."""
        return {"visible": STEMS[Modality.VISIBLE], "infrared": STEMS[Modality.INFRARED]}

    def training_step(self, batch: TrainBatch) -> StepOutput:
        stems = self.view_stems()
        names = list(stems)
        features = self.embed([batch.views[n] for n in names], [stems[n] for n in names])
        labels = batch.labels.repeat(len(names))
        _, logits = self.neck(features)
        parts = {"id": cross_entropy(logits, labels), "triplet": self.triplet_loss(features, labels)}
        return StepOutput(loss=self.total_loss(parts), parts={k: v.detach() for k, v in parts.items()})

    def triplet_loss(self, features: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """AGW: WRT on the pooled features of the whole two-modality batch."""
        return self.triplet(features, labels)

    def extract(self, images: torch.Tensor, modality: Modality) -> Mapping[str, torch.Tensor]:
        pooled = self.embed([images], [STEMS[modality]])
        bn, _ = self.neck(pooled)
        return {"pool": pooled, "bn": bn}

    def backbone_parameters(self) -> list[nn.Parameter]:
        # AGW train.py: everything but the bottleneck and classifier (non-local blocks included) at 0.01.
        return list(self.backbone.parameters())
