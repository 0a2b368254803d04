"""The one place a run config is built and checked: :func:`build_run_config`.

``reid train``, the benchmark harness (``reid reproduce``, ``pytest benchmarks``) and anything later build
every run config here, from explicit arguments, in one order: the method's profile config, then the data
set (a golden ``setting`` or ``dataset``) and its protocol, the data folder, the seed, the ImageNet
weights, then the user's ``key=value`` overrides. The rules that used to be decided in several places are
decided once, here:

* the protocol of a data set (:data:`DATASET_PROTOCOLS`) and what happens to the old protocol's options when
  the protocol changes (they are replaced, never merged: RegDB knows no ``mode`` or ``shots``);
* where a real data set's folder is (:func:`resolve_data_root`: its own folder, else the config's, else
  ``<parent>/<name>`` with the parent given or ``$REID_DATA_ROOT``);
* the device and the "paper profile needs CUDA" rule (:func:`resolve_device`);
* the torch thread count (:func:`set_threads`);
* which ImageNet file each architecture starts from (:func:`pretrained_files`);
* whether the options the config names exist and what its method declares is served
  (:func:`check_run_config`): data set, protocol, method and engine options; input kind, sampler, schedule and
  entry resize (:func:`check_method_declarations`).

Whether a completed run of a config is cached is :func:`reid.engine.run.completed_record`; what a run reads is
checked before its first step by :func:`reid.engine.run.preflight`.
"""

from __future__ import annotations

import dataclasses
import inspect
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import torch
from PIL import Image

from reid.backbones import SUPPORTED_ARCHS
from reid.backbones.densenet import SUPPORTED_DENSENETS
from reid.config import RunConfig, apply_overrides
from reid.data.datasets import DATASETS, SYNTHETIC, build_dataset
from reid.data.pipeline import SAMPLERS
from reid.engine.record import SELECTIONS
from reid.engine.schedule import SCHEDULES
from reid.errors import ConfigError, ReidError
from reid.eval.protocols import protocol_options
from reid.methods import method_class
from reid.methods.base import INPUT_KINDS
from reid.profiles import PROFILES, build_config, stand_in_dataset

DATA_ROOT_ENV = "REID_DATA_ROOT"
"""Environment variable naming a folder that holds data sets as ``<name>/`` sub-folders (``sysu_mm01/``, ...)."""

DATASET_PROTOCOLS: Mapping[str, str] = {
    "sysu_mm01": "sysu_mm01",
    "regdb": "regdb",
    "llcm": "llcm",
    "hitsz_vcm": "hitsz_vcm",
    # The synthetic data sets copy SYSU-MM01's and HITSZ-VCM's camera structure to run their protocols.
    "synthetic": "sysu_mm01",
    "synthetic_video": "hitsz_vcm",
}
"""The evaluation protocol a data set is evaluated with when ``--dataset`` selects it."""

EVAL_SECTIONS = ("data", "eval")
"""Config sections an evaluation may change; everything else is fixed by the checkpoint."""

WEIGHT_ARCHS: tuple[str, ...] = (*SUPPORTED_ARCHS, *SUPPORTED_DENSENETS)
"""Architectures an ImageNet weights file can be given for."""

CUDA_PROFILES = ("paper",)
"""Profiles that train at the papers' sizes and need a CUDA device."""


class SettingLike(Protocol):
    """What the builder reads of a golden setting (:class:`reid.golden.Setting`)."""

    dataset: str
    train: str
    protocol: str
    options: Mapping[str, object]


