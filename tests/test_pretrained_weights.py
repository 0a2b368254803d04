"""Which ImageNet file a run starts from: the expected file per architecture by torch.hub's hash rule, the
``$REID_PRETRAINED_ANY_HASH`` opt-out, and the paper profile's refusal without weights unless ``--from-scratch``
(docs/decisions.md, "Which ImageNet file: torchvision's, checked by hash")."""

from __future__ import annotations

import hashlib
import itertools
import logging
import os

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from reid.backbones import pretrained
from reid.backbones.pretrained import (
    ANY_HASH_ENV,
    IMAGENET_WEIGHTS,
    PretrainedWeightsError,
    check_weights_file,
    hub_hash_prefix,
    weights_sha256,
)
from reid.backbones.resnet import build_torchvision_resnet
from reid.cli import build_parser, weights_problem
from reid.engine import run as engine_run
from reid.engine.run import check_weights, preflight, run
from reid.engine.run_config import WEIGHT_ARCHS
from reid.errors import ConfigError
from reid.profiles import build_config
from tests.test_cli import TINY  # the smoke profile shrunk to seconds; "profile='paper'" makes it a paper run

_names = itertools.count()


@pytest.fixture(autouse=True)
def no_weights_from_the_environment(monkeypatch):
    """No ``REID_PRETRAINED_*`` variable of the machine reaches these tests."""
    for name in [n for n in os.environ if n.startswith("REID_PRETRAINED")]:
        monkeypatch.delenv(name)


def tiny_paper_config():
    return build_config("agw", "smoke", [*TINY, "profile='paper'"])


def resnet18_file(path):
    """A file that fits a ResNet-18 backbone (zeros; no classifier): not torchvision's, so its hash is another."""
    network = build_torchvision_resnet("resnet18").to_empty(device="cpu")
    torch.save({k: torch.zeros_like(v) for k, v in network.state_dict().items() if not k.startswith("fc.")}, path)
    return path


def test_the_table_names_torchvisions_file_for_every_supported_architecture():
    assert set(IMAGENET_WEIGHTS) == set(WEIGHT_ARCHS)
    assert IMAGENET_WEIGHTS["resnet50"] == "resnet50-19c8e357.pth"  # the released AGW/CAJ code's file
    for arch, name in IMAGENET_WEIGHTS.items():
        prefix = hub_hash_prefix(name)
        assert name == f"{arch}-{prefix}.pth" and len(prefix) >= 8, name


def test_the_prefix_is_torch_hubs():
    assert hub_hash_prefix("resnet50-11ad3fa6.pth") == "11ad3fa6"
    assert hub_hash_prefix("resnet50.pth") is None and hub_hash_prefix("resnet18-broken.pth") is None


@settings(max_examples=25, deadline=None)
@given(content=st.binary(min_size=1, max_size=256), digits=st.integers(8, 64))
def test_a_file_whose_hash_starts_with_the_tables_prefix_passes_and_any_other_fails(
    tmp_path_factory, content, digits
):
    path = tmp_path_factory.getbasetemp() / f"weights-{next(_names)}.pth"
    path.write_bytes(content)
    digest = hashlib.sha256(content).hexdigest()
    assert check_weights_file("resnet50", path, expected={"resnet50": f"resnet50-{digest[:digits]}.pth"}) == digest
    other = ("0" if digest[0] != "0" else "1") + digest[1:digits]
    with pytest.raises(PretrainedWeightsError) as caught:
        check_weights_file("resnet50", path, expected={"resnet50": f"resnet50-{other}.pth"}, environ={})
    message = str(caught.value)
    for part in (str(path), "resnet50", f"resnet50-{other}.pth", f"SHA-256 starting {other}", digest, ANY_HASH_ENV):
        assert part in message


def test_the_files_own_name_plays_no_part(tmp_path):
    # A V2 file renamed to the V1 name is still another starting point.
    path = tmp_path / "resnet50-19c8e357.pth"
    path.write_bytes(b"not the 2017 file")
    digest = hashlib.sha256(b"not the 2017 file").hexdigest()
    with pytest.raises(PretrainedWeightsError) as caught:
        check_weights_file("resnet50", path, environ={})
    message = str(caught.value)
    assert (f"{path}: expected torchvision's resnet50-19c8e357.pth for resnet50 (SHA-256 starting 19c8e357, "
            f"torch.hub's rule), found SHA-256 {digest}") in message
    assert "https://download.pytorch.org/models/resnet50-19c8e357.pth" in message


