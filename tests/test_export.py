"""The verdicts export (verdicts.csv, verdicts.json) and the report rendered at the end of a benchmark session."""

from __future__ import annotations

import csv
import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

from reid.harness.result import CaseResult, load_results, result_path, write_result
from reid.report.export import FIELDS, verdict_rows, write_verdicts
from reid.report.model import build_report
from reid.report.render import render_results

REPO_ROOT = Path(__file__).resolve().parent.parent
AGW = "AGW <b>tiny</b>"


def _cell(setting, metric, expected, ours, verdict, paper):
    return {"setting": setting, "metric": metric, "expected": expected, "ours": ours, "tolerance": 1.5,
            "verdict": verdict, "paper": paper}


def _smoke_result(profile="smoke"):
    """A failed smoke case of the tiny table's AGW row: one cell within its band, one outside, two not measured."""
    return CaseResult(
        paper="mscmnet", table=1, row=AGW, label=AGW, profile=profile, outcome="failed", reason=None,
        expected_source="golden/smoke/mscmnet_table1.yaml",
        cells=[_cell("sysu_all_single", "rank1", 20.0, 20.5, "within", 47.5),
               _cell("sysu_all_single", "mAP", 18.0, 10.0, "outside", 47.65),
               _cell("sysu_indoor_single", "rank1", 25.0, None, "not_run", 54.17),
               _cell("sysu_indoor_single", "mAP", 22.0, None, "not_run", 62.97)],
        problems=["sysu_all_single mAP outside"],
    )


def _write(runs, result, slug="agw-b-tiny-b"):
    write_result(result_path(runs, result.paper, result.table, slug), result)


def _rows(golden, runs, profile):
    return verdict_rows(build_report(golden, load_results(runs), profile=profile, runs_dir=runs))


def _by_cell(rows, row_id=AGW):
    return {(r["setting"], r["metric"]): r for r in rows if r["row_id"] == row_id}


def _csv_rows(path):
    """verdicts.csv read back with the JSON's types: empty is None, numbers are numbers."""
    numbers = {"table": int, "paper_value": float, "ours": float, "expected": float, "tolerance": float}
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        assert tuple(reader.fieldnames) == FIELDS
        return [{k: None if v == "" else numbers.get(k, str)(v) for k, v in row.items()} for row in reader]


def test_the_export_rows_are_the_case_results_cells(tiny_golden, tmp_path):
    _write(tmp_path, _smoke_result())
    rows = _rows(tiny_golden, tmp_path, "smoke")
    assert len(rows) == 8 and all(tuple(r) == FIELDS for r in rows)  # 2 rows x 4 printed cells, keys in order
    agw = _by_cell(rows)
    assert agw[("sysu_all_single", "rank1")] == {
        "paper": "mscmnet", "table": 1, "row_id": AGW, "row_label": AGW, "row_name": AGW, "citation": None,
        "profile": "smoke",
        "setting": "sysu_all_single", "metric": "rank1", "paper_value": 47.5, "ours": 20.5, "expected": 20.0,
        "tolerance": 1.5, "verdict": "within", "row_outcome": "failed"}
    assert agw[("sysu_all_single", "mAP")]["verdict"] == "outside"
    assert agw[("sysu_all_single", "mAP")]["ours"] == 10.0
    unmeasured = agw[("sysu_indoor_single", "rank1")]
    assert unmeasured["verdict"] == "not_run" and unmeasured["ours"] is None
    ddag = _by_cell(rows, "DDAG")
    assert {r["verdict"] for r in ddag.values()} == {"reference"} and ddag[("sysu_all_single", "rank1")]["ours"] is None
    assert ddag[("sysu_indoor_single", "rank1")]["paper_value"] is None  # a '-' cell of the paper


def test_a_row_without_a_result_is_not_run_with_the_paper_value_expected(tiny_golden, tmp_path):
    _write(tmp_path, _smoke_result())  # a smoke result says nothing about the paper profile
    agw = _by_cell(_rows(tiny_golden, tmp_path, "paper"))
    assert {r["verdict"] for r in agw.values()} == {"not_run"}
    assert {r["ours"] for r in agw.values()} == {None} and {r["row_outcome"] for r in agw.values()} == {None}
    assert agw[("sysu_all_single", "rank1")]["expected"] == 47.5 and agw[("sysu_all_single", "rank1")]["tolerance"] == 3
    smoke = _by_cell(_rows(tiny_golden, tmp_path / "nothing", "smoke"))
    assert {(r["verdict"], r["ours"], r["expected"]) for r in smoke.values()} == {("not_run", None, None)}