def build_run_config(
    method: str,
    profile: str,
    *,
    setting: SettingLike | None = None,
    dataset: str | None = None,
    data_root: str | Path | None = None,
    data_parent: str | Path | None = None,
    data_options: Mapping[str, object] | None = None,
    seed: int | None = None,
    pretrained: str | Path | Mapping[str, str | Path] | None = None,
    overrides: Sequence[str] = (),
    environ: Mapping[str, str] | None = None,
) -> RunConfig:
    """The checked run config of ``method`` under ``profile``.

    Args:
        method: a registered method.
        profile: ``"paper"`` or ``"smoke"``.
        setting: a golden setting: train on its training data set (under the smoke profile, that data set's
            synthetic stand-in, :func:`reid.profiles.stand_in_dataset`) and evaluate with its protocol and options.
        dataset: a data set to switch to (``--dataset``); its protocol comes from :data:`DATASET_PROTOCOLS`.
            Not with ``setting``.
        data_root: the data set's own folder (``reid train --data-root``).
        data_parent: a folder holding data sets as ``<name>/`` (``reid reproduce --data-root``); default
            ``$REID_DATA_ROOT``.
        data_options: the data set's options (``{"trial": 3}`` for RegDB), replacing the profile's.
        seed: the run's seed (default: the profile's).
        pretrained: a local file of ImageNet weights for the backbone, or one file per architecture
            (:func:`pretrained_files`), the one of the config's architecture chosen after the overrides (a golden
            row may change it: XIV Table 4's DenseNet-121 rows).
        overrides: ``key=value`` items applied last (the golden row's overrides, the user's).
        environ: the environment ``$REID_DATA_ROOT`` is read from (default ``os.environ``).

    Returns:
        The config; a real data set's folder is set when one is found (:func:`resolve_data_root`), else left
        ``None`` for :func:`require_data_root` to refuse.

    Raises:
        ConfigError: an unknown method, profile, data set, option or override; a folder for a generated
            data set; a missing weights file.
    """
    environ = os.environ if environ is None else environ
    if setting is not None and dataset is not None:
        raise ConfigError("build_run_config: give a setting or a data set, not both")
    config = build_config(method, profile)
    if setting is not None:
        if setting.train != setting.dataset:
            raise ConfigError(f"a setting that trains on {setting.train!r} and tests on {setting.dataset!r} is not "
                              "supported: evaluate the trained checkpoint with `reid eval` instead")
        config = switch_dataset(config, stand_in_dataset(profile, setting.train))
        config = switch_protocol(config, setting.protocol, setting.options)
    config = with_data(config, dataset=dataset, data_root=data_root, data_parent=data_parent,
                       data_options=data_options, environ=environ)
    if seed is not None:
        if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
            raise ConfigError(f"--seed {seed!r}: expected a non-negative integer")
        config = dataclasses.replace(config, seed=seed)
    if pretrained is not None and not isinstance(pretrained, Mapping):
        config = _with_weights(config, pretrained)
    config = apply_overrides(config, overrides)
    if isinstance(pretrained, Mapping) and config.model.arch in pretrained:
        config = _with_weights(config, pretrained[config.model.arch])
    check_run_config(config)
    return config


