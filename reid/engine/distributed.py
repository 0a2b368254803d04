"""Data-parallel training: the process group from torchrun's environment, and a method's step through DDP.

A run launched by ``torchrun --nproc_per_node N`` has ``N`` processes (ranks). torchrun tells
each one who it is through environment variables: ``RANK`` (0..N-1 over all machines),
``WORLD_SIZE`` (N), ``LOCAL_RANK`` (index on this machine, which picks the GPU) and
``MASTER_ADDR`` / ``MASTER_PORT`` (where rank 0 listens). :func:`distributed_world` joins that
process group for the duration of a run (NCCL on CUDA, gloo on CPU), or describes a single
process when ``WORLD_SIZE`` is unset or 1.

Every rank trains the same model on its share of each global batch (the identity sampler
gives rank ``r`` the identities ``ids[r::world_size]`` of every batch, see
:class:`reid.data.pipeline.PairBatchSampler`). :class:`DataParallelStep` runs the method's
``training_step`` through ``DistributedDataParallel``, which averages the gradients over the
ranks during ``backward``, so every rank applies the same update and the weights stay
identical. It also offers the averages the epoch statistics need.

What differs from one process with the same global batch (docs/decisions.md, "Distributed"):
each rank's losses are means over its shard, and the batch-hard / WRT triplet losses mine
only among the rank's identities; BatchNorm statistics are per rank unless the network is
converted to ``SyncBatchNorm`` (:func:`convert_sync_batchnorm`, CUDA only).
"""

from __future__ import annotations

import contextlib
import datetime
import inspect
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from reid.errors import ConfigError
from reid.methods.base import ReIDMethod, StepOutput, TrainBatch

ENV_VARS = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")
"""The variables torchrun sets for every process; :func:`launch_env` reads them."""

DEFAULT_TIMEOUT = datetime.timedelta(minutes=30)
"""How long a collective waits for the other ranks. Ranks other than 0 wait at a barrier while
rank 0 evaluates and writes checkpoints; NCCL's own default (10 minutes) is short for a
paper-size evaluation."""


@dataclass(frozen=True)
class LaunchEnv:
    """Who this process is in a multi-process launch (torchrun's environment variables).

    Attributes:
        rank: global rank, ``0..world_size-1``.
        world_size: number of processes.
        local_rank: index of the process on its machine (selects its GPU).
    """

    rank: int
    world_size: int
    local_rank: int


@dataclass(frozen=True)
class World:
    """The processes of a run and this process's place among them.

    Attributes:
        rank: global rank (0 for a single process).
        world_size: number of processes (1 for a single process).
        local_rank: index on this machine.
        backend: ``"nccl"`` or ``"gloo"``; ``None`` for a single process.
        device: the device this process computes on (``cuda:<local_rank>`` under DDP on GPUs).
    """

    rank: int
    world_size: int
    local_rank: int
    backend: str | None
    device: torch.device

    @property
    def distributed(self) -> bool:
        """More than one process: gradients must be all-reduced."""
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """Rank 0: the process that evaluates and writes checkpoints and the record."""
        return self.rank == 0


def _env_int(environ: Mapping[str, str], name: str, low: int) -> int:
    text = environ.get(name)
    if text is None:
        raise ConfigError(f"environment variable {name}: expected an integer >= {low} (set by torchrun), got none")
    try:
        value = int(text)
    except ValueError:
        raise ConfigError(f"environment variable {name}: expected an integer >= {low}, got {text!r}") from None
    if value < low:
        raise ConfigError(f"environment variable {name}: expected an integer >= {low}, got {value}")
    return value


def launch_env(environ: Mapping[str, str] | None = None) -> LaunchEnv | None:
    """This process's place in a torchrun launch, or ``None`` when there is no multi-process launch.

    ``WORLD_SIZE`` unset or 1 means one process (whatever else is set). Otherwise ``RANK``,
    ``LOCAL_RANK``, ``MASTER_ADDR`` and ``MASTER_PORT`` must all be valid: the process group is
    initialised from them (``init_method="env://"``).

    Args:
        environ: the variables to read; ``os.environ`` by default.

    Raises:
        ConfigError: a variable missing or malformed, naming it and what was expected.
    """
    environ = os.environ if environ is None else environ
    if environ.get("WORLD_SIZE") is None:
        return None
    world_size = _env_int(environ, "WORLD_SIZE", 1)
    if world_size == 1:
        return None
    rank = _env_int(environ, "RANK", 0)
    if rank >= world_size:
        raise ConfigError(f"environment variable RANK: expected 0..{world_size - 1} (WORLD_SIZE={world_size}), "
                          f"got {rank}")
    local_rank = _env_int(environ, "LOCAL_RANK", 0)
    if not environ.get("MASTER_ADDR"):
        raise ConfigError("environment variable MASTER_ADDR: expected the address of rank 0 (set by torchrun), "
                          "got none")
    _env_int(environ, "MASTER_PORT", 1)
    return LaunchEnv(rank=rank, world_size=world_size, local_rank=local_rank)


