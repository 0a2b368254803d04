"""Checkpoints: everything a killed run needs to continue exactly, written atomically, read back safely.

A run folder holds ``last.pt`` (written after every epoch: model, optimizer, AMP scaler,
sampler state, history) and, when the selection rule is best-on-test, ``best.pt`` (weights
of the selected epoch only). Files contain only tensors, dicts, lists, numbers and strings,
so they load with ``torch.load(..., weights_only=True)``, which never runs pickled code; the
config is stored as its plain dict (:func:`reid.config.to_dict`).

No generator state is stored: every random stream of epoch ``e`` is derived from the seed and
``e`` (:mod:`reid.engine.seeding`), and the sampler's base seed is in its state.
"""

from __future__ import annotations

import pickle
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from reid.errors import ArtifactError
from reid.io import atomic_open

CHECKPOINT_FORMAT = 1
"""Version of the layout below; a file with another version is refused."""

KIND_TRAINING = "training"
KIND_WEIGHTS = "weights"
_KEYS = {
    KIND_TRAINING: ("format", "kind", "epoch", "fingerprint", "config", "model", "optimizer", "scaler",
                    "sampler", "history", "extra"),
    KIND_WEIGHTS: ("format", "kind", "epoch", "fingerprint", "config", "model"),
}

LAST = "last.pt"
BEST = "best.pt"


def save_checkpoint(
    path: str | Path,
    *,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    scaler: torch.amp.GradScaler | None,
    epoch: int,
    config_dict: Mapping[str, Any],
    fingerprint: str,
    history: Sequence[Mapping[str, Any]],
    sampler_state: Mapping[str, Any],
    extra: Mapping[str, Any] | None = None,
) -> None:
    """Write the training state after ``epoch`` (0-based, completed) to ``path`` atomically.

    Args:
        path: the file (``<run folder>/last.pt``).
        model: the method; its ``state_dict`` is stored.
        optimizer: its ``state_dict`` (with each group's ``base_lr``).
        scaler: the AMP gradient scaler, or ``None`` when AMP is off.
        epoch: the epoch just completed.
        config_dict: the run's config as a plain dict.
        fingerprint: the config fingerprint (a resumed run must have the same one).
        history: one plain dict per completed epoch (losses, rates, evaluations).
        sampler_state: the training sampler's ``state_dict``.
        extra: further plain values the engine keeps across a resume (e.g. accumulated wall time).
    """
    state = {
        "format": CHECKPOINT_FORMAT,
        "kind": KIND_TRAINING,
        "epoch": int(epoch),
        "fingerprint": fingerprint,
        "config": dict(config_dict),
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "scaler": scaler.state_dict() if scaler is not None else {},
        "sampler": dict(sampler_state),
        "history": [dict(h) for h in history],
        "extra": dict(extra or {}),
    }
    _save(path, state)


def save_weights(
    path: str | Path, *, model: nn.Module, epoch: int, config_dict: Mapping[str, Any], fingerprint: str
) -> None:
    """Write the model weights of ``epoch`` (``best.pt``, or a final model to evaluate later) atomically."""
    state = {
        "format": CHECKPOINT_FORMAT,
        "kind": KIND_WEIGHTS,
        "epoch": int(epoch),
        "fingerprint": fingerprint,
        "config": dict(config_dict),
        "model": model.state_dict(),
    }
    _save(path, state)


def _save(path: str | Path, state: dict[str, Any]) -> None:
    with atomic_open(path, "wb") as handle:
        torch.save(state, handle)


def load_checkpoint(path: str | Path, *, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Read a file written by :func:`save_checkpoint` or :func:`save_weights`.

    Returns:
        The stored dict (``kind`` is ``"training"`` or ``"weights"``; see the savers for keys).

    Raises:
        ArtifactError: the file is missing, unreadable, holds anything but tensors and plain
            values (refused by ``weights_only=True``), or lacks a key of its kind.
    """
    path = Path(path)
    if not path.is_file():
        raise ArtifactError(path, "a checkpoint file; none found")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as err:
        raise ArtifactError(
            path,
            "a checkpoint of only tensors, dicts, lists, numbers and strings (torch.load weights_only=True "
            f"refused it: {_unpickler_reason(err)})",
        ) from err
    except (RuntimeError, OSError, EOFError, ValueError) as err:
        raise ArtifactError(path, f"a torch checkpoint ({type(err).__name__}: {err})") from err
    if not isinstance(state, dict):
        raise ArtifactError(path, f"a dict at the top level, got {type(state).__name__}")
    if state.get("format") != CHECKPOINT_FORMAT:
        raise ArtifactError(path, f"checkpoint format {CHECKPOINT_FORMAT}, got {state.get('format')!r}", "format")
    kind = state.get("kind")
    if kind not in _KEYS:
        raise ArtifactError(path, f"one of {sorted(_KEYS)}, got {kind!r}", "kind")
    for key in _KEYS[kind]:
        if key not in state:
            raise ArtifactError(path, f"a {kind} checkpoint with key {key!r}", key)
    return state


def _unpickler_reason(err: pickle.UnpicklingError) -> str:
    """The informative part of torch's weights-only refusal (what it met), not its advice paragraph."""
    text = str(err)
    marker = "WeightsUnpickler error:"
    if marker in text:
        rest = text.split(marker, 1)[1].strip()
        return rest.splitlines()[0].strip() if rest else text
    return text.strip().splitlines()[0] if text.strip() else type(err).__name__
