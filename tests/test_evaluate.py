"""Test-time features and protocol evaluation of a trained method.

The methods here are test-only: a tiny two-stem conv net (the data path, not a paper method, is
under test) and an oracle whose features are read from images that encode their identity.
"""

from __future__ import annotations

import json
import random
from collections import Counter
from collections.abc import Mapping
from typing import Any

import pytest
import torch
from PIL import Image
from torch import nn

from reid.config import EvalConfig, RunConfig
from reid.data.datasets import SyntheticVIReID
from reid.data.datasets.base import ImageDataset
from reid.data.sample import Modality, Sample
from reid.data.transforms import IMAGENET_MEAN, IMAGENET_STD, LANCZOS, eval_transform, resize, to_tensor
from reid.errors import ConfigError, DatasetError, NonFiniteFeaturesError
from reid.eval.chance import random_ranking_metrics
from reid.eval.evaluate import (
    DEFAULT_DISTANCE,
    METRICS,
    build_splits,
    evaluate,
    mean_metrics,
    normalized_distance,
)
from reid.eval.features import extract_features
from reid.eval.protocols import camids, pids, sysu_mm01_trials
from reid.eval.ranking import rank_metrics
from reid.methods.base import ReIDMethod, StepOutput, TrainBatch, ViewSpec

H, W = 32, 16
RESAMPLE = LANCZOS  # AGW.entry_resample
OFFICIAL = {"mode": "all", "shots": 1, "gallery_sampling": "official", "num_trials": 3}


class TinyNet(ReIDMethod):
    """Two conv stems (one per modality), a shared conv layer, mean pooling and a BN neck."""

    name = "tiny_test"

    def __init__(self, num_classes: int = 6, dim: int = 8) -> None:
        super().__init__()
        self.stems = nn.ModuleDict({m.value: nn.Conv2d(3, 4, 3, padding=1) for m in Modality})
        self.body = nn.Conv2d(4, dim, 3, padding=1)
        self.neck = nn.BatchNorm1d(dim)
        self.classifier = nn.Linear(dim, num_classes, bias=False)
        self.images_seen: Counter[Modality] = Counter()

    @classmethod
    def from_config(cls, config: RunConfig, num_classes: int) -> dict[str, Any]:
        return {"num_classes": num_classes}

    @classmethod
    def paper_config(cls) -> RunConfig:
        return RunConfig(method=cls.name)

    def train_views(self, height: int, width: int) -> Mapping[str, ViewSpec]:
        return {
            "rgb": ViewSpec(Modality.VISIBLE, eval_transform(height, width)),
            "ir": ViewSpec(Modality.INFRARED, eval_transform(height, width)),
        }

    def forward_features(self, images: torch.Tensor, modality: Modality) -> torch.Tensor:
        return self.body(torch.relu(self.stems[modality.value](images))).mean(dim=(2, 3))

    def training_step(self, batch: TrainBatch) -> StepOutput:
        pooled = torch.cat(
            [
                self.forward_features(batch.views["rgb"], Modality.VISIBLE),
                self.forward_features(batch.views["ir"], Modality.INFRARED),
            ]
        )
        loss = nn.functional.cross_entropy(self.classifier(self.neck(pooled)), batch.labels.repeat(2))
        return StepOutput(loss=loss, parts={"id": loss.detach()})

    def extract(self, images: torch.Tensor, modality: Modality) -> Mapping[str, torch.Tensor]:
        self.images_seen[modality] += len(images)
        pool = self.forward_features(images, modality)
        return {"pool": pool, "bn": self.neck(pool)}

    def backbone_parameters(self) -> list[nn.Parameter]:
        return [*self.stems.parameters(), *self.body.parameters()]


class OracleDataset(SyntheticVIReID):
    """Synthetic layout whose every image is one grey level: 10 x the identity."""

    def read(self, sample: Sample) -> Image.Image:
        return Image.new("RGB", (W, H), (10 * sample.pid,) * 3)


class Oracle(TinyNet):
    """``pool`` = one-hot of the identity read from the pixels (rank-1 100); ``bn`` = one-hot of its parity."""

    name = "oracle_test"

    def extract(self, images: torch.Tensor, modality: Modality) -> Mapping[str, torch.Tensor]:
        self.images_seen[modality] += len(images)
        level = (images[:, 0, 0, 0] * IMAGENET_STD[0] + IMAGENET_MEAN[0]) * 255
        pid = torch.round(level / 10).long()
        return {"pool": one_hot(pid), "bn": one_hot(pid % 2)}


