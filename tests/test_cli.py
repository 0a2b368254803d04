"""The ``reid`` command: train, eval, datasets through ``main(argv)``, on tiny synthetic runs."""

from __future__ import annotations

import contextlib
import io
import json
import os
from pathlib import Path

import pytest
import torch

import reid
from reid.backbones import pretrained
from reid.backbones.resnet import build_torchvision_resnet, reset_resnet_parameters_
from reid.cli import build_parser, dataset_layout, main, parse_args, train_config
from reid.config import fingerprint
from reid.data.datasets import DATASETS, SYNTHETIC
from reid.engine.evaluate_checkpoint import (
    infer_num_classes,
    load_evaluation_record,
    load_trained,
)
from reid.engine.record import RunRecord, load_run_record
from reid.engine.run_config import DATA_ROOT_ENV, switch_dataset
from reid.errors import ArtifactError, ConfigError
from reid.io import file_sha256
from reid.profiles import build_config
from tests.trees import RegDBSpec, make_regdb_tree

pytestmark = pytest.mark.slow

# The smoke profile shrunk to seconds: 6 training identities (2 steps), one epoch, one gallery trial.
# Non-local blocks off: after two steps their eval-mode output can overflow (see test_engine_run.py).
TINY = (
    "model.non_local=False",
    "optim.epochs=1",
    "optim.warmup_epochs=1",
    "optim.milestones=()",
    "data.options={'seed': 0, 'num_train_ids': 6, 'num_test_ids': 4, 'images_per_camera': (1, 2)}",
    "eval.protocol_options.num_trials=1",
    "data.num_ids_per_batch=4",
)
NUM_TRAIN_IDS = 6
REAL = [name for name in DATASETS if name not in SYNTHETIC]


def call(argv: list[str]) -> tuple[int, str, str]:
    """``main(argv)`` with stdout and stderr captured (usable in module-scoped fixtures)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main([str(a) for a in argv])
    return code, out.getvalue(), err.getvalue()


def metrics_part(final_line: str) -> str:
    """The metrics of a final line (before the record path)."""
    return final_line.split(" -> ")[0]


@pytest.fixture(scope="module", autouse=True)
def clean_environment():
    """No ImageNet weights or data root from the machine's environment."""
    with pytest.MonkeyPatch.context() as patch:
        for name in [n for n in os.environ if n.startswith("REID_PRETRAINED") or n == DATA_ROOT_ENV]:
            patch.delenv(name)
        yield


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> tuple[Path, str, str, RunRecord]:
    """One tiny AGW run through the command, with progress bars forced on; overrides before and after options."""
    out = tmp_path_factory.mktemp("runs")
    code, stdout, stderr = call(["train", "agw", *TINY[:3], "--device", "cpu", *TINY[3:], "--out", out, "--progress"])
    assert code == 0, stderr
    (folder,) = out.iterdir()
    return folder, stdout, stderr, load_run_record(folder / "record.json")


def test_train_prints_a_summary_and_writes_the_record(trained) -> None:
    folder, stdout, stderr, record = trained
    assert record.status == "completed" and folder.name == record.fingerprint
    assert record.config["optim"]["epochs"] == 1 and record.config["data"]["options"]["num_train_ids"] == 6
    assert record.config["eval"]["protocol_options"]["num_trials"] == 1
    assert f"folder: {folder}" in stdout and f"run {record.fingerprint}:" in stdout
    assert "initial weights: FROM SCRATCH" in stdout
    assert "model selection: last (epoch 0; not chosen on the test set)" in stdout
    for name in ("bn", "pool"):
        mean = record.final_evaluation["features"][name]["mean"]
        assert f"{name} rank1 {mean['rank1']:.2f} mAP {mean['mAP']:.2f} mINP {mean['mINP']:.2f}" in stdout
    final = stdout.strip().splitlines()[-1]
    assert final.startswith(f"agw {record.fingerprint}: bn rank1") and final.endswith(str(folder / "record.json"))
    assert "epoch 0: 100%" in stderr  # the tqdm bar, asked for with --progress


def test_quiet_run_prints_only_its_final_line_and_repeats_the_metrics(trained, tmp_path, capsys) -> None:
    _, stdout, _, record = trained
    argv = ["train", "agw", *TINY, "--device", "cpu", "--out", str(tmp_path), "--quiet", "--no-resume", "--progress"]
    assert main(argv) == 2  # --quiet and --progress contradict each other
    capsys.readouterr()
    assert main([a for a in argv if a != "--progress"]) == 0
    out, err = capsys.readouterr()
    assert err == ""  # no progress bar, no from-scratch warning
    assert len(out.strip().splitlines()) == 1
    assert metrics_part(out.strip()) == metrics_part(stdout.strip().splitlines()[-1])
    assert "FROM SCRATCH" in out
    assert load_run_record(tmp_path / record.fingerprint / "record.json").final_evaluation == record.final_evaluation


