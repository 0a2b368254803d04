"""The synthetic data is learnable, and its modality gap makes cross-modality retrieval harder.

Runs the experiment of ``benchmarks/perf/synthetic_learnability.py`` (a small CNN trained
briefly with cross-entropy on 48 train identities at 64x32; self-contained rank-1 / mAP
and exact chance levels) with a test-sized budget: about 10 s per run on one core.
"""

import functools
from typing import Any

import pytest

from tests.scripts import load_perf_script

BUDGET = {"steps": 300, "seed": 0, "num_train_ids": 48, "num_test_ids": 16, "width": 16, "batch_size": 48}


@functools.cache
def experiment(modality_gap: float) -> Any:
    return load_perf_script("synthetic_learnability").run_experiment(modality_gap, **BUDGET)


@pytest.mark.slow
def test_cross_modality_retrieval_is_well_above_chance_and_below_same_modality() -> None:
    result = experiment(0.5)
    cross, same = result.cross, result.same
    # Chance (random ranking) is about 6 % rank-1 with 16 test identities.
    assert 4.0 < cross.chance_rank1 < 10.0
    assert cross.rank1 > 3 * cross.chance_rank1, cross
    assert cross.mAP > 3 * cross.chance_mAP, cross
    assert same.rank1 > 3 * same.chance_rank1, same
    assert same.rank1 > cross.rank1 + 10.0, (same, cross)
    assert same.mAP > cross.mAP + 10.0, (same, cross)


@pytest.mark.slow
def test_a_larger_modality_gap_makes_cross_modality_retrieval_harder() -> None:
    default, full = experiment(0.5), experiment(1.0)
    assert full.cross.rank1 < default.cross.rank1, (full.cross, default.cross)
    assert full.cross.mAP < default.cross.mAP, (full.cross, default.cross)
    # Shape and texture still survive at the full gap.
    assert full.cross.rank1 > 2 * full.cross.chance_rank1, full.cross