class ReversedOracle(Oracle):
    """An oracle with its own distance (the hook XIV's d(I,V)+d(I,X) needs): farthest first."""

    def distance(self, name: str, query: Mapping[str, torch.Tensor], gallery: Mapping[str, torch.Tensor]):
        return -normalized_distance(query[name], gallery[name])


class NoPermutations(ImageDataset):
    """A SYSU-shaped dataset that, like the real SYSU-MM01 loader, ships no gallery permutations."""

    name = "no_permutations"

    def __init__(self, source: SyntheticVIReID) -> None:
        self.source, self.train, self.test = source, source.train, source.test

    def read(self, sample: Sample) -> Image.Image:
        return self.source.read(sample)


def one_hot(labels: torch.Tensor, size: int = 16) -> torch.Tensor:
    return nn.functional.one_hot(labels, size).float()


@pytest.fixture(scope="module")
def dataset() -> SyntheticVIReID:
    return SyntheticVIReID(num_train_ids=6, num_test_ids=4, height=H, width=W)


@pytest.fixture(scope="module")
def oracle_data() -> OracleDataset:
    return OracleDataset(num_train_ids=6, num_test_ids=4, height=H, width=W)


def trained_net() -> TinyNet:
    """A TinyNet with non-trivial BN statistics, so eval and train mode give different features."""
    net = TinyNet()
    with torch.no_grad():
        net.neck.running_mean.uniform_(-1, 1, generator=torch.Generator().manual_seed(0))
        net.neck.running_var.uniform_(0.5, 2, generator=torch.Generator().manual_seed(1))
    return net


def features(net: ReIDMethod, dataset: ImageDataset, records, **kwargs) -> dict[str, torch.Tensor]:
    options = {"height": H, "width": W, "resample": RESAMPLE, "batch_size": 5, "device": "cpu"} | kwargs
    return extract_features(net, dataset, records, **options)


def load(dataset: ImageDataset, sample: Sample) -> torch.Tensor:
    return eval_transform(H, W)(to_tensor(resize(dataset.read(sample), (H, W), resample=RESAMPLE)), None)


# ---------------------------------------------------------------------------------------
# extract_features
# ---------------------------------------------------------------------------------------


def test_features_keep_record_order_across_modality_groups(dataset: SyntheticVIReID) -> None:
    torch.manual_seed(0)
    net = trained_net()
    records = list(dataset.test[:23])
    random.Random(0).shuffle(records)
    assert len({r.modality for r in records[:6]}) == 2  # interleaved modalities
    got = features(net, dataset, records)
    assert set(got) == {"pool", "bn"}
    net.eval()
    with torch.no_grad():
        for i, record in enumerate(records):
            alone = net.extract(load(dataset, record)[None], record.modality)
            for name in got:
                torch.testing.assert_close(got[name][i], alone[name][0], rtol=1e-5, atol=1e-6)
    assert got["bn"].dtype == torch.float32 and got["bn"].device.type == "cpu" and got["bn"].shape == (23, 8)


class Overflowing(TinyNet):
    """Infinite ``pool`` features for every infrared image, finite ``bn`` features."""

    name = "overflowing_test"

    def extract(self, images: torch.Tensor, modality: Modality) -> Mapping[str, torch.Tensor]:
        feats = dict(super().extract(images, modality))
        if modality is Modality.INFRARED:
            feats["pool"] = torch.full_like(feats["pool"], float("inf"))
        return feats


def test_non_finite_features_stop_the_evaluation_naming_feature_and_image(dataset: SyntheticVIReID) -> None:
    records = list(dataset.test[:30])
    infrared = [r for r in records if r.modality is Modality.INFRARED]
    assert 0 < len(infrared) < len(records)
    with pytest.raises(NonFiniteFeaturesError) as info:
        features(Overflowing(), dataset, records)
    err = info.value
    assert (err.feature, err.count, err.total) == ("pool", len(infrared), 30)
    assert f"first: {infrared[0].path}, infrared" in str(err)
    assert features(TinyNet(), dataset, records)["pool"].isfinite().all()


