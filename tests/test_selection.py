"""What the released code's test-set selection would keep (reid/engine/selection.py), on hand-made histories."""

from __future__ import annotations

import pytest

from reid.engine.selection import best_epoch, released_selection


def evaluation(trial_rank1: list[float], map_: float) -> dict:
    mean = sum(trial_rank1) / len(trial_rank1)
    return {
        "primary_feature": "bn",
        "features": {
            "bn": {"mean": {"rank1": mean, "mAP": map_, "mINP": None},
                   "trials": [{"rank1": r, "mAP": map_} for r in trial_rank1]},
            "pool": {"mean": {"rank1": 99.0, "mAP": 99.0, "mINP": None}, "trials": [{"rank1": 99.0}] * 2},
        },
    }


def history(evaluations: dict[int, dict], epochs: int) -> list[dict]:
    return [{"epoch": e, "evaluation": evaluations.get(e)} for e in range(epochs)]


def test_the_pick_is_the_best_trial_0_rank1_not_the_best_mean():
    # Epoch 1 has the best mean rank-1 (selection="best-on-test"), epoch 3 the best trial 0 (the released rule).
    hist = history({1: evaluation([40.0, 60.0], 30.0), 3: evaluation([45.0, 41.0], 32.0),
                    5: evaluation([42.0, 42.0], 31.0)}, 6)
    assert best_epoch(hist) == 1
    assert best_epoch(hist, trial=0) == 3
    picked = released_selection(hist, None, last_epoch=5)
    assert picked["epoch"] == 3 and picked["evaluated_epochs"] == 3 and picked["last_epoch"] == 5
    assert picked["metrics"]["mAP"] == 32.0 and picked["last_metrics"]["mAP"] == 31.0
    assert picked["gain"]["mAP"] == pytest.approx(1.0) and picked["gain"]["rank1"] == pytest.approx(1.0)
    assert picked["gain"]["mINP"] is None


def test_ties_keep_the_earliest_epoch_as_strictly_greater_does():
    hist = history({1: evaluation([50.0], 10.0), 3: evaluation([50.0], 20.0)}, 4)
    assert released_selection(hist, evaluation([10.0], 5.0), last_epoch=3)["epoch"] == 1


def test_the_final_evaluation_stands_for_an_unevaluated_last_epoch():
    # every=2 over 5 epochs evaluates epochs 1 and 3; the last (4) is evaluated once at the end.
    hist = history({1: evaluation([20.0], 10.0), 3: evaluation([30.0], 12.0)}, 5)
    picked = released_selection(hist, evaluation([25.0], 11.0), last_epoch=4)
    assert picked["evaluated_epochs"] == 3 and picked["epoch"] == 3
    assert picked["last_metrics"]["rank1"] == 25.0 and picked["gain"]["rank1"] == pytest.approx(5.0)


def test_the_last_epoch_picked_gains_nothing():
    hist = history({1: evaluation([20.0], 10.0), 3: evaluation([30.0], 12.0)}, 4)
    picked = released_selection(hist, None, last_epoch=3)
    assert picked["epoch"] == 3 and set(picked["gain"].values()) <= {0.0, None}


def test_nothing_to_select_among_gives_none():
    assert released_selection(history({}, 3), evaluation([20.0], 10.0), last_epoch=2) is None
    assert released_selection(history({}, 3), None, last_epoch=2) is None
