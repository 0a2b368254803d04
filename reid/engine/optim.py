"""The optimiser over the groups a method declares: by default the pretrained backbone at a low rate, the new heads
at a high one.

AGW (root ``train.py``; protocols.md sec. 4): SGD, momentum 0.9, Nesterov, weight decay 5e-4 on
every parameter; the bottleneck and classifier ("heads") at 0.1, everything ignored by that
filter (the ResNet backbone) at 0.01. Here the method names its backbone parameters
(:meth:`~reid.methods.base.ReIDMethod.backbone_parameters`) and every other trainable parameter is a
head, so a new layer of a method is trained at the head rate unless the method says otherwise.
"""

from __future__ import annotations

import torch

from reid.config import OptimConfig
from reid.engine.schedule import BASE_LR_KEY
from reid.errors import ConfigError
from reid.methods.base import ReIDMethod

OPTIMIZERS = ("sgd", "adam")


def param_groups(method: ReIDMethod, optim_config: OptimConfig) -> list[dict]:
    """The optimiser's groups of :meth:`~reid.methods.base.ReIDMethod.parameter_groups`; parameters that do not
    require grad are left out, and a group left with none is dropped.

    Each group holds ``name``, ``lr`` and ``base_lr`` (the rate the schedule scales).

    Raises:
        ConfigError: a group names a parameter twice, or one that is not among the method's own, or a trainable
            parameter of the method is in no group.
    """
    where = f"{type(method).__name__}.parameter_groups()"
    own = {id(p): p for p in method.parameters()}
    seen: set[int] = set()
    groups = []
    for group in method.parameter_groups(optim_config):
        for p in group.params:
            if id(p) not in own:
                raise ConfigError(f"{where}: group {group.name!r} holds a parameter the method lacks")
            if id(p) in seen:
                raise ConfigError(f"{where}: a parameter is in two groups (the second: {group.name!r})")
            seen.add(id(p))
        trainable = [p for p in group.params if p.requires_grad]
        if trainable:
            groups.append({"name": group.name, "params": trainable, "lr": group.lr, BASE_LR_KEY: group.lr})
    missing = [key for key, p in own.items() if key not in seen and p.requires_grad]
    if missing:
        raise ConfigError(f"{where}: {len(missing)} trainable parameter(s) are in no group")
    return groups


def build_optimizer(method: ReIDMethod, optim_config: OptimConfig) -> torch.optim.Optimizer:
    """SGD (momentum, Nesterov, weight decay) or Adam over :func:`param_groups`.

    Raises:
        ConfigError: an unknown optimizer name, a non-positive rate, or no trainable parameter.
    """
    cfg = optim_config
    if cfg.optimizer not in OPTIMIZERS:
        raise ConfigError(f"optim.optimizer={cfg.optimizer!r} is not valid; expected one of {', '.join(OPTIMIZERS)}")
    for name in ("lr", "backbone_lr"):
        if not getattr(cfg, name) > 0:
            raise ConfigError(f"optim.{name}: expected a positive rate, got {getattr(cfg, name)!r}")
    if cfg.optimizer == "sgd" and cfg.nesterov and not cfg.momentum > 0:
        raise ConfigError(f"optim.nesterov=True needs optim.momentum > 0, got {cfg.momentum!r}")
    groups = param_groups(method, cfg)
    if not groups:
        raise ConfigError(f"{type(method).__name__}: no parameter requires grad; nothing to train")
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(groups, lr=cfg.lr, momentum=cfg.momentum, nesterov=cfg.nesterov,
                               weight_decay=cfg.weight_decay)
    return torch.optim.Adam(groups, lr=cfg.lr, weight_decay=cfg.weight_decay)
