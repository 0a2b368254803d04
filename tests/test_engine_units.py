"""Engine parts without a real method: schedule, optimiser groups, atomic files, checkpoints, records, one epoch."""

from __future__ import annotations

import copy
import hashlib
import io
import json
import os
import re
import subprocess
from collections.abc import Mapping
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

import reid.data.pipeline as pipeline
import reid.engine.run as engine_run
import reid.engine.run_config as run_config
from reid.config import DataConfig, EvalConfig, OptimConfig, RunConfig, fingerprint, to_dict
from reid.data.sample import Modality
from reid.data.transforms import BILINEAR
from reid.engine.checkpoint import MAGIC, load_checkpoint, save_checkpoint, save_weights
from reid.engine.optim import build_optimizer
from reid.engine.record import RunRecord, git_state, load_run_record, weights_info, write_run_record
from reid.engine.schedule import lr_factor, set_epoch_lr
from reid.engine.seeding import Stream, init_seed, seeded_global_rng, stream_generator
from reid.engine.train import train_one_epoch
from reid.errors import ArtifactError, ConfigError, NonFiniteLossError
from reid.io import atomic_open, atomic_write_text
from reid.methods.base import ReIDMethod, StepOutput, TrainBatch, ViewSpec

REPO = Path(__file__).resolve().parent.parent


class TinyMethod(ReIDMethod):
    """Test-only method: a linear "backbone" on per-channel means, a frozen-bias BN and a classifier.

    ``nan_at_step`` makes the loss NaN from that training step on (counted over the method's life).
    """

    name = "tiny-test"

    def __init__(
        self,
        num_classes: int = 3,
        dim: int = 8,
        nan_at_step: int | None = None,
        generator: torch.Generator | None = None,
    ) -> None:
        # Initialised by torch's (seeded, forked) global generator: enough for a test-only model.
        super().__init__()
        self.backbone = nn.Linear(3, dim)
        self.bn = nn.BatchNorm1d(dim)
        self.bn.bias.requires_grad_(False)
        self.classifier = nn.Linear(dim, num_classes, bias=False)
        self.nan_at_step = nan_at_step
        self.steps = 0

    @classmethod
    def from_config(cls, config: RunConfig, num_classes: int) -> dict:
        return {"num_classes": num_classes}

    @classmethod
    def paper_config(cls) -> RunConfig:
        return RunConfig(method=cls.name)

    def train_views(self, height: int, width: int) -> Mapping[str, ViewSpec]:
        return {"visible": ViewSpec(Modality.VISIBLE, lambda x, generator: x)}

    def training_step(self, batch: TrainBatch) -> StepOutput:
        feat = self.backbone(batch.views["visible"].mean(dim=(2, 3)))
        loss = F.cross_entropy(self.classifier(self.bn(feat)), batch.labels)
        if self.nan_at_step is not None and self.steps >= self.nan_at_step:
            loss = loss * float("nan")
        self.steps += 1
        return StepOutput(loss=loss, parts={"id": loss.detach(), "zero": torch.zeros(())})

    def extract(self, images: torch.Tensor, modality: Modality) -> Mapping[str, torch.Tensor]:
        feat = self.backbone(images.mean(dim=(2, 3)))
        return {"pool": feat, "bn": self.bn(feat)}

    def backbone_parameters(self) -> list[nn.Parameter]:
        return list(self.backbone.parameters())


def tiny_batches(num_batches: int, seed: int = 0, per_class: int = 4) -> list[TrainBatch]:
    """Three classes whose images differ in mean colour, plus noise: linearly separable."""
    generator = torch.Generator().manual_seed(seed)
    centres = torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    batches = []
    for _ in range(num_batches):
        labels = torch.arange(3).repeat_interleave(per_class)
        images = centres[labels][:, :, None, None] + 0.3 * torch.randn(len(labels), 3, 4, 2, generator=generator)
        batches.append(TrainBatch(views={"visible": images}, labels=labels))
    return batches


def tiny_method(**kwargs) -> TinyMethod:
    with seeded_global_rng(init_seed(0)):
        return TinyMethod(**kwargs)


