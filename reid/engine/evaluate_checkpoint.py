"""Evaluate a saved model again: a checkpoint of a run, its stored config, the protocol, an evaluation record.

A checkpoint (``last.pt`` or ``best.pt`` of a run folder, :mod:`reid.engine.checkpoint`) holds
the run's full config beside the weights. :func:`evaluate_checkpoint` rebuilds the method from
that config (:func:`reid.engine.run.build_method`), loads the weights and evaluates it with
:func:`reid.eval.evaluate.evaluate` exactly as the run's final evaluation did: same entry
resize, same protocol, same device rules (AMP and channels-last on CUDA only). With the stored
config unchanged, the metrics on CPU are the run's final metrics, bit for bit.

What may change for an evaluation is the data and the protocol (``data.*`` and ``eval.*``):
another data set or folder, flip test-time augmentation, the primary feature, the SYSU search
mode, ... The network (``method``, ``model.*``, ``method_options``) is fixed by the weights.
The evaluation record lists every value that differs from the training config.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from reid.config import RunConfig, fingerprint, from_dict, to_dict
from reid.data.datasets import build_dataset
from reid.engine.checkpoint import BEST, KIND_WEIGHTS, LAST, load_checkpoint
from reid.engine.record import environment_info, git_state, weights_info
from reid.engine.run import build_method, entry_resample
from reid.errors import ArtifactError, ConfigError
from reid.eval.evaluate import evaluate
from reid.io import atomic_write_text, file_sha256
from reid.methods.base import ReIDMethod

EVAL_RECORD_FORMAT = 1
"""Version of the evaluation record layout; a file with another version is refused."""

MODEL_FIELDS = ("method", "model", "method_options")
"""Config fields that define the network: they must equal the checkpoint's."""

_PROBE_CLASSES = 1
"""Classifier width of the probe network that tells which weights depend on the number of classes."""


@dataclass(frozen=True)
class TrainedCheckpoint:
    """A checkpoint read back, with the parts an evaluation needs.

    Attributes:
        path: the checkpoint file (absolute).
        config: the run's config as stored in it.
        kind: ``"training"`` (``last.pt``: full training state) or ``"weights"`` (``best.pt``).
        epoch: the 0-based epoch whose weights these are.
        fingerprint: the run's config fingerprint (names its folder).
        model_state: the method's ``state_dict``.
        sha256: digest of the file, for the evaluation record.
    """

    path: Path
    config: RunConfig
    kind: str
    epoch: int
    fingerprint: str
    model_state: Mapping[str, torch.Tensor]
    sha256: str

    @property
    def selected_on_test_set(self) -> bool:
        """Whether these weights were chosen by test-set performance (``best.pt`` of a best-on-test run)."""
        return self.kind == KIND_WEIGHTS and self.config.eval.selection == "best-on-test"


def resolve_checkpoint_path(path: str | Path) -> Path:
    """The checkpoint file ``path`` names: the file itself, or in a run folder the selected model.

    A run folder holds ``best.pt`` only under best-on-test selection, where it is the selected
    model; otherwise the selected model is the last epoch's, ``last.pt``.

    Raises:
        ArtifactError: neither a file nor a run folder holding ``best.pt`` or ``last.pt``.
    """
    path = Path(path)
    if path.is_dir():
        for name in (BEST, LAST):
            if (path / name).is_file():
                return path / name
        raise ArtifactError(path, f"a run folder holding {BEST} or {LAST}, or a checkpoint file; found neither")
    if not path.is_file():
        raise ArtifactError(path, f"a checkpoint file ({LAST} or {BEST} of a run folder) or a run folder; none found")
    return path


def load_trained(path: str | Path) -> TrainedCheckpoint:
    """Read a checkpoint (safely: ``torch.load(weights_only=True)``) and its stored config.

    Args:
        path: a checkpoint file or a run folder (:func:`resolve_checkpoint_path`).

    Raises:
        ArtifactError: a missing or malformed checkpoint, or a stored config that does not parse.
    """
    file = resolve_checkpoint_path(path).resolve()
    state = load_checkpoint(file)
    try:
        config = from_dict(state["config"])
    except ConfigError as err:
        raise ArtifactError(file, f"a run config this version of reid reads ({err})", "config") from err
    return TrainedCheckpoint(
        path=file,
        config=config,
        kind=state["kind"],
        epoch=int(state["epoch"]),
        fingerprint=str(state["fingerprint"]),
        model_state=state["model"],
        sha256=file_sha256(file),
    )


def check_same_network(stored: RunConfig, config: RunConfig) -> None:
    """Refuse a config whose network differs from the checkpoint's (:data:`MODEL_FIELDS`).

    ``model.pretrained`` is exempt: it only says where the training started from.

    Raises:
        ConfigError: naming the first differing field.
    """
    before, after = to_dict(_without_pretrained(stored)), to_dict(_without_pretrained(config))
    for name in MODEL_FIELDS:
        if before[name] != after[name]:
            raise ConfigError(
                f"{name}: the checkpoint's network is {before[name]!r}, the evaluation config asks {after[name]!r}"
            )


