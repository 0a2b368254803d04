"""Evaluate a trained method under a protocol: trials -> features (once per image) -> distances -> metrics.

As AGW's ``test.py`` (protocols.md sec. 1.3): features of every test image once, then per trial
the query x gallery distance ``-(q @ g.T)`` of L2-normalised features, ranked with the split's
removal rule and CMC de-duplication, and the metrics averaged over the trials. Both test
features of a method (``pool`` and ``bn``; AGW reports both, "POOL" and "FC") are evaluated;
``EvalConfig.feature`` names the primary one.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

import torch
from PIL import Image

from reid.config import EvalConfig
from reid.data.datasets.base import ImageDataset
from reid.data.sample import Sample
from reid.data.sysu_permutations import SysuPermutations, load_rand_perm_cam
from reid.errors import ConfigError
from reid.eval.chance import random_ranking_metrics
from reid.eval.embedder import Embedder
from reid.eval.features import extract_features
from reid.eval.protocols import EvalSplit, build_trials, camids, pids, sysu_mm01_trials
from reid.eval.ranking import rank_metrics

METRICS = ("rank1", "rank5", "rank10", "rank20", "mAP", "mINP")
"""The project's metric names (percent), averaged over trials."""

DEFAULT_DISTANCE = "negative inner product of L2-normalised features (AGW test.py)"


def normalized_distance(query: torch.Tensor, gallery: torch.Tensor) -> torch.Tensor:
    """``[Q, G]`` distance ``-(q @ g.T)`` of L2-normalised features (AGW/CAJ ``test.py``; protocols.md sec. 1.3).

    The reference computes the similarity ``q @ g.T`` of normalised features and ranks
    ``-distmat``; smaller is closer.
    """
    q = torch.nn.functional.normalize(query.float(), dim=1)
    g = torch.nn.functional.normalize(gallery.float(), dim=1)
    return -(q @ g.T)


def feature_distance(
    method: Embedder, name: str, query: Mapping[str, torch.Tensor], gallery: Mapping[str, torch.Tensor]
) -> torch.Tensor:
    """The ``[Q, G]`` distance of feature ``name``: the method's own, else :func:`normalized_distance`.

    A method whose test distance combines features (XIV's ``d(I, V) + d(I, X)``) defines
    ``distance(name, query, gallery)``, receiving every extracted feature (name -> ``[Q, D]`` /
    ``[G, D]``, not normalised) of the query and gallery rows.
    """
    custom = getattr(method, "distance", None)
    if callable(custom):
        return custom(name, query, gallery)
    return normalized_distance(query[name], gallery[name])


def describe_distance(method: Embedder) -> str:
    """Which distance :func:`feature_distance` uses for ``method``, for the run record."""
    return f"{type(method).__name__}.distance" if callable(getattr(method, "distance", None)) else DEFAULT_DISTANCE


@dataclass(frozen=True)
class FeatureResult:
    """Metrics of one test feature.

    Attributes:
        trials: per trial, ``RankMetrics.as_dict()`` (rank1 rank5 rank10 rank20 mAP mINP num_valid)
            and ``cmc`` (the whole curve, percent, for the report's CMC plots).
        mean: the mean over trials of each of :data:`METRICS` (percent).
    """

    trials: tuple[Mapping[str, float | int | None], ...]
    mean: Mapping[str, float | None]