# ---------------------------------------------------------------------------------------
# Schedule
# ---------------------------------------------------------------------------------------


def agw_adjust_learning_rate(epoch: int, lr: float = 0.1) -> tuple[float, float]:
    """AGW train.py's if-chain, transcribed literally: (backbone rate, head rate) of ``epoch``."""
    if epoch < 10:
        rate = lr * (epoch + 1) / 10
    elif 10 <= epoch < 20:
        rate = lr
    elif 20 <= epoch < 50:
        rate = lr * 0.1
    else:
        rate = lr * 0.01
    return 0.1 * rate, rate


@pytest.mark.parametrize(
    ("epoch", "factor"),
    [(0, 0.1), (9, 1.0), (10, 1.0), (19, 1.0), (20, 0.1), (49, 0.1), (50, 0.01), (79, 0.01)],
)
def test_lr_factor_at_agw_epochs(epoch: int, factor: float) -> None:
    assert lr_factor(epoch, 10, (20, 50), 0.1) == pytest.approx(factor, rel=1e-12)


def test_group_rates_follow_agw_for_every_epoch() -> None:
    optimizer = build_optimizer(tiny_method(), OptimConfig())
    for epoch in range(81):
        rates = set_epoch_lr(optimizer, lr_factor(epoch, 10, (20, 50), 0.1))
        backbone, heads = agw_adjust_learning_rate(epoch)
        assert rates["backbone"] == pytest.approx(backbone, rel=1e-12), epoch
        assert rates["heads"] == pytest.approx(heads, rel=1e-12), epoch
        assert [g["lr"] for g in optimizer.param_groups] == [rates["backbone"], rates["heads"]]


@settings(max_examples=50, deadline=None)
@given(
    st.integers(0, 300),
    st.integers(0, 20),
    st.lists(st.integers(0, 300), max_size=4),
    st.floats(0.01, 0.99),
)
def test_lr_factor_is_warmup_then_non_increasing(epoch: int, warmup: int, milestones: list[int], gamma: float) -> None:
    factor = lr_factor(epoch, warmup, milestones, gamma)
    assert 0 < factor <= 1
    if epoch >= warmup:
        assert lr_factor(epoch + 1, warmup, milestones, gamma) <= factor
    else:
        assert factor == pytest.approx((epoch + 1) / warmup)


def test_lr_factor_rejects_bad_values() -> None:
    with pytest.raises(ConfigError, match="gamma"):
        lr_factor(0, 1, (), 0.0)
    with pytest.raises(ConfigError, match="epoch"):
        lr_factor(-1, 1, (), 0.1)


def test_set_epoch_lr_needs_base_rates() -> None:
    optimizer = torch.optim.SGD(nn.Linear(2, 2).parameters(), lr=0.1)
    with pytest.raises(ConfigError, match="base_lr"):
        set_epoch_lr(optimizer, 1.0)


# ---------------------------------------------------------------------------------------
# Optimiser
# ---------------------------------------------------------------------------------------


def test_param_groups_split_backbone_and_heads() -> None:
    method = tiny_method()
    optimizer = build_optimizer(method, OptimConfig())
    assert isinstance(optimizer, torch.optim.SGD)
    backbone, heads = optimizer.param_groups
    assert (backbone["name"], heads["name"]) == ("backbone", "heads")
    assert (backbone["lr"], backbone["base_lr"], heads["lr"], heads["base_lr"]) == (0.01, 0.01, 0.1, 0.1)
    for group in (backbone, heads):
        assert (group["momentum"], group["nesterov"], group["weight_decay"]) == (0.9, True, 5e-4)
    assert {id(p) for p in backbone["params"]} == {id(p) for p in method.backbone.parameters()}
    expected_heads = {id(method.bn.weight), id(method.classifier.weight)}
    assert {id(p) for p in heads["params"]} == expected_heads  # the frozen BN bias is left out