def infer_num_classes(config: RunConfig, model_state: Mapping[str, torch.Tensor], path: str | Path) -> int:
    """The number of training identities the checkpoint's classifier was built for.

    Checkpoints do not store it and the training data may not be at hand (an evaluation on
    another data set), so it is read off the weights: a probe network with one class is
    built, and every tensor whose shape differs from the checkpoint's must differ only where
    the probe has 1; the checkpoint's size there is the number of classes.

    Raises:
        ArtifactError: keys or shapes that no number of classes explains (another network).
    """
    probe = build_method(_without_pretrained(config), _PROBE_CLASSES).state_dict()
    missing = sorted(set(probe) - set(model_state))
    unexpected = sorted(set(model_state) - set(probe))
    if missing or unexpected:
        raise ArtifactError(
            path,
            f"the weights of {config.method!r} as configured; missing keys {missing[:5]}, unexpected keys "
            f"{unexpected[:5]}",
            "model",
        )
    sizes: set[int] = set()
    for key, reference in probe.items():
        stored = tuple(model_state[key].shape)
        if stored == tuple(reference.shape):
            continue
        differs = [i for i, (p, s) in enumerate(zip(reference.shape, stored, strict=False)) if p != s]
        if len(stored) != reference.dim() or any(reference.shape[i] != _PROBE_CLASSES for i in differs):
            raise ArtifactError(
                path,
                f"the network of the stored config; {key} has shape {stored}, the network {tuple(reference.shape)}",
                "model",
            )
        sizes.update(stored[i] for i in differs)
    if len(sizes) > 1:
        raise ArtifactError(
            path, f"one number of classes across the classifier weights, found {sorted(sizes)}", "model"
        )
    return sizes.pop() if sizes else _PROBE_CLASSES


def _without_pretrained(config: RunConfig) -> RunConfig:
    # The checkpoint's weights replace the initial ones: the ImageNet file need not exist here.
    return dataclasses.replace(config, model=dataclasses.replace(config.model, pretrained=None))


def restore_method(checkpoint: TrainedCheckpoint, device: torch.device | str = "cpu") -> ReIDMethod:
    """The checkpoint's method with its weights, on ``device`` (channels-last on CUDA when configured).

    Raises:
        ArtifactError: weights that do not fit the network of the stored config.
    """
    device = torch.device(device)
    config = checkpoint.config
    num_classes = infer_num_classes(config, checkpoint.model_state, checkpoint.path)
    method = build_method(_without_pretrained(config), num_classes)
    try:
        method.load_state_dict(checkpoint.model_state, strict=True)
    except RuntimeError as err:
        first = str(err).strip().splitlines()[0]
        raise ArtifactError(checkpoint.path, f"weights that fit {config.method!r} ({first})", "model") from err
    # As the run: channels-last only where it is a speed switch (CUDA), so results match the run's.
    memory_format = torch.channels_last if config.channels_last and device.type == "cuda" else torch.preserve_format
    return method.to(device, memory_format=memory_format)


