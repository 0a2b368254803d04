"""Ranking metrics: the vectorised, chunked ``rank_metrics`` against a plain per-query loop.

The loop below is the reference: it follows the official definitions word for word
(protocols.md sec. 1.2 official SYSU MATLAB code, 1.3 AGW eval_sysu, 2 eval_regdb,
3 eval_llcm, 7 MITML evaluate) and is deliberately naive.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from unittest import mock

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from reid.errors import ConfigError
from reid.eval import ranking
from reid.eval.ranking import RankMetrics, kept_gallery_mask, rank_metrics

REMOVALS = ("sysu", "same_id_same_cam", "none")


def reference_metrics(
    distmat: np.ndarray,
    q_pids: np.ndarray,
    g_pids: np.ndarray,
    q_cams: np.ndarray,
    g_cams: np.ndarray,
    removal: str,
    dedup_cmc: bool,
    max_rank: int,
) -> tuple[np.ndarray, float, float, int] | None:
    """CMC (percent, max_rank values), mAP, mINP (percent), num_valid; None without a valid query."""
    distmat = np.asarray(distmat, dtype=np.float64)  # exact for float32 and small integers

    def location(cam: int) -> int:
        return 2 if cam == 3 else cam  # SYSU: IR camera 3 is in the room of camera 2

    cmcs, aps, inps = [], [], []
    for i in range(distmat.shape[0]):
        order = np.argsort(distmat[i], kind="stable")  # equal distances: gallery order
        ids, cams = g_pids[order], g_cams[order]
        if removal == "sysu":
            keep = np.array([location(c) != location(q_cams[i]) for c in cams], dtype=bool)
        elif removal == "same_id_same_cam":
            keep = ~((ids == q_pids[i]) & (cams == q_cams[i]))
        else:
            keep = np.ones(len(ids), dtype=bool)
        ranked = ids[keep]
        match = ranked == q_pids[i]
        if not match.any():
            continue  # not a valid query: left out of every average
        if dedup_cmc:
            _, first_seen = np.unique(ranked, return_index=True)
            distinct = list(ranked[np.sort(first_seen)])
            hit_rank = distinct.index(q_pids[i]) + 1
        else:
            hit_rank = int(np.flatnonzero(match)[0]) + 1
        cmcs.append([1.0 if hit_rank <= k else 0.0 for k in range(1, max_rank + 1)])
        match_ranks = np.flatnonzero(match) + 1
        aps.append(np.mean(np.arange(1, len(match_ranks) + 1) / match_ranks))
        inps.append(len(match_ranks) / match_ranks[-1])
    if not aps:
        return None
    return 100 * np.mean(cmcs, axis=0), 100 * float(np.mean(aps)), 100 * float(np.mean(inps)), len(aps)


def assert_matches_reference(result: RankMetrics, expected: tuple[np.ndarray, float, float, int]) -> None:
    cmc, m_ap, m_inp, num_valid = expected
    np.testing.assert_allclose(result.cmc, cmc, atol=1e-6)
    assert result.mAP == pytest.approx(m_ap, abs=1e-6)
    assert result.mINP == pytest.approx(m_inp, abs=1e-6)
    assert result.num_valid == num_valid


@contextmanager
def torch_backend() -> Iterator[None]:
    """Run the torch operations (the CUDA path) on CPU tensors."""
    with mock.patch.object(ranking, "_backend", lambda device: ranking._TorchOps):
        yield


@st.composite
def ranking_problems(draw: st.DrawFn) -> dict:
    """Small problems with many ties, absent identities and queries that lose every match."""
    num_q = draw(st.integers(1, 6))
    num_g = draw(st.integers(1, 12))
    kind = draw(st.sampled_from(["integer", "near", "uniform", "infinite"]))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    if kind == "integer":  # few values: ties everywhere
        dist = rng.integers(0, 4, (num_q, num_g)).astype(draw(st.sampled_from([np.float32, np.float64, np.int64])))
    elif kind == "near":  # distinct float64 values that round to the same float32
        dist = rng.integers(0, 3, (num_q, num_g)) + rng.integers(-2, 3, (num_q, num_g)) * 2.0**-40
    elif kind == "uniform":
        dist = rng.random((num_q, num_g)).astype(draw(st.sampled_from([np.float32, np.float64])))
    else:
        dist = rng.choice(np.array([-np.inf, -1.0, 0.0, -0.0, 1.0, np.inf]), (num_q, num_g))
    ids = {
        "q_pids": rng.integers(0, 4, num_q),
        "g_pids": rng.integers(0, 4, num_g),
        "q_cams": rng.integers(1, 7, num_q),
        "g_cams": rng.integers(1, 7, num_g),
    }
    as_torch = draw(st.booleans())
    return {
        "distmat": torch.from_numpy(dist) if as_torch else dist,
        "ids": {k: torch.from_numpy(v) if as_torch else v for k, v in ids.items()},
        "removal": draw(st.sampled_from(REMOVALS)),
        "dedup_cmc": draw(st.booleans()),
        "max_rank": draw(st.sampled_from([1, 3, 5, 20, 30])),
        "chunk_size": draw(st.sampled_from([None, 1, 2, 5])),
    }


def check_problem(problem: dict) -> None:
    ids = {k: np.asarray(v) for k, v in problem["ids"].items()}
    dist = problem["distmat"]
    expected = reference_metrics(
        np.asarray(dist), ids["q_pids"], ids["g_pids"], ids["q_cams"], ids["g_cams"],
        problem["removal"], problem["dedup_cmc"], problem["max_rank"],
    )
    args = (dist, *(problem["ids"][k] for k in ("q_pids", "g_pids", "q_cams", "g_cams")))
    options = {"removal": problem["removal"], "dedup_cmc": problem["dedup_cmc"], "max_rank": problem["max_rank"]}
    if expected is None:
        with pytest.raises(ValueError, match="no query has a true match"):
            rank_metrics(*args, **options, chunk_size=problem["chunk_size"])
        return
    result = rank_metrics(*args, **options, chunk_size=problem["chunk_size"])
    assert_matches_reference(result, expected)
    assert len(result.cmc) == problem["max_rank"]
    # Queries are independent: the chunking must not change a single bit.
    assert rank_metrics(*args, **options, chunk_size=1) == result


@settings(max_examples=800, deadline=None)
@given(ranking_problems())
def test_matches_the_per_query_loop(problem: dict) -> None:
    check_problem(problem)


@settings(max_examples=400, deadline=None)
@given(ranking_problems())
def test_torch_operations_match_the_per_query_loop(problem: dict) -> None:
    # The operations CUDA runs, checked on CPU so that they are tested without a GPU.
    with torch_backend():
        check_problem(problem)


def realistic_problem(rng: np.random.Generator, num_q: int, num_g: int, num_ids: int) -> tuple:
    """Noisy identity-centred features: true matches spread over a few hundred ranks."""
    centres = rng.normal(size=(num_ids, 16))
    q_pids, g_pids = rng.integers(0, num_ids, num_q), rng.integers(0, num_ids, num_g)
    q = centres[q_pids] + 1.5 * rng.normal(size=(num_q, 16))
    g = centres[g_pids] + 1.5 * rng.normal(size=(num_g, 16))
    dist = ((q[:, None, :] - g[None, :, :]) ** 2).sum(-1).astype(np.float32)
    return dist, q_pids, g_pids, rng.integers(1, 7, num_q), rng.integers(1, 7, num_g)


@pytest.mark.parametrize("removal", REMOVALS)
def test_realistic_sizes_with_parallel_chunks(removal: str) -> None:
    # Many candidate-length buckets, many chunks and two worker threads at once.
    dist, q_pids, g_pids, q_cams, g_cams = realistic_problem(np.random.default_rng(7), 150, 700, 40)
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        for dedup in (True, False):
            result = rank_metrics(dist, q_pids, g_pids, q_cams, g_cams, removal=removal, dedup_cmc=dedup, chunk_size=16)
            expected = reference_metrics(dist, q_pids, g_pids, q_cams, g_cams, removal, dedup, 20)
            assert_matches_reference(result, expected)
            assert 0 < result.rank1 < 100 and 0 < result.mINP < result.mAP < 100
    finally:
        torch.set_num_threads(threads)


def test_hand_computed_example() -> None:
    # One query of identity 1; the gallery is already in ranked order (ascending distance):
    #   rank:  1  2  3  4  5
    #   id:    2  2  1  3  1
    # Plain CMC: first true match at rank 3. De-duplicated id list: 2, 1, 3 -> rank 2.
    # AP = (1/3 + 2/5) / 2 = 11/30. INP = 2 matches / rank 5 of the last one = 0.4.
    dist = np.array([[0.1, 0.2, 0.3, 0.4, 0.5]])
    g_pids, g_cams = np.array([2, 2, 1, 3, 1]), np.array([1, 1, 1, 1, 1])
    plain = rank_metrics(dist, [1], g_pids, [2], g_cams, removal="none", dedup_cmc=False, max_rank=5)
    assert plain.cmc == (0.0, 0.0, 100.0, 100.0, 100.0)
    assert plain.mAP == pytest.approx(100 * 11 / 30)
    assert plain.mINP == pytest.approx(40.0)
    dedup = rank_metrics(dist, [1], g_pids, [2], g_cams, removal="none", dedup_cmc=True, max_rank=5)
    assert dedup.cmc == (0.0, 100.0, 100.0, 100.0, 100.0)
    assert (dedup.mAP, dedup.mINP) == (plain.mAP, plain.mINP)  # AP and INP never de-duplicate


def test_hand_computed_averages_skip_queries_without_match() -> None:
    # Query 0 (id 1): gallery ranked 1, 2, 1 -> matches at ranks 1 and 3: AP = (1 + 2/3)/2 = 5/6,
    #   INP = 2/3. Query 1 (id 2), same camera as its only match (removed) -> not valid.
    # Query 2 (id 9) has no match at all -> not valid. Averages over query 0 only.
    dist = np.array([[0.0, 1.0, 2.0], [0.5, 0.1, 0.7], [0.3, 0.2, 0.1]], dtype=np.float32)
    result = rank_metrics(
        dist, [1, 2, 9], [1, 2, 1], [5, 4, 5], [1, 4, 2], removal="same_id_same_cam", dedup_cmc=False, max_rank=3
    )
    assert result.num_valid == 1
    assert result.cmc == (100.0, 100.0, 100.0)
    assert result.mAP == pytest.approx(100 * 5 / 6)
    assert result.mINP == pytest.approx(100 * 2 / 3)


def test_equal_distances_rank_by_gallery_order() -> None:
    # All distances equal: ranked list = gallery order 7, 1, 7, 1 -> matches at ranks 2 and 4:
    # AP = (1/2 + 2/4)/2 = 1/2, INP = 2/4. Dedup: ids 7, 1 -> rank 2.
    dist = torch.zeros(1, 4)
    result = rank_metrics(dist, [1], [7, 1, 7, 1], [1], [2, 2, 2, 2], removal="none", dedup_cmc=True, max_rank=2)
    assert result.cmc == (0.0, 100.0)
    assert result.mAP == pytest.approx(50.0)
    assert result.mINP == pytest.approx(50.0)


def test_sysu_location_rule() -> None:
    # Gallery (distance: camera, id): 0.1: cam 2 id 1, 0.2: cam 2 id 5, 0.3: cam 1 id 7, 0.4: cam 4 id 1.
    dist = np.array([[0.1, 0.2, 0.3, 0.4]] * 2)
    g_pids, g_cams = [1, 5, 7, 1], [2, 2, 1, 4]
    # A camera-3 query (location 2) loses both camera-2 items, even id 5: ranked 7, 1.
    cam3 = rank_metrics(dist[:1], [1], g_pids, [3], g_cams, removal="sysu", dedup_cmc=True, max_rank=2)
    assert cam3.cmc == (0.0, 100.0)
    assert cam3.mAP == pytest.approx(50.0)
    # A camera-6 query keeps everything: ranked 1, 5, 7, 1 -> AP = (1 + 2/4)/2.
    cam6 = rank_metrics(dist[:1], [1], g_pids, [6], g_cams, removal="sysu", dedup_cmc=True, max_rank=2)
    assert cam6.cmc == (100.0, 100.0)
    assert cam6.mAP == pytest.approx(75.0)
    # The Market-style rule would have kept the other identity's camera-2 item in front.
    market = rank_metrics(dist[:1], [1], g_pids, [3], g_cams, removal="same_id_same_cam", dedup_cmc=True, max_rank=2)
    assert market.cmc == (100.0, 100.0)
    mask = kept_gallery_mask("sysu", np.array([3, 6, 2]), np.array([3, 6, 2]), np.array(g_pids), np.array(g_cams))
    assert mask.tolist() == [[False, False, True, True], [True, True, True, True], [False, False, True, True]]


def test_max_rank_beyond_the_gallery_holds_the_last_value() -> None:
    # Ranked ids: 4 (0.1), 2 (0.2), 1 (0.3): the true match is last, at rank 3 of 3.
    dist = np.array([[0.3, 0.1, 0.2]])
    result = rank_metrics(dist, [1], [1, 4, 2], [1], [2, 2, 2], removal="none", dedup_cmc=False, max_rank=25)
    assert result.cmc == (0.0, 0.0) + (100.0,) * 23
    short = rank_metrics(dist, [1], [1, 4, 2], [1], [2, 2, 2], removal="none", dedup_cmc=False, max_rank=3)
    assert (short.rank1, short.rank5, short.rank10, short.rank20) == (0.0, None, None, None)
    assert set(short.as_dict()) == {"rank1", "rank5", "rank10", "rank20", "mAP", "mINP", "num_valid"}
    assert result.as_dict()["rank20"] == 100.0 and result.as_dict()["num_valid"] == 1


def test_half_precision_and_lists_are_accepted() -> None:
    dist, q_pids, g_pids, q_cams, g_cams = realistic_problem(np.random.default_rng(3), 20, 50, 6)
    half = torch.from_numpy(dist).half()
    expected = reference_metrics(half.float().numpy(), q_pids, g_pids, q_cams, g_cams, "sysu", True, 20)
    result = rank_metrics(half, list(q_pids), list(g_pids), list(q_cams), list(g_cams), removal="sysu", dedup_cmc=True)
    assert_matches_reference(result, expected)


def test_bad_inputs_name_the_argument() -> None:
    dist = np.zeros((4, 3))
    ids = {"q_pids": [1, 2, 3, 4], "g_pids": [1, 2, 3], "q_camids": [1, 1, 1, 1], "g_camids": [2, 2, 2]}
    with pytest.raises(ValueError, match="q_pids has 5 entries, distmat has 4 rows"):
        rank_metrics(dist, **{**ids, "q_pids": [1, 2, 3, 4, 5]}, removal="none", dedup_cmc=False)
    with pytest.raises(ValueError, match="g_camids has 2 entries, distmat has 3 columns"):
        rank_metrics(dist, **{**ids, "g_camids": [1, 2]}, removal="none", dedup_cmc=False)
    with pytest.raises(ConfigError, match="sysu, same_id_same_cam, none"):
        rank_metrics(dist, **ids, removal="market", dedup_cmc=False)
    with pytest.raises(ValueError, match="distmat: row 2 contains NaN"):
        rank_metrics(np.where(np.arange(12).reshape(4, 3) == 7, np.nan, 0.0), **ids, removal="none", dedup_cmc=False)
    with pytest.raises(ValueError, match="2\\*\\*53"):
        rank_metrics(np.full((4, 3), 2**60), **ids, removal="none", dedup_cmc=False)
    with pytest.raises(ValueError, match="2-D"):
        rank_metrics(np.zeros(3), **ids, removal="none", dedup_cmc=False)
    with pytest.raises(TypeError, match="q_camids: expected integer ids"):
        rank_metrics(dist, **{**ids, "q_camids": [1.0, 1.0, 1.0, 1.0]}, removal="none", dedup_cmc=False)
    with pytest.raises(ValueError, match="max_rank"):
        rank_metrics(dist, **ids, removal="none", dedup_cmc=False, max_rank=0)
    with pytest.raises(ValueError, match="chunk_size"):
        rank_metrics(dist, **ids, removal="none", dedup_cmc=False, chunk_size=0)
    with pytest.raises(ValueError, match="no query has a true match"):
        rank_metrics(dist, **{**ids, "g_pids": [7, 8, 9]}, removal="none", dedup_cmc=False)
    with pytest.raises(ValueError, match="no query has a true match"):
        rank_metrics(np.zeros((2, 0)), [1, 2], [], [1, 1], [], removal="none", dedup_cmc=False)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_matches_cpu() -> None:
    rng = np.random.default_rng(11)
    dist, q_pids, g_pids, q_cams, g_cams = realistic_problem(rng, 200, 600, 30)
    tied = np.round(dist)  # many ties as well
    for matrix in (dist, tied, tied.astype(np.float64) + 2.0**-40):
        for removal in REMOVALS:
            for dedup in (True, False):
                ids = tuple(torch.from_numpy(x) for x in (q_pids, g_pids, q_cams, g_cams))
                options = {"removal": removal, "dedup_cmc": dedup, "chunk_size": 64}
                cpu = rank_metrics(torch.from_numpy(matrix), *ids, **options)
                cuda = rank_metrics(torch.from_numpy(matrix).cuda(), *(t.cuda() for t in ids), **options)
                assert cuda.cmc == cpu.cmc and cuda.num_valid == cpu.num_valid
                assert cuda.mAP == pytest.approx(cpu.mAP, abs=1e-9) and cuda.mINP == pytest.approx(cpu.mINP, abs=1e-9)
