"""Read a whole golden folder: :class:`Golden`, :func:`load_golden`, :func:`load_all`."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from reid.errors import ConfigError, GoldenError
from reid.golden.figures import FIGURE_FILE, parse_figure
from reid.golden.parse import TABLE_FILE, parse_aliases, parse_claims, parse_settings, parse_table
from reid.golden.schema import METRIC_UNITS, PAPERS, CellRef, Claim, GoldenFigure, GoldenTable, Setting

GOLDEN_DIR_ENV = "REID_GOLDEN_DIR"
"""Environment variable naming another golden folder (e.g. a user's own tables)."""

FRAME_COLUMNS = (
    "paper",
    "table",
    "row",
    "label",
    "name",
    "citation",
    "group",
    "status",
    "method",
    "alias",
    "setting",
    "dataset",
    "metric",
    "value",
    "unit",
    "tolerance",
)
"""Columns of :func:`load_all`'s DataFrame."""


@dataclass(frozen=True)
class Golden:
    """Everything in a golden folder, checked.

    Attributes:
        root: the folder.
        settings: key -> setting.
        aliases: canonical method name -> its spellings.
        tables: ``(paper, table number)`` -> table, in paper order then number.
        claims: paper -> its claims.
        figures: ``(paper, figure number)`` -> figure sweep, in paper order then number.
    """

    root: Path
    settings: Mapping[str, Setting]
    aliases: Mapping[str, tuple[str, ...]]
    tables: Mapping[tuple[str, int], GoldenTable]
    claims: Mapping[str, tuple[Claim, ...]]
    figures: Mapping[tuple[str, int], GoldenFigure] = field(default_factory=dict)

    def paper_tables(self, paper: str) -> list[GoldenTable]:
        """The tables of ``paper`` in number order."""
        return [t for (p, _), t in self.tables.items() if p == paper]

    def paper_figures(self, paper: str) -> list[GoldenFigure]:
        """The figure sweeps of ``paper`` in number order."""
        return [f for (p, _), f in self.figures.items() if p == paper]

    def cell(self, paper: str, ref: CellRef) -> float:
        """The printed value of a claim's cell."""
        return self.tables[(paper, ref.table)].row(ref.row).values[(ref.setting, ref.metric)]


def default_root() -> Path:
    """``$REID_GOLDEN_DIR`` if set, else the repository's ``golden/`` beside the package."""
    env = os.environ.get(GOLDEN_DIR_ENV)
    return Path(env) if env else Path(__file__).resolve().parents[2] / "golden"


def load_golden(root: str | Path | None = None) -> Golden:
    """Read and check every golden file under ``root`` (default :func:`default_root`).

    Raises:
        GoldenError: a missing folder or file, or any field outside the documented format.
    """
    root = Path(root) if root is not None else default_root()
    if not root.is_dir():
        raise GoldenError(root, f"the golden folder (golden/README.md); set {GOLDEN_DIR_ENV} to point at it")
    settings = parse_settings(root / "settings.yaml")
    aliases = parse_aliases(root / "aliases.yaml")
    tables: dict[tuple[str, int], GoldenTable] = {}
    claims: dict[str, tuple[Claim, ...]] = {}
    figures: dict[tuple[str, int], GoldenFigure] = {}
    for paper in PAPERS:
        folder = root / paper
        if not folder.is_dir():
            continue
        files = sorted(
            (p for p in folder.iterdir() if TABLE_FILE.fullmatch(p.name)),
            key=lambda p: int(TABLE_FILE.fullmatch(p.name).group(1)),
        )
        for path in files:
            table = parse_table(path, settings, aliases)
            tables[(paper, table.table)] = table
        for path in sorted(
            (p for p in folder.iterdir() if FIGURE_FILE.fullmatch(p.name)),
            key=lambda p: int(FIGURE_FILE.fullmatch(p.name).group(1)),
        ):
            figure = parse_figure(path, settings)
            figures[(paper, figure.figure)] = figure
        strays = sorted(
            p.name for p in folder.iterdir()
            if not TABLE_FILE.fullmatch(p.name) and not FIGURE_FILE.fullmatch(p.name) and p.name != "claims.yaml"
        )
        if strays:
            raise GoldenError(folder, f"only table<N>.yaml files, figure<N>.yaml files and claims.yaml; found {strays}")
        if (folder / "claims.yaml").exists():
            own = {n: t for (p, n), t in tables.items() if p == paper}
            claims[paper] = parse_claims(folder / "claims.yaml", own)
    return Golden(root=root, settings=settings, aliases=aliases, tables=tables, claims=claims,
                  figures=figures)


def load_all(root: str | Path | None = None) -> pd.DataFrame:
    """Every printed value of every golden table: one row per cell, columns :data:`FRAME_COLUMNS`.

    ``row`` is the row id (``group/name`` or ``name``, the clean name), ``label`` the row as printed, ``name`` its
    clean name (canonical markup) and ``citation`` the citation printed with it (or ``None``), ``value`` the
    number as printed (percent for the retrieval metrics), ``tolerance`` the absolute tolerance of that cell.
    """
    golden = load_golden(root)
    records = []
    for table in golden.tables.values():
        for row in table.rows:
            for (setting, metric), value in row.values.items():
                records.append(
                    {
                        "paper": table.paper,
                        "table": table.table,
                        "row": row.row_id,
                        "label": row.label,
                        "name": row.name,
                        "citation": row.citation,
                        "group": row.group,
                        "status": row.status,
                        "method": row.method,
                        "alias": row.alias,
                        "setting": setting,
                        "dataset": golden.settings[setting].dataset,
                        "metric": metric,
                        "value": value,
                        "unit": METRIC_UNITS[metric],
                        "tolerance": row.tolerance[metric],
                    }
                )
    return pd.DataFrame.from_records(records, columns=list(FRAME_COLUMNS))


def select_papers(choice: str) -> list[str]:
    """``"all"`` -> every paper key; a paper key -> itself.

    Raises:
        ConfigError: an unknown paper (the valid ones listed).
    """
    if choice == "all":
        return list(PAPERS)
    if choice not in PAPERS:
        raise ConfigError(f"paper {choice!r} is not known; expected all or one of {', '.join(PAPERS)}")
    return [choice]
