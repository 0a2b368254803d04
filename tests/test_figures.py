"""Figure sweeps (golden/<paper>/figure<N>.yaml): parsing, the points planned per profile, the stated-optimum claim,
a point's verdict with the engine faked, the benchmark collection (never in CI) and the report's section."""

from __future__ import annotations

import copy
import json
import shutil
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml

from reid.config import fingerprint
from reid.errors import ArtifactError, GoldenError
from reid.golden import RETRIEVAL_METRICS, load_golden
from reid.harness import execute as execute_module
from reid.harness.cases import plan, table_cases
from reid.harness.figures import (
    PointResult,
    check_figure,
    figure_points,
    load_point_results,
    panel_optimum,
    plan_point,
    point_result_path,
    reproduce_point,
    write_point_result,
)
from reid.harness.result import load_results
from reid.report.model import build_report
from reid.report.pagecheck import page_problems
from reid.report.render import render_report
from reid.report.svg import sweep_svg
from tests.conftest import REPO_ROOT

GOLDEN = REPO_ROOT / "golden"
FIGURE = yaml.safe_load((GOLDEN / "ffdml" / "figure4.yaml").read_text())
GRID = [round(0.2 * i, 1) for i in range(11)]


@pytest.fixture(scope="module")
def golden():
    return load_golden(GOLDEN)


def _golden_with(root: Path, figure: dict | None, name: str = "figure4.yaml"):
    """A golden folder of the real settings and aliases and one ffdml figure file ``name`` holding ``figure``."""
    shutil.copy(GOLDEN / "settings.yaml", root)
    shutil.copy(GOLDEN / "aliases.yaml", root)
    (root / "ffdml").mkdir(exist_ok=True)
    (root / "ffdml" / name).write_text(yaml.safe_dump(figure, sort_keys=False, allow_unicode=True))
    return load_golden(root)


# --- parsing -------------------------------------------------------------------------------------------------------

def test_the_figure4_file_reads_as_the_text_states_it(golden):
    figure = golden.figures[("ffdml", 4)]
    assert golden.paper_figures("ffdml") == [figure] and figure.key == "ffdml_figure4"
    assert (figure.method, figure.setting, figure.metrics) == ("ffdml", "sysu_all_single", ("rank1", "mAP"))
    a, b = figure.panels
    assert (a.panel, a.option, a.name) == ("a", "method_options.theta1", "theta1")
    assert a.fixed == ("method_options.theta2=1.0",)
    assert (b.panel, b.option, b.fixed) == ("b", "method_options.theta2", ("method_options.theta1=0.6",))
    assert list(a.values) == GRID and list(b.values) == GRID
    assert a.smoke_values == (0.0, 0.6, 2.0) and b.smoke_values == (0.4, 1.0, 1.8)
    assert (a.stated_best, a.stated_peaks) == (0.6, ())
    assert (b.stated_best, b.stated_peaks) == (1.8, (0.4, 1.0, 1.8))
    assert "reach the highest value when θ_{1} = 0.6" in a.text and "three peak points at 0.4, 1 and 1.8" in b.text
    assert figure.panel("b") is b
    with pytest.raises(KeyError, match="panels: \\['a', 'b'\\]"):
        figure.panel("c")
    assert check_figure(figure) == "registered"


def _edit(change):
    figure = copy.deepcopy(FIGURE)
    change(figure)
    return figure


def _set(path: tuple, value):
    def change(figure):
        target = figure
        for key in path[:-1]:
            target = target[key]
        if value is KeyError:
            del target[path[-1]]
        else:
            target[path[-1]] = value
    return change


