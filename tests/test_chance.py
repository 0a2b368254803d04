"""Random features measured on the trial itself: the baseline of the smoke sanity bound."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reid.errors import ConfigError
from reid.eval.chance import random_ranking_metrics


def _one_per_id(num_ids: int, queries_per_id: int):
    q_pids = np.repeat(np.arange(num_ids), queries_per_id)
    g_pids = np.arange(num_ids)
    return q_pids, g_pids, np.full(len(q_pids), 3), np.full(num_ids, 1)


@settings(max_examples=15, deadline=None)
@given(num_ids=st.integers(5, 60), seed=st.integers(0, 2**31 - 1))
def test_one_true_match_per_query_gives_the_textbook_chance(num_ids, seed):
    """One true match among G items: rank-1 1/G, AP = E[1/rank] = H_G / G, INP = AP; averaged over the draws."""
    q, g, qc, gc = _one_per_id(num_ids, 20)
    out = random_ranking_metrics(q, g, qc, gc, removal="none", dedup_cmc=False, draws=16, seed=seed)
    harmonic = sum(1.0 / k for k in range(1, num_ids + 1))
    # 16 draws x 20 queries per id: the standard error of the mean reciprocal rank stays below 3 points
    assert out["rank1"] == pytest.approx(100.0 / num_ids, abs=4.5)
    assert out["mAP"] == pytest.approx(100.0 * harmonic / num_ids, abs=4.5)
    assert out["mINP"] == pytest.approx(out["mAP"])
    assert out["rank1"] <= out["rank20"] <= 100.0 and out["draws"] == 16


def test_the_same_seed_gives_the_same_numbers_and_another_seed_others():
    q, g, qc, gc = _one_per_id(30, 5)
    a = random_ranking_metrics(q, g, qc, gc, removal="none", dedup_cmc=False, seed=3)
    assert a == random_ranking_metrics(q, g, qc, gc, removal="none", dedup_cmc=False, seed=3)
    assert a != random_ranking_metrics(q, g, qc, gc, removal="none", dedup_cmc=False, seed=4)


def test_the_trial_rules_apply():
    """SYSU removal drops the camera-2 gallery items of camera-3 queries: fewer candidates, higher chance."""
    q_pids, g_pids = np.arange(20).repeat(2), np.concatenate([np.arange(20), np.arange(20)])
    q_cams, g_cams = np.full(40, 3), np.concatenate([np.full(20, 1), np.full(20, 2)])
    kept = random_ranking_metrics(q_pids, g_pids, q_cams, g_cams, removal="none", dedup_cmc=True)
    removed = random_ranking_metrics(q_pids, g_pids, q_cams, g_cams, removal="sysu", dedup_cmc=True)
    assert removed["mAP"] > kept["mAP"]


@pytest.mark.parametrize("draws", [0, -1, 1.5, True])
def test_draws_must_be_a_positive_integer(draws):
    q, g, qc, gc = _one_per_id(5, 2)
    with pytest.raises(ConfigError, match="draws"):
        random_ranking_metrics(q, g, qc, gc, removal="none", dedup_cmc=False, draws=draws)