def backend_for(device: torch.device | str) -> str:
    """The collective backend for ``device``: NCCL between GPUs, gloo between CPU processes."""
    return "nccl" if torch.device(device).type == "cuda" else "gloo"


def process_device(device: torch.device | str, local_rank: int) -> torch.device:
    """The device of the process with ``local_rank``: ``cuda:<local_rank>`` for CUDA, else ``device`` itself.

    Under DDP one process drives one GPU, and torchrun's ``LOCAL_RANK`` says which, so a CUDA
    device index given by the caller (``cuda:0`` from a command line default) is replaced.

    Raises:
        ConfigError: a CUDA run with ``local_rank`` beyond the visible GPUs, or a device type
            other than ``cpu`` and ``cuda``.
    """
    device = torch.device(device)
    if device.type == "cpu":
        return device
    if device.type != "cuda":
        raise ConfigError(f"device={str(device)!r}: data-parallel training supports 'cpu' (gloo) and 'cuda' (NCCL)")
    count = torch.cuda.device_count()
    if local_rank >= count:
        raise ConfigError(
            f"environment variable LOCAL_RANK={local_rank}: expected a GPU index below the {count} visible "
            "GPU(s); launch at most one process per GPU (torchrun --nproc_per_node)"
        )
    return torch.device("cuda", local_rank)


def init_distributed(
    device: torch.device | str,
    env: LaunchEnv,
    *,
    timeout: datetime.timedelta = DEFAULT_TIMEOUT,
) -> World:
    """Join the process group ``env`` describes; the caller ends it with :func:`cleanup_distributed`.

    The backend follows the device (:func:`backend_for`); a CUDA process first selects its GPU
    (``cuda:<local_rank>``), and NCCL is bound to it eagerly (``device_id``) so barriers and
    collectives know their device. Rendezvous is ``env://`` (``MASTER_ADDR``, ``MASTER_PORT``).

    Raises:
        ConfigError: a process group already exists, or the device does not fit (:func:`process_device`).
    """
    if dist.is_initialized():
        raise ConfigError("init_distributed: a process group is already initialised in this process")
    device = process_device(device, env.local_rank)
    backend = backend_for(device)
    options: dict[str, Any] = {}
    if device.type == "cuda":
        torch.cuda.set_device(device)
        options["device_id"] = device
    dist.init_process_group(backend, init_method="env://", rank=env.rank, world_size=env.world_size,
                            timeout=timeout, **options)
    return World(rank=env.rank, world_size=env.world_size, local_rank=env.local_rank, backend=backend, device=device)


def cleanup_distributed() -> None:
    """Destroy this process's default process group (nothing to do when there is none)."""
    if dist.is_initialized():
        dist.destroy_process_group()


@contextlib.contextmanager
def distributed_world(
    device: torch.device | str,
    *,
    environ: Mapping[str, str] | None = None,
    timeout: datetime.timedelta = DEFAULT_TIMEOUT,
) -> Iterator[World]:
    """The :class:`World` of a run, joining the launcher's process group for the duration of the block.

    Three cases: a process group initialised by the caller is used as it is (and left open);
    a torchrun launch with ``WORLD_SIZE > 1`` (:func:`launch_env`) is joined and destroyed on exit;
    otherwise the world is this one process on ``device``.

    Args:
        device: ``"cpu"`` or ``"cuda"`` (each process then takes ``cuda:<local_rank>``).
        environ: launch variables; ``os.environ`` by default.
        timeout: collective timeout of a group joined here.
    """
    environ = os.environ if environ is None else environ
    if dist.is_initialized():
        rank = dist.get_rank()
        local_rank = _env_int(environ, "LOCAL_RANK", 0) if "LOCAL_RANK" in environ else rank
        device = process_device(device, local_rank)
        if device.type == "cuda":
            torch.cuda.set_device(device)
        yield World(rank=rank, world_size=dist.get_world_size(), local_rank=local_rank,
                    backend=str(dist.get_backend()), device=device)
        return
    env = launch_env(environ)
    if env is None:
        yield World(rank=0, world_size=1, local_rank=0, backend=None, device=torch.device(device))
        return
    world = init_distributed(device, env, timeout=timeout)
    try:
        yield world
    finally:
        cleanup_distributed()


def is_main_process(environ: Mapping[str, str] | None = None) -> bool:
    """Whether this process is rank 0: of the process group if one is initialised, else of torchrun's ``RANK``.

    The fallback lets code outside a run (a command printing its result after :func:`distributed_world`
    has closed the group) print once per launch.
    """
    if dist.is_initialized():
        return dist.get_rank() == 0
    environ = os.environ if environ is None else environ
    return environ.get("RANK", "0").strip() in ("0", "")


def barrier(world: World) -> None:
    """Wait until every rank gets here (no-op for one process)."""
    if not world.distributed:
        return
    if world.backend == "nccl":
        dist.barrier(device_ids=[world.device.index])
    else:
        dist.barrier()


def all_reduce_mean(tensor: torch.Tensor, world: World) -> torch.Tensor:
    """The mean of ``tensor`` over the ranks (a new tensor; ``tensor`` itself on one process)."""
    if not world.distributed:
        return tensor
    out = tensor.detach().clone()
    dist.all_reduce(out, op=dist.ReduceOp.SUM)
    return out / world.world_size


