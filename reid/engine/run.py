"""A whole run: data, method, optimiser and schedule, epochs with checkpoints, evaluation, the run record.

``run(config, out_dir=...)`` trains in ``out_dir/<fingerprint>/`` (``last.pt`` after every epoch,
``best.pt`` under best-on-test selection, ``record.json`` at the end). Killed at any moment, the
same call continues from the last completed epoch and ends with the weights and metrics an
uninterrupted run has (bitwise on CPU): every random stream of epoch ``e`` is derived from
``(seed, e)``, and the optimiser, scaler and sampler states are checkpointed. A completed run
is not trained again: its record is returned (the result cache).

Under ``torchrun --nproc_per_node N`` (``WORLD_SIZE > 1`` in the environment) the same call
trains data-parallel (:mod:`reid.engine.distributed`): each rank loads its shard of every
global batch, gradients are averaged by DDP, rank 0 alone evaluates and writes checkpoints and
the record while the others wait at a barrier, and every rank returns rank 0's record. The
run folder must be visible to every rank (one machine, or a shared file system): all ranks
resume from the same ``last.pt``.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from tqdm import tqdm

from reid.backbones.pretrained import (
    IMAGENET_WEIGHTS,
    PRETRAINED_DIR_ENV,
    check_weights_file,
    pretrained_env_var,
    resolve_pretrained_path,
)
from reid.config import RunConfig, fingerprint, to_dict
from reid.data.datasets import build_dataset
from reid.data.pipeline import build_train_loader
from reid.data.sample import relabel
from reid.engine.checkpoint import BEST, LAST, load_checkpoint, save_checkpoint, save_weights
from reid.engine.control import RunControl, run_parent
from reid.engine.distributed import (
    DataParallelStep,
    World,
    average_buffers,
    barrier,
    broadcast_object,
    convert_sync_batchnorm,
    distributed_world,
)
from reid.engine.optim import build_optimizer
from reid.engine.record import (
    RECORD,
    RunRecord,
    environment_info,
    git_state,
    load_run_record,
    weights_info,
    write_run_record,
)
from reid.engine.run_config import check_run_config, entry_resample, require_data_root
from reid.engine.schedule import schedule_factor, set_epoch_lr
from reid.engine.seeding import (
    configure_backends,
    epoch_seed,
    init_generator,
    init_seed,
    seeded_global_rng,
    stream_table,
)
from reid.engine.selection import best_epoch
from reid.engine.train import train_one_epoch
from reid.errors import ArtifactError, ConfigError
from reid.eval.evaluate import build_splits, evaluate
from reid.methods import method_class
from reid.methods.base import ReIDMethod

log = logging.getLogger(__name__)


def run(
    config: RunConfig,
    *,
    out_dir: str | Path,
    device: torch.device | str = "cpu",
    resume: bool = True,
    progress: bool = False,
    deterministic: bool = False,
    sync_batchnorm: bool = True,
    control: RunControl | None = None,
    from_scratch: bool = False,
) -> RunRecord:
    """Train and evaluate ``config``; return (and write) its run record.

    Launched by torchrun with ``WORLD_SIZE > 1``, every process calls this with the same
    arguments and the run is data-parallel over them (see the module docstring); the world
    size is not part of the config (a run may resume with another one) and is recorded per
    epoch (``epochs[i].world_size``) and in ``environment.distributed``.

    Args:
        config: the run; ``model.pretrained`` unset is filled from the environment
            (:func:`reid.backbones.pretrained.resolve_pretrained_path`) before the fingerprint is taken.
        out_dir: the runs folder; this run lives in ``out_dir/<fingerprint>/``.
        device: ``"cpu"`` or a CUDA device (AMP and channels-last only apply there); under
            torchrun every process takes ``cuda:<LOCAL_RANK>``.
        resume: continue from ``last.pt`` / return a completed record; ``False`` starts afresh.
        progress: show a progress bar per epoch.
        deterministic: CUDA only: deterministic cuDNN kernels instead of ``cudnn.benchmark``.
        sync_batchnorm: data-parallel CUDA runs only: BatchNorm over the global batch
            (``SyncBatchNorm``) rather than each rank's shard; torch has no CPU implementation.
        control: a deliberately broken variant (:mod:`reid.engine.control`; checks that must fail on it):
            this run trains in ``out_dir/controls/<name>/``; a pre-training stage is the real one.
        from_scratch: allow a paper-profile run to start from scratch when no ImageNet file is found
            (``--from-scratch``; :func:`check_weights`). A file that is found is still used.

    Raises:
        ConfigError: invalid options (selection rule, best-on-test without evaluations, ...); ImageNet weights
            that are not the expected file, or none for a paper-profile run without ``from_scratch``.
        ArtifactError: a checkpoint or record in the run folder that belongs to another run.
        NonFiniteLossError: training diverged; the record says so (status ``"failed"``).
    """
    config = with_pretrained(config)
    check_run_config(config)
    cached = completed_record(config, run_parent(Path(out_dir), control)) if resume else None
    if cached is not None:
        return cached
    preflight(config, from_scratch=from_scratch)
    check_out_dir(run_parent(Path(out_dir), control))
    with distributed_world(device) as world:
        options = {"resume": resume, "progress": progress, "deterministic": deterministic,
                   "sync_batchnorm": sync_batchnorm}
        return _run_stages(config, Path(out_dir), world, options, control)


def preflight(config: RunConfig, evaluations: Sequence[RunConfig] = (), *, from_scratch: bool = False) -> None:
    """Check, before the first step, everything a run of ``config`` will read, so that a run that would fail at
    its end fails in its first seconds and leaves nothing behind: its options (:func:`check_run_config`), its data
    folder and the data set's layout and options, the structure of its final evaluation's trials and of each of
    ``evaluations`` (configs that will evaluate its checkpoint), the ImageNet weights file loaded into the
    architecture (missing and unexpected keys, shapes) and its SHA-256, a paper-profile run without one
    (:func:`check_weights`; ``from_scratch`` allows it), and the same for the stage it starts from (CMMP's
    pre-training).

    Raises:
        ConfigError, DatasetError, PretrainedWeightsError: naming the option, the file or the folder.
    """
    config = with_pretrained(config)
    check_run_config(config)
    require_data_root(config)
    cls = method_class(config.method)
    if cls.evaluates and config.eval.feature not in cls.feature_names:
        raise ConfigError(f"eval.feature={config.eval.feature!r} is not a feature of {cls.name}; expected one of "
                          f"{', '.join(cls.feature_names)}")
    stage = cls.pretraining(config)
    if stage is not None:
        preflight(stage, from_scratch=from_scratch)
    dataset = build_dataset(config.data.dataset, config.data.root, **config.data.options)
    if cls.evaluates:
        build_splits(dataset, config.eval)
    for evaluation in evaluations:
        check_run_config(evaluation)
        require_data_root(evaluation)
        build_splits(build_dataset(evaluation.data.dataset, evaluation.data.root, **evaluation.data.options),
                     evaluation.eval)
    if config.model.pretrained is not None:
        # The backbone loads the file with strict keys and shapes; one class is enough to build the network.
        # Keys first: a file of another architecture is better named by its keys than by its hash.
        build_method(config, 1)
    check_weights(config, from_scratch=from_scratch)


def check_weights(config: RunConfig, *, from_scratch: bool = False) -> None:
    """Refuse ImageNet weights other than the expected file of the architecture
    (:func:`reid.backbones.pretrained.check_weights_file`), and a paper-profile run without any unless
    ``from_scratch``: the papers fine-tune ImageNet weights, so such a run would not reproduce them. The smoke
    profile trains from scratch by design.

    Raises:
        PretrainedWeightsError: a file that is not the expected one (``$REID_PRETRAINED_ANY_HASH=1`` accepts it).
        ConfigError: a paper-profile run with no weights file, naming where one is looked for and ``--from-scratch``.
    """
    config = with_pretrained(config)
    arch = config.model.arch
    if config.model.pretrained is not None:
        check_weights_file(arch, config.model.pretrained)
    elif config.profile == "paper" and not from_scratch:
        name = IMAGENET_WEIGHTS.get(arch, f"{arch}-<hash>.pth")
        raise ConfigError(
            f"model.pretrained of a paper-profile {config.method} run ({arch}): expected ImageNet weights, "
            f"torchvision's {name}; none given: pass --pretrained, or set ${pretrained_env_var(arch)} to the file or "
            f"${PRETRAINED_DIR_ENV} to a folder holding it; or pass --from-scratch to train from scratch anyway (the "
            "record says so)"
        )


def check_out_dir(out_dir: Path) -> None:
    """Refuse a runs folder that cannot be written, before anything is (the folder itself is made later).

    Raises:
        ConfigError: ``out_dir`` or a parent is a file, or the nearest existing folder is not writable.
    """
    existing = out_dir
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise ConfigError(f"runs folder {out_dir}: {existing} is a file, not a folder")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise ConfigError(f"runs folder {out_dir}: {existing} is not writable")


def completed_record(config: RunConfig, out_dir: Path) -> RunRecord | None:
    """The record of ``config``'s completed run in ``out_dir``, or ``None``."""
    path = out_dir / fingerprint(config) / RECORD
    if not path.is_file():
        return None
    cached = load_run_record(path)
    return cached if cached.status == "completed" and cached.fingerprint == fingerprint(config) else None


