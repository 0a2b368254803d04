import dataclasses

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reid.config import RunConfig, apply_overrides, fingerprint, from_dict, to_dict
from reid.errors import ConfigError


def test_overrides_reach_every_level_and_keep_types() -> None:
    config = apply_overrides(
        RunConfig("agw"),
        [
            "optim.lr=0.05",
            "optim.epochs=3",
            "optim.milestones=(2, 4)",
            "model.arch=resnet18",
            "model.pretrained=None",
            "data.options.num_train_ids=8",
            "method_options.square=1",
            "eval.protocol_options={'mode': 'indoor'}",
            "seed=7",
        ],
    )
    assert config.optim.lr == 0.05 and config.optim.epochs == 3 and config.optim.milestones == (2, 4)
    assert config.model.arch == "resnet18" and config.model.pretrained is None
    assert config.data.options == {"num_train_ids": 8}
    assert config.method_options == {"square": 1}
    assert config.eval.protocol_options == {"mode": "indoor"}
    assert config.seed == 7
    assert apply_overrides(config, ["optim.lr=1"]).optim.lr == 1.0  # int accepted for float


@pytest.mark.parametrize(
    ("item", "message"),
    [
        ("optim.lr=abc", "optim.lr: expected float"),
        ("optim.foo=1", "unknown key 'foo'; expected one of"),
        ("model.non_local=2", "expected bool"),
        ("seed=True", "expected int"),
        ("lr", "expected key=value"),
        ("data.options.seed.x=1", "'seed' is not set"),
        ("optim.lr.x=1", "below a plain value"),
    ],
)
def test_bad_overrides_say_what_was_expected(item: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        apply_overrides(RunConfig("agw"), [item])


def test_configs_are_frozen_including_their_mappings() -> None:
    config = apply_overrides(RunConfig("agw"), ["data.options.seed=1"])
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.seed = 1  # type: ignore[misc]
    with pytest.raises(TypeError):
        config.data.options["seed"] = 2  # type: ignore[index]


@settings(max_examples=40, deadline=None)
@given(
    lr=st.floats(1e-5, 1.0),
    epochs=st.integers(1, 500),
    arch=st.sampled_from(["resnet18", "resnet50"]),
    options=st.dictionaries(st.sampled_from(["seed", "num_train_ids"]), st.integers(0, 99)),
)
def test_dict_round_trip_and_fingerprint_identify_the_config(lr: float, epochs: int, arch: str, options: dict) -> None:
    config = RunConfig("caj", optim=dataclasses.replace(RunConfig("caj").optim, lr=lr, epochs=epochs))
    config = apply_overrides(config, [f"model.arch={arch}", f"data.options={options!r}"])
    again = from_dict(to_dict(config))
    assert again == config and fingerprint(again) == fingerprint(config)
    assert fingerprint(apply_overrides(config, [f"optim.epochs={epochs + 1}"])) != fingerprint(config)


def test_from_dict_rejects_unknown_keys() -> None:
    data = to_dict(RunConfig("agw"))
    data["optim"]["learning_rate"] = 0.1
    with pytest.raises(ConfigError, match=r"config.optim: unknown keys \['learning_rate'\]"):
        from_dict(data)
