"""The HTML report: rendered from a real (tiny) case's records, content checked, escaping, headless Chromium."""

from __future__ import annotations

import json
import re
import shutil
import subprocess

import pytest
import yaml

from reid.errors import ArtifactError
from reid.golden import load_golden
from reid.harness.cases import regdb_splits_note, table_cases
from reid.harness.reproduce import reproduce_case
from reid.harness.result import CaseResult, load_results, result_path, write_result
from reid.report.model import build_report, flat_items
from reid.report.pagecheck import page_problems
from reid.report.render import render_report
from reid.report.svg import VERDICT_COLOURS, DotLine, cmc_svg, table_svg
from tests.conftest import write_tiny_mscmnet

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="module")
def pages(tiny_golden, recorded, tmp_path_factory):
    runs, _ = recorded
    for case in table_cases(tiny_golden, "mscmnet", 1):
        reproduce_case(case, tiny_golden, profile="smoke", runs_dir=runs, rank1_factor=0.0, map_factor=0.0)
    report = build_report(tiny_golden, load_results(runs), profile="smoke", runs_dir=runs)
    out = tmp_path_factory.mktemp("report")
    written = render_report(report, out)
    return report, {path.name: path.read_text() for path in written}, out


def test_every_paper_gets_a_page_and_the_index_links_them(pages):
    report, html, _ = pages
    assert set(html) == {"index.html", *(f"{p.paper}.html" for p in report.papers)}
    assert 'href="mscmnet.html"' in html["index.html"]


def test_a_smoke_cell_shows_ours_against_the_band_and_the_paper_value_as_context(pages):
    report, html, _ = pages
    page = html["mscmnet.html"]
    row = report.papers[0].tables[0].rows[0]
    cell = row.cells[0]
    assert cell.verdict == "within" and cell.ours is not None and cell.basis == "smoke"
    low, high = cell.band
    assert low <= cell.ours <= high and cell.paper == 47.5
    assert cell.difference is None  # no difference against the paper coloured by a smoke verdict
    assert f'<span class="ours">{cell.ours:.2f}</span>' in page
    assert f'<span class="band">band {low:.1f}-{high:.1f}</span>' in page
    assert "paper 47.5</span>" in page and 'class="diff"' not in page
    assert 'class="num within"' in page and 'class="num reference"' in page
    assert "Smoke profile." in page  # the smoke banner says these are not paper reproductions
    # a setting on a real data set runs on its synthetic stand-in, and its column head says so
    assert "<th colspan=\"2\">sysu_all_single (synthetic stand-in)</th>" in page


def test_claims_audit_checks_the_paper_but_not_smoke_runs(pages):
    report, html, _ = pages
    (claim,) = report.papers[0].claims
    assert claim.paper_quantity == pytest.approx(7.25) and claim.paper_agrees is True
    assert claim.checked is False and claim.our_quantity is None and claim.our_agrees is None
    assert "DDAG beats AGW by 7.25 rank-1" in html["mscmnet.html"]
    assert "not checked under the smoke profile" in html["mscmnet.html"]


def test_runs_show_weights_selection_environment_and_cmc_curves(pages):
    _, html, _ = pages
    page = html["mscmnet.html"]
    assert "FROM SCRATCH" in page and "model selection" in page
    # protocol and environment as key-value tables, not raw JSON
    assert '<td class="key">torch_threads</td>' in page and '<td class="key">distributed.world_size</td>' in page
    assert '<td class="key">protocol_options.num_trials</td>' in page and '"torch_threads": 1' not in page
    # one CMC picture per run (mean and spread with a legend) and one picture of table 1 (one row ran)
    assert page.count("<svg") == 2 and page.count('class="cmc-mean"') == 1 and page.count('class="cmc-band"') == 1
    assert "min-max over trials" in page and "matching rate (%)" in page
    assert page.count('<circle class="ours within"') == 4 and "recorded smoke band" in page


def test_text_from_golden_files_is_escaped(pages):
    _, html, _ = pages
    page = html["mscmnet.html"]
    assert "<script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "AGW &lt;b&gt;tiny&lt;/b&gt;" in page


