"""FF-DML (ffdml.txt): the fusion module (Eq. 2), the mutual-learning loss (Eq. 4-6), the method's branches, losses
and switches (Eq. 7-13, Tables 1-4) and its paper config (Sec. 4.2). RCC's seven outcomes at 1/7 each are tested in
tests/test_transforms.py (test_rcc_picks_each_of_seven_images_with_probability_one_seventh)."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from reid.errors import ConfigError
from reid.layers.spatial_fusion import SpatialWeightFusion
from reid.losses.mutual import kl_divergence, symmetric_kl
from reid.methods import create_method
from reid.methods.base import TrainBatch
from reid.methods.ffdml import FFDML, fused_map_size, parse_dml_pair
from reid.profiles import build_config

TABLE2_LAYER_SETS = [(1, 2), (1, 3), (2, 3), (1, 2, 3), (1, 2, 4), (1, 3, 4), (2, 3, 4), (1, 2, 3, 4)]
"""Table 2's eight fused sets."""


def _ffdml(height: int = 64, width: int = 32, **options) -> FFDML:
    return create_method("ffdml", num_classes=4, input_size=(height, width), arch="resnet18",
                         generator=torch.Generator().manual_seed(0), **options)


def _batch(m: int = 8, height: int = 64, width: int = 32, seed: int = 0) -> TrainBatch:
    g = torch.Generator().manual_seed(seed)
    views = {name: torch.randn(m, 3, height, width, generator=g) for name in ("visible", "infrared")}
    return TrainBatch(views=views, labels=torch.arange(m) % 4)


# --- the fusion module (Eq. 2) ----------------------------------------------------------------------------------


@pytest.mark.parametrize("layers", TABLE2_LAYER_SETS)
@pytest.mark.parametrize(("height", "width"), [(64, 32), (96, 48)])
def test_fusion_output_has_256_channels_per_layer_at_the_first_layers_resolution(layers, height, width):
    method = _ffdml(height, width, fusion_layers=layers).eval()
    with torch.no_grad():
        maps = method.backbone.features(torch.randn(2, 3, height, width),
                                        return_layers=tuple(f"layer{i}" for i in layers))
        fused = method.fusion(list(maps.values()))
        features = method.branch_features([torch.randn(2, 3, height, width)], [0])
    first = maps[f"layer{layers[0]}"]
    assert fused.shape == (2, 256 * len(layers), *first.shape[-2:])
    assert features["fusion"].shape == (2, 256 * len(layers))
    assert features["joint"].shape == (2, method.backbone.out_channels + 256 * len(layers))


def test_paper_size_fusion_upsamples_layer2_twice_and_layer3_four_times():
    # 288 x 144 at last stride 1: layer1 72 x 36, layer2 36 x 18, layer3 and layer4 18 x 9 (Sec. 3.3).
    method = FFDML(num_classes=4, input_size=(288, 144), arch="resnet50", fusion_layers=(1, 2, 3, 4),
                   generator=torch.Generator().manual_seed(0))
    reductions = method.backbone.layer_reductions
    assert [reductions[f"layer{i}"] for i in (1, 2, 3, 4)] == [4, 8, 16, 16]
    assert method.fusion.size == fused_map_size(288, 144, 4) == (72, 36)
    assert method.fusion.out_channels == 1024
    assert [r[0].in_channels for r in method.fusion.reduce] == [256, 512, 1024, 2048]


@pytest.mark.parametrize("weights", ["asff", "free"])
def test_gradients_reach_the_weight_maps(weights):
    fusion = SpatialWeightFusion([8, 16, 32], (8, 4), weights=weights, generator=torch.Generator().manual_seed(0))
    g = torch.Generator().manual_seed(1)
    maps = [torch.randn(2, 8, 8, 4, generator=g), torch.randn(2, 16, 4, 2, generator=g),
            torch.randn(2, 32, 2, 1, generator=g)]
    (fusion(maps) * torch.randn(2, 768, 8, 4, generator=g)).sum().backward()
    trained = [fusion.to_weights.weight] if weights == "asff" else [fusion.maps]
    for parameter in trained:
        assert parameter.grad is not None and parameter.grad.abs().sum() > 0