@dataclass(frozen=True)
class EvaluationResult:
    """What an evaluation found and everything that defines how.

    Attributes:
        protocol: the protocol name.
        protocol_options: the options as configured (a permutation file as its path, or the
            source of permutations passed in or generated).
        splits: per trial: ``trial``, ``num_query``, ``num_gallery``, ``num_gallery_ids`` (distinct
            identities, so that chance rank-1 is ``100 / num_gallery_ids``), the split's ``options``
            (gallery sampling, permutation source and row or seed, cameras, ...) and ``random``, the
            metrics of random features on the same trial (:func:`reid.eval.chance.random_ranking_metrics`).
        features: feature name -> :class:`FeatureResult`, for every name of ``method.feature_names``.
        primary_feature: the feature results are reported and models selected by (``EvalConfig.feature``).
        flip: whether flip test-time augmentation was used.
        distance: how distances were computed.
    """

    protocol: str
    protocol_options: Mapping[str, Any]
    splits: tuple[Mapping[str, Any], ...]
    features: Mapping[str, FeatureResult]
    primary_feature: str
    flip: bool
    distance: str

    @property
    def primary(self) -> Mapping[str, float | None]:
        """Mean metrics of the primary feature."""
        return self.features[self.primary_feature].mean

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict for the run record."""
        return _plain(
            {
                "protocol": self.protocol,
                "protocol_options": self.protocol_options,
                "primary_feature": self.primary_feature,
                "flip": self.flip,
                "distance": self.distance,
                "splits": self.splits,
                "features": {name: {"mean": r.mean, "trials": r.trials} for name, r in self.features.items()},
            }
        )


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (tuple, list)):
        return [_plain(v) for v in value]
    if isinstance(value, SysuPermutations):
        return value.source
    if isinstance(value, Path):
        return str(value)
    return value


def mean_metrics(trials: Sequence[Mapping[str, float | int | None]]) -> dict[str, float | None]:
    """Mean over trials of each metric of :data:`METRICS` (AGW ``test.py`` averages CMC, mAP, mINP over trials).

    A metric missing (None) in any trial is None.
    """
    out: dict[str, float | None] = {}
    for metric in METRICS:
        values = [t[metric] for t in trials]
        out[metric] = None if any(v is None for v in values) else float(sum(values)) / len(values)  # type: ignore[arg-type]
    return out


def _default_num_trials() -> int:
    return inspect.signature(sysu_mm01_trials).parameters["num_trials"].default


def resolve_permutations(
    dataset: ImageDataset, options: Mapping[str, Any], permutations: SysuPermutations | None
) -> SysuPermutations:
    """The gallery permutations of SYSU-MM01's official sampling.

    In order: ``permutations`` passed in; ``options["permutations"]`` (a path to the official
    ``rand_perm_cam.mat``, or a loaded :class:`SysuPermutations`); the dataset's own
    ``permutations(num_trials)`` (synthetic data).

    Raises:
        ConfigError: none of the three is available.
        DatasetError: the permutation file is missing or malformed.
    """
    if permutations is not None:
        return permutations
    given = options.get("permutations")
    if isinstance(given, SysuPermutations):
        return given
    if isinstance(given, (str, Path)):
        return load_rand_perm_cam(given)
    if given is not None:
        raise ConfigError(f"eval.protocol_options.permutations: expected the path of rand_perm_cam.mat, got {given!r}")
    own = getattr(dataset, "permutations", None)
    if callable(own):
        return own(options.get("num_trials", _default_num_trials()))
    raise ConfigError(
        f"SYSU-MM01 gallery_sampling='official' needs the official gallery permutations, which {dataset.name!r} "
        "does not provide: set eval.protocol_options.permutations to the path of rand_perm_cam.mat (SYSU-MM01 "
        "evaluation code, data_split/), or use gallery_sampling='seeded' (AGW's sampling)"
    )


def build_splits(
    dataset: ImageDataset, eval_config: EvalConfig, permutations: SysuPermutations | None = None
) -> list[EvalSplit]:
    """The evaluation splits of ``eval_config.protocol`` on ``dataset``, permutations resolved."""
    options = dict(eval_config.protocol_options)
    official = eval_config.protocol == "sysu_mm01" and options.get("gallery_sampling", "official") == "official"
    if official:
        options["permutations"] = resolve_permutations(dataset, options, permutations)
    elif permutations is not None:
        raise ConfigError(
            "permutations: only used by protocol 'sysu_mm01' with gallery_sampling='official'; "
            f"got protocol {eval_config.protocol!r} with options {dict(eval_config.protocol_options)}"
        )
    return build_trials(eval_config.protocol, dataset, **options)


def evaluate(
    method: Embedder,
    dataset: ImageDataset,
    eval_config: EvalConfig,
    *,
    height: int,
    width: int,
    resample: Image.Resampling,
    device: torch.device | str,
    amp: bool = False,
    permutations: SysuPermutations | None = None,
    num_workers: int = 0,
) -> EvaluationResult:
    """Evaluate ``method`` on ``dataset``'s test set under ``eval_config``.

    Every distinct test image of all trials is passed through the network once; each trial
    then ranks its query x gallery distances (:func:`feature_distance`) with its removal rule
    and CMC de-duplication (:func:`reid.eval.ranking.rank_metrics`), for every feature of
    ``method.feature_names``.

    Args:
        method: the trained method (its training mode is restored afterwards).
        dataset: an image dataset with ``test`` records.
        eval_config: protocol, its options, primary feature, flip, batch size.
        height, width, resample: the entry resize (as at training).
        device: where the method runs.
        amp: autocast on CUDA.
        permutations: SYSU-MM01 official gallery permutations (see :func:`resolve_permutations`).
        num_workers: image-decoding processes.

    Returns:
        The per-trial and mean metrics of every feature, and how they were obtained.

    Raises:
        ConfigError: an unknown protocol, option or primary feature, or missing permutations.
    """
    if eval_config.feature not in method.feature_names:
        raise ConfigError(
            f"eval.feature={eval_config.feature!r} is not a feature of {type(method).__name__}; "
            f"expected one of {', '.join(method.feature_names)}"
        )
    splits = build_splits(dataset, eval_config, permutations)
    records: list[Sample] = list(dict.fromkeys(r for s in splits for r in (*s.query, *s.gallery)))
    row = {record: i for i, record in enumerate(records)}
    feats = extract_features(
        method,
        dataset,
        records,
        height=height,
        width=width,
        resample=resample,
        batch_size=eval_config.batch_size,
        device=device,
        flip=eval_config.flip,
        amp=amp,
        num_workers=num_workers,
    )
    missing = [name for name in method.feature_names if name not in feats]
    if missing:
        raise ConfigError(
            f"{type(method).__name__}.extract returned no feature {missing}; expected {method.feature_names}"
        )
    per_feature: dict[str, list[Mapping[str, float | int | None]]] = {name: [] for name in method.feature_names}
    chance = []
    for split in splits:
        q_rows = torch.tensor([row[r] for r in split.query])
        g_rows = torch.tensor([row[r] for r in split.gallery])
        query = {name: value[q_rows] for name, value in feats.items()}
        gallery = {name: value[g_rows] for name, value in feats.items()}
        q_pids, g_pids = pids(split.query), pids(split.gallery)
        q_cams, g_cams = camids(split.query), camids(split.gallery)
        chance.append(random_ranking_metrics(q_pids, g_pids, q_cams, g_cams, removal=split.removal,
                                             dedup_cmc=split.dedup_cmc))
        for name in method.feature_names:
            metrics = rank_metrics(
                feature_distance(method, name, query, gallery),
                q_pids,
                g_pids,
                q_cams,
                g_cams,
                removal=split.removal,
                dedup_cmc=split.dedup_cmc,
            )
            per_feature[name].append(metrics.as_dict() | {"cmc": list(metrics.cmc)})
    features = {
        name: FeatureResult(trials=tuple(trials), mean=MappingProxyType(mean_metrics(trials)))
        for name, trials in per_feature.items()
    }
    split_info = tuple(
        MappingProxyType(
            {
                "trial": s.trial,
                "num_query": len(s.query),
                "num_gallery": len(s.gallery),
                "num_gallery_ids": len(set(pids(s.gallery).tolist())),
                "options": s.options,
                "random": MappingProxyType(random),
            }
        )
        for s, random in zip(splits, chance, strict=True)
    )
    options = dict(eval_config.protocol_options)
    source = splits[0].options.get("permutation_source")
    if source is not None:
        # Where the gallery permutations came from (a path, or the synthetic generator), not the table.
        options["permutations"] = source
    return EvaluationResult(
        protocol=eval_config.protocol,
        protocol_options=MappingProxyType(options),
        splits=split_info,
        features=MappingProxyType(features),
        primary_feature=eval_config.feature,
        flip=eval_config.flip,
        distance=describe_distance(method),
    )
