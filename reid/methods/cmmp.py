"""CMMP: cross-modality masked pre-training for VI-ReID (cmmp.txt), a pre-training and a fine-tuning stage.

Pre-training (``cmmp_pretrain``, Sec. 3, Fig. 2): each (visible, infrared) pair of one identity
gives the visible image V, the generated image G (CAJ's random channel exchange of V, Ye et al.
2021) and the infrared image I. One random patch mask (Sec. 3.1,
:mod:`reid.data.transforms.patch_mask`) is shared by the three; masked pixels become a learnable
mask token (:class:`~reid.layers.mask_token.MaskToken`) and the whole images go through the
encoder, the CAJL network (CAJ on the non-local ResNet-50, Sec. 3.2, Fig. 3: AGW's two-stream
backbone, V and G through the visible stem, I through the thermal one). A single linear layer
(:class:`~reid.layers.pixel_decoder.LinearPixelDecoder`, Sec. 3.3) maps the encoder's last
feature map back to full-resolution pixels, and Eq. 1 (:func:`~reid.losses.reconstruction.masked_l1`)
scores the masked pixels of V and G (Sec. 3.4).

Fine-tuning (``cmmp``, Sec. 4.2): the CAJL network (:class:`~reid.methods.caj.CAJ` with
non-local blocks) initialised from the pre-trained encoder and trained as CAJ. The engine runs
the pre-training first (:meth:`CMMP.pretraining`, its own cached run) and hands its weights to
:meth:`CMMP.load_pretraining`.

Ablation switches (Tables 1-5) are ``method_options``: ``mask_size`` (at 288 x 144) and
``mask_ratio``, ``target`` (``v``, ``g``, ``i``, ``vg``, ``vgi``), ``area`` (``mask`` or ``whole``)
and ``pretrain_epochs``. Decisions: docs/decisions.md, "CMMP".
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from PIL import Image
from torch import nn

from reid.backbones import ReIDNet
from reid.checks import check_positive_integer
from reid.config import EvalConfig, RunConfig
from reid.data.sample import Modality
from reid.data.transforms import LANCZOS, cmmp_pretrain_views
from reid.data.transforms.patch_mask import MASK_REFERENCE_HEIGHT, RandomPatchMask, masked_patch_count, scaled_mask_size
from reid.errors import ConfigError
from reid.layers import GlobalAveragePooling
from reid.layers.mask_token import MaskToken
from reid.layers.pixel_decoder import LinearPixelDecoder
from reid.losses import TripletLossADP
from reid.losses.reconstruction import AREAS, masked_l1
from reid.methods.base import ReIDMethod, StepOutput, TrainBatch, ViewSpec
from reid.methods.caj import CAJ, CAJ_VIEW_STEMS, caj_views
from reid.methods.registry import register_method
from reid.methods.two_stream import STEMS, TwoStreamMethod, two_stream_backbone

IMAGES: tuple[str, ...] = ("visible", "generated", "infrared")
"""The three images of a pre-training pair, in the order they are encoded."""

TARGETS: Mapping[str, tuple[str, ...]] = {
    "v": ("visible",),
    "g": ("generated",),
    "i": ("infrared",),
    "vg": ("visible", "generated"),
    "vgi": ("visible", "generated", "infrared"),
}
"""Prediction targets of Table 3; ``vg`` is CMMP's (Sec. 3.4)."""

SAME_DATA = "same"
"""``method_options.pretrain_dataset`` value: pre-train on the fine-tuning data set (docs/decisions.md, "CMMP on
RegDB pre-trains on the RegDB split it fine-tunes on")."""

IMAGE_STEMS: Mapping[str, int] = {
    "visible": STEMS[Modality.VISIBLE],
    "generated": STEMS[Modality.VISIBLE],
    "infrared": STEMS[Modality.INFRARED],
}
"""CAJ's routing (train_ext.py): both visible-born images through the visible stem, infrared through the thermal one."""


