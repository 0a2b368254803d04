"""DenseNet feature learner: torchvision's DenseNet without its classifier (XIV's DenseNet-121 variant, xiv.txt).

xiv.txt, Implementation details: "two commonly used backbone model ResNet-50 and DenseNet-121, both
pre-trained on ImageNet ... images are re-scaled to a fixed size of 224 x 224" for DenseNet-121. The
network is torchvision's ``features`` followed by its final ReLU (``DenseNet.forward``: ``relu(features(x))``),
stride 32, 1024 channels for DenseNet-121; no modification is named, so none is made.

Initialisation draws from the ``torch.Generator`` passed in with torchvision's DenseNet rule (conv ~
kaiming_normal, BN weight 1, bias 0). ImageNet weights come from a local torchvision file only; files in the
original (pre-0.4) key layout (``denselayer1.norm.1.weight``) are renamed as torchvision's loader does.
"""

from __future__ import annotations

import re
from pathlib import Path

import torch
from torch import nn

# reid/__init__.py has imported torchvision through reid.compat before this module runs.
from torchvision.models import densenet as tv_densenet

from reid.backbones.pretrained import load_torchvision_state_dict, match_state_dict
from reid.backbones.resnet import reset_batchnorm_
from reid.checks import check_generator
from reid.errors import ConfigError

SUPPORTED_DENSENETS: tuple[str, ...] = ("densenet121", "densenet161", "densenet169", "densenet201")
"""torchvision DenseNet names the backbone accepts."""

_OLD_KEY = re.compile(
    r"^(.*denselayer\d+\.(?:norm|relu|conv))\.((?:[12])\.(?:weight|bias|running_mean|running_var|num_batches_tracked))$"
)
"""torchvision's rename of the original checkpoints' keys (``densenet._load_state_dict``)."""


def reset_densenet_parameters_(module: nn.Module, generator: torch.Generator) -> None:
    """torchvision's DenseNet initialisation, drawn from ``generator`` (``DenseNet.__init__``)."""
    for sub in module.modules():
        if isinstance(sub, nn.Conv2d):
            nn.init.kaiming_normal_(sub.weight, generator=generator)
        elif isinstance(sub, nn.BatchNorm2d):
            reset_batchnorm_(sub)
        elif next(sub.parameters(recurse=False), None) is not None:
            raise TypeError(f"reset_densenet_parameters_: no initialisation rule for {type(sub).__name__}")


class DenseNetBackbone(nn.Module):
    """``relu(features(x))`` of a torchvision DenseNet: ``[N, 3, H, W] -> [N, C, H / 32, W / 32]``.

    Args:
        arch: one of :data:`SUPPORTED_DENSENETS`.
        pretrained: a local torchvision state dict of this ``arch`` (its classifier is ignored), or ``None``.
        generator: the source of every random initial value.

    Attributes:
        out_channels: channels of the output map (1024 for DenseNet-121).
        pretrained_path: the weights file loaded, or ``None``.
    """

    def __init__(self, arch: str, *, pretrained: str | Path | None = None, generator: torch.Generator) -> None:
        super().__init__()
        if arch not in SUPPORTED_DENSENETS:
            raise ConfigError(f"DenseNet arch: expected one of {SUPPORTED_DENSENETS}, got {arch!r}")
        check_generator(generator, "DenseNetBackbone")
        self.arch = arch
        with torch.device("meta"):
            features = getattr(tv_densenet, arch)(weights=None).features
        self.features = features.to_empty(device="cpu")
        reset_densenet_parameters_(self.features, generator)
        self.out_channels = self.features.norm5.num_features
        self.pretrained_path: Path | None = None
        if pretrained is not None:
            self.load_pretrained(pretrained)

    def load_pretrained(self, path: str | Path) -> None:
        """Copy a local torchvision DenseNet state dict into ``features``.

        Raises:
            PretrainedWeightsError: missing/unreadable file, missing or unexpected keys, wrong shapes.
        """
        path = Path(path)
        state = {_OLD_KEY.sub(r"\1\2", k): v for k, v in load_torchvision_state_dict(path).items()}
        expected = {f"features.{k}": v.shape for k, v in self.features.state_dict().items()}
        matched = match_state_dict(state, expected, path, ("classifier.",))
        self.features.load_state_dict({k[len("features."):]: v for k, v in matched.items()})
        self.pretrained_path = path

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.features(x))
