"""Run a case's plan: train (or reuse) each model, evaluate it under each setting, collect the values.

Training goes through :func:`reid.engine.run.run`, whose run folder is named by the config
fingerprint and returns a completed run's record without training again: that is the result
cache shared by every table. Evaluations of a checkpoint under another setting are cached the
same way (their record file is named by the evaluation config's fingerprint). Parallel pytest
workers asking for the same run wait on a lock file instead of training it twice.
"""

from __future__ import annotations

import contextlib
import fcntl
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reid.config import fingerprint
from reid.engine.control import RunControl, run_parent
from reid.engine.evaluate_checkpoint import (
    default_record_path,
    evaluate_checkpoint,
    load_evaluation_record,
    load_trained,
    resolve_checkpoint_path,
    write_evaluation_record,
)
from reid.engine.record import RunRecord
from reid.engine.run import preflight, run
from reid.engine.selection import released_selection
from reid.golden import RETRIEVAL_METRICS
from reid.harness.cases import Evaluation, Training


@dataclass(frozen=True)
class SettingResult:
    """What our code measured for one setting of a row.

    Attributes:
        setting: the golden setting key.
        metrics: our mean metrics (percent) of the primary feature.
        evaluation: the evaluation as recorded (protocol options, splits, every feature, CMC per trial).
        run_fingerprint: the training run that made the model (a mean over splits: the first split's).
        evaluation_record: the evaluation record file when the setting was evaluated from the checkpoint,
            ``None`` when it is the run's own final evaluation (a mean over splits: the first split's).
        per_split: RegDB split -> its own result when ``metrics`` is their mean (:func:`mean_over_splits`); empty
            for a setting evaluated once.
        test_selection: what the released code's selection on the test set would have given instead of the last
            epoch (:func:`~reid.engine.selection.released_selection`; the mean over splits), when the run evaluated
            during training and this setting is its own evaluation; ``None`` otherwise.
    """

    setting: str
    metrics: Mapping[str, float | None]
    evaluation: Mapping[str, Any]
    run_fingerprint: str
    evaluation_record: str | None
    per_split: Mapping[int, SettingResult] = field(default_factory=dict)
    test_selection: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class CaseRuns:
    """Every run and evaluation a case made.

    Attributes:
        records: training run fingerprint -> its run record.
        settings: setting key -> our result.
        wall_time_s: seconds the runs took when they were made (cached ones count their recorded time).
    """

    records: Mapping[str, RunRecord]
    settings: Mapping[str, SettingResult]
    wall_time_s: float = field(default=0.0)


