"""ImageNet weights for the ResNet backbones, read from a LOCAL file only.

Nothing is ever downloaded (torchvision's weights API is never called): the machines this project runs on
may have no network, and a paper run must say where its initial weights came from. The file is a
torchvision ResNet ``state_dict`` saved with ``torch.save`` (torchvision's own hub files, e.g.
``resnet50-19c8e357.pth``, are exactly that), optionally wrapped as ``{"state_dict": ...}`` or
``{"model": ...}`` and optionally with every key prefixed by ``module.`` (a ``DataParallel`` save).

Where the file comes from (:func:`resolve_pretrained_path`), first match wins:

1. an explicit path argument;
2. ``$REID_PRETRAINED_<ARCH>`` (``REID_PRETRAINED_RESNET50``, ``REID_PRETRAINED_RESNET18``, ...);
3. ``$REID_PRETRAINED_DIR/<arch>.pth``, else the single ``$REID_PRETRAINED_DIR/<arch>-*.pth`` (torchvision's
   hub naming, so torch's hub cache ``~/.cache/torch/hub/checkpoints`` can serve as the folder);
4. nothing: ``None``, and the caller records that the model starts from scratch.

Which file is accepted (:func:`check_weights_file`): the one of :data:`IMAGENET_WEIGHTS` for the architecture,
recognised by torch.hub's rule (its SHA-256 starts with the hex digits of its hub name), whatever the file's own
name; ``$REID_PRETRAINED_ANY_HASH=1`` accepts any file.

Files are read with ``torch.load(..., weights_only=True)``: tensors and plain containers only, never
arbitrary pickled objects.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType

import torch
import torch.hub

from reid.errors import ConfigError
from reid.io import file_sha256

PRETRAINED_DIR_ENV: str = "REID_PRETRAINED_DIR"
"""Environment variable naming a folder of ImageNet weight files (``<arch>.pth`` or ``<arch>-<hash>.pth``)."""

PRETRAINED_ARCH_ENV_PREFIX: str = "REID_PRETRAINED_"
"""Prefix of the per-architecture variables: ``REID_PRETRAINED_RESNET50`` names one file."""

WRAPPER_KEYS: tuple[str, ...] = ("state_dict", "model")
"""Keys under which training scripts commonly nest the state dict; tried in this order."""

ANY_HASH_ENV: str = "REID_PRETRAINED_ANY_HASH"
"""Set to ``1`` to accept a weights file whose SHA-256 is not the expected one (:func:`check_weights_file`)."""

WEIGHTS_URL: str = "https://download.pytorch.org/models/"
"""Where torchvision's hub files are published (named in errors; this package never downloads)."""

IMAGENET_WEIGHTS: Mapping[str, str] = MappingProxyType({
    "resnet18": "resnet18-f37072fd.pth",
    "resnet34": "resnet34-b627a593.pth",
    "resnet50": "resnet50-19c8e357.pth",
    "resnet101": "resnet101-63fe2227.pth",
    "resnet152": "resnet152-394f9c45.pth",
    "densenet121": "densenet121-a639ec97.pth",
    "densenet161": "densenet161-8d451a50.pth",
    "densenet169": "densenet169-b2777c0a.pth",
    "densenet201": "densenet201-c1103571.pth",
})
"""The ImageNet file each supported architecture starts from: torchvision's hub file names
(``https://download.pytorch.org/models/<name>``, the ``url`` of ``IMAGENET1K_V1`` in
``torchvision/models/resnet.py`` and ``densenet.py``), ``<arch>-<first hex digits of the file's SHA-256>.pth``.

ResNet-50 is the 2017 ``resnet50-19c8e357.pth``, the file torchvision's ``resnet50(pretrained=True)`` loaded when
the released AGW and CAJ code was written (that code loads it by name). Not ``resnet50-11ad3fa6.pth``
(``IMAGENET1K_V2``, trained with another recipe: another starting point), and not ``resnet50-0676ba61.pth``, the
file torchvision >= 0.13 lists as ``IMAGENET1K_V1``: other bytes, whose tensors this project has not compared with
the 2017 file's. The other architectures' names are torchvision's ``IMAGENET1K_V1`` files.
"""

