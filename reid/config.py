"""Run configuration: frozen dataclasses, ``key=value`` overrides and a fingerprint that names a run.

A :class:`RunConfig` says everything that decides a run's numbers: the method and its options,
the data, the network, the optimiser and schedule, the evaluation protocol, and the seed. Only
the factories read it (``ReIDMethod.from_config``, the engine); constructors take explicit
keyword arguments. Two runs with the same fingerprint are the same experiment, so the harness
trains a row once whatever table it appears in.
"""

from __future__ import annotations

import ast
import dataclasses
import hashlib
import json
import types
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from reid.errors import ConfigError


def _frozen_mapping(value: Mapping[str, Any] | None = None) -> Mapping[str, Any]:
    return types.MappingProxyType(dict(value or {}))


def _freeze_mappings(config: Any) -> None:
    """Store a config's mapping fields read-only: a config cannot change after its fingerprint is taken."""
    for f in dataclasses.fields(config):
        value = getattr(config, f.name)
        if isinstance(value, Mapping):
            object.__setattr__(config, f.name, _frozen_mapping(value))


@dataclass(frozen=True)
class DataConfig:
    """What the model sees.

    Attributes:
        dataset: a name of :data:`reid.data.datasets.DATASETS`.
        root: the data set's folder (real data sets); ``None`` for synthetic ones.
        options: keyword arguments of the data set class (``trial`` for RegDB, sizes and seed
            for synthetic data).
        height, width: network input size after resizing.
        num_ids_per_batch: P identities per batch.
        num_per_id: K images per identity per modality per batch.
        num_workers: data-loader worker processes (results do not depend on it: every sample
            draws its augmentation from a generator derived from the seed, epoch and position).
    """

    dataset: str = "synthetic"
    root: str | None = None
    options: Mapping[str, Any] = field(default_factory=_frozen_mapping)
    height: int = 288
    width: int = 144
    num_ids_per_batch: int = 8
    num_per_id: int = 4
    num_workers: int = 0

    def __post_init__(self) -> None:
        _freeze_mappings(self)


@dataclass(frozen=True)
class ModelConfig:
    """The network.

    Attributes:
        arch: torchvision ResNet name (``resnet50`` in the papers, ``resnet18`` in smoke runs).
        last_stride: stride of layer4 (1 in AGW and its descendants).
        non_local: insert AGW's non-local blocks.
        non_local_embedding: ``"half"`` (C/2, as MSCMNet fixed it) or ``"agw_one"`` (the AGW
            code's 1-channel embedding).
        gem_p: exponent of generalised-mean pooling (AGW: 3, fixed).
        pretrained: local file of ImageNet weights; ``None`` trains from scratch (said in the record).
    """

    arch: str = "resnet50"
    last_stride: int = 1
    non_local: bool = True
    non_local_embedding: str = "half"
    gem_p: float = 3.0
    pretrained: str | None = None


@dataclass(frozen=True)
class OptimConfig:
    """Optimiser and learning-rate schedule (defaults: AGW, protocols.md sec. 4).

    Attributes:
        optimizer: ``"sgd"`` or ``"adam"``.
        lr: learning rate of the heads (BNNeck, classifier and other new layers).
        backbone_lr: learning rate of the pretrained backbone.
        momentum, nesterov: SGD only.
        weight_decay: L2 penalty of every group.
        epochs: training epochs.
        warmup_epochs: linear warm-up, ``lr * (e + 1) / warmup_epochs`` for epoch ``e`` below it.
        milestones: epochs at which the rate is multiplied by ``gamma`` (cumulatively).
        gamma: decay factor at each milestone.
    """

    optimizer: str = "sgd"
    lr: float = 0.1
    backbone_lr: float = 0.01
    momentum: float = 0.9
    nesterov: bool = True
    weight_decay: float = 5e-4
    epochs: int = 80
    warmup_epochs: int = 10
    milestones: tuple[int, ...] = (20, 50)
    gamma: float = 0.1


@dataclass(frozen=True)
class EvalConfig:
    """How a trained model is evaluated, every switch named (design.md, "Evaluation protocol quirks").

    Attributes:
        protocol: a name of :func:`reid.eval.protocols.build_trials`.
        protocol_options: its options (SYSU: mode, shots, gallery_sampling, num_trials; RegDB: direction).
        feature: ``"bn"`` (after BNNeck, AGW's "FC") or ``"pool"`` (the GeM feature).
        flip: average the features of the image and its mirror (CAJ testa.py).
        selection: ``"last"`` (the last epoch's model) or ``"best-on-test"`` (the epoch with the best
            test rank-1, as the reference code saves; always labelled test-set selection).
        every: evaluate every this many epochs during training (0: only at the end).
        batch_size: images per forward pass at test time.
    """

    protocol: str = "sysu_mm01"
    protocol_options: Mapping[str, Any] = field(default_factory=_frozen_mapping)
    feature: str = "bn"
    flip: bool = False
    selection: str = "last"
    every: int = 0
    batch_size: int = 128

    def __post_init__(self) -> None:
        _freeze_mappings(self)


