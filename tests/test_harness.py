"""The benchmark harness: plans per profile, verdicts, smoke recordings, and one real case end to end."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from reid.config import fingerprint
from reid.engine.run_config import pretrained_files
from reid.errors import ConfigError
from reid.golden import RETRIEVAL_METRICS, load_golden
from reid.harness import execute as execute_module
from reid.harness.cases import Case, plan, regdb_splits_note, slugify, table_cases
from reid.harness.compare import compare_cells, sanity_problems
from reid.harness.execute import SettingResult, mean_over_splits
from reid.harness.reproduce import KNOWN_BELOW_BOUND, record_smoke_table, reproduce_case
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
    indoor = training.evaluations[1].applied_to(training.config)
    # the method's trials and gallery sampling stay, the setting's mode and shots are set
    assert dict(indoor.eval.protocol_options) == _options(training.config) | {"mode": "indoor"}


def test_smoke_stand_ins_use_each_settings_own_protocol(golden):
    (training,) = plan(_case(golden, "mscmnet", 2, "agw"), golden, "smoke")
    assert [e.settings for e in training.evaluations] == [("regdb_v2t",), ("regdb_t2v",)]
    v2t, t2v = (e.applied_to(training.config) for e in training.evaluations)
    assert v2t.data.dataset == "synthetic" and v2t.eval.protocol == "regdb"
    assert dict(v2t.eval.protocol_options) == {"direction": "visible_to_thermal"}  # no SYSU option reaches RegDB
    assert dict(t2v.eval.protocol_options) == {"direction": "thermal_to_visible"}
    llcm = next(c for c in table_cases(golden, "mscmnet", 3) if c.row.method == "agw")
    (training,) = plan(llcm, golden, "smoke")
    (i2v,) = (e.applied_to(training.config) for e in training.evaluations[:1])
    assert i2v.eval.protocol == "llcm" and set(i2v.eval.protocol_options) == {"direction"}


def test_the_same_row_in_two_tables_trains_once(golden):
    """On the smoke data the model trains under the profile's own protocol whatever the table prints; each
    setting then evaluates it (the run's own evaluation where it is the same)."""
    sysu = plan(_case(golden, "mscmnet", 1, "agw"), golden, "smoke")[0].config
    other = plan(_case(golden, "ffdml", 6, "agw"), golden, "smoke")[0].config
    regdb_stand_in = plan(_case(golden, "mscmnet", 2, "agw"), golden, "smoke")[0].config
    llcm_stand_in = plan(_case(golden, "mscmnet", 3, "agw"), golden, "smoke")[0].config
    assert fingerprint(sysu) == fingerprint(other) == fingerprint(regdb_stand_in) == fingerprint(llcm_stand_in)


def test_paper_plan_uses_the_real_data_and_each_settings_protocol(golden, tmp_path):
    weights = tmp_path / "resnet50-0676ba61.pth"
    weights.write_bytes(b"")
    trainings = plan(_case(golden, "mscmnet", 2, "caj"), golden, "paper", data_root=tmp_path,
                     pretrained=pretrained_files([str(tmp_path)]))
    training = trainings[0]
    config = training.config
    assert config.profile == "paper" and config.model.arch == "resnet50"
    assert config.data.dataset == "regdb" and config.data.root == str(tmp_path / "regdb")
    assert dict(config.data.options) == {"trial": 1}
    assert config.model.pretrained == str(weights)
    # RegDB's own options replace the method's SYSU ones (those made RegDB rows fail at their last evaluation)
    assert _options(config) == {"direction": "visible_to_thermal"}
    assert training.evaluations[1].settings == ("regdb_t2v",)
    assert dict(training.evaluations[1].config.eval.protocol_options) == {"direction": "thermal_to_visible"}


def test_a_paper_regdb_setting_trains_every_split_each_evaluated_on_its_own(golden, tmp_path):
    case = _case(golden, "mscmnet", 2, "caj")
    trainings = plan(case, golden, "paper", data_root=tmp_path)
    assert [t.split for t in trainings] == list(range(1, 11))
    assert [dict(t.config.data.options) for t in trainings] == [{"trial": k} for k in range(1, 11)]
    assert len({fingerprint(t.config) for t in trainings}) == 10
    for training in trainings:  # both directions evaluate the split's own model on the split's own test set
        assert [e.settings for e in training.evaluations] == [("regdb_v2t",), ("regdb_t2v",)]
        assert {dict(e.config.data.options)["trial"] for e in training.evaluations} == {training.split}
    first = plan(case, golden, "paper", data_root=tmp_path, regdb_splits=3)
    assert [t.split for t in first] == [1, 2, 3]
    assert [fingerprint(t.config) for t in first] == [fingerprint(t.config) for t in trainings[:3]]
    # a SYSU-MM01 row is one training whatever the flag
    (sysu,) = plan(_case(golden, "mscmnet", 1, "agw"), golden, "paper", data_root=tmp_path, regdb_splits=3)
    assert sysu.split is None


@pytest.mark.parametrize("splits", [0, 11, -1, True, "3", 2.0])
def test_a_bad_split_count_names_the_flag_and_the_range(golden, splits):
    with pytest.raises(ConfigError, match=r"--regdb-splits .*: expected an integer from 1 to 10"):
        plan(_case(golden, "mscmnet", 2, "caj"), golden, "paper", regdb_splits=splits)


def test_the_smoke_plan_of_a_regdb_row_is_one_training_whatever_the_split_count(golden):
    """The smoke stand-in is one synthetic training, its config the profile's own (no RegDB split in it): smoke
    recordings are keyed by its fingerprint."""
    case = _case(golden, "mscmnet", 2, "agw")
    (training,) = plan(case, golden, "smoke")
    assert training.split is None and training.config.data.dataset == "synthetic"
    assert "trial" not in training.config.data.options
    (one,) = plan(case, golden, "smoke", regdb_splits=1)
    assert fingerprint(one.config) == fingerprint(training.config)


def _evaluation(metrics: dict, split: int) -> dict:
    """An evaluation dict as a run records it: one trial of the split's test set."""
    full = {m: None for m in RETRIEVAL_METRICS} | metrics
    return {"protocol": "regdb", "protocol_options": {"direction": "visible_to_thermal"}, "primary_feature": "bn",
            "flip": False, "distance": "euclidean",
            "splits": [{"trial": 0, "num_gallery_ids": 206, "options": {"regdb_trial": split}}],
            "features": {"bn": {"mean": full, "trials": [full]}, "pool": {"mean": full, "trials": [full]}}}


def test_the_mean_over_splits_is_taken_per_metric():
    per_split = {
        k: SettingResult("regdb_v2t", {"rank1": r1, "mAP": mAP, "mINP": minp},
                         _evaluation({"rank1": r1, "mAP": mAP}, k), f"run{k}", None)
        for k, r1, mAP, minp in [(3, 90.0, 80.0, 50.0), (1, 70.0, 60.0, None), (2, 80.0, 70.0, 40.0)]
    }
    mean = mean_over_splits("regdb_v2t", per_split)
    assert mean.metrics["rank1"] == pytest.approx(80.0) and mean.metrics["mAP"] == pytest.approx(70.0)
    assert mean.metrics["mINP"] is None  # a metric one split lacks has no mean
    assert mean.evaluation["features"]["bn"]["mean"]["rank1"] == pytest.approx(80.0)
    assert mean.evaluation["features"]["pool"]["mean"]["mAP"] == pytest.approx(70.0)
    assert mean.evaluation["mean_over_splits"] == [1, 2, 3]
    assert [s["options"]["regdb_trial"] for s in mean.evaluation["splits"]] == [1, 2, 3]
    assert [t["rank1"] for t in mean.evaluation["features"]["bn"]["trials"]] == [70.0, 80.0, 90.0]
    assert list(mean.per_split) == [1, 2, 3] and mean.run_fingerprint == "run1"
    assert mean.evaluation["protocol_options"] == {"direction": "visible_to_thermal"}


@pytest.mark.parametrize(("splits", "note"), [
    (range(1, 11), "RegDB: mean of 10 splits"), ([1], "RegDB: split 1 only (1 of 10)"),
    ([1, 2, 3], "RegDB: mean of splits 1-3 (3 of 10)"),
])
def test_the_split_note_says_how_many_splits_ran(splits, note):
    assert regdb_splits_note(list(splits)) == note


OFFSETS = {1: -6.0, 2: 0.0, 3: 6.0}
"""Per split, how far a fake run lands from the paper: splits 1-3 average to the paper's value, split 1 alone misses
it by twice the tolerance (3)."""


@pytest.fixture
def fake_engine(monkeypatch):
    """The engine replaced by fakes for a paper-profile RegDB case: each split's run and evaluations give the row's
    paper values plus :data:`OFFSETS` of the split (metrics of the setting's direction)."""
    expected: dict = {}
    configs: dict = {}  # fingerprint -> the config of the fake run of that name (its checkpoint's config)

    def metrics_of(config) -> dict:
        setting = "regdb_v2t" if config.eval.protocol_options["direction"] == "visible_to_thermal" else "regdb_t2v"
        offset = OFFSETS[config.data.options["trial"]]
        return {m: v + offset for (s, m), v in expected.items() if s == setting}

    def run(config, **_):
        configs[fingerprint(config)] = config
        evaluation = _evaluation(metrics_of(config), config.data.options["trial"])
        # Evaluated during training at epochs 1 and 3 of 4; epoch 1 tested 2 points better than the last epoch.
        better = _evaluation({m: v + 2.0 for m, v in metrics_of(config).items()}, config.data.options["trial"])
        epochs = [{"epoch": e, "evaluation": {1: better, 3: evaluation}.get(e)} for e in range(4)]
        selection = {"rule": "last", "epoch": 3, "selection_uses_test_set": False, "criterion": None}
        return SimpleNamespace(fingerprint=fingerprint(config), total_wall_time_s=1.0, final_evaluation=evaluation,
                               epochs=epochs, selection=selection)

    def evaluate_checkpoint(checkpoint, config, **_):
        return SimpleNamespace(evaluation=_evaluation(metrics_of(config), config.data.options["trial"]))

    monkeypatch.setattr(execute_module, "preflight", lambda *a, **k: None)
    monkeypatch.setattr(execute_module, "run", run)
    monkeypatch.setattr(execute_module, "resolve_checkpoint_path", lambda folder: folder)
    monkeypatch.setattr(execute_module, "load_trained",
                        lambda path: SimpleNamespace(path=path, config=configs[Path(path).name]))
    monkeypatch.setattr(execute_module, "default_record_path", lambda path, config: path / "no-such-record.json")
    monkeypatch.setattr(execute_module, "evaluate_checkpoint", evaluate_checkpoint)
    monkeypatch.setattr(execute_module, "write_evaluation_record", lambda path, record: None)
    return expected


def test_a_paper_regdb_case_compares_the_mean_over_its_splits(golden, tmp_path, fake_engine):
    case = _case(golden, "mscmnet", 2, "caj")
    fake_engine.update(case.row.values)
    (tmp_path / "data" / "regdb").mkdir(parents=True)
    runs = tmp_path / "runs"
    three = reproduce_case(case, golden, profile="paper", runs_dir=runs, data_root=tmp_path / "data", regdb_splits=3)
    assert three.outcome == "passed", three.problems
    assert {c["verdict"] for c in three.cells} == {"within"}
    assert all(c["ours"] == pytest.approx(c["expected"]) for c in three.cells)
    assert three.regdb_splits["note"] == "RegDB: mean of splits 1-3 (3 of 10)"
    assert three.regdb_splits["splits"] == [1, 2, 3] and three.regdb_splits["of"] == 10
    per_split = three.regdb_splits["per_split"]["regdb_t2v"]
    assert per_split["1"]["metrics"]["rank1"] == pytest.approx(case.row.values[("regdb_t2v", "rank1")] - 6.0)
    assert len(three.runs) == 3 and three.evaluations["regdb_v2t"]["mean_over_splits"] == [1, 2, 3]
    # What the released code's test-set selection would have reported: the runs' own setting, mean over splits.
    own = next(iter(three.test_selection))
    assert list(three.test_selection) == [own] and three.test_selection[own]["epoch"] == {"1": 1, "2": 1, "3": 1}
    assert three.test_selection[own]["gain"]["rank1"] == pytest.approx(2.0)
    assert three.test_selection[own]["evaluated_epochs"] == 2
    (written,) = load_results(runs)
    assert written.regdb_splits == three.regdb_splits and written.test_selection == three.test_selection
    one = reproduce_case(case, golden, profile="paper", runs_dir=runs, data_root=tmp_path / "data", regdb_splits=1)
    assert one.outcome == "failed" and one.regdb_splits["note"] == "RegDB: split 1 only (1 of 10)"
    assert len(one.problems) == 4 and all("difference -6.00" in p for p in one.problems)


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


def _result(metrics: dict, gallery_ids: int = 10, random: dict | None = None) -> SettingResult:
    splits = [{"num_gallery_ids": gallery_ids} | ({"random": random} if random is not None else {})]
    return SettingResult("s", metrics, {"splits": splits}, "fp", None)


def test_cells_get_a_verdict_and_unmeasured_metrics_are_not_run():
    ours = {"s": _result({"rank1": 50.0, "mAP": 40.0})}
    expected = {("s", "rank1"): 48.0, ("s", "mAP"): 44.0, ("s", "params_M"): 8.0, ("t", "rank1"): 1.0}
    tolerance = {("s", "rank1"): 3.0, ("s", "mAP"): 3.0, ("s", "params_M"): 0.5, ("t", "rank1"): 3.0}
    cells = compare_cells(expected, tolerance, ours)
    assert [c.verdict for c in cells] == ["within", "outside", "not_run", "not_run"]
    assert cells[1].difference == pytest.approx(-4.0) and "difference -4.00" in cells[1].describe()
    # each cell has its own tolerance (smoke bands differ per cell)
    assert compare_cells(expected, tolerance | {("s", "mAP"): 4.0}, ours)[1].verdict == "within"


def test_sanity_catches_range_order_and_chance():
    random = {"rank1": 5.0, "mAP": 8.0}
    assert sanity_problems({"s": _result({"rank1": 50.0, "rank5": 60.0, "mAP": 40.0}, random=random)}) == []
    problems = sanity_problems({"s": _result({"rank1": 9.0, "rank5": 8.0, "mAP": 101.0})})
    assert any("outside [0, 100]" in p for p in problems)
    assert any("CMC decreases" in p for p in problems)
    # without measured random features: rank-1 against 100 / gallery identities (10 here)
    assert any("rank1 = 9.00 is not above 2 x" in p for p in problems)
    assert sanity_problems({"s": _result({"rank1": 15.0})}, rank1_factor=2.0)  # 15 < 2 x 10
    assert not sanity_problems({"s": _result({"rank1": 15.0})}, rank1_factor=1.0)


@pytest.mark.parametrize(("rank1", "mAP", "failing"), [
    (10.01, 12.01, []), (10.0, 30.0, ["rank1"]), (30.0, 12.0, ["mAP"]), (5.0, 8.0, ["rank1", "mAP"]),
])
def test_sanity_bound_is_measured_against_random_features_on_the_same_trials(rank1, mAP, failing):
    random = {"rank1": 5.0, "mAP": 8.0}  # bound: rank-1 > 2 x 5, mAP > 1.5 x 8
    problems = sanity_problems({"s": _result({"rank1": rank1, "mAP": mAP}, random=random)},
                               rank1_factor=2.0, map_factor=1.5)
    assert sorted(p.split(" = ")[0].split()[-1] for p in problems) == sorted(failing)
    assert all("that of random features" in p for p in problems)


# --- one real case: a tiny AGW row in a golden folder of its own (tests/conftest.py) -----------------------------

def test_a_recorded_case_passes_and_writes_its_result(tiny_golden, recorded):
    runs, path = recorded
    assert path == smoke_path(tiny_golden.root, "mscmnet", 1)
    recording = json.loads(path.read_text())
    assert recording["command"] == "reid record-smoke mscmnet --table 1"
    assert set(recording["rows"]) == {"AGW <b>tiny</b>"}
    case, reference = table_cases(tiny_golden, "mscmnet", 1)
    result = reproduce_case(case, tiny_golden, profile="smoke", runs_dir=runs, rank1_factor=0.0, map_factor=0.0)
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
        for values in data["rows"][case.id]["seeds"].values():
            for metrics in values.values():
                metrics["rank1"] += 100.0
                metrics["mAP"] -= 100.0

    original = _edit_recording(path, shift)
    try:
        result = reproduce_case(case, tiny_golden, profile="smoke", runs_dir=runs, rank1_factor=0.0, map_factor=0.0)
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
        stale = reproduce_case(case, tiny_golden, profile="smoke", runs_dir=runs, rank1_factor=0.0, map_factor=0.0)
        path.unlink()
        missing = reproduce_case(case, tiny_golden, profile="smoke", runs_dir=runs, rank1_factor=0.0, map_factor=0.0)
    finally:
        path.write_text(original)
    assert stale.outcome == "failed" and "is stale" in stale.problems[0]
    assert "reid record-smoke mscmnet --table 1" in stale.problems[0]
    assert missing.outcome == "failed" and "make it with `reid record-smoke mscmnet --table 1`" in missing.problems[0]


def test_paper_profile_without_data_skips_with_the_path_expected(golden, tmp_path):
    case = _case(golden, "mscmnet", 1, "agw")
    result = reproduce_case(case, golden, profile="paper", runs_dir=tmp_path, data_root=tmp_path / "data")
    assert result.outcome == "skipped"
    assert str(tmp_path / "data" / "sysu_mm01") in result.reason and "README.md, section Data" in result.reason


def test_a_sanity_problem_of_a_method_known_below_the_bound_is_reported_as_known(tiny_golden, recorded):
    runs, path = recorded
    case = table_cases(tiny_golden, "mscmnet", 1)[0]
    listed = tiny_golden.root / "smoke" / "below_bound.yaml"
    listed.write_text("agw: measured to stay below the bound at this size\n")

    def shift(data):
        for values in data["rows"][case.id]["seeds"].values():
            values["sysu_all_single"]["rank1"] += 100.0

    try:
        known = reproduce_case(case, tiny_golden, profile="smoke", runs_dir=runs, rank1_factor=1000.0)
        original = _edit_recording(path, shift)
        try:
            off_band = reproduce_case(case, tiny_golden, profile="smoke", runs_dir=runs, rank1_factor=0.0,
                                      map_factor=0.0)
        finally:
            path.write_text(original)
    finally:
        listed.unlink()
    # a run at noise level off its band is reported, not judged, too
    assert off_band.outcome == "failed" and off_band.reason.startswith(KNOWN_BELOW_BOUND)
    assert any("sysu_all_single rank1" in p for p in off_band.problems)
    unknown = reproduce_case(case, tiny_golden, profile="smoke", runs_dir=runs, rank1_factor=1000.0)
    assert known.outcome == unknown.outcome == "failed" and known.problems == unknown.problems
    assert known.reason == f"{KNOWN_BELOW_BOUND}: measured to stay below the bound at this size"
    assert unknown.reason is None


def test_a_method_known_below_the_bound_fails_on_a_stale_recording_and_reports_a_missing_one(tiny_golden, recorded):
    runs, path = recorded
    case = table_cases(tiny_golden, "mscmnet", 1)[0]
    listed = tiny_golden.root / "smoke" / "below_bound.yaml"
    listed.write_text("agw: measured to stay below the bound at this size\n")
    original = _edit_recording(path, lambda d: d["rows"][case.id].__setitem__("fingerprints", ["0" * 16]))
    try:
        stale = reproduce_case(case, tiny_golden, profile="smoke", runs_dir=runs)
        _edit_recording(path, lambda d: d["rows"].pop(case.id))
        unrecorded = reproduce_case(case, tiny_golden, profile="smoke", runs_dir=runs)
    finally:
        listed.unlink()
        path.write_text(original)
    assert stale.outcome == "failed" and stale.reason is None and "is stale" in stale.problems[0]
    assert unrecorded.outcome == "failed" and unrecorded.reason.startswith(KNOWN_BELOW_BOUND)
    assert "no smoke recording of row" in unrecorded.problems[0]
    restored = reproduce_case(case, tiny_golden, profile="smoke", runs_dir=runs)
    assert not any("recording" in p for p in restored.problems) and restored.reason is None


def test_recording_some_rows_keeps_the_tables_other_rows(tiny_golden, recorded):
    runs, path = recorded
    case = table_cases(tiny_golden, "mscmnet", 1)[0]
    original = path.read_text()
    other = {"fingerprints": ["f" * 16], "seeds": {s: {"sysu_all_single": {"rank1": 1.0}} for s in "012"}}
    _edit_recording(path, lambda d: d["rows"].__setitem__("Other", other))
    try:
        record_smoke_table(tiny_golden, "mscmnet", 1, runs, rows={case.id})
        rows = json.loads(path.read_text())["rows"]
    finally:
        path.write_text(original)
    assert list(rows) == [case.id, "Other"] and rows["Other"] == other
    assert rows[case.id] == json.loads(original)["rows"][case.id]  # the same cached runs, the same values
    assert record_smoke_table(tiny_golden, "mscmnet", 1, runs, rows={"no such row"}) is None


@pytest.mark.parametrize("seeds", [(1, 2, 3), (0, 1), (0, 0, 1)])
def test_a_recording_needs_three_seeds_with_seed_0(tiny_golden, tmp_path, seeds):
    with pytest.raises(ConfigError, match="at least 3 distinct seeds, 0 among them"):
        record_smoke_table(tiny_golden, "mscmnet", 1, tmp_path, seeds=seeds)
