import re

import pytest
import torch

from tests.scripts import load_perf_script

# One epoch on half the training identities at half the smoke size, without the non-local blocks (after so few
# steps their eval-mode output can overflow: docs/decisions.md, "Non-finite test features"): the script's loop
# and output, not the budget, are under test. The 16 test identities are kept (chance 6.25).
SHORT = ["optim.epochs=1", "optim.warmup_epochs=1", "optim.milestones=()", "data.height=32", "data.width=16",
         "data.options={'seed': 0, 'modality_gap': 0.25, 'num_train_ids': 16}", "model.non_local=False",
         "eval.protocol_options.num_trials=1"]


def test_prints_each_run_against_chance_and_the_machine_speed(capsys: pytest.CaptureFixture[str]) -> None:
    script = load_perf_script("smoke_budget")
    threads = torch.get_num_threads()
    try:
        argv = ["--methods", "agw", "--seeds", "0,1", "--threads", "1", "--reference-repeats", "1", *SHORT]
        assert script.main(argv) == 0
    finally:
        torch.set_num_threads(threads)
    out = capsys.readouterr().out
    assert re.search(r"1 threads; ResNet-18 reference step \d+ ms \([\d.]+x the planning machine's 120 ms\)", out)
    rows = re.findall(r"agw seed (\d): +([\d.]+) s wall \(([\d.]+) s training\), rank-1 +([\d.]+) = [\d.]+x chance "
                      r"\(6\.25\)", out)
    assert [r[0] for r in rows] == ["0", "1"]
    for _, wall, train, rank1 in rows:
        assert 0 < float(train) < float(wall) and 0 <= float(rank1) <= 100
    assert re.search(r"agw mean over 2 seed\(s\): [\d.]+ s wall, rank-1 [\d.]+", out)


@pytest.mark.parametrize(("argv", "expected"), [
    (["--methods", "nope"], "nope"),
    (["--seeds", "1,x"], "non-negative integers"),
    (["--seeds", "-1"], "non-negative integers"),
    (["--threads", "0"], "--threads"),
    (["--reference-repeats", "0"], "--reference-repeats"),
])
def test_refuses_bad_arguments(argv: list[str], expected: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        load_perf_script("smoke_budget").main(argv)
    assert expected in capsys.readouterr().err