def test_no_external_assets(pages):
    _, html, _ = pages
    for name, page in html.items():
        links = re.findall(r'(?:src|href)="([^"]+)"', page)
        assert all(not re.match(r"[a-z]+:", link) for link in links), (name, links)
        assert "<link" not in page and "<script" not in page


def test_record_mappings_become_flat_key_value_rows():
    environment = {"device": "cpu", "cuda": None, "amp": False, "torch_threads": 1,
                   "distributed": {"backend": None, "world_size": 1, "inner": {"deep": [1, 2]}},
                   "gpus": ["a", "b"], "empty": {}}
    assert flat_items(environment) == [
        ("device", "cpu"), ("cuda", "null"), ("amp", "false"), ("torch_threads", "1"),
        ("distributed.backend", "null"), ("distributed.world_size", "1"), ("distributed.inner.deep", "1, 2"),
        ("gpus", "a, b"), ("empty", "{}")]


def test_cmc_svg_draws_the_mean_over_trials_with_its_spread_and_a_legend():
    trials = [[10.0, 50.0, 100.0], [20.0, 60.0, 100.0], [30.0, 40.0, 100.0]]
    svg = cmc_svg(trials, 'CMC "<&>"')
    assert svg.count("<path") == 2 and svg.count('class="cmc-mean"') == 1 and svg.count('class="cmc-band"') == 1
    assert "mean of 3 trials" in svg and "min-max over trials" in svg
    assert ">rank</text>" in svg and ">matching rate (%)</text>" in svg
    assert "<&>" not in svg and "CMC &quot;&lt;&amp;&gt;&quot;" in svg and "<title>CMC \"&lt;&amp;&gt;\"</title>" in svg
    assert "rank-1 20.00" in svg  # the mean line: (10 + 20 + 30) / 3
    assert "mean of 1 trial<" in cmc_svg([[5.0, 6.0]], "one")


def test_table_svg_draws_one_dot_per_cell_of_ours_coloured_by_its_verdict():
    lines = [DotLine("row <b>1</b> sysu rank1", 47.5, 47.5, 3.0, 46.0, "within"),
             DotLine("row 1 sysu mAP", 45.0, 45.0, 3.0, 30.0, "outside"),
             DotLine("row 2 regdb rank1", 60.0, None, None, 20.0, "unchecked"),
             DotLine("row 3 smoke mAP", 60.0, 18.0, 8.0, 20.0, "within")]
    svg = table_svg(lines, "Table 1 <b>", band="recorded smoke band")
    dots = re.findall(r'<circle class="ours (\w+)"[^>]*fill="(#[0-9a-f]+)"', svg)
    assert dots == [(line.verdict, VERDICT_COLOURS[line.verdict]) for line in lines]
    assert svg.count('class="paper"') == 4 and svg.count('class="tolerance"') == 3  # no band where not compared
    assert "<b>" not in svg and "row &lt;b&gt;1&lt;/b&gt; sysu rank1" in svg and "Table 1 &lt;b&gt;" in svg
    assert "recorded smoke band" in svg and "<script" not in svg


@pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed (Debian package chromium)")
def test_pages_load_in_headless_chromium_without_console_errors(pages, tmp_path):
    _, html, out = pages
    for name in html:
        completed = subprocess.run(
            [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             f"--user-data-dir={tmp_path / 'profile'}", "--enable-logging=stderr", "--v=0", "--dump-dom",
             (out / name).as_uri()],
            capture_output=True, text=True, timeout=120, check=False,
        )
        assert completed.returncode == 0, completed.stderr[-2000:]
        console = [line for line in completed.stderr.splitlines() if ":CONSOLE" in line]
        assert not console, (name, console)
        assert "</table>" in completed.stdout


def test_reid_report_renders_every_table_even_with_nothing_run(tmp_path):
    from reid.cli import main

    assert main(["report", "--runs", str(tmp_path / "runs"), "--report", str(tmp_path / "out")]) == 0
    page = (tmp_path / "out" / "xiv.html").read_text()
    assert page.count("<h2 id=\"xiv_table") == 5 and 'class="num not_run"' in page and "Claims audit" in page


