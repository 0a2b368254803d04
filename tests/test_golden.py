"""The golden files: schema, cross-references, the hand entry against the paper texts, and the loader's errors."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from reid.errors import GoldenError
from reid.golden import (
    METRIC_UNITS,
    PAPERS,
    CellRef,
    Claim,
    claim_agrees,
    claim_quantity,
    load_all,
    load_golden,
)
from reid.golden.load import FRAME_COLUMNS
from reid.harness.cases import check_reproduce_row
from tests.conftest import REPO_ROOT

GOLDEN = REPO_ROOT / "golden"
PAPER_TEXTS = REPO_ROOT.parent / "shared" / "papers"
NUMBER = re.compile(r"(?<![\d.])\d+(?:\.\d+)?")


@pytest.fixture(scope="module")
def golden():
    return load_golden(GOLDEN)


def test_every_paper_has_tables_and_claims(golden):
    for paper in PAPERS:
        assert golden.paper_tables(paper), f"no golden tables for {paper}"
        assert golden.claims.get(paper), f"no claims for {paper}"


def test_load_all_is_one_long_frame_of_known_metrics_and_settings(golden):
    frame = load_all(GOLDEN)
    assert list(frame.columns) == list(FRAME_COLUMNS)
    assert len(frame) == sum(len(r.values) for t in golden.tables.values() for r in t.rows)
    assert set(frame["metric"]) <= set(METRIC_UNITS)
    assert set(frame["setting"]) <= set(golden.settings)
    assert set(frame["paper"]) == set(PAPERS)
    assert frame["value"].notna().all() and frame["tolerance"].notna().all()
    percent = frame[frame["unit"] == "percent"]
    assert percent["value"].between(0, 100).all(), percent[~percent["value"].between(0, 100)]


def test_every_reproduce_row_names_a_registered_or_planned_method_with_valid_overrides(golden):
    kinds = {check_reproduce_row(table, i) for table in golden.tables.values() for i in range(len(table.rows))}
    assert "registered" in kinds  # AGW and CAJ rows exist and their configs build


def test_every_alias_names_one_method(golden):
    used = {row.alias for t in golden.tables.values() for row in t.rows if row.alias}
    assert used <= set(golden.aliases)
    unused = set(golden.aliases) - used
    assert not unused, f"aliases.yaml names methods no table prints: {sorted(unused)}"


def _numbers(line: str) -> list[float]:
    return [float(n) for n in NUMBER.findall(line.replace("−", "-"))]


@pytest.mark.skipif(not PAPER_TEXTS.is_dir(), reason=f"paper texts not found at {PAPER_TEXTS}")
def test_every_value_is_printed_in_its_paper(golden):
    """A typo in hand entry (49.29 for 49.92) fails here: every value must occur as a number in the paper text."""
    missing = []
    for (paper, number), table in golden.tables.items():
        printed = set(_numbers((PAPER_TEXTS / f"{paper}.txt").read_text(encoding="utf-8")))
        for row in table.rows:
            missing += [
                f"{paper} table {number} {row.row_id!r} {cell}: {value}"
                for cell, value in row.values.items()
                if value not in printed
            ]
    assert not missing, "\n".join(missing)


def test_every_claim_can_be_computed_from_its_paper(golden):
    for paper, claims in golden.claims.items():
        for claim in claims:
            quantity = claim_quantity(claim, lambda ref, paper=paper: golden.cell(paper, ref))
            assert quantity is not None, (paper, claim.id)


def _claim(kind: str, value: float, b: int = 1, tolerance: float = 0.01) -> Claim:
    ref = CellRef(1, "r", "s", "mAP")
    return Claim("p", "c", "text", "src", kind, ref, (ref,) * b if kind != "value" else (), value, tolerance)


finite = st.floats(-1e3, 1e3, allow_nan=False)


@given(a=finite, b=finite)
def test_difference_and_relative_claims_follow_the_arithmetic(a, b):
    cells = iter([a, b])
    assert claim_quantity(_claim("difference", 0.0), lambda ref: next(cells)) == pytest.approx(a - b)
    cells = iter([a, b])
    relative = claim_quantity(_claim("relative", 0.0), lambda ref: next(cells))
    assert relative == (None if b == 0 else pytest.approx(100 * (a - b) / b))
    assert claim_agrees(_claim("difference", a - b), a - b + 0.005)
    assert not claim_agrees(_claim("difference", a - b), a - b + 0.02)


@given(a=finite, others=st.lists(finite, min_size=1, max_size=5), margin=finite)
def test_at_least_holds_only_when_every_margin_reaches_the_value(a, others, margin):
    values = iter([a, *others])
    claim = _claim("at_least", margin, b=len(others), tolerance=0.0)
    quantity = claim_quantity(claim, lambda ref: next(values))
    assert claim_agrees(claim, quantity) == all(a - o >= margin for o in others)


def test_missing_cells_give_no_quantity_and_no_verdict():
    assert claim_quantity(_claim("difference", 1.0), lambda ref: None) is None
    assert claim_agrees(_claim("difference", 1.0), None) is None


# --- errors: a copy of the golden folder, one thing broken at a time ------------------------------------------


@pytest.fixture()
def copy(tmp_path: Path) -> Path:
    root = tmp_path / "golden"
    shutil.copytree(GOLDEN, root, ignore=shutil.ignore_patterns("smoke"))
    return root


def _edit(path: Path, change) -> None:
    data = yaml.safe_load(path.read_text())
    change(data)
    path.write_text(yaml.safe_dump(data, sort_keys=False))


def _first_table(root: Path) -> Path:
    return root / "xiv" / "table4.yaml"


@pytest.mark.parametrize(
    ("change", "field", "words"),
    [
        (lambda d: d["rows"][0]["values"].pop(), "rows[0].values", "4 entries"),
        (lambda d: d["rows"][0]["values"].__setitem__(0, "38.39"), "rows[0].values", "numbers or null"),
        (lambda d: d["columns"][0].__setitem__("setting", "sysu_everything"), "columns[0].setting", "settings.yaml"),
        (lambda d: d["columns"][0]["metrics"].__setitem__(0, "top1"), "columns[0].metrics", "distinct names"),
        (lambda d: d["rows"][1].__setitem__("label", "Baseline"), "rows[1]", "unique row ids"),
        # the ids are the clean names: a citation does not keep two rows apart
        (lambda d: d["rows"][1].__setitem__("label", "Baseline [7]"), "rows[1]", "unique row ids"),
        (lambda d: d["rows"][0].__setitem__("name", "Baseline"), "rows[0].name", "other than the rule's"),
        (lambda d: d["rows"][0].__setitem__("name", "Base<b>line</b>"), "rows[0].name", "canonical markup"),
        (lambda d: d["rows"][0].__setitem__("citation", "somewhere"), "rows[0].citation", "one of the forms"),
        (lambda d: d["rows"][0].__setitem__("label", "L_{id"), "rows[0].label", "balanced"),
        (lambda d: d["rows"][0].__setitem__("note", "a {b} c"), "rows[0].note", "only braces"),
        (lambda d: d.__setitem__("caption", "L_{id}^{global"), "caption", "only braces"),
        (lambda d: d["rows"][0].__setitem__("status", "maybe"), "rows[0].status", "one of"),
        (lambda d: d["tolerance"].pop("mAP"), "tolerance", "every printed metric"),
        (lambda d: d["rows"][2].__setitem__("alias", "NoSuchMethod"), "rows[2].alias", "aliases.yaml"),
        (lambda d: d["rows"][0].__setitem__("overrides", ["no_equals_sign"]), "rows[0].overrides[0]", "key=value"),
        (lambda d: d.__setitem__("table", 5), "table", "file name"),
        (lambda d: d["rows"][0].__setitem__("colour", "red"), "rows[0]", "unknown ['colour']"),
    ],
)
def test_a_broken_table_names_the_file_and_field(copy, change, field, words):
    path = _first_table(copy)
    _edit(path, change)
    with pytest.raises(GoldenError) as err:
        load_golden(copy)
    assert err.value.path == path and err.value.field == field
    assert words in str(err.value)


def test_a_claim_naming_a_missing_row_is_refused(copy):
    path = copy / "xiv" / "claims.yaml"
    _edit(path, lambda d: d["claims"][0]["a"].__setitem__("row", "No such row"))
    with pytest.raises(GoldenError, match="has no row 'No such row'") as err:
        load_golden(copy)
    assert err.value.path == path and err.value.field == "claims[0].a.row"


def test_malformed_yaml_and_stray_files_are_refused(copy):
    (copy / "xiv" / "notes.txt").write_text("x")
    with pytest.raises(GoldenError, match="only table<N>.yaml files"):
        load_golden(copy)
    (copy / "xiv" / "notes.txt").unlink()
    _first_table(copy).write_text("rows: [unclosed\n")
    with pytest.raises(GoldenError, match="valid YAML"):
        load_golden(copy)


def test_a_reproduce_row_with_an_unknown_method_or_bad_override_is_refused(copy):
    golden = load_golden(copy)
    table = next(t for t in golden.tables.values() if any(r.method == "agw" for r in t.rows))
    index = next(i for i, r in enumerate(table.rows) if r.method == "agw")
    broken = table.rows[index].__class__(**{**table.rows[index].__dict__, "overrides": ("optim.warp=9",)})
    bad = table.__class__(**{**table.__dict__, "rows": table.rows[:index] + (broken,) + table.rows[index + 1 :]})
    with pytest.raises(GoldenError, match="unknown key 'warp'") as err:
        check_reproduce_row(bad, index)
    assert err.value.field == f"rows[{index}].overrides"
    unknown = broken.__class__(**{**broken.__dict__, "method": "nonexistent", "overrides": ()})
    bad = table.__class__(**{**table.__dict__, "rows": table.rows[:index] + (unknown,) + table.rows[index + 1 :]})
    with pytest.raises(GoldenError, match="registered method"):
        check_reproduce_row(bad, index)