def _run_stages(
    config: RunConfig, out_dir: Path, world: World, options: dict[str, Any], control: RunControl | None = None
) -> RunRecord:
    """``config``'s run, after the pre-training run its method declares (each reused when completed);
    ``control`` breaks the last stage only."""
    check_run_config(config)
    cached = completed_record(config, run_parent(out_dir, control)) if options["resume"] else None
    if cached is not None:
        return cached
    stages: list[dict[str, Any]] = []
    pretraining = method_class(config.method).pretraining(config)
    if pretraining is not None:
        record = _run_stages(pretraining, out_dir, world, options)
        stages = [*record.stages, {"stage": "pretraining", "method": record.config["method"],
                                   "fingerprint": record.fingerprint, "wall_time_s": record.wall_time_s,
                                   "epochs": len(record.epochs),
                                   "final_train": record.epochs[-1]["train"] if record.epochs else None}]
    if config.model.pretrained is None and world.is_main and not stages:
        log.warning("run %s: no ImageNet weights given; the model starts FROM SCRATCH", fingerprint(config))
    init_from = out_dir / stages[-1]["fingerprint"] / LAST if stages else None
    folder = run_parent(out_dir, control) / fingerprint(config)
    return _Run(config, folder, world, init_from=init_from, stages=stages, control=control, **options).execute()


