"""`reid plan`: every distinct training once, priced from measured FLOPs; --check steps each config at full size."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from reid.golden import load_golden
from reid.harness import plan as plan_module
from reid.harness.plan import (
    PlannedTraining,
    check_all,
    check_config,
    measure_training,
    pairs_per_epoch,
    plan_tables,
    price,
    split_stand_ins,
)
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
    # SYSU-MM01's 22,258 visible images, batches of 8 identities x 4 pairs (CAJ's), three views a pair
    assert fine.images_per_epoch == (22258 // 32 + 1) * 32 * 3 and fine.flops == 100 * fine.images_per_epoch * 1e9
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


def test_a_paper_regdb_setting_is_planned_and_priced_once_per_split(golden):
    per_table, trainings = plan_tables(golden, ["mscmnet"], profile="paper", tables=[2])
    keys = per_table[("mscmnet", 2)]
    assert len(keys) == 20  # AGW and CAJ, ten splits each
    for method in ("agw", "caj"):
        splits = [t.split for t in trainings.values() if t.config.method == method]
        assert splits == list(range(1, 11))
        (rows,) = {tuple(t.rows) for t in trainings.values() if t.config.method == method}  # every split: the row
        assert rows == (f"mscmnet Table 2 / {method.upper()}",)
    price(trainings, measure=lambda config: (2, 1e9))
    # every split costs the same: the published counts of one split, the same network
    assert len({t.flops for t in trainings.values() if t.config.method == "agw"}) == 1
    per_table, few = plan_tables(golden, ["mscmnet"], profile="paper", tables=[2], regdb_splits=2)
    assert len(per_table[("mscmnet", 2)]) == 4 and sorted({t.split for t in few.values()}) == [1, 2]
    per_table, _ = plan_tables(golden, ["mscmnet"], profile="smoke", tables=[2], regdb_splits=2)
    assert len(per_table[("mscmnet", 2)]) == 2  # the smoke stand-in: one training a row


def test_the_check_of_one_split_stands_for_the_others_of_the_same_config(golden, monkeypatch):
    _, trainings = plan_tables(golden, ["mscmnet"], profile="paper", tables=[2], regdb_splits=3)
    stand_ins = split_stand_ins(trainings)
    first = {t.config.method: k for k, t in trainings.items() if t.split == 1}
    assert stand_ins == {k: first[t.config.method] for k, t in trainings.items() if t.split != 1}
    checked = []
    monkeypatch.setattr(plan_module, "check_config", lambda config: checked.append(config.data.options["trial"]))
    assert check_all(trainings) == dict.fromkeys(trainings)
    assert checked == [1, 1]  # one check per row's config, on its first split


def test_the_plan_commands_refuse_a_bad_split_count_naming_the_flag(capsys):
    from reid.cli import main

    for argv in (["plan", "mscmnet", "--regdb-splits", "0"], ["reproduce", "mscmnet", "--regdb-splits", "11"]):
        assert main(argv) == 2
        assert "--regdb-splits" in (err := capsys.readouterr().err) and "expected an integer from 1 to 10" in err
