"""Generic checks over every registered method (timm style), then what is particular to AGW and CAJ."""

from __future__ import annotations

import pytest
import torch

from reid.data.sample import Modality
from reid.data.transforms import BILINEAR, LANCZOS
from reid.engine.run_config import check_method_declarations
from reid.errors import ConfigError
from reid.methods import create_method, list_methods, method_class
from reid.methods.base import INPUT_KINDS, TrainBatch
from reid.profiles import build_config


def build(name: str, num_classes: int = 6, seed: int = 0, **overrides):
    config = build_config(name, "smoke")
    cls = method_class(name)
    kwargs = cls.from_config(config, num_classes) | overrides
    return cls(**kwargs, generator=torch.Generator().manual_seed(seed)), config


def random_batch(method, config, pairs: int = 6) -> TrainBatch:
    """Random images through the method's own training views (a mask view keeps its own shape)."""
    g = torch.Generator().manual_seed(1)
    h, w = config.data.height, config.data.width
    specs = method.train_views(h, w)
    built: dict[str, list[torch.Tensor]] = {name: [] for name in specs}
    for _ in range(pairs):
        sources = {m: torch.rand(3, h, w, generator=g) for m in Modality}
        done: dict[str, torch.Tensor] = {}
        for name, spec in specs.items():
            source = sources[spec.source] if isinstance(spec.source, Modality) else done[spec.source]
            done[name] = spec.transform(source, g)
            built[name].append(done[name])
    return TrainBatch(views={k: torch.stack(v) for k, v in built.items()}, labels=torch.arange(pairs) % 3)


@pytest.mark.parametrize("name", list_methods())
def test_training_step_is_finite_and_reaches_every_parameter(name: str) -> None:
    method, config = build(name)
    out = method.training_step(random_batch(method, config))
    assert out.loss.ndim == 0 and torch.isfinite(out.loss)
    assert set(out.parts) and all(torch.isfinite(v) and not v.requires_grad for v in out.parts.values())
    out.loss.backward()
    missing = [n for n, p in method.named_parameters() if p.requires_grad and p.grad is None]
    assert not missing


@pytest.mark.parametrize("name", list_methods())
def test_extract_gives_every_feature_for_both_modalities(name: str) -> None:
    method, config = build(name)
    method.eval()
    images = torch.randn(3, 3, config.data.height, config.data.width)
    for modality in Modality:
        feats = method.extract(images, modality)
        # Every named feature; a method with its own distance may add auxiliary ones (XIV's X features).
        assert set(method.feature_names) <= set(feats)
        assert set(feats) == set(method.feature_names) or callable(getattr(method, "distance", None))
        assert all(f.ndim == 2 and f.shape[0] == 3 and torch.isfinite(f).all() for f in feats.values())
        widths = {name: f.shape[1] for name, f in feats.items()}
        assert widths == {name: f.shape[1] for name, f in method.extract(images[:1], Modality.VISIBLE).items()
                          if name in widths}


@pytest.mark.parametrize("name", list_methods())
def test_backbone_group_excludes_the_heads(name: str) -> None:
    method, _ = build(name)
    backbone = {id(p) for p in method.backbone_parameters()}
    heads = [n for n, p in method.named_parameters() if id(p) not in backbone]
    # New layers (the neck, XIV's X generator, CMMP's decoder and mask token, FF-DML's fusion and necks) train at the
    # head rate; nothing of the pretrained body does.
    assert any(n.startswith(("net.neck.", "decoder.", "heads.")) for n in heads)
    assert not any(n.startswith(("net.backbone.", "backbone.")) for n in heads)


@pytest.mark.parametrize("name", list_methods())
def test_same_generator_same_weights(name: str) -> None:
    a, _ = build(name, seed=3)
    b, _ = build(name, seed=3)
    c, _ = build(name, seed=4)
    pairs = list(zip(a.state_dict().values(), b.state_dict().values(), c.state_dict().values()))
    assert all(torch.equal(x, y) for x, y, _ in pairs)
    assert not all(torch.equal(x, z) for x, _, z in pairs)


def test_unknown_method_lists_the_valid_ones() -> None:
    with pytest.raises(ConfigError, match="expected one of agw, caj, cmmp, cmmp_pretrain, ffdml, xiv"):
        create_method("agw++", num_classes=3)


def test_create_method_takes_explicit_arguments() -> None:
    method = create_method("caj", num_classes=5, arch="resnet18", square=0, generator=torch.Generator().manual_seed(0))
    assert method.net.neck.classifier.out_features == 5 and method.triplet.square == 0