def test_a_completed_run_is_returned_without_training(trained, capsys) -> None:
    folder, _, _, record = trained
    written = (folder / "record.json").stat().st_mtime_ns
    assert main(["train", "agw", *TINY, "--device", "cpu", "--out", str(folder.parent)]) == 0
    assert "not trained again" in capsys.readouterr().out
    assert (folder / "record.json").stat().st_mtime_ns == written


def test_eval_of_the_last_checkpoint_reproduces_the_run_exactly(trained, capsys) -> None:
    folder, _, _, record = trained
    assert main(["eval", str(folder / "last.pt"), "--device", "cpu", "--quiet"]) == 0
    out = capsys.readouterr().out
    path = folder / f"last.eval-{record.fingerprint}.json"
    (line,) = out.strip().splitlines()
    assert line.startswith(f"eval last.pt of {record.fingerprint}: bn rank1") and line.endswith(str(path))
    evaluation = load_evaluation_record(path)
    assert evaluation.evaluation == record.final_evaluation
    assert evaluation.fingerprint == record.fingerprint and evaluation.changes == {}
    assert evaluation.checkpoint["epoch"] == 0 and evaluation.checkpoint["selected_on_test_set"] is False
    assert evaluation.checkpoint["sha256"] == file_sha256(folder / "last.pt")
    assert evaluation.weights == record.weights


def test_eval_with_changed_protocol_records_every_change(trained, tmp_path, capsys) -> None:
    folder, _, _, record = trained
    out_file = tmp_path / "indoor.json"
    argv = [
        "eval",
        str(folder),
        "--flip",
        "eval.protocol_options.mode=indoor",
        "--feature",
        "pool",
        "--out",
        str(out_file),
    ]
    assert main([*argv, "--device", "cpu"]) == 0
    stdout = capsys.readouterr().out
    evaluation = load_evaluation_record(out_file)
    assert evaluation.changes == {
        "eval.feature": {"training": "bn", "evaluation": "pool"},
        "eval.flip": {"training": False, "evaluation": True},
        "eval.protocol_options.mode": {"training": "all", "evaluation": "indoor"},
    }
    result = evaluation.evaluation
    assert result["flip"] is True and result["primary_feature"] == "pool"
    assert result["protocol_options"]["mode"] == "indoor"
    assert evaluation.fingerprint != record.fingerprint
    assert "changed from training: eval.feature 'bn' -> 'pool'" in stdout
    assert stdout.strip().splitlines()[-1].startswith(f"eval last.pt of {record.fingerprint}: pool rank1")


def test_eval_on_another_dataset_switches_its_protocol(trained, tmp_path) -> None:
    folder, _, _, record = trained
    tree = make_regdb_tree(tmp_path / "RegDB", RegDBSpec())
    code, _, err = call(
        [
            "eval",
            folder / "last.pt",
            "--dataset",
            "regdb",
            "--data-root",
            tree.root,
            "--quiet",
            "--out",
            tmp_path,
            "--device",
            "cpu",
        ]
    )
    assert code == 0, err
    (path,) = tmp_path.glob("last.eval-*.json")
    evaluation = load_evaluation_record(path)
    assert evaluation.config["data"]["root"] == str(tree.root) and evaluation.config["data"]["options"] == {}
    assert evaluation.evaluation["protocol"] == "regdb"
    assert evaluation.changes["data.dataset"] == {"training": "synthetic", "evaluation": "regdb"}
    # RegDB trial 1 of the tree: 3 test identities with 2 visible queries each.
    assert evaluation.evaluation["splits"][0]["num_query"] == 6


def test_eval_refuses_to_change_the_network(trained) -> None:
    folder, _, _, _ = trained
    code, _, err = call(["eval", folder, "model.arch=resnet34"])
    assert code == 2 and err.startswith("reid: error: override 'model.arch=resnet34'") and err.count("\n") == 1


def test_the_number_of_classes_is_read_off_the_weights(trained) -> None:
    folder, _, _, _ = trained
    checkpoint = load_trained(folder)
    assert checkpoint.path == folder / "last.pt" and checkpoint.kind == "training"
    assert infer_num_classes(checkpoint.config, checkpoint.model_state, checkpoint.path) == NUM_TRAIN_IDS
    other = build_config("agw", "smoke", ["model.non_local=True"])
    with pytest.raises(ArtifactError, match="missing keys"):
        infer_num_classes(other, checkpoint.model_state, checkpoint.path)


