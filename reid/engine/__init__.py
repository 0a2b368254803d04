"""The training engine: seeding, optimiser and schedule, one epoch of training, checkpoints, run records.

A whole run is :func:`reid.engine.run.run` (not re-exported here: the name would shadow the module).
"""

from reid.engine.checkpoint import load_checkpoint, save_checkpoint, save_weights
from reid.engine.optim import build_optimizer, param_groups
from reid.engine.record import RunRecord, load_run_record, write_run_record
from reid.engine.schedule import lr_factor, set_epoch_lr
from reid.engine.seeding import Stream, seeded_global_rng, stream_generator
from reid.engine.train import train_one_epoch

__all__ = [
    "RunRecord",
    "Stream",
    "build_optimizer",
    "load_checkpoint",
    "load_run_record",
    "lr_factor",
    "param_groups",
    "save_checkpoint",
    "save_weights",
    "seeded_global_rng",
    "set_epoch_lr",
    "stream_generator",
    "train_one_epoch",
    "write_run_record",
]