@pytest.mark.parametrize(
    ("argv", "words"),
    [(["reproduce", "nope"], "paper 'nope' is not known"),
     (["reproduce", "xiv", "--profile", "paper", "--device", "cpu"], "needs a CUDA device")],
)
def test_reproduce_refuses_bad_requests_before_running(argv, words, capsys, tmp_path):
    from reid.cli import main

    assert main([*argv, "--runs", str(tmp_path)]) == 2
    assert words in capsys.readouterr().err


def test_a_row_says_how_many_regdb_splits_its_values_are_the_mean_of(tiny_golden, tmp_path):
    case, reference = table_cases(tiny_golden, "mscmnet", 1)
    evaluation = {"primary_feature": "bn", "splits": [],
                  "features": {"bn": {"mean": {"rank1": 47.0, "mAP": 47.0}, "trials": []}}}
    note = regdb_splits_note([1, 2, 3])
    result = CaseResult(paper="mscmnet", table=1, row=case.id, label=case.row.label, profile="paper",
                        outcome="passed", reason=None, expected_source="paper",
                        evaluations={"sysu_all_single": evaluation, "sysu_indoor_single": evaluation},
                        regdb_splits={"note": note, "splits": [1, 2, 3], "of": 10, "per_split": {}})
    path = result_path(tmp_path, "mscmnet", 1, case.slug)
    write_result(path, result)
    report = build_report(tiny_golden, load_results(tmp_path), profile="paper", runs_dir=tmp_path)
    row, other = report.papers[0].tables[0].rows
    assert row.regdb_note == "RegDB: mean of splits 1-3 (3 of 10)" and other.regdb_note is None
    (page,) = [p for p in render_report(report, tmp_path / "out") if p.name == "mscmnet.html"]
    assert '<span class="splits">RegDB: mean of splits 1-3 (3 of 10)</span>' in page.read_text()
    path.write_text(json.dumps(result.to_dict() | {"regdb_splits": "all"}))
    with pytest.raises(ArtifactError, match="regdb_splits"):
        load_results(tmp_path)


def test_a_row_says_what_test_set_selection_would_have_reported(tiny_golden, tmp_path):
    case, _ = table_cases(tiny_golden, "mscmnet", 1)
    evaluation = {"primary_feature": "bn", "splits": [],
                  "features": {"bn": {"mean": {"rank1": 47.0, "mAP": 47.0}, "trials": []}}}
    picked = {"rule": "highest trial-0 test rank-1", "epoch": 61, "evaluated_epochs": 41,
              "metrics": {"rank1": 48.2, "mAP": 47.85}, "last_metrics": {"rank1": 47.0, "mAP": 47.0},
              "gain": {"rank1": 1.2, "mAP": 0.85, "mINP": None}}
    result = CaseResult(paper="mscmnet", table=1, row=case.id, label=case.row.label, profile="paper",
                        outcome="passed", reason=None, expected_source="paper",
                        evaluations={"sysu_all_single": evaluation, "sysu_indoor_single": evaluation},
                        test_selection={"sysu_all_single": picked})
    path = result_path(tmp_path, "mscmnet", 1, case.slug)
    write_result(path, result)
    report = build_report(tiny_golden, load_results(tmp_path), profile="paper", runs_dir=tmp_path)
    row, other = report.papers[0].tables[0].rows
    note = ("sysu_all_single: test-set selection (best trial-0 rank-1 of 41 evaluations, epoch 62) would report "
            "rank1 +1.20, mAP +0.85 over the last epoch")
    assert row.selection_notes == [note] and other.selection_notes == []
    (page,) = [p for p in render_report(report, tmp_path / "out") if p.name == "mscmnet.html"]
    assert note in page.read_text()
    path.write_text(json.dumps(result.to_dict() | {"test_selection": {"sysu_all_single": 1.2}}))
    with pytest.raises(ArtifactError, match="test_selection"):
        load_results(tmp_path)


EVALUATION = {"primary_feature": "bn", "splits": [],
              "features": {"bn": {"mean": {"rank1": 20.0, "mAP": 21.0}, "trials": []}}}


def _smoke_result(case, outcome, cells, problems=()):
    return CaseResult(paper="mscmnet", table=1, row=case.id, label=case.row.label, profile="smoke",
                      outcome=outcome, reason=None, expected_source="golden/smoke/mscmnet_table1.json",
                      cells=cells, problems=list(problems),
                      evaluations={"sysu_all_single": EVALUATION, "sysu_indoor_single": EVALUATION})


