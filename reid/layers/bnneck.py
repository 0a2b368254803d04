"""BNNeck: a batch-norm "neck" between the pooled feature and the identity classifier.

From Luo et al., "Bag of Tricks and a Strong Baseline for Deep Person Re-identification" (CVPRW 2019), as
AGW's ``model.py`` builds it (protocols.md sec. 4): ``BatchNorm1d(C)`` whose bias is frozen at zero ("no
shift"), weight ~ N(1, 0.01) (``weights_init_kaiming``); classifier ``Linear(C, num_classes, bias=False)``
with weight ~ N(0, 0.001) (``weights_init_classifier``). The metric losses see the feature before the
BN, the identity loss sees the logits of the BN feature; AGW evaluates on either (POOL / FC).
"""

from __future__ import annotations

import torch
from torch import nn

from reid.checks import check_generator
from reid.errors import ConfigError

AGW_BN_WEIGHT_STD: float = 0.01
"""Std of the BN weight around 1 (AGW ``weights_init_kaiming``, BatchNorm1d branch)."""

AGW_CLASSIFIER_STD: float = 0.001
"""Std of the classifier weight around 0 (AGW ``weights_init_classifier``)."""


class BNNeck(nn.Module):
    """BatchNorm1d with a frozen zero bias followed by a bias-free linear identity classifier.

    Source: Luo et al. (BoT, CVPRW 2019); AGW model.py ``bottleneck`` / ``classifier`` (protocols.md sec. 4).

    Args:
        in_features: ``C``, the width of the pooled feature.
        num_classes: number of training identities.
        generator: the source of the random initial weights.

    Raises:
        ConfigError: non-positive sizes, or ``generator`` is not a ``torch.Generator``.
    """

    def __init__(self, in_features: int, num_classes: int, *, generator: torch.Generator) -> None:
        super().__init__()
        check_generator(generator, "BNNeck")
        if in_features < 1 or num_classes < 1:
            raise ConfigError(
                f"BNNeck: expected positive sizes, got in_features={in_features}, num_classes={num_classes}"
            )
        self.in_features = in_features
        self.num_classes = num_classes
        # Meta construction: nothing is drawn from torch's global generator (see reset_parameters).
        with torch.device("meta"):
            self.bn = nn.BatchNorm1d(in_features)
            self.classifier = nn.Linear(in_features, num_classes, bias=False)
        self.to_empty(device="cpu")
        # "no shift": the BN bias stays at zero for the whole training (AGW model.py).
        self.bn.bias.requires_grad_(False)
        self.reset_parameters(generator)

    def reset_parameters(self, generator: torch.Generator) -> None:
        """AGW's init: BN weight ~ N(1, 0.01), bias 0, fresh running stats; classifier ~ N(0, 0.001)."""
        self.bn.reset_running_stats()
        with torch.no_grad():
            nn.init.normal_(self.bn.weight, 1.0, AGW_BN_WEIGHT_STD, generator=generator)
            nn.init.zeros_(self.bn.bias)
            nn.init.normal_(self.classifier.weight, 0.0, AGW_CLASSIFIER_STD, generator=generator)

    def forward(self, feat: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``feat: [N, C] -> (bn_feat: [N, C], logits: [N, num_classes])``."""
        bn_feat = self.bn(feat)
        return bn_feat, self.classifier(bn_feat)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, num_classes={self.num_classes}"
