"""An evaluation demo on the synthetic data: every SYSU-MM01 protocol option, end to end, in seconds.

No model is trained (that needs the engine): images are described by a fixed hand-crafted
descriptor, their luminance at low resolution, standardised. It is colour-blind on purpose,
so it can match infrared to visible images at all, and crude, so the figures show the
modality gap rather than a method.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np
from PIL import Image

from reid.data.datasets.base import ImageDataset
from reid.data.sample import Modality, Sample
from reid.eval.protocols import EvalSplit, camids, pids, sysu_mm01_trials
from reid.eval.ranking import RankMetrics, rank_metrics

# RGB -> luma weights of ITU-R BT.601, the ones Pillow's "L" mode uses.
_LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)


def luminance_descriptor(image: Image.Image, size: tuple[int, int] = (32, 16)) -> np.ndarray:
    """Standardised low-resolution luminance of ``image`` as a unit vector, ``[h * w]``."""
    small = np.asarray(image.resize((size[1], size[0]), Image.Resampling.BILINEAR), dtype=np.float32) / 255.0
    luma = small @ _LUMA
    centred = luma.ravel() - luma.mean()
    return centred / max(float(np.linalg.norm(centred)), 1e-12)


@dataclass(frozen=True)
class DemoRow:
    """One line of the demo table: a protocol setting and its metrics averaged over trials."""

    setting: str
    num_trials: int
    metrics: dict[str, float]


def evaluate_trials(
    splits: Sequence[EvalSplit], describe: Callable[[Sample], np.ndarray]
) -> dict[str, float]:
    """Mean of each metric over the trials."""

    def features(records: Iterable[Sample]) -> np.ndarray:
        return np.stack([describe(r) for r in records])

    results: list[RankMetrics] = []
    for split in splits:
        query, gallery = features(split.query), features(split.gallery)
        results.append(
            rank_metrics(
                -(query @ gallery.T),
                pids(split.query),
                pids(split.gallery),
                camids(split.query),
                camids(split.gallery),
                removal=split.removal,
                dedup_cmc=split.dedup_cmc,
            )
        )
    keys = ("rank1", "rank10", "mAP", "mINP")
    return {key: float(np.mean([r.as_dict()[key] for r in results])) for key in keys}


def run_demo(dataset: ImageDataset, num_trials: int = 10) -> list[DemoRow]:
    """Evaluate the luminance descriptor under every SYSU-MM01 protocol option on ``dataset``."""

    @functools.cache
    def describe(sample: Sample) -> np.ndarray:
        # Cached: the query set and most gallery images recur in every setting and trial.
        return luminance_descriptor(dataset.read(sample))

    permutations = dataset.permutations(num_trials=num_trials)
    rows = []
    for mode in ("all", "indoor"):
        for shots, sampling in ((1, "official"), (10, "official"), (1, "seeded")):
            splits = sysu_mm01_trials(
                dataset.test,
                mode=mode,
                shots=shots,
                gallery_sampling=sampling,
                permutations=permutations if sampling == "official" else None,
                num_trials=num_trials,
            )
            shot_name = "single" if shots == 1 else "multi"
            rows.append(DemoRow(f"IR->VIS {mode}-search {shot_name}-shot, {sampling} gallery", len(splits),
                                evaluate_trials(splits, describe)))
    rows.append(DemoRow("VIS->VIS across cameras (same-modality reference)", 1,
                        evaluate_trials([same_modality_split(dataset.test)], describe)))
    return rows


def same_modality_split(test: Sequence[Sample]) -> EvalSplit:
    """Visible queries (cams 1, 2) against visible galleries of the other cameras (4, 5)."""
    visible = [s for s in test if s.modality is Modality.VISIBLE]
    return EvalSplit(
        query=tuple(s for s in visible if s.camid in (1, 2)),
        gallery=tuple(s for s in visible if s.camid in (4, 5)),
        trial=0,
        removal="same_id_same_cam",
        dedup_cmc=True,
        options={"protocol": "demo_visible_to_visible"},
    )


def format_rows(rows: Sequence[DemoRow]) -> str:
    """A fixed-width table of the demo results."""
    header = f"{'setting':<58} {'trials':>6} {'R1':>6} {'R10':>6} {'mAP':>6} {'mINP':>6}"
    lines = [header, "-" * len(header)]
    for row in rows:
        m = row.metrics
        figures = " ".join(f"{m[key]:>6.2f}" for key in ("rank1", "rank10", "mAP", "mINP"))
        lines.append(f"{row.setting:<58} {row.num_trials:>6} {figures}")
    return "\n".join(lines)
