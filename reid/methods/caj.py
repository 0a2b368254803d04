"""CAJ: channel augmented joint learning (the AGW network, three views, a weighted triplet).

Ye, Ruan, Du, Shou, "Channel Augmented Joint Learning for Visible-Infrared Recognition", ICCV
2021; code github.com/mangye16/Cross-Modal-Re-ID-baseline ICCV21_CAJ/ (same model.py as AGW,
train_ext.py, loss.py TripletLoss_ADP). Facts: shared notes protocols.md sec. 5.

Every pair gives three views: the visible image (CAJ's common augmentation), the same visible
image channel-exchanged (a random R, G or B channel replicated), and the infrared image with
channel-adaptive gray. Both visible views go through the visible stem, the infrared one through
the thermal stem; labels are repeated three times (``cat(l1, l1, l2)``). Loss: cross-entropy
plus TripletLoss_ADP(alpha, gamma, square) on the pooled features.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import ClassVar

import torch

from reid.config import RunConfig
from reid.data.sample import Modality
from reid.data.transforms import caj_train_views
from reid.losses import TripletLossADP
from reid.methods.agw import AGW, STEMS
from reid.methods.base import ViewSpec
from reid.methods.registry import register_method


@register_method
class CAJ(AGW):
    """CAJ on the AGW network (protocols.md sec. 5).

    Args:
        alpha, gamma, square: TripletLoss_ADP options; the README's command uses
            ``--alpha 1 --gamma 1 --square 1`` (the enhanced squared difference).
        **kwargs: the AGW network's arguments.
    """

    name: ClassVar[str] = "caj"

    def __init__(self, *, alpha: float = 1.0, gamma: float = 1.0, square: int = 1, **kwargs) -> None:
        super().__init__(**kwargs)
        self.triplet = TripletLossADP(alpha=alpha, gamma=gamma, square=square)

    @classmethod
    def paper_config(cls) -> RunConfig:
        """CAJ's README command (``--method adp --augc 1 --rande 0.5 --alpha 1 --square 1 --gamma 1``), train_ext.py."""
        base = AGW.paper_config()
        return dataclasses.replace(
            base,
            method=cls.name,
            # train_ext.py loops epochs 0..99; same optimiser and schedule as AGW.
            optim=dataclasses.replace(base.optim, epochs=100),
            # testa.py averages the features of each image and its mirror.
            eval=dataclasses.replace(base.eval, flip=True),
            method_options={"alpha": 1.0, "gamma": 1.0, "square": 1},
        )

    def train_views(self, height: int, width: int) -> Mapping[str, ViewSpec]:
        views = caj_train_views(height, width)
        return {
            "visible": ViewSpec(Modality.VISIBLE, views.rgb),
            "exchanged": ViewSpec(Modality.VISIBLE, views.rgb_exchanged),
            "infrared": ViewSpec(Modality.INFRARED, views.ir),
        }

    def view_stems(self) -> Mapping[str, int]:
        # train_ext.py: input1 = cat(rgb, rgb_exchanged) through the visible stem, ir through the thermal one.
        return {"visible": STEMS[Modality.VISIBLE], "exchanged": STEMS[Modality.VISIBLE],
                "infrared": STEMS[Modality.INFRARED]}

    def triplet_loss(self, features: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """CAJ: TripletLoss_ADP on the pooled features of all three views."""
        return self.triplet(features, labels)
