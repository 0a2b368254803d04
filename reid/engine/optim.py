"""The optimiser: two parameter groups, the pretrained backbone at a low rate and the new heads at a high one.

AGW (root ``train.py``; protocols.md sec. 4): SGD, momentum 0.9, Nesterov, weight decay 5e-4 on
every parameter; the bottleneck and classifier ("heads") at 0.1, everything ignored by that
filter (the ResNet backbone) at 0.01. Here the method names its backbone parameters
(:meth:`~reid.methods.base.ReIDMethod.backbone_parameters`) and every other trainable parameter is a
head, so a new layer of a method is trained at the head rate unless the method says otherwise.
"""

from __future__ import annotations

import torch
from torch import nn

from reid.config import OptimConfig
from reid.engine.schedule import BASE_LR_KEY
from reid.errors import ConfigError
from reid.methods.base import ReIDMethod

OPTIMIZERS = ("sgd", "adam")


def param_groups(method: ReIDMethod, backbone_lr: float, lr: float) -> list[dict]:
    """The ``backbone`` and ``heads`` groups; parameters that do not require grad are left out.

    Each group holds ``name``, ``lr`` and ``base_lr`` (the rate the schedule scales). A group
    with no parameter is dropped.

    Raises:
        ConfigError: the method's backbone list names a parameter twice or one that is not
            among its own parameters.
    """
    own = {id(p): p for p in method.parameters()}
    backbone: dict[int, nn.Parameter] = {}
    for p in method.backbone_parameters():
        if id(p) not in own:
            raise ConfigError(f"{type(method).__name__}.backbone_parameters(): returned a parameter the method lacks")
        if id(p) in backbone:
            raise ConfigError(f"{type(method).__name__}.backbone_parameters(): returned a parameter twice")
        backbone[id(p)] = p
    heads = [p for key, p in own.items() if key not in backbone and p.requires_grad]
    groups = [
        {"name": "backbone", "params": [p for p in backbone.values() if p.requires_grad], "lr": backbone_lr},
        {"name": "heads", "params": heads, "lr": lr},
    ]
    return [{**g, BASE_LR_KEY: g["lr"]} for g in groups if g["params"]]


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
    groups = param_groups(method, cfg.backbone_lr, cfg.lr)
    if not groups:
        raise ConfigError(f"{type(method).__name__}: no parameter requires grad; nothing to train")
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(groups, lr=cfg.lr, momentum=cfg.momentum, nesterov=cfg.nesterov,
                               weight_decay=cfg.weight_decay)
    return torch.optim.Adam(groups, lr=cfg.lr, weight_decay=cfg.weight_decay)
