"""Benchmark cases: one per row of a golden table, and the runs each needs under a profile.

A :class:`Case` is a row of a paper table. Its :func:`plan` says which models to train and
which evaluations to make of each:

* ``paper`` profile: the row's method under its paper config and the row's overrides, trained
  on the real data set of each column group's setting (``train``) and evaluated with that
  setting's protocol. A RegDB setting trains once per split (the first ``regdb_splits`` of the ten, each
  evaluated on its own split's test set); the case's values are the mean over the splits, as the papers report.
* ``smoke`` profile: the same method and overrides under the smoke profile, on the built-in
  synthetic data (:data:`reid.profiles.SMOKE_STAND_IN`): image settings on the SYSU-shaped synthetic
  set, HITSZ-VCM settings on the synthetic tracklets, each with its own protocol and options.

Settings that share a training set share one training run. Its config keeps the profile's own
evaluation when it trains on the profile's own data set (else it takes its first setting's); each
setting whose evaluation equals the run's own reuses it, the others evaluate the selected checkpoint.

Every config is built by :func:`reid.engine.run_config.build_run_config`: a setting's protocol options
replace the config's when the setting changes the protocol, and are added to them when it keeps it (the
method's number of trials and gallery sampling stay then).

Runs are named by their config fingerprint, so the same row in two tables trains once.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reid.config import RunConfig
from reid.data.datasets.regdb import REGDB_TRIALS
from reid.engine.run_config import build_run_config
from reid.errors import ConfigError, GoldenError, ReidError
from reid.golden import PAPERS, Golden, GoldenRow, GoldenTable, Setting
from reid.methods import list_methods, method_class
from reid.profiles import PROFILES, build_config

REGDB_SPLITS = len(REGDB_TRIALS)
"""RegDB splits a paper-profile case trains on a RegDB setting by default: all ten, each its own training, the
case's numbers their mean (as every paper reports RegDB); ``--regdb-splits N`` takes the first N."""


def check_regdb_splits(regdb_splits: int) -> int:
    """``regdb_splits`` when it is a valid ``--regdb-splits``, 1 to :data:`REGDB_SPLITS`.

    Raises:
        ConfigError: naming the flag and the range.
    """
    if isinstance(regdb_splits, bool) or not isinstance(regdb_splits, int) or not 1 <= regdb_splits <= REGDB_SPLITS:
        raise ConfigError(f"--regdb-splits {regdb_splits!r}: expected an integer from 1 to {REGDB_SPLITS} (the "
                          f"first N of RegDB's {REGDB_SPLITS} splits, each trained; default {REGDB_SPLITS})")
    return regdb_splits


def regdb_splits_note(splits: Sequence[int]) -> str:
    """What a case's RegDB numbers are, in words: ``RegDB: mean of 10 splits``, ``RegDB: mean of splits 1-3 (3 of
    10)`` or ``RegDB: split 1 only (1 of 10)``."""
    ordered = sorted(splits)
    if len(ordered) == 1:
        return f"RegDB: split {ordered[0]} only (1 of {REGDB_SPLITS})"
    if len(ordered) == REGDB_SPLITS:
        return f"RegDB: mean of {REGDB_SPLITS} splits"
    contiguous = ordered == list(range(ordered[0], ordered[-1] + 1))
    named = f"{ordered[0]}-{ordered[-1]}" if contiguous else ", ".join(map(str, ordered))
    return f"RegDB: mean of splits {named} ({len(ordered)} of {REGDB_SPLITS})"


@dataclass(frozen=True)
class Case:
    """One benchmark case: a row of a golden table.

    Attributes:
        table: the golden table.
        index: the row's position in it.
    """

    table: GoldenTable
    index: int

    @property
    def row(self) -> GoldenRow:
        return self.table.rows[self.index]

    @property
    def id(self) -> str:
        """The row id (pytest's test id)."""
        return self.row.row_id

    @property
    def slug(self) -> str:
        """A file-name-safe form of the row id (result file names)."""
        return slugify(self.id)

    def skip_reason(self) -> str | None:
        """Why this row does not run, or ``None`` when it does."""
        row = self.row
        if row.status == "reference":
            return f"reference row: {row.alias} is not implemented in this suite"
        if row.status == "not_applicable":
            return f"not applicable: {row.reason}"
        if row.method not in list_methods():
            assert row.method in PAPERS
            return f"not yet implemented: {row.method!r}, the paper's own method, is not registered yet"
        return method_class(row.method).unsupported(build_config(row.method, "paper", row.profile_overrides("paper")))


def slugify(text: str) -> str:
    """Lower-case letters, digits and single dashes: a safe file name for any row id."""
    slug = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    return slug or "row"


def table_cases(golden: Golden, paper: str, table: int) -> list[Case]:
    """Every row of ``paper``'s table ``table`` as a case, in printed order."""
    found = golden.tables[(paper, table)]
    return [Case(found, i) for i in range(len(found.rows))]


@dataclass(frozen=True)
class Evaluation:
    """One evaluation of a trained model: which of the row's settings it produces values for.

    Attributes:
        settings: the row's setting keys this evaluation stands for (smoke stand-ins can merge several).
        config: the setting's run config (:func:`~reid.engine.run_config.build_run_config`); its data and
            evaluation sections say what the model is evaluated on.
    """

    settings: tuple[str, ...]
    config: RunConfig

    def applied_to(self, stored: RunConfig) -> RunConfig:
        """``stored`` (a checkpoint's config) evaluated as this evaluation says: its data and protocol."""
        return dataclasses.replace(stored, data=self.config.data, eval=self.config.eval)