def test_caj_routes_both_visible_views_through_the_visible_stem() -> None:
    method, config = build("caj")
    batch = random_batch(method, config)
    assert list(method.train_views(64, 32)) == ["visible", "exchanged", "infrared"]
    seen = []
    hooks = [stem.register_forward_hook(lambda m, i, o, k=k: seen.append((k, i[0].shape[0])))
             for k, stem in enumerate(method.net.backbone.stems)]
    method.training_step(batch)
    for hook in hooks:
        hook.remove()
    # train_ext.py: visible_module(cat(rgb, rgb_exchanged)), then thermal_module(ir): the visible stem runs once
    # on both visible views, so its BatchNorm sees one batch of 12.
    assert seen == [(0, 12), (1, 6)]


def test_paper_configs_hold_the_reference_hyperparameters() -> None:
    agw, caj = method_class("agw").paper_config(), method_class("caj").paper_config()
    for config in (agw, caj):
        assert (config.data.height, config.data.width) == (288, 144)
        assert (config.data.num_ids_per_batch, config.data.num_per_id) == (8, 4)
        assert (config.optim.lr, config.optim.backbone_lr, config.optim.weight_decay) == (0.1, 0.01, 5e-4)
        assert (config.optim.warmup_epochs, config.optim.milestones, config.optim.gamma) == (10, (20, 50), 0.1)
        assert config.model.arch == "resnet50" and config.model.last_stride == 1 and config.model.non_local
        # model.py Non_local: inter_channels = reduc_ratio // reduc_ratio, one channel.
        assert config.model.non_local_embedding == "agw_one"
        assert config.eval.feature == "bn" and config.eval.selection == "last"
    assert (agw.optim.epochs, caj.optim.epochs) == (81, 100)
    assert dict(caj.method_options) == {"alpha": 1.0, "gamma": 1.0, "square": 1} and caj.eval.flip


def test_a_method_without_a_pretraining_stage_refuses_one() -> None:
    method, config = build("agw")
    assert method_class("agw").pretraining(config) is None
    with pytest.raises(ConfigError, match="declares no pre-training stage"):
        method.load_pretraining({})


@pytest.mark.parametrize("name", list_methods())
def test_every_method_declares_what_the_engine_reads(name: str) -> None:
    """Entry resize, input kind, sampler, schedule and options come from the method class; the engine serves them."""
    cls = method_class(name)
    assert cls.entry_resample in (LANCZOS, BILINEAR) and cls.input_kind in INPUT_KINDS
    for profile in ("paper", "smoke"):
        check_method_declarations(build_config(name, profile))
    assert set(build_config(name, "smoke").method_options) <= set(cls.option_values())


def test_undeclared_needs_fail_when_the_config_is_built(monkeypatch) -> None:
    config = build_config("agw", "smoke")
    with pytest.raises(ConfigError, match=r"caj has no option 'alphaa'; its options: alpha \(paper: 1.0\)"):
        check_method_declarations(build_config("caj", "smoke", ("method_options.alphaa=2",)))
    monkeypatch.setattr(method_class("agw"), "input_kind", "clips")
    with pytest.raises(ConfigError, match="trains on clips: the engine serves only images so far"):
        check_method_declarations(config)
    monkeypatch.setattr(method_class("agw"), "input_kind", "images")
    monkeypatch.setattr(method_class("agw"), "sampler", "tracklet")
    with pytest.raises(ConfigError, match="sampler='tracklet': the image pipeline serves identity"):
        check_method_declarations(config)
    monkeypatch.setattr(method_class("agw"), "sampler", "identity")
    monkeypatch.setattr(method_class("agw"), "schedule", "cosine")
    with pytest.raises(ConfigError, match="schedule='cosine': the engine offers warmup_multistep"):
        check_method_declarations(config)


def test_train_help_lists_the_methods_options_with_smoke_default_and_paper_value(capsys) -> None:
    from reid.cli import main

    assert main(["train", "cmmp", "--help"]) == 0
    out = capsys.readouterr().out
    assert "options of cmmp (override as method_options.KEY=VALUE):" in out
    assert any(line.split() == ["pretrain_epoch_scale", "0.01", "1.0"] for line in out.splitlines())
    assert main(["train", "agw", "--help"]) == 0
    assert "agw has no method options" in capsys.readouterr().out
