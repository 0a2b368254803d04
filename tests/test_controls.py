"""Broken controls: what each one breaks, that the engine keeps their runs apart, and that the loss flips."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from reid.config import apply_overrides, fingerprint
from reid.data.datasets.synthetic import SyntheticVIReID
from reid.engine.control import CONTROLS_FOLDER, RunControl
from reid.engine.run import run
from reid.errors import ConfigError
from reid.harness.cases import Evaluation, Training
from reid.harness.controls import CONTROLS, MismatchedImages, control_problems
from reid.harness.execute import SettingResult
from reid.harness.reproduce import against_band
from reid.harness.smoke_golden import BAND_FLOOR, SmokeEntry
from reid.methods import list_methods, method_class
from reid.profiles import build_config
from tests.test_methods import build, random_batch


@pytest.fixture(scope="module")
def small() -> SyntheticVIReID:
    return SyntheticVIReID(seed=0, num_train_ids=6, num_test_ids=3, images_per_camera=(1, 3), height=32, width=16)


def _pixels(image) -> bytes:
    return np.asarray(image).tobytes()


def test_mismatched_images_permute_training_images_within_each_modality(small):
    broken = MismatchedImages(small, seed=0)
    shown = {s: broken.read(s) for s in small.train}
    originals = {_pixels(small.read(s)): s for s in small.train}
    moved = 0
    targets = []
    for record, image in shown.items():
        source = originals[_pixels(image)]
        assert source.modality == record.modality  # the stem still sees its own modality
        targets.append(source)
        moved += source != record
    assert sorted(targets, key=str) == sorted(small.train, key=str)  # a permutation: every image shown once
    assert moved > len(small.train) // 2
    # records, identities and the test set are the data set's own
    assert broken.train == small.train and broken.test == small.test
    assert all(_pixels(broken.read(s)) == _pixels(small.read(s)) for s in small.test)
    assert broken.permutations(2).num_trials == 2
    assert _pixels(MismatchedImages(small, seed=0).read(small.train[0])) == _pixels(shown[small.train[0]])


def test_control_names_are_folder_names():
    with pytest.raises(ValueError, match="control name"):
        RunControl("../x")
    assert set(CONTROLS) == {"permuted_ids", "flipped_metric"}


@pytest.mark.parametrize("name", [m for m in list_methods() if method_class(m).evaluates])
def test_flipped_metric_subtracts_the_metric_learning_terms(name):
    """loss(flipped) = loss - 2 x (weighted metric-learning terms); the identity terms are untouched."""
    method, config = build(name)
    batch = random_batch(method, config)
    assert method.metric_learning_terms
    with torch.no_grad():
        normal = method.training_step(batch)
        CONTROLS["flipped_metric"].method(method)
        flipped = method.training_step(batch)
    weights = {"cmg": getattr(method, "cmg_weight", 1.0)}
    metric = sum(weights.get(k, 1.0) * v for k, v in normal.parts.items() if k in method.metric_learning_terms)
    assert float(metric) != 0.0
    assert flipped.loss.item() == pytest.approx(normal.loss.item() - 2 * float(metric), rel=1e-5, abs=1e-5)


def test_only_declared_terms_can_be_negated():
    method, _ = build("agw")
    with pytest.raises(ConfigError, match=r"cannot negate \['id'\]"):
        method.negate_terms(["id"])


TINY = (
    "model.non_local=False",
    "data.options={'seed': 0, 'num_train_ids': 8, 'num_test_ids': 6, 'images_per_camera': (1, 2)}",
    "optim.epochs=1", "optim.warmup_epochs=1", "optim.milestones=(1,)",
    "eval.protocol_options={'mode': 'all', 'shots': 1, 'gallery_sampling': 'official', 'num_trials': 1}",
)


@pytest.mark.slow
def test_a_control_run_lives_apart_and_says_what_it_is(tmp_path: Path):
    config = build_config("agw", "smoke", TINY)
    real = run(config, out_dir=tmp_path)
    broken = run(config, out_dir=tmp_path, control=CONTROLS["permuted_ids"])
    folder = tmp_path / CONTROLS_FOLDER / "permuted_ids" / fingerprint(config)
    assert (folder / "record.json").is_file() and (tmp_path / fingerprint(config) / "record.json").is_file()
    assert broken.environment["control"] == "permuted_ids" and "control" not in real.environment
    assert broken.epochs[0]["train"] != real.epochs[0]["train"]  # other images, other losses
    again = run(config, out_dir=tmp_path, control=CONTROLS["permuted_ids"])  # cached, like a real run
    assert again.wall_time_s == broken.wall_time_s


def test_against_band_marks_cells_outside_their_seed_band():
    entry = SmokeEntry(("fp",), {s: {("s", "rank1"): 20.0 + s, ("s", "mAP"): 30.0} for s in (0, 1, 2)})
    ours = {"s": SettingResult("s", {"rank1": 21.0 - BAND_FLOOR["rank1"] - 0.1, "mAP": 34.0}, {"splits": []}, "fp",
                               None)}
    cells = {c.metric: c for c in against_band(entry, ours)}
    assert cells["rank1"].verdict == "outside" and cells["rank1"].expected == 21.0  # below 21 - floor
    assert cells["mAP"].verdict == "within" and cells["mAP"].tolerance == BAND_FLOOR["mAP"]


def _poison(method) -> None:
    with torch.no_grad():
        next(method.parameters()).fill_(float("nan"))


@pytest.mark.slow
def test_a_control_fails_the_verdict_when_it_diverges_or_misses_the_bound_or_band(tmp_path: Path):
    config = build_config("agw", "smoke", TINY)
    indoor = apply_overrides(config, ("eval.protocol_options.mode='indoor'", "eval.protocol_options.num_trials=1"))
    training = Training(config, (Evaluation(("sysu_all_single",), config), Evaluation(("sysu_indoor_single",), indoor)))
    problems = control_problems([(training, None)], RunControl("poisoned", method=_poison), tmp_path)
    assert problems == [problems[0]] and "poisoned: the run diverged (NonFiniteLossError" in problems[0]
    assert (tmp_path / fingerprint(config) / "record.json").is_file()  # the real run was trained first
    # every setting of the row is judged, the checkpoint evaluations of the broken run included
    far = SmokeEntry((fingerprint(config),), {s: {("sysu_indoor_single", "mAP"): 99.0} for s in (0, 1, 2)})
    judged = control_problems([(training, far)], CONTROLS["permuted_ids"], tmp_path)
    assert any(p.startswith("sysu_indoor_single mAP: ours") and "expected 99" in p for p in judged)
    folder = tmp_path / "controls" / "permuted_ids" / fingerprint(config)
    assert len(list(folder.glob("*.eval-*.json"))) == 1  # the indoor evaluation of the broken checkpoint