@dataclass(frozen=True)
class Training:
    """One model to train and the evaluations to make of it.

    Attributes:
        config: the training run's config.
        evaluations: one per distinct evaluation of the row's settings; one whose data and protocol are the
            run's own is read from the run record, the others evaluate the run's checkpoint.
        split: the RegDB split (1-based) it trains and is evaluated on, one of several whose mean is the settings'
            value (paper profile); ``None`` when the settings' value is this training's alone.
    """

    config: RunConfig
    evaluations: tuple[Evaluation, ...]
    split: int | None = None


def plan(
    case: Case,
    golden: Golden,
    profile: str,
    *,
    data_root: Path | None = None,
    extra_overrides: Sequence[str] = (),
    pretrained: Mapping[str, str] | None = None,
    environ: Mapping[str, str] | None = None,
    regdb_splits: int = REGDB_SPLITS,
) -> list[Training]:
    """The trainings and evaluations that produce every runnable value of ``case``'s row.

    Every config comes from :func:`~reid.engine.run_config.build_run_config`: one per setting (its data set,
    protocol and options), and one per training data set; in the paper profile a RegDB setting trains on each of
    the first ``regdb_splits`` splits (``trial=1..N``), each its own training and evaluated on its own split.

    Args:
        case: a row whose :meth:`Case.skip_reason` is ``None``.
        golden: the golden files (for the settings).
        profile: ``"smoke"`` or ``"paper"``.
        data_root: the folder holding the real data sets as ``<name>/`` (paper profile; default
            ``$REID_DATA_ROOT``).
        extra_overrides: the user's overrides, applied after the row's to every config.
        pretrained: ImageNet weights file per architecture (:func:`~reid.engine.run_config.pretrained_files`); each
            config takes its own architecture's.
        environ: where ``$REID_DATA_ROOT`` is read (default ``os.environ``).
        regdb_splits: how many RegDB splits a paper-profile RegDB setting trains (``--regdb-splits``).

    Returns:
        One :class:`Training` per training data set (per data set and split for RegDB in the paper profile), in
        the order the settings are printed.

    Raises:
        ConfigError: ``regdb_splits`` outside 1..10.
    """
    check_regdb_splits(regdb_splits)
    row = case.row
    overrides = (*row.profile_overrides(profile), *extra_overrides)

    def build(**where: Any) -> RunConfig:
        return build_run_config(row.method, profile, data_parent=data_root, overrides=overrides, environ=environ,
                                pretrained=pretrained, **where)

    own_dataset = build_config(row.method, profile).data.dataset
    groups: dict[tuple[str, int | None], list[tuple[str, RunConfig]]] = {}
    for group in case.table.columns:
        setting = golden.settings[group.setting]
        if not setting.runnable or not any((group.setting, m) in row.values for m in group.metrics):
            continue
        for split in _splits(profile, setting, regdb_splits):
            config = build(setting=setting, data_options=_data_options(split))
            groups.setdefault((config.data.dataset, split), []).append((group.setting, config))

    trainings = []
    for (dataset, split), entries in groups.items():
        if dataset == own_dataset:  # the profile's own evaluation; the settings evaluate the model
            training = build(dataset=dataset, data_options=_data_options(split))
        else:
            training = entries[0][1]
        merged: list[tuple[list[str], RunConfig]] = []
        for key, config in entries:
            same = [keys for keys, seen in merged if (seen.data, seen.eval) == (config.data, config.eval)]
            if same:
                same[0].append(key)
            else:
                merged.append(([key], config))
        evaluations = tuple(Evaluation(tuple(keys), config) for keys, config in merged)
        trainings.append(Training(config=training, evaluations=evaluations, split=split))
    return trainings


def _splits(profile: str, setting: Setting, regdb_splits: int) -> tuple[int | None, ...]:
    """The RegDB splits a paper-profile case trains on ``setting`` (the first ``regdb_splits``), else ``(None,)``: the
    smoke profile's RegDB stand-in is the synthetic set, one training."""
    return REGDB_TRIALS[:regdb_splits] if profile == "paper" and setting.train == "regdb" else (None,)


def _data_options(split: int | None) -> Mapping[str, Any] | None:
    """The data set options of a training on RegDB split ``split`` (``None``: the profile's)."""
    return None if split is None else {"trial": split}


def check_reproduce_row(table: GoldenTable, index: int) -> str:
    """Check that row ``index`` of ``table`` can be run: its method is registered and its overrides build a
    config under both profiles, or it names a paper's own method not implemented yet (a paper key: FF-DML's
    rows name ``ffdml`` and run once a method registers under that name).

    Returns:
        ``"registered"``, ``"planned"`` (a paper key not registered yet) or ``"not_reproduce"`` (the row has
        another status).

    Raises:
        GoldenError: an unknown method, or an override the method's config rejects.
    """
    row = table.rows[index]
    if row.status != "reproduce":
        return "not_reproduce"
    if row.method not in list_methods():
        if row.method in PAPERS:
            return "planned"
        raise GoldenError(
            table.path,
            f"a registered method ({list_methods()}) or a paper's own method named by its key ({list(PAPERS)}), "
            f"got {row.method!r}",
            f"rows[{index}].method",
        )
    for profile in PROFILES:
        try:
            build_config(row.method, profile, row.profile_overrides(profile))
        except (ConfigError, ReidError) as err:
            raise GoldenError(
                table.path,
                f"overrides valid for {row.method!r} under profile {profile!r} ({err})",
                f"rows[{index}].overrides",
            ) from None
    return "registered"
