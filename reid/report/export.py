"""Every verdict of a report as data: ``verdicts.csv`` and ``verdicts.json`` beside the HTML pages.

One row per printed cell of every golden table, with the pages' own values and verdicts (the
:class:`~reid.report.model.Report` built from the golden tables and the case results, so the export and
the pages cannot disagree): a runnable row with no result yet is ``not_run`` with ``ours`` empty, so the
export lists every runnable cell whatever has run. ``expected`` is the value ``ours`` was compared with:
the paper's in the paper profile, the smoke recording's band centre in the smoke profile (then
``tolerance`` is the band's half-width); ``row_outcome`` is the case's outcome (passed, failed, skipped,
error), empty for a row without a result. ``row_label`` is the row as printed, ``row_name`` its clean name in
plain text (``L_id+L_KD``, ``D^2RL``: the row id without its group) and ``citation`` the citation printed with it.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from reid.io import atomic_write_text
from reid.report.model import Report

FIELDS = ("paper", "table", "row_id", "row_label", "row_name", "citation", "profile", "setting", "metric",
          "paper_value", "ours", "expected", "tolerance", "verdict", "row_outcome")
"""The columns of ``verdicts.csv`` and the keys of every object in ``verdicts.json``, in this order."""

CSV_NAME = "verdicts.csv"
JSON_NAME = "verdicts.json"


def verdict_rows(report: Report) -> list[dict[str, Any]]:
    """One object per cell of ``report`` (keys :data:`FIELDS`), in the pages' order: papers, tables, rows, cells."""
    return [
        {
            "paper": paper.paper, "table": table.table.table, "row_id": row.row.row_id, "row_label": row.row.label,
            "row_name": row.row.plain_name, "citation": row.row.citation, "profile": report.profile,
            "setting": cell.setting, "metric": cell.metric, "paper_value": cell.paper,
            "ours": cell.ours, "expected": cell.expected, "tolerance": cell.tolerance, "verdict": cell.verdict,
            "row_outcome": row.outcome,
        }
        for paper in report.papers for table in paper.tables for row in table.rows for cell in row.cells
    ]


def csv_text(rows: Sequence[Mapping[str, Any]]) -> str:
    """``rows`` as CSV with a header row of :data:`FIELDS`; ``None`` is an empty field."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=FIELDS, lineterminator="\n")
    writer.writeheader()
    writer.writerows({key: "" if row[key] is None else row[key] for key in FIELDS} for row in rows)
    return buffer.getvalue()


def write_verdicts(report: Report, out_dir: str | Path) -> list[Path]:
    """Write ``verdicts.csv`` and ``verdicts.json`` of ``report`` (each atomically) into ``out_dir``.

    Returns:
        The two files written.
    """
    rows = verdict_rows(report)
    out = Path(out_dir)
    atomic_write_text(out / CSV_NAME, csv_text(rows))
    atomic_write_text(out / JSON_NAME, json.dumps(rows, indent=1, allow_nan=False) + "\n")
    return [out / CSV_NAME, out / JSON_NAME]
