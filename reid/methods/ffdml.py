"""FF-DML: feature fusion and deep mutual learning (Lin & Wang, ACML 2024; ffdml.txt).

Network (Sec. 3.2-3.4, Fig. 1 and 3): AGW's two-stream ResNet-50 without non-local blocks (modality-specific
``layer0`` stems, shared layer1-4, last stride 1) and three branches on it:

- global: GeM of layer4 -> ``V_global`` (Eq. 1);
- fusion: the outputs of the chosen layers (1, 2, 3) fused point-wise by learned weight maps and concatenated
  (Eq. 2, :class:`~reid.layers.spatial_fusion.SpatialWeightFusion`), GeM -> ``V_fusion``;
- joint: ``V_joint = [V_global, V_fusion]`` (Eq. 3), the final representation.

Each branch has a BNNeck (BN, then an identity classifier). Training objective (Eq. 13):

    L = (L_id^global + theta1 L_KD1) + (L_id^fusion + theta2 L_KD2) + L_id^joint + L_WRT      (Eq. 7-13)

with L_KD1 between the joint and global posteriors and L_KD2 between the joint and fusion posteriors (Eq. 4-6,
:func:`~reid.losses.mutual.symmetric_kl`), WRT on ``V_joint`` before its BN (AGW's place for the metric loss; Eq. 12
prints WRT's weights without the exponentials, AGW's softmax weights are used). Training views: the visible image with
CRE and RCC (Sec. 3.1, 4.2), the infrared image with CRE. Test: ``V_joint`` ("pool") and its BN feature ("bn").

Switches (Tables 1-4; names fixed in docs/decisions.md, "Golden tables: ffdml"): ``rcc``, ``cre``, ``fusion``
(False: the global branch alone, Table 1's baseline: GeM, BN, FC, CE + WRT), ``fusion_layers``, ``dml``,
``dml_pairs`` ("teacher-to-student"), ``branch_id`` (L_id^global and L_id^fusion), ``lsr`` (L_KD weighted by
theta1/theta2 as the label-smoothing regulariser of Eq. 9-10; False: added unweighted). Every reading of an
unstated detail: docs/decisions.md, "FF-DML".
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import torch
from PIL import Image
from torch import nn

from reid.config import DataConfig, ModelConfig, RunConfig
from reid.data.sample import Modality
from reid.data.transforms import LANCZOS, ffdml_infrared_train, ffdml_visible_train
from reid.errors import ConfigError
from reid.layers import BNNeck, GeneralizedMeanPooling
from reid.layers.spatial_fusion import FUSION_WEIGHTS, UPSAMPLE_MODES, SpatialWeightFusion
from reid.losses import cross_entropy, weighted_regularization_triplet
from reid.losses.mutual import KD_REDUCTIONS, symmetric_kl
from reid.methods.agw import AGW
from reid.methods.base import ReIDMethod, StepOutput, TrainBatch, ViewSpec
from reid.methods.registry import register_method
from reid.methods.two_stream import STEMS, network_arguments, two_stream_backbone

BRANCHES: tuple[str, ...] = ("global", "fusion", "joint")
"""The three branches of Sec. 3.4, each with its BNNeck."""

FUSABLE_LAYERS: tuple[int, ...] = (1, 2, 3, 4)
"""Backbone stages Table 2 fuses."""

KD_STUDENT_WEIGHT: Mapping[str, str] = {"global": "theta1", "fusion": "theta2"}
"""Which weight of Eq. 9-10 a mutual-learning term takes: that of its student branch's identity loss."""


def parse_dml_pair(pair: str) -> tuple[str, str]:
    """``"joint-to-global"`` -> ``("joint", "global")``: (teacher, student), Table 4's "knowledge transfer from the
    X branch to the Y branch".

    Raises:
        ConfigError: not ``<branch>-to-<branch>`` of two different branches, or a student other than the global or
            fusion branch (Eq. 9-10 add L_KD to those two identity losses only).
    """
    parts = pair.split("-to-") if isinstance(pair, str) else []
    if len(parts) != 2 or parts[0] not in BRANCHES or parts[1] not in KD_STUDENT_WEIGHT or parts[0] == parts[1]:
        raise ConfigError(
            f"method_options.dml_pairs: expected '<teacher>-to-<student>' with the teacher among {BRANCHES} and the "
            f"student among {tuple(KD_STUDENT_WEIGHT)} (different), got {pair!r}"
        )
    return parts[0], parts[1]


