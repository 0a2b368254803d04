"""Transforms: exact geometry, reference probabilities, pipeline order, and randomness only from the generator.

Frequency checks draw 4000 times from a fixed seed and compare with the stated probabilities by a
chi-square (or exact binomial) test at ALPHA = 1e-4: with a correct implementation and an arbitrary
seed such a check fails with probability 1e-4; a wrong probability (e.g. 1/4 instead of 1/8)
fails it with near certainty at 4000 draws.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.stats
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

import reid.data.transforms as T
from reid.errors import ConfigError

ALPHA = 1e-4
DRAWS = 4000
FAST = settings(max_examples=25, deadline=None)


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def image(height: int = 6, width: int = 5, seed: int = 0, low: float = -3.0, high: float = -2.0) -> torch.Tensor:
    """Random pixels in [low, high): channels differ, and none equals an erasing fill or a normalised value."""
    return low + (high - low) * torch.rand(3, height, width, generator=gen(seed))


def assert_frequencies(counts: dict[str, int], probs: dict[str, float]) -> None:
    """Chi-square goodness of fit; outcomes of probability 0 must never occur."""
    assert set(counts) <= set(probs), f"unexpected outcomes {set(counts) - set(probs)}"
    for name, p in probs.items():
        if p == 0:
            assert counts.get(name, 0) == 0, name
    names = [n for n, p in probs.items() if p > 0]
    observed = np.array([counts.get(n, 0) for n in names], dtype=float)
    expected = np.array([probs[n] for n in names]) * observed.sum()
    if len(names) > 1:
        assert scipy.stats.chisquare(observed, expected).pvalue > ALPHA, (counts, probs)


def assert_rate(hits: int, n: int, p: float) -> None:
    assert scipy.stats.binomtest(hits, n, p).pvalue > ALPHA, (hits, n, p)


def classify(out: torch.Tensor, candidates: dict[str, torch.Tensor]) -> str:
    matches = [name for name, c in candidates.items() if torch.allclose(out, c, atol=1e-6)]
    assert len(matches) == 1, f"output matches {matches}"
    return matches[0]


def outcome_counts(transform: T.Transform, x: torch.Tensor, candidates: dict[str, torch.Tensor]) -> dict[str, int]:
    g = gen(1234)
    counts: dict[str, int] = {}
    for _ in range(DRAWS):
        name = classify(transform(x, g), candidates)
        counts[name] = counts.get(name, 0) + 1
    return counts


def caj_gray(x: torch.Tensor) -> torch.Tensor:
    return (0.2989 * x[0] + 0.5870 * x[1] + 0.1140 * x[2]).expand(3, -1, -1)


def rep(x: torch.Tensor, c: int) -> torch.Tensor:
    return x[c].expand(3, -1, -1)


RANDOM_TRANSFORMS = [
    T.RandomCrop(4, 3),
    T.RandomHorizontalFlip(),
    T.RandomErasing(),
    T.ChannelExchange(gray=3),
    T.ChannelAdapGray(),
    T.MscmnetChannelAdapGray(),
    T.ChannelT(),
    T.RandomChannelCombination(),
    T.RandomGrayscale(),
    T.ColorJitter(brightness=0.5, contrast=0.5),
    T.GaussianBlur(kernel_size=3),
    T.RandomApply(T.RandomHorizontalFlip(p=1.0), 0.5),
]


# ---------------------------------------------------------------- entry from Pillow


def test_to_tensor_is_uint8_over_255_in_chw() -> None:
    pixels = np.random.default_rng(0).integers(0, 256, size=(7, 5, 3), dtype=np.uint8)
    x = T.to_tensor(Image.fromarray(pixels))
    assert x.shape == (3, 7, 5) and x.dtype == torch.float32
    assert torch.equal(x, torch.from_numpy(pixels).permute(2, 0, 1).float() / 255)
    with pytest.raises(ConfigError, match="RGB"):
        T.to_tensor(Image.fromarray(pixels[..., 0]))


def test_resize_takes_height_width_and_lanczos_by_default() -> None:
    img = Image.fromarray(np.random.default_rng(1).integers(0, 256, size=(40, 30, 3), dtype=np.uint8))
    out = T.resize(img, (16, 8))
    assert out.size == (8, 16)
    assert np.array_equal(np.asarray(out), np.asarray(img.resize((8, 16), Image.Resampling.LANCZOS)))
    bilinear = T.resize(img, (16, 8), resample=T.BILINEAR)
    assert np.array_equal(np.asarray(bilinear), np.asarray(img.resize((8, 16), Image.Resampling.BILINEAR)))
    with pytest.raises(ConfigError, match="height, width"):
        T.resize(img, (16, 0))


# ---------------------------------------------------------------- the interface


@pytest.mark.parametrize("transform", RANDOM_TRANSFORMS, ids=lambda t: type(t).__name__)
def test_randomness_comes_only_from_the_generator(transform: T.Transform) -> None:
    x = image(8, 6, low=0.1, high=0.9)
    before = x.clone()
    state = torch.random.get_rng_state()
    first = [transform(x, gen(seed)) for seed in range(20)]
    again = [transform(x, gen(seed)) for seed in range(20)]
    assert torch.equal(torch.random.get_rng_state(), state)
    assert torch.equal(x, before), "input changed in place"
    assert all(torch.equal(a, b) for a, b in zip(first, again))
    assert any(not torch.equal(first[0], f) for f in first[1:]), "no variation across seeds"
    assert all(f.dtype == x.dtype for f in first)
    with pytest.raises(ConfigError, match="torch.Generator"):
        transform(x, None)


@pytest.mark.parametrize(
    "bad", [torch.zeros(6, 5), torch.zeros(1, 6, 5), torch.zeros(3, 6, 5, dtype=torch.uint8), np.zeros((3, 6, 5))]
)
def test_bad_inputs_are_refused(bad: object) -> None:
    with pytest.raises(ConfigError, match=r"\(3, H, W\) float tensor"):
        T.ChannelExchange()(bad, gen(0))  # type: ignore[arg-type]


@FAST
@given(h=st.integers(3, 20), w=st.integers(3, 20), seed=st.integers(0, 2**31))
def test_shape_preserving_transforms_keep_shape_and_dtype(h: int, w: int, seed: int) -> None:
    x = image(h, w, seed, low=0.0, high=1.0).double()
    for t in RANDOM_TRANSFORMS[1:] + [T.Normalize(), T.ExpectSize(h, w)]:
        out = t(x, gen(seed))
        assert out.shape == (3, h, w) and out.dtype == torch.float64, type(t).__name__


def test_compose_passes_one_generator_through() -> None:
    pipeline = T.Compose(T.RandomHorizontalFlip(), T.ChannelExchange())
    x = image()
    g = gen(5)
    manual = T.ChannelExchange()(T.RandomHorizontalFlip()(x, g), g)
    assert torch.equal(pipeline(x, gen(5)), manual)
    assert T.Compose(T.Normalize()).is_random is False and pipeline.is_random
    assert T.Compose(T.Normalize())(x, None).shape == x.shape
    with pytest.raises(ConfigError, match="Transform"):
        T.Compose(lambda x, g: x)  # type: ignore[arg-type]


# ---------------------------------------------------------------- geometry


@FAST
@given(h=st.integers(1, 12), w=st.integers(1, 12), pad=st.integers(0, 10))
def test_pad_surrounds_the_image_with_zeros(h: int, w: int, pad: int) -> None:
    x = image(h, w)
    out = T.Pad(pad)(x, None)
    assert out.shape == (3, h + 2 * pad, w + 2 * pad)
    assert torch.equal(out[:, pad : pad + h, pad : pad + w], x)
    border = torch.ones_like(out, dtype=torch.bool)
    border[:, pad : pad + h, pad : pad + w] = False
    assert torch.all(out[border] == 0)


@FAST
@given(h=st.integers(1, 10), w=st.integers(1, 10), dh=st.integers(0, 6), dw=st.integers(0, 6), seed=st.integers(0, 99))
def test_random_crop_cuts_the_sampled_window(h: int, w: int, dh: int, dw: int, seed: int) -> None:
    x = image(h + dh, w + dw)
    crop = T.RandomCrop(h, w)
    top, left = crop.sample_offset(h + dh, w + dw, gen(seed))
    assert 0 <= top <= dh and 0 <= left <= dw
    assert torch.equal(crop(x, gen(seed)), x[:, top : top + h, left : left + w])


def test_random_crop_offsets_are_uniform_and_too_small_images_fail() -> None:
    crop = T.RandomCrop(5, 4)
    g = gen(3)
    counts: dict[str, int] = {}
    for _ in range(DRAWS):
        key = str(crop.sample_offset(8, 6, g))
        counts[key] = counts.get(key, 0) + 1
    assert_frequencies(counts, {str((top, left)): 1 / 12 for top in range(4) for left in range(3)})
    with pytest.raises(ConfigError, match="at least 5 x 4"):
        crop(image(4, 4), gen(0))


def test_flip_mirrors_half_of_the_time() -> None:
    x = image()
    counts = outcome_counts(T.RandomHorizontalFlip(), x, {"flip": x.flip(-1), "same": x})
    assert_frequencies(counts, {"flip": 0.5, "same": 0.5})
    assert torch.equal(T.hflip(T.hflip(x)), x) and torch.equal(T.hflip(x)[:, :, 0], x[:, :, -1])


def test_expect_size_names_the_expected_size() -> None:
    with pytest.raises(ConfigError, match=r"\(3, 8, 4\).*got \(3, 8, 5\)"):
        T.ExpectSize(8, 4)(image(8, 5), None)


def test_normalize_uses_imagenet_statistics() -> None:
    x = image(low=0.0, high=1.0)
    mean = torch.tensor([0.485, 0.456, 0.406]).view(3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(3, 1, 1)
    assert torch.allclose(T.Normalize()(x, None), (x - mean) / std)


# ---------------------------------------------------------------- random erasing


def erasing_bounds_hold(box: tuple[int, int, int, int], height: int, width: int, e: T.RandomErasing) -> bool:
    top, left, h, w = box
    area = height * width

    def slack(target: float) -> float:
        # h and w are rounded square roots: allow the rounding (half a pixel per side), no more.
        return 0.5 * math.sqrt(target) * (math.sqrt(e.r1) + 1 / math.sqrt(e.r1)) + 0.25

    inside = 0 <= top and top + h <= height and 0 <= left and left + w <= width and h < height and w < width
    lo, hi = e.sl * area, e.sh * area
    area_ok = lo - slack(lo) <= h * w <= hi + slack(hi)
    aspect_ok = h == 0 or w == 0 or ((h - 0.5) / (w + 0.5) <= 1 / e.r1 and (h + 0.5) / max(w - 0.5, 1e-9) >= e.r1)
    return inside and area_ok and aspect_ok


@pytest.mark.parametrize("size", [(288, 144), (24, 12)])
def test_erasing_boxes_respect_area_aspect_and_probability(size: tuple[int, int]) -> None:
    e = T.RandomErasing(p=0.5)
    g = gen(7)
    boxes = [e.sample_box(*size, g) for _ in range(DRAWS)]
    erased = [b for b in boxes if b is not None]
    assert_rate(len(erased), DRAWS, 0.5)
    assert all(erasing_bounds_hold(b, *size, e) for b in erased)
    fractions = np.array([b[2] * b[3] for b in erased]) / (size[0] * size[1])
    assert fractions.min() < 0.05 and fractions.max() > 0.3, "areas do not span [sl, sh]"
    # Offsets are inclusive on both ends (random.randint): boxes reach every border.
    assert any(t == 0 for t, _, _, _ in erased) and any(t + h == size[0] for t, _, h, _ in erased)
    assert any(left == 0 for _, left, _, _ in erased) and any(left + w == size[1] for _, left, _, w in erased)


def test_erasing_fills_exactly_the_sampled_box_with_the_fill_values() -> None:
    x = image(24, 12)
    e = T.RandomErasing(p=1.0)
    for seed in range(30):
        top, left, h, w = e.sample_box(24, 12, gen(seed))  # type: ignore[misc]
        out = e(x, gen(seed))
        mask = torch.zeros(24, 12, dtype=torch.bool)
        mask[top : top + h, left : left + w] = True
        assert torch.equal(out[:, ~mask], x[:, ~mask])
        assert torch.allclose(out[:, mask], torch.tensor(T.ZHONG_FILL).view(3, 1).expand(3, int(mask.sum())))
    assert torch.equal(T.RandomErasing(p=0.0)(x, gen(0)), x)
    bot = T.RandomErasing(p=1.0, fill=T.IMAGENET_MEAN)(x, gen(0))
    assert torch.isclose(bot, torch.tensor(T.IMAGENET_MEAN).view(3, 1, 1)).all(0).any()


def test_erasing_rejects_bad_parameters() -> None:
    with pytest.raises(ConfigError, match="sl <= sh"):
        T.RandomErasing(sl=0.5, sh=0.4)
    with pytest.raises(ConfigError, match="probability"):
        T.RandomErasing(p=1.5)


# ---------------------------------------------------------------- channel transforms


def test_channel_exchange_gray2_picks_r_g_b_uniformly() -> None:
    x = image()
    cands = {"R": rep(x, 0), "G": rep(x, 1), "B": rep(x, 2), "gray": caj_gray(x)}
    probs = {"R": 1 / 3, "G": 1 / 3, "B": 1 / 3, "gray": 0}
    assert_frequencies(outcome_counts(T.ChannelExchange(gray=2), x, cands), probs)


def test_channel_exchange_gray3_adds_caj_luminance() -> None:
    x = image()
    cands = {"R": rep(x, 0), "G": rep(x, 1), "B": rep(x, 2), "gray": caj_gray(x)}
    assert_frequencies(outcome_counts(T.ChannelExchange(gray=3), x, cands), {k: 0.25 for k in cands})


def test_channel_adap_gray_probabilities() -> None:
    x = image()
    cands = {"R": rep(x, 0), "G": rep(x, 1), "B": rep(x, 2), "gray": caj_gray(x), "same": x}
    probs = {"R": 1 / 4, "G": 1 / 4, "B": 1 / 4, "gray": 1 / 8, "same": 1 / 8}
    assert_frequencies(outcome_counts(T.ChannelAdapGray(p=0.5), x, cands), probs)


def test_mscmnet_channel_adap_gray_probabilities() -> None:
    x = image()
    cands = {"R": rep(x, 0), "G": rep(x, 1), "B": rep(x, 2), "gray": caj_gray(x), "same": x}
    probs = {"R": 0, "G": 1 / 2, "B": 0, "gray": 1 / 4, "same": 1 / 4}
    assert_frequencies(outcome_counts(T.MscmnetChannelAdapGray(p=0.5), x, cands), probs)


def test_rcc_picks_each_of_seven_images_with_probability_one_seventh() -> None:
    x = image()
    orders = {
        "RGB": (0, 1, 2), "RBG": (0, 2, 1), "BGR": (2, 1, 0), "BRG": (2, 0, 1), "GBR": (1, 2, 0), "GRB": (1, 0, 2)
    }
    cands = {name: x[list(order)] for name, order in orders.items()} | {"gray": caj_gray(x)}
    assert_frequencies(outcome_counts(T.RandomChannelCombination(), x, cands), {k: 1 / 7 for k in cands})
    assert T.RCC_ORDERS == tuple(orders.values())


def test_random_grayscale_uses_pillow_weights_half_of_the_time() -> None:
    x = image()
    pil_gray = (0.299 * x[0] + 0.587 * x[1] + 0.114 * x[2]).expand(3, -1, -1)
    counts = outcome_counts(T.RandomGrayscale(p=0.5), x, {"gray": pil_gray, "same": x})
    assert_frequencies(counts, {"gray": 0.5, "same": 0.5})


def test_channel_t_scales_each_channel_by_2u_half_of_the_time() -> None:
    x = image(low=0.5, high=1.0)
    t = T.ChannelT(p=0.5)
    g = gen(11)
    factors = []
    for _ in range(DRAWS):
        out = t(x, g)
        if torch.equal(out, x):
            continue
        ratio = out / x
        per_channel = ratio.flatten(1).mean(1)
        assert torch.allclose(ratio, per_channel.view(3, 1, 1).expand_as(ratio), atol=1e-5)
        factors.extend(per_channel.tolist())
    assert_rate(len(factors) // 3, DRAWS, 0.5)
    assert scipy.stats.kstest(factors, scipy.stats.uniform(loc=0.02, scale=0.98).cdf).pvalue > ALPHA


# ---------------------------------------------------------------- photometric


def test_brightness_jitter_multiplies_by_a_factor_in_half_to_three_halves() -> None:
    x = image(low=0.1, high=0.6)  # x * 1.5 < 1: nothing clamps, so the factor is recoverable
    t = T.ColorJitter(brightness=0.5)
    g = gen(2)
    factors = []
    for _ in range(1000):
        ratio = t(x, g) / x
        assert torch.allclose(ratio, ratio.mean().expand_as(ratio), atol=1e-5)
        factors.append(ratio.mean().item())
    assert scipy.stats.kstest(factors, scipy.stats.uniform(loc=0.5, scale=1.0).cdf).pvalue > ALPHA


def test_contrast_jitter_scales_around_the_mean_luminance() -> None:
    x = image(low=0.4, high=0.6)
    m = (0.299 * x[0] + 0.587 * x[1] + 0.114 * x[2]).mean()
    g = gen(4)
    for _ in range(50):
        ratio = (T.ColorJitter(contrast=0.5)(x, g) - m) / (x - m)
        f = ratio.median()
        assert 0.5 <= f <= 1.5 and torch.allclose(ratio, f.expand_as(ratio), atol=1e-3)
    assert torch.equal(T.adjust_brightness(torch.full((3, 2, 2), 0.8), 1.5), torch.ones(3, 2, 2))


def test_gaussian_blur_matches_torchvision_at_the_drawn_sigma() -> None:
    import torchvision.transforms.functional as TF  # after `import reid`, which loads torchvision through its shim

    x = image(9, 7, low=0.0, high=1.0)
    for seed in range(5):
        sigma = 0.1 + 1.9 * torch.rand((), generator=gen(seed), dtype=torch.float64).item()
        expected = TF.gaussian_blur(x, [5, 5], [sigma, sigma])
        assert torch.allclose(T.GaussianBlur(5)(x, gen(seed)), expected, atol=1e-5)
    with pytest.raises(ConfigError, match="odd"):
        T.GaussianBlur(4)


def test_random_apply_rate() -> None:
    x = image()
    counts = outcome_counts(T.RandomApply(T.RandomHorizontalFlip(p=1.0), 0.3), x, {"flip": x.flip(-1), "same": x})
    assert_frequencies(counts, {"flip": 0.3, "same": 0.7})


# ---------------------------------------------------------------- recipes


def names(pipeline: T.Compose) -> list[str]:
    return [type(t).__name__ for t in pipeline.transforms]


GEOMETRY = ["ExpectSize", "Pad", "RandomCrop", "RandomHorizontalFlip"]
CAJ_BASE = GEOMETRY + ["Normalize", "RandomErasing"]


def test_recipes_mirror_the_reference_order() -> None:
    caj = T.caj_train_views(32, 16)
    assert names(caj.rgb) == CAJ_BASE
    assert names(caj.rgb_exchanged) == CAJ_BASE + ["ChannelExchange"]
    assert names(caj.ir) == CAJ_BASE + ["ChannelAdapGray"]
    assert caj.rgb_exchanged.transforms[-1] == T.ChannelExchange(gray=2)
    m = T.mscmnet_train_views(32, 16)
    assert names(m.rgb1) == ["ExpectSize", "RandomGrayscale"] + CAJ_BASE[1:]
    assert names(m.rgb2) == CAJ_BASE + ["ChannelExchange"]
    assert names(m.ir1) == CAJ_BASE + ["MscmnetChannelAdapGray"]
    assert names(m.ir2) == ["ExpectSize", "ColorJitter"] + CAJ_BASE[1:] + ["ChannelT"]
    assert m.ir2.transforms[1] == T.ColorJitter(brightness=0.5)
    assert names(T.agw_train(32, 16)) == GEOMETRY + ["Normalize"]
    assert names(T.mitml_frame_train(32, 16)) == GEOMETRY + ["Normalize"]
    assert names(T.ffdml_visible_train(32, 16)) == CAJ_BASE + ["RandomChannelCombination"]
    assert names(T.ffdml_visible_train(32, 16, rcc_before_normalize=True)) == GEOMETRY + [
        "RandomChannelCombination",
        "Normalize",
        "RandomErasing",
    ]
    assert names(T.ffdml_infrared_train(32, 16)) == CAJ_BASE
    # Table 1's switches: without CRE no erasing, without RCC no recombination, both off is AGW's pipeline.
    assert names(T.ffdml_visible_train(32, 16, cre=False)) == GEOMETRY + ["Normalize", "RandomChannelCombination"]
    assert names(T.ffdml_visible_train(32, 16, rcc=False)) == CAJ_BASE
    assert T.ffdml_visible_train(32, 16, rcc=False, cre=False) == T.agw_train(32, 16)
    assert T.ffdml_infrared_train(32, 16, cre=False) == T.agw_train(32, 16)
    xiv = T.xiv_train(32, 16)
    assert names(xiv) == ["ExpectSize", "RandomHorizontalFlip", "Pad", "RandomCrop", "Normalize", "RandomErasing"]
    assert xiv.transforms[-1].fill == T.IMAGENET_MEAN
    cmft = T.cmft_frame_train_views(32, 16)
    assert names(cmft.visible) == CAJ_BASE
    assert names(cmft.infrared) == ["ExpectSize", "ColorJitter", "RandomApply"] + CAJ_BASE[1:]
    assert names(T.eval_transform(32, 16)) == ["ExpectSize", "Normalize"]


def test_recipes_share_their_pieces() -> None:
    caj = T.caj_train_views(32, 16)
    assert caj.rgb.transforms == caj.ir.transforms[:-1] == caj.rgb_exchanged.transforms[:-1]
    assert T.ffdml_infrared_train(32, 16) == caj.rgb
    m = T.mscmnet_train_views(32, 16)
    assert m.rgb2 == caj.rgb_exchanged


def all_views(h: int, w: int) -> list[T.Compose]:
    return [
        T.agw_train(h, w),
        T.eval_transform(h, w),
        *T.caj_train_views(h, w),
        T.cmmp_pretrain_views(h, w).visible,
        T.ffdml_visible_train(h, w),
        T.ffdml_visible_train(h, w, rcc_before_normalize=True),
        T.ffdml_infrared_train(h, w),
        *T.mscmnet_train_views(h, w),
        T.xiv_train(h, w),
        T.mitml_frame_train(h, w),
        *T.cmft_frame_train_views(h, w),
    ]


@FAST
@given(h=st.integers(6, 40), w=st.integers(6, 24), seed=st.integers(0, 2**31))
def test_every_recipe_keeps_the_size_and_refuses_other_sizes(h: int, w: int, seed: int) -> None:
    x = image(h, w, seed, low=0.0, high=1.0)
    state = torch.random.get_rng_state()
    for view in all_views(h, w):
        assert view(x, gen(seed)).shape == (3, h, w)
        with pytest.raises(ConfigError, match="ExpectSize"):
            view(image(h + 1, w, seed), gen(seed))
    assert torch.equal(torch.random.get_rng_state(), state)


def test_caj_exchange_acts_after_normalisation_and_erasing() -> None:
    # A flat 0.5 image normalises to three different values; erasing writes three other values.
    # Exchanging AFTER both leaves three equal channels holding one normalised value or one fill value.
    x = torch.full((3, 32, 16), 0.5)
    normalised = ((0.5 - torch.tensor(T.IMAGENET_MEAN)) / torch.tensor(T.IMAGENET_STD)).tolist()
    view = T.caj_train_views(32, 16).rgb_exchanged
    g = gen(8)
    seen = set()
    for _ in range(300):
        out = view(x, g)
        assert torch.equal(out[0], out[1]) and torch.equal(out[1], out[2])
        values = out[0].unique().tolist()
        k = next(c for c in range(3) if any(abs(v - normalised[c]) < 1e-6 for v in values))
        allowed = [normalised[k], T.ZHONG_FILL[k], 0.0 - T.IMAGENET_MEAN[k] / T.IMAGENET_STD[k]]  # padding is 0
        assert all(any(abs(v - a) < 1e-6 for a in allowed) for v in values)
        seen.add(k)
    assert seen == {0, 1, 2}


def test_cmmp_generated_image_is_the_exchanged_visible_view() -> None:
    views = T.cmmp_pretrain_views(32, 16)
    x = image(32, 16, low=0.0, high=1.0)
    g = gen(9)
    visible = views.visible(x, g)
    generated = views.exchange(visible, g)
    assert any(torch.equal(generated, rep(visible, c)) for c in range(3))


# ---------------------------------------------------------------- clips


def test_transform_clip_independent_or_shared_frames() -> None:
    frame = image(16, 8, low=0.0, high=1.0)
    clip = frame.expand(6, -1, -1, -1).clone()
    pipeline = T.mitml_frame_train(16, 8)
    shared = T.transform_clip(pipeline, clip, gen(0), shared=True)
    independent = T.transform_clip(pipeline, clip, gen(0))
    assert shared.shape == independent.shape == (6, 3, 16, 8)
    assert all(torch.equal(shared[0], s) for s in shared[1:])
    assert any(not torch.equal(independent[0], s) for s in independent[1:])
    assert torch.equal(T.transform_clip(pipeline, clip, gen(0)), independent)
    with pytest.raises(ConfigError, match=r"\[S, 3, H, W\]"):
        T.transform_clip(pipeline, frame, gen(0))