def test_adam_and_bad_optimizer_configs() -> None:
    optimizer = build_optimizer(tiny_method(), OptimConfig(optimizer="adam", lr=3e-4, backbone_lr=1e-4))
    assert isinstance(optimizer, torch.optim.Adam)
    assert [g["base_lr"] for g in optimizer.param_groups] == [1e-4, 3e-4]
    with pytest.raises(ConfigError, match="optim.optimizer='rmsprop'.*sgd, adam"):
        build_optimizer(tiny_method(), OptimConfig(optimizer="rmsprop"))
    with pytest.raises(ConfigError, match="optim.lr"):
        build_optimizer(tiny_method(), OptimConfig(lr=0.0))
    with pytest.raises(ConfigError, match="nesterov"):
        build_optimizer(tiny_method(), OptimConfig(momentum=0.0))


def test_backbone_parameters_must_belong_to_the_method() -> None:
    method = tiny_method()
    stranger = nn.Parameter(torch.zeros(2))
    method.backbone_parameters = lambda: [stranger]  # type: ignore[method-assign]
    with pytest.raises(ConfigError, match="lacks"):
        build_optimizer(method, OptimConfig())


# ---------------------------------------------------------------------------------------
# Atomic files
# ---------------------------------------------------------------------------------------


def test_atomic_write_replaces_the_file(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "file.txt"
    atomic_write_text(target, "old")
    atomic_write_text(target, "new")
    assert target.read_text() == "new"
    assert os.listdir(target.parent) == ["file.txt"]
    umask = os.umask(0o022)
    os.umask(umask)
    assert target.stat().st_mode & 0o777 == 0o666 & ~umask  # as open() would create it, not mkstemp's 0o600


def test_failed_atomic_write_keeps_the_old_file_and_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "file.bin"
    target.write_bytes(b"old content")
    with pytest.raises(RuntimeError, match="midway"), atomic_open(target, "wb") as handle:
        handle.write(b"half of the new")
        raise RuntimeError("midway")
    assert target.read_bytes() == b"old content"
    assert os.listdir(tmp_path) == ["file.bin"]


def test_checkpoint_failing_inside_torch_save_keeps_the_old_checkpoint(tmp_path: Path, monkeypatch) -> None:
    method = tiny_method()
    kwargs = checkpoint_kwargs(method)
    path = tmp_path / "last.pt"
    save_checkpoint(path, **kwargs, epoch=0)
    real_save = torch.save

    def torn_save(obj, handle, *args, **kw):
        handle.write(b"PK\x03\x04 a torn zip")
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", torn_save)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint(path, **kwargs, epoch=1)
    monkeypatch.setattr(torch, "save", real_save)
    assert load_checkpoint(path)["epoch"] == 0
    assert os.listdir(tmp_path) == ["last.pt"]


# ---------------------------------------------------------------------------------------
# Checkpoints
# ---------------------------------------------------------------------------------------


def checkpoint_kwargs(method: TinyMethod) -> dict:
    optimizer = build_optimizer(method, OptimConfig())
    train_one_epoch(method, tiny_batches(2), optimizer, epoch=0, device="cpu")  # momentum buffers exist
    config = RunConfig(method=TinyMethod.name)
    return {
        "model": method,
        "optimizer": optimizer,
        "scaler": None,
        "config_dict": to_dict(config),
        "fingerprint": "0123456789abcdef",
        "history": [{"epoch": 0, "lr": {"heads": 0.1}, "train": {"loss": 1.5}, "evaluation": None}],
        "sampler_state": {"base_seed": 2**62 + 5, "epoch": 0},
        "extra": {"wall_time_s": 1.25, "resumed_at_epochs": [1]},
    }


def test_checkpoint_round_trip(tmp_path: Path) -> None:
    method = tiny_method()
    kwargs = checkpoint_kwargs(method)
    path = tmp_path / "last.pt"
    save_checkpoint(path, **kwargs, epoch=3)
    state = load_checkpoint(path)
    assert (state["epoch"], state["kind"], state["fingerprint"]) == (3, "training", "0123456789abcdef")
    assert state["config"] == kwargs["config_dict"]
    assert state["history"] == kwargs["history"]
    assert state["sampler"] == kwargs["sampler_state"]
    assert state["extra"] == kwargs["extra"]
    restored = TinyMethod()
    restored.load_state_dict(state["model"])
    for (name, a), b in zip(method.state_dict().items(), restored.state_dict().values()):
        assert torch.equal(a, b), name
    optimizer = build_optimizer(restored, OptimConfig())
    optimizer.load_state_dict(state["optimizer"])
    original = kwargs["optimizer"].state_dict()
    assert optimizer.state_dict()["param_groups"] == original["param_groups"]
    for key, entry in original["state"].items():
        assert torch.equal(optimizer.state_dict()["state"][key]["momentum_buffer"], entry["momentum_buffer"])


def test_weights_file_round_trip(tmp_path: Path) -> None:
    method = tiny_method()
    save_weights(tmp_path / "best.pt", model=method, epoch=7, config_dict={"method": "x"}, fingerprint="f")
    state = load_checkpoint(tmp_path / "best.pt")
    assert (state["kind"], state["epoch"]) == ("weights", 7)
    assert torch.equal(state["model"]["classifier.weight"], method.classifier.weight)


class Payload:
    """An arbitrary class: unpickling it would run code of the checkpoint's choosing."""


def write_checksummed(path: Path, state: object) -> None:
    """Any torch payload behind a valid checksum header: what the checks after the checksum see."""
    buffer = io.BytesIO()
    torch.save(state, buffer)
    payload = buffer.getvalue()
    path.write_bytes(MAGIC + hashlib.sha256(payload).hexdigest().encode("ascii") + b"\n" + payload)


def test_checkpoint_with_a_pickled_object_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "evil.pt"
    write_checksummed(path, {"format": 2, "kind": "weights", "epoch": 0, "fingerprint": "f", "config": {},
                             "model": {}, "payload": Payload()})
    refusal = r".*weights_only=True refused it: Unsupported global.*Payload"
    with pytest.raises(ArtifactError, match=re.escape(str(path)) + refusal):
        load_checkpoint(path)


def test_checkpoint_errors_name_the_file_and_key(tmp_path: Path) -> None:
    with pytest.raises(ArtifactError, match="missing.pt: expected a checkpoint file"):
        load_checkpoint(tmp_path / "missing.pt")
    path = tmp_path / "partial.pt"
    write_checksummed(path, {"format": 2, "kind": "training", "epoch": 0})
    with pytest.raises(ArtifactError, match=r"partial.pt \[fingerprint\]"):
        load_checkpoint(path)
    write_checksummed(path, {"format": 99})
    with pytest.raises(ArtifactError, match=r"\[format\]: expected checkpoint format 2, got 99"):
        load_checkpoint(path)
    write_checksummed(path, b"not a checkpoint")
    with pytest.raises(ArtifactError, match="partial.pt: expected a dict at the top level"):
        load_checkpoint(path)
    torch.save({"format": 1, "kind": "weights"}, path)  # a plain torch file: no checksum
    with pytest.raises(ArtifactError, match="partial.pt: expected a vireid-repro checkpoint .* CORRUPT, written by"):
        load_checkpoint(path)


def test_a_checkpoint_changed_after_it_was_written_is_refused_as_corrupt(tmp_path: Path) -> None:
    path = tmp_path / "last.pt"
    save_weights(path, model=nn.Linear(64, 64), epoch=0, config_dict={}, fingerprint="f")
    data = bytearray(path.read_bytes())
    middle = len(data) // 2
    data[middle:middle + 64] = bytes(64)  # 64 zeroed bytes inside the weights
    path.write_bytes(bytes(data))
    with pytest.raises(ArtifactError, match=r"last.pt: expected a checkpoint whose content matches its checksum; "
                                            r"it is CORRUPT"):
        load_checkpoint(path)
    path.write_bytes(torch.randint(0, 256, (len(data),), generator=torch.Generator().manual_seed(0),
                                   dtype=torch.uint8).numpy().tobytes())
    with pytest.raises(ArtifactError, match="CORRUPT"):
        load_checkpoint(path)
    save_weights(path, model=nn.Linear(2, 2), epoch=0, config_dict={}, fingerprint="f")
    path.write_bytes(path.read_bytes()[:200])  # cut short
    with pytest.raises(ArtifactError, match="CORRUPT"):
        load_checkpoint(path)


# ---------------------------------------------------------------------------------------
# Run records
# ---------------------------------------------------------------------------------------


def valid_record() -> RunRecord:
    return RunRecord(
        config=to_dict(RunConfig(method="tiny-test")),
        fingerprint="0123456789abcdef",
        status="completed",
        error=None,
        git={"sha": "a" * 40, "dirty": False},
        environment={"torch": torch.__version__, "device": "cpu"},
        seeds={"seed": 0, "streams": {"model_init": 0}},
        protocol={"protocol": "sysu_mm01"},
        weights={"pretrained": None, "from_scratch": True, "sha256": None},
        epochs=[{"epoch": 0, "lr": {"heads": 0.01}, "train": {"loss": 2.0}, "evaluation": None}],
        selection={"rule": "best-on-test", "epoch": 0, "selection_uses_test_set": True, "criterion": "rank1 (bn)"},
        final_evaluation={"features": {"bn": {"mean": {"rank1": 50.0}}}},
        wall_time_s=3.5,
        resumed_at_epochs=[],
    )


def test_record_round_trip(tmp_path: Path) -> None:
    record = valid_record()
    write_run_record(tmp_path / "record.json", record)
    assert load_run_record(tmp_path / "record.json") == record
    assert json.loads((tmp_path / "record.json").read_text())["selection"]["selection_uses_test_set"] is True


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda d: d.pop("fingerprint"), "fingerprint"),
        (lambda d: d.update(status="done"), "status"),
        (lambda d: d.update(status="failed"), "error"),
        (lambda d: d.update(wall_time_s="long"), "wall_time_s"),
        (lambda d: d.update(surprise=1), "surprise"),
        (lambda d: d.update(format=2), "format"),
        (lambda d: d["weights"].update(pretrained="/w.pth"), "weights.from_scratch"),
        (lambda d: d["selection"].update(selection_uses_test_set=False), "selection.selection_uses_test_set"),
        (lambda d: d["selection"].update(rule="best-on-val"), "selection.rule"),
        (lambda d: d["epochs"][0].pop("lr"), "epochs[0]"),
    ],
)
def test_invalid_record_names_file_and_field(tmp_path: Path, change, field: str) -> None:
    data = valid_record().to_dict()
    change(data)
    path = tmp_path / "record.json"
    path.write_text(json.dumps(data))
    with pytest.raises(ArtifactError, match=re.escape(f"record.json [{field}]")):
        load_run_record(path)


