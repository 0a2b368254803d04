"""XIV-ReID (xiv.txt): the X generator, the fixed X special cases, the MRG / CMG losses, Eq. 2 and the ablations."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from reid.data.sample import Modality
from reid.data.transforms.normalize import IMAGENET_MEAN, IMAGENET_STD
from reid.errors import ConfigError
from reid.layers.x_modality import FixedXModality, XModalityGenerator
from reid.losses import batch_hard_triplet
from reid.methods import create_method
from reid.methods.base import TrainBatch
from reid.methods.xiv import XIV, cross_modality_loss, eq2_distance, euclidean, modality_respective_loss
from reid.profiles import build_config


def _xiv(**options) -> XIV:
    options = {"arch": "resnet18", **options}
    return create_method("xiv", num_classes=4, generator=torch.Generator().manual_seed(0), **options)


def _batch(m: int = 4, height: int = 64, width: int = 32, seed: int = 0) -> TrainBatch:
    g = torch.Generator().manual_seed(seed)
    labels = torch.arange(m) % 2
    views = {"infrared": torch.randn(m, 3, height, width, generator=g), "visible": torch.randn(m, 3, height, width,
                                                                                            generator=g)}
    return TrainBatch(views=views, labels=labels)


def _normalise(rgb: torch.Tensor) -> torch.Tensor:
    return (rgb - torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)) / torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)


def _denormalise(x: torch.Tensor) -> torch.Tensor:
    return x * torch.tensor(IMAGENET_STD).view(1, 3, 1, 1) + torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)


# --- the X modality -------------------------------------------------------------------------------------------


def test_generator_is_two_1x1_convolutions_through_one_channel():
    g = XModalityGenerator(generator=torch.Generator().manual_seed(0))
    assert g.to_one.weight.shape == (1, 3, 1, 1) and g.to_three.weight.shape == (3, 1, 1, 1)
    x = torch.randn(2, 3, 8, 4)
    out = g(x)
    assert out.shape == x.shape
    # Pixel-wise: each output pixel is a function of the same input pixel only (1x1 kernels).
    x2 = x.clone()
    x2[:, :, 0, 0] += 5.0
    changed = (g(x2) - out).abs().sum(dim=(0, 1)) > 0
    assert not changed.flatten()[1:].any()
    expected = g.to_three(torch.relu(g.to_one(x)))
    assert torch.allclose(out, expected)


def test_generator_weights_come_from_the_generator_passed_in():
    a = XModalityGenerator(generator=torch.Generator().manual_seed(1))
    b = XModalityGenerator(generator=torch.Generator().manual_seed(1))
    c = XModalityGenerator(generator=torch.Generator().manual_seed(2))
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))
    assert not all(torch.equal(p, q) for p, q in zip(a.parameters(), c.parameters()))


@pytest.mark.parametrize(
    ("source", "red", "white"),
    [("mean", 1 / 3, 1.0), ("gray", 0.299, 1.0), ("hsv_v", 1.0, 1.0), ("ycbcr_y", (16 + 219 * 0.299) / 255, 235 / 255)],
)
def test_fixed_x_is_one_channel_repeated_three_times(source, red, white):
    rgb = torch.zeros(2, 3, 2, 2)
    rgb[0, 0] = 1.0  # pure red
    rgb[1] = 1.0  # white
    out = _denormalise(FixedXModality(source)(_normalise(rgb)))
    assert torch.allclose(out[:, 0], out[:, 1], atol=1e-6) and torch.allclose(out[:, 0], out[:, 2], atol=1e-6)
    assert out[0, 0, 0, 0].item() == pytest.approx(red, abs=1e-5)
    assert out[1, 0, 0, 0].item() == pytest.approx(white, abs=1e-5)


def test_unknown_x_source_and_distance_are_refused():
    with pytest.raises(ConfigError, match="x_source='hue'"):
        _xiv(x_source="hue")
    with pytest.raises(ConfigError, match="test_distance='cosine'"):
        _xiv(test_distance="cosine")


# --- losses on hand-made features -----------------------------------------------------------------------------


def test_respective_triplet_on_a_hand_example():
    # 1-D features: identity 0 at 0 and 1, identity 1 at 3 and 5.
    f = torch.tensor([[0.0], [1.0], [3.0], [5.0]])
    y = torch.tensor([0, 0, 1, 1])
    logits = torch.zeros(4, 2)
    identity, triplet = modality_respective_loss(f, logits, y, margin=0.3, label_smoothing=0.0)
    assert identity.item() == pytest.approx(math.log(2))
    # anchors: 0 -> max(0, 1 - 3 + .3) = 0; 1 -> max(0, 1 - 2 + .3) = 0;
    #          3 -> max(0, 2 - 2 + .3) = .3; 5 -> max(0, 2 - 4 + .3) = 0
    assert triplet.item() == pytest.approx(0.3 / 4, abs=1e-5)


def test_cross_modality_loss_on_a_hand_example():
    a = torch.tensor([[0.0], [4.0]])  # infrared, ids 0, 1
    b = torch.tensor([[1.0], [2.0]])  # X (or visible), ids 0, 1
    y = torch.tensor([0, 1])
    # I->X: anchor 0: d_ap 1, d_an 2 -> 1 - 2 + .5 < 0; anchor 4: d_ap 2, d_an 3 -> < 0: mean 0.
    # X->I: anchor 1: d_ap 1, d_an 3 -> < 0; anchor 2: d_ap 2, d_an 2 -> .5: mean .25.
    loss = cross_modality_loss(a, b, y, margin=0.5)
    assert loss.item() == pytest.approx(0.0 + 0.25, abs=1e-5)
    # With margin 1.5: I->X (.5 + .5) / 2 = .5; X->I (0 + 1.5) / 2 = .75.
    assert cross_modality_loss(a, b, y, margin=1.5).item() == pytest.approx(0.5 + 0.75, abs=1e-5)


features = st.integers(2, 4).flatmap(
    lambda ids: st.tuples(
        st.just(ids),
        st.lists(st.floats(-5, 5, allow_nan=False, width=32), min_size=ids * 2 * 3, max_size=ids * 2 * 3),
        st.lists(st.floats(-5, 5, allow_nan=False, width=32), min_size=ids * 2 * 3, max_size=ids * 2 * 3),
        st.permutations(list(range(ids * 2))),
    )
)


@settings(max_examples=60, deadline=None)
@given(features)
def test_triplet_terms_are_non_negative_and_invariant_to_permuting_the_batch(data):
    ids, xs, ys, order = data
    labels = torch.arange(ids).repeat_interleave(2)
    a = torch.tensor(xs).view(ids * 2, 3)
    b = torch.tensor(ys).view(ids * 2, 3)
    respective = batch_hard_triplet(a, labels, 0.3)
    cross = cross_modality_loss(a, b, labels, margin=0.5)
    assert respective.item() >= 0 and cross.item() >= 0
    perm = torch.tensor(order)
    assert batch_hard_triplet(a[perm], labels[perm], 0.3).item() == pytest.approx(respective.item(), abs=1e-5)
    assert cross_modality_loss(a[perm], b[perm], labels[perm], margin=0.5).item() == pytest.approx(cross.item(),
                                                                                                    abs=1e-5)


@settings(max_examples=40, deadline=None)
@given(st.integers(2, 5), st.floats(0.0, 0.4), st.floats(0.1, 1.0))
def test_triplet_terms_vanish_once_positives_are_closer_by_the_margin(ids, spread, margin):
    # Identity i sits at 10 i (+- spread): every positive is within 2 spread, every negative at least
    # 10 - 2 spread away, so d_an - d_ap > margin for margins up to 1.
    labels = torch.arange(ids).repeat_interleave(3)
    offsets = torch.tensor([-spread, 0.0, spread]).repeat(ids)
    a = (10.0 * labels + offsets).unsqueeze(1)
    b = (10.0 * labels - offsets).unsqueeze(1)
    assert batch_hard_triplet(a, labels, margin).item() == 0.0
    assert cross_modality_loss(a, b, labels, margin=margin).item() == 0.0


# --- Eq. 2 -----------------------------------------------------------------------------------------------------


def test_eq2_is_the_sum_of_the_two_distance_matrices():
    g = torch.Generator().manual_seed(0)
    q, v, x = torch.randn(5, 8, generator=g), torch.randn(7, 8, generator=g), torch.randn(7, 8, generator=g)
    assert torch.allclose(eq2_distance(q, v, x), euclidean(q, v) + euclidean(q, x))
    assert torch.allclose(eq2_distance(q, v, None), euclidean(q, v))
    # No gallery item has X features: each counts D(I, V) twice, which ranks as D(I, V) alone.
    assert torch.allclose(eq2_distance(q, v, torch.zeros(7, 8)), 2 * euclidean(q, v))
    manual = torch.cdist(q / q.norm(dim=1, keepdim=True), v / v.norm(dim=1, keepdim=True))
    assert torch.allclose(euclidean(q, v), manual, atol=1e-6)


def test_eq2_falls_back_per_gallery_item():
    """A gallery item without X features (zero row) ranks by 2 D(I, V); the others keep D(I, V) + D(I, X)."""
    g = torch.Generator().manual_seed(1)
    q, v, x = torch.randn(5, 8, generator=g), torch.randn(7, 8, generator=g), torch.randn(7, 8, generator=g)
    x[[1, 4]] = 0.0
    got = eq2_distance(q, v, x)
    d_v, d_x = euclidean(q, v), euclidean(q, x)
    for j in range(7):
        expected = 2 * d_v[:, j] if j in (1, 4) else d_v[:, j] + d_x[:, j]
        assert torch.allclose(got[:, j], expected)


def test_method_distance_uses_the_gallery_x_features_only_for_eq2():
    images = torch.randn(3, 3, 64, 32)
    for distance, has_x in (("eq2", True), ("iv", False)):
        method = _xiv(test_distance=distance).eval()
        with torch.no_grad():
            query = method.extract(images, Modality.INFRARED)
            gallery = method.extract(images, Modality.VISIBLE)
        assert ("bn_x" in gallery) is has_x and "bn_x" not in query
        d = method.distance("bn", query, gallery)
        expected = euclidean(query["bn"], gallery["bn"])
        if has_x:
            expected = expected + euclidean(query["bn"], gallery["bn_x"])
        assert torch.allclose(d, expected)


# --- training step and ablations -------------------------------------------------------------------------------


def test_the_training_step_is_eq_11_and_gradients_reach_the_generator():
    method = _xiv().train()
    out = method.training_step(_batch())
    parts = out.parts
    assert set(parts) == {"id_I", "tri_I", "id_X", "tri_X", "id_V", "tri_V", "cmg"}
    mrg = sum(v for k, v in parts.items() if k != "cmg")
    assert out.loss.item() == pytest.approx((mrg + 0.1 * parts["cmg"]).item(), rel=1e-6)
    out.loss.backward()
    for p in method.x_modality.parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0


def test_cmg_is_the_two_cross_terms_on_the_aligned_blocks():
    method = _xiv().train()
    batch = _batch()
    torch.manual_seed(0)
    out = method.training_step(batch)
    with torch.no_grad():
        blocks = torch.cat([batch.views["infrared"], method.x_modality(batch.views["visible"]), batch.views["visible"]])
        f_i, f_x, f_v = method.embed(blocks).split(4)
    expected = cross_modality_loss(f_i, f_v, batch.labels, margin=0.5) + cross_modality_loss(
        f_i, f_x, batch.labels, margin=0.5)
    assert out.parts["cmg"].item() == pytest.approx(expected.item(), rel=1e-4)


@pytest.mark.parametrize(
    ("options", "parts"),
    [
        ({"use_x": False, "cmg_weight": 0.0}, {"id_I", "tri_I", "id_V", "tri_V"}),  # Table 4 Baseline
        ({"cmg_weight": 0.0}, {"id_I", "tri_I", "id_X", "tri_X", "id_V", "tri_V"}),  # Baseline+X
        ({"x_source": "hsv_v", "cmg_weight": 0.0}, {"id_I", "tri_I", "id_X", "tri_X", "id_V", "tri_V"}),  # Table 5
    ],
)
def test_ablation_switches_select_the_loss_terms(options, parts):
    method = _xiv(**options).train()
    out = method.training_step(_batch())
    assert set(out.parts) == parts
    assert out.loss.item() == pytest.approx(sum(out.parts.values()).item(), rel=1e-6)
    if options.get("x_source") == "hsv_v":
        assert not list(method.x_modality.parameters())


def test_paper_config_states_the_papers_hyperparameters():
    config = build_config("xiv", "paper")
    assert (config.data.height, config.data.width) == (256, 128)
    assert config.data.num_ids_per_batch * config.data.num_per_id == 48  # M per modality
    o = config.optim
    assert (o.optimizer, o.lr, o.weight_decay, o.epochs, o.milestones, o.gamma) == ("adam", 3.5e-4, 5e-4, 120,
                                                                                       (40, 70), 0.1)
    assert o.warmup_epochs > 0 and o.backbone_lr == o.lr
    opts = config.method_options
    assert (opts["cmg_weight"], opts["cross_margin"], opts["respective_margin"]) == (0.1, 0.5, 0.3)
    assert config.model.arch == "resnet50" and config.model.last_stride == 1 and not config.model.non_local


def test_non_local_blocks_are_refused():
    with pytest.raises(ConfigError, match="no non-local"):
        XIV.from_config(build_config("xiv", "smoke", ["model.non_local=True"]), 4)


def test_the_densenet_variant_trains_through_the_same_step():
    method = _xiv(arch="densenet121").train()
    out = method.training_step(_batch())
    out.loss.backward()
    assert torch.isfinite(out.loss) and method.net.backbone.out_channels == 1024
    assert method.x_modality.to_one.weight.grad is not None
