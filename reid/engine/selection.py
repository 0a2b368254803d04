"""Model selection on the test set, as the released code does it, read off a run's evaluated epochs.

The released AGW and CAJ code (train.py, ICCV21_CAJ/train_ext.py) test every second epoch on trial 0 of the
SYSU-MM01 gallery (or the RegDB split) and keep the checkpoint whose rank-1 is strictly greater than the best
so far; CAJ saves only that one. Their printed numbers are therefore a maximum over about 40-50 test
evaluations. Our paper configs keep the last epoch (``eval.selection="last"``) and evaluate every second
epoch as well (``eval.every=2``), so a record holds both: the number we report, and the epoch the released
rule would have kept with its metrics (docs/decisions.md, "Model selection: the last epoch, and what
test-set selection would have given").
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

RELEASED_TRIAL = 0
"""The trial the released code selects on: ``process_gallery_sysu(..., trial=0)`` in train.py."""


def rank1_of(evaluation: Mapping[str, Any], *, trial: int | None) -> float:
    """Rank-1 of ``evaluation``'s primary feature: the mean over trials (``trial=None``) or one trial's."""
    feature = evaluation["features"][evaluation["primary_feature"]]
    if trial is None:
        return float(feature["mean"]["rank1"])
    return float(feature["trials"][trial]["rank1"])


def best_epoch(history: Sequence[Mapping[str, Any]], *, trial: int | None = None) -> int | None:
    """The evaluated epoch with the highest rank-1 of the primary feature; the earliest on ties; ``None`` when
    no epoch was evaluated.

    AGW/CAJ/MSCMNet keep a checkpoint when test rank-1 is strictly greater than the best so far
    (protocols.md sec. 1.3), i.e. the first epoch reaching the maximum. ``trial=None`` ranks by the mean over
    the configured trials (``eval.selection="best-on-test"``), ``trial=0`` as the released code does.
    """
    best, best_rank1 = None, float("-inf")
    for entry in history:
        evaluation = entry["evaluation"]
        if evaluation is None:
            continue
        rank1 = rank1_of(evaluation, trial=trial)
        if rank1 > best_rank1:
            best, best_rank1 = entry["epoch"], rank1
    return best


def released_selection(
    history: Sequence[Mapping[str, Any]], final_evaluation: Mapping[str, Any] | None, last_epoch: int
) -> dict[str, Any] | None:
    """What the released code's test-set selection would have kept, beside the last epoch's model.

    Args:
        history: a record's ``epochs`` (each with its ``evaluation`` or ``None``).
        final_evaluation: the record's final evaluation, of the last epoch's model (``selection="last"``);
            it joins the evaluated epochs when the last epoch was not evaluated during training.
        last_epoch: the last epoch (0-based).

    Returns:
        ``None`` when fewer than two epochs were evaluated (nothing to select among), else ``epoch`` (the pick:
        the highest trial-0 rank-1, earliest on ties), ``evaluated_epochs`` (how many test evaluations it chose
        among), ``metrics`` (the pick's mean metrics over every configured trial, primary feature),
        ``last_epoch`` and ``last_metrics`` (the same for the last epoch) and ``gain`` (pick minus last, per
        metric: how much selecting on the test set adds).
    """
    evaluated = [{"epoch": e["epoch"], "evaluation": e["evaluation"]} for e in history if e["evaluation"] is not None]
    if final_evaluation is not None and all(e["epoch"] != last_epoch for e in evaluated):
        evaluated.append({"epoch": last_epoch, "evaluation": final_evaluation})
    if len(evaluated) < 2 or all(e["epoch"] != last_epoch for e in evaluated):
        return None
    epoch = best_epoch(evaluated, trial=RELEASED_TRIAL)
    pick = next(e for e in evaluated if e["epoch"] == epoch)
    last = next(e for e in evaluated if e["epoch"] == last_epoch)
    metrics, last_metrics = _primary_mean(pick["evaluation"]), _primary_mean(last["evaluation"])
    return {
        "rule": f"highest trial-{RELEASED_TRIAL} test rank-1 of the primary feature, earliest on ties",
        "epoch": epoch,
        "evaluated_epochs": len(evaluated),
        "metrics": metrics,
        "last_epoch": last_epoch,
        "last_metrics": last_metrics,
        "gain": {name: (None if value is None or last_metrics.get(name) is None else value - last_metrics[name])
                 for name, value in metrics.items()},
    }


def _primary_mean(evaluation: Mapping[str, Any]) -> dict[str, float | None]:
    return dict(evaluation["features"][evaluation["primary_feature"]]["mean"])
