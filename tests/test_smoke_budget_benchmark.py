import re

import pytest
import torch

from tests.scripts import load_perf_script

# One epoch on half the training identities at half the smoke size, without the non-local blocks (after so few
# steps their eval-mode output can overflow: docs/decisions.md, "Non-finite test features"), one trial: the
# script's loop and output, not the budget, are under test.
SHORT = ["optim.epochs=1", "optim.warmup_epochs=1", "optim.milestones=()", "data.height=32", "data.width=16",
         "data.options.num_train_ids=16", "model.non_local=False", "eval.protocol_options.num_trials=1"]
NUMBER = r"[\d.]+"


def test_prints_each_run_against_random_features_and_the_machine_speed(capsys: pytest.CaptureFixture[str]) -> None:
    script = load_perf_script("smoke_budget")
    threads = torch.get_num_threads()
    try:
        argv = ["--methods", "agw", "--seeds", "0,1", "--controls", "--threads", "1", "--reference-repeats", "1",
                *SHORT]
        assert script.main(argv) == 0
    finally:
        torch.set_num_threads(threads)
    out = capsys.readouterr().out
    assert re.search(r"runs with 1 threads; reference step \(1 thread\) \d+ ms = [\d.]+x the budget machine's "
                     r"225 ms", out)
    assert re.search(rf"budgets: CI {script.CI_BUDGET_STEPS} reference steps = {NUMBER} min here; full smoke set "
                     rf"{script.FULL_SMOKE_BUDGET_STEPS} reference steps", out)
    assert "agw flipped_metric seed 0:" in out and "agw permuted_ids seed 0:" in out
    rows = re.findall(r"agw( \w+)? seed (\d): +([\d.]+) s wall = +\d+ reference steps \(([\d.]+) s training\); "
                      r"(\d+) queries, (\d+) gallery ids; rank-1 +([\d.]+) = [\d.]+x random \(([\d.]+)\), "
                      r"mAP +[\d.]+ = [\d.]+x random \([\d.]+\); (clears|FAILS) the bound", out)
    # a control may also diverge (printed as such), a real run here does not
    assert [(r[0].strip(), r[1]) for r in rows][:2] == [("", "0"), ("", "1")]
    for _, _, wall, train, queries, gallery_ids, rank1, random_rank1, _ in rows:
        assert 0 < float(train) < float(wall) and 0 <= float(rank1) <= 100
        assert int(queries) >= 300 and int(gallery_ids) >= 48  # the smoke test set of the profile
        assert 0 < float(random_rank1) < 100 / 40
    assert re.search(r"agw mean over 2 seed\(s\): [\d.]+ s wall; rank-1 [\d.]+ = [\d.]+x random \(seeds [\d.-]+\), "
                     r"mAP [\d.]+ = [\d.]+x random \(seeds [\d.-]+\); learning goal .* (met|NOT met)", out)
    assert re.search(r"agw broken controls failing the bound \(as they must\): \d of 2", out)


@pytest.mark.parametrize(("argv", "expected"), [
    (["--methods", "nope"], "nope"),
    (["--methods", "cmmp_pretrain"], "CI smoke config"),
    (["--seeds", "1,x"], "non-negative integers"),
    (["--seeds", "-1"], "non-negative integers"),
    (["--threads", "0"], "--threads"),
    (["--reference-repeats", "0"], "--reference-repeats"),
])
def test_refuses_bad_arguments(argv: list[str], expected: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        load_perf_script("smoke_budget").main(argv)
    assert expected in capsys.readouterr().err
