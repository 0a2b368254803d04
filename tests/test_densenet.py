"""The DenseNet feature learner (XIV Table 4): shapes, initialisation from the generator, local ImageNet weights."""

from __future__ import annotations

import re

import pytest
import torch
import torchvision

from reid.backbones.densenet import DenseNetBackbone
from reid.backbones.pretrained import PretrainedWeightsError
from reid.errors import ConfigError


def _net(seed: int = 0, **kwargs) -> DenseNetBackbone:
    return DenseNetBackbone("densenet121", generator=torch.Generator().manual_seed(seed), **kwargs)


def test_output_map_is_stride_32_with_1024_channels():
    net = _net().eval()
    with torch.no_grad():
        out = net(torch.randn(2, 3, 224, 224))
    assert net.out_channels == 1024 and out.shape == (2, 1024, 7, 7) and (out >= 0).all()


def test_initialisation_comes_from_the_generator_only():
    a, b, c = _net(1), _net(1), _net(2)
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))
    assert not torch.equal(a.features.conv0.weight, c.features.conv0.weight)


def test_local_weights_load_in_the_current_and_the_original_key_layout(tmp_path):
    reference = torchvision.models.densenet121(weights=None)
    torch.save(reference.state_dict(), tmp_path / "new.pth")
    old = {re.sub(r"(denselayer\d+\.(?:norm|relu|conv))([12])\.", r"\1.\2.", k): v
           for k, v in reference.state_dict().items()}
    torch.save(old, tmp_path / "old.pth")
    for name in ("new.pth", "old.pth"):
        net = _net(pretrained=tmp_path / name)
        assert all(torch.equal(v, reference.features.state_dict()[k]) for k, v in net.features.state_dict().items())
        assert net.pretrained_path == tmp_path / name


def test_wrong_weights_and_names_are_refused(tmp_path):
    torch.save(torchvision.models.densenet169(weights=None).state_dict(), tmp_path / "d169.pth")
    with pytest.raises(PretrainedWeightsError, match="d169.pth"):
        _net(pretrained=tmp_path / "d169.pth")
    with pytest.raises(ConfigError, match="densenet999"):
        DenseNetBackbone("densenet999", generator=torch.Generator())