@pytest.mark.parametrize("weights", ["asff", "free"])
def test_the_fused_map_is_non_negative_for_gem(weights):
    fusion = SpatialWeightFusion([8, 8], (4, 2), weights=weights, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        fusion.reduce[0][1].bias.fill_(-1.0)
        if weights == "free":
            fusion.maps.normal_()
        assert fusion([torch.randn(2, 8, 4, 2), torch.randn(2, 8, 2, 1)]).min() >= 0


def test_asff_weights_sum_to_one_at_every_position_and_scale_each_map():
    fusion = SpatialWeightFusion([8, 8], (4, 2), generator=torch.Generator().manual_seed(0)).eval()
    maps = [torch.randn(3, 8, 4, 2), torch.randn(3, 8, 2, 1)]
    with torch.no_grad():
        reduced = [fusion.reduce[0](maps[0]),
                   torch.nn.functional.interpolate(fusion.reduce[1](maps[1]), size=(4, 2), mode="nearest")]
        weights = fusion.weight_maps(reduced)
        out = fusion(maps)
    assert torch.allclose(weights.sum(dim=1), torch.ones(3, 4, 2))
    assert torch.allclose(out[:, :256], reduced[0] * weights[:, :1])
    assert torch.allclose(out[:, 256:], reduced[1] * weights[:, 1:])


def test_free_weights_start_equal_and_are_tied_to_their_size():
    fusion = SpatialWeightFusion([8, 8], (4, 2), weights="free", generator=torch.Generator().manual_seed(0)).eval()
    maps = [torch.randn(1, 8, 4, 2), torch.randn(1, 8, 4, 2)]
    with torch.no_grad():
        halves = 0.5 * torch.cat([fusion.reduce[0](maps[0]), fusion.reduce[1](maps[1])], dim=1)
        assert torch.allclose(fusion(maps), halves)
    with pytest.raises(ConfigError, match=r"expected \(4, 2\)"):
        fusion([torch.randn(1, 8, 8, 4), torch.randn(1, 8, 4, 2)])


def test_fusion_draws_nothing_from_the_global_generator():
    torch.manual_seed(123)
    before = torch.get_rng_state()
    SpatialWeightFusion([8, 16], (4, 2), generator=torch.Generator().manual_seed(0))
    assert torch.equal(before, torch.get_rng_state())


# --- mutual learning (Eq. 4-6) ----------------------------------------------------------------------------------

logits = st.integers(1, 6).flatmap(lambda n: st.integers(2, 7).flatmap(
    lambda k: st.lists(st.floats(-8, 8, allow_nan=False), min_size=2 * n * k, max_size=2 * n * k).map(
        lambda xs: torch.tensor(xs, dtype=torch.float64).view(2, n, k))))


@settings(max_examples=60, deadline=None)
@given(logits)
def test_kd_is_non_negative_symmetric_and_zero_for_equal_posteriors(pair):
    a, b = pair[0], pair[1]
    ab = symmetric_kl(a, b, detach_teacher=False)
    assert ab.item() >= -1e-12
    assert ab.item() == pytest.approx(symmetric_kl(b, a, detach_teacher=False).item(), abs=1e-9)
    # A constant shift of the logits leaves the posterior unchanged.
    assert symmetric_kl(a, a + 3.0).item() == pytest.approx(0.0, abs=1e-6)


def test_kd_is_eq_5_on_a_hand_example_and_sum_is_n_times_mean():
    t = torch.tensor([[0.0, 0.0], [2.0, 0.0]])
    s = torch.tensor([[1.0, 0.0], [0.0, 0.0]])
    p_t, p_s = t.softmax(1), s.softmax(1)
    by_hand = 0.5 * ((p_t * (p_t / p_s).log()).sum(1) + (p_s * (p_s / p_t).log()).sum(1))
    assert symmetric_kl(t, s).item() == pytest.approx(by_hand.mean().item(), rel=1e-6)
    assert symmetric_kl(t, s, reduction="sum").item() == pytest.approx(by_hand.sum().item(), rel=1e-6)
    assert kl_divergence(p_t.log(), p_t.log()).abs().max() < 1e-7
    with pytest.raises(ConfigError, match="reduction"):
        symmetric_kl(t, s, reduction="batchmean")


@pytest.mark.parametrize("detach", [True, False])
def test_a_detached_teacher_gets_no_gradient_from_the_kd_term(detach):
    teacher = torch.randn(4, 5, requires_grad=True)
    student = torch.randn(4, 5, requires_grad=True)
    symmetric_kl(teacher, student, detach_teacher=detach).backward()
    assert student.grad.abs().sum() > 0
    assert (teacher.grad is None) == detach


def test_kd_term_reaches_no_teacher_head_in_the_method():
    method = _ffdml(dml_pairs=("joint-to-global",), branch_id=False).train()
    batch = _batch()
    features = method.branch_features([batch.views["visible"], batch.views["infrared"]], [0, 1])
    logits = {name: method.heads[name](feature)[1] for name, feature in features.items()}
    symmetric_kl(logits["joint"], logits["global"]).backward()
    assert method.heads["joint"].classifier.weight.grad is None
    assert method.heads["global"].classifier.weight.grad.abs().sum() > 0


def test_dml_pairs_are_teacher_to_student():
    assert parse_dml_pair("joint-to-global") == ("joint", "global")
    assert parse_dml_pair("global-to-fusion") == ("global", "fusion")
    for bad in ("global-to-joint", "joint-to-joint", "joint_global", "fusion"):
        with pytest.raises(ConfigError, match="dml_pairs"):
            parse_dml_pair(bad)


# --- the method: branches, losses, switches ---------------------------------------------------------------------


def test_the_full_training_step_is_eq_13():
    method = _ffdml().train()
    out = method.training_step(_batch())
    parts = out.parts
    assert set(parts) == {"id_global", "id_fusion", "id_joint", "triplet", "kd_joint_global", "kd_joint_fusion"}
    expected = (parts["id_global"] + 0.6 * parts["kd_joint_global"] + parts["id_fusion"]
                + 1.8 * parts["kd_joint_fusion"] + parts["id_joint"] + parts["triplet"])
    assert out.loss.item() == pytest.approx(expected.item(), rel=1e-6)
    assert all(v.item() > 0 for v in parts.values())
    out.loss.backward()
    for name in ("to_weights",):
        assert getattr(method.fusion, name).weight.grad.abs().sum() > 0
    assert all(head.classifier.weight.grad.abs().sum() > 0 for head in method.heads.values())


@pytest.mark.parametrize(
    ("options", "parts", "weights"),
    [
        # Table 1 baseline: GeM, BN, FC on the global branch, CE + WRT.
        ({"fusion": False, "dml": False}, {"id_global", "triplet"}, {}),
        # Table 1 "Baseline+Fusion" / Table 3 "L_id" / Table 4 "None".
        ({"dml": False}, {"id_global", "id_fusion", "id_joint", "triplet"}, {}),
        # Table 3 "none": no classification loss on the global and fusion branches.
        ({"dml": False, "branch_id": False}, {"id_joint", "triplet"}, {}),
        # Table 3 "L_KD": mutual learning alone on those branches, unweighted.
        ({"branch_id": False, "lsr": False}, {"id_joint", "triplet", "kd_joint_global", "kd_joint_fusion"},
         {"kd_joint_global": 1.0, "kd_joint_fusion": 1.0}),
        # Table 3 "L_id+L_KD".
        ({"lsr": False}, {"id_global", "id_fusion", "id_joint", "triplet", "kd_joint_global", "kd_joint_fusion"},
         {"kd_joint_global": 1.0, "kd_joint_fusion": 1.0}),
        # Table 4 rows.
        ({"dml_pairs": ("global-to-fusion",)}, {"id_global", "id_fusion", "id_joint", "triplet",
                                                 "kd_global_fusion"}, {"kd_global_fusion": 1.8}),
        ({"dml_pairs": ("joint-to-global",)}, {"id_global", "id_fusion", "id_joint", "triplet", "kd_joint_global"},
         {"kd_joint_global": 0.6}),
        ({"dml_pairs": ("joint-to-fusion",)}, {"id_global", "id_fusion", "id_joint", "triplet", "kd_joint_fusion"},
         {"kd_joint_fusion": 1.8}),
    ],
)
def test_switches_select_the_loss_terms_and_their_weights(options, parts, weights):
    method = _ffdml(**options).train()
    out = method.training_step(_batch())
    assert set(out.parts) == parts
    total = sum(weights.get(name, 1.0) * value for name, value in out.parts.items())
    assert out.loss.item() == pytest.approx(total.item(), rel=1e-6)


def test_switches_change_only_what_they_name():
    full = _ffdml()
    count = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    # The loss switches build the same network, weight for weight.
    for options in ({"dml": False}, {"branch_id": False}, {"lsr": False}, {"rcc": False, "cre": False}):
        other = _ffdml(**options)
        assert all(torch.equal(a, b) for a, b in zip(full.state_dict().values(), other.state_dict().values()))
    # Without fusion: the backbone and the global neck only, equal to the full method's.
    baseline = _ffdml(fusion=False, dml=False)
    assert set(baseline.heads) == {"global"} and not hasattr(baseline, "fusion")
    added = count(full.fusion) + count(full.heads["fusion"]) + count(full.heads["joint"])
    assert count(full) - count(baseline) == added
    assert all(torch.equal(a, b) for a, b in zip(full.backbone.state_dict().values(),
                                                  baseline.backbone.state_dict().values()))
    # Augmentations: RCC on the visible view only, CRE on both.
    names = lambda c: [type(t).__name__ for t in c.transforms]  # noqa: E731
    views = {k: names(v.transform) for k, v in _ffdml(rcc=False).train_views(64, 32).items()}
    assert "RandomChannelCombination" not in views["visible"] and "RandomErasing" in views["infrared"]
    views = {k: names(v.transform) for k, v in _ffdml(cre=False).train_views(64, 32).items()}
    assert views["visible"][-1] == "RandomChannelCombination" and "RandomErasing" not in views["visible"] + views[
        "infrared"]


def test_test_features_are_the_joint_branch():
    method = _ffdml().eval()
    images = torch.randn(3, 3, 64, 32)
    with torch.no_grad():
        features = method.extract(images, next(iter(__import__("reid.data.sample", fromlist=["Modality"]).Modality)))
        joint = method.branch_features([images], [0])["joint"]
    assert torch.equal(features["pool"], joint)
    assert features["bn"].shape == joint.shape


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"fusion": False}, "dml=True needs the fusion branch"),
        ({"fusion": False, "dml": False, "branch_id": False}, "branch_id=False needs fusion"),
        ({"fusion_layers": (1,)}, "fusion_layers"),
        ({"fusion_layers": (3, 1)}, "fusion_layers"),
        ({"fusion_layers": (1, 5)}, "fusion_layers"),
        ({"dml_pairs": ()}, "dml_pairs"),
        ({"fusion_weights": "sum"}, "fusion_weights"),
        ({"theta1": -1.0}, "theta1"),
    ],
)
def test_contradictory_options_are_refused(options, match):
    with pytest.raises(ConfigError, match=match):
        _ffdml(**options)


def test_paper_config_states_the_papers_hyperparameters():
    config = build_config("ffdml", "paper")
    assert (config.data.height, config.data.width) == (288, 144)
    assert (config.data.num_ids_per_batch, config.data.num_per_id) == (8, 4)
    o = config.optim
    assert (o.optimizer, o.lr, o.momentum, o.weight_decay, o.epochs, o.milestones, o.gamma) == (
        "sgd", 0.1, 0.9, 5e-4, 80, (20, 50), 0.1)
    assert config.model.arch == "resnet50" and not config.model.non_local and config.model.last_stride == 1
    opts = config.method_options
    assert (opts["theta1"], opts["theta2"], opts["fusion_layers"]) == (0.6, 1.8, (1, 2, 3))
    assert opts["dml_pairs"] == ("joint-to-global", "joint-to-fusion")
    assert all(opts[k] for k in ("rcc", "cre", "fusion", "dml", "branch_id", "lsr"))
