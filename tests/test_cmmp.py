"""CMMP (cmmp.txt): the patch mask and its count rule, the mask token, the linear decoder, Eq. 1, the two stages."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from reid.config import fingerprint
from reid.data.transforms.patch_mask import (
    RandomPatchMask,
    draw_patch_mask,
    masked_patch_count,
    patch_grid,
    scaled_mask_size,
)
from reid.errors import ConfigError
from reid.layers.mask_token import MaskToken
from reid.layers.pixel_decoder import LinearPixelDecoder
from reid.losses.reconstruction import masked_l1
from reid.methods import create_method
from reid.methods.base import TrainBatch
from reid.methods.cmmp import CMMP, TARGETS, CMMPPretrainer, PretrainOptions
from reid.profiles import build_config

sides = st.integers(min_value=1, max_value=40)
ratios = st.sampled_from([0.0, 0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 1.0]) | st.floats(0.0, 1.0)


# --- the mask generator (Sec. 3.1) ------------------------------------------------------------------------------


def test_count_rule_is_ceil_of_ratio_times_cells():
    # 18 x 9 = 162 cells at 288 x 144 with s = 16: ceil(0.8 * 162) = ceil(129.6) = 130.
    assert patch_grid(288, 144, 16) == (18, 9)
    assert masked_patch_count(162, 0.8) == 130
    # A product that is an integer on paper is not pushed up by floating point (0.7 * 10 = 7.000000000000001).
    assert masked_patch_count(10, 0.7) == 7
    assert masked_patch_count(10, 0.75) == 8
    assert masked_patch_count(7, 0.0) == 0 and masked_patch_count(7, 1.0) == 7


def test_border_cells_are_cut_when_the_size_does_not_divide():
    # 64 x 32 with s = 5: ceil(64/5) = 13 rows, ceil(32/5) = 7 columns; the last row is 4 px, the last column 2 px.
    assert patch_grid(64, 32, 5) == (13, 7)
    mask = draw_patch_mask(64, 32, 5, 1.0, torch.Generator().manual_seed(0))
    assert mask.shape == (64, 32) and bool(mask.all())


@settings(max_examples=60, deadline=None)
@given(height=sides, width=sides, size=st.integers(1, 12), ratio=ratios, seed=st.integers(0, 2**31 - 1))
def test_mask_has_the_stated_count_of_aligned_squares(height, width, size, ratio, seed):
    mask = draw_patch_mask(height, width, size, ratio, torch.Generator().manual_seed(seed))
    rows, cols = patch_grid(height, width, size)
    assert mask.shape == (height, width) and mask.dtype == torch.bool
    # Every grid cell is all masked or all unmasked: the mask is a union of aligned s x s squares (cut at borders).
    cells = [[mask[r * size:(r + 1) * size, c * size:(c + 1) * size] for c in range(cols)] for r in range(rows)]
    states = [bool(cell.all()) for row in cells for cell in row]
    assert all(bool(cell.all()) or not bool(cell.any()) for row in cells for cell in row)
    assert sum(states) == masked_patch_count(rows * cols, ratio)


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), ratio=ratios)
def test_mask_is_reproducible_from_its_generator(seed, ratio):
    a = draw_patch_mask(48, 24, 4, ratio, torch.Generator().manual_seed(seed))
    b = draw_patch_mask(48, 24, 4, ratio, torch.Generator().manual_seed(seed))
    assert torch.equal(a, b)


def test_different_generators_give_different_masks():
    masks = {tuple(draw_patch_mask(64, 32, 4, 0.5, torch.Generator().manual_seed(s)).flatten().tolist())
             for s in range(20)}
    assert len(masks) == 20


def test_coverage_is_roughly_uniform_over_many_draws():
    # 16 x 8 cells; 2,000 draws at r = 0.8: each cell is masked with probability ceil(0.8 * 128) / 128 = 103 / 128.
    g = torch.Generator().manual_seed(0)
    draws = 2000
    hits = sum(draw_patch_mask(64, 32, 4, 0.8, g)[::4, ::4].to(torch.float64) for _ in range(draws)) / draws
    p = masked_patch_count(128, 0.8) / 128
    sigma = math.sqrt(p * (1 - p) / draws)
    assert float((hits - p).abs().max()) < 5 * sigma
    # No centre bias: the central cells are masked as often as the border ones.
    assert abs(float(hits[4:12, 2:6].mean() - hits.mean())) < 3 * sigma


def test_the_same_mask_reaches_all_three_images():
    method = _pretrainer()
    views = method.train_views(64, 32)
    assert views["mask"].source == "visible" and views["generated"].source == "visible"
    batch = _batch()
    calls = []
    original = method.mask_token.forward

    def spy(images, mask):
        calls.append(mask)
        return original(images, mask)

    method.mask_token.forward = spy
    method.training_step(batch)
    assert len(calls) == 3 and all(m is calls[0] for m in calls)


def test_random_patch_mask_view_is_one_channel_of_the_input_size():
    mask = RandomPatchMask(4, 0.8)(torch.rand(3, 64, 32), torch.Generator().manual_seed(0))
    assert mask.shape == (1, 64, 32) and set(mask.unique().tolist()) <= {0.0, 1.0}
    with pytest.raises(ConfigError, match="torch.Generator"):
        RandomPatchMask(4, 0.8)(torch.rand(3, 64, 32), None)
    with pytest.raises(ConfigError, match="ratio"):
        RandomPatchMask(4, 1.2)


def test_mask_sizes_are_stated_at_288_and_scale_with_the_input():
    assert scaled_mask_size(16, 288) == 16
    assert [scaled_mask_size(s, 64) for s in (8, 12, 16, 18, 24, 36)] == [2, 3, 4, 4, 5, 8]
    assert scaled_mask_size(16, 64, None) == 16
    assert scaled_mask_size(1, 16) == 1


# --- mask token and decoder (Sec. 3.1, 3.3) ------------------------------------------------------------------------


def test_mask_token_replaces_exactly_the_masked_pixels():
    token = MaskToken(2)
    with torch.no_grad():
        token.token.copy_(torch.arange(12, dtype=torch.float32).view(3, 2, 2))
    images = torch.full((1, 3, 4, 5), -7.0)
    mask = torch.zeros(1, 1, 4, 5)
    mask[..., 0:2, 2:4] = 1
    mask[..., 2:4, 4:5] = 1  # a border cell cut to one column
    out = token(images, mask)
    assert torch.equal(out[0, :, 0:2, 2:4], token.token.detach())
    assert torch.equal(out[0, :, 2:4, 4], token.token.detach()[:, :, 0])
    assert bool((out[mask.expand_as(out) == 0] == -7.0).all())


def test_gradients_reach_the_mask_token_and_the_decoder():
    method = _pretrainer()
    out = method.training_step(_batch())
    out.loss.backward()
    assert method.mask_token.token.grad is not None and method.mask_token.token.grad.abs().sum() > 0
    assert method.decoder.proj.weight.grad.abs().sum() > 0
    assert method.net.backbone.stems[0].conv1.weight.grad.abs().sum() > 0


def test_decoder_is_one_linear_map_per_location_to_full_resolution():
    decoder = LinearPixelDecoder(8, 4, generator=torch.Generator().manual_seed(0))
    assert [type(m).__name__ for m in decoder.children()] == ["Conv2d", "PixelShuffle"]
    assert decoder.proj.kernel_size == (1, 1)
    features = torch.randn(2, 8, 3, 2)
    pixels = decoder(features, 12, 8)
    assert pixels.shape == (2, 3, 12, 8)
    # The 4 x 4 cell over location (1, 0) depends on that location's feature alone.
    changed = features.clone()
    changed[:, :, 2, 1] += 1.0
    other = decoder(changed, 12, 8)
    assert torch.equal(other[:, :, 4:8, 0:4], pixels[:, :, 4:8, 0:4])
    assert not torch.equal(other[:, :, 8:12, 4:8], pixels[:, :, 8:12, 4:8])
    # Sizes not divisible by the stride: the map has ceil(H / r) rows and the output is cut.
    assert decoder(features, 10, 7).shape == (2, 3, 10, 7)
    with pytest.raises(ConfigError, match="cannot cover"):
        decoder(features, 13, 8)


def test_pretrainer_reconstructs_every_image_at_full_resolution():
    method = _pretrainer()
    batch = _batch()
    out = method.reconstruct(batch.views, batch.views["mask"])
    assert set(out) == {"visible", "generated", "infrared"}
    assert all(v.shape == (4, 3, 64, 32) for v in out.values())


# --- Eq. 1 (Sec. 3.4) ----------------------------------------------------------------------------------------------


def test_loss_is_zero_for_a_perfect_reconstruction():
    x = torch.randn(2, 3, 4, 4)
    mask = (torch.rand(2, 1, 4, 4, generator=torch.Generator().manual_seed(0)) > 0.5).float()
    assert masked_l1([x], [x.clone()], mask) == 0
    assert masked_l1([x], [x.clone()], mask, area="whole") == 0


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**31 - 1))
def test_mask_area_ignores_unmasked_pixels(seed):
    g = torch.Generator().manual_seed(seed)
    target = torch.randn(2, 3, 6, 4, generator=g)
    prediction = torch.randn(2, 3, 6, 4, generator=g)
    mask = (torch.rand(2, 1, 6, 4, generator=g) > 0.5).float()
    mask[0, 0, 0, 0] = 1.0
    changed = prediction + (1 - mask) * torch.randn(2, 3, 6, 4, generator=g) * 10
    assert torch.allclose(masked_l1([prediction], [target], mask), masked_l1([changed], [target], mask))
    assert not torch.allclose(masked_l1([prediction], [target], mask, area="whole"),
                              masked_l1([changed], [target], mask, area="whole"))


def test_loss_equals_a_hand_computation():
    # One 1 x 2 x 2 image pair: masked pixels (0, 0) and (1, 1); channels 3.
    target = torch.zeros(1, 3, 2, 2)
    prediction = torch.zeros(1, 3, 2, 2)
    prediction[0, :, 0, 0] = torch.tensor([1.0, -2.0, 3.0])  # |.| sums to 6
    prediction[0, :, 1, 1] = torch.tensor([0.5, 0.5, 0.5])  # sums to 1.5
    prediction[0, :, 0, 1] = 100.0  # unmasked: ignored
    mask = torch.tensor([[[[1.0, 0.0], [0.0, 1.0]]]])
    # (6 + 1.5) / (2 masked pixels x 3 channels) = 1.25
    assert masked_l1([prediction], [target], mask).item() == pytest.approx(1.25)
    # Two targets pool their sums and counts: second target error 0.5 on every masked value -> (7.5 + 3) / 12.
    second = torch.full((1, 3, 2, 2), 0.5)
    assert masked_l1([prediction, second], [target, torch.zeros(1, 3, 2, 2)], mask).item() == pytest.approx(10.5 / 12)
    # Whole image: (6 + 1.5 + 300) / 12.
    assert masked_l1([prediction], [target], mask, area="whole").item() == pytest.approx(307.5 / 12)


def test_loss_refuses_bad_input():
    x = torch.zeros(1, 3, 2, 2)
    with pytest.raises(ConfigError, match="area"):
        masked_l1([x], [x], torch.ones(1, 1, 2, 2), area="border")
    with pytest.raises(ConfigError, match="mask"):
        masked_l1([x], [x], torch.ones(1, 1, 3, 2))


@pytest.mark.parametrize("target", list(TARGETS))
def test_target_switch_selects_the_reconstructed_images(target):
    method = _pretrainer(target=target)
    batch = _batch()
    mask = batch.views["mask"]
    predicted = method.reconstruct(batch.views, mask)
    names = TARGETS[target]
    expected = masked_l1([predicted[n] for n in names], [batch.views[n] for n in names], mask)
    assert torch.allclose(method.training_step(batch).loss, expected)


# --- the two stages ----------------------------------------------------------------------------------------------


def test_paper_configs_carry_the_stated_hyperparameters():
    config = CMMP.paper_config()
    opts, rest = PretrainOptions.split(config.method_options)
    stated = (opts.mask_size, opts.mask_ratio, opts.target, opts.area, opts.pretrain_epochs)
    assert stated == (16, 0.8, "vg", "mask", 400)
    assert rest == {"alpha": 1.0, "gamma": 1.0, "square": 1}
    assert (config.data.height, config.data.width) == (288, 144)
    # "batch size 8, ... 4 visible images and 4 infrared images": CAJ's --batch-size 8 --num_pos 4, the CAJL row's.
    assert (config.data.num_ids_per_batch, config.data.num_per_id) == (8, 4)
    assert config.data == build_config("caj", "paper").data
    assert config.model.arch == "resnet50" and config.model.non_local
    assert (config.optim.optimizer, config.optim.lr, config.optim.milestones, config.optim.epochs) == (
        "sgd", 0.1, (20, 50), 100)
    pre = CMMP.pretraining(config)
    assert pre.method == "cmmp_pretrain" and pre.optim.epochs == 400 and pre.optim.milestones == (20, 50)
    # "batch size 128, evenly distributed across 4 GPUs": CAJ's 8 x 4 pairs on each of 4 GPUs.
    assert (pre.data.num_ids_per_batch, pre.data.num_per_id) == (32, 4)
    assert pre.data.num_ids_per_batch * pre.data.num_per_id == 128
    assert CMMPPretrainer.paper_config() == pre


def test_pretraining_data_is_the_fine_tuning_data_unless_switched():
    regdb = build_config("cmmp", "paper", ["data.dataset='regdb'", "data.options={'trial': 3}"])
    assert CMMP.pretraining(regdb).data.dataset == "regdb" and CMMP.pretraining(regdb).data.options == {"trial": 3}
    switched = build_config("cmmp", "paper", ["data.dataset='regdb'", "data.options={'trial': 3}",
                                              "method_options.pretrain_dataset='sysu_mm01'"])
    pre = CMMP.pretraining(switched)
    assert (pre.data.dataset, pre.data.root, dict(pre.data.options)) == ("sysu_mm01", None, {})
    assert (pre.data.num_ids_per_batch, pre.data.num_per_id) == (32, 4)
    # The fine-tuning run is another run (its options differ); its data stay RegDB's.
    assert switched.data.dataset == "regdb" and fingerprint(switched) != fingerprint(regdb)
    smoke = build_config("cmmp", "smoke", ["method_options.pretrain_dataset='sysu_mm01'"])
    assert CMMP.pretraining(smoke).data.dataset == "synthetic"
    with pytest.raises(ConfigError, match="pretrain_dataset"):
        CMMP.pretraining(build_config("cmmp", "paper", ["method_options.pretrain_dataset=''"]))


def test_every_ablation_row_is_an_override():
    base = build_config("cmmp", "smoke")
    for overrides in (["method_options.mask_size=36", "method_options.mask_ratio=0.75"],
                      ["method_options.target='vgi'"], ["method_options.area='whole'"],
                      ["method_options.pretrain_epochs=100"]):
        config = build_config("cmmp", "smoke", overrides)
        assert CMMP.pretraining(config) != CMMP.pretraining(base)
    # Table 5's epochs keep their ratios in the smoke profile: 100..400 -> 1..4.
    assert [CMMP.pretraining(build_config("cmmp", "smoke", [f"method_options.pretrain_epochs={e}"])).optim.epochs
            for e in (100, 200, 300, 400)] == [1, 2, 3, 4]
    with pytest.raises(ConfigError, match="target"):
        CMMP.pretraining(build_config("cmmp", "smoke", ["method_options.target='x'"]))


def test_fine_tuning_variants_share_one_pretraining():
    base = build_config("cmmp", "smoke")
    flipped = build_config("cmmp", "smoke", ["eval.flip=False", "method_options.square=0"])
    assert CMMP.pretraining(base) == CMMP.pretraining(flipped)


def test_fine_tuning_network_loads_the_pretrained_encoder():
    pre = _pretrainer()
    fine = create_method("cmmp", num_classes=4, arch="resnet18", generator=torch.Generator().manual_seed(1))
    assert not torch.equal(fine.net.backbone.layer1[0].conv1.weight, pre.net.backbone.layer1[0].conv1.weight)
    fine.load_pretraining(pre.state_dict())
    for key, value in pre.net.backbone.state_dict().items():
        assert torch.equal(fine.net.backbone.state_dict()[key], value), key
    with pytest.raises(ConfigError, match="backbone"):
        fine.load_pretraining({"decoder.proj.weight": torch.zeros(1)})
    other = CMMPPretrainer(patch_size=4, arch="resnet34", generator=torch.Generator().manual_seed(0))
    with pytest.raises(ConfigError, match="does not fit"):
        fine.load_pretraining(other.state_dict())


def _pretrainer(**options) -> CMMPPretrainer:
    options = {"patch_size": 4, "arch": "resnet18", **options}
    return create_method("cmmp_pretrain", generator=torch.Generator().manual_seed(0), **options)


def _batch(b: int = 4, height: int = 64, width: int = 32, seed: int = 0) -> TrainBatch:
    g = torch.Generator().manual_seed(seed)
    visible = torch.randn(b, 3, height, width, generator=g)
    mask = torch.stack([draw_patch_mask(height, width, 4, 0.8, g) for _ in range(b)]).unsqueeze(1).float()
    views = {"visible": visible, "generated": visible[:, :1].expand(-1, 3, -1, -1).clone(),
             "infrared": torch.randn(b, 3, height, width, generator=g), "mask": mask}
    return TrainBatch(views=views, labels=torch.arange(b) % 2)


def test_engine_runs_the_pretraining_first_and_records_it(tmp_path):
    from reid.config import fingerprint
    from reid.engine.checkpoint import LAST, load_checkpoint
    from reid.engine.record import load_run_record
    from reid.engine.run import run

    config = build_config("cmmp", "smoke", [
        "data.options={'seed': 0, 'num_train_ids': 6, 'num_test_ids': 4, 'images_per_camera': (2, 3)}",
        "data.height=32", "data.width=16", "data.num_ids_per_batch=2", "data.num_per_id=2",
        "optim.epochs=1", "method_options.pretrain_ids_per_batch=2",
        "method_options.pretrain_per_id=2", "method_options.pretrain_epochs=200",
    ])
    record = run(config, out_dir=tmp_path)
    pre_config = CMMP.pretraining(config)
    pre = load_run_record(tmp_path / fingerprint(pre_config) / "record.json")
    assert pre.final_evaluation is None and pre.status == "completed" and len(pre.epochs) == 2
    assert set(pre.epochs[0]["train"]) >= {"loss", "loss_reconstruction"}
    assert [s["fingerprint"] for s in record.stages] == [pre.fingerprint]
    assert record.stages[0]["stage"] == "pretraining" and record.stages[0]["epochs"] == 2
    assert record.total_wall_time_s == pytest.approx(record.wall_time_s + pre.wall_time_s)
    assert record.final_evaluation is not None
    # The fine-tuning network started from the pre-trained encoder: re-building it and loading gives its weights.
    pre_state = load_checkpoint(tmp_path / pre.fingerprint / LAST)["model"]
    fine = create_method("cmmp", num_classes=6, arch="resnet18", non_local_embedding="agw_one",
                         generator=torch.Generator().manual_seed(9))
    fine.load_pretraining(pre_state)
    assert torch.equal(fine.net.backbone.stems[1].conv1.weight, pre_state["net.backbone.stems.1.conv1.weight"])
    # Both runs are cached: a second call trains nothing and returns the same record.
    before = (tmp_path / pre.fingerprint / LAST).stat().st_mtime_ns
    again = run(config, out_dir=tmp_path)
    assert again == record and (tmp_path / pre.fingerprint / LAST).stat().st_mtime_ns == before


def test_a_standalone_paper_pretraining_is_the_run_fine_tuning_reuses():
    # The paper pre-trains on 4 GPUs and fine-tunes on one: `torchrun ... reid.cli train cmmp_pretrain --profile paper`
    # then `reid train cmmp --profile paper` must name the same pre-training run.
    from reid.config import fingerprint

    shared = ["data.root='/data/sysu_mm01'", "model.pretrained='/w/resnet50.pth'"]
    for variant in ([], ["method_options.mask_size=8", "method_options.mask_ratio=0.75"],
                    ["method_options.target='g'"]):
        derived = CMMP.pretraining(build_config("cmmp", "paper", [*shared, *variant]))
        assert fingerprint(build_config("cmmp_pretrain", "paper", [*shared, *variant])) == fingerprint(derived)
    epochs = CMMP.pretraining(build_config("cmmp", "paper", [*shared, "method_options.pretrain_epochs=100"]))
    assert fingerprint(build_config("cmmp_pretrain", "paper", [*shared, "optim.epochs=100"])) == fingerprint(epochs)