@dataclass(frozen=True)
class PretrainOptions:
    """The pre-training stage's settings, read from the fine-tuning config's ``method_options``.

    Attributes:
        mask_size: mask patch side, in pixels of the paper's 288 x 144 input (Sec. 3.1, Table 1: 16).
        mask_ratio: share of patches masked (Sec. 3.1, Table 2: 0.8).
        mask_reference_height: the input height ``mask_size`` is stated at (288); ``None`` takes
            it as pixels of the actual input (see :func:`~reid.data.transforms.patch_mask.scaled_mask_size`).
        target: images reconstructed (Table 3; Sec. 3.4: ``"vg"``).
        area: ``"mask"`` (Eq. 1) or ``"whole"`` (Table 4).
        pretrain_epochs: pre-training epochs (Sec. 4.2, Table 5: 400).
        pretrain_epoch_scale: multiplies ``pretrain_epochs`` (1 in the paper profile; the smoke
            profile shrinks Table 5's 100..400 to a few epochs with their ratios kept).
        pretrain_dataset: the data the paper profile pre-trains on: ``"same"`` (the fine-tuning data set, RegDB's
            split included; cmmp.txt names no other) or a data set name such as ``"sysu_mm01"`` (pre-train there,
            fine-tune on the configured data). The smoke profile pre-trains on its synthetic stand-in either way.
        pretrain_ids_per_batch, pretrain_per_id: P x K of a pre-training batch (Sec. 4.2: "batch size 128,
            evenly distributed across 4 GPUs", read with CAJ's arguments as the fine-tuning batch is: each GPU
            runs CAJ's ``--batch-size 8 --num_pos 4``, 4 x 8 x 4 = 128 pairs, i.e. 32 identities x 4).
    """

    mask_size: int = 16
    mask_ratio: float = 0.8
    mask_reference_height: int | None = MASK_REFERENCE_HEIGHT
    target: str = "vg"
    area: str = "mask"
    pretrain_epochs: int = 400
    pretrain_epoch_scale: float = 1.0
    pretrain_dataset: str = SAME_DATA
    pretrain_ids_per_batch: int = 32
    pretrain_per_id: int = 4

    def __post_init__(self) -> None:
        if self.target not in TARGETS:
            raise ConfigError(
                f"method_options.target={self.target!r} is not valid; expected one of {', '.join(TARGETS)}"
            )
        if self.area not in AREAS:
            raise ConfigError(f"method_options.area={self.area!r} is not valid; expected one of {', '.join(AREAS)}")
        masked_patch_count(1, self.mask_ratio)
        scaled_mask_size(self.mask_size, MASK_REFERENCE_HEIGHT, self.mask_reference_height)
        for name in ("pretrain_epochs", "pretrain_ids_per_batch", "pretrain_per_id"):
            check_positive_integer(f"method_options.{name}", getattr(self, name))
        if not isinstance(self.pretrain_dataset, str) or not self.pretrain_dataset:
            raise ConfigError(f"method_options.pretrain_dataset: expected {SAME_DATA!r} or a data set name, got "
                              f"{self.pretrain_dataset!r}")
        if not self.pretrain_epoch_scale > 0:
            raise ConfigError(f"method_options.pretrain_epoch_scale: expected a positive factor, got "
                              f"{self.pretrain_epoch_scale!r}")

    @classmethod
    def split(cls, options: Mapping[str, Any]) -> tuple[PretrainOptions, dict[str, Any]]:
        """The pre-training options of ``options`` and the rest (the fine-tuning network's own)."""
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in options.items() if k in names}), {
            k: v for k, v in options.items() if k not in names
        }

    def epochs(self) -> int:
        """Pre-training epochs actually run: ``round(pretrain_epochs * pretrain_epoch_scale)``, at least 1."""
        return max(1, round(self.pretrain_epochs * self.pretrain_epoch_scale))