def test_evaluation_records_are_validated_on_load(trained, tmp_path) -> None:
    folder, _, _, record = trained
    path = folder / f"last.eval-{record.fingerprint}.json"
    if not path.is_file():  # written by the eval test above, unless that one ran in another xdist worker
        assert main(["eval", str(folder / "last.pt"), "--device", "cpu", "--quiet"]) == 0
    data = json.loads(path.read_text())
    del data["changes"]
    (tmp_path / "bad.json").write_text(json.dumps(data))
    with pytest.raises(ArtifactError, match=r"\[changes\]"):
        load_evaluation_record(tmp_path / "bad.json")


def test_pretrained_weights_file_is_used_and_recorded(tmp_path, capsys, monkeypatch) -> None:
    weights = tmp_path / "resnet18.pth"
    # A stand-in for ImageNet weights: a torchvision ResNet-18 with its own initialisation, seeded;
    # no classifier (fc), which the backbone ignores anyway.
    network = build_torchvision_resnet("resnet18").to_empty(device="cpu")
    generator = torch.Generator().manual_seed(0)
    for name, child in network.named_children():
        if name != "fc":
            reset_resnet_parameters_(child, generator)
    state = {key: value for key, value in network.state_dict().items() if not key.startswith("fc.")}
    torch.save(state, weights)
    # The stand-in is the expected resnet18 file by torch.hub's rule: its hub name holds its hash's first digits.
    monkeypatch.setattr(pretrained, "IMAGENET_WEIGHTS", {"resnet18": f"resnet18-{file_sha256(weights)[:8]}.pth"})
    argv = ["train", "agw", *TINY, "--pretrained", str(weights), "--out", str(tmp_path / "runs"), "--quiet"]
    assert main([*argv, "--device", "cpu"]) == 0
    assert "ImageNet init" in capsys.readouterr().out
    (folder,) = (tmp_path / "runs").iterdir()
    record = load_run_record(folder / "record.json")
    assert record.weights == {"pretrained": str(weights), "from_scratch": False, "sha256": file_sha256(weights)}


