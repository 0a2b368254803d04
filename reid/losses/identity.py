"""Identity (classification) loss: cross-entropy, optionally label-smoothed as in BoT.

* AGW and CAJ: plain ``nn.CrossEntropyLoss`` on the BNNeck logits (protocols.md sec. 4: no label smoothing).
* XIV Eq. 9 (``xiv.txt``): ``-sum_i y_i log p_i`` with one-hot ``y_i``, averaged over the M images by Eq. 8.
* BoT (``michuanhaohao/reid-strong-baseline`` ``layers/triplet_loss.py`` ``CrossEntropyLabelSmooth``,
  Szegedy et al. 2016): targets ``(1 - eps) y + eps / K`` over K classes, loss averaged over the batch,
  ``eps = 0.1``. torch's ``label_smoothing`` mixes in the same uniform distribution, so one call covers both.
"""

from __future__ import annotations

import math

import torch.nn.functional as F
from torch import Tensor

from reid.errors import ConfigError


def cross_entropy(logits: Tensor, labels: Tensor, label_smoothing: float = 0.0) -> Tensor:
    """Mean cross-entropy of ``logits`` against ``labels`` with BoT's label smoothing.

    ``loss = mean_i sum_k -q_ik log softmax(logits_i)_k`` with ``q_i = (1 - eps) onehot(y_i) + eps / K``
    (BoT ``CrossEntropyLabelSmooth``); ``eps = 0`` is the plain loss of AGW/CAJ and XIV Eq. 9.

    Args:
        logits: ``[N, K]`` class scores.
        labels: ``[N]`` integer class indices in ``[0, K)``.
        label_smoothing: ``eps`` in ``[0, 1]`` (BoT: 0.1).

    Returns:
        Scalar loss tensor.

    Raises:
        ConfigError: ``label_smoothing`` outside ``[0, 1]``.
    """
    eps = label_smoothing
    if isinstance(eps, bool) or not isinstance(eps, int | float) or not math.isfinite(eps) or not 0 <= eps <= 1:
        raise ConfigError(f"label_smoothing: expected a number in [0, 1]; got {label_smoothing!r}")
    return F.cross_entropy(logits, labels, label_smoothing=float(eps))