def _band_cells(paper_values):
    # ours inside a band centred on 18 (half-width 8) for every cell, far from the paper's values
    return [{"setting": s, "metric": m, "expected": 18.0, "ours": EVALUATION["features"]["bn"]["mean"][m],
             "tolerance": 8.0, "verdict": "within", "paper": paper_values[(s, m)]}
            for s, m in (("sysu_all_single", "rank1"), ("sysu_all_single", "mAP"),
                         ("sysu_indoor_single", "rank1"), ("sysu_indoor_single", "mAP"))]


def _render(tiny_golden, tmp_path, result, profile="smoke"):
    case, _ = table_cases(tiny_golden, "mscmnet", 1)
    write_result(result_path(tmp_path / "runs", "mscmnet", 1, case.slug), result)
    report = build_report(tiny_golden, load_results(tmp_path / "runs"), profile=profile, runs_dir=tmp_path / "runs")
    written = {p.name: p.read_text() for p in render_report(report, tmp_path / "out")}
    return report, written


def _index_row(index):
    (row,) = re.findall(r'<tr>\s*<td><a href="mscmnet.html">mscmnet</a></td>(.*?)</tr>', index, re.S)
    return [int(n) for n in re.findall(r'<td class="num[^"]*">(\d+)</td>', row)]


@pytest.mark.parametrize(
    ("outcome", "cells", "problems", "verdict"),
    [("passed", "band", [], "within"),
     # failed on the sanity bound with every cell inside its band
     ("failed", "band", ["rank-1 15.0 below the sanity bound"], "within"),
     # failed on a stale recording: nothing compared, the cells ran but are unchecked
     ("failed", "none", ["the smoke recording of row 'x' is stale"], "unchecked")],
)
def test_cell_colours_row_outcome_page_and_index_counts_agree(tiny_golden, tmp_path, outcome, cells, problems,
                                                              verdict):
    case, _ = table_cases(tiny_golden, "mscmnet", 1)
    result = _smoke_result(case, outcome, _band_cells(case.row.values) if cells == "band" else [], problems)
    report, html = _render(tiny_golden, tmp_path, result)
    paper = report.papers[0]
    row, reference = paper.tables[0].rows
    assert row.outcome == outcome and row.state == outcome and reference.state is None
    assert [c.verdict for c in row.cells] == [verdict] * 4
    assert all(c.difference is None for c in row.cells)  # nothing is measured against the paper in smoke
    # rows by outcome, cells by verdict: a failed row is never counted as fine
    assert paper.count_rows("failed") == (outcome == "failed")
    assert paper.count_rows("passed") == (outcome == "passed")
    assert paper.count(verdict) == 4 and paper.count("outside") == 0
    # the index: tables, rows, then rows by outcome (passed failed error skipped not_run), cells by verdict
    counts = _index_row(html["index.html"])
    assert counts[:7] == [1, 2, outcome == "passed", outcome == "failed", 0, 0, 0]
    assert counts[7:] == [4 * (verdict == "within"), 0, 4 * (verdict == "unchecked"), 0, 4, 0]
    page = html["mscmnet.html"]
    assert f'<td class="outcome-{outcome}">{outcome}' in page
    assert page.count(f'class="num {verdict}"') == 4
    for problem in problems:
        assert f'<span class="no">{problem}</span>'.replace("'", "&#39;") in page
    if cells == "band":
        assert '<span class="band">band 10.0-26.0</span>' in page and "paper 47.5</span>" in page
    # the claims audit does not judge smoke numbers against the paper's claims
    assert "not checked under the smoke profile" in page and paper.claims[0].our_agrees is None
    assert ('<td class="num outcome-failed">1</td>' in html["index.html"]) == (outcome == "failed")