def test_record_not_json_or_missing(tmp_path: Path) -> None:
    path = tmp_path / "record.json"
    with pytest.raises(ArtifactError, match="record.json: expected a run record file"):
        load_run_record(path)
    path.write_text("{not json")
    with pytest.raises(ArtifactError, match="record.json: expected a JSON run record"):
        load_run_record(path)


def test_record_refuses_nan(tmp_path: Path) -> None:
    record = copy.deepcopy(valid_record())
    record.final_evaluation["features"]["bn"]["mean"]["rank1"] = float("nan")
    with pytest.raises(ValueError):
        write_run_record(tmp_path / "record.json", record)
    assert not (tmp_path / "record.json").exists()


def test_weights_info(tmp_path: Path) -> None:
    assert weights_info(None) == {"pretrained": None, "from_scratch": True, "sha256": None}
    path = tmp_path / "w.pth"
    path.write_bytes(b"weights")
    info = weights_info(path)
    assert info == {"pretrained": str(path), "from_scratch": False, "sha256": hashlib.sha256(b"weights").hexdigest()}


def test_git_state(tmp_path: Path) -> None:
    assert git_state(tmp_path) == {"sha": None, "dirty": None}
    state = git_state()
    if state["sha"] is None:
        pytest.skip("the package is not imported from a git checkout")
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True, check=True)
    assert state["sha"] == head.stdout.strip()
    assert isinstance(state["dirty"], bool)


