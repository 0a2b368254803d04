"""What a model without information scores on a trial: the metrics of random features, measured.

Chance rank-1 is often quoted as ``100 / gallery identities``, which ignores the gallery removal
and the CMC rule; chance mAP has no closed form worth trusting once the removal leaves each query
a different gallery. So both are measured on the trial itself: the ranking metrics of
``draws`` uniformly random distance matrices over the same queries and gallery, with the same
removal and CMC rule, averaged. The draws come from a CPU generator seeded with ``seed``, which
gives the same numbers on every machine (torch's CPU Mersenne Twister is platform independent), so
a bound built on them moves only when the trial does.
"""

from __future__ import annotations

from typing import Any

import torch

from reid.checks import check_positive_integer
from reid.eval.ranking import ArrayLike, rank_metrics

CHANCE_DRAWS = 16
"""Random rankings averaged per trial: the standard error of chance rank-1 at 300 queries and 48
identities is then about 0.2 points, a tenth of the value."""


def random_ranking_metrics(
    q_pids: ArrayLike,
    g_pids: ArrayLike,
    q_camids: ArrayLike,
    g_camids: ArrayLike,
    *,
    removal: str,
    dedup_cmc: bool,
    draws: int = CHANCE_DRAWS,
    seed: int = 0,
) -> dict[str, Any]:
    """Mean rank-1, rank-20, mAP and mINP (percent) of ``draws`` random rankings of one trial.

    Args:
        q_pids, g_pids, q_camids, g_camids: the trial's identities and cameras.
        removal, dedup_cmc: the trial's ranking rules (:func:`reid.eval.ranking.rank_metrics`).
        draws: random distance matrices to average.
        seed: of the generator the distances are drawn from.

    Returns:
        ``{"rank1", "rank20", "mAP", "mINP", "draws"}``.

    Raises:
        ConfigError: ``draws`` is not a positive integer.
    """
    check_positive_integer("draws", draws)
    num_q, num_g = len(q_pids), len(g_pids)
    generator = torch.Generator().manual_seed(seed)
    totals = {"rank1": 0.0, "rank20": 0.0, "mAP": 0.0, "mINP": 0.0}
    for _ in range(draws):
        distances = torch.rand(num_q, num_g, generator=generator, dtype=torch.float64)
        metrics = rank_metrics(
            distances, q_pids, g_pids, q_camids, g_camids, removal=removal, dedup_cmc=dedup_cmc
        ).as_dict()
        for key in totals:
            totals[key] += float(metrics[key])
    return {key: value / draws for key, value in totals.items()} | {"draws": draws}