@pytest.mark.parametrize(
    ("change", "field", "expected"),
    [
        (_set(("colour",), "red"), None, "unknown ['colour']"),
        (_set(("panels", 0, "ticks"), [1.0]), "panels[0]", "unknown ['ticks']"),
        (_set(("panels", 0, "option"), "optim.lr"), "panels[0].option", "'method_options.<name>'"),
        (_set(("panels", 1, "option"), "theta2"), "panels[1].option", "'method_options.<name>'"),
        (_set(("panels", 0, "values"), []), "panels[0].values", "a non-empty list"),
        (_set(("panels", 0, "values"), KeyError), "panels[0].values", "a value of type list"),
        (_set(("panels", 0, "values"), [0.0, 0.6, 0.4]), "panels[0].values", "increasing order"),
        (_set(("panels", 0, "values"), [0.0, "a"]), "panels[0].values", "finite numbers"),
        (_set(("panels", 0, "stated_best"), 0.5), "panels[0].stated_best", "one of the panel's values"),
        (_set(("panels", 1, "stated_peaks"), [0.4, 1.1]), "panels[1].stated_peaks", "not among them: [1.1]"),
        (_set(("panels", 1, "smoke_values"), [0.3]), "panels[1].smoke_values", "not among them: [0.3]"),
        (_set(("panels", 1, "smoke_values"), []), "panels[1].smoke_values", "a non-empty list"),
        (_set(("panels", 0, "fixed"), ["method_options.theta1=1.0"]), "panels[0].fixed[0]", "another key"),
        (_set(("panels", 0, "fixed"), ["theta2"]), "panels[0].fixed[0]", "'key=value'"),
        (_set(("panels", 1, "panel"), "a"), "panels", "distinct panel letters"),
        (_set(("panels", 0, "panel"), "A"), "panels[0].panel", "one lower-case letter"),
        (_set(("panels",), []), "panels", "at least one panel"),
        (_set(("setting",), "sysu_nowhere"), "setting", "a key of settings.yaml"),
        (_set(("metrics",), ["rank1", "params_M"]), "metrics", "distinct names among"),
        (_set(("metrics",), []), "metrics", "distinct names among"),
        (_set(("method",), "FF DML"), "method", "a method name"),
        (_set(("figure",), 5), "figure", "the number in the file name (4)"),
        (_set(("paper",), "xiv"), "paper", "equal to the folder name 'ffdml'"),
        (_set(("text",), "x"), None, "unknown ['text']"),
        (_set(("panels", 0, "text"), KeyError), "panels[0].text", "a value of type str"),
    ],
)
def test_a_bad_figure_file_is_refused_naming_the_file_and_field(tmp_path, change, field, expected):
    with pytest.raises(GoldenError) as caught:
        _golden_with(tmp_path, _edit(change))
    error = caught.value
    assert error.path == tmp_path / "ffdml" / "figure4.yaml" and error.field == field
    assert expected in error.expected, error.expected


@pytest.mark.parametrize(
    ("change", "field", "expected"),
    [
        (_set(("method",), "nosuch"), "method", "a registered method"),
        (_set(("panels", 1, "option"), "method_options.theta3"), "panels[1].option", "an option of 'ffdml'"),
    ],
)
def test_a_figure_of_an_unknown_method_or_option_fails_the_harness_check(tmp_path, change, field, expected):
    figure = _golden_with(tmp_path, _edit(change)).figures[("ffdml", 4)]  # the golden layer has no registry
    with pytest.raises(GoldenError) as caught:
        check_figure(figure)
    assert caught.value.field == field and expected in caught.value.expected


def test_a_paper_key_not_yet_registered_is_planned(tmp_path):
    figure = _golden_with(tmp_path, _edit(_set(("method",), "mscmnet"))).figures[("ffdml", 4)]
    assert check_figure(figure) == "planned"
    (point, *_) = figure_points(load_golden(tmp_path), "ffdml", 4, "smoke")
    assert "not yet implemented" in point.skip_reason()


@pytest.mark.parametrize("name", ["figure.yaml", "figure04.yaml", "fig4.yaml"])
def test_only_figure_n_files_are_figures(tmp_path, name):
    with pytest.raises(GoldenError, match="only table<N>.yaml files, figure<N>.yaml files and claims.yaml"):
        _golden_with(tmp_path, FIGURE, name=name)