def with_pretrained(config: RunConfig) -> RunConfig:
    """``config`` with ``model.pretrained`` set from the environment when it is unset and a file is found."""
    path = resolve_pretrained_path(config.model.arch, config.model.pretrained)
    if path is None or config.model.pretrained is not None:
        return config
    return dataclasses.replace(config, model=dataclasses.replace(config.model, pretrained=str(path)))


def build_method(config: RunConfig, num_classes: int) -> ReIDMethod:
    """The registered method of ``config``, initialised from the run's seed alone.

    The constructor gets :func:`~reid.engine.seeding.init_generator` (every method draws its
    initial weights from the generator passed in); the construction also runs with torch's global
    generators seeded by :func:`~reid.engine.seeding.init_seed` and restored afterwards, for any
    layer that still draws from them.
    """
    cls = method_class(config.method)
    with seeded_global_rng(init_seed(config.seed)):
        return cls(**cls.from_config(config, num_classes), generator=init_generator(config.seed))


class _Run:
    """The state of one run while it trains; :meth:`execute` is the whole procedure."""

    def __init__(
        self, config: RunConfig, folder: Path, world: World, *, resume: bool, progress: bool,
        deterministic: bool, sync_batchnorm: bool, init_from: Path | None = None,
        stages: list[dict[str, Any]] | None = None, control: RunControl | None = None,
    ) -> None:
        self.config = config
        self.control = control
        self.init_from = init_from
        self.stages = list(stages or [])
        self.fingerprint = fingerprint(config)
        self.folder = folder
        self.world = world
        self.device = device = world.device
        self.resume = resume
        self.progress = progress and world.is_main
        self.sync_batchnorm = sync_batchnorm and world.distributed and device.type == "cuda"
        self.backends = configure_backends(device, deterministic=deterministic)
        self.amp = config.amp and device.type == "cuda"
        self.channels_last = config.channels_last and device.type == "cuda"
        self.resample = entry_resample(config.method)
        self.history: list[dict[str, Any]] = []
        self.wall_time_before = 0.0
        self.resumed_at_epochs: list[int] = []

    def execute(self) -> RunRecord:
        """Build everything, train the remaining epochs, evaluate the selected model, write the record."""
        self.segment_start = time.perf_counter()
        try:
            self.build()
            start = self.restore() if self.resume else 0
            for epoch in range(start, self.config.optim.epochs):
                self.train_epoch(epoch)
            selection, final = self.select_and_evaluate() if self.world.is_main else (None, None)
        except Exception as err:
            if self.world.is_main:
                self.write_record(status="failed", error=f"{type(err).__name__}: {err}")
            raise
        record = self.write_record(status="completed", selection=selection, final=final) if self.world.is_main else None
        return broadcast_object(record, self.world)

    def build(self) -> None:
        """Dataset, method (initialised under its own seed), loader (this rank's shard), DDP step, optimiser, scaler."""
        cfg = self.config
        self.dataset = build_dataset(cfg.data.dataset, cfg.data.root, **cfg.data.options)
        if self.control is not None and self.control.dataset is not None:
            self.dataset = self.control.dataset(self.dataset, cfg.seed)
        # Labels are fixed before the method exists: the classifier's width is the number of identities.
        labels = relabel(s.pid for s in self.dataset.train)
        self.method = build_method(cfg, len(labels))
        if self.init_from is not None:
            state = load_checkpoint(self.init_from)
            self.method.load_pretraining(state["model"])
        if self.control is not None and self.control.method is not None:
            self.control.method(self.method)
        memory_format = torch.channels_last if self.channels_last else torch.preserve_format
        self.method.to(self.device, memory_format=memory_format)
        if self.sync_batchnorm:
            convert_sync_batchnorm(self.method, self.device)
        # Every rank built the same initial weights from the seed; DDP also broadcasts rank 0's.
        self.step = DataParallelStep(self.method, self.world) if self.world.distributed else None
        self.loader, self.batch_sampler = build_train_loader(
            self.dataset,
            self.method.train_views(cfg.data.height, cfg.data.width),
            cfg.data,
            seed=cfg.seed,
            resample=self.resample,
            pin_memory=self.device.type == "cuda",
            rank=self.world.rank,
            world_size=self.world.world_size,
            labels=labels,
            sampler=type(self.method).sampler,
        )
        self.optimizer = build_optimizer(self.method, cfg.optim)
        self.scaler = torch.amp.GradScaler("cuda") if self.amp else None

    def restore(self) -> int:
        """Load ``last.pt`` if there is one; return the first epoch still to train."""
        path = self.folder / LAST
        if not path.is_file():
            return 0
        state = load_checkpoint(path)
        if state["kind"] != "training" or state["fingerprint"] != self.fingerprint:
            raise ArtifactError(path, f"a training checkpoint of run {self.fingerprint}", "fingerprint")
        self.method.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        if self.scaler is not None:
            self.scaler.load_state_dict(state["scaler"])
        self.batch_sampler.load_state_dict(state["sampler"])
        self.history = list(state["history"])
        self.wall_time_before = float(state["extra"]["wall_time_s"])
        self.resumed_at_epochs = [*state["extra"]["resumed_at_epochs"], state["epoch"] + 1]
        if self.world.is_main:
            log.warning("run %s: RESUMED from %s: epochs 0..%d were trained before, continuing at epoch %d of %d",
                        self.fingerprint, path, state["epoch"], state["epoch"] + 1, self.config.optim.epochs)
        return state["epoch"] + 1

    def train_epoch(self, epoch: int) -> None:
        """Rates, one pass over the data, an optional evaluation, the checkpoint(s)."""
        cfg = self.config
        self.batch_sampler.set_epoch(epoch)
        rates = set_epoch_lr(self.optimizer, schedule_factor(type(self.method).schedule, epoch, cfg.optim))
        bar = (lambda it: tqdm(it, desc=f"epoch {epoch}", leave=False)) if self.progress else None
        # Dropout and any other draw from torch's global generators replay per epoch after a resume.
        with seeded_global_rng(epoch_seed(cfg.seed, epoch), self.device):
            stats = train_one_epoch(self.method, self.loader, self.optimizer, epoch=epoch, device=self.device,
                                    scaler=self.scaler, amp=self.amp, channels_last=self.channels_last, progress=bar,
                                    parallel=self.step)
        # Per-rank BN running statistics become the ranks' mean before anyone reads them.
        average_buffers(self.method, self.world)
        every = cfg.eval.every
        due = every > 0 and (epoch + 1) % every == 0
        evaluation = self.evaluate() if due and self.world.is_main else None
        self.history.append({"epoch": epoch, "lr": rates, "train": stats, "evaluation": evaluation,
                             "world_size": self.world.world_size})
        if self.world.is_main:
            self.save(epoch, evaluation)
        barrier(self.world)

    def save(self, epoch: int, evaluation: dict[str, Any] | None) -> None:
        """``best.pt`` when ``epoch`` is the new best under best-on-test selection, then ``last.pt``."""
        cfg = self.config
        if cfg.eval.selection == "best-on-test" and evaluation is not None and best_epoch(self.history) == epoch:
            save_weights(self.folder / BEST, model=self.method, epoch=epoch, config_dict=to_dict(cfg),
                         fingerprint=self.fingerprint)
        save_checkpoint(
            self.folder / LAST,
            model=self.method,
            optimizer=self.optimizer,
            scaler=self.scaler,
            epoch=epoch,
            config_dict=to_dict(cfg),
            fingerprint=self.fingerprint,
            history=self.history,
            sampler_state=self.batch_sampler.state_dict(),
            extra={"wall_time_s": self.wall_time(), "resumed_at_epochs": self.resumed_at_epochs},
        )

    def evaluate(self) -> dict[str, Any]:
        """The current model under the configured protocol, as a plain dict."""
        cfg = self.config
        result = evaluate(self.method, self.dataset, cfg.eval, height=cfg.data.height, width=cfg.data.width,
                          resample=self.resample, device=self.device, amp=self.amp)
        return result.to_dict()

    def select_and_evaluate(self) -> tuple[dict[str, Any], dict[str, Any]]:
        """The selected epoch's model, its evaluation (reused if it was evaluated during training)."""
        cfg = self.config
        last = cfg.optim.epochs - 1
        if not self.method.evaluates:
            # A stage without a ReID head (pre-training): its last weights are its product.
            return {"rule": "last", "epoch": last, "selection_uses_test_set": False, "criterion": None}, None
        if cfg.eval.selection == "last":
            epoch, criterion = last, None
        else:
            epoch = best_epoch(self.history)
            criterion = f"highest test rank1 of the '{cfg.eval.feature}' feature among evaluated epochs"
            if epoch is None:
                raise ConfigError("eval.selection='best-on-test': no epoch was evaluated (eval.every too large?)")
            if epoch != last:
                state = load_checkpoint(self.folder / BEST)
                if state["epoch"] != epoch:
                    raise ArtifactError(self.folder / BEST, f"the weights of epoch {epoch}", "epoch")
                self.method.load_state_dict(state["model"])
        evaluated = next(entry["evaluation"] for entry in self.history if entry["epoch"] == epoch)
        final = evaluated or self.evaluate()
        selection = {"rule": cfg.eval.selection, "epoch": epoch,
                     "selection_uses_test_set": cfg.eval.selection == "best-on-test", "criterion": criterion}
        return selection, final

    def wall_time(self) -> float:
        return self.wall_time_before + time.perf_counter() - self.segment_start

    def write_record(
        self, *, status: str, error: str | None = None, selection: dict | None = None, final: dict | None = None
    ) -> RunRecord:
        cfg = self.config
        environment = environment_info(self.device) | self.backends
        environment |= {"amp": self.amp, "channels_last": self.channels_last}
        environment["distributed"] = {"world_size": self.world.world_size, "backend": self.world.backend,
                                      "sync_batchnorm": self.sync_batchnorm}
        if self.control is not None:
            environment["control"] = self.control.name
        record = RunRecord(
            config=to_dict(cfg),
            fingerprint=self.fingerprint,
            status=status,
            error=error,
            git=git_state(),
            environment=environment,
            seeds=stream_table(cfg.seed),
            protocol=to_dict(cfg.eval),
            weights=weights_info(cfg.model.pretrained),
            epochs=self.history,
            selection=selection,
            final_evaluation=final,
            wall_time_s=self.wall_time(),
            resumed_at_epochs=self.resumed_at_epochs,
            stages=self.stages,
        )
        write_run_record(self.folder / RECORD, record)
        return record
