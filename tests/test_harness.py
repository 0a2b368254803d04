"""The benchmark harness: plans per profile, verdicts, smoke recordings, and one real case end to end."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from reid.config import fingerprint
from reid.golden import load_golden
from reid.harness.cases import REGDB_TRIAL, Case, plan, slugify, table_cases
from reid.harness.compare import compare_cells, sanity_problems
from reid.harness.execute import SettingResult
from reid.harness.reproduce import reproduce_case
from reid.harness.result import load_results, result_path
from reid.harness.smoke_golden import smoke_path
from tests.conftest import REPO_ROOT

GOLDEN = REPO_ROOT / "golden"


@pytest.fixture(scope="module")
def golden():
    return load_golden(GOLDEN)


def _case(golden, paper: str, table: int, method: str) -> Case:
    return next(c for c in table_cases(golden, paper, table) if c.row.method == method)


def _options(config) -> dict:
    return dict(config.eval.protocol_options)


def test_smoke_plan_keeps_sysu_modes_and_trains_once_per_data_set(golden):
    (training,) = plan(_case(golden, "mscmnet", 1, "agw"), golden, "smoke")
    assert training.config.data.dataset == "synthetic" and training.config.profile == "smoke"
    assert [e.settings for e in training.evaluations] == [("sysu_all_single",), ("sysu_indoor_single",)]
    assert _options(training.config)["mode"] == "all"
    assert "eval.protocol_options.mode='indoor'" in training.evaluations[1].overrides


def test_smoke_stand_in_merges_settings_without_a_synthetic_counterpart(golden):
    (training,) = plan(_case(golden, "mscmnet", 2, "agw"), golden, "smoke")
    assert [e.settings for e in training.evaluations] == [("regdb_v2t", "regdb_t2v")]
    assert training.config.eval.protocol == "sysu_mm01" and _options(training.config)["mode"] == "all"


def test_the_same_row_in_two_tables_trains_once(golden):
    sysu = plan(_case(golden, "mscmnet", 1, "agw"), golden, "smoke")[0].config
    other = plan(_case(golden, "ffdml", 6, "agw"), golden, "smoke")[0].config
    regdb_stand_in = plan(_case(golden, "mscmnet", 2, "agw"), golden, "smoke")[0].config
    assert fingerprint(sysu) == fingerprint(other) == fingerprint(regdb_stand_in)


def test_paper_plan_uses_the_real_data_and_each_settings_protocol(golden, tmp_path):
    (training,) = plan(_case(golden, "mscmnet", 2, "caj"), golden, "paper", data_root=tmp_path,
                       extra_overrides=("model.pretrained='/weights/r50.pth'",))
    config = training.config
    assert config.profile == "paper" and config.model.arch == "resnet50"
    assert config.data.dataset == "regdb" and config.data.root == str(tmp_path / "regdb")
    assert dict(config.data.options) == {"trial": REGDB_TRIAL}
    assert config.model.pretrained == "/weights/r50.pth"
    assert _options(config)["direction"] == "visible_to_thermal"
    assert training.evaluations[1].settings == ("regdb_t2v",)
    assert "eval.protocol_options.direction='thermal_to_visible'" in training.evaluations[1].overrides


def test_rows_that_do_not_run_say_why(golden):
    reasons = {c.row.status: c.skip_reason() for c in table_cases(golden, "cmft", 1)}
    assert reasons["not_applicable"].startswith("not applicable: ")
    mscmnet = next(c for c in table_cases(golden, "mscmnet", 4) if c.row.method == "mscmnet")
    assert "not yet implemented" in mscmnet.skip_reason() and "'mscmnet'" in mscmnet.skip_reason()
    reference = next(c for c in table_cases(golden, "mscmnet", 1) if c.row.status == "reference")
    assert reference.skip_reason() == f"reference row: {reference.row.alias} is not implemented in this suite"


def test_slugs_are_safe_file_names():
    assert slugify("ResNet-50/Baseline+X") == "resnet-50-baseline-x"
    assert slugify("../../etc") == "etc" and slugify("²") == "row"


def _result(metrics: dict, gallery_ids: int = 10) -> SettingResult:
    return SettingResult("s", metrics, {"splits": [{"num_gallery_ids": gallery_ids}]}, "fp", None)


def test_cells_get_a_verdict_and_unmeasured_metrics_are_not_run():
    ours = {"s": _result({"rank1": 50.0, "mAP": 40.0})}
    cells = compare_cells({("s", "rank1"): 48.0, ("s", "mAP"): 44.0, ("s", "params_M"): 8.0, ("t", "rank1"): 1.0},
                          {"rank1": 3.0, "mAP": 3.0, "params_M": 0.5}, ours)
    assert [c.verdict for c in cells] == ["within", "outside", "not_run", "not_run"]
    assert cells[1].difference == pytest.approx(-4.0) and "difference -4.00" in cells[1].describe()


def test_sanity_catches_range_order_and_chance():
    assert sanity_problems({"s": _result({"rank1": 50.0, "rank5": 60.0, "mAP": 40.0})}) == []
    problems = sanity_problems({"s": _result({"rank1": 9.0, "rank5": 8.0, "mAP": 101.0})})
    assert any("outside [0, 100]" in p for p in problems)
    assert any("CMC decreases" in p for p in problems)
    assert any("not above 1 x chance" in p for p in problems)
    assert sanity_problems({"s": _result({"rank1": 15.0})}, chance_factor=2.0)  # 15 < 2 x 10


# --- one real case: a tiny AGW row in a golden folder of its own (tests/conftest.py) -----------------------------

def test_a_recorded_case_passes_and_writes_its_result(tiny_golden, recorded):
    runs, path = recorded
    assert path == smoke_path(tiny_golden.root, "mscmnet", 1)
    recording = json.loads(path.read_text())
    assert recording["command"] == "reid record-smoke mscmnet --table 1"
    assert set(recording["rows"]) == {"AGW <b>tiny</b>"}
    case, reference = table_cases(tiny_golden, "mscmnet", 1)
    result = reproduce_case(case, tiny_golden, profile="smoke", runs_dir=runs, chance_factor=0.0)
    assert result.outcome == "passed", result.problems
    assert {c["verdict"] for c in result.cells} == {"within"}
    assert set(result.evaluations) == {"sysu_all_single", "sysu_indoor_single"}
    skipped = reproduce_case(reference, tiny_golden, profile="smoke", runs_dir=runs)
    assert skipped.outcome == "skipped" and "reference row: DDAG" in skipped.reason
    assert {r.row for r in load_results(runs)} == {case.id, reference.id}
    assert result_path(runs, "mscmnet", 1, case.slug).is_file()


def _edit_recording(path: Path, change) -> str:
    original = path.read_text()
    data = json.loads(original)
    change(data)
    path.write_text(json.dumps(data))
    return original


def test_a_case_off_its_recording_fails_listing_every_deviation(tiny_golden, recorded):
    runs, path = recorded
    case = table_cases(tiny_golden, "mscmnet", 1)[0]

    def shift(data):
        for metrics in data["rows"][case.id]["values"].values():
            metrics["rank1"] += 20.0
            metrics["mAP"] -= 20.0

    original = _edit_recording(path, shift)
    try:
        result = reproduce_case(case, tiny_golden, profile="smoke", runs_dir=runs, chance_factor=0.0)
    finally:
        path.write_text(original)
    assert result.outcome == "failed"
    outside = [p for p in result.problems if "difference" in p]
    assert len(outside) == 4 and any("sysu_indoor_single mAP" in p for p in outside)


def test_a_stale_or_missing_recording_fails_with_the_command_that_records_it(tiny_golden, recorded):
    runs, path = recorded
    case = table_cases(tiny_golden, "mscmnet", 1)[0]
    original = _edit_recording(path, lambda d: d["rows"][case.id].__setitem__("fingerprints", ["0" * 16]))
    try:
        stale = reproduce_case(case, tiny_golden, profile="smoke", runs_dir=runs, chance_factor=0.0)
        path.unlink()
        missing = reproduce_case(case, tiny_golden, profile="smoke", runs_dir=runs, chance_factor=0.0)
    finally:
        path.write_text(original)
    assert stale.outcome == "failed" and "is stale" in stale.problems[0]
    assert "reid record-smoke mscmnet --table 1" in stale.problems[0]
    assert missing.outcome == "failed" and "make it with `reid record-smoke mscmnet --table 1`" in missing.problems[0]


def test_paper_profile_without_data_skips_with_the_path_expected(tiny_golden, tmp_path):
    case = table_cases(tiny_golden, "mscmnet", 1)[0]
    result = reproduce_case(case, tiny_golden, profile="paper", runs_dir=tmp_path, data_root=tmp_path / "data")
    assert result.outcome == "skipped"
    assert str(tmp_path / "data" / "sysu_mm01") in result.reason and "README.md, section Data" in result.reason
