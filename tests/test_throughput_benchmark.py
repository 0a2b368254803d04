import importlib.util
import re
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "perf" / "train_throughput.py"


def load_script():
    spec = importlib.util.spec_from_file_location("train_throughput", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("method", ["agw", "caj"])
def test_prints_both_speeds_and_their_ratio(method: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert load_script().main(["--method", method, "--device", "cpu", "--steps", "1", "--rounds", "2"]) == 0
    out = capsys.readouterr().out
    views = {"agw": 2, "caj": 3}[method]
    assert f"batch 16 pairs x {views} views" in out and "2 rounds x 1 steps each" in out
    speeds = [float(x) for x in re.findall(r"([\d.]+) images/s \(median\)", out)]
    assert len(speeds) == 2 and all(s > 0 for s in speeds)
    assert re.search(r"pipeline / model only: [\d.]+% median, rounds [\d.]+% \.\. [\d.]+%", out)