def test_datasets_lists_missing_real_data_with_its_layout(tmp_path, capsys) -> None:
    assert main(["datasets", "--data-root", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    for name in REAL:
        assert f"{name.ljust(17)}not found" in out
        assert f"{tmp_path / name} (--data-root {tmp_path}): not usable: {tmp_path / name}: expected" in out
        assert dataset_layout(name)[1] in out  # the first folder line of the drawn layout
    assert out.count(f"${DATA_ROOT_ENV} is not set") == len(REAL)
    assert "synthetic        generated, always available; default options: 32 train ids (315 visible" in out
    assert "synthetic_video  generated, always available" in out


def test_datasets_finds_data_under_the_environment_root(tmp_path, monkeypatch, capsys) -> None:
    make_regdb_tree(tmp_path / "regdb", RegDBSpec())
    monkeypatch.setenv(DATA_ROOT_ENV, str(tmp_path))
    assert main(["datasets", "--dataset", "regdb"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"regdb  FOUND: use --dataset regdb --data-root {tmp_path / 'regdb'}\n")
    assert "3 train ids (6 visible + 6 infrared images), 3 test ids (6 visible + 6 infrared images)" in out
    assert "sysu_mm01" not in out
    # One data set asked for: a --data-root is also tried as that data set's own folder, as `reid train` reads it.
    assert main(["datasets", "--dataset", "regdb", "--data-root", str(tmp_path / "regdb")]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"regdb  FOUND: use --dataset regdb --data-root {tmp_path / 'regdb'}\n")
    assert f"{tmp_path / 'regdb'} (--data-root {tmp_path / 'regdb'} as the regdb folder): found" in out
    assert f"{tmp_path / 'regdb' / 'regdb'} (--data-root {tmp_path / 'regdb'}): not usable" in out


def test_dataset_layout_is_the_drawn_block() -> None:
    assert dataset_layout("sysu_mm01")[0] == "root/" and dataset_layout("hitsz_vcm")[1] == "  info/"
    assert dataset_layout("synthetic") == []


def test_train_config_finds_real_data_through_the_environment(tmp_path) -> None:
    args = parse_args(build_parser(), ["train", "agw", "--dataset", "regdb", "data.options.trial=2"])
    config = train_config(args, {DATA_ROOT_ENV: str(tmp_path)})
    assert config.data.root == str(tmp_path / "regdb") and dict(config.data.options) == {"trial": 2}
    assert config.eval.protocol == "regdb" and dict(config.eval.protocol_options) == {}
    with pytest.raises(ConfigError, match="needs its folder"):
        train_config(args, {})


def test_switching_between_datasets_of_one_protocol_keeps_its_options() -> None:
    smoke = build_config("agw", "smoke")
    sysu = switch_dataset(smoke, "sysu_mm01")
    assert sysu.eval == smoke.eval and dict(sysu.data.options) == {} and sysu.data.root is None
    assert switch_dataset(smoke, "synthetic") is smoke
    assert fingerprint(switch_dataset(sysu, "synthetic")) != fingerprint(smoke)  # the smoke seed option is gone


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["train", "nope"], "method='nope' is not registered; expected one of agw, caj"),
        (["train", "agw", "optim.nope=1"], "unknown key 'nope'"),
        (["train", "agw", "optim.lr"], "expected key=value"),
        (["train", "agw", "data.options.colour=1"], "SyntheticVIReID takes no option 'colour'"),
        (["train", "agw", "data.dataset=regdb"], "use --dataset NAME"),
        (["train", "agw", "--seed", "1", "seed=2"], "already set by its command-line option"),
        (["train", "agw", "--dataset", "sysu_mm01"], "pass --data-root PATH"),
        (["train", "agw", "--dataset", "nope"], "expected one of sysu_mm01"),
        (["train", "agw", "--data-root", "{tmp}"], "is generated and reads no folder"),
        (["train", "agw", "--pretrained", "{tmp}/none.pth"], "expected an existing file of ImageNet weights"),
        (["train", "agw", "--device", "tpu"], "expected cpu, cuda or cuda:N"),
        (["eval", "{tmp}/run/last.pt"], "none found"),
        (["eval", "{tmp}"], "a run folder holding best.pt or last.pt"),
        (["datasets", "--dataset", "sysu"], "expected one of sysu_mm01"),
    ],
)
def test_bad_input_exits_2_with_a_one_line_error(argv, message, tmp_path) -> None:
    code, out, err = call([a.replace("{tmp}", str(tmp_path)) for a in argv])
    assert code == 2 and out == ""
    assert err.startswith("reid: error: ") and err.count("\n") == 1
    assert message in err


def test_usage_errors_name_the_command(capsys) -> None:
    assert main(["train", "agw", "--bogus"]) == 2
    assert main(["datasets", "x=1"]) == 2
    err = capsys.readouterr().err
    assert "reid train: error: unrecognized arguments: --bogus" in err
    assert "reid datasets: error: unrecognized arguments: x=1" in err


def test_version_and_help(capsys) -> None:
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"vireid-repro {reid.__version__}"
    for command in ("train", "eval", "datasets"):
        assert main([command, "--help"]) == 0
        assert "examples:" in capsys.readouterr().out


def test_a_run_that_would_fail_later_fails_before_its_first_step_and_leaves_nothing(tmp_path: Path) -> None:
    out = tmp_path / "runs"
    code, _, stderr = call(["train", "agw", "--dataset", "sysu_mm01", "--data-root", tmp_path / "nonexistent",
                            "--out", out, "--quiet"])
    assert code == 2 and "nonexistent: expected the SYSU-MM01 folder" in stderr
    assert not out.exists()  # no run folder, no record with status failed
    resnet = build_torchvision_resnet("resnet18").to_empty(device="cpu")
    state = {k: v for k, v in resnet.state_dict().items() if not k.startswith("fc.") and k != "layer4.1.bn2.weight"}
    weights = tmp_path / "resnet18-broken.pth"
    torch.save(state, weights)
    code, _, stderr = call(["train", "agw", *TINY, "--pretrained", weights, "--out", out, "--quiet"])
    assert code == 2 and "layer4.1.bn2.weight" in stderr and not out.exists()
    code, _, stderr = call(["train", "agw", *TINY, "eval.protocol='regdb'", "--out", out, "--quiet"])
    assert code == 2 and "protocol 'regdb' takes no option" in stderr and not out.exists()
    code, _, stderr = call(["train", "agw", *TINY, "eval.feature='fc'", "--out", out, "--quiet"])
    assert code == 2 and "eval.feature='fc' is not a feature of agw" in stderr and not out.exists()
    blocked = tmp_path / "a-file"
    blocked.write_text("")
    code, _, stderr = call(["train", "agw", *TINY, "--out", blocked / "runs", "--quiet"])
    assert code == 2 and "is a file, not a folder" in stderr