def _with_weights(config: RunConfig, path: str | Path) -> RunConfig:
    """``config`` starting from the ImageNet weights file ``path`` (absolute).

    Raises:
        ConfigError: no such file.
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError(
            f"--pretrained {path}: expected an existing file of ImageNet weights "
            "(a torchvision state_dict saved with torch.save)"
        )
    return dataclasses.replace(config, model=dataclasses.replace(config.model, pretrained=os.path.abspath(path)))


def pretrained_files(values: Sequence[str]) -> dict[str, str]:
    """One ImageNet weights file per architecture from ``--pretrained`` values: ``ARCH=PATH``; a folder holding
    torchvision's file names (``resnet50-19c8e357.pth``, ``densenet121-a639ec97.pth``: every architecture found
    there); or a file named that way (its architecture read from the name).

    Raises:
        ConfigError: an unknown architecture, a missing file or folder, a file whose name says no architecture,
            or two files for one architecture.
    """
    files: dict[str, str] = {}

    def add(arch: str, path: Path, given: str) -> None:
        if arch not in WEIGHT_ARCHS:
            raise ConfigError(f"--pretrained {given}: unknown architecture {arch!r}; expected one of "
                              f"{', '.join(WEIGHT_ARCHS)}")
        if not path.is_file():
            raise ConfigError(f"--pretrained {given}: expected an existing file of ImageNet weights, none at {path}")
        if arch in files and files[arch] != os.path.abspath(path):
            raise ConfigError(f"--pretrained {given}: a second file for {arch} (first: {files[arch]})")
        files[arch] = os.path.abspath(path)

    for given in values:
        arch, sep, rest = given.partition("=")
        if sep:
            add(arch, Path(rest), given)
            continue
        path = Path(given)
        if path.is_dir():
            found = [(a, f) for f in sorted(path.iterdir()) for a in WEIGHT_ARCHS
                     if f.name == f"{a}.pth" or f.name.startswith(f"{a}-") and f.suffix == ".pth"]
            if not found:
                raise ConfigError(f"--pretrained {given}: the folder holds no file named as torchvision's "
                                  f"(<arch>-<hash>.pth, arch one of {', '.join(WEIGHT_ARCHS)})")
            for a, f in found:
                add(a, f, given)
            continue
        named = [a for a in WEIGHT_ARCHS if path.name == f"{a}.pth" or path.name.startswith(f"{a}-")]
        if not named:
            raise ConfigError(f"--pretrained {given}: say which architecture the file is for, as ARCH=PATH "
                              f"(resnet50=PATH), or name it as torchvision does (resnet50-<hash>.pth)")
        add(named[0], path, given)
    return files


def evaluation_run_config(
    stored: RunConfig,
    *,
    dataset: str | None = None,
    data_root: str | Path | None = None,
    flip: bool | None = None,
    feature: str | None = None,
    overrides: Sequence[str] = (),
    environ: Mapping[str, str] | None = None,
) -> RunConfig:
    """The checked config that evaluates a checkpoint trained under ``stored`` (``reid eval``): another data set
    and folder, flip test-time augmentation or primary feature, then ``data.*`` / ``eval.*`` overrides.

    Raises:
        ConfigError: an override outside the data and the protocol, an unknown option, a missing data folder.
    """
    config = with_data(stored, dataset=dataset, data_root=data_root, environ=os.environ if environ is None else environ)
    changes = {"flip": flip, "feature": feature}
    config = dataclasses.replace(config, eval=dataclasses.replace(
        config.eval, **{k: v for k, v in changes.items() if v is not None}))
    config = evaluation_config(config, overrides)
    check_run_config(config)
    require_data_root(config)
    return config


def evaluation_config(stored: RunConfig, overrides: Sequence[str] = ()) -> RunConfig:
    """The stored config with ``key=value`` overrides of the data and the protocol only.

    Raises:
        ConfigError: an override outside :data:`EVAL_SECTIONS` (the network is fixed by the
            weights; the seed, optimiser and schedule do not enter an evaluation), or a bad one.
    """
    for item in overrides:
        section = item.partition("=")[0].strip().split(".")[0]
        if section not in EVAL_SECTIONS:
            raise ConfigError(
                f"override {item!r}: an evaluation may only change {', '.join(s + '.*' for s in EVAL_SECTIONS)}; "
                "the network, seed and training options are those of the checkpoint"
            )
    return apply_overrides(stored, overrides)


def with_data(
    config: RunConfig,
    *,
    dataset: str | None = None,
    data_root: str | Path | None = None,
    data_parent: str | Path | None = None,
    data_options: Mapping[str, object] | None = None,
    environ: Mapping[str, str],
) -> RunConfig:
    """``config`` on ``dataset`` (:func:`switch_dataset`) with ``data_options`` and its folder
    (:func:`resolve_data_root`)."""
    if dataset is not None:
        config = switch_dataset(config, dataset)
    if data_options is not None:
        config = dataclasses.replace(config, data=dataclasses.replace(config.data, options=dict(data_options)))
    root = resolve_data_root(config.data.dataset, folder=data_root, stored=config.data.root, parent=data_parent,
                             environ=environ)
    return dataclasses.replace(config, data=dataclasses.replace(config.data, root=root))


def switch_dataset(config: RunConfig, name: str) -> RunConfig:
    """``config`` on data set ``name``: its root and options cleared, its protocol :data:`DATASET_PROTOCOLS`
    ``[name]` (:func:`switch_protocol`, with the protocol's default options when the protocol changes).

    The options of one data set class mean nothing to another (``seed`` of the synthetic data, ``trial`` of
    RegDB). The same data set returns ``config`` unchanged.

    Raises:
        ConfigError: an unknown data set (the message lists the valid ones).
    """
    if name not in DATASETS:
        raise ConfigError(f"--dataset {name!r} is not known; expected one of {', '.join(DATASETS)}")
    if name == config.data.dataset:
        return config
    config = dataclasses.replace(config, data=dataclasses.replace(config.data, dataset=name, root=None, options={}))
    return switch_protocol(config, DATASET_PROTOCOLS[name], {})


def switch_protocol(config: RunConfig, protocol: str, options: Mapping[str, object]) -> RunConfig:
    """``config`` evaluated with ``protocol``: ``options`` replace the old protocol's when the protocol changes
    (another protocol never sees them) and update them when it stays (the method's trials and gallery sampling
    are kept, the setting's mode and shots win)."""
    kept = dict(config.eval.protocol_options) if protocol == config.eval.protocol else {}
    evaluation = dataclasses.replace(config.eval, protocol=protocol, protocol_options=kept | dict(options))
    return dataclasses.replace(config, eval=evaluation)


def resolve_data_root(
    name: str,
    *,
    folder: str | Path | None = None,
    stored: str | None = None,
    parent: str | Path | None = None,
    environ: Mapping[str, str],
) -> str | None:
    """The folder of data set ``name``, as an absolute path (a checkpoint evaluated from another working
    directory still finds its data): ``folder`` (its own), else ``stored`` (the config's, a checkpoint's), else
    ``parent/<name>`` with ``parent`` given or ``$REID_DATA_ROOT``; ``None`` when none is given.

    Raises:
        ConfigError: a folder given for a generated data set.
    """
    if name in SYNTHETIC:
        if folder is not None:
            raise ConfigError(
                f"--data-root {folder}: dataset {name!r} is generated and reads no folder; "
                f"choose a real data set with --dataset ({', '.join(n for n in DATASETS if n not in SYNTHETIC)})"
            )
        return None
    if folder is not None:
        return os.path.abspath(folder)
    if stored is not None:
        return stored
    parent = parent if parent is not None else (environ.get(DATA_ROOT_ENV) or None)
    return os.path.abspath(Path(parent) / name) if parent is not None else None


@dataclass(frozen=True)
class FolderProbe:
    """One folder a real data set was looked for in (``reid datasets``).

    Attributes:
        folder: the folder.
        origin: which option or variable named it.
        counts: the data set's :meth:`summary` when it loads there, else ``None``.
        error: why it does not load there, else ``None``.
    """

    folder: Path
    origin: str
    counts: Mapping[str, int] | None
    error: str | None


def probe_data_folders(
    name: str, parents: Sequence[str], *, as_own_folder: bool, environ: Mapping[str, str]
) -> list[FolderProbe]:
    """Try to load real data set ``name`` from every folder it would be looked for in: ``PARENT/<name>`` for each of
    ``parents``, each parent itself too when ``as_own_folder`` (as ``reid train --data-root`` reads it), and
    ``$REID_DATA_ROOT/<name>`` (:func:`resolve_data_root`)."""
    candidates = []
    for given in parents:
        if as_own_folder:
            candidates.append((Path(given), f"--data-root {given} as the {name} folder"))
        candidates.append((Path(given) / name, f"--data-root {given}"))
    env_root = resolve_data_root(name, environ=environ)
    if env_root is not None:
        candidates.append((Path(env_root), f"${DATA_ROOT_ENV}"))
    probes = []
    for folder, origin in candidates:
        try:
            probes.append(FolderProbe(folder, origin, build_dataset(name, str(folder)).summary(), None))
        except (ReidError, OSError) as err:
            probes.append(FolderProbe(folder, origin, None, str(err)))
    return probes


def require_data_root(config: RunConfig) -> None:
    """Refuse a real data set without a folder, saying how to give one.

    Raises:
        ConfigError: naming ``--data-root``, ``$REID_DATA_ROOT`` and where the layout is drawn.
    """
    name = config.data.dataset
    if name in SYNTHETIC or config.data.root is not None:
        return
    raise ConfigError(
        f"dataset {name!r} needs its folder: pass --data-root PATH, the folder in the layout drawn in the "
        f"docstring of {dataset_class_path(name)} (`reid datasets --dataset {name}` prints it), or set "
        f"${DATA_ROOT_ENV} to a folder holding {name}/"
    )


def dataset_class_path(name: str) -> str:
    """``reid.data.datasets.<module>.<Class>`` of data set ``name``: its docstring draws the layout."""
    cls = DATASETS[name]
    return f"{cls.__module__}.{cls.__qualname__}"


def check_run_config(config: RunConfig) -> None:
    """Refuse options that name nothing or cannot work together: data set options its class does not take,
    protocol options the protocol does not take (both listing the valid ones), and the engine's own options.

    Raises:
        ConfigError: naming the option and what was expected: an unknown data set or protocol option, an unknown
            selection rule, best-on-test without an evaluation during training, a negative ``eval.every`` or fewer
            than one epoch.
    """
    cls = DATASETS.get(config.data.dataset)
    if cls is None:
        raise ConfigError(f"data.dataset={config.data.dataset!r} is not known; expected one of {', '.join(DATASETS)}")
    parameters = inspect.signature(cls).parameters.values()
    valid = [p.name for p in parameters if p.kind is inspect.Parameter.KEYWORD_ONLY]
    unknown = sorted(set(config.data.options) - set(valid))
    if unknown:
        raise ConfigError(
            f"data.options: {cls.__name__} takes no option {', '.join(map(repr, unknown))}; "
            f"valid options: {', '.join(valid)}"
        )
    valid = list(protocol_options(config.eval.protocol))
    unknown = sorted(set(config.eval.protocol_options) - set(valid))
    if unknown:
        raise ConfigError(
            f"eval.protocol_options: protocol {config.eval.protocol!r} takes no option "
            f"{', '.join(map(repr, unknown))}; valid options: {', '.join(valid)}"
        )
    if config.eval.selection not in SELECTIONS:
        raise ConfigError(f"eval.selection={config.eval.selection!r} is not valid; expected one of {SELECTIONS}")
    if config.eval.every < 0:
        raise ConfigError(f"eval.every: expected 0 (only at the end) or a positive interval, got {config.eval.every}")
    if config.eval.selection == "best-on-test" and not 0 < config.eval.every <= config.optim.epochs:
        raise ConfigError(
            "eval.selection='best-on-test' needs evaluations during training: set 0 < eval.every <= optim.epochs "
            f"(got eval.every={config.eval.every}, optim.epochs={config.optim.epochs})"
        )
    if config.optim.epochs < 1:
        raise ConfigError(f"optim.epochs: expected at least 1, got {config.optim.epochs}")
    check_method_declarations(config)


def check_method_declarations(config: RunConfig) -> None:
    """Refuse a config whose method options name nothing, or whose method declares what the engine does not serve:
    its input kind, sampler, schedule or entry resize (:class:`~reid.methods.base.ReIDMethod`).

    Raises:
        ConfigError: naming the option or declaration and listing the valid ones.
    """
    cls = method_class(config.method)
    valid = cls.option_values()
    unknown = sorted(set(config.method_options) - set(valid))
    if unknown:
        listed = ", ".join(f"{k} (paper: {v!r})" for k, v in valid.items()) or "none"
        raise ConfigError(f"method_options: {cls.name} has no option {', '.join(map(repr, unknown))}; "
                          f"its options: {listed}")
    if cls.input_kind not in INPUT_KINDS:
        raise ConfigError(f"{cls.__qualname__}.input_kind={cls.input_kind!r}: expected one of {', '.join(INPUT_KINDS)}")
    if cls.input_kind != "images":
        raise ConfigError(f"method {cls.name!r} trains on {cls.input_kind}: the engine serves only images so far "
                          "(the clip path comes with the first video method)")
    if cls.sampler not in SAMPLERS:
        raise ConfigError(f"{cls.__qualname__}.sampler={cls.sampler!r}: the image pipeline serves "
                          f"{', '.join(SAMPLERS)}")
    if cls.schedule not in SCHEDULES:
        raise ConfigError(f"{cls.__qualname__}.schedule={cls.schedule!r}: the engine offers {', '.join(SCHEDULES)}")
    entry_resample(config.method)


def entry_resample(method: str) -> Image.Resampling:
    """The Pillow filter of the one resize at the data entry that ``method`` declares
    (:attr:`~reid.methods.base.ReIDMethod.entry_resample`)."""
    cls = method_class(method)
    if not isinstance(getattr(cls, "entry_resample", None), Image.Resampling):
        raise ConfigError(f"method {method!r} ({cls.__qualname__}) declares no entry_resample (a PIL.Image.Resampling)")
    return cls.entry_resample


def resolve_device(text: str | None, *, profile: str | None = None) -> torch.device:
    """The device of ``--device`` (``cpu``, ``cuda``, ``cuda:N``); by default CUDA when available.

    Raises:
        ConfigError: an unknown device, CUDA asked for where it is not available, or a profile of
            :data:`CUDA_PROFILES` on another device.
    """
    if text is None:
        device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    else:
        try:
            device = torch.device(text)
        except RuntimeError as err:
            raise ConfigError(f"--device {text!r}: expected cpu, cuda or cuda:N") from err
    if device.type not in ("cpu", "cuda"):
        raise ConfigError(f"--device {text!r}: expected cpu, cuda or cuda:N")
    if device.type == "cuda" and text is not None:
        if not torch.cuda.is_available():
            raise ConfigError(f"--device {text}: no CUDA device is available (torch {torch.__version__})")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise ConfigError(f"--device {text}: only {torch.cuda.device_count()} CUDA device(s) are visible")
    if profile is not None and profile not in PROFILES:
        raise ConfigError(f"profile={profile!r} is not valid; expected one of {', '.join(PROFILES)}")
    if profile in CUDA_PROFILES and device.type != "cuda":
        visible = f"no CUDA device is visible (torch {torch.__version__})"
        found = f"--device {text} asked for" if text is not None else visible
        raise ConfigError(
            f"{found}: profile {profile!r} trains at the papers' sizes and needs a CUDA device; run the smoke "
            "profile on CPU (--profile smoke), or run this on a machine with a GPU"
        )
    return device


def set_threads(threads: int | None) -> int:
    """Use ``threads`` torch threads in this process (``None``: keep torch's default); return the count in use.

    Raises:
        ConfigError: a count below 1.
    """
    if threads is not None:
        if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
            raise ConfigError(f"--threads {threads!r}: expected a positive integer")
        torch.set_num_threads(threads)
    return torch.get_num_threads()