# ---------------------------------------------------------------------------------------
# Seeding
# ---------------------------------------------------------------------------------------


def test_stream_ids_are_distinct_and_match_the_data_pipeline() -> None:
    assert len(Stream.__members__) == len(set(Stream.__members__.values()))  # no alias
    assert Stream.SAMPLER == pipeline.SAMPLER_STREAM and Stream.AUGMENT == pipeline.AUGMENT_STREAM
    assert Stream.LOADER == pipeline.LOADER_STREAM
    engine_only = {int(s) for s in Stream} - set(pipeline.STREAMS.values())
    assert engine_only == {Stream.MODEL_INIT, Stream.TRAIN_GLOBAL}
    draws = {s: torch.rand(4, generator=stream_generator(0, s)) for s in Stream}
    assert len({tuple(d.tolist()) for d in draws.values()}) == len(Stream)


def test_seeded_global_rng_builds_the_same_model_and_restores_global_state() -> None:
    torch.manual_seed(123)
    expected_next = torch.rand(3)
    torch.manual_seed(123)
    first, second = tiny_method(), tiny_method()
    assert torch.equal(torch.rand(3), expected_next)  # the global stream went on as if nothing happened
    for a, b in zip(first.state_dict().values(), second.state_dict().values()):
        assert torch.equal(a, b)
    with seeded_global_rng(init_seed(1)):
        other = TinyMethod()
    assert not torch.equal(other.backbone.weight, first.backbone.weight)


