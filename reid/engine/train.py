"""One training epoch, readable in one screen (the shape of MAE's ``engine_pretrain.train_one_epoch``)."""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

import torch

from reid.errors import ConfigError, NonFiniteLossError
from reid.methods.base import ReIDMethod, TrainBatch

if TYPE_CHECKING:
    from reid.engine.distributed import DataParallelStep


def train_one_epoch(
    method: ReIDMethod,
    loader: Iterable[TrainBatch],
    optimizer: torch.optim.Optimizer,
    *,
    epoch: int,
    device: torch.device | str,
    scaler: torch.amp.GradScaler | None = None,
    amp: bool = False,
    channels_last: bool = False,
    progress: Callable[[Iterable[TrainBatch]], Iterable[TrainBatch]] | None = None,
    parallel: DataParallelStep | None = None,
) -> dict[str, float]:
    """Train ``method`` for one pass over ``loader``.

    Per batch: move it to ``device`` (``[B, 3, H, W]`` per view, channels-last when asked),
    forward under autocast when ``amp`` (CUDA only), check the loss is finite, back-propagate
    (through ``scaler`` when given), step, and clear the gradients.

    Data-parallel (``parallel`` given): ``loader`` yields this rank's shard of each global
    batch, the step runs through DDP (gradients averaged over the ranks in ``backward``), the
    loss checked and reported is the mean over the ranks (every rank stops at the same step),
    and the epoch's losses and image count are those of all ranks.

    Args:
        method: the model; put in train mode here.
        loader: yields :class:`~reid.methods.base.TrainBatch`.
        optimizer: with the epoch's rates already set.
        epoch: 0-based epoch, for error messages.
        device: where the model lives.
        scaler: AMP gradient scaler (``None``: plain backward).
        amp: autocast the forward pass to float16 (ignored unless ``device`` is CUDA).
        channels_last: move images in channels-last memory order.
        progress: wraps the loader for display (e.g. ``tqdm``); ``None`` shows nothing.
        parallel: ``method``'s step under ``DistributedDataParallel``; ``None`` for one process.

    Returns:
        ``loss`` (mean total), ``loss_<part>`` (mean of each named term), ``steps``, ``images``
        (all views counted), ``seconds`` and ``images_per_s``.

    Raises:
        NonFiniteLossError: a NaN or infinite loss, with the epoch, the step and every term.
        ConfigError: the loader yielded no batch.
    """
    device = torch.device(device)
    use_amp = amp and device.type == "cuda"
    method.train()
    optimizer.zero_grad(set_to_none=True)
    step_fn = parallel if parallel is not None else method.training_step
    sums: dict[str, torch.Tensor] = {}
    total, steps, images = 0.0, 0, 0
    start = time.perf_counter()
    for step, batch in enumerate(progress(loader) if progress else loader):
        batch = batch.to(device, channels_last=channels_last)
        autocast = torch.autocast("cuda", dtype=torch.float16) if use_amp else contextlib.nullcontext()
        with autocast:
            out = step_fn(batch)
        loss = out.loss.detach() if parallel is None else parallel.mean(out.loss.detach())
        loss_value = loss.item()
        if not math.isfinite(loss_value):
            parts = {name: float(value) for name, value in out.parts.items()}
            raise NonFiniteLossError(epoch, step, loss_value, parts)
        if scaler is not None:
            scaler.scale(out.loss).backward()
            scaler.step(optimizer)
            scaler.update()
        else:
            out.loss.backward()
            optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        # Parts are summed on the device: one synchronisation per step (the loss check) is enough.
        for name, value in out.parts.items():
            sums[name] = sums.get(name, 0.0) + value.detach().float()
        total += loss_value
        steps += 1
        images += sum(view.shape[0] for view in batch.views.values())
    if parallel is not None:
        # Shards are equal in size (P divisible by the world size), so the mean of the ranks'
        # means is the mean over the global batch.
        sums = {name: parallel.mean(value) for name, value in sums.items()}
        images = int(parallel.sum(torch.tensor(images, device=device)).item())
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    seconds = time.perf_counter() - start
    if steps == 0:
        raise ConfigError(f"epoch {epoch}: the training loader yielded no batch")
    stats: dict[str, float] = {"loss": total / steps}
    stats |= {f"loss_{name}": float(value) / steps for name, value in sums.items()}
    return stats | {"steps": steps, "images": images, "seconds": seconds, "images_per_s": images / seconds}
