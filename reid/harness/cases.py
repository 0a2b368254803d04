"""Benchmark cases: one per row of a golden table, and the runs each needs under a profile.

A :class:`Case` is a row of a paper table. Its :func:`plan` says which models to train and
which evaluations to make of each:

* ``paper`` profile: the row's method under its paper config and the row's overrides, trained
  on the real data set of each column group's setting (``train``) and evaluated with that
  setting's protocol.
* ``smoke`` profile: the same method and overrides under the smoke profile, on the built-in
  synthetic data (:data:`SMOKE_STAND_IN`): image settings on the SYSU-shaped synthetic set,
  HITSZ-VCM settings on the synthetic tracklets, each with its own protocol and options.

Settings that share a training set share one training run. Its config keeps the profile's own
evaluation when it trains on the profile's own data set (else it takes its first setting's); each
setting whose evaluation equals the run's own reuses it, the others evaluate the selected checkpoint.

A setting's protocol options replace the config's when the setting changes the protocol, and are
added to them when it keeps it (the method's number of trials and gallery sampling stay then).

Runs are named by their config fingerprint, so the same row in two tables trains once.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reid.config import RunConfig, apply_overrides
from reid.errors import ConfigError, GoldenError, ReidError
from reid.golden import PAPERS, Golden, GoldenRow, GoldenTable, Setting
from reid.methods import list_methods, method_class
from reid.profiles import PROFILES, build_config

SMOKE_STAND_IN: Mapping[str, Mapping[str, str]] = {
    "sysu_mm01": {"dataset": "synthetic", "protocol": "sysu_mm01"},
    "regdb": {"dataset": "synthetic", "protocol": "regdb"},
    "llcm": {"dataset": "synthetic", "protocol": "llcm"},
    "hitsz_vcm": {"dataset": "synthetic_video", "protocol": "hitsz_vcm"},
}
"""How each real data set's settings are run under the smoke profile: on which synthetic data set, with the
setting's own protocol and options (RegDB: no removal, plain CMC, its direction; LLCM: its seeded gallery and
direction), so that a protocol bug shows in smoke too."""

REGDB_TRIAL = 1
"""The RegDB split a paper-profile case trains on (the papers average 10 separately trained splits)."""


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
        overrides: ``data.*`` / ``eval.*`` overrides on top of the training config.
    """

    settings: tuple[str, ...]
    overrides: tuple[str, ...]


@dataclass(frozen=True)
class Training:
    """One model to train and the evaluations to make of it.

    Attributes:
        config: the training run's config (its own evaluation is ``evaluations[0]``).
        evaluations: the first is the run's final evaluation; the others evaluate its checkpoint.
    """

    config: RunConfig
    evaluations: tuple[Evaluation, ...]


def _setting_overrides(
    base: RunConfig,
    dataset: str,
    protocol: str,
    options: Mapping[str, Any],
    root: str | None,
    data_options: Mapping[str, Any] | None = None,
) -> tuple[str, ...]:
    """Overrides that evaluate a model of ``base`` under a setting: its data set, protocol and protocol options
    (the base config's options kept only when the protocol is the same, so another protocol never sees them)."""
    kept = dict(base.eval.protocol_options) if protocol == base.eval.protocol else {}
    items = [f"data.dataset={dataset!r}", f"data.root={root!r}", f"eval.protocol={protocol!r}"]
    if data_options is not None:
        items.append(f"data.options={dict(data_options)!r}")
    items.append(f"eval.protocol_options={kept | dict(options)!r}")
    return tuple(items)


def _smoke_evaluation(setting: Setting, base: RunConfig) -> tuple[str, tuple[str, ...]]:
    """(training data set, overrides) of the smoke stand-in of ``setting``."""
    rule = SMOKE_STAND_IN[setting.dataset]
    return rule["dataset"], _setting_overrides(base, rule["dataset"], rule["protocol"], setting.options, None)


def _paper_evaluation(setting: Setting, base: RunConfig, data_root: Path | None) -> tuple[str, tuple[str, ...]]:
    """(training data set, overrides) of ``setting`` on the real data under ``data_root/<dataset>``."""
    root = str(data_root / setting.dataset) if data_root is not None else None
    data_options = {"trial": REGDB_TRIAL} if setting.dataset == "regdb" else None
    return setting.train, _setting_overrides(base, setting.dataset, setting.protocol, setting.options, root,
                                             data_options)


def _training_overrides(base: RunConfig, overrides: tuple[str, ...]) -> tuple[str, ...]:
    """What of a setting's overrides the training config takes: only the data when the data set is the base
    config's own (its protocol applies there, so a model trains once whichever settings a table prints;
    the settings evaluate it), else the setting's protocol too (the base protocol may not apply)."""
    data = tuple(item for item in overrides if item.startswith("data."))
    return data if apply_overrides(base, data).data.dataset == base.data.dataset else overrides


def plan(
    case: Case, golden: Golden, profile: str, *, data_root: Path | None = None, extra_overrides: Sequence[str] = ()
) -> list[Training]:
    """The trainings and evaluations that produce every runnable value of ``case``'s row.

    Args:
        case: a row whose :meth:`Case.skip_reason` is ``None``.
        golden: the golden files (for the settings).
        profile: ``"smoke"`` or ``"paper"``.
        data_root: the folder holding the real data sets as ``<name>/`` (paper profile).
        extra_overrides: the user's overrides, applied last to every training config (``model.pretrained=...``).

    Returns:
        One :class:`Training` per training data set, in the order the settings are printed.
    """
    row = case.row
    base = build_config(row.method, profile, row.profile_overrides(profile))
    groups: dict[str, list[tuple[str, tuple[str, ...]]]] = {}
    for group in case.table.columns:
        setting = golden.settings[group.setting]
        if not setting.runnable or not any((group.setting, m) in row.values for m in group.metrics):
            continue
        if profile == "smoke":
            train, overrides = _smoke_evaluation(setting, base)
        else:
            train, overrides = _paper_evaluation(setting, base, data_root)
        groups.setdefault(train, []).append((group.setting, overrides))

    trainings = []
    for entries in groups.values():
        merged: dict[tuple[str, ...], list[str]] = {}
        for key, overrides in entries:
            merged.setdefault(overrides, []).append(key)
        evaluations = tuple(Evaluation(tuple(keys), overrides) for overrides, keys in merged.items())
        config = apply_overrides(base, (*_training_overrides(base, evaluations[0].overrides), *extra_overrides))
        trainings.append(Training(config=config, evaluations=evaluations))
    return trainings


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