@contextlib.contextmanager
def run_lock(runs_dir: Path, name: str) -> Iterator[None]:
    """Hold an exclusive lock named ``name`` in ``runs_dir`` (other processes wait)."""
    runs_dir.mkdir(parents=True, exist_ok=True)
    with open(runs_dir / f".{name}.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def primary_metrics(evaluation: Mapping[str, Any]) -> dict[str, float | None]:
    """Mean metrics of the primary feature of an evaluation dict (run or evaluation record)."""
    mean = evaluation["features"][evaluation["primary_feature"]]["mean"]
    return {metric: mean.get(metric) for metric in RETRIEVAL_METRICS}


def _mean(values: Sequence[Mapping[str, float | None]]) -> dict[str, float | None]:
    """Per key of the first mapping, the mean over ``values``; ``None`` where any of them is ``None``."""
    out: dict[str, float | None] = {}
    for key in values[0]:
        column = [v.get(key) for v in values]
        out[key] = None if any(x is None for x in column) else sum(column) / len(column)
    return out


def mean_over_splits(setting: str, per_split: Mapping[int, SettingResult]) -> SettingResult:
    """One setting's result over several RegDB splits, each trained and evaluated on its own: every metric the mean
    of the splits' (the papers average the ten splits' CMC and mAP so), for the primary feature and every other.

    The evaluation keeps the first split's protocol and feature names; its ``splits`` and each feature's ``trials``
    are the splits' in split order, each feature's ``mean`` the mean of the splits' means, and ``mean_over_splits``
    lists the splits.
    """
    ordered = [per_split[k] for k in sorted(per_split)]
    first = ordered[0].evaluation
    features = {
        name: {
            "mean": _mean([r.evaluation["features"][name]["mean"] for r in ordered]),
            "trials": [trial for r in ordered for trial in r.evaluation["features"][name]["trials"]],
        }
        for name in first["features"]
    }
    evaluation = {
        **first,
        "splits": [split for r in ordered for split in r.evaluation["splits"]],
        "features": features,
        "mean_over_splits": sorted(per_split),
    }
    selections = [r.test_selection for r in ordered]
    test_selection = None if any(t is None for t in selections) else {
        "rule": selections[0]["rule"],
        "epoch": {str(split): r.test_selection["epoch"] for split, r in sorted(per_split.items())},
        "evaluated_epochs": selections[0]["evaluated_epochs"],
        **{key: _mean([t[key] for t in selections]) for key in ("metrics", "last_metrics", "gain")},
    }
    return SettingResult(setting, _mean([r.metrics for r in ordered]), evaluation, ordered[0].run_fingerprint,
                         ordered[0].evaluation_record, dict(sorted(per_split.items())), test_selection)


def released_selection_of(record: RunRecord) -> dict[str, Any] | None:
    """What the released code's test-set selection would have kept in ``record``'s run, beside its last epoch
    (:func:`~reid.engine.selection.released_selection`); ``None`` for a run that selects otherwise or did not
    evaluate during training."""
    selection = record.selection or {}
    if selection.get("rule") != "last" or record.final_evaluation is None:
        return None
    return released_selection(record.epochs, record.final_evaluation, selection["epoch"])


def is_own_evaluation(training: Training, evaluation: Evaluation) -> bool:
    """Whether ``evaluation`` of ``training`` is the run's own final evaluation (the same data and protocol)."""
    return (evaluation.config.data, evaluation.config.eval) == (training.config.data, training.config.eval)


def preflight_trainings(trainings: Sequence[Training], *, from_scratch: bool = False) -> None:
    """:func:`~reid.engine.run.preflight` every training with the evaluations of its checkpoint, before any trains;
    ``from_scratch`` allows paper-profile trainings without ImageNet weights (``--from-scratch``).

    Raises:
        ConfigError, DatasetError, PretrainedWeightsError: what would fail later, naming the option, file or folder.
    """
    for training in trainings:
        preflight(training.config, [e.applied_to(training.config) for e in training.evaluations
                                    if not is_own_evaluation(training, e)], from_scratch=from_scratch)


def execute(
    trainings: Sequence[Training],
    runs_dir: Path,
    *,
    device: str = "cpu",
    progress: bool = False,
    control: RunControl | None = None,
    from_scratch: bool = False,
) -> CaseRuns:
    """Train and evaluate everything of ``trainings`` (reusing cached runs), in order; ``control`` trains each
    broken on purpose instead (:mod:`reid.engine.control`, runs apart from the real ones); ``from_scratch``: see
    :func:`preflight_trainings`.

    Raises:
        whatever the engine raises (a missing data set, a diverged run): the case fails with it; what
        :func:`preflight_trainings` finds, before anything trains.
    """
    preflight_trainings(trainings, from_scratch=from_scratch)
    records: dict[str, RunRecord] = {}
    # setting -> split (None: not split) -> result; a setting's splits are averaged once all have run.
    found: dict[str, dict[int | None, SettingResult]] = {}
    wall = 0.0
    suffix = "" if control is None else f".{control.name}"
    for training in trainings:
        name = fingerprint(training.config)
        with run_lock(runs_dir, name + suffix):
            record = run(training.config, out_dir=runs_dir, device=device, progress=progress, control=control,
                         from_scratch=from_scratch)
        records[record.fingerprint] = record
        wall += record.total_wall_time_s
        checkpoint = None
        for evaluation in training.evaluations:
            if is_own_evaluation(training, evaluation):
                for key in evaluation.settings:  # the run's own final evaluation is this setting's
                    found.setdefault(key, {})[training.split] = SettingResult(
                        key, primary_metrics(record.final_evaluation), record.final_evaluation, record.fingerprint,
                        None, test_selection=released_selection_of(record),
                    )
                continue
            if checkpoint is None:
                folder = run_parent(runs_dir, control) / record.fingerprint
                checkpoint = load_trained(resolve_checkpoint_path(folder))
            config = evaluation.applied_to(checkpoint.config)
            path = default_record_path(checkpoint.path, config)
            with run_lock(runs_dir, f"{record.fingerprint}{suffix}.eval-{fingerprint(config)}"):
                if path.is_file():
                    evaluated = load_evaluation_record(path)
                else:
                    evaluated = evaluate_checkpoint(checkpoint, config, device=device)
                    write_evaluation_record(path, evaluated)
            for key in evaluation.settings:
                found.setdefault(key, {})[training.split] = SettingResult(
                    key, primary_metrics(evaluated.evaluation), evaluated.evaluation, record.fingerprint, str(path)
                )
    results = {key: by_split[None] if None in by_split else mean_over_splits(key, by_split)
               for key, by_split in found.items()}
    return CaseRuns(records=records, settings=results, wall_time_s=wall)