# ---------------------------------------------------------------------------------------
# One epoch
# ---------------------------------------------------------------------------------------


def test_train_one_epoch_lowers_the_loss() -> None:
    method = tiny_method()
    optimizer = build_optimizer(method, OptimConfig(lr=0.1, backbone_lr=0.1))
    batches = tiny_batches(8)
    history = [train_one_epoch(method, batches, optimizer, epoch=e, device="cpu") for e in range(6)]
    first, last = history[0], history[-1]
    assert last["loss"] < 0.5 * first["loss"]
    assert first["steps"] == 8 and first["images"] == 8 * 12
    assert first["loss_id"] == pytest.approx(first["loss"])
    assert first["loss_zero"] == 0.0
    assert first["images_per_s"] > 0
    assert all(p.grad is None for p in method.parameters())  # cleared after the last step


def test_non_finite_loss_stops_with_epoch_step_and_parts() -> None:
    method = tiny_method(nan_at_step=2)
    optimizer = build_optimizer(method, OptimConfig())
    before = copy.deepcopy(method.state_dict())
    with pytest.raises(NonFiniteLossError, match=r"epoch 4, step 2 .*loss=nan; parts: id=nan, zero=0") as info:
        train_one_epoch(method, tiny_batches(5), optimizer, epoch=4, device="cpu")
    assert (info.value.epoch, info.value.step) == (4, 2)
    # Two good steps were taken, the bad one was not applied.
    assert not torch.equal(before["classifier.weight"], method.classifier.weight)


def test_empty_loader_is_an_error() -> None:
    method = tiny_method()
    with pytest.raises(ConfigError, match="epoch 0: the training loader yielded no batch"):
        train_one_epoch(method, [], build_optimizer(method, OptimConfig()), epoch=0, device="cpu")


# ---------------------------------------------------------------------------------------
# run() with the tiny method (the real methods: tests/test_engine_run.py)
# ---------------------------------------------------------------------------------------


class NanMethod(TinyMethod):
    """Diverges at its sixth training step: step 1 of epoch 1 in the tiny run below (4 batches per epoch)."""

    @classmethod
    def from_config(cls, config: RunConfig, num_classes: int) -> dict:
        return {"num_classes": num_classes, "nan_at_step": 5}


def tiny_run_config(**eval_options) -> RunConfig:
    return RunConfig(
        method=TinyMethod.name,
        profile="smoke",
        data=DataConfig(options={"seed": 0, "num_train_ids": 6, "num_test_ids": 4, "images_per_camera": (1, 2)},
                        height=16, width=8, num_ids_per_batch=3, num_per_id=2),
        optim=OptimConfig(epochs=3, warmup_epochs=1, milestones=(2,)),
        eval=EvalConfig(protocol_options={"mode": "all", "shots": 1, "gallery_sampling": "official", "num_trials": 1},
                        **eval_options),
    )


