"""The shared integer checks, and the constructors that use them naming the argument they reject."""

from __future__ import annotations

import argparse

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from reid.checks import check_integer, check_positive_integer, check_range, positive_int_argument
from reid.data.pipeline import PairBatchSampler
from reid.data.samplers import IdentitySampler, frame_chunks
from reid.data.transforms.erasing import RandomErasing
from reid.data.transforms.geometry import ExpectSize, RandomCrop
from reid.data.transforms.patch_mask import masked_patch_count, patch_grid
from reid.errors import ConfigError
from reid.layers.mask_token import MaskToken
from reid.layers.pixel_decoder import LinearPixelDecoder


@given(low=st.integers(-5, 5), offset=st.integers(0, 1000))
def test_integers_at_or_above_the_bound_pass_as_int(low: int, offset: int) -> None:
    value = check_integer("n", np.int64(low + offset), low)
    assert value == low + offset and type(value) is int


@given(low=st.integers(-5, 5), below=st.integers(1, 1000))
def test_integers_below_the_bound_fail_naming_the_argument(low: int, below: int) -> None:
    with pytest.raises(ConfigError, match=rf"^n: expected .*, got {low - below}$"):
        check_integer("n", low - below, low)


@pytest.mark.parametrize("value", [True, False, 1.0, 2.5, "3", None])
def test_non_integers_fail(value: object) -> None:
    with pytest.raises(ConfigError, match="count: expected a positive integer"):
        check_positive_integer("count", value)


def test_upper_bound_is_inclusive_and_named() -> None:
    assert check_positive_integer("n", 9, 9) == 9
    with pytest.raises(ConfigError, match=r"n: expected an integer in 1\.\.9, got 10"):
        check_positive_integer("n", 10, 9)


def test_range_is_an_ordered_pair_within_bounds() -> None:
    assert check_range("frames", [2, 5], 9) == (2, 5)
    for bad in ((5, 2), (0, 3), (1, 10), (1,), (1, 2.0), 3):
        with pytest.raises(ConfigError, match="frames: expected"):
            check_range("frames", bad, 9)


@pytest.mark.parametrize(
    ("build", "name"),
    [
        (lambda v: MaskToken(size=v), "MaskToken.size"),
        (lambda v: MaskToken(size=4, channels=v), "MaskToken.channels"),
        (lambda v: LinearPixelDecoder(8, v, generator=torch.Generator()), "LinearPixelDecoder.stride"),
        (lambda v: patch_grid(64, v, 8), "patch_grid.width"),
        (lambda v: frame_chunks(10, v), "frame_chunks.seq_len"),
        (lambda v: ExpectSize(v, 32), "ExpectSize.height"),
        (lambda v: RandomCrop(64, v), "RandomCrop.width"),
        (lambda v: RandomErasing(attempts=v), "RandomErasing.attempts"),
    ],
)
@pytest.mark.parametrize("value", [0, True, 2.0])
def test_constructors_reject_non_positive_integers_by_name(build, name: str, value: object) -> None:
    with pytest.raises(ConfigError, match=rf"^{name}: expected a positive integer"):
        build(value)


def test_non_negative_arguments_accept_zero_and_reject_negatives_and_booleans() -> None:
    sampler = IdentitySampler([0, 0, 1, 1], [0, 1], num_ids_per_batch=2, num_per_id=1,
                              generator=torch.Generator().manual_seed(0))
    sampler.set_epoch(0)
    assert masked_patch_count(0, 0.5) == 0
    assert len(PairBatchSampler(sampler, rank=0, world_size=1)) > 0
    for call, name in (
        (lambda v: sampler.set_epoch(v), "IdentitySampler.set_epoch"),
        (lambda v: masked_patch_count(v, 0.5), "masked_patch_count.num_patches"),
        (lambda v: PairBatchSampler(sampler, rank=v), "PairBatchSampler.rank"),
    ):
        for value in (-1, True, 0.0):
            with pytest.raises(ConfigError, match=rf"^{name}: expected an integer >= 0"):
                call(value)


def test_positive_int_argument_parses_and_refuses() -> None:
    assert positive_int_argument("3") == 3
    for text in ("0", "-2", "1.5", "x"):
        with pytest.raises(argparse.ArgumentTypeError, match="expected an integer >= 1"):
            positive_int_argument(text)