def all_reduce_sum(tensor: torch.Tensor, world: World) -> torch.Tensor:
    """The sum of ``tensor`` over the ranks (a new tensor; ``tensor`` itself on one process)."""
    if not world.distributed:
        return tensor
    out = tensor.detach().clone()
    dist.all_reduce(out, op=dist.ReduceOp.SUM)
    return out


def broadcast_object(obj: Any, world: World, *, src: int = 0) -> Any:
    """Rank ``src``'s ``obj`` on every rank (pickled; for small objects such as the run record)."""
    if not world.distributed:
        return obj
    box = [obj if world.rank == src else None]
    dist.broadcast_object_list(box, src=src, device=world.device if world.backend == "nccl" else None)
    return box[0]


def average_buffers(module: nn.Module, world: World) -> None:
    """Replace every floating-point buffer of ``module`` by its mean over the ranks (in place).

    BatchNorm running statistics are per rank when BN is not synchronised (each rank sees its
    shard): the average of the ranks' running means is exactly the running mean of the global
    batch means (the update is linear and the shards are equal in size); the average running
    variance misses the spread between the shards' means. Run at the end of every epoch, so the
    checkpoint (and a resumed run) and rank 0's evaluation see statistics of all the data.
    Integer buffers (``num_batches_tracked``) are equal on every rank and left alone.
    """
    if not world.distributed:
        return
    with torch.no_grad():
        for buffer in module.buffers():
            if buffer.is_floating_point():
                buffer.copy_(all_reduce_mean(buffer, world))


def convert_sync_batchnorm(method: ReIDMethod, device: torch.device | str) -> bool:
    """Turn every BatchNorm layer of ``method`` into ``SyncBatchNorm`` in place, on CUDA only.

    Synchronised BN normalises with the statistics of the global batch, as the single-GPU
    reference code does; torch implements it for GPUs only, so a CPU (gloo) run keeps per-rank
    BN. Parameters are the same objects afterwards (build the optimiser after this anyway), and
    the state dict keys are unchanged, so checkpoints load either way.

    Returns:
        Whether the layers were converted.
    """
    if torch.device(device).type != "cuda":
        return False
    converted = nn.SyncBatchNorm.convert_sync_batchnorm(method)
    if converted is not method:
        raise ConfigError(f"convert_sync_batchnorm: {type(method).__name__} is itself a BatchNorm layer")
    return True


class StepModule(nn.Module):
    """``forward(batch) = method.training_step(batch)``: the module ``DistributedDataParallel`` wraps.

    DDP synchronises the gradients of a backward pass only when the forward pass went through
    DDP's own ``__call__`` (it arms its reducer there); calling ``training_step`` on the method
    directly trains each rank alone, silently (measured: the ranks' gradients then differ).
    """

    def __init__(self, method: ReIDMethod) -> None:
        super().__init__()
        self.method = method

    def forward(self, batch: TrainBatch) -> StepOutput:
        return self.method.training_step(batch)


def _no_forward_buffer_sync() -> dict[str, bool]:
    # torch >= 2.13 renamed broadcast_buffers to forward_sync_buffers (the old name warns);
    # the GPU machines run older releases.
    params = inspect.signature(DistributedDataParallel.__init__).parameters
    return {"forward_sync_buffers": False} if "forward_sync_buffers" in params else {"broadcast_buffers": False}


class DataParallelStep:
    """A method's training step under ``DistributedDataParallel``, and the reductions of an epoch.

    ``step(batch)`` computes this rank's :class:`StepOutput`; its ``loss.backward()`` all-reduces
    (averages) the gradients, so after ``optimizer.step()`` every rank holds the same weights.
    Buffers are not broadcast before each forward (DDP's default): in training mode BN uses
    batch statistics, and the running statistics are averaged once per epoch
    (:func:`average_buffers`) rather than overwritten by rank 0's at every step.

    Args:
        method: the method, already on ``world.device`` (and converted to SyncBatchNorm if wanted).
        world: a distributed world (``world_size > 1``).

    Raises:
        ConfigError: ``world`` is a single process.
    """

    def __init__(self, method: ReIDMethod, world: World) -> None:
        if not world.distributed:
            raise ConfigError("DataParallelStep: expected a world of more than one process")
        self.world = world
        device_ids = [world.device.index] if world.device.type == "cuda" else None
        self.module = DistributedDataParallel(StepModule(method), device_ids=device_ids, **_no_forward_buffer_sync())

    @property
    def world_size(self) -> int:
        return self.world.world_size

    def __call__(self, batch: TrainBatch) -> StepOutput:
        return self.module(batch)

    def mean(self, tensor: torch.Tensor) -> torch.Tensor:
        """The mean of ``tensor`` over the ranks."""
        return all_reduce_mean(tensor, self.world)

    def sum(self, tensor: torch.Tensor) -> torch.Tensor:
        """The sum of ``tensor`` over the ranks."""
        return all_reduce_sum(tensor, self.world)
