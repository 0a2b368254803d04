"""Broken controls of the smoke tier: the same run, deliberately broken, must fail the smoke verdict.

A verdict that a broken method also passes tells nothing. So for every method the CI selection also
trains its CI smoke config twice more, broken in one way each, and passes only when each broken
run *fails* the verdict its CI row gets: the sanity bound (:func:`reid.harness.compare.sanity_problems`)
or the band of the row's recorded seeds (:func:`reid.harness.reproduce.against_band`):

* ``permuted_ids``: every training image is swapped for another training image of the same
  modality (one random permutation per modality, from the run seed), so the labels, the pairs and
  the sampler's identities no longer match what the images show;
* ``flipped_metric``: the method's metric-learning terms (:attr:`ReIDMethod.metric_learning_terms`:
  WRT, CAJ's weighted triplet, XIV's triplets and CMG, CMMP's fine-tuning triplet) enter the loss
  with the opposite sign; the identity loss is untouched.

These are test-only switches: no config field, option or command turns them on, and their runs live
apart from the real ones (:mod:`reid.engine.control`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from PIL import Image

from reid.config import fingerprint
from reid.data.datasets.base import ImageDataset
from reid.data.sample import Sample
from reid.engine.control import RunControl
from reid.errors import GoldenError, NonFiniteFeaturesError, NonFiniteLossError
from reid.golden import Golden
from reid.harness.cases import Training, plan, table_cases
from reid.harness.compare import sanity_problems
from reid.harness.execute import execute
from reid.harness.reproduce import against_band
from reid.harness.selection import ci_plans
from reid.harness.smoke_golden import SmokeEntry, load_smoke_golden, smoke_path
from reid.methods.base import ReIDMethod


class ControlNotCaughtError(AssertionError):
    """A broken control passed the smoke verdict: the tier cannot tell it from a working run."""


class MismatchedImages:
    """``dataset`` whose training records show other records' images (same modality; test set untouched).

    Every attribute but :meth:`read` is the wrapped data set's, so protocols and loaders see the
    same records, identities and cameras.

    Args:
        dataset: the data set to wrap.
        seed: of the permutations (one per modality).
    """

    def __init__(self, dataset: ImageDataset, seed: int) -> None:
        self._dataset = dataset
        generator = torch.Generator().manual_seed(seed)
        self._shown: dict[Sample, Sample] = {}
        for modality in sorted({s.modality for s in dataset.train}, key=str):
            records = [s for s in dataset.train if s.modality == modality]
            order = torch.randperm(len(records), generator=generator).tolist()
            self._shown |= {record: records[i] for record, i in zip(records, order, strict=True)}

    def read(self, sample: Sample) -> Image.Image:
        """The image of the record ``sample`` was swapped with (itself for test records)."""
        return self._dataset.read(self._shown.get(sample, sample))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._dataset, name)


def _flip_metric_terms(method: ReIDMethod) -> None:
    if not method.metric_learning_terms:
        raise ValueError(f"{type(method).__name__} declares no metric-learning term to flip")
    method.negate_terms(method.metric_learning_terms)


CONTROLS: Mapping[str, RunControl] = {
    "permuted_ids": RunControl("permuted_ids", dataset=MismatchedImages),
    "flipped_metric": RunControl("flipped_metric", method=_flip_metric_terms),
}
"""Every broken control, by name."""


def control_problems(
    judged: Sequence[tuple[Training, SmokeEntry | None]],
    control: RunControl,
    runs_dir: Path,
    *,
    device: str = "cpu",
    progress: bool = False,
) -> list[str]:
    """Train the config of ``judged``'s trainings (one config, each with the evaluations of a row that trains it)
    broken by ``control``, and return what the smoke verdicts of those rows find wrong with it: per row, the sanity
    problems of every setting it evaluates (:func:`~reid.harness.compare.sanity_problems`) and the cells outside
    the seed band of its recording (when given), or that the run diverged. A control that shows the verdict bites
    has some: any one of them would fail a CI case.

    The real run of the same config is trained (or found) first, under its lock, so that a pre-training stage
    both share exists before the control starts from it.
    """
    problems: list[str] = []
    for training, recorded in judged:
        execute([training], runs_dir, device=device, progress=progress)
        try:
            runs = execute([training], runs_dir, device=device, progress=progress, control=control)
        except (NonFiniteLossError, NonFiniteFeaturesError) as err:
            # A broken run that diverges fails every smoke case it would be part of.
            return [f"{control.name}: the run diverged ({type(err).__name__}: {err})"]
        problems += sanity_problems(runs.settings)
        if recorded is not None:
            problems += [c.describe() for c in against_band(recorded, runs.settings) if c.verdict == "outside"]
    return problems


def ci_control_problems(golden: Golden, method: str, name: str, runs_dir: Path, *, device: str = "cpu") -> list[str]:
    """:func:`control_problems` of control ``name`` on ``method``'s CI smoke config, judged by every CI row that
    trains it, each with its recording.

    Raises:
        GoldenError: the method has no CI smoke config, or a row's recording is missing or stale (the message
            names the command that records it).
    """
    plans = ci_plans(golden)
    if method not in plans:
        raise GoldenError(golden.root, f"a runnable smoke row of method {method!r} (its CI config)")
    training, rows = plans[method]
    judged = []
    for paper, table, row in rows:
        path = smoke_path(golden.root, paper, table)
        recording = load_smoke_golden(path)
        entry = recording.rows.get(row)
        if entry is None or entry.fingerprints[:1] != (fingerprint(training.config),):
            raise GoldenError(path, f"a current recording of row {row!r}; record it with `{recording.command}`",
                              f"rows[{row!r}]")
        case = next(c for c in table_cases(golden, paper, table) if c.id == row)
        judged.append((plan(case, golden, "smoke")[0], entry))
    return control_problems(judged, CONTROLS[name], runs_dir, device=device)