@dataclass(frozen=True)
class RunConfig:
    """One experiment.

    Attributes:
        method: a registered method name (:func:`reid.methods.list_methods`).
        profile: ``"paper"`` (the paper's sizes) or ``"smoke"`` (same classes, small sizes).
        seed: the one seed every random stream is derived from.
        method_options: the method's own keyword arguments (loss weights, margins, switches).
        amp: float16 autocast of the forward passes, CUDA only (ignored on CPU). Off by default: the released
            code of every method here trains in float32 (docs/decisions.md, "Training precision"); metric-learning
            distances run in float32 either way.
        channels_last: CUDA-only memory-layout switch (ignored on CPU).
    """

    method: str
    profile: str = "paper"
    seed: int = 0
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    method_options: Mapping[str, Any] = field(default_factory=_frozen_mapping)
    amp: bool = False
    channels_last: bool = True

    def __post_init__(self) -> None:
        _freeze_mappings(self)


def to_dict(config: Any) -> dict[str, Any]:
    """A JSON-ready nested dict of a config dataclass (mappings as dicts, tuples as lists)."""
    return json.loads(_canonical_json(config))


def fingerprint(config: RunConfig) -> str:
    """First 16 hex digits of the SHA-256 of the canonical JSON of ``config``: the run's name."""
    return hashlib.sha256(_canonical_json(config).encode()).hexdigest()[:16]


def _canonical_json(config: Any) -> str:
    def plain(value: Any) -> Any:
        if dataclasses.is_dataclass(value):
            return {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
        if isinstance(value, Mapping):
            return {str(k): plain(v) for k, v in value.items()}
        if isinstance(value, (tuple, list)):
            return [plain(v) for v in value]
        return value

    return json.dumps(plain(config), sort_keys=True, separators=(",", ":"))


def from_dict(data: Mapping[str, Any]) -> RunConfig:
    """Rebuild a :class:`RunConfig` from :func:`to_dict` output (a run record or checkpoint).

    Raises:
        ConfigError: unknown keys or values of the wrong type.
    """
    return _build(RunConfig, data, "config")


def _build(cls: type, data: Mapping[str, Any], where: str) -> Any:
    if not isinstance(data, Mapping):
        raise ConfigError(f"{where}: expected a mapping, got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise ConfigError(f"{where}: unknown keys {unknown}; expected some of {sorted(names)}")
    kwargs = {}
    for name, value in data.items():
        hint = hints[name]
        if dataclasses.is_dataclass(hint):
            kwargs[name] = _build(hint, value, f"{where}.{name}")
        else:
            kwargs[name] = _coerce(value, hint, f"{where}.{name}")
    return cls(**kwargs)


def apply_overrides(config: RunConfig, overrides: Sequence[str]) -> RunConfig:
    """Apply ``key=value`` overrides (``optim.lr=0.05``, ``model.arch=resnet18``,
    ``data.options.num_train_ids=8``, ``method_options.square=1``).

    Values are parsed as Python literals (numbers, booleans, ``None``, tuples, strings in quotes)
    and fall back to the bare string; they are then checked against the field's type.

    Raises:
        ConfigError: a malformed item, an unknown key (the message lists the valid ones) or a
            value of the wrong type.
    """
    for item in overrides:
        key, sep, text = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"override {item!r}: expected key=value, e.g. optim.lr=0.05")
        config = _set(config, key.strip().split("."), _parse(text.strip()), key.strip())
    return config


def _parse(text: str) -> Any:
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def _set(node: Any, path: list[str], value: Any, key: str) -> Any:
    head, rest = path[0], path[1:]
    if isinstance(node, Mapping):
        if not rest:
            return _frozen_mapping({**node, head: value})
        if head not in node:
            raise ConfigError(f"override {key!r}: {head!r} is not set; known keys {sorted(node)}")
        return _frozen_mapping({**node, head: _set(node[head], rest, value, key)})
    if not dataclasses.is_dataclass(node):
        raise ConfigError(f"override {key!r}: {head!r} is below a plain value")
    names = [f.name for f in dataclasses.fields(node)]
    if head not in names:
        raise ConfigError(f"override {key!r}: unknown key {head!r}; expected one of {names}")
    current = getattr(node, head)
    if rest:
        return dataclasses.replace(node, **{head: _set(current, rest, value, key)})
    hint = typing.get_type_hints(type(node))[head]
    return dataclasses.replace(node, **{head: _coerce(value, hint, key)})


def _coerce(value: Any, hint: Any, key: str) -> Any:
    """Check ``value`` against a field type (int -> float allowed, lists -> tuples)."""
    origin = typing.get_origin(hint)
    if origin in (types.UnionType, typing.Union):
        options = typing.get_args(hint)
        if value is None and type(None) in options:
            return None
        errors = []
        for option in (o for o in options if o is not type(None)):
            try:
                return _coerce(value, option, key)
            except ConfigError as err:
                errors.append(str(err))
        raise ConfigError(errors[0])
    if origin is tuple:
        if not isinstance(value, (tuple, list)):
            value = (value,)
        (item,) = {a for a in typing.get_args(hint) if a is not Ellipsis}
        return tuple(_coerce(v, item, key) for v in value)
    if origin is not None and issubclass(origin, Mapping) or hint is Mapping:
        if not isinstance(value, Mapping):
            raise ConfigError(f"{key}: expected a mapping, got {value!r}")
        return _frozen_mapping(value)
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    is_bool_for_int = hint is int and isinstance(value, bool)
    if hint is Any or (isinstance(hint, type) and isinstance(value, hint) and not is_bool_for_int):
        return value
    raise ConfigError(f"{key}: expected {getattr(hint, '__name__', hint)}, got {value!r}")
