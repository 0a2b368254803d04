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

from collections.abc import Mapping
from typing import Any, ClassVar

from PIL import Image

from reid.config import DataConfig, EvalConfig, ModelConfig, OptimConfig, RunConfig
from reid.data.sample import Modality
from reid.data.transforms import LANCZOS, agw_train
from reid.losses import WeightedRegularizationTriplet
from reid.methods.base import ViewSpec
from reid.methods.registry import register_method
from reid.methods.two_stream import STEMS, TwoStreamMethod


@register_method
class AGW(TwoStreamMethod):
    """The AGW baseline (protocols.md sec. 4): the two-stream network with WRT.

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
    # AGW pre_process_sysu.py resizes with Image.ANTIALIAS (= LANCZOS).
    entry_resample: ClassVar[Image.Resampling] = LANCZOS
    # WRT on the pooled features of the whole two-modality batch.
    view_stems: ClassVar[Mapping[str, int]] = {"visible": STEMS[Modality.VISIBLE], "infrared": STEMS[Modality.INFRARED]}

    def __init__(self, **network: Any) -> None:
        super().__init__(metric=WeightedRegularizationTriplet(), **network)

    @classmethod
    def paper_config(cls) -> RunConfig:
        """AGW's released training recipe (protocols.md sec. 4; train.py defaults)."""
        return RunConfig(
            method=cls.name,
            profile="paper",
            data=DataConfig(dataset="sysu_mm01", height=288, width=144, num_ids_per_batch=8, num_per_id=4),
            # Non_local's embedding as released: reduc_ratio // reduc_ratio = 1 channel (docs/decisions.md,
            # "AGW, CAJ and CMMP use the released 1-channel non-local embedding").
            model=ModelConfig(arch="resnet50", last_stride=1, non_local=True, non_local_embedding="agw_one",
                              gem_p=3.0),
            # SGD, nesterov, wd 5e-4; heads 0.1 / backbone 0.01; warm-up 10, x0.1 at 20, x0.01 at 50;
            # train.py loops epochs 0..80 (81 epochs).
            optim=OptimConfig(epochs=81, warmup_epochs=10, milestones=(20, 50), gamma=0.1),
            # test.py: 10 trials of AGW's seeded single-shot gallery, all-search, BN ("FC") feature. train.py tests
            # every second epoch and keeps the best on the test set; we keep the last epoch and record what that
            # selection would have given (reid/engine/selection.py).
            eval=EvalConfig(
                protocol="sysu_mm01",
                protocol_options={"mode": "all", "shots": 1, "gallery_sampling": "seeded", "num_trials": 10},
                feature="bn",
                flip=False,
                selection="last",
                every=2,
            ),
        )

    def train_views(self, height: int, width: int) -> Mapping[str, ViewSpec]:
        transform = agw_train(height, width)
        return {"visible": ViewSpec(Modality.VISIBLE, transform), "infrared": ViewSpec(Modality.INFRARED, transform)}
