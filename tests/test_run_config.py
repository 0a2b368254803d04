"""The one run config builder (reid.engine.run_config): every planned evaluation builds, rules decided once."""

from __future__ import annotations

from pathlib import Path

import pytest

from reid.config import fingerprint
from reid.data.datasets import build_dataset
from reid.engine.run_config import (
    DATA_ROOT_ENV,
    build_run_config,
    check_run_config,
    pretrained_files,
    resolve_data_root,
    resolve_device,
    switch_protocol,
)
from reid.errors import ConfigError, ReidError
from reid.eval.evaluate import build_splits
from reid.golden import load_golden
from reid.harness.cases import plan, table_cases
from reid.profiles import PROFILES, build_config
from tests.conftest import REPO_ROOT
from tests.trees import (
    RegDBSpec,
    make_llcm_tree,
    make_regdb_tree,
    make_sysu_tree,
    make_vcm_tree,
    small_llcm_spec,
    small_sysu_spec,
    small_vcm_spec,
)


@pytest.fixture(scope="module")
def golden():
    return load_golden(REPO_ROOT / "golden")


@pytest.fixture(scope="module")
def data_parent(tmp_path_factory) -> Path:
    """A folder holding a miniature tree of every real data set in its official layout, as ``<name>/``."""
    root = tmp_path_factory.mktemp("data")
    make_sysu_tree(root / "sysu_mm01", small_sysu_spec())
    # Every split: a paper-profile RegDB setting trains and evaluates each of the ten.
    make_regdb_tree(root / "regdb", RegDBSpec(trials=tuple(range(1, 11))))
    make_llcm_tree(root / "llcm", small_llcm_spec())
    make_vcm_tree(root / "hitsz_vcm", small_vcm_spec())
    return root


@pytest.mark.parametrize("profile", PROFILES)
def test_every_planned_evaluation_of_every_runnable_row_builds_its_trials(golden, data_parent, profile):
    """The structure of every evaluation a reproduction would make, built before any training: the data set with its
    options and the protocol's trials with theirs (a RegDB setting that kept SYSU's options failed here only after
    its full training)."""
    built, problems, evaluations = set(), [], 0
    for paper, number in sorted(golden.tables):
        for case in table_cases(golden, paper, number):
            if case.skip_reason() is not None:
                continue
            for training in plan(case, golden, profile, data_root=data_parent, environ={}):
                for config in (training.config, *(e.config for e in training.evaluations)):
                    evaluations += 1
                    key = fingerprint(config)
                    if key in built:
                        continue
                    built.add(key)
                    try:
                        dataset = build_dataset(config.data.dataset, config.data.root, **config.data.options)
                        assert build_splits(dataset, config.eval), f"{paper} table {number} {case.id}: no trial"
                    except ReidError as err:
                        problems.append(f"{paper} table {number} {case.id} ({config.data.dataset}, "
                                        f"{config.eval.protocol} {dict(config.eval.protocol_options)}): {err}")
    assert not problems, "\n".join(problems)
    assert evaluations > 100 and len(built) > 10


def test_a_setting_replaces_the_options_of_another_protocol_and_updates_those_of_its_own():
    smoke = build_config("agw", "smoke")
    regdb = switch_protocol(smoke, "regdb", {"direction": "thermal_to_visible"})
    assert dict(regdb.eval.protocol_options) == {"direction": "thermal_to_visible"}
    indoor = switch_protocol(smoke, "sysu_mm01", {"mode": "indoor"})
    assert dict(indoor.eval.protocol_options) == dict(smoke.eval.protocol_options) | {"mode": "indoor"}


def test_options_that_name_nothing_fail_when_the_config_is_built_listing_the_valid_ones():
    with pytest.raises(ConfigError, match=r"protocol 'regdb' takes no option 'mode'.*valid options: direction"):
        build_run_config("agw", "smoke", dataset="regdb", overrides=("eval.protocol_options.mode='all'",),
                         data_root="/nowhere")
    with pytest.raises(ConfigError, match=r"SyntheticVIReID takes no option 'trial'"):
        build_run_config("agw", "smoke", overrides=("data.options.trial=3",))
    with pytest.raises(ConfigError, match="give a setting or a data set, not both"):
        build_run_config("agw", "smoke", dataset="regdb", setting=load_golden().settings["regdb_v2t"])
    check_run_config(build_config("xiv", "paper"))


def test_the_data_folder_is_decided_in_one_place(tmp_path):
    env = {DATA_ROOT_ENV: str(tmp_path)}
    assert resolve_data_root("regdb", environ=env) == str(tmp_path / "regdb")
    assert resolve_data_root("regdb", parent=tmp_path / "p", environ=env) == str(tmp_path / "p" / "regdb")
    assert resolve_data_root("regdb", folder="rel", environ=env) == str(Path("rel").resolve())
    assert resolve_data_root("regdb", stored="/stored", parent=tmp_path, environ=env) == "/stored"
    assert resolve_data_root("regdb", environ={}) is None
    assert resolve_data_root("synthetic", environ=env) is None
    with pytest.raises(ConfigError, match="generated and reads no folder"):
        resolve_data_root("synthetic", folder=tmp_path, environ=env)
    config = build_run_config("agw", "paper", dataset="regdb", environ=env)
    assert config.data.root == str(tmp_path / "regdb") and config.eval.protocol == "regdb"


def test_the_paper_profile_needs_cuda_and_says_what_to_run_instead():
    if resolve_device(None).type == "cuda":
        pytest.skip("a CUDA device is visible")
    with pytest.raises(ConfigError, match=r"no CUDA device is visible .*: profile 'paper' .* needs a CUDA device.*"
                                          r"--profile smoke"):
        resolve_device(None, profile="paper")
    with pytest.raises(ConfigError, match="needs a CUDA device"):
        resolve_device("cpu", profile="paper")
    assert resolve_device("cpu", profile="smoke").type == "cpu"


def test_each_architecture_gets_its_own_weights_file(tmp_path, golden):
    resnet, densenet = tmp_path / "resnet50-0676ba61.pth", tmp_path / "densenet121-a639ec97.pth"
    for path in (resnet, densenet):
        path.write_bytes(b"")
    from_folder = pretrained_files([str(tmp_path)])
    assert from_folder == {"resnet50": str(resnet), "densenet121": str(densenet)}
    assert pretrained_files([f"resnet50={resnet}", str(densenet)]) == from_folder
    case = next(c for c in table_cases(golden, "xiv", 4) if c.id == "DenseNet-121/Baseline")
    (training,) = plan(case, golden, "paper", data_root=tmp_path, pretrained=from_folder, environ={})
    assert training.config.model.arch == "densenet121" and training.config.model.pretrained == str(densenet)
    for bad, message in ((["vgg16=x.pth"], "unknown architecture 'vgg16'"), ([str(tmp_path / "weights.pth")],
                         "say which architecture"), ([f"resnet50={tmp_path / 'none.pth'}"], "none at")):
        with pytest.raises(ConfigError, match=message):
            pretrained_files(bad)
