"""Whole runs of the registered methods on CPU: record, repeatability, and exact resume after a SIGKILL."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from reid.config import RunConfig, fingerprint, to_dict
from reid.engine.checkpoint import load_checkpoint
from reid.engine.record import RunRecord, load_run_record
from reid.engine.run import run
from reid.profiles import build_config

pytestmark = pytest.mark.slow

METHODS = ("agw", "caj")

# The smoke profile, shrunk further: 8 training identities (2 steps per epoch), 4 epochs with
# warm-up and two decays, an evaluation every 2 epochs, best-on-test selection (so best.pt is
# part of what must survive the kill). Non-local blocks off: after a handful of steps the BN
# running statistics are still far from the batch statistics, and in eval mode the non-local
# blocks (cubic in their input) overflow; CAJ gave NaN test features after 4 steps.
SHRINK = (
    "model.non_local=False",
    "data.options={'seed': 0, 'num_train_ids': 8, 'num_test_ids': 6, 'images_per_camera': (1, 2)}",
    "optim.epochs=4",
    "optim.warmup_epochs=1",
    "optim.milestones=(2, 3)",
    "eval.every=2",
    "eval.selection='best-on-test'",
    "eval.protocol_options={'mode': 'all', 'shots': 1, 'gallery_sampling': 'official', 'num_trials': 2}",
)

# Run in a child process: the same config (from its dict) and the parent's torch thread count
# (a different count may change the order of floating-point reductions).
CHILD = """
import json, sys
import torch
torch.set_num_threads(int(sys.argv[3]))
from reid.config import from_dict
from reid.engine.run import run
run(from_dict(json.loads(sys.argv[1])), out_dir=sys.argv[2])
"""


def smoke_config(method: str) -> RunConfig:
    return build_config(method, "smoke", SHRINK)


def deterministic_part(record: RunRecord) -> dict:
    """What must repeat exactly: losses, rates, evaluations, selection (not timings)."""
    epochs = [
        {
            "epoch": e["epoch"],
            "lr": e["lr"],
            "train": {k: v for k, v in e["train"].items() if k.startswith("loss") or k in ("steps", "images")},
            "evaluation": e["evaluation"],
        }
        for e in record.epochs
    ]
    return {"epochs": epochs, "selection": record.selection, "final": record.final_evaluation}


def assert_same_training_state(a: Path, b: Path) -> None:
    """Bitwise-equal model, optimizer and sampler state in two checkpoints."""
    first, second = load_checkpoint(a), load_checkpoint(b)
    assert first["epoch"] == second["epoch"]
    assert first["model"].keys() == second["model"].keys()
    for name, tensor in first["model"].items():
        assert torch.equal(tensor, second["model"][name]), name
    for key, state in first["optimizer"]["state"].items():
        for name, value in state.items():
            other = second["optimizer"]["state"][key][name]
            assert torch.equal(value, other) if torch.is_tensor(value) else value == other, (key, name)
    assert first["sampler"] == second["sampler"]


@pytest.fixture(scope="module", autouse=True)
def no_pretrained_weights_from_the_environment():
    """These runs start from scratch whatever the machine's ``REID_PRETRAINED_*`` variables say (child too)."""
    with pytest.MonkeyPatch.context() as patch:
        for name in [n for n in os.environ if n.startswith("REID_PRETRAINED")]:
            patch.delenv(name)
        yield


@pytest.fixture(scope="module", params=METHODS)
def reference(request, tmp_path_factory) -> tuple[RunConfig, Path, RunRecord]:
    """One uninterrupted run per method: the reference of the tests below."""
    config = smoke_config(request.param)
    out = tmp_path_factory.mktemp(f"reference-{request.param}")
    return config, out / fingerprint(config), run(config, out_dir=out)


def test_smoke_run_writes_a_complete_record(reference) -> None:
    config, folder, record = reference
    assert load_run_record(folder / "record.json") == record
    assert record.status == "completed" and record.config == to_dict(config)
    assert [e["epoch"] for e in record.epochs] == [0, 1, 2, 3]
    assert [e["lr"]["heads"] for e in record.epochs] == pytest.approx([0.1, 0.1, 0.01, 0.001])
    assert [e["evaluation"] is not None for e in record.epochs] == [False, True, False, True]
    assert all(e["train"]["loss"] > 0 and e["train"]["steps"] > 0 for e in record.epochs)
    assert {"loss_id", "loss_triplet"} <= set(record.epochs[0]["train"])
    assert record.selection["rule"] == "best-on-test" and record.selection["selection_uses_test_set"] is True
    assert record.selection["epoch"] in (1, 3)
    assert record.final_evaluation == record.epochs[record.selection["epoch"]]["evaluation"]
    assert record.weights == {"pretrained": None, "from_scratch": True, "sha256": None}
    assert record.environment["device"] == "cpu" and record.environment["torch"] == torch.__version__
    assert (folder / "last.pt").is_file() and (folder / "best.pt").is_file()


def test_same_config_and_seed_repeat_exactly(reference, tmp_path: Path) -> None:
    config, folder, record = reference
    again = run(config, out_dir=tmp_path)
    assert deterministic_part(again) == deterministic_part(record)
    assert_same_training_state(folder / "last.pt", tmp_path / fingerprint(config) / "last.pt")


def test_killed_run_resumes_exactly(reference, tmp_path: Path, caplog) -> None:
    config, folder, record = reference
    killed = tmp_path / fingerprint(config)
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, json.dumps(to_dict(config)), str(tmp_path), str(torch.get_num_threads())],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 120
    while not (killed / "last.pt").exists():
        if child.poll() is not None:
            pytest.fail(f"the child run ended (rc {child.returncode}) before its first checkpoint: "
                        f"{child.stderr.read().decode()[-2000:]}")
        if time.monotonic() > deadline:
            child.kill()
            pytest.fail("no checkpoint within 120 s")
        time.sleep(0.01)
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    child.stderr.close()
    assert child.returncode == -signal.SIGKILL
    interrupted_at = load_checkpoint(killed / "last.pt")["epoch"]
    assert interrupted_at < config.optim.epochs - 1 and not (killed / "record.json").exists()

    with caplog.at_level(logging.WARNING, logger="reid"):
        resumed = run(config, out_dir=tmp_path)
    assert resumed.resumed_at_epochs == [interrupted_at + 1]
    assert f"RESUMED from {killed / 'last.pt'}: epochs 0..{interrupted_at} were trained before" in caplog.text
    assert deterministic_part(resumed) == deterministic_part(record)
    assert_same_training_state(folder / "last.pt", killed / "last.pt")
    assert sorted(p.name for p in killed.iterdir()) == ["best.pt", "last.pt", "record.json"]  # no temp files
