import re

import pytest

from tests.scripts import load_perf_script


@pytest.mark.parametrize("method", ["agw", "caj"])
def test_prints_both_speeds_and_their_ratio(method: str, capsys: pytest.CaptureFixture[str]) -> None:
    script = load_perf_script("train_throughput")
    assert script.main(["--method", method, "--device", "cpu", "--steps", "1", "--rounds", "2"]) == 0
    out = capsys.readouterr().out
    views = {"agw": 2, "caj": 3}[method]
    assert f"batch 32 pairs x {views} views" in out and "2 rounds x 1 steps each" in out
    speeds = [float(x) for x in re.findall(r"([\d.]+) images/s \(median\)", out)]
    assert len(speeds) == 2 and all(s > 0 for s in speeds)
    assert re.search(r"pipeline / model only: [\d.]+% median, rounds [\d.]+% \.\. [\d.]+%", out)


@pytest.mark.parametrize("flag", ["--steps", "--rounds"])
def test_refuses_a_count_below_one(flag: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        load_perf_script("train_throughput").main([flag, "0"])
    assert flag in capsys.readouterr().err
