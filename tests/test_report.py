"""The HTML report: rendered from a real (tiny) case's records, content checked, escaping, headless Chromium."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest

from reid.harness.cases import table_cases
from reid.harness.reproduce import reproduce_case
from reid.harness.result import load_results
from reid.report.model import build_report
from reid.report.render import render_report
from reid.report.svg import cmc_svg

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


def test_the_table_shows_paper_value_ours_difference_and_verdict(pages):
    report, html, _ = pages
    page = html["mscmnet.html"]
    row = report.papers[0].tables[0].rows[0]
    cell = row.cells[0]
    assert cell.verdict == "within" and cell.ours is not None
    assert f'<span class="ours">{cell.ours:.2f}</span>' in page
    assert f'<span class="diff">{cell.ours - 47.5:+.2f}</span>' in page
    assert 'class="num within"' in page and 'class="num reference"' in page
    assert "Smoke profile." in page  # the smoke banner says these are not paper reproductions


def test_claims_audit_checks_the_paper_and_our_runs(pages):
    report, html, _ = pages
    (claim,) = report.papers[0].claims
    assert claim.paper_quantity == pytest.approx(7.25) and claim.paper_agrees is True
    assert claim.our_quantity is None  # DDAG is a reference row: the claim cannot be checked on our runs
    assert "DDAG beats AGW by 7.25 rank-1" in html["mscmnet.html"]


def test_runs_show_weights_selection_environment_and_cmc_curves(pages):
    _, html, _ = pages
    page = html["mscmnet.html"]
    assert "FROM SCRATCH" in page and "model selection" in page and "torch_threads" in page
    assert page.count("<svg") == 1 and "<polyline" in page


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


def test_svg_escapes_its_labels():
    svg = cmc_svg([("<i>x</i>", [10.0, 50.0, 100.0])], 'title "<b>"')
    assert "<i>" not in svg and "&lt;i&gt;" in svg and "<b>" not in svg


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