def test_the_opt_out_accepts_any_file_with_a_warning(tmp_path, caplog):
    path = tmp_path / "resnet50-11ad3fa6.pth"
    path.write_bytes(b"V2")
    with caplog.at_level(logging.WARNING, logger="reid"):
        assert check_weights_file("resnet50", path, environ={ANY_HASH_ENV: "1"}) == hashlib.sha256(b"V2").hexdigest()
    assert "used anyway" in caplog.text and str(path) in caplog.text
    with pytest.raises(PretrainedWeightsError):
        check_weights_file("resnet50", path, environ={ANY_HASH_ENV: "0"})
    with pytest.raises(ConfigError, match=rf"\${ANY_HASH_ENV}='yes': expected 1"):
        check_weights_file("resnet50", path, environ={ANY_HASH_ENV: "yes"})


def test_an_architecture_without_a_listed_file_and_a_missing_file_are_errors(tmp_path):
    path = tmp_path / "w.pth"
    path.write_bytes(b"w")
    with pytest.raises(PretrainedWeightsError, match="none is listed for 'vgg16'"):
        check_weights_file("vgg16", path, environ={})
    with pytest.raises(PretrainedWeightsError, match="missing.pth: expected an existing file"):
        check_weights_file("resnet50", tmp_path / "missing.pth", environ={})


def test_a_file_is_hashed_once_per_process_until_it_changes(tmp_path, monkeypatch):
    calls = []
    real = hashlib.sha256
    hash_file = pretrained.file_sha256

    def counting(path):
        calls.append(1)
        return hash_file(path)

    monkeypatch.setattr(pretrained, "_SHA256_CACHE", {})
    monkeypatch.setattr(pretrained, "file_sha256", counting)
    path = tmp_path / "w.pth"
    path.write_bytes(b"a" * 3_000_000)  # several 1 MiB chunks
    first = weights_sha256(path)
    assert weights_sha256(path) == first == real(b"a" * 3_000_000).hexdigest() and len(calls) == 1
    path.write_bytes(b"b")
    assert weights_sha256(path) == real(b"b").hexdigest() and len(calls) == 2


def test_a_paper_profile_run_without_weights_is_refused_before_its_folder_and_first_step(tmp_path, monkeypatch):
    def no_step(*args, **kwargs):
        raise AssertionError("a refused run trained")

    monkeypatch.setattr(engine_run, "train_one_epoch", no_step)
    out = tmp_path / "runs"
    with pytest.raises(ConfigError) as caught:
        run(tiny_paper_config(), out_dir=out)
    message = str(caught.value)
    for part in ("paper-profile", "resnet18", "resnet18-f37072fd.pth", "$REID_PRETRAINED_RESNET18",
                 "$REID_PRETRAINED_DIR", "--pretrained", "--from-scratch"):
        assert part in message
    assert not out.exists()


@pytest.mark.slow
def test_a_paper_profile_run_from_scratch_runs_when_allowed_and_says_so(tmp_path):
    record = run(tiny_paper_config(), out_dir=tmp_path / "runs", from_scratch=True)
    assert record.status == "completed" and record.config["profile"] == "paper"
    assert record.weights == {"pretrained": None, "from_scratch": True, "sha256": None}


def test_the_smoke_profile_trains_from_scratch_without_the_flag():
    config = build_config("agw", "smoke", TINY)
    assert config.model.pretrained is None
    preflight(config)
    check_weights(config)


def test_the_preflight_checks_the_hash_of_the_file_the_environment_gives(tmp_path, monkeypatch):
    path = resnet18_file(tmp_path / "resnet18.pth")
    monkeypatch.setenv("REID_PRETRAINED_RESNET18", str(path))
    config = tiny_paper_config()
    with pytest.raises(PretrainedWeightsError, match=rf"{path}: expected torchvision's resnet18-f37072fd.pth"):
        preflight(config)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    monkeypatch.setattr(pretrained, "IMAGENET_WEIGHTS", {"resnet18": f"resnet18-{digest[:8]}.pth"})
    preflight(config)
    monkeypatch.setattr(pretrained, "IMAGENET_WEIGHTS", IMAGENET_WEIGHTS)
    monkeypatch.setenv(ANY_HASH_ENV, "1")
    preflight(config)


def test_plan_check_reports_the_refusal_and_the_commands_take_from_scratch():
    config = tiny_paper_config()
    problem = weights_problem(config, from_scratch=False)
    assert problem.startswith("ConfigError: ") and "--from-scratch" in problem
    assert weights_problem(config, from_scratch=True) is None
    assert weights_problem(build_config("agw", "smoke", TINY), from_scratch=False) is None
    parser = build_parser()
    for argv in (["train", "agw"], ["reproduce", "xiv"], ["plan", "xiv", "--check"]):
        assert parser.parse_args([*argv, "--from-scratch"]).from_scratch is True
        assert parser.parse_args(argv).from_scratch is False