def test_flip_averages_the_image_and_its_mirror(dataset: SyntheticVIReID) -> None:
    net = trained_net()
    records = list(dataset.test[:9])
    flipped = features(net, dataset, records, flip=True)
    net.eval()
    with torch.no_grad():
        for i, record in enumerate(records):
            image = load(dataset, record)[None]
            plain = net.extract(image, record.modality)
            mirror = net.extract(image.flip(-1), record.modality)
            for name in flipped:
                # testa.py: the network's eval output is l2norm'ed, so the mean is of unit features.
                unit = [f[0] / f[0].norm() for f in (plain[name], mirror[name])]
                torch.testing.assert_close(flipped[name][i], (unit[0] + unit[1]) / 2)
    unflipped = features(net, dataset, records)
    assert not torch.allclose(unflipped["pool"], flipped["pool"])


@pytest.mark.parametrize("mode", [True, False])
def test_training_mode_is_restored(dataset: SyntheticVIReID, mode: bool) -> None:
    net = trained_net().train(mode)
    features(net, dataset, dataset.test[:4])
    assert net.training is mode and net.neck.training is mode


def test_feature_arguments_are_checked(dataset: SyntheticVIReID) -> None:
    with pytest.raises(ConfigError, match="batch_size"):
        features(TinyNet(), dataset, dataset.test[:2], batch_size=0)
    with pytest.raises(ConfigError, match="Samples"):
        features(TinyNet(), dataset, ["not a sample"])


# ---------------------------------------------------------------------------------------
# evaluate
# ---------------------------------------------------------------------------------------


def run(net: ReIDMethod, dataset: ImageDataset, **config: Any):
    options = {"protocol_options": OFFICIAL, "batch_size": 16} | config
    return evaluate(net, dataset, EvalConfig(**options), height=H, width=W, resample=RESAMPLE, device="cpu")


def test_metrics_equal_a_direct_ranking_of_hand_made_features(oracle_data: OracleDataset) -> None:
    net = Oracle()
    result = run(net, oracle_data, feature="pool")
    assert result.primary["rank1"] == 100.0 and result.primary["mAP"] == 100.0
    splits = build_splits(oracle_data, EvalConfig(protocol_options=OFFICIAL))
    assert len(result.features["bn"].trials) == len(splits) == 3
    for split, trial_metrics in zip(splits, result.features["bn"].trials, strict=True):
        q = one_hot(torch.from_numpy(pids(split.query)) % 2)
        g = one_hot(torch.from_numpy(pids(split.gallery)) % 2)
        direct = rank_metrics(
            -(nn.functional.normalize(q) @ nn.functional.normalize(g).T),
            pids(split.query),
            pids(split.gallery),
            camids(split.query),
            camids(split.gallery),
            removal="sysu",
            dedup_cmc=True,
        )
        assert {k: v for k, v in trial_metrics.items() if k != "cmc"} == direct.as_dict()
        assert trial_metrics["cmc"] == list(direct.cmc)
    # each split carries random features' metrics on the same trial, the same whatever the model
    for split, info in zip(splits, result.splits, strict=True):
        expected = random_ranking_metrics(pids(split.query), pids(split.gallery), camids(split.query),
                                          camids(split.gallery), removal="sysu", dedup_cmc=True)
        assert dict(info["random"]) == expected
    means = result.features["bn"].mean
    assert means["rank1"] < 100.0
    assert means == pytest.approx({m: sum(t[m] for t in result.features["bn"].trials) / 3 for m in METRICS})


def test_features_are_extracted_once_per_record(oracle_data: OracleDataset) -> None:
    net = Oracle()
    result = run(net, oracle_data)
    splits = build_splits(oracle_data, EvalConfig(protocol_options=OFFICIAL))
    distinct = {r for s in splits for r in (*s.query, *s.gallery)}
    assert sum(len(s.query) + len(s.gallery) for s in splits) > len(distinct)  # the cache matters
    assert net.images_seen.total() == len(distinct)
    assert net.images_seen[Modality.INFRARED] == len(splits[0].query)
    flipped = Oracle()
    assert run(flipped, oracle_data, flip=True).flip
    assert flipped.images_seen.total() == 2 * len(distinct)
    assert not result.flip


