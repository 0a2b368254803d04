"""Losses shared by the methods: pairwise distance, batch-hard triplet, AGW WRT, CAJ ADP, cross-entropy.

Each formula's source is cited in its module (protocols.md sec. 4 and 5, BoT, ``xiv.txt`` Eq. 4-10).
"""

from reid.losses.caj import TripletLossADP, adp_ranking_loss, adp_triplet
from reid.losses.distance import check_labelled_features, pairwise_euclidean
from reid.losses.identity import cross_entropy
from reid.losses.triplet import BatchHardTripletLoss, HardestPairs, batch_hard_triplet, hardest_pairs
from reid.losses.wrt import (
    WeightedDistances,
    WeightedRegularizationTriplet,
    masked_softmax_weights,
    weighted_distances,
    weighted_regularization_triplet,
)

__all__ = [
    "BatchHardTripletLoss",
    "HardestPairs",
    "TripletLossADP",
    "WeightedDistances",
    "WeightedRegularizationTriplet",
    "adp_ranking_loss",
    "adp_triplet",
    "batch_hard_triplet",
    "check_labelled_features",
    "cross_entropy",
    "hardest_pairs",
    "masked_softmax_weights",
    "pairwise_euclidean",
    "weighted_distances",
    "weighted_regularization_triplet",
]