# --- planning ------------------------------------------------------------------------------------------------------

def test_the_smoke_profile_runs_each_panels_smoke_values(golden):
    points = figure_points(golden, "ffdml", 4, "smoke")
    assert [p.id for p in points] == ["a-theta1=0.0", "a-theta1=0.6", "a-theta1=2.0",
                                      "b-theta2=0.4", "b-theta2=1.0", "b-theta2=1.8"]
    assert points[1].row.overrides == ("method_options.theta2=1.0", "method_options.theta1=0.6")
    assert points[3].row.overrides == ("method_options.theta1=0.6", "method_options.theta2=0.4")
    assert points[0].slug == "a-theta1-0-0" and len({p.slug for p in points}) == len(points)
    for point in points:
        (training,) = plan_point(point, golden, "smoke")
        options = training.config.method_options
        assert options[point.panel.name] == point.value and isinstance(options[point.panel.name], float)
        other = "theta2" if point.panel.name == "theta1" else "theta1"
        assert options[other] == (1.0 if point.panel.panel == "a" else 0.6)
        settings = [key for evaluation in training.evaluations for key in evaluation.settings]
        assert settings == ["sysu_all_single"]


@pytest.mark.parametrize("profile", ["smoke", "paper"])
def test_the_paper_config_point_shares_the_full_methods_training(golden, tmp_path, profile):
    points = {p.id: p for p in figure_points(golden, "ffdml", 4, profile)}
    assert len(points) == (22 if profile == "paper" else 6)
    full = next(c for c in table_cases(golden, "ffdml", 1) if c.row.alias == "FFDML")
    prints = {key: [fingerprint(t.config) for t in plan_point(p, golden, profile, data_root=tmp_path)]
              for key, p in points.items()}
    assert prints["b-theta2=1.8"] == [fingerprint(t.config) for t in plan(full, golden, profile, data_root=tmp_path)]
    assert prints["a-theta1=0.6"] == prints["b-theta2=1.0"]  # theta1 0.6, theta2 1.0 on both panels: one training
    assert len({tuple(v) for v in prints.values()}) == len(points) - 1
    if profile == "paper":
        (training,) = plan_point(points["a-theta1=1.4"], golden, "paper", data_root=tmp_path)
        assert training.config.data.dataset == "sysu_mm01" and training.config.data.root == str(tmp_path / "sysu_mm01")


# --- the stated-optimum claim ----------------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("measured", "ours", "holds"),
    [
        ({0.0: 40.0, 0.6: 52.0, 2.0: 45.0}, (0.6,), True),
        ({0.0: 40.0, 0.6: 52.0, 2.0: 53.5}, (2.0,), False),
        ({0.0: 52.0, 0.6: 52.0, 2.0: 45.0}, (0.0, 0.6), True),  # a tie that includes the stated value
        ({0.0: 40.0, 0.6: None, 2.0: 45.0}, (2.0,), None),  # a point without a number: not judged
        ({0.0: 40.0, 2.0: 45.0}, (2.0,), None),
        ({0.0: 40.0, 0.6: float("nan"), 2.0: 45.0}, (2.0,), None),
    ],
)
def test_the_stated_best_holds_when_it_is_among_our_argmax(golden, measured, ours, holds):
    panel = golden.figures[("ffdml", 4)].panel("a")
    optimum = panel_optimum(panel, "rank1", measured, panel.smoke_values)
    assert optimum.ours == ours and optimum.holds is holds and optimum.stated == 0.6
    assert optimum.best == max(v for v in measured.values() if v is not None and v == v)
    assert optimum.missing == tuple(v for v in panel.smoke_values if measured.get(v) is None
                                    or measured[v] != measured[v])


