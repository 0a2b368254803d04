"""`reid plan`: every distinct training once, priced from measured FLOPs; --check steps each config at full size."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from reid.golden import load_golden
from reid.harness.plan import PlannedTraining, check_config, measure_training, pairs_per_epoch, plan_tables, price
from reid.methods import list_methods, method_class
from reid.profiles import build_config
from tests.conftest import REPO_ROOT


@pytest.fixture(scope="module")
def golden():
    return load_golden(REPO_ROOT / "golden")


def test_each_distinct_training_is_listed_once_with_its_rows_and_the_stage_it_starts_from(golden):
    per_table, trainings = plan_tables(golden, ["cmmp"], profile="paper", tables=[5, 6])
    assert len(per_table[("cmmp", 5)]) == 8 and len(per_table[("cmmp", 6)]) == 3
    shared = [t for t in trainings.values() if len(t.rows) == 2]
    assert [t.rows for t in shared] == [["cmmp Table 5 / 400", "cmmp Table 6 / CMMP"]]
    stages = [t for t in trainings.values() if t.config.method == "cmmp_pretrain"]
    assert sorted(t.epochs for t in stages) == [100, 200, 300, 400] and all(len(t.stage_of) == 1 for t in stages)
    price(trainings, measure=lambda config: (3, 1e9))
    fine = shared[0]
    # SYSU-MM01's 22,258 visible images, batches of 4 identities x 1 pair, three views a pair
    assert fine.images_per_epoch == (22258 // 4 + 1) * 4 * 3 and fine.flops == 100 * fine.images_per_epoch * 1e9
    assert fine.hours(50.0) == pytest.approx(fine.flops / 50e12 / 3600)


def test_flops_are_counted_on_the_methods_own_step_and_images_exclude_masks():
    agw = build_config("agw", "smoke")
    views, flops = measure_training(agw)
    assert views == 2 and flops > 1e8
    wider = dataclasses.replace(agw, data=dataclasses.replace(agw.data, height=128, width=64))
    assert measure_training(wider)[1] == pytest.approx(4 * flops, rel=0.05)  # convolutions scale with pixels
    assert measure_training(build_config("caj", "smoke"))[0] == 3
    pretrain = method_class("cmmp").pretraining(build_config("cmmp", "smoke"))
    assert measure_training(pretrain)[0] == 3  # visible, generated, infrared; the mask is no image
    assert pairs_per_epoch(agw) > 0


def test_a_check_fails_on_a_step_that_cannot_train(monkeypatch):
    config = build_config("agw", "smoke")
    check_config(config)

    def broken(self, batch):
        raise RuntimeError("shape mismatch in the head")

    monkeypatch.setattr(method_class("agw"), "training_step", broken)
    with pytest.raises(RuntimeError, match="shape mismatch"):
        check_config(config)


@pytest.mark.slow
@pytest.mark.parametrize("name", list_methods())
def test_every_methods_paper_config_steps_at_full_size_on_cpu(name):
    """`reid plan --check` for one full-size config per method: the paper's network, resolution and losses."""
    torch.manual_seed(0)
    check_config(build_config(name, "paper"))


def test_planned_training_prices_nothing_before_it_is_priced():
    config = build_config("agw", "paper")
    assert PlannedTraining(config=config, epochs=config.optim.epochs).flops == 0


def test_the_plan_command_prints_each_training_its_price_and_its_check(capsys):
    from reid.cli import main

    assert main(["plan", "xiv", "--table", "1", "--profile", "smoke", "--check"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("1 distinct trainings, profile smoke; estimated at 50 TFLOP/s")
    assert "[xiv Table 1 / Our method]" in out and "xiv      Table 1     1 trainings" in out
    assert out.rstrip().endswith("checked 1 configs at the smoke profile's size on CPU: 1 ok, 0 failed")
    assert main(["plan", "xiv", "--tflops", "0"]) == 2
