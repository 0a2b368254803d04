"""Backbones: torchvision ResNets split into modality-specific stems and a shared body; local ImageNet weights; the
re-identification network every method composes (:class:`ReIDNet`)."""

from reid.backbones.pretrained import (
    PRETRAINED_ARCH_ENV_PREFIX,
    PRETRAINED_DIR_ENV,
    PretrainedWeightsError,
    load_torchvision_state_dict,
    match_state_dict,
    pretrained_env_var,
    resolve_pretrained_path,
)
from reid.backbones.reid_net import ReIDNet
from reid.backbones.resnet import (
    AGW_NON_LOCAL_COUNTS,
    FEATURE_NAMES,
    LAYER_NAMES,
    SUPPORTED_ARCHS,
    MultiStemResNet,
    ResNetStem,
    build_torchvision_resnet,
    non_local_positions,
)

__all__ = [
    "AGW_NON_LOCAL_COUNTS",
    "FEATURE_NAMES",
    "LAYER_NAMES",
    "MultiStemResNet",
    "PRETRAINED_ARCH_ENV_PREFIX",
    "PRETRAINED_DIR_ENV",
    "PretrainedWeightsError",
    "ReIDNet",
    "ResNetStem",
    "SUPPORTED_ARCHS",
    "build_torchvision_resnet",
    "load_torchvision_state_dict",
    "match_state_dict",
    "non_local_positions",
    "pretrained_env_var",
    "resolve_pretrained_path",
]
