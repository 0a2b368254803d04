"""MultiStemResNet (generic over depths) and local ImageNet weights: shapes, gradients, stems, non-local
placement, identity at init, weight loading and its errors."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

from reid.backbones import (
    AGW_NON_LOCAL_COUNTS,
    PRETRAINED_DIR_ENV,
    MultiStemResNet,
    PretrainedWeightsError,
    ReIDNet,
    build_torchvision_resnet,
    load_torchvision_state_dict,
    non_local_positions,
    resolve_pretrained_path,
)
from reid.errors import ConfigError
from reid.layers import GlobalAveragePooling, NonLocalBlock

CHANNELS = {
    "resnet18": {"stem": 64, "layer1": 64, "layer2": 128, "layer3": 256, "layer4": 512},
    "resnet50": {"stem": 64, "layer1": 256, "layer2": 512, "layer3": 1024, "layer4": 2048},
}


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def images(n: int = 1, seed: int = 0) -> torch.Tensor:
    return torch.randn(n, 3, 64, 32, generator=gen(seed))


def count_non_local(net: MultiStemResNet) -> dict[str, int]:
    return {name: len(net.non_local[name]) if name in net.non_local else 0 for name in net.non_local_positions}


# ---------------------------------------------------------------- generic over depths


@pytest.mark.parametrize("arch", ["resnet18", "resnet50"])
def test_shapes_finiteness_and_a_gradient_on_every_parameter(arch):
    net = MultiStemResNet(arch, num_stems=2, non_local=True, generator=gen(0))
    assert net.layer_channels == CHANNELS[arch]
    assert net.out_channels == CHANNELS[arch]["layer4"]
    assert net.layer_reductions == {"stem": 4, "layer1": 4, "layer2": 8, "layer3": 16, "layer4": 16}
    x = net.forward_stems([images(1, 1), images(1, 2)])
    assert x.shape == (2, 64, 16, 8)
    out = net.forward_layers(x)["layer4"]
    assert out.shape == (2, net.out_channels, 64 // 16, 32 // 16)
    assert torch.isfinite(out).all()
    out.mean().backward()
    for name, p in net.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
    # The non-local blocks start gated shut (zero BN weight); every stem and body weight learns at once.
    for name, p in net.named_parameters():
        if not name.startswith("non_local.") or name.endswith("w_bn.weight"):
            assert p.grad.abs().sum() > 0, name


def test_last_stride_two_halves_the_final_map():
    net = MultiStemResNet("resnet18", num_stems=1, last_stride=2, generator=gen(0))
    assert net(images(2)).shape == (2, 512, 2, 1)
    assert net.layer_reductions["layer4"] == 32
    assert net.layer4[0].conv1.stride == (2, 2) and net.layer4[0].downsample[0].stride == (2, 2)


@pytest.mark.parametrize("arch, strided", [("resnet18", "conv1"), ("resnet50", "conv2")])
def test_last_stride_one_sits_on_the_strided_conv_and_the_downsample(arch, strided):
    net = MultiStemResNet(arch, num_stems=1, last_stride=1, generator=gen(0))
    first = net.layer4[0]
    assert getattr(first, strided).stride == (1, 1)
    assert first.downsample[0].stride == (1, 1)
    assert net.layer3[0].downsample[0].stride == (2, 2)  # only layer4 changes


@pytest.mark.parametrize("num_stems", [1, 2, 4])
def test_stems_are_separate_and_the_body_is_shared(num_stems):
    net = MultiStemResNet("resnet18", num_stems=num_stems, generator=gen(0))
    assert len(net.stems) == num_stems
    pointers = {p.data_ptr() for stem in net.stems for p in stem.parameters()}
    assert len(pointers) == num_stems * len(list(net.stems[0].parameters()))
    if num_stems > 1:
        assert not torch.equal(net.stems[0].conv1.weight, net.stems[1].conv1.weight)
    inputs = [images(1, seed) for seed in range(num_stems)]
    batch = net.forward_stems(inputs)
    assert batch.shape == (num_stems, 64, 16, 8)
    for i, x in enumerate(inputs):
        torch.testing.assert_close(batch[i : i + 1], net.stem(x, i))
    # In eval mode (no batch statistics coupling the rows) a loss on the last stem's rows reaches that
    # stem and the body, never another stem.
    net.eval()
    net.forward_layers(net.forward_stems(inputs))["layer4"][-1].sum().backward()
    assert net.stems[-1].conv1.weight.grad.abs().sum() > 0
    assert net.layer1[0].conv1.weight.grad.abs().sum() > 0
    for stem in list(net.stems)[:-1]:
        assert stem.conv1.weight.grad is None or not stem.conv1.weight.grad.any()


def test_forward_stems_with_explicit_indices_and_errors():
    net = MultiStemResNet("resnet18", num_stems=4, generator=gen(0))
    x = images(1)
    both = net.forward_stems([x, x], indices=[3, 1])
    torch.testing.assert_close(both[0:1], net.stem(x, 3))
    torch.testing.assert_close(both[1:2], net.stem(x, 1))
    with pytest.raises(ConfigError, match="stem index"):
        net.stem(x, 4)
    with pytest.raises(ConfigError, match="2 inputs but 1"):
        net.forward_stems([x, x], indices=[0])
    with pytest.raises(ConfigError, match="at least one"):
        net.forward_stems([])


# ---------------------------------------------------------------- non-local placement


def test_agw_non_local_positions_on_resnet50():
    net = MultiStemResNet("resnet50", num_stems=1, non_local=True, non_local_embedding="agw_one", generator=gen(0))
    assert AGW_NON_LOCAL_COUNTS == (0, 2, 3, 0)
    assert net.non_local_positions == {"layer1": (), "layer2": (2, 3), "layer3": (3, 4, 5), "layer4": ()}
    assert count_non_local(net) == {"layer1": 0, "layer2": 2, "layer3": 3, "layer4": 0}
    assert sorted(net.non_local["layer3"].keys()) == ["3", "4", "5"]
    blocks = [m for m in net.modules() if isinstance(m, NonLocalBlock)]
    assert len(blocks) == 5 and all(b.inter_channels == 1 for b in blocks)
    assert [b.in_channels for b in blocks] == [512, 512, 1024, 1024, 1024]


def test_non_local_counts_are_capped_on_shallow_nets_and_configurable():
    net = MultiStemResNet("resnet18", num_stems=1, non_local=True, generator=gen(0))
    assert net.non_local_positions == {"layer1": (), "layer2": (0, 1), "layer3": (0, 1), "layer4": ()}
    assert net.non_local["layer3"]["0"].inter_channels == 128  # "half" of 256
    custom = MultiStemResNet("resnet18", num_stems=1, non_local=True, non_local_counts=(1, 0, 0, 2), generator=gen(0))
    assert count_non_local(custom) == {"layer1": 1, "layer2": 0, "layer3": 0, "layer4": 2}
    assert custom.non_local_positions["layer1"] == (1,)
    off = MultiStemResNet("resnet18", num_stems=1, non_local=False, generator=gen(0))
    assert len(off.non_local) == 0 and not any(isinstance(m, NonLocalBlock) for m in off.modules())
    assert non_local_positions(6, 3) == (3, 4, 5) and non_local_positions(2, 5) == (0, 1)
    assert non_local_positions(4, 0) == ()


def test_each_non_local_block_runs_right_after_its_block():
    net = MultiStemResNet("resnet50", num_stems=1, non_local=True, generator=gen(0))
    calls: list[str] = []
    watched = [f"layer2.{i}" for i in range(4)] + [f"non_local.layer2.{i}" for i in (2, 3)]
    for name in watched:
        net.get_submodule(name).register_forward_hook(lambda m, i, o, name=name: calls.append(name))
    net.forward_layers(net.stem(images(1), 0), end="layer2")
    assert calls == [
        "layer2.0",
        "layer2.1",
        "layer2.2",
        "non_local.layer2.2",
        "layer2.3",
        "non_local.layer2.3",
    ]


@pytest.mark.parametrize("embedding", ["half", "agw_one"])
def test_non_local_blocks_are_the_identity_at_init(embedding):
    plain = MultiStemResNet("resnet18", num_stems=2, non_local=False, generator=gen(4))
    with_nl = MultiStemResNet("resnet18", num_stems=2, non_local=True, non_local_embedding=embedding, generator=gen(4))
    # Equal generators give equal stems and bodies: the non-local blocks are drawn last.
    shared = plain.state_dict()
    for key, value in with_nl.state_dict().items():
        if not key.startswith("non_local."):
            assert torch.equal(value, shared[key]), key
    x = images(1, 5)
    for train in (True, False):
        plain.train(train)
        with_nl.train(train)
        torch.testing.assert_close(with_nl(x, 1), plain(x, 1), rtol=0, atol=0)
    # The comparison can fail: open one gate and the outputs part.
    with torch.no_grad():
        with_nl.non_local["layer2"]["1"].w_bn.weight.fill_(1.0)
    assert not torch.allclose(with_nl(x, 1), plain(x, 1))


# ---------------------------------------------------------------- running the body in parts


def test_forward_layers_parts_equal_the_whole_and_features_agree():
    net = MultiStemResNet("resnet18", num_stems=2, non_local=True, generator=gen(0)).eval()
    x = images(1, 3)
    s = net.stem(x, 1)
    parts = net.forward_layers(s, end="layer3", return_layers=("stem", "layer1", "layer2", "layer3"))
    assert list(parts) == ["stem", "layer1", "layer2", "layer3"]
    assert parts["stem"] is s
    for name, fmap in parts.items():
        assert fmap.shape[1] == net.layer_channels[name]
        assert fmap.shape[2] == 64 // net.layer_reductions[name]
    tail = net.forward_layers(parts["layer3"], start="layer4")
    torch.testing.assert_close(tail["layer4"], net(x, 1))
    feats = net.features(x, 1, return_layers=("layer2", "stem", "layer4"))
    assert list(feats) == ["layer2", "stem", "layer4"]
    torch.testing.assert_close(feats["layer2"], parts["layer2"])
    torch.testing.assert_close(feats["layer4"], tail["layer4"])
    assert list(net.features(x, 0, return_layers=("stem",))) == ["stem"]


def test_forward_layers_rejects_bad_ranges():
    net = MultiStemResNet("resnet18", num_stems=1, generator=gen(0))
    s = net.stem(images(1), 0)
    with pytest.raises(ConfigError, match="comes after"):
        net.forward_layers(s, start="layer3", end="layer2")
    with pytest.raises(ConfigError, match="layer5"):
        net.forward_layers(s, end="layer5")
    with pytest.raises(ConfigError, match="return_layers"):
        net.forward_layers(s, end="layer2", return_layers=("layer3",))
    with pytest.raises(ConfigError, match="return_layers"):
        net.forward_layers(s, start="layer2", return_layers=("stem",))
    with pytest.raises(ConfigError, match="return_layers"):
        net.features(images(1), 0, return_layers=("fc",))


# ---------------------------------------------------------------- construction


def test_initialisation_comes_from_the_generator_only():
    before = torch.random.get_rng_state()
    a = MultiStemResNet("resnet18", num_stems=2, non_local=True, generator=gen(11))
    assert torch.equal(torch.random.get_rng_state(), before)
    b = MultiStemResNet("resnet18", num_stems=2, non_local=True, generator=gen(11))
    c = MultiStemResNet("resnet18", num_stems=2, non_local=True, generator=gen(12))
    torch.testing.assert_close(a.state_dict(), b.state_dict(), rtol=0, atol=0)
    assert not torch.equal(a.layer1[0].conv1.weight, c.layer1[0].conv1.weight)
    w = a.layer3[0].conv2.weight  # torchvision's rule: kaiming normal, fan_out = 256 * 3 * 3
    assert abs(w.std().item() - (2.0 / (256 * 9)) ** 0.5) < 0.003
    bn = a.layer3[0].bn2
    assert torch.all(bn.weight == 1) and torch.all(bn.bias == 0) and torch.all(bn.running_var == 1)
    assert a.pretrained_path is None


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"arch": "resnet51"}, "resnet18"),
        ({"num_stems": 0}, "num_stems"),
        ({"last_stride": 3}, "last_stride"),
        ({"non_local_counts": (0, 2, 3)}, "non_local_counts"),
        ({"non_local_counts": (0, -1, 3, 0)}, "non_local_counts"),
        ({"non_local_embedding": "quarter"}, "non_local_embedding"),
        ({"generator": None}, "torch.Generator"),
    ],
)
def test_bad_arguments_are_config_errors(kwargs, match):
    args = {"arch": "resnet18", "generator": gen(0), **kwargs}
    with pytest.raises(ConfigError, match=match):
        MultiStemResNet(**args)


# ---------------------------------------------------------------- pretrained weights


def fake_imagenet_state(arch: str, seed: int = 0) -> dict[str, torch.Tensor]:
    """A torchvision ``arch`` state dict (fc included) filled with recognisable random values."""
    g = gen(seed)
    state = {}
    for key, ref in build_torchvision_resnet(arch).state_dict().items():
        if ref.dtype == torch.long:
            state[key] = torch.tensor(7)
        else:
            state[key] = torch.rand(ref.shape, generator=g) + 0.5
    return state


def assert_loaded(net: MultiStemResNet, state: dict[str, torch.Tensor]) -> None:
    for stem in net.stems:
        for key, value in stem.state_dict().items():
            assert torch.equal(value, state[key]), key
    for key, value in net.state_dict().items():
        if key.startswith("layer"):
            assert torch.equal(value, state[key]), key


@pytest.fixture(scope="module")
def resnet18_state() -> dict[str, torch.Tensor]:
    return fake_imagenet_state("resnet18")


def test_pretrained_weights_fill_every_stem_and_the_body(tmp_path, resnet18_state):
    path = tmp_path / "resnet18.pth"
    torch.save(resnet18_state, path)
    net = MultiStemResNet("resnet18", num_stems=3, non_local=True, pretrained=path, generator=gen(0))
    assert net.pretrained_path == path
    assert_loaded(net, resnet18_state)
    with torch.no_grad():
        net.stems[0].conv1.weight.zero_()
    assert torch.equal(net.stems[1].conv1.weight, resnet18_state["conv1.weight"])  # copies, not shared storage
    # The non-local blocks keep their fresh initialisation (identity gate).
    assert torch.all(net.non_local["layer2"]["0"].w_bn.weight == 0)


@pytest.mark.parametrize("wrap", ["state_dict", "model", "module_prefix", "no_num_batches_tracked"])
def test_pretrained_wrappers_and_old_files(tmp_path, resnet18_state, wrap):
    if wrap == "module_prefix":
        content = {"module." + k: v for k, v in resnet18_state.items()}
    elif wrap == "no_num_batches_tracked":
        content = {k: v for k, v in resnet18_state.items() if not k.endswith("num_batches_tracked")}
    else:
        content = {wrap: resnet18_state, "epoch": 3}
    path = tmp_path / "w.pth"
    torch.save(content, path)
    net = MultiStemResNet("resnet18", num_stems=2, pretrained=path, generator=gen(0))
    expected = dict(resnet18_state)
    if wrap == "no_num_batches_tracked":
        expected = {k: torch.tensor(0) if k.endswith("num_batches_tracked") else v for k, v in expected.items()}
    assert_loaded(net, expected)


def test_missing_and_garbage_files_are_named(tmp_path):
    missing = tmp_path / "nope.pth"
    with pytest.raises(PretrainedWeightsError, match="nope.pth"):
        MultiStemResNet("resnet18", pretrained=missing, generator=gen(0))
    garbage = tmp_path / "garbage.pth"
    garbage.write_bytes(b"this is not a checkpoint\x00\x01")
    with pytest.raises(PretrainedWeightsError, match="garbage.pth.*weights_only=True"):
        load_torchvision_state_dict(garbage)
    tensor_only = tmp_path / "tensor.pth"
    torch.save(torch.zeros(3), tensor_only)
    with pytest.raises(PretrainedWeightsError, match="got a Tensor"):
        load_torchvision_state_dict(tensor_only)
    not_tensors = tmp_path / "numbers.pth"
    torch.save({"conv1.weight": torch.zeros(1), "lr": 0.1}, not_tensors)
    with pytest.raises(PretrainedWeightsError, match=r"\[lr\]"):
        load_torchvision_state_dict(not_tensors)
    assert issubclass(PretrainedWeightsError, ConfigError)


UNPICKLED: list[str] = []


def _run_on_unpickle(arch: str) -> dict[str, torch.Tensor]:
    UNPICKLED.append(arch)
    return fake_imagenet_state(arch)


class Sneaky:
    """Unpickles into a VALID state dict by running code: a loader without weights_only would accept it."""

    def __reduce__(self):
        return (_run_on_unpickle, ("resnet18",))


def test_arbitrary_pickled_objects_are_rejected_unrun(tmp_path):
    path = tmp_path / "sneaky.pth"
    torch.save(Sneaky(), path)
    with pytest.raises(PretrainedWeightsError, match="weights_only=True"):
        MultiStemResNet("resnet18", pretrained=path, generator=gen(0))
    assert UNPICKLED == []
    # The file itself is fine for an unsafe loader: the rejection above is weights_only's doing.
    with path.open("rb") as f:
        assert isinstance(torch.load(f, weights_only=False), dict)
    UNPICKLED.clear()


def test_wrong_keys_and_shapes_are_reported(tmp_path, resnet18_state):
    # A deeper net's file: resnet34's third layer1 block is unknown to resnet18.
    deeper = dict(resnet18_state)
    for key, ref in build_torchvision_resnet("resnet34").state_dict().items():
        if key.startswith("layer1.2."):
            deeper[key] = torch.zeros(ref.shape, dtype=ref.dtype)
    other_depth = tmp_path / "resnet34.pth"
    torch.save(deeper, other_depth)
    with pytest.raises(PretrainedWeightsError, match=r"resnet34.pth.*12 unexpected \(layer1\.2\."):
        MultiStemResNet("resnet18", pretrained=other_depth, generator=gen(0))
    short = dict(resnet18_state)
    del short["layer2.1.bn2.running_var"]
    short_path = tmp_path / "short.pth"
    torch.save(short, short_path)
    with pytest.raises(PretrainedWeightsError, match=r"1 missing \(layer2\.1\.bn2\.running_var\)"):
        MultiStemResNet("resnet18", pretrained=short_path, generator=gen(0))
    bent = dict(resnet18_state)
    bent["conv1.weight"] = torch.zeros(64, 1, 7, 7)
    bent_path = tmp_path / "bent.pth"
    torch.save(bent, bent_path)
    with pytest.raises(PretrainedWeightsError, match=r"conv1\.weight: file \(64, 1, 7, 7\) vs network \(64, 3, 7, 7\)"):
        MultiStemResNet("resnet18", pretrained=bent_path, generator=gen(0))


def test_resolve_pretrained_path_order(tmp_path):
    folder = tmp_path / "weights"
    folder.mkdir()
    explicit = tmp_path / "mine.pth"
    env = {PRETRAINED_DIR_ENV: str(folder), "REID_PRETRAINED_RESNET50": str(tmp_path / "r50.pth")}
    assert resolve_pretrained_path("resnet50", explicit, env) == explicit
    assert resolve_pretrained_path("resnet50", None, env) == tmp_path / "r50.pth"
    assert resolve_pretrained_path("resnet18", None, env) is None  # folder holds nothing for resnet18
    hub = folder / "resnet18-f37072fd.pth"
    hub.write_bytes(b"x")
    assert resolve_pretrained_path("resnet18", None, env) == hub
    plain = folder / "resnet18.pth"
    plain.write_bytes(b"x")
    assert resolve_pretrained_path("resnet18", None, env) == plain
    (folder / "resnet34-aaaa.pth").write_bytes(b"x")
    (folder / "resnet34-bbbb.pth").write_bytes(b"x")
    with pytest.raises(PretrainedWeightsError, match="several.*REID_PRETRAINED_RESNET34"):
        resolve_pretrained_path("resnet34", None, env)
    assert resolve_pretrained_path("resnet50", None, {}) is None
    assert resolve_pretrained_path("resnet50", None, {"REID_PRETRAINED_RESNET50": "", PRETRAINED_DIR_ENV: ""}) is None
    with pytest.raises(PretrainedWeightsError, match="folder"):
        resolve_pretrained_path("resnet50", None, {PRETRAINED_DIR_ENV: str(tmp_path / "absent")})


def test_real_torchvision_state_dict_round_trip(tmp_path):
    # A state dict straight from torchvision's own module (not a hand-made dict) loads as is.
    source = MultiStemResNet("resnet18", num_stems=1, generator=gen(21))
    tv = build_torchvision_resnet("resnet18").to_empty(device="cpu")
    tv.conv1, tv.bn1 = source.stems[0].conv1, source.stems[0].bn1
    for name in ("layer1", "layer2", "layer3", "layer4"):
        setattr(tv, name, getattr(source, name))
    tv.fc = nn.Linear(512, 10)
    path = tmp_path / "tv.pth"
    torch.save(tv.state_dict(), path)
    net = MultiStemResNet("resnet18", num_stems=2, pretrained=Path(path), generator=gen(22))
    assert_loaded(net, {k: v for k, v in tv.state_dict().items()})


def test_legacy_serialisation_loads(tmp_path, resnet18_state):
    # Plain state dicts saved with the legacy (non-zip) serialisation also load.
    path = tmp_path / "legacy.pth"
    torch.save(resnet18_state, path, _use_new_zipfile_serialization=False)
    assert set(load_torchvision_state_dict(path)) == set(resnet18_state)


def test_a_method_inserts_or_wraps_blocks_between_stages_without_rebuilding_the_network() -> None:
    net = MultiStemResNet("resnet18", num_stems=2, generator=torch.Generator().manual_seed(0)).eval()
    x = torch.rand(2, 3, 64, 32, generator=torch.Generator().manual_seed(1))
    plain = net.forward_layers(net.forward_stems([x], [1]))["layer4"]

    class Double(nn.Module):
        def forward(self, y: torch.Tensor) -> torch.Tensor:
            return 2 * y

    net.insert_after("layer4", Double())
    assert torch.allclose(net.forward_layers(net.forward_stems([x], [1]))["layer4"], 2 * plain)
    with pytest.raises(ConfigError, match="already has Double"):
        net.insert_after("layer4", Double())
    seen = []

    class Wrapped(nn.Module):
        def __init__(self, index: int, block: nn.Module) -> None:
            super().__init__()
            self.index, self.block = index, block

        def forward(self, y: torch.Tensor) -> torch.Tensor:
            seen.append(self.index)
            return self.block(y)

    net.wrap_blocks("layer3", Wrapped)
    composed = ReIDNet(net, GlobalAveragePooling())
    pooled = composed.embed([x, x], [0, 1])
    assert pooled.shape == (4, net.out_channels) and seen == [0, 1]
    assert torch.allclose(pooled[2:], 2 * plain.mean(dim=(2, 3)), atol=1e-6)
    with pytest.raises(ConfigError, match="no neck"):
        composed.head(pooled)
