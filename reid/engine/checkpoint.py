"""Checkpoints: everything a killed run needs to continue exactly, written atomically, read back safely.

A run folder holds ``last.pt`` (written after every epoch: model, optimizer, AMP scaler,
sampler state, history) and, when the selection rule is best-on-test, ``best.pt`` (weights
of the selected epoch only). Files contain only tensors, dicts, lists, numbers and strings,
so they load with ``torch.load(..., weights_only=True)``, which never runs pickled code; the
config is stored as its plain dict (:func:`reid.config.to_dict`).

No generator state is stored: every random stream of epoch ``e`` is derived from the seed and
``e`` (:mod:`reid.engine.seeding`), and the sampler's base seed is in its state.

A file carries the SHA-256 of its payload (:data:`MAGIC`, the digest, then the bytes ``torch.save`` wrote), checked
before the payload is read: a file changed in place (a few zeroed bytes inside a tensor load without a word
otherwise and shift the metrics) or overwritten is refused as corrupt, naming the file.
"""

from __future__ import annotations

import hashlib
import io
import pickle
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from reid.errors import ArtifactError
from reid.io import atomic_open

CHECKPOINT_FORMAT = 2
"""Version of the layout below; a file with another version is refused (1: no checksum)."""

MAGIC = b"vireid-repro checkpoint sha256 "
"""How a checkpoint file starts: this, the 64 hex digits of the payload's SHA-256, a newline, then the payload."""

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
    buffer = io.BytesIO()
    torch.save(state, buffer)
    payload = buffer.getvalue()
    with atomic_open(path, "wb") as handle:
        handle.write(MAGIC + hashlib.sha256(payload).hexdigest().encode("ascii") + b"\n")
        handle.write(payload)


def _payload(path: Path) -> bytes:
    """The checked payload of checkpoint ``path``.

    Raises:
        ArtifactError: no checksum header (a file of another format, or not a checkpoint), or a payload whose
            SHA-256 is not the recorded one (corrupt).
    """
    data = path.read_bytes()
    header_end = len(MAGIC) + 64
    if not data.startswith(MAGIC) or data[header_end:header_end + 1] != b"\n":
        raise ArtifactError(path, f"a vireid-repro checkpoint of format {CHECKPOINT_FORMAT} (it starts with a "
                                  "checksum header); this file has none: it is CORRUPT, written by another version, "
                                  "or not a checkpoint")
    recorded = data[len(MAGIC):header_end].decode("ascii", errors="replace")
    payload = data[header_end + 1:]
    actual = hashlib.sha256(payload).hexdigest()
    if actual != recorded:
        raise ArtifactError(path, f"a checkpoint whose content matches its checksum; it is CORRUPT (sha256 "
                                  f"{actual[:12]}..., recorded {recorded[:12]}...): changed or damaged after it "
                                  "was written; retrain, or delete it to start the run afresh")
    return payload


def load_checkpoint(path: str | Path, *, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Read a file written by :func:`save_checkpoint` or :func:`save_weights`.

    Returns:
        The stored dict (``kind`` is ``"training"`` or ``"weights"``; see the savers for keys).

    Raises:
        ArtifactError: the file is missing, unreadable, corrupt (its payload does not match its checksum),
            holds anything but tensors and plain values (refused by ``weights_only=True``), or lacks a key of
            its kind.
    """
    path = Path(path)
    if not path.is_file():
        raise ArtifactError(path, "a checkpoint file; none found")
    payload = _payload(path)
    try:
        state = torch.load(io.BytesIO(payload), map_location=map_location, weights_only=True)
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