_OPTIONAL_SUFFIXES: tuple[str, ...] = ("num_batches_tracked",)
_SHOWN = 5
# (resolved path, mtime in ns, size) -> SHA-256: a ~100 MB file is read once per process, however many checks
# and records ask; a rewritten file has another mtime or size and is hashed again.
_SHA256_CACHE: dict[tuple[str, int, int], str] = {}

log = logging.getLogger(__name__)


class PretrainedWeightsError(ConfigError):
    """A weights file is missing, unreadable, not the expected one, or does not fit the network.

    Args:
        path: the file at fault.
        expected: what should have been there, in words.
        field: the key inside the file at fault, if any.
    """

    def __init__(self, path: str | Path, expected: str, field: str | None = None) -> None:
        self.path = Path(path)
        self.expected = expected
        self.field = field
        where = f"{self.path}" if field is None else f"{self.path} [{field}]"
        super().__init__(f"pretrained weights {where}: expected {expected}")


def pretrained_env_var(arch: str) -> str:
    """The per-architecture variable for ``arch``: ``"resnet50" -> "REID_PRETRAINED_RESNET50"``."""
    return PRETRAINED_ARCH_ENV_PREFIX + arch.upper()


def resolve_pretrained_path(
    arch: str, path: str | Path | None = None, environ: Mapping[str, str] | None = None
) -> Path | None:
    """Where the ImageNet weights of ``arch`` are, or ``None`` when none is given (start from scratch).

    Order: ``path``; ``$REID_PRETRAINED_<ARCH>``; ``$REID_PRETRAINED_DIR/<arch>.pth``; the single
    ``$REID_PRETRAINED_DIR/<arch>-*.pth``. Empty variables count as unset. The file named by ``path`` or the
    per-architecture variable is not checked here: :func:`load_torchvision_state_dict` reports a missing one.

    Args:
        arch: torchvision architecture name, e.g. ``"resnet50"``.
        path: an explicit file, which wins over the environment.
        environ: the environment to read (``os.environ`` when ``None``).

    Returns:
        The weights file, or ``None``.

    Raises:
        PretrainedWeightsError: ``$REID_PRETRAINED_DIR`` is not a folder, or holds several ``<arch>-*.pth``.
    """
    if path is not None:
        return Path(path)
    env = os.environ if environ is None else environ
    explicit = env.get(pretrained_env_var(arch), "")
    if explicit:
        return Path(explicit)
    folder = env.get(PRETRAINED_DIR_ENV, "")
    if not folder:
        return None
    directory = Path(folder)
    if not directory.is_dir():
        raise PretrainedWeightsError(directory, f"a folder of weight files (${PRETRAINED_DIR_ENV})")
    plain = directory / f"{arch}.pth"
    if plain.is_file():
        return plain
    hub_named = sorted(p for p in directory.glob(f"{arch}-*.pth") if p.is_file())
    if len(hub_named) > 1:
        names = ", ".join(p.name for p in hub_named)
        raise PretrainedWeightsError(
            directory,
            f"one {arch} weight file, found several ({names}): name one with ${pretrained_env_var(arch)}",
        )
    return hub_named[0] if hub_named else None


def hub_hash_prefix(file_name: str) -> str | None:
    """The hex digits torch.hub checks in a hub file name: ``"resnet50-19c8e357.pth" -> "19c8e357"``.

    torch.hub's rule (``torch.hub.HASH_REGEX``, which ``load_state_dict_from_url(..., check_hash=True)`` applies):
    the hex digits between a ``-`` and the next ``.``; the file's SHA-256 must start with them. ``None`` when the
    name holds none.
    """
    match = torch.hub.HASH_REGEX.search(file_name)
    return match.group(1) if match and match.group(1) else None


