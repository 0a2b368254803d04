"""What a reproduction will train and what it costs, before it runs (``reid plan``), and a check of every config at
full size on CPU (``reid plan --check``).

Every runnable row of the chosen tables is planned (:func:`reid.harness.cases.plan`); each distinct training is
listed once, by config fingerprint, with the rows that use it, and the stage it starts from (CMMP's pre-training)
is a training of its own, and so is each RegDB split a paper-profile RegDB setting trains. Its cost: epochs x
training images per epoch x training FLOPs per image, the FLOPs counted by ``torch.utils.flop_counter`` on one
forward and backward of the method's own training step at the config's resolution, over a throughput stated in
TFLOP/s (:data:`DEFAULT_TFLOPS`, an assumption until a GPU measures it). Evaluation is not priced (one pass over
the test images per evaluation, small beside training).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch.utils.flop_counter import FlopCounterMode

from reid.config import RunConfig, fingerprint
from reid.data.batch import TrainBatch
from reid.data.datasets import DATASETS, build_dataset
from reid.data.pipeline import apply_views
from reid.data.sample import Modality
from reid.engine.run import build_method
from reid.golden import Golden
from reid.harness.cases import REGDB_SPLITS, check_regdb_splits, plan, table_cases
from reid.methods import method_class

DEFAULT_TFLOPS = 50.0
"""Sustained training throughput assumed when none is given, in TFLOP/s as ``torch.utils.flop_counter`` counts
(2 per multiply-add): one H100 in bf16 autocast on ResNet-50-class ReID networks. For scale: MLPerf-class ResNet-50
training reaches about 3,000 images/s at 224 x 224, about 74 TFLOP/s by this count; our pipelines are less tuned.
An assumption, not a measurement (docs/decisions.md, "reid plan")."""

PROBE_PAIRS = (2, 1)
"""P identities x K pairs of the random batch a plan measures FLOPs and a check steps with (FLOPs per image do not
depend on the batch size; two identities give every loss its negatives, two modalities its positives)."""


@dataclass
class PlannedTraining:
    """One distinct training of a reproduction.

    Attributes:
        config: its run config.
        rows: ``"<paper> Table <n> / <row>"`` of every row that uses it (empty for a stage only other trainings use).
        stage_of: fingerprints of the trainings that start from this one (CMMP's pre-training).
        epochs: training epochs.
        images_per_epoch: training images through the network per epoch (pairs x views).
        flops_per_image: training FLOPs (forward + backward) per image through the network.
    """

    config: RunConfig
    rows: list[str] = field(default_factory=list)
    stage_of: list[str] = field(default_factory=list)
    epochs: int = 0
    images_per_epoch: int = 0
    flops_per_image: float = 0.0

    @property
    def split(self) -> int | None:
        """The RegDB split it trains on (a paper-profile RegDB setting trains each of its splits), else ``None``."""
        return self.config.data.options.get("trial") if self.config.data.dataset == "regdb" else None

    @property
    def flops(self) -> float:
        """Training FLOPs of the whole run."""
        return self.epochs * self.images_per_epoch * self.flops_per_image

    def hours(self, tflops: float) -> float:
        """Estimated training hours at ``tflops`` sustained TFLOP/s."""
        return self.flops / (tflops * 1e12) / 3600


def train_counts(config: RunConfig) -> tuple[int, int, int]:
    """(identities, visible, infrared) training images of ``config``'s data set: the published figures of a real
    data set (no data needed), else counted on the generated one."""
    cls = DATASETS[config.data.dataset]
    published = getattr(cls, "published_train", None)
    if published is not None:
        return published
    dataset = build_dataset(config.data.dataset, None, **config.data.options)
    ids = {s.pid for s in dataset.train}
    visible = sum(s.modality is Modality.VISIBLE for s in dataset.train)
    return len(ids), visible, len(dataset.train) - visible


def pairs_per_epoch(config: RunConfig) -> int:
    """Training pairs per epoch: AGW's identity sampler draws ``(N // (P K) + 1) P K`` pairs an epoch, N the larger
    modality's image count (:class:`reid.data.samplers.IdentitySampler`)."""
    _, visible, infrared = train_counts(config)
    batch = config.data.num_ids_per_batch * config.data.num_per_id
    return (max(visible, infrared) // batch + 1) * batch


def random_batch(config: RunConfig, method, generator: torch.Generator) -> TrainBatch:
    """A training batch of :data:`PROBE_PAIRS` pairs of random images at the config's resolution, through the
    method's own views."""
    ids, per_id = PROBE_PAIRS
    views = method.train_views(config.data.height, config.data.width)
    pairs = []
    for _ in range(ids * per_id):
        sources = {m: torch.rand(3, config.data.height, config.data.width, generator=generator) for m in Modality}
        pairs.append(apply_views(views, sources, generator))
    stacked = {name: torch.stack([p[name] for p in pairs]) for name in pairs[0]}
    labels = torch.arange(ids).repeat_interleave(per_id)
    return TrainBatch(views=stacked, labels=labels)


def probe(config: RunConfig, generator: torch.Generator) -> tuple[Any, TrainBatch]:
    """``config``'s method at full size (no ImageNet file, the data set's identity count), in training mode, and a
    random batch through its views (:func:`random_batch`): what a plan measures and a check steps."""
    method = build_method(without_pretrained(config), train_counts(config)[0])
    method.train()
    return method, random_batch(config, method, generator)


def measure_training(config: RunConfig) -> tuple[int, float]:
    """(images per pair through the network, training FLOPs per such image) of ``config``: one training step
    (forward and backward) on a random batch at the config's resolution, the network at full size on CPU, counted
    by ``torch.utils.flop_counter``. A view that is not a 3-channel image (CMMP's mask) is not an image."""
    method, batch = probe(config, torch.Generator().manual_seed(0))
    counter = FlopCounterMode(display=False)
    with counter:
        method.training_step(batch).loss.backward()
    images = [name for name, view in batch.views.items() if view.shape[1] == 3]
    return len(images), counter.get_total_flops() / sum(batch.views[n].shape[0] for n in images)


def without_pretrained(config: RunConfig) -> RunConfig:
    """``config`` with no ImageNet file (a plan measures the network, not the weights)."""
    return dataclasses.replace(config, model=dataclasses.replace(config.model, pretrained=None))


def check_config(config: RunConfig) -> None:
    """Build ``config``'s network at full size, run one training step on a random batch at its resolution and one
    test forward, on CPU (``reid plan --check``).

    Raises:
        whatever building or stepping raises.
    """
    generator = torch.Generator().manual_seed(0)
    method, batch = probe(config, generator)
    output = method.training_step(batch)
    if not torch.isfinite(output.loss):
        raise FloatingPointError(f"the training step's loss is {output.loss.item()}")
    output.loss.backward()
    if method_class(config.method).evaluates:
        method.eval()
        with torch.no_grad():
            images = torch.rand(2, 3, config.data.height, config.data.width, generator=generator)
            for modality in Modality:
                features = method.extract(images, modality)
                missing = [n for n in method.feature_names if n not in features]
                if missing:
                    raise ValueError(f"extract returned no feature {missing}")


def plan_tables(
    golden: Golden,
    papers: Sequence[str],
    *,
    profile: str,
    tables: Sequence[int] | None = None,
    regdb_splits: int = REGDB_SPLITS,
) -> tuple[dict[tuple[str, int], list[str]], dict[str, PlannedTraining]]:
    """Every distinct training of the runnable rows of ``papers`` (their ``tables``); a paper-profile RegDB setting
    needs one training per split, its first ``regdb_splits`` (``--regdb-splits``).

    Returns:
        ``(per (paper, table number): the fingerprints it needs, fingerprint -> PlannedTraining)``, stages included.

    Raises:
        ConfigError: ``regdb_splits`` outside 1..10.
    """
    check_regdb_splits(regdb_splits)
    per_table: dict[tuple[str, int], list[str]] = {}
    trainings: dict[str, PlannedTraining] = {}
    for paper in papers:
        for table in golden.paper_tables(paper):
            if tables and table.table not in tables:
                continue
            needed: list[str] = []
            for case in table_cases(golden, paper, table.table):
                if case.skip_reason() is not None:
                    continue
                for training in plan(case, golden, profile, environ={}, regdb_splits=regdb_splits):
                    for key in _with_stages(training.config, trainings):
                        if key not in needed:
                            needed.append(key)
                    trainings[fingerprint(training.config)].rows.append(f"{paper} Table {table.table} / {case.id}")
            per_table[(paper, table.table)] = needed
    return per_table, trainings


def _with_stages(config: RunConfig, trainings: dict[str, PlannedTraining]) -> list[str]:
    """``config``'s fingerprint and those of the stages it starts from, each added to ``trainings`` once."""
    key = fingerprint(config)
    keys = [key]
    stage = method_class(config.method).pretraining(config)
    if stage is not None:
        keys = _with_stages(stage, trainings) + keys
        if key not in trainings[fingerprint(stage)].stage_of:
            trainings[fingerprint(stage)].stage_of.append(key)
    if key not in trainings:
        trainings[key] = PlannedTraining(config=config, epochs=config.optim.epochs)
    return keys


def price(
    trainings: dict[str, PlannedTraining], measure: Callable[[RunConfig], tuple[int, float]] = measure_training
) -> None:
    """Fill in each training's images per epoch and FLOPs per image (measured once per distinct network and
    resolution: the method, its model and options, and the input size)."""
    measured: dict[str, tuple[int, float]] = {}
    for planned in trainings.values():
        config = planned.config
        # The network is what the method's constructor gets: options it does not read (CMMP's pre-training
        # options on the fine-tuning network) do not make another network.
        arguments = method_class(config.method).from_config(without_pretrained(config), 1)
        key = repr((config.method, sorted(arguments.items()), config.data.height, config.data.width))
        if key not in measured:
            measured[key] = measure(config)
        views, planned.flops_per_image = measured[key]
        planned.images_per_epoch = pairs_per_epoch(config) * views


def table_hours(
    per_table: dict[tuple[str, int], list[str]], trainings: dict[str, PlannedTraining], tflops: float
) -> tuple[list[tuple[str, int, int, float]], dict[str, float]]:
    """``([(paper, table, trainings, hours)], {paper: hours})``: a table counts every training it needs; a paper
    counts a training shared with an earlier table of the plan once, where it first appears."""
    tables, papers, seen = [], {}, set()
    for (paper, number), keys in per_table.items():
        tables.append((paper, number, len(keys), sum(trainings[k].hours(tflops) for k in keys)))
        papers[paper] = papers.get(paper, 0.0) + sum(trainings[k].hours(tflops) for k in keys if k not in seen)
        seen.update(keys)
    return tables, papers


def split_stand_ins(trainings: dict[str, PlannedTraining]) -> dict[str, str]:
    """Fingerprint -> the fingerprint whose check stands for it: a training that differs from an earlier one only in
    its RegDB split (``data.options.trial``) and not in its data set's published identity count.

    The split changes which images are read, and a check reads none: it builds the network from the method's
    config and the published identity count (206 on every RegDB split) and steps it on random images at the
    config's resolution, so a split that changes neither checks exactly what another split's check did.
    """
    first: dict[str, str] = {}
    stand_ins: dict[str, str] = {}
    for key, planned in trainings.items():
        config = planned.config
        if planned.split is not None:
            options = {k: v for k, v in config.data.options.items() if k != "trial"}
            config = dataclasses.replace(config, data=dataclasses.replace(config.data, options=options))
        same = repr((fingerprint(config), train_counts(planned.config)))
        if same in first:
            stand_ins[key] = first[same]
        else:
            first[same] = key
    return stand_ins


def check_all(trainings: dict[str, PlannedTraining]) -> dict[str, str | None]:
    """:func:`check_config` for every training: fingerprint -> ``None`` (ok) or the error. Each config is checked
    but another RegDB split of one already checked, which takes that check's outcome (:func:`split_stand_ins`)."""
    stand_ins = split_stand_ins(trainings)
    results: dict[str, str | None] = {}
    for key, planned in trainings.items():
        if key in stand_ins:
            results[key] = results[stand_ins[key]]
            continue
        try:
            check_config(planned.config)
            results[key] = None
        except Exception as err:  # every config is checked; each failure is reported with its type
            results[key] = f"{type(err).__name__}: {err}"
    return results


def format_hours(hours: float) -> str:
    """``0.42 h`` / ``12.3 h`` / ``1,234 h``."""
    if not math.isfinite(hours):
        return "n/a"
    return f"{hours:.2f} h" if hours < 10 else f"{hours:,.1f} h" if hours < 1000 else f"{hours:,.0f} h"
