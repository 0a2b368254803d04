"""Smoke recordings over seeds: the band rule and the loader's field-level errors."""

from __future__ import annotations

import json
import statistics
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reid.errors import GoldenError
from reid.harness.smoke_golden import (
    BAND_FLOOR,
    BAND_SDS,
    MIN_SEEDS,
    SMOKE_FORMAT,
    SmokeEntry,
    load_below_bound,
    load_smoke_golden,
    smoke_band,
    write_smoke_golden,
)

VALUES = st.floats(0.0, 100.0, allow_nan=False)


@settings(max_examples=50, deadline=None)
@given(values=st.lists(VALUES, min_size=2, max_size=6))
def test_band_is_the_mean_plus_minus_three_sds_with_a_floor(values):
    centre, half = smoke_band(values, "rank1")
    assert centre == pytest.approx(statistics.fmean(values))
    assert half >= BAND_FLOOR["rank1"] and half >= BAND_SDS * statistics.stdev(values) - 1e-9
    assert all(abs(v - centre) <= half + 1e-9 for v in values)  # every recorded seed is inside its own band


def test_band_examples():
    assert smoke_band([10.0, 10.0, 10.0], "mAP") == (10.0, BAND_FLOOR["mAP"])  # agreeing seeds: the floor
    centre, half = smoke_band([10.0, 20.0, 30.0], "rank1")
    assert (centre, half) == (20.0, pytest.approx(30.0))  # sd 10 -> 3 x 10
    with pytest.raises(ValueError, match="two seeds"):
        smoke_band([1.0], "rank1")


def _entry(seeds=(0, 1, 2)) -> SmokeEntry:
    return SmokeEntry(("abc",), {s: {("sysu_all_single", "rank1"): 10.0 + s, ("sysu_all_single", "mAP"): 20.0}
                                 for s in seeds})


@pytest.fixture()
def recording(tmp_path: Path) -> Path:
    path = tmp_path / "smoke" / "xiv_table1.json"
    path.parent.mkdir()
    write_smoke_golden(path, "xiv", 1, {"Our method": _entry()})
    return path


def test_a_recording_round_trips(recording):
    loaded = load_smoke_golden(recording)
    entry = loaded.rows["Our method"]
    assert entry.fingerprints == ("abc",) and set(entry.seeds) == {0, 1, 2}
    assert entry.cells() == [("sysu_all_single", "mAP"), ("sysu_all_single", "rank1")]
    assert entry.band(("sysu_all_single", "rank1")) == (11.0, BAND_FLOOR["rank1"])
    data = json.loads(recording.read_text())
    assert data["format"] == SMOKE_FORMAT and data["band"]["sds"] == BAND_SDS
    assert loaded.command == "reid record-smoke xiv --table 1"


def _broken(path: Path, change) -> None:
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))


@pytest.mark.parametrize(("change", "field", "expected"), [
    (lambda d: d.__setitem__("format", 1), "format", "format 2"),
    (lambda d: d["rows"]["Our method"]["seeds"].pop("2"), "rows['Our method'].seeds", f"at least {MIN_SEEDS}"),
    (lambda d: d["rows"]["Our method"]["seeds"].__setitem__("3", d["rows"]["Our method"]["seeds"].pop("0")),
     "rows['Our method'].seeds", "seed 0"),
    (lambda d: d["rows"]["Our method"]["seeds"].__setitem__("x", {}), "rows['Our method'].seeds.x", "non-negative"),
    (lambda d: d["rows"]["Our method"]["seeds"]["1"]["sysu_all_single"].__setitem__("rank1", "12"),
     "rows['Our method'].seeds.1.sysu_all_single.rank1", "finite numbers"),
    (lambda d: d["rows"]["Our method"]["seeds"]["1"]["sysu_all_single"].__setitem__("top1", 1.0),
     "rows['Our method'].seeds.1.sysu_all_single.top1", "metric names"),
    (lambda d: d["rows"]["Our method"].__setitem__("fingerprints", "abc"), "rows['Our method'].fingerprints",
     "list of config fingerprints"),
])
def test_a_malformed_recording_names_the_file_the_field_and_what_was_expected(recording, change, field, expected):
    _broken(recording, change)
    with pytest.raises(GoldenError) as info:
        load_smoke_golden(recording)
    message = str(info.value)
    assert str(recording) in message and field in message and expected in message


def test_below_bound_reasons_are_read_and_checked(tmp_path: Path):
    assert load_below_bound(tmp_path) == {}  # no file: no method is excused
    (tmp_path / "smoke").mkdir()
    path = tmp_path / "smoke" / "below_bound.yaml"
    path.write_text("cmmp: >-\n  collapses\n  at smoke size\n")
    assert load_below_bound(tmp_path) == {"cmmp": "collapses at smoke size"}
    for text, field in (("cmmp: ''\n", "cmmp"), ("cmmp: [1]\n", "cmmp"), ("- cmmp\n", None), ("a: [\n", None)):
        path.write_text(text)
        with pytest.raises(GoldenError) as info:
            load_below_bound(tmp_path)
        assert str(path) in str(info.value) and (field is None or field in str(info.value))