def test_paper_pages_compare_with_the_paper_and_check_claims(tiny_golden, tmp_path):
    case, _ = table_cases(tiny_golden, "mscmnet", 1)
    cells = [{"setting": s, "metric": m, "expected": v, "ours": EVALUATION["features"]["bn"]["mean"][m],
              "tolerance": 3.0, "verdict": "outside", "paper": v} for (s, m), v in case.row.values.items()]
    result = CaseResult(paper="mscmnet", table=1, row=case.id, label=case.row.label, profile="paper",
                        outcome="failed", reason=None, expected_source="paper", cells=cells,
                        problems=["outside"], evaluations={"sysu_all_single": EVALUATION,
                                                           "sysu_indoor_single": EVALUATION})
    report, html = _render(tiny_golden, tmp_path, result, profile="paper")
    paper = report.papers[0]
    row = paper.tables[0].rows[0]
    assert [c.verdict for c in row.cells] == ["outside"] * 4 and row.cells[0].band is None
    assert row.cells[0].difference == pytest.approx(20.0 - 47.5)
    page = html["mscmnet.html"]
    assert '<span class="diff">-27.50</span>' in page and "stand-in" not in page
    # the table's picture: ours against paper ± tolerance, one red dot per compared cell
    assert page.count('<circle class="ours outside"') == 4 and "paper ± tolerance" in page
    (claim,) = paper.claims
    assert claim.checked and claim.our_quantity is None  # DDAG is a reference row: no value of ours
    assert "not checked under" not in page
    assert _index_row(html["index.html"])[:7] == [1, 2, 0, 1, 0, 0, 0]
    assert paper.count("outside") == 4


def test_the_cross_paper_grid_puts_the_largest_disagreement_first(tmp_path):
    root = tmp_path / "golden"
    root.mkdir()
    write_tiny_mscmnet(root, caption="A tiny table", label="AGW tiny")
    (root / "cmmp").mkdir()
    other = {"paper": "cmmp", "table": 1, "caption": "Another tiny table", "source": "test",
             "columns": [{"setting": "sysu_all_single", "metrics": ["rank1", "mAP"]}],
             "tolerance": {"rank1": 3.0, "mAP": 3.0},
             "rows": [{"label": "AGW", "status": "reference", "alias": "AGW", "values": [47.0, 47.65]},
                      {"label": "DDAG", "status": "reference", "alias": "DDAG", "values": [50.0, 53.02]}]}
    (root / "cmmp" / "table1.yaml").write_text(yaml.safe_dump(other, sort_keys=False))
    golden = load_golden(root)
    report = build_report(golden, [], profile="smoke", runs_dir=tmp_path)
    settings, rows = report.grid
    # DDAG: mscmnet prints 54.75 rank-1, cmmp 50.0 (spread 4.75); AGW: 47.5 against 47.0 (0.5).
    assert settings == ["sysu_all_single"] and [r.alias for r in rows] == ["DDAG", "AGW"]
    assert rows[0].spread == pytest.approx(4.75) and rows[1].setting_spread("sysu_all_single") == pytest.approx(0.5)
    assert rows[1].setting_spread("sysu_indoor_single") is None  # printed by one paper only
    pages = {p.name: p for p in render_report(report, tmp_path / "out")}
    index = pages["index.html"].read_text()
    grid = index[index.index('<table class="grid">'):]
    assert grid.index("<th>DDAG</th>") < grid.index("<th>AGW</th>")
    assert '<td class="outside"><details><summary>4.75</summary>' in grid
    assert 'cmmp T1 “<span class="name" title="printed: DDAG">DDAG</span>” 50.0' in grid
    assert '<td class="within"><details><summary>0.50</summary>' in grid
    assert page_problems(pages["index.html"], set(pages) | {"verdicts.csv", "verdicts.json"}) == []


def test_golden_markup_renders_as_sub_and_sup_with_every_text_piece_escaped():
    from reid.report.markup import printed, to_html

    assert to_html("L_{id}^{global} <b>") == "L<sub>id</sub><sup>global</sup> &lt;b&gt;"
    assert to_html("Printed 'CMFT <sub>S6&</sub>'") == "Printed &#39;CMFT<sub>S6&amp;</sub>&#39;"
    assert to_html("D²RL") == "D<sup>2</sup>RL" and to_html(None) == ""
    assert printed("D <sup>2</sup> RLWang et al. (2019b)") == "D^2RLWang et al. (2019b)"
    with pytest.raises(ValueError, match="unbalanced"):
        to_html("a_{b")