def weights_sha256(path: str | Path) -> str:
    """Hex SHA-256 of a weights file, read in 1 MiB chunks, computed once per file (path, mtime, size) per process.

    Raises:
        PretrainedWeightsError: no such file.
    """
    path = Path(path)
    if not path.is_file():
        raise PretrainedWeightsError(path, "an existing file (a torchvision state_dict saved with torch.save)")
    stat = path.stat()
    key = (str(path.resolve()), stat.st_mtime_ns, stat.st_size)
    if key not in _SHA256_CACHE:
        _SHA256_CACHE[key] = file_sha256(path)
    return _SHA256_CACHE[key]


def any_hash_allowed(environ: Mapping[str, str] | None = None) -> bool:
    """Whether ``$REID_PRETRAINED_ANY_HASH`` is ``1`` (``0`` or unset: no).

    Raises:
        ConfigError: another value.
    """
    value = (os.environ if environ is None else environ).get(ANY_HASH_ENV, "").strip()
    if value not in ("", "0", "1"):
        raise ConfigError(f"${ANY_HASH_ENV}={value!r}: expected 1 (accept any weights file) or 0")
    return value == "1"


def check_weights_file(
    arch: str,
    path: str | Path,
    *,
    expected: Mapping[str, str] | None = None,
    environ: Mapping[str, str] | None = None,
) -> str:
    """Check that ``path`` holds the expected ImageNet weights of ``arch``; return its SHA-256.

    The file is expected to be ``expected[arch]``, recognised by torch.hub's rule: its SHA-256 starts with the hex
    digits of that name (:func:`hub_hash_prefix`). The file's own name plays no part (a copy named
    ``resnet50.pth`` passes, a V2 file renamed to the V1 name does not). With ``$REID_PRETRAINED_ANY_HASH=1`` any
    file passes, with a warning.

    Args:
        arch: the architecture, a key of ``expected``.
        path: the weights file.
        expected: architecture -> torchvision hub file name (``None``: :data:`IMAGENET_WEIGHTS`, read at the call).
        environ: where ``$REID_PRETRAINED_ANY_HASH`` is read (``os.environ`` when ``None``).

    Returns:
        The file's full SHA-256 (hex).

    Raises:
        PretrainedWeightsError: a missing file, an architecture without an expected file, or another SHA-256.
    """
    path = Path(path)
    expected = IMAGENET_WEIGHTS if expected is None else expected
    digest = weights_sha256(path)
    name = expected.get(arch)
    prefix = hub_hash_prefix(name) if name else None
    if prefix is not None and digest.startswith(prefix):
        return digest
    if name is None or prefix is None:
        wanted = f"a listed {arch} ImageNet file; none is listed for {arch!r} (listed: {', '.join(expected)})"
    else:
        wanted = (f"torchvision's {name} for {arch} (SHA-256 starting {prefix}, torch.hub's rule), found SHA-256 "
                  f"{digest}: other weights are another starting point than the papers' code; get {WEIGHTS_URL}{name}")
    if any_hash_allowed(environ):
        log.warning("pretrained weights %s: expected %s; used anyway ($%s=1)", path, wanted, ANY_HASH_ENV)
        return digest
    raise PretrainedWeightsError(path, f"{wanted}, or set ${ANY_HASH_ENV}=1 to use this file anyway")


