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
from typing import Any, ClassVar

from PIL import Image

from reid.config import RunConfig
from reid.data.sample import Modality
from reid.data.transforms import LANCZOS, caj_train_views
from reid.losses import TripletLossADP
from reid.methods.agw import AGW
from reid.methods.base import ViewSpec
from reid.methods.registry import register_method
from reid.methods.two_stream import STEMS, TwoStreamMethod

CAJ_VIEW_STEMS: Mapping[str, int] = {
    "visible": STEMS[Modality.VISIBLE],
    "exchanged": STEMS[Modality.VISIBLE],
    "infrared": STEMS[Modality.INFRARED],
}
"""train_ext.py: input1 = cat(rgb, rgb_exchanged) through the visible stem, ir through the thermal one."""


def caj_views(height: int, width: int) -> dict[str, ViewSpec]:
    """CAJ's three views of every pair (train_ext.py): the visible image, its channel exchange, the infrared image."""
    views = caj_train_views(height, width)
    return {
        "visible": ViewSpec(Modality.VISIBLE, views.rgb),
        "exchanged": ViewSpec(Modality.VISIBLE, views.rgb_exchanged),
        "infrared": ViewSpec(Modality.INFRARED, views.ir),
    }


@register_method
class CAJ(TwoStreamMethod):
    """CAJ on the AGW network (protocols.md sec. 5): three views, TripletLoss_ADP on the pooled features of all three.

    Args:
        alpha, gamma, square: TripletLoss_ADP options; the README's command uses
            ``--alpha 1 --gamma 1 --square 1`` (the enhanced squared difference).
        **network: the two-stream network's arguments (:func:`~reid.methods.two_stream.two_stream_net`).
    """

    name: ClassVar[str] = "caj"
    # CAJ's code resizes as AGW's: Image.ANTIALIAS (= LANCZOS).
    entry_resample: ClassVar[Image.Resampling] = LANCZOS
    view_stems: ClassVar[Mapping[str, int]] = CAJ_VIEW_STEMS

    def __init__(self, *, alpha: float = 1.0, gamma: float = 1.0, square: int = 1, **network: Any) -> None:
        super().__init__(metric=TripletLossADP(alpha=alpha, gamma=gamma, square=square), **network)

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
        return caj_views(height, width)