def fused_map_size(height: int, width: int, reduction: int) -> tuple[int, int]:
    """``(h, w)`` of a ResNet map ``reduction`` times smaller than the input: every stride-2 step rounds up."""
    return math.ceil(height / reduction), math.ceil(width / reduction)


@register_method
class FFDML(ReIDMethod):
    """FF-DML (ffdml.txt): global, fusion and joint branches on AGW's two-stream network, mutual learning between
    them.

    Args:
        num_classes: training identities.
        input_size: ``(height, width)`` of the training and test images (the fusion's resolution follows from it).
        arch, last_stride, non_local, non_local_embedding, gem_p, pretrained: the two-stream network
            (:func:`~reid.methods.two_stream.two_stream_backbone`); FF-DML adds no non-local blocks.
        rcc, cre: the visible view's Random Combination of Channels and both views' channel random erasing.
        fusion: build the fusion and joint branches (False: the global branch alone).
        fusion_layers: the stages fused, shallowest first (Table 2).
        fusion_weights, fusion_upsample: how the weight maps are obtained and the maps resized
            (:data:`~reid.layers.spatial_fusion.FUSION_WEIGHTS`, :data:`~reid.layers.spatial_fusion.UPSAMPLE_MODES`).
        dml: the mutual-learning terms; ``dml_pairs`` which ("teacher-to-student", :func:`parse_dml_pair`).
        dml_detach: the teacher's posterior is a constant target in each pair.
        kd_reduction: one of :data:`~reid.losses.mutual.KD_REDUCTIONS`.
        branch_id: the identity losses of the global and fusion branches.
        lsr: weight each L_KD by theta1 / theta2 (Eq. 9-10); False adds them with weight 1.
        theta1, theta2: Eq. 9-10 (0.6, 1.8; Sec. 4.2).
        generator: draws every initial weight.
    """

    name: ClassVar[str] = "ffdml"
    # FF-DML uses CAJ's channel random erasing [22] and AGW's WRT/GeM/schedule: the AGW/CAJ code's LANCZOS pre-resize.
    entry_resample: ClassVar[Image.Resampling] = LANCZOS
    metric_learning_terms: ClassVar[tuple[str, ...]] = ("triplet",)

    def __init__(
        self,
        *,
        num_classes: int,
        input_size: Sequence[int],
        arch: str = "resnet50",
        last_stride: int = 1,
        non_local: bool = False,
        non_local_embedding: str = "half",
        gem_p: float = 3.0,
        pretrained: str | None = None,
        rcc: bool = True,
        cre: bool = True,
        fusion: bool = True,
        fusion_layers: Sequence[int] = (1, 2, 3),
        fusion_weights: str = "asff",
        fusion_upsample: str = "nearest",
        dml: bool = True,
        dml_pairs: Sequence[str] = ("joint-to-global", "joint-to-fusion"),
        dml_detach: bool = True,
        kd_reduction: str = "mean",
        branch_id: bool = True,
        lsr: bool = True,
        theta1: float = 0.6,
        theta2: float = 1.8,
        generator: torch.Generator,
    ) -> None:
        super().__init__()
        layers = tuple(fusion_layers)
        if fusion and (len(layers) < 2 or len(set(layers)) != len(layers) or list(layers) != sorted(layers)
                       or any(layer not in FUSABLE_LAYERS for layer in layers)):
            raise ConfigError(f"method_options.fusion_layers: expected two or more distinct stages from "
                              f"{FUSABLE_LAYERS} in increasing order, got {fusion_layers!r}")
        pairs = tuple(parse_dml_pair(pair) for pair in dml_pairs) if dml else ()
        if dml and not pairs:
            raise ConfigError("method_options.dml_pairs: expected at least one pair when dml=True")
        if dml and not fusion:
            raise ConfigError("method_options.dml=True needs the fusion branch (fusion=True): mutual learning runs "
                              "between the global, fusion and joint branches (Sec. 3.4)")
        if not branch_id and not fusion:
            raise ConfigError("method_options.branch_id=False needs fusion=True: it removes the identity losses of "
                              "the global and fusion branches beside the joint branch's (Table 3)")
        if fusion_weights not in FUSION_WEIGHTS:
            raise ConfigError(f"method_options.fusion_weights: expected one of {FUSION_WEIGHTS}, "
                              f"got {fusion_weights!r}")
        if fusion_upsample not in UPSAMPLE_MODES:
            raise ConfigError(f"method_options.fusion_upsample: expected one of {UPSAMPLE_MODES}, "
                              f"got {fusion_upsample!r}")
        if kd_reduction not in KD_REDUCTIONS:
            raise ConfigError(f"method_options.kd_reduction: expected one of {KD_REDUCTIONS}, got {kd_reduction!r}")
        for key, value in (("theta1", theta1), ("theta2", theta2)):
            if isinstance(value, bool) or not isinstance(value, int | float) or not value >= 0:
                raise ConfigError(f"method_options.{key}: expected a weight >= 0, got {value!r}")
        if len(tuple(input_size)) != 2:
            raise ConfigError(f"FFDML.input_size: expected (height, width), got {input_size!r}")
        self.rcc, self.cre, self.fusion_on, self.dml_on = rcc, cre, fusion, dml
        self.fusion_layers = layers if fusion else ()
        self.dml_pairs = pairs
        self.dml_detach, self.kd_reduction, self.branch_id, self.lsr = dml_detach, kd_reduction, branch_id, lsr
        self.thetas = {"theta1": float(theta1), "theta2": float(theta2)}

        # Draw order: stems and body, the fusion module, then the necks global, fusion, joint.
        self.backbone = two_stream_backbone(arch=arch, last_stride=last_stride, non_local=non_local,
                                            non_local_embedding=non_local_embedding, pretrained=pretrained,
                                            generator=generator)
        self.pool = GeneralizedMeanPooling(p=gem_p)
        dims = {"global": self.backbone.out_channels}
        if fusion:
            names = [f"layer{layer}" for layer in layers]
            height, width = (int(s) for s in input_size)
            self.fusion = SpatialWeightFusion(
                [self.backbone.layer_channels[n] for n in names],
                fused_map_size(height, width, self.backbone.layer_reductions[names[0]]),
                weights=fusion_weights, upsample=fusion_upsample, generator=generator,
            )
            dims["fusion"] = self.fusion.out_channels
            dims["joint"] = dims["global"] + dims["fusion"]
        self.heads = nn.ModuleDict({name: BNNeck(dim, num_classes, generator=generator) for name, dim in dims.items()})

    @property
    def final_branch(self) -> str:
        """The branch whose feature is the representation: joint (Eq. 3), or global without the fusion branch."""
        return "joint" if self.fusion_on else "global"

    @classmethod
    def from_config(cls, config: RunConfig, num_classes: int) -> dict[str, Any]:
        return {"num_classes": num_classes, "input_size": (config.data.height, config.data.width),
                **network_arguments(config), **config.method_options}

    @classmethod
    def paper_config(cls) -> RunConfig:
        """ffdml.txt Sec. 4.2 (and docs/decisions.md, "FF-DML", for what it leaves to the AGW/CAJ code it builds on)."""
        agw = AGW.paper_config()
        return RunConfig(
            method=cls.name,
            profile="paper",
            # 288 x 144; 8 identities x (4 visible + 4 infrared) = 64 images a batch.
            data=DataConfig(dataset="sysu_mm01", height=288, width=144, num_ids_per_batch=8, num_per_id=4),
            # ResNet-50, modality-specific layer0, shared layer1-4 (Sec. 3.2); AGW's last stride 1 (the 2x and 4x
            # upsampling of Sec. 3.3 hold with it); no non-local blocks (Sec. 4.3's baseline names none).
            model=ModelConfig(arch="resnet50", last_stride=1, non_local=False, gem_p=3.0),
            # SGD, momentum 0.9, weight decay 5e-4, lr 0.1, x0.1 at 20 and x0.01 at 50 (Sec. 4.2): AGW's schedule, whose
            # code also gives what is unstated (10 warm-up epochs, the backbone at a tenth of the rate, Nesterov); 80
            # epochs where AGW's loop runs 81.
            optim=dataclasses.replace(agw.optim, epochs=80),
            # AGW's protocol (Sec. 4.1 follows [19]; the AGW rows of Tables 5-6 are AGW's): 10 trials of the seeded
            # single-shot gallery, the BN feature (of V_joint here), no flip.
            eval=agw.eval,
            method_options={
                "rcc": True, "cre": True, "fusion": True, "fusion_layers": (1, 2, 3), "fusion_weights": "asff",
                "fusion_upsample": "nearest", "dml": True, "dml_pairs": ("joint-to-global", "joint-to-fusion"),
                "dml_detach": True, "kd_reduction": "mean", "branch_id": True, "lsr": True,
                "theta1": 0.6, "theta2": 1.8,
            },
        )

    def train_views(self, height: int, width: int) -> Mapping[str, ViewSpec]:
        return {
            "visible": ViewSpec(Modality.VISIBLE, ffdml_visible_train(height, width, rcc=self.rcc, cre=self.cre)),
            "infrared": ViewSpec(Modality.INFRARED, ffdml_infrared_train(height, width, cre=self.cre)),
        }

    def branch_features(self, images: Sequence[torch.Tensor], stems: Sequence[int]) -> dict[str, torch.Tensor]:
        """``V_global``, and with the fusion branch ``V_fusion`` and ``V_joint`` (Eq. 1-3): pooled, before the BN."""
        wanted = tuple(dict.fromkeys([*(f"layer{layer}" for layer in self.fusion_layers), "layer4"]))
        maps = self.backbone.forward_layers(self.backbone.forward_stems(images, stems), return_layers=wanted)
        features = {"global": self.pool(maps["layer4"])}
        if self.fusion_on:
            features["fusion"] = self.pool(self.fusion([maps[f"layer{layer}"] for layer in self.fusion_layers]))
            features["joint"] = torch.cat([features["global"], features["fusion"]], dim=1)
        return features

    def kd_weight(self, student: str) -> float:
        """theta1 or theta2 of the student's Eq. 9-10 under ``lsr``; 1 otherwise."""
        return self.thetas[KD_STUDENT_WEIGHT[student]] if self.lsr else 1.0

    def training_step(self, batch: TrainBatch) -> StepOutput:
        features = self.branch_features([batch.views["visible"], batch.views["infrared"]],
                                        [STEMS[Modality.VISIBLE], STEMS[Modality.INFRARED]])
        labels = batch.labels.repeat(2)
        logits = {name: self.heads[name](feature)[1] for name, feature in features.items()}
        final = self.final_branch
        parts = {f"id_{final}": cross_entropy(logits[final], labels),
                 "triplet": weighted_regularization_triplet(features[final], labels)}
        if self.fusion_on and self.branch_id:
            parts |= {f"id_{name}": cross_entropy(logits[name], labels) for name in ("global", "fusion")}
        weights = {}
        for teacher, student in self.dml_pairs:
            name = f"kd_{teacher}_{student}"
            parts[name] = symmetric_kl(logits[teacher], logits[student], detach_teacher=self.dml_detach,
                                       reduction=self.kd_reduction)
            weights[name] = self.kd_weight(student)
        return StepOutput(loss=self.total_loss(parts, weights), parts={k: v.detach() for k, v in parts.items()})

    def extract(self, images: torch.Tensor, modality: Modality) -> Mapping[str, torch.Tensor]:
        pooled = self.branch_features([images], [STEMS[modality]])[self.final_branch]
        bn, _ = self.heads[self.final_branch](pooled)
        return {"pool": pooled, "bn": bn}

    def backbone_parameters(self) -> list[nn.Parameter]:
        # AGW's split: the pretrained stems and body at the backbone rate; the fusion module and the necks are heads.
        return list(self.backbone.parameters())