def test_no_stated_best_is_never_judged(tmp_path):
    figure = _golden_with(tmp_path, _edit(_set(("panels", 0, "stated_best"), KeyError))).figures[("ffdml", 4)]
    panel = figure.panel("a")
    optimum = panel_optimum(panel, "mAP", {v: 1.0 + v for v in panel.smoke_values}, panel.smoke_values)
    assert optimum.ours == (2.0,) and optimum.holds is None


# --- a point's verdict, the engine faked -----------------------------------------------------------------------------

def _evaluation(metrics: dict, random: dict) -> dict:
    full = {m: None for m in RETRIEVAL_METRICS} | metrics
    return {"protocol": "sysu_mm01", "protocol_options": {"mode": "all", "shots": 1}, "primary_feature": "bn",
            "splits": [{"trial": 0, "num_gallery_ids": 10, "random": random}],
            "features": {"bn": {"mean": full, "trials": [full]}}}


@pytest.fixture
def fake_engine(monkeypatch):
    """Runs and evaluations replaced by fakes: every model measures ``state["metrics"]`` (random features: rank-1 10,
    mAP 8)."""
    state = {"metrics": {"rank1": 50.0, "rank10": 80.0, "rank20": 90.0, "mAP": 40.0}, "runs": []}
    configs = {}

    def run(config, **_):
        configs[fingerprint(config)] = config
        state["runs"].append(fingerprint(config))
        return SimpleNamespace(fingerprint=fingerprint(config), total_wall_time_s=1.0, epochs=[], selection=None,
                               final_evaluation=_evaluation(state["metrics"], {"rank1": 10.0, "mAP": 8.0}))

    monkeypatch.setattr(execute_module, "preflight", lambda *a, **k: None)
    monkeypatch.setattr(execute_module, "run", run)
    monkeypatch.setattr(execute_module, "resolve_checkpoint_path", lambda folder: folder)
    monkeypatch.setattr(execute_module, "load_trained",
                        lambda path: SimpleNamespace(path=path, config=configs[Path(path).name]))
    monkeypatch.setattr(execute_module, "default_record_path", lambda path, config: path / "no-such-record.json")
    monkeypatch.setattr(execute_module, "evaluate_checkpoint", lambda checkpoint, config, **_: SimpleNamespace(
        evaluation=_evaluation(state["metrics"], {"rank1": 10.0, "mAP": 8.0})))
    monkeypatch.setattr(execute_module, "write_evaluation_record", lambda path, record: None)
    return state


def test_a_smoke_point_passes_and_writes_its_result_beside_the_case_results(golden, tmp_path, fake_engine):
    point = figure_points(golden, "ffdml", 4, "smoke")[5]
    result = reproduce_point(point, golden, profile="smoke", runs_dir=tmp_path)
    assert result.outcome == "passed" and result.problems == [] and result.reason is None
    assert result.metrics == {"rank1": 50.0, "mAP": 40.0} and result.value == 1.8 and result.point == "b-theta2=1.8"
    assert result.fingerprint == fake_engine["runs"][0] == fingerprint(plan_point(point, golden, "smoke")[0].config)
    path = tmp_path / "results" / "ffdml_figure4" / "b-theta2-1-8.json"
    assert path == point_result_path(tmp_path, "ffdml", 4, point.slug)
    assert json.loads(path.read_text())["metrics"] == {"rank1": 50.0, "mAP": 40.0}
    assert load_point_results(tmp_path) == [result]
    assert load_results(tmp_path) == []  # the case results' reader skips a figure's folder


def test_a_smoke_point_below_the_sanity_bound_fails_and_a_non_finite_metric_fails_in_any_profile(
        golden, tmp_path, fake_engine):
    point = figure_points(golden, "ffdml", 4, "smoke")[0]
    fake_engine["metrics"] = {"rank1": 12.0, "rank10": 40.0, "rank20": 60.0, "mAP": 9.0}
    low = reproduce_point(point, golden, profile="smoke", runs_dir=tmp_path)
    assert low.outcome == "failed" and len(low.problems) == 2
    assert all("x that of random features" in p for p in low.problems)
    fake_engine["metrics"] = {"rank1": float("nan"), "mAP": 40.0}
    nan = reproduce_point(point, golden, profile="smoke", runs_dir=tmp_path)
    assert nan.outcome == "failed" and nan.metrics["rank1"] is None
    assert "sysu_all_single rank1 = nan is not a finite number" in nan.problems
    (written,) = load_point_results(tmp_path)
    assert written == nan


