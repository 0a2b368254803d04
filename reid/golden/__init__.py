"""The papers' numbers: golden tables, claims, settings and method aliases (format: golden/README.md).

``load_golden()`` reads and checks every file of the golden folder; ``load_all()`` gives every
printed value as one long pandas DataFrame (one row per cell). The folder is the repository's
``golden/`` unless ``root`` or the environment variable :data:`GOLDEN_DIR_ENV` names another.
"""

from reid.golden.claims import claim_agrees, claim_quantity
from reid.golden.load import GOLDEN_DIR_ENV, Golden, default_root, load_all, load_golden, select_papers
from reid.golden.schema import (
    METRIC_UNITS,
    PAPERS,
    RETRIEVAL_METRICS,
    STATUSES,
    CellRef,
    Claim,
    ColumnGroup,
    FigurePanel,
    GoldenFigure,
    GoldenRow,
    GoldenTable,
    Setting,
)

__all__ = [
    "GOLDEN_DIR_ENV",
    "METRIC_UNITS",
    "PAPERS",
    "RETRIEVAL_METRICS",
    "STATUSES",
    "CellRef",
    "Claim",
    "ColumnGroup",
    "FigurePanel",
    "Golden",
    "GoldenFigure",
    "GoldenRow",
    "GoldenTable",
    "Setting",
    "claim_agrees",
    "claim_quantity",
    "default_root",
    "load_all",
    "load_golden",
    "select_papers",
]
