"""Report pages checked as a reader would (reid/report/pagecheck.py): each rule on hand-written pages, then
every page of a rendered report (smoke and paper profile), then the same checks on headless Chromium's DOM."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from reid.golden import load_golden
from reid.harness.cases import table_cases
from reid.harness.result import CaseResult, load_results, result_path, write_result
from reid.report.model import build_report
from reid.report.pagecheck import page_problems
from reid.report.render import render_report
from tests.conftest import write_tiny_mscmnet

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
PAGES = {"index.html", "paper.html", "verdicts.csv"}


def _page(tmp_path: Path, body: str, name: str = "paper.html", head: str = "") -> Path:
    path = tmp_path / name
    path.write_text(f"<!doctype html><html><head><title>t</title>{head}</head><body><h1>Report</h1>{body}"
                    "</body></html>")
    return path


def _problems(tmp_path: Path, body: str, head: str = "") -> list[str]:
    return page_problems(_page(tmp_path, body, head=head), PAGES)


CLEAN = ('<h2 id="t1">Table 1</h2><table><thead><tr><th>row</th></tr></thead><tbody><tr><td>D2RL 1 &lt; 2</td>'
         '</tr></tbody></table><p><a href="index.html">index</a> <a href="#t1">table</a> '
         '<a href="verdicts.csv">csv</a> <a href="https://example.org/paper">paper</a></p>'
         '<svg><text>rank-1</text></svg>')


def test_a_clean_page_has_no_problems(tmp_path):
    assert _problems(tmp_path, CLEAN, head="<style>td { color: red; background: url(bar.png) }</style>") == []


@pytest.mark.parametrize(
    "text",
    ["D &lt;sup&gt;2&lt;/sup&gt; RL", "a &lt;/b&gt;", "CMFT &lt;sub&gt;S6&lt;/sub&gt;", "{{ row.label }}",
     "{% if x %}", r"$\mathrm{cm}$", "L^{global}", "L_{id}", r"first line\nsecond"],
)
def test_raw_markup_in_visible_text_is_found(tmp_path, text):
    (problem,) = _problems(tmp_path, f"<h2>Table 3</h2><p>{text}</p>")
    assert problem.startswith("paper.html:1: raw markup ") and "expected plain text" in problem
    assert 'under "Table 3"' in problem


def test_raw_markup_in_a_tooltip_is_found_and_style_text_is_not_visible(tmp_path):
    (problem,) = _problems(tmp_path, '<span title="L_{id}">x</span>', head="<style>a { x: '{{' }</style>")
    assert "title attribute of <span>" in problem and "'_{'" in problem


@pytest.mark.parametrize(
    ("body", "found"),
    [("<table><tr><th>a</th></tr></table>", "<table> with no <td> cells"),
     ("<table><thead><tr><th>a</th></tr></thead><tbody></tbody><tr><td>1</td></tr></table>",
      "<tbody> with no <tr> rows")],
)
def test_an_empty_table_is_found(tmp_path, body, found):
    (problem,) = _problems(tmp_path, f"<h2>Runs</h2>{body}")
    assert problem.startswith("paper.html:1: empty table: ") and found in problem
    assert 'under "Runs"' in problem and "expected at least one" in problem


@pytest.mark.parametrize(
    ("href", "found"),
    [("missing.html", "no file 'missing.html' in the report"),
     ("sub/index.html", "no file 'sub/index.html' in the report"),
     ("#nowhere", "no element with id 'nowhere' on 'paper.html'"),
     ("index.html#nowhere", "no element with id 'nowhere' on 'index.html'")],
)
def test_a_broken_internal_link_is_found(tmp_path, href, found):
    _page(tmp_path, '<p id="top">index</p>', name="index.html")
    (problem,) = _problems(tmp_path, f'<a href="{href}">go</a>')
    assert problem.startswith(f'paper.html:1: broken link href="{href}": ') and found in problem


def test_a_link_to_an_anchor_on_another_page_resolves(tmp_path):
    _page(tmp_path, '<p id="top">index</p>', name="index.html")
    assert _problems(tmp_path, '<a href="index.html#top">top</a>') == []


def test_a_listed_page_missing_from_the_folder_is_a_broken_link(tmp_path):
    (problem,) = _problems(tmp_path, '<a href="index.html#top">top</a>')
    assert "'index.html' is one of the report's files but is not in" in problem


@pytest.mark.parametrize(
    ("head", "body", "found"),
    [("", '<script src="https://cdn.example.org/x.js"></script>', '<script src="https://cdn.example.org/x.js">'),
     ('<link rel="stylesheet" href="//cdn.example.org/x.css">', "", '<link href="//cdn.example.org/x.css">'),
     ("", '<img src="http://example.org/x.png" alt="x">', '<img src="http://example.org/x.png">'),
     ("", '<iframe src="https://example.org/"></iframe>', '<iframe src="https://example.org/">'),
     ("<style>body { background: url('https://example.org/bg.png') }</style>", "",
      'CSS url "https://example.org/bg.png" in <style>'),
     ("", '<p style="background: url(//example.org/bg.png)">x</p>',
      'CSS url "//example.org/bg.png" in style attribute of <p>')],
)
def test_an_external_asset_is_found(tmp_path, head, body, found):
    problems = _problems(tmp_path, body, head=head)
    assert any(found in p and "expected an inline or local asset" in p for p in problems), problems
    assert all(p.startswith("paper.html:1: external asset: ") for p in problems)


def test_any_script_is_found_even_inline(tmp_path):
    (problem,) = _problems(tmp_path, "<script>let a = '{{';</script>")
    assert problem == "paper.html:1: external asset: a <script> element; expected no JavaScript at all"


# A golden table like the shared tiny one (tests/conftest.py), but with plain labels: the shared one carries
# markup on purpose, for the escaping tests, and a reader would rightly see it as raw markup.
def _golden(root: Path, second_paper: bool, second_claims: bool = True):
    write_tiny_mscmnet(root, caption="A tiny table", label="AGW tiny")
    if second_paper:
        # a second paper printing AGW, so the index's "same method, different numbers" table has a row
        (root / "cmmp").mkdir()
        other = {
            "paper": "cmmp", "table": 1, "caption": "Another tiny table", "source": "test",
            "columns": [{"setting": "sysu_all_single", "metrics": ["rank1", "mAP"]}],
            "tolerance": {"rank1": 3.0, "mAP": 3.0},
            "rows": [{"label": "AGW", "status": "reference", "alias": "AGW", "values": [47.0, 47.65]}],
        }
        (root / "cmmp" / "table1.yaml").write_text(yaml.safe_dump(other, sort_keys=False))
        if second_claims:
            claim = {"paper": "cmmp", "claims": [{
                "id": "agw-rank1", "text": "AGW reaches 47.0 rank-1", "source": "test", "kind": "value",
                "a": {"table": 1, "row": "AGW", "setting": "sysu_all_single", "metric": "rank1"}, "value": 47.0}]}
            (root / "cmmp" / "claims.yaml").write_text(yaml.safe_dump(claim, sort_keys=False))
    return load_golden(root)


@pytest.fixture(scope="module")
def plain_golden(tmp_path_factory):
    return _golden(tmp_path_factory.mktemp("golden"), second_paper=True)


EVALUATION = {"primary_feature": "bn", "splits": [],
              "features": {"bn": {"mean": {"rank1": 20.0, "mAP": 21.0}, "trials": []}}}


def _result(case, profile: str) -> CaseResult:
    if profile == "smoke":
        cells = [{"setting": s, "metric": m, "expected": 18.0, "ours": EVALUATION["features"]["bn"]["mean"][m],
                  "tolerance": 8.0, "verdict": "within", "paper": v} for (s, m), v in case.row.values.items()]
        source, outcome, problems = "golden/smoke/mscmnet_table1.json", "passed", []
    else:
        cells = [{"setting": s, "metric": m, "expected": v, "ours": EVALUATION["features"]["bn"]["mean"][m],
                  "tolerance": 3.0, "verdict": "outside", "paper": v} for (s, m), v in case.row.values.items()]
        source, outcome, problems = "paper", "failed", ["rank-1 20.0 outside 47.5 +- 3.0"]
    return CaseResult(paper="mscmnet", table=1, row=case.id, label=case.row.label, profile=profile,
                      outcome=outcome, reason=None, expected_source=source, cells=cells, problems=problems,
                      evaluations={"sysu_all_single": EVALUATION, "sysu_indoor_single": EVALUATION})


def _rendered(golden, tmp_path: Path, profile: str) -> list[Path]:
    case, _ = table_cases(golden, "mscmnet", 1)
    runs = tmp_path / "runs"
    write_result(result_path(runs, "mscmnet", 1, case.slug), _result(case, profile))
    report = build_report(golden, load_results(runs), profile=profile, runs_dir=runs)
    return render_report(report, tmp_path / "out")


@pytest.mark.parametrize("profile", ["smoke", "paper"])
def test_every_rendered_page_reads_cleanly(plain_golden, tmp_path, profile):
    written = _rendered(plain_golden, tmp_path, profile)
    names = {path.name for path in written}
    assert names == {"index.html", "mscmnet.html", "cmmp.html"}
    # the index links the verdict exports, which render_results writes beside the pages
    pages = names | {"verdicts.csv", "verdicts.json"}
    assert {path.name: page_problems(path, pages) for path in written} == {name: [] for name in names}


# The index's alias table when no method is printed by two papers, and a paper's claims audit when it has no
# claims, once rendered as a header without rows.
@pytest.mark.parametrize(("second_paper", "page"), [(False, "index.html"), (True, "cmmp.html")])
def test_a_section_with_nothing_to_show_has_no_empty_table(tmp_path, second_paper, page):
    (tmp_path / "golden").mkdir()
    golden = _golden(tmp_path / "golden", second_paper=second_paper, second_claims=False)
    written = {path.name: path for path in _rendered(golden, tmp_path, "smoke")}
    assert page_problems(written[page], set(written) | {"verdicts.csv", "verdicts.json"}) == []


@pytest.mark.skipif(CHROMIUM is None, reason="headless Chromium is not installed (chromium, chromium-browser or "
                                             "google-chrome on PATH); the DOM check needs a browser")
def test_the_dom_chromium_builds_reads_cleanly(plain_golden, tmp_path):
    written = _rendered(plain_golden, tmp_path, "smoke")
    pages = {path.name for path in written} | {"verdicts.csv", "verdicts.json"}
    index = tmp_path / "out" / "index.html"
    completed = subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         f"--user-data-dir={tmp_path / 'profile'}", "--dump-dom", index.as_uri()],
        capture_output=True, text=True, timeout=120, check=False,
    )
    assert completed.returncode == 0, completed.stderr[-2000:]
    assert "</table>" in completed.stdout
    assert page_problems(index, pages, text=completed.stdout) == []


def test_the_real_golden_report_shows_no_raw_markup(tmp_path):
    """Every name, caption and note of golden/ rendered: sub- and superscripts as elements, never as markup text
    (36 raw-markup problems before row names had one canonical markup, issue #21)."""
    from reid.report.pagecheck import report_problems
    from reid.report.render import render_results

    out = tmp_path / "out"
    render_results(load_golden(), "smoke", tmp_path / "runs", out)
    assert report_problems(out) == []
    cmmp = (out / "cmmp.html").read_text(encoding="utf-8")
    # the clean name with its superscript, the citation beside it, the printed label as the tooltip
    assert ('<span class="name" title="printed: D^2RLWang et al. (2019b)">D<sup>2</sup>RL</span> '
            '<span class="muted cite">Wang et al. (2019b)</span>') in cmmp
    index = (out / "index.html").read_text(encoding="utf-8")
    assert "RLWang" not in index.replace('title="printed: D^2RLWang', "")  # the cross-paper view: names, not labels