@pytest.fixture
def tiny_registry(monkeypatch):
    """run() builds ``TinyMethod`` (or the class put in the returned dict) without touching the real registry."""
    classes = {TinyMethod.name: TinyMethod}
    for module in (engine_run, run_config):
        monkeypatch.setattr(module, "method_class", lambda name: classes[name])
        monkeypatch.setattr(module, "entry_resample", lambda name: BILINEAR)
    return classes


def test_run_best_on_test_is_labelled_and_cached(tmp_path: Path, tiny_registry) -> None:
    config = tiny_run_config(every=1, selection="best-on-test")
    record = engine_run.run(config, out_dir=tmp_path)
    folder = tmp_path / fingerprint(config)
    assert load_run_record(folder / "record.json") == record
    assert record.status == "completed" and record.error is None
    assert [e["epoch"] for e in record.epochs] == [0, 1, 2]
    assert [e["lr"]["heads"] for e in record.epochs] == pytest.approx([0.1, 0.1, 0.01])
    rank1 = [e["evaluation"]["features"]["bn"]["mean"]["rank1"] for e in record.epochs]
    best = rank1.index(max(rank1))
    assert record.selection == {"rule": "best-on-test", "epoch": best, "selection_uses_test_set": True,
                                "criterion": "highest test rank1 of the 'bn' feature among evaluated epochs"}
    assert record.final_evaluation == record.epochs[best]["evaluation"]
    assert load_checkpoint(folder / "best.pt")["epoch"] == best
    assert record.weights == {"pretrained": None, "from_scratch": True, "sha256": None}
    assert record.seeds["streams"]["model_init"] == Stream.MODEL_INIT
    stamp = (folder / "last.pt").stat().st_mtime_ns
    assert engine_run.run(config, out_dir=tmp_path) == record  # a completed run is not trained again
    assert (folder / "last.pt").stat().st_mtime_ns == stamp


def test_run_with_a_diverging_method_writes_a_failed_record(tmp_path: Path, tiny_registry) -> None:
    tiny_registry[TinyMethod.name] = NanMethod
    config = tiny_run_config()
    with pytest.raises(NonFiniteLossError, match="epoch 1, step 1 "):
        engine_run.run(config, out_dir=tmp_path)
    record = load_run_record(tmp_path / fingerprint(config) / "record.json")
    assert record.status == "failed" and record.error.startswith("NonFiniteLossError: non-finite loss at epoch 1")
    assert [e["epoch"] for e in record.epochs] == [0]
    assert record.selection is None and record.final_evaluation is None


def test_run_refuses_bad_selection_and_foreign_checkpoints(tmp_path: Path, tiny_registry) -> None:
    with pytest.raises(ConfigError, match=r"best-on-test.*0 < eval.every <= optim.epochs \(got eval.every=0"):
        engine_run.run(tiny_run_config(selection="best-on-test"), out_dir=tmp_path)
    with pytest.raises(ConfigError, match=r"got eval.every=4, optim.epochs=3"):
        engine_run.run(tiny_run_config(selection="best-on-test", every=4), out_dir=tmp_path)
    with pytest.raises(ConfigError, match="eval.selection='best'"):
        engine_run.run(tiny_run_config(selection="best"), out_dir=tmp_path)
    config = tiny_run_config()
    folder = tmp_path / fingerprint(config)
    save_weights(folder / "last.pt", model=TinyMethod(), epoch=0, config_dict={}, fingerprint="another")
    with pytest.raises(ArtifactError, match=r"last.pt \[fingerprint\]"):
        engine_run.run(config, out_dir=tmp_path)


def test_best_epoch_takes_the_first_maximum() -> None:
    def entry(epoch: int, rank1: float | None) -> dict:
        if rank1 is None:
            return {"epoch": epoch, "evaluation": None}
        return {"epoch": epoch, "evaluation": {"primary_feature": "bn", "features": {"bn": {"mean": {"rank1": rank1}}}}}

    assert engine_run.best_epoch([entry(0, None), entry(1, 40.0), entry(2, 55.0), entry(3, 55.0), entry(4, 50.0)]) == 2
    assert engine_run.best_epoch([entry(0, None)]) is None
