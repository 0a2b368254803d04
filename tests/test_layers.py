"""GeM pooling, BNNeck and the non-local block: formulas against hand computations, AGW's initialisation."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from reid.errors import ConfigError
from reid.layers import (
    AGW_REFERENCE_INTER_CHANNELS,
    BNNeck,
    GeneralizedMeanPooling,
    NonLocalBlock,
    generalized_mean,
    inter_channels_for,
)


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


# ---------------------------------------------------------------- GeM


def test_gem_matches_the_agw_formula_by_hand():
    x = torch.rand(2, 3, 4, 5, generator=gen(1), dtype=torch.float64)
    got = GeneralizedMeanPooling()(x)
    a = x.numpy()
    want = (np.mean(a**3, axis=(2, 3)) + 1e-12) ** (1 / 3)
    assert got.shape == (2, 3)
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-12)


def test_gem_eps_is_added_after_the_mean_without_clamp():
    # All-zero map: AGW gives eps ** (1/p) exactly (a clamp to eps before the power would give eps).
    got = GeneralizedMeanPooling(p=3.0, eps=1e-12)(torch.zeros(1, 2, 3, 3, dtype=torch.float64))
    torch.testing.assert_close(got, torch.full((1, 2), 1e-4, dtype=torch.float64))


def test_gem_with_p_one_is_average_pooling():
    x = torch.rand(3, 4, 6, 2, generator=gen(2))
    got = GeneralizedMeanPooling(p=1.0)(x)
    torch.testing.assert_close(got, torch.nn.functional.adaptive_avg_pool2d(x, 1).flatten(1))


@settings(max_examples=25, deadline=None)
@given(
    p=st.floats(1.0, 8.0),
    h=st.integers(1, 5),
    w=st.integers(1, 5),
    seed=st.integers(0, 2**31 - 1),
)
def test_gem_lies_between_mean_and_max(p, h, w, seed):
    x = torch.rand(2, 3, h, w, generator=gen(seed), dtype=torch.float64) + 0.01
    got = generalized_mean(x, p, 0.0)
    mean = x.mean(dim=(2, 3))
    peak = x.amax(dim=(2, 3))
    assert torch.all(got >= mean - 1e-9)
    assert torch.all(got <= peak + 1e-9)


def test_gem_learnable_p_is_a_parameter_with_a_gradient():
    fixed = GeneralizedMeanPooling()
    learned = GeneralizedMeanPooling(p=3.0, learnable=True)
    assert list(fixed.parameters()) == []
    assert [name for name, _ in learned.named_parameters()] == ["p"]
    x = torch.rand(2, 3, 4, 4, generator=gen(3))
    torch.testing.assert_close(learned(x), fixed(x))
    learned(x).sum().backward()
    assert learned.p.grad is not None and torch.isfinite(learned.p.grad)


def test_gem_rejects_bad_arguments():
    with pytest.raises(ConfigError, match="p"):
        GeneralizedMeanPooling(p=0.0)
    with pytest.raises(ConfigError, match="eps"):
        GeneralizedMeanPooling(eps=-1.0)
    with pytest.raises(ValueError, match=r"\[N, C, H, W\]"):
        GeneralizedMeanPooling()(torch.rand(2, 3, 4))


# ---------------------------------------------------------------- BNNeck


def test_bnneck_initialisation_is_agws():
    neck = BNNeck(2048, 395, generator=gen(0))
    assert neck.bn.bias.requires_grad is False
    assert torch.all(neck.bn.bias == 0)
    assert neck.classifier.bias is None
    w = neck.bn.weight.detach()
    assert abs(w.mean().item() - 1.0) < 0.002 and 0.008 < w.std().item() < 0.012
    c = neck.classifier.weight.detach()
    assert c.shape == (395, 2048)
    assert abs(c.mean().item()) < 1e-4 and 0.0009 < c.std().item() < 0.0011
    assert torch.all(neck.bn.running_mean == 0) and torch.all(neck.bn.running_var == 1)
    assert int(neck.bn.num_batches_tracked) == 0


def test_bnneck_forward_shapes_and_frozen_bias_under_training():
    neck = BNNeck(16, 5, generator=gen(1))
    feat = torch.randn(8, 16, generator=gen(2))
    bn_feat, logits = neck(feat)
    assert bn_feat.shape == (8, 16) and logits.shape == (8, 5)
    # No shift: in training mode the BN output has zero mean per feature.
    torch.testing.assert_close(bn_feat.mean(0), torch.zeros(16), atol=1e-5, rtol=0)
    trainable = [p for p in neck.parameters() if p.requires_grad]
    opt = torch.optim.SGD(trainable, lr=0.5)
    torch.nn.functional.cross_entropy(logits, torch.arange(8) % 5).backward()
    opt.step()
    assert torch.all(neck.bn.bias == 0)
    assert neck.bn.weight.grad is not None and neck.classifier.weight.grad is not None


def test_bnneck_weights_come_from_the_generator():
    a, b, c = (BNNeck(32, 7, generator=gen(s)) for s in (5, 5, 6))
    torch.testing.assert_close(a.state_dict(), b.state_dict())
    assert not torch.equal(a.classifier.weight, c.classifier.weight)


def test_bnneck_rejects_bad_arguments():
    with pytest.raises(ConfigError, match="torch.Generator"):
        BNNeck(8, 2, generator=None)
    with pytest.raises(ConfigError, match="num_classes"):
        BNNeck(8, 0, generator=gen())


# ---------------------------------------------------------------- non-local


def nonlocal_by_hand(block: NonLocalBlock, x: torch.Tensor) -> torch.Tensor:
    """z_i = BN(W (1/L) sum_j <theta_i, phi_j> g_j) + x_i, written position by position."""
    theta, phi, g = block.theta(x).flatten(2), block.phi(x).flatten(2), block.g(x).flatten(2)  # [N, C', L]
    n, inter, length = theta.shape
    y = torch.zeros(n, inter, length, dtype=x.dtype)
    for b in range(n):
        for i in range(length):
            for j in range(length):
                y[b, :, i] += torch.dot(theta[b, :, i], phi[b, :, j]) * g[b, :, j] / length
    return block.w_bn(block.w_conv(y.reshape(n, inter, *x.shape[2:]))) + x


@pytest.mark.parametrize("train", [True, False])
def test_nonlocal_is_the_identity_at_init(train):
    block = NonLocalBlock(16, generator=gen(0)).train(train)
    x = torch.randn(2, 16, 3, 5, generator=gen(1))
    assert torch.equal(block(x), x)


def test_nonlocal_matches_the_dot_product_formula_without_softmax():
    block = NonLocalBlock(6, 3, generator=gen(2)).double().eval()
    with torch.no_grad():
        block.w_bn.weight.normal_(generator=gen(3))
        block.w_bn.bias.normal_(generator=gen(4))
        block.w_bn.running_mean.normal_(generator=gen(5))
    x = torch.randn(2, 6, 3, 2, generator=gen(6), dtype=torch.float64)
    got = block(x)
    assert not torch.allclose(got, x)
    torch.testing.assert_close(got, nonlocal_by_hand(block, x))


def test_nonlocal_embedding_widths():
    assert NonLocalBlock(64, generator=gen()).inter_channels == 32
    assert NonLocalBlock.from_embedding(64, "half", generator=gen()).inter_channels == 32
    assert NonLocalBlock.agw_reference(64, generator=gen()).inter_channels == AGW_REFERENCE_INTER_CHANNELS == 1
    assert NonLocalBlock.from_embedding(64, "agw_one", generator=gen()).theta.out_channels == 1
    assert inter_channels_for(1024, "half") == 512
    with pytest.raises(ConfigError, match="agw_one"):
        inter_channels_for(64, "quarter")
    with pytest.raises(ConfigError, match="torch.Generator"):
        NonLocalBlock(8, generator=None)


def test_nonlocal_gradient_reaches_every_parameter_once_the_gate_opens():
    block = NonLocalBlock(8, generator=gen(7))
    with torch.no_grad():
        block.w_bn.weight.fill_(1.0)
    block(torch.randn(2, 8, 4, 3, generator=gen(8))).square().sum().backward()
    for name, p in block.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_layers_draw_nothing_from_the_global_generator():
    before = torch.random.get_rng_state()
    NonLocalBlock(32, generator=gen(0))
    BNNeck(32, 4, generator=gen(0))
    assert torch.equal(torch.random.get_rng_state(), before)
    a, b = NonLocalBlock(32, generator=gen(9)), NonLocalBlock(32, generator=gen(9))
    torch.testing.assert_close(a.state_dict(), b.state_dict())