def load_torchvision_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """Read a torchvision state dict from a local file, safely, onto the CPU.

    Accepts a plain state dict, one nested under ``"state_dict"`` or ``"model"``, and keys all prefixed
    with ``module.`` (removed). Uses ``torch.load(path, map_location="cpu", weights_only=True)``.

    Args:
        path: the weights file.

    Returns:
        Parameter name -> tensor.

    Raises:
        PretrainedWeightsError: missing file, a file ``torch.load`` cannot read with ``weights_only=True``
            (corrupt, or holding arbitrary pickled objects), or content that is not a mapping of names to
            tensors.
    """
    path = Path(path)
    if not path.is_file():
        raise PretrainedWeightsError(path, "an existing file (a torchvision ResNet state_dict saved with torch.save)")
    try:
        content = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises several types for corrupt or unsafe files; all mean "unreadable".
        raise PretrainedWeightsError(
            path, f"a file torch.load reads with weights_only=True (tensors only); it failed: {err}"
        ) from err
    state = _unwrap(content, path)
    bad = next((k for k, v in state.items() if not isinstance(k, str) or not isinstance(v, torch.Tensor)), None)
    if bad is not None or not state:
        raise PretrainedWeightsError(path, "a state_dict: a non-empty mapping of parameter names to tensors", bad)
    if all(k.startswith("module.") for k in state):
        state = {k[len("module.") :]: v for k, v in state.items()}
    return dict(state)


def _unwrap(content: object, path: Path) -> Mapping[object, object]:
    """The state dict inside ``content``: itself, or the mapping under a :data:`WRAPPER_KEYS` key."""
    if not isinstance(content, Mapping):
        kind = type(content).__name__
        raise PretrainedWeightsError(path, f"a state_dict (a mapping of names to tensors), got a {kind}")
    for key in WRAPPER_KEYS:
        inner = content.get(key)
        if isinstance(inner, Mapping):
            return inner
    return content


def match_state_dict(
    state: Mapping[str, torch.Tensor],
    expected_shapes: Mapping[str, torch.Size],
    path: str | Path,
    ignored_prefixes: tuple[str, ...] = (),
) -> dict[str, torch.Tensor]:
    """Check ``state`` against the keys and shapes a network expects; return exactly those entries.

    Keys under ``ignored_prefixes`` (e.g. the ImageNet classifier ``fc.``) are dropped. A missing
    ``num_batches_tracked`` buffer (absent from older torchvision files) is filled with 0.

    Args:
        state: what :func:`load_torchvision_state_dict` returned.
        expected_shapes: key -> shape of the network's own state dict.
        path: the file, for messages.
        ignored_prefixes: prefixes of keys the file may hold but the network does not use.

    Returns:
        Key -> tensor for every key of ``expected_shapes``.

    Raises:
        PretrainedWeightsError: missing or unexpected keys, or shape mismatches (the first few of each named).
    """
    used = {k: v for k, v in state.items() if not k.startswith(ignored_prefixes)}
    missing = [k for k in expected_shapes if k not in used and not k.endswith(_OPTIONAL_SUFFIXES)]
    unexpected = [k for k in used if k not in expected_shapes]
    if missing or unexpected:
        parts = []
        if missing:
            parts.append(f"{len(missing)} missing ({_first(missing)})")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected ({_first(unexpected)})")
        raise PretrainedWeightsError(path, "the keys of the network's state_dict; " + "; ".join(parts))
    wrong = [k for k, shape in expected_shapes.items() if k in used and used[k].shape != shape]
    if wrong:
        shown = ", ".join(
            f"{k}: file {tuple(used[k].shape)} vs network {tuple(expected_shapes[k])}" for k in wrong[:_SHOWN]
        )
        more = f" and {len(wrong) - _SHOWN} more" if len(wrong) > _SHOWN else ""
        raise PretrainedWeightsError(path, f"tensor shapes of the network; {len(wrong)} differ: {shown}{more}")
    return {k: used[k] if k in used else torch.zeros(shape, dtype=torch.long) for k, shape in expected_shapes.items()}


def _first(keys: list[str]) -> str:
    shown = ", ".join(keys[:_SHOWN])
    return shown + (f", ... {len(keys) - _SHOWN} more" if len(keys) > _SHOWN else "")
