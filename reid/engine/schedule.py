"""Learning-rate schedule: linear warm-up, then a step decay at milestones, set once per epoch.

AGW (root ``train.py`` ``adjust_learning_rate``; protocols.md sec. 4) and CAJ use, for epoch ``e``
(0-based) and base rate ``lr``::

    e < 10:        lr * (e + 1) / 10
    10 <= e < 20:  lr
    20 <= e < 50:  lr * 0.1
    e >= 50:       lr * 0.01

i.e. warm-up over 10 epochs, then ``gamma = 0.1`` at milestones 20 and 50. The same factor
multiplies every parameter group's own base rate (AGW: 0.1 for the heads, 0.01 for the
backbone), and the rate is set at the start of each epoch, not per iteration.

MSCMNet's ``LRSchedulerWithWarmup`` warms up from a factor 0.1 instead of ``1 / warmup`` and
decays at 25, 90 and 120 (protocols.md sec. 6); its warm-up start is not offered here yet.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import torch

from reid.config import OptimConfig
from reid.errors import ConfigError

BASE_LR_KEY = "base_lr"
"""Key of each optimizer param group that holds the group's rate before scheduling."""


def lr_factor(epoch: int, warmup_epochs: int, milestones: Sequence[int], gamma: float) -> float:
    """Factor of the base rate in ``epoch`` (0-based): AGW's warm-up + step schedule.

    During warm-up (``epoch < warmup_epochs``) the factor is ``(epoch + 1) / warmup_epochs``
    and milestones are not applied (AGW's ``if`` chain tests warm-up first). From then on it is
    ``gamma ** (number of milestones <= epoch)``.

    Raises:
        ConfigError: a negative epoch or warm-up, or a non-positive gamma.
    """
    if epoch < 0 or warmup_epochs < 0:
        raise ConfigError(f"lr_factor: expected epoch >= 0 and warmup_epochs >= 0, got {epoch}, {warmup_epochs}")
    if gamma <= 0:
        raise ConfigError(f"optim.gamma: expected a positive factor, got {gamma!r}")
    if epoch < warmup_epochs:
        return (epoch + 1) / warmup_epochs
    return gamma ** sum(1 for milestone in milestones if milestone <= epoch)


def warmup_multistep(epoch: int, optim: OptimConfig) -> float:
    """:func:`lr_factor` with ``optim``'s warm-up, milestones and gamma."""
    return lr_factor(epoch, optim.warmup_epochs, optim.milestones, optim.gamma)


SCHEDULES: Mapping[str, Callable[[int, OptimConfig], float]] = {"warmup_multistep": warmup_multistep}
"""Schedules a method may declare (:attr:`reid.methods.base.ReIDMethod.schedule`): name -> factor of epoch."""


def schedule_factor(name: str, epoch: int, optim: OptimConfig) -> float:
    """The factor of the base rates in ``epoch`` under schedule ``name``.

    Raises:
        ConfigError: a schedule this engine does not offer (the valid ones listed).
    """
    if name not in SCHEDULES:
        raise ConfigError(f"schedule {name!r} is not offered by the engine; expected one of {', '.join(SCHEDULES)}")
    return SCHEDULES[name](epoch, optim)


def set_epoch_lr(optimizer: torch.optim.Optimizer, factor: float) -> dict[str, float]:
    """Set every group's rate to its base rate times ``factor``.

    Returns:
        Group name (or its index as a string) -> the rate now set, for the run record.

    Raises:
        ConfigError: a group without a base rate (an optimizer not made by ``build_optimizer``).
    """
    rates = {}
    for index, group in enumerate(optimizer.param_groups):
        if BASE_LR_KEY not in group:
            raise ConfigError(f"optimizer param group {index} has no {BASE_LR_KEY!r}; build it with build_optimizer")
        group["lr"] = group[BASE_LR_KEY] * factor
        rates[str(group.get("name", index))] = group["lr"]
    return rates