def test_a_paper_point_without_data_skips_with_the_path_expected(golden, tmp_path):
    point = figure_points(golden, "ffdml", 4, "paper")[7]
    result = reproduce_point(point, golden, profile="paper", runs_dir=tmp_path / "runs", data_root=tmp_path / "data")
    assert result.outcome == "skipped" and str(tmp_path / "data" / "sysu_mm01") in result.reason
    assert load_point_results(tmp_path / "runs") == [result]


def test_a_point_result_file_out_of_format_names_the_key(tmp_path):
    path = tmp_path / "results" / "ffdml_figure4" / "a-theta1-0-6.json"
    good = PointResult(paper="ffdml", figure=4, panel="a", point="a-theta1=0.6", option="method_options.theta1",
                       value=0.6, profile="paper", outcome="passed", reason=None, setting="sysu_all_single",
                       metrics={"rank1": 1.0, "mAP": None})
    write_point_result(path, good)
    assert load_point_results(tmp_path) == [good]
    for key, value in (("value", "0.6"), ("outcome", "won"), ("metrics", {"rank1": "high"}), ("extra", 1)):
        data = good.to_dict() | {key: value}
        path.write_text(json.dumps(data))
        with pytest.raises(ArtifactError) as caught:
            load_point_results(tmp_path)
        assert caught.value.field == key


# --- the benchmark module ------------------------------------------------------------------------------------------

def _collect(*args: str) -> list[str]:
    done = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-p", "no:xdist",
                           "--collect-only", "-q", *args], cwd=REPO_ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    return [line for line in done.stdout.splitlines() if "::" in line]


def test_the_benchmark_collects_one_case_per_smoke_point_and_k_ffdml_selects_them():
    items = _collect("benchmarks/test_ffdml_figure4.py", "benchmarks/test_xiv_table1.py", "-k", "ffdml")
    assert [item.split("::")[1] for item in items] == [
        "test_point[a-theta1=0.0]", "test_point[a-theta1=0.6]", "test_point[a-theta1=2.0]",
        "test_point[b-theta2=0.4]", "test_point[b-theta2=1.0]", "test_point[b-theta2=1.8]"]
    assert _collect("benchmarks/test_ffdml_figure4.py", "-m", "ffdml and figure4") == items


def test_the_ci_selection_deselects_every_figure_point():
    items = _collect("benchmarks/test_ffdml_figure4.py", "benchmarks/test_ffdml_table1.py", "--smoke-selection=ci")
    assert items and all(item.startswith("benchmarks/test_ffdml_table1.py::") for item in items)
    assert len(_collect("benchmarks/test_ffdml_figure4.py", "--smoke-selection=all")) == 6


# --- the report ----------------------------------------------------------------------------------------------------

def _point_results(golden, profile: str, skip: set[str] = frozenset()) -> list[PointResult]:
    out = []
    for i, point in enumerate(figure_points(golden, "ffdml", 4, profile)):
        if point.id in skip:
            continue
        best = point.value == point.panel.stated_best
        out.append(PointResult(paper="ffdml", figure=4, panel=point.panel.panel, point=point.id,
                               option=point.panel.option, value=point.value, profile=profile, outcome="passed",
                               reason=None, setting="sysu_all_single",
                               metrics={"rank1": 60.0 if best else 50.0 + i % 4, "mAP": 45.0 if best else 40.0},
                               fingerprint=f"{i:016x}"))
    return out