def test_a_skipped_case_keeps_its_cells_not_run(tiny_golden, tmp_path):
    skipped = CaseResult(paper="mscmnet", table=1, row=AGW, label=AGW, profile="smoke", outcome="skipped",
                         reason="data set sysu_mm01 not found", expected_source=None)
    _write(tmp_path, skipped)
    agw = _by_cell(_rows(tiny_golden, tmp_path, "smoke"))
    assert {(r["verdict"], r["row_outcome"]) for r in agw.values()} == {("not_run", "skipped")}


def test_csv_and_json_agree(tiny_golden, tmp_path):
    _write(tmp_path, _smoke_result())
    report = build_report(tiny_golden, load_results(tmp_path), profile="smoke", runs_dir=tmp_path)
    csv_path, json_path = write_verdicts(report, tmp_path / "out")
    assert (csv_path.name, json_path.name) == ("verdicts.csv", "verdicts.json")
    rows = json.loads(json_path.read_text(encoding="utf-8"))
    assert rows == verdict_rows(report)
    assert _csv_rows(csv_path) == rows
    assert not list((tmp_path / "out").glob(".*.tmp"))  # written atomically: no temporary file left


def test_render_results_writes_the_index_first_and_the_export(tiny_golden, tmp_path):
    _write(tmp_path / "runs", _smoke_result())
    written = render_results(tiny_golden, "smoke", tmp_path / "runs", tmp_path / "out")
    assert written[0].name == "index.html"
    assert [p.name for p in written[-2:]] == ["verdicts.csv", "verdicts.json"] and all(p.exists() for p in written)
    assert 'href="verdicts.csv"' in written[0].read_text(encoding="utf-8")


def test_reid_report_prints_the_index_page(tmp_path, capsys):
    from reid.cli import main

    assert main(["report", "--runs", str(tmp_path / "runs"), "--report", str(tmp_path / "out")]) == 0
    out = capsys.readouterr().out
    assert f"report: {tmp_path / 'out' / 'index.html'}" in out and "verdicts.csv, verdicts.json" in out
    rows = json.loads((tmp_path / "out" / "verdicts.json").read_text(encoding="utf-8"))
    assert {r["verdict"] for r in rows} == {"not_run", "reference", "not_applicable"}  # nothing ran: every cell listed


@pytest.fixture(scope="module")
def bench_conftest():
    """benchmarks/conftest.py as a module (it is not a package), for its session-report function."""
    spec = importlib.util.spec_from_file_location("benchmarks_conftest", REPO_ROOT / "benchmarks" / "conftest.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_a_session_renders_only_with_a_result_of_its_profile(bench_conftest, tiny_golden, tmp_path):
    runs, out = tmp_path / "runs", tmp_path / "out"
    assert bench_conftest.render_session_report(tiny_golden, "smoke", runs, out) is None
    _write(runs, _smoke_result(profile="paper"))
    assert bench_conftest.render_session_report(tiny_golden, "smoke", runs, out) is None
    assert not out.exists()
    _write(runs, _smoke_result(), slug="smoke-agw")
    line = bench_conftest.render_session_report(tiny_golden, "smoke", runs, out)
    assert line == f"smoke report: {out / 'index.html'} (verdicts: verdicts.csv, verdicts.json)"
    assert (out / "index.html").exists() and (out / "verdicts.json").exists()


def test_a_session_rendering_error_is_a_warning_line(bench_conftest, tiny_golden, tmp_path):
    stray = CaseResult(paper="mscmnet", table=9, row="X", label="X", profile="smoke", outcome="skipped",
                       reason="a table the golden files do not have", expected_source=None)
    write_result(result_path(tmp_path / "runs", "mscmnet", 9, "x"), stray)
    line = bench_conftest.render_session_report(tiny_golden, "smoke", tmp_path / "runs", tmp_path / "out")
    assert line.startswith("WARNING: the smoke report was not rendered into ") and "ArtifactError" in line


def test_a_benchmark_session_ends_with_the_report_path(tmp_path):
    """A reference row skips without training and writes its result: the session renders and names the index."""
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:xdist", "-q", "-p", "no:cacheprovider",
         "benchmarks/test_mscmnet_table1.py", "-k", "HCML", "--runs-dir", str(tmp_path / "runs"),
         "--report-dir", str(tmp_path / "out")],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert f"smoke report: {tmp_path / 'out' / 'index.html'}" in done.stdout
    rows = json.loads((tmp_path / "out" / "verdicts.json").read_text(encoding="utf-8"))
    hcml = [r for r in rows if r["paper"] == "mscmnet" and r["table"] == 1 and r["row_id"] == "HCML"]
    assert hcml and all(r["row_label"] == "HCML [51]" and r["citation"] == "[51]" for r in hcml)
    assert {(r["verdict"], r["row_outcome"]) for r in hcml} == {("reference", "skipped")}