@register_method
class CMMPPretrainer(ReIDMethod):
    """CMMP's pre-training network: mask token, CAJL encoder, linear pixel decoder, Eq. 1 (Sec. 3).

    Args:
        patch_size: mask patch side in pixels of the input.
        mask_ratio: share of patches masked.
        target: key of :data:`TARGETS`.
        area: ``"mask"`` or ``"whole"``.
        arch, last_stride, non_local, non_local_embedding, pretrained: the encoder, as the AGW/CAJ
            network's backbone (same parameter names, so the fine-tuning network loads them as they are).
        generator: draws every initial weight.
    """

    name: ClassVar[str] = "cmmp_pretrain"
    entry_resample: ClassVar[Image.Resampling] = LANCZOS  # CAJ's code, which CMMP builds on
    feature_names: ClassVar[tuple[str, ...]] = ("pool",)
    evaluates: ClassVar[bool] = False

    def __init__(
        self,
        *,
        patch_size: int,
        mask_ratio: float = 0.8,
        target: str = "vg",
        area: str = "mask",
        arch: str = "resnet50",
        last_stride: int = 1,
        non_local: bool = True,
        non_local_embedding: str = "half",
        pretrained: str | None = None,
        generator: torch.Generator,
    ) -> None:
        super().__init__()
        if target not in TARGETS:
            raise ConfigError(f"CMMPPretrainer.target={target!r} is not valid; expected one of {', '.join(TARGETS)}")
        if area not in AREAS:
            raise ConfigError(f"CMMPPretrainer.area={area!r} is not valid; expected one of {', '.join(AREAS)}")
        self.mask = RandomPatchMask(patch_size, mask_ratio)
        self.targets = TARGETS[target]
        self.area = area
        # The encoder: CAJL's network without its head (the fine-tuning network loads net.backbone).
        self.net = ReIDNet(
            two_stream_backbone(arch=arch, last_stride=last_stride, non_local=non_local,
                                non_local_embedding=non_local_embedding, pretrained=pretrained, generator=generator),
            GlobalAveragePooling(),
        )
        self.mask_token = MaskToken(patch_size)
        self.decoder = LinearPixelDecoder(
            self.net.out_channels, self.net.backbone.layer_reductions["layer4"], generator=generator
        )

    @classmethod
    def from_config(cls, config: RunConfig, num_classes: int) -> dict[str, Any]:
        opts, rest = PretrainOptions.split(config.method_options)
        if rest:
            raise ConfigError(f"method_options: {sorted(rest)} are not pre-training options of {cls.name}")
        m = config.model
        return {
            "patch_size": scaled_mask_size(opts.mask_size, config.data.height, opts.mask_reference_height),
            "mask_ratio": opts.mask_ratio,
            "target": opts.target,
            "area": opts.area,
            "arch": m.arch,
            "last_stride": m.last_stride,
            "non_local": m.non_local,
            "non_local_embedding": m.non_local_embedding,
            "pretrained": m.pretrained,
        }

    @classmethod
    def paper_config(cls) -> RunConfig:
        """The pre-training run of CMMP's paper configuration (Sec. 4.2)."""
        return CMMP.pretraining(CMMP.paper_config())

    def train_views(self, height: int, width: int) -> Mapping[str, ViewSpec]:
        views = cmmp_pretrain_views(height, width)
        return {
            "visible": ViewSpec(Modality.VISIBLE, views.visible),
            "generated": ViewSpec("visible", views.exchange),
            "infrared": ViewSpec(Modality.INFRARED, views.infrared),
            "mask": ViewSpec("visible", self.mask),
        }

    def reconstruct(self, images: Mapping[str, torch.Tensor], mask: torch.Tensor) -> dict[str, torch.Tensor]:
        """Masked images -> encoder -> decoder: the reconstruction of each of :data:`IMAGES` (``[B, 3, H, W]``)."""
        height, width = mask.shape[2:]
        masked = [self.mask_token(images[name], mask) for name in IMAGES]
        pixels = self.decoder(self.net.body(masked, [IMAGE_STEMS[n] for n in IMAGES]), height, width)
        return dict(zip(IMAGES, pixels.split(mask.shape[0])))

    def training_step(self, batch: TrainBatch) -> StepOutput:
        mask = batch.views["mask"]
        predicted = self.reconstruct(batch.views, mask)
        loss = masked_l1([predicted[t] for t in self.targets], [batch.views[t] for t in self.targets], mask,
                         area=self.area)
        return StepOutput(loss=loss, parts={"reconstruction": loss.detach()})

    def extract(self, images: torch.Tensor, modality: Modality) -> Mapping[str, torch.Tensor]:
        """The encoder's globally averaged layer4 map (the pre-trained network has no ReID head)."""
        return {"pool": self.net.embed([images], [STEMS[modality]])}

    def backbone_parameters(self) -> list[nn.Parameter]:
        # As CAJ's groups: the encoder at the backbone rate, the new decoder and mask token at the head rate.
        return list(self.net.backbone.parameters())