@dataclass(frozen=True)
class EvaluationRecord:
    """One evaluation of a saved model (JSON: :meth:`to_dict`, :func:`write_evaluation_record`).

    Attributes:
        checkpoint: ``path``, ``sha256``, ``kind``, ``epoch``, ``run_fingerprint`` and
            ``selected_on_test_set`` of the evaluated weights.
        config: the config of the evaluation (the training config with its data / protocol changes).
        fingerprint: :func:`reid.config.fingerprint` of it (equal to ``run_fingerprint`` when
            nothing was changed).
        changes: dotted key -> ``{"training": .., "evaluation": ..}`` for every config value
            that differs from the checkpoint's.
        weights: the run's initial weights (:func:`reid.engine.record.weights_info`).
        environment: versions, device, ``amp`` and ``channels_last`` as in effect.
        git: the code's commit (:func:`reid.engine.record.git_state`).
        evaluation: :meth:`reid.eval.evaluate.EvaluationResult.to_dict`.
        wall_time_s: seconds for the whole evaluation (loading included).
        format: the layout version.
    """

    checkpoint: dict[str, Any]
    config: dict[str, Any]
    fingerprint: str
    changes: dict[str, Any]
    weights: dict[str, Any]
    environment: dict[str, Any]
    git: dict[str, Any]
    evaluation: dict[str, Any]
    wall_time_s: float
    format: int = EVAL_RECORD_FORMAT

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (a deep copy)."""
        return json.loads(json.dumps(dataclasses.asdict(self), allow_nan=False))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], path: str | Path = "<evaluation record>") -> EvaluationRecord:
        """Validate and rebuild a record.

        Raises:
            ArtifactError: a missing or unknown key, a value of the wrong type or another format.
        """
        if not isinstance(data, Mapping):
            raise ArtifactError(path, f"a JSON object, got {type(data).__name__}")
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise ArtifactError(path, f"only the keys {sorted(names)}", unknown[0])
        for name, kind in _RECORD_TYPES.items():
            if name not in data:
                raise ArtifactError(path, "a value (key missing)", name)
            if not isinstance(data[name], kind) or isinstance(data[name], bool):
                names = " or ".join(t.__name__ for t in (kind if isinstance(kind, tuple) else (kind,)))
                raise ArtifactError(path, f"{names}, got {type(data[name]).__name__}", name)
        if data["format"] != EVAL_RECORD_FORMAT:
            raise ArtifactError(
                path, f"evaluation record format {EVAL_RECORD_FORMAT}, got {data['format']!r}", "format"
            )
        return cls(**{name: data[name] for name in names})


_RECORD_TYPES: dict[str, type | tuple[type, ...]] = {
    "format": int,
    "checkpoint": dict,
    "config": dict,
    "fingerprint": str,
    "changes": dict,
    "weights": dict,
    "environment": dict,
    "git": dict,
    "evaluation": dict,
    "wall_time_s": (int, float),
}


def config_changes(stored: RunConfig, config: RunConfig) -> dict[str, dict[str, Any]]:
    """Dotted key -> ``{"training", "evaluation"}`` for every leaf value that differs."""
    before, after = _flatten(to_dict(stored)), _flatten(to_dict(config))
    keys = sorted(set(before) | set(after))
    return {k: {"training": before.get(k), "evaluation": after.get(k)} for k in keys if before.get(k) != after.get(k)}


def _flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    # A mapping is flattened into its keys (eval.protocol_options.mode); an empty one stays a leaf.
    if isinstance(value, Mapping) and value:
        out: dict[str, Any] = {}
        for key, item in value.items():
            out |= _flatten(item, f"{prefix}{key}.")
        return out
    return {prefix[:-1]: value}


def evaluate_checkpoint(
    checkpoint: TrainedCheckpoint,
    config: RunConfig | None = None,
    *,
    device: torch.device | str = "cpu",
    num_workers: int = 0,
) -> EvaluationRecord:
    """Evaluate the checkpoint's weights under ``config`` (default: its own stored config).

    Args:
        checkpoint: from :func:`load_trained`.
        config: the evaluation's config: the stored one with data / protocol changes
            (:func:`reid.engine.run_config.evaluation_config`); its network must be the checkpoint's.
        device: where to evaluate (AMP only on CUDA and when ``config.amp``, as the run).
        num_workers: image-decoding processes.

    Returns:
        The record (not yet written; see :func:`write_evaluation_record`).

    Raises:
        ConfigError: a different network, or invalid data / protocol options.
        ArtifactError: weights that do not fit the network.
        DatasetError: the data set is missing or malformed.
    """
    start = time.perf_counter()
    device = torch.device(device)
    config = checkpoint.config if config is None else config
    check_same_network(checkpoint.config, config)
    # The data set first: a missing folder is reported before the network is built.
    dataset = build_dataset(config.data.dataset, config.data.root, **config.data.options)
    method = restore_method(checkpoint, device)
    amp = config.amp and device.type == "cuda"
    result = evaluate(
        method,
        dataset,
        config.eval,
        height=config.data.height,
        width=config.data.width,
        resample=entry_resample(config.method),
        device=device,
        amp=amp,
        num_workers=num_workers,
    )
    environment = environment_info(device) | {
        "amp": amp,
        "channels_last": config.channels_last and device.type == "cuda",
    }
    return EvaluationRecord(
        checkpoint={
            "path": str(checkpoint.path),
            "sha256": checkpoint.sha256,
            "kind": checkpoint.kind,
            "epoch": checkpoint.epoch,
            "run_fingerprint": checkpoint.fingerprint,
            "selected_on_test_set": checkpoint.selected_on_test_set,
        },
        config=to_dict(config),
        fingerprint=fingerprint(config),
        changes=config_changes(checkpoint.config, config),
        weights=weights_info(config.model.pretrained),
        environment=environment,
        git=git_state(),
        evaluation=result.to_dict(),
        wall_time_s=time.perf_counter() - start,
    )


def default_record_path(checkpoint_path: str | Path, config: RunConfig) -> Path:
    """``<folder>/<checkpoint stem>.eval-<fingerprint of config>.json`` beside the checkpoint.

    One file per (checkpoint, evaluation settings): evaluating again with the same settings
    replaces it, other settings get their own file.
    """
    path = Path(checkpoint_path)
    return path.with_name(f"{path.stem}.eval-{fingerprint(config)}.json")


def write_evaluation_record(path: str | Path, record: EvaluationRecord) -> None:
    """Write ``record`` as indented JSON, atomically (strict JSON: a NaN anywhere is an error)."""
    atomic_write_text(path, json.dumps(record.to_dict(), indent=2, sort_keys=True, allow_nan=False) + "\n")


def load_evaluation_record(path: str | Path) -> EvaluationRecord:
    """Read and validate a record written by :func:`write_evaluation_record`.

    Raises:
        ArtifactError: the file is missing, not JSON, or not a valid evaluation record.
    """
    path = Path(path)
    if not path.is_file():
        raise ArtifactError(path, "an evaluation record file; none found")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ArtifactError(path, f"a JSON evaluation record ({err})") from err
    return EvaluationRecord.from_dict(data, path)