def _render(golden, tmp_path: Path, profile: str, points: list[PointResult]) -> tuple[str, list[str]]:
    report = build_report(golden, [], profile=profile, runs_dir=tmp_path / "runs", papers=["ffdml"],
                          point_results=points)
    written = render_report(report, tmp_path / "out")
    names = {path.name for path in written} | {"verdicts.csv", "verdicts.json"}
    problems = [p for path in written for p in page_problems(path, names)]
    return (tmp_path / "out" / "ffdml.html").read_text(), problems


def test_the_paper_page_plots_each_panel_and_judges_the_stated_best_in_the_paper_profile(golden, tmp_path):
    page, problems = _render(golden, tmp_path, "paper", _point_results(golden, "paper", skip={"b-theta2=0.2"}))
    assert problems == []
    section = page[page.index('<h2 id="ffdml_figure4">Figure 4</h2>'):page.index('<h2 id="claims">')]
    assert section.count("<svg") == 4 and "<script" not in section  # one per panel and metric
    assert section.count('class="chosen"') == 4 and section.count('class="peak"') == 2 * 3  # panel b's three peaks
    assert section.count('<circle class="ours"') == 2 * 11 + 2 * 10
    assert section.count('<span class="yes">holds</span>') == 2  # panel a: 0.6 is the best of rank-1 and mAP
    assert section.count("not judged: no result for 0.2") == 2  # panel b misses a point
    assert "not run" in section


def test_smoke_points_are_shown_and_not_judged_and_a_panel_without_results_says_so(golden, tmp_path):
    points = [p for p in _point_results(golden, "smoke") if p.panel == "a"]
    page, problems = _render(golden, tmp_path, "smoke", points)
    assert problems == []
    section = page[page.index('<h2 id="ffdml_figure4">'):page.index('<h2 id="claims">')]
    assert section.count("<svg") == 2 and section.count("not judged in smoke") == 4
    assert "holds</span>" not in section
    assert "No point of this panel has a result under the smoke profile" in section


def test_a_judged_claim_that_fails_says_it_does_not_hold(golden, tmp_path):
    points = _point_results(golden, "paper")
    points = [p if p.point != "a-theta1=2.0" else PointResult(**{**p.to_dict(), "metrics": {"rank1": 99.0,
                                                                                             "mAP": 99.0}})
              for p in points]
    page, problems = _render(golden, tmp_path, "paper", points)
    assert problems == [] and page.count('<span class="no">does not hold</span>') == 2


def test_figure_text_is_escaped_on_the_page_and_in_the_svg(tmp_path):
    figure = _edit(_set(("caption",), "Sweep <script>alert(1)</script>"))
    figure["panels"][0]["text"] = "best at <b>0.6</b>"
    (tmp_path / "golden").mkdir()
    golden = _golden_with(tmp_path / "golden", figure)
    page, problems = _render(golden, tmp_path, "paper", _point_results(golden, "paper"))
    # escaped, so a reader sees the tags as text: what the page check reports, and nothing else
    assert len(problems) == 2 and all("raw markup" in p and "expected plain text" in p for p in problems)
    assert "<script>" not in page and "&lt;script&gt;" in page and "&lt;b&gt;0.6&lt;/b&gt;" in page
    svg = sweep_svg([(0.0, 1.0), (1.0, 2.0)], 'a <"b"> & c', option="method_options.x<y", metric="rank1",
                    values=[0.0, 1.0], chosen=1.0, peaks=[0.0])
    assert "<y" not in svg and "method_options.x&lt;y" in svg and 'a &lt;"b"&gt; &amp; c' in svg


def test_results_of_an_unknown_figure_are_refused(golden, tmp_path):
    (point, *_) = _point_results(golden, "smoke")
    with pytest.raises(ArtifactError, match="results of golden figures only"):
        build_report(golden, [], profile="smoke", runs_dir=tmp_path,
                     point_results=[PointResult(**{**point.to_dict(), "figure": 9})])