@register_method
class CMMP(TwoStreamMethod):
    """CMMP fine-tuning: CAJL (CAJ with non-local blocks) from the CMMP-pre-trained encoder (Sec. 4.2): CAJ's
    views, stems and TripletLoss_ADP on the two-stream network.

    Args:
        alpha, gamma, square: TripletLoss_ADP options (CAJ's).
        **network: the two-stream network's arguments; the pre-training options of ``method_options`` are read by
            :meth:`pretraining`, not by the network.
    """

    name: ClassVar[str] = "cmmp"
    entry_resample: ClassVar[Image.Resampling] = LANCZOS  # CAJ's code, which CMMP builds on
    view_stems: ClassVar[Mapping[str, int]] = CAJ_VIEW_STEMS

    def __init__(self, *, alpha: float = 1.0, gamma: float = 1.0, square: int = 1, **network: Any) -> None:
        super().__init__(metric=TripletLossADP(alpha=alpha, gamma=gamma, square=square), **network)

    def train_views(self, height: int, width: int) -> Mapping[str, ViewSpec]:
        return caj_views(height, width)

    @classmethod
    def from_config(cls, config: RunConfig, num_classes: int) -> dict[str, Any]:
        _, own = PretrainOptions.split(config.method_options)
        return super().from_config(dataclasses.replace(config, method_options=own), num_classes)

    @classmethod
    def paper_config(cls) -> RunConfig:
        """Sec. 4.2: CAJL fine-tuned 100 epochs with CAJ's batch, optimiser and schedule."""
        base = CAJ.paper_config()
        return dataclasses.replace(
            base,
            method=cls.name,
            # "batch size 8, which includes 4 visible images and 4 infrared images": CAJ's --batch-size 8
            # --num_pos 4, 8 identities x 4 pairs, the batch of the CAJL row CMMP is compared with (inherited).
            # Sec. 3.2: the encoder is CAJL, CAJ on the non-local ResNet-50.
            model=dataclasses.replace(base.model, non_local=True),
            # Sec. 4.2: SGD, 0.1 decayed x0.1 / x0.01 at epochs 20 / 50 (CAJ's schedule, warm-up included), 100 epochs.
            optim=dataclasses.replace(base.optim, epochs=100, milestones=(20, 50), gamma=0.1),
            method_options={**base.method_options, **dataclasses.asdict(PretrainOptions())},
        )

    @classmethod
    def smoke_overrides(cls) -> tuple[str, ...]:
        # Table 5's 100..400 pre-training epochs become 1..4; pre-training batches as the smoke fine-tuning ones
        # (the paper's pre-training runs the fine-tuning batch on each of its 4 GPUs).
        return ("method_options.pretrain_epoch_scale=0.01", "method_options.pretrain_ids_per_batch=8",
                "method_options.pretrain_per_id=4")

    @classmethod
    def pretraining(cls, config: RunConfig) -> RunConfig:
        """The pre-training run ``config`` starts from (Sec. 4.2).

        Same data set (another with ``pretrain_dataset``), input size, encoder, seed and precision; the fine-tuning
        optimiser and schedule ("consistent with the pre-training stage") for :meth:`PretrainOptions.epochs`;
        the pre-training batch; the mask and loss options. The evaluation settings are the
        defaults (the pre-training run is not evaluated), so fine-tuning variants that differ only
        in how they train or test share one pre-training run.
        """
        opts, _ = PretrainOptions.split(config.method_options)
        data = config.data
        if opts.pretrain_dataset != SAME_DATA and config.profile == "paper":
            # Another data set's training images, from its own folder ($REID_DATA_ROOT/<name> when unset).
            data = dataclasses.replace(data, dataset=opts.pretrain_dataset, root=None, options={})
        return dataclasses.replace(
            config,
            method=CMMPPretrainer.name,
            data=dataclasses.replace(data, num_ids_per_batch=opts.pretrain_ids_per_batch,
                                     num_per_id=opts.pretrain_per_id),
            optim=dataclasses.replace(config.optim, epochs=opts.epochs()),
            eval=EvalConfig(),
            method_options={k: getattr(opts, k) for k in ("mask_size", "mask_ratio", "mask_reference_height",
                                                            "target", "area")},
        )

    def load_pretraining(self, state: Mapping[str, torch.Tensor]) -> None:
        """Initialise the backbone from a :class:`CMMPPretrainer` state dict (its encoder's ``net.backbone.*``).

        Raises:
            ConfigError: the state lacks backbone entries or they do not fit this network.
        """
        prefix = "net.backbone."
        backbone = {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}
        if not backbone:
            raise ConfigError("CMMP.load_pretraining: the pre-training state has no 'net.backbone.*' entries")
        try:
            missing, unexpected = self.net.backbone.load_state_dict(backbone, strict=False)
        except RuntimeError as err:  # a tensor of another shape: another arch or input layout
            raise ConfigError(f"CMMP.load_pretraining: the pre-trained encoder does not fit ({err})") from err
        if missing or unexpected:
            raise ConfigError(
                f"CMMP.load_pretraining: the pre-trained encoder does not fit (missing {sorted(missing)[:3]}, "
                f"unexpected {sorted(unexpected)[:3]})"
            )