def test_official_sampling_on_synthetic_data_uses_its_permutations(oracle_data: OracleDataset) -> None:
    splits = build_splits(oracle_data, EvalConfig(protocol_options=OFFICIAL))
    expected = sysu_mm01_trials(oracle_data.test, permutations=oracle_data.permutations(3), num_trials=3)
    assert [s.gallery for s in splits] == [s.gallery for s in expected]
    assert len({s.gallery for s in splits}) > 1  # the trials do differ
    result = run(Oracle(), oracle_data)
    assert [s["num_gallery"] for s in result.splits] == [len(s.gallery) for s in expected]
    assert [s["num_query"] for s in result.splits] == [len(expected[0].query)] * 3
    source = f"synthetic(seed={oracle_data.seed})"
    assert all(s["options"]["permutation_source"] == source for s in result.splits)
    assert [s["options"]["permutation_row"] for s in result.splits] == [0, 1, 2]
    assert result.protocol_options["permutations"] == source
    assert result.protocol_options["gallery_sampling"] == "official"


def test_permutations_passed_in_take_precedence(oracle_data: OracleDataset) -> None:
    other = SyntheticVIReID(num_train_ids=6, num_test_ids=4, height=H, width=W)
    given = other.permutations(3)
    given = type(given)(
        table={key: rows[::-1].copy() for key, rows in given.table.items()}, num_trials=3, source="reversed rows"
    )
    splits = build_splits(oracle_data, EvalConfig(protocol_options=OFFICIAL), given)
    own = build_splits(oracle_data, EvalConfig(protocol_options=OFFICIAL))
    assert splits[0].options["permutation_source"] == "reversed rows"
    assert splits[0].gallery == own[2].gallery


def test_permutations_from_a_path_and_when_none_is_available(oracle_data: OracleDataset, tmp_path) -> None:
    missing = tmp_path / "rand_perm_cam.mat"
    with pytest.raises(DatasetError, match="rand_perm_cam.mat"):
        build_splits(oracle_data, EvalConfig(protocol_options=OFFICIAL | {"permutations": str(missing)}))
    with pytest.raises(ConfigError, match="rand_perm_cam.mat"):
        build_splits(NoPermutations(oracle_data), EvalConfig(protocol_options=OFFICIAL))
    seeded = {"gallery_sampling": "seeded", "num_trials": 2}
    splits = build_splits(NoPermutations(oracle_data), EvalConfig(protocol_options=seeded))
    assert [s.options["seed"] for s in splits] == [0, 1]
    with pytest.raises(ConfigError, match="only used"):
        build_splits(oracle_data, EvalConfig(protocol_options=seeded), oracle_data.permutations(2))


def test_result_record_and_primary_feature(oracle_data: OracleDataset) -> None:
    result = run(Oracle(), oracle_data, feature="bn")
    assert result.primary_feature == "bn" and result.primary == result.features["bn"].mean
    assert set(result.features) == {"pool", "bn"}
    assert result.distance == DEFAULT_DISTANCE
    record = json.loads(json.dumps(result.to_dict()))
    assert record["protocol"] == "sysu_mm01" and record["primary_feature"] == "bn" and record["flip"] is False
    assert record["features"]["pool"]["mean"]["rank1"] == 100.0
    assert len(record["features"]["bn"]["trials"]) == 3
    assert record["splits"][0]["options"]["gallery_cameras"] == [1, 2, 4, 5]
    assert record["protocol_options"]["shots"] == 1
    with pytest.raises(ConfigError, match="eval.feature"):
        run(Oracle(), oracle_data, feature="fc")


def test_method_distance_hook_is_used(oracle_data: OracleDataset) -> None:
    result = run(ReversedOracle(), oracle_data)
    assert result.distance == "ReversedOracle.distance"
    assert result.features["pool"].mean["rank1"] < 100.0


def test_evaluate_restores_training_mode_and_global_rng(dataset: SyntheticVIReID) -> None:
    net = trained_net().train()
    state = torch.get_rng_state()
    result = run(net, dataset, protocol_options={"gallery_sampling": "seeded", "num_trials": 2})
    assert torch.equal(state, torch.get_rng_state())
    assert net.training
    assert len(result.splits) == 2 and all(0 <= result.primary[m] <= 100 for m in METRICS)


def test_mean_metrics_propagates_missing_values() -> None:
    trials = [{m: 10.0 for m in METRICS}, {m: 20.0 for m in METRICS} | {"rank20": None}]
    means = mean_metrics(trials)
    assert means["rank1"] == 15.0 and means["rank20"] is None
