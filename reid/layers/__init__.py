"""Network building blocks shared by the methods, one concept per module."""

from reid.layers.average_pool import GlobalAveragePooling
from reid.layers.bnneck import AGW_BN_WEIGHT_STD, AGW_CLASSIFIER_STD, BNNeck
from reid.layers.gem import AGW_GEM_EPS, AGW_GEM_P, GeneralizedMeanPooling, generalized_mean
from reid.layers.non_local import (
    AGW_REFERENCE_INTER_CHANNELS,
    NON_LOCAL_EMBEDDINGS,
    NonLocalBlock,
    NonLocalEmbedding,
    inter_channels_for,
)

__all__ = [
    "AGW_BN_WEIGHT_STD",
    "AGW_CLASSIFIER_STD",
    "AGW_GEM_EPS",
    "AGW_GEM_P",
    "AGW_REFERENCE_INTER_CHANNELS",
    "BNNeck",
    "GeneralizedMeanPooling",
    "GlobalAveragePooling",
    "NON_LOCAL_EMBEDDINGS",
    "NonLocalBlock",
    "NonLocalEmbedding",
    "generalized_mean",
    "inter_channels_for",
]
