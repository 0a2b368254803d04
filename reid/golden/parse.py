"""Read golden YAML files into :mod:`reid.golden.schema` objects, checking every field.

Every error is a :class:`~reid.errors.GoldenError` naming the file, the field (``rows[3].values``)
and what was expected. Cross-file checks (a setting key that ``settings.yaml`` lacks, an alias
``aliases.yaml`` lacks, a claim naming a missing cell) are made here too, given those files'
contents. Whether a ``reproduce`` row's method and overrides build a config is checked by
:func:`reid.harness.cases.check_reproduce_row` (it needs the method registry).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from reid.errors import GoldenError
from reid.golden.names import CITATION_FORMS, citation_form, has_raw_markup, normalize_markup, segments, split_label
from reid.golden.schema import (
    CLAIM_KINDS,
    DEFAULT_CLAIM_TOLERANCE,
    METRIC_UNITS,
    PAPERS,
    STATUSES,
    CellRef,
    Claim,
    ColumnGroup,
    GoldenRow,
    GoldenTable,
    Setting,
)

TABLE_FILE = re.compile(r"table([1-9][0-9]*)\.yaml")
"""Name of a table file: ``table<N>.yaml``."""

_OVERRIDE = re.compile(r"[A-Za-z_][A-Za-z0-9_.]*=.+")
_ALIAS = re.compile(r"[A-Za-z0-9][A-Za-z0-9 ._+\-]*")


def read_yaml(path: Path) -> Any:
    """The YAML document of ``path`` (safe loader: plain data only).

    Raises:
        GoldenError: a missing file or malformed YAML.
    """
    if not path.is_file():
        raise GoldenError(path, "a golden YAML file (golden/README.md)")
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as err:
        raise GoldenError(path, f"valid YAML ({err})") from None


class _Fields:
    """Typed access to the keys of one mapping of one file; errors name the file and field."""

    def __init__(self, path: Path, data: Any, where: str, *, allowed: Sequence[str]) -> None:
        self.path = path
        self.where = where
        if not isinstance(data, Mapping):
            raise GoldenError(path, f"a mapping, got {type(data).__name__}", where or None)
        unknown = sorted(set(map(str, data)) - set(allowed))
        if unknown:
            raise GoldenError(path, f"only the keys {sorted(allowed)}; unknown {unknown}", where or None)
        self.data = data

    def name(self, key: str) -> str:
        return f"{self.where}.{key}" if self.where else key

    def fail(self, key: str, expected: str) -> GoldenError:
        return GoldenError(self.path, expected, self.name(key))

    def get(self, key: str, kind: type | tuple[type, ...], *, required: bool = True, default: Any = None) -> Any:
        if key not in self.data or self.data[key] is None:
            if required:
                raise self.fail(key, f"a value of type {_type_names(kind)}")
            return default
        value = self.data[key]
        if not isinstance(value, kind) or isinstance(value, bool) and bool not in _as_tuple(kind):
            raise self.fail(key, f"a value of type {_type_names(kind)}, got {value!r}")
        return value

    def text(self, key: str, *, required: bool = True) -> str | None:
        value = self.get(key, str, required=required)
        if value is not None and not value.strip():
            raise self.fail(key, "a non-empty string")
        return value

    def number(self, key: str, *, required: bool = True, default: float | None = None) -> float | None:
        value = self.get(key, (int, float), required=required, default=default)
        return None if value is None else _finite(float(value), self, key)

    def items(self, key: str, *, required: bool = True) -> list[Any]:
        return list(self.get(key, list, required=required, default=[]))


def _as_tuple(kind: type | tuple[type, ...]) -> tuple[type, ...]:
    return kind if isinstance(kind, tuple) else (kind,)


def _type_names(kind: type | tuple[type, ...]) -> str:
    return " or ".join(k.__name__ for k in _as_tuple(kind))


def _finite(value: float, fields: _Fields, key: str) -> float:
    if not math.isfinite(value):
        raise fields.fail(key, f"a finite number, got {value!r}")
    return value


def parse_settings(path: Path) -> dict[str, Setting]:
    """``settings.yaml``: key -> :class:`Setting`."""
    data = read_yaml(path)
    if not isinstance(data, Mapping) or not data:
        raise GoldenError(path, "a non-empty mapping of setting keys")
    settings = {}
    for key, body in data.items():
        f = _Fields(path, body, str(key), allowed=("description", "dataset", "train", "protocol", "options"))
        settings[str(key)] = Setting(
            key=str(key),
            description=f.text("description"),
            dataset=f.text("dataset"),
            train=f.text("train"),
            protocol=f.text("protocol"),
            options=dict(f.get("options", dict, required=False, default={})),
        )
    return settings


def parse_aliases(path: Path) -> dict[str, tuple[str, ...]]:
    """``aliases.yaml``: canonical method name -> the spellings the papers print (the name included)."""
    data = read_yaml(path)
    if not isinstance(data, Mapping) or not data:
        raise GoldenError(path, "a non-empty mapping: canonical name -> list of spellings")
    aliases: dict[str, tuple[str, ...]] = {}
    owner: dict[str, str] = {}
    for name, spellings in data.items():
        if not isinstance(name, str) or not _ALIAS.fullmatch(name):
            raise GoldenError(path, f"a method name of letters, digits, ' ._+-', got {name!r}")
        if spellings is None:
            spellings = []
        if not isinstance(spellings, list) or not all(isinstance(s, str) and s.strip() for s in spellings):
            raise GoldenError(path, "a list of non-empty strings", name)
        for spelling in {name, *spellings}:
            if spelling.casefold() in owner and owner[spelling.casefold()] != name:
                raise GoldenError(
                    path,
                    f"each spelling under one name; {spelling!r} is also under {owner[spelling.casefold()]!r}",
                    name,
                )
            owner[spelling.casefold()] = name
        aliases[name] = (name, *sorted(set(spellings) - {name}))
    return aliases


def parse_table(path: Path, settings: Mapping[str, Setting], aliases: Mapping[str, Sequence[str]]) -> GoldenTable:
    """One ``<paper>/table<N>.yaml`` file, checked against its folder and file name."""
    match = TABLE_FILE.fullmatch(path.name)
    if match is None:
        raise GoldenError(path, "a file name table<N>.yaml")
    f = _Fields(
        path, read_yaml(path), "", allowed=("paper", "table", "caption", "source", "columns", "tolerance", "rows")
    )
    paper = f.text("paper")
    if paper not in PAPERS or paper != path.parent.name:
        raise f.fail("paper", f"one of {PAPERS} equal to the folder name {path.parent.name!r}, got {paper!r}")
    table = f.get("table", int)
    if table != int(match.group(1)):
        raise f.fail("table", f"the number in the file name ({match.group(1)}), got {table}")

    columns = []
    for i, body in enumerate(f.items("columns")):
        c = _Fields(path, body, f"columns[{i}]", allowed=("setting", "metrics"))
        setting = c.text("setting")
        if setting not in settings:
            raise c.fail("setting", f"a key of settings.yaml ({sorted(settings)}), got {setting!r}")
        metrics = tuple(c.items("metrics"))
        if not metrics or len(set(metrics)) != len(metrics) or not set(metrics) <= set(METRIC_UNITS):
            raise c.fail("metrics", f"distinct names among {list(METRIC_UNITS)}, got {list(metrics)}")
        columns.append(ColumnGroup(setting=setting, metrics=metrics))
    if not columns:
        raise f.fail("columns", "at least one column group")
    cells = [(g.setting, m) for g in columns for m in g.metrics]
    if len(set(cells)) != len(cells):
        raise f.fail("columns", "each (setting, metric) once")
    printed = {m for _, m in cells}
    defaults = _tolerances(f, "tolerance", printed, required=True)

    rows = tuple(_row(path, body, i, cells, defaults, aliases) for i, body in enumerate(f.items("rows")))
    if not rows:
        raise f.fail("rows", "at least one row")
    seen: set[str] = set()
    for i, row in enumerate(rows):
        if row.row_id in seen:
            raise GoldenError(
                path,
                f"unique row ids (the clean name, or group/name); {row.row_id!r} repeats (label {row.label!r}: "
                "give one of the rows a name: by hand)",
                f"rows[{i}]",
            )
        seen.add(row.row_id)
    missing = printed - {m for row in rows for _, m in row.values}
    if missing:
        raise f.fail("rows", f"a value in some row for every printed metric; none for {sorted(missing)}")
    caption = f.text("caption")
    _check_markup(f, "caption", caption)
    return GoldenTable(
        paper=paper,
        table=table,
        caption=caption,
        source=f.text("source"),
        columns=tuple(columns),
        rows=rows,
        path=path,
    )


def _tolerances(f: _Fields, key: str, metrics: set[str], *, required: bool) -> dict[str, float]:
    body = f.get(key, dict, required=required, default={})
    t = _Fields(f.path, body, f.name(key), allowed=sorted(metrics))
    out = {}
    for metric in body:
        value = t.number(metric)
        if value < 0:
            raise t.fail(metric, f"a tolerance >= 0, got {value}")
        out[metric] = value
    if required and set(out) != metrics:
        raise f.fail(key, f"a tolerance for every printed metric; missing {sorted(metrics - set(out))}")
    return out


def _row(
    path: Path,
    body: Any,
    index: int,
    cells: Sequence[tuple[str, str]],
    defaults: Mapping[str, float],
    aliases: Mapping[str, Sequence[str]],
) -> GoldenRow:
    r = _Fields(
        path,
        body,
        f"rows[{index}]",
        allowed=(
            "label",
            "group",
            "status",
            "method",
            "overrides",
            "paper_overrides",
            "alias",
            "values",
            "tolerance",
            "reason",
            "note",
            "name",
            "citation",
        ),
    )
    status = r.text("status")
    if status not in STATUSES:
        raise r.fail("status", f"one of {STATUSES}, got {status!r}")
    method = r.text("method", required=status == "reproduce")
    if method is not None and status != "reproduce":
        raise r.fail("method", "no method unless status is 'reproduce' (use alias for the name)")
    overrides, paper_overrides = _overrides(r, "overrides", status), _overrides(r, "paper_overrides", status)
    reason = r.text("reason", required=status == "not_applicable")
    alias = r.text("alias", required=False)
    if alias is not None and alias not in aliases:
        raise r.fail("alias", f"a canonical name of aliases.yaml, got {alias!r}")
    if alias is None and status == "reference":
        raise r.fail("alias", "a canonical method name (aliases.yaml) for a reference row")

    raw = r.items("values")
    if len(raw) != len(cells):
        raise r.fail("values", f"{len(cells)} entries, one per column ({len(raw)} given)")
    values = {}
    for cell, value in zip(cells, raw):
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise r.fail("values", f"numbers or null; {cell[0]} {cell[1]} is {value!r}")
        values[cell] = _finite(float(value), r, "values")
    printed = {m for _, m in values}
    tolerance = {m: t for m, t in defaults.items() if m in printed}
    tolerance |= _tolerances(r, "tolerance", set(defaults), required=False)
    label = r.text("label")
    note = r.text("note", required=False)
    if note is not None:
        _check_markup(r, "note", note)
    name, citation, hand = _name(r, label)
    return GoldenRow(
        label=label,
        group=r.text("group", required=False),
        status=status,
        method=method,
        overrides=overrides,
        paper_overrides=paper_overrides,
        alias=alias,
        values=values,
        tolerance=tolerance,
        reason=reason,
        note=note,
        name=name,
        citation=citation,
        hand=hand,
    )


def _check_markup(f: _Fields, key: str, text: str) -> None:
    """Free text (a note, a caption) whose sub- and superscripts the report can render."""
    try:
        segments(normalize_markup(text))
    except ValueError as err:
        raise f.fail(key, f"text whose only braces are _{{...}} and ^{{...}} ({err})") from None


def _name(r: _Fields, label: str) -> tuple[str, str | None, tuple[str, ...]]:
    """A row's clean name and citation: the rule's (:func:`reid.golden.names.split_label`), or the file's
    ``name:`` / ``citation:`` where the rule fails; and which of the two were given by hand."""
    rule = split_label(label)
    name, citation, hand = rule.name, rule.citation, []
    given = r.text("name", required=False)
    if given is not None:
        name = normalize_markup(given, name=True)
        if has_raw_markup(name):
            raise r.fail("name", f"a name in the canonical markup (_{{sub}}, ^{{sup}}; no tags, $ or \\), "
                                 f"got {given!r}")
        if name == rule.name:
            raise r.fail("name", f"a name other than the rule's {rule.name!r} (drop the field: the rule gives it)")
        hand.append("name")
    given = r.text("citation", required=False)
    if given is not None:
        citation = " ".join(given.split())
        if citation_form(citation) is None:
            raise r.fail("citation", f"a citation of one of the forms {list(CITATION_FORMS)} "
                                     f"(reid.golden.names), got {given!r}")
        if citation == rule.citation:
            raise r.fail("citation", f"a citation other than the rule's {rule.citation!r} (drop the field)")
        hand.append("citation")
    try:
        segments(name)
    except ValueError as err:
        expected = f"a label whose name has balanced sub- and superscripts ({err}); give the row a name:"
        raise r.fail("label", expected) from None
    return name, citation, tuple(hand)


def _overrides(r: _Fields, key: str, status: str) -> tuple[str, ...]:
    items = tuple(r.items(key, required=False))
    for k, item in enumerate(items):
        if not isinstance(item, str) or not _OVERRIDE.fullmatch(item):
            raise r.fail(f"{key}[{k}]", f"a 'key=value' string, got {item!r}")
    if items and status != "reproduce":
        raise r.fail(key, f"no {key} unless status is 'reproduce'")
    return items


def parse_claims(path: Path, tables: Mapping[int, GoldenTable]) -> tuple[Claim, ...]:
    """``<paper>/claims.yaml``, every cell checked against the paper's ``tables``."""
    f = _Fields(path, read_yaml(path), "", allowed=("paper", "claims"))
    paper = f.text("paper")
    if paper != path.parent.name:
        raise f.fail("paper", f"the folder name {path.parent.name!r}, got {paper!r}")
    claims = []
    for i, body in enumerate(f.items("claims")):
        c = _Fields(
            path, body, f"claims[{i}]", allowed=("id", "text", "source", "kind", "a", "b", "value", "tolerance")
        )
        kind = c.text("kind")
        if kind not in CLAIM_KINDS:
            raise c.fail("kind", f"one of {CLAIM_KINDS}, got {kind!r}")
        raw_b = c.get("b", (dict, list), required=kind != "value", default=[])
        raw_b = [raw_b] if isinstance(raw_b, Mapping) else raw_b
        if kind == "value" and raw_b:
            raise c.fail("b", "no b for kind 'value'")
        if kind in ("difference", "relative") and len(raw_b) != 1:
            raise c.fail("b", f"exactly one cell for kind {kind!r}")
        claims.append(
            Claim(
                paper=paper,
                id=c.text("id"),
                text=c.text("text"),
                source=c.text("source"),
                kind=kind,
                a=_cell(c, "a", c.get("a", dict), tables),
                b=tuple(_cell(c, f"b[{k}]", cell, tables) for k, cell in enumerate(raw_b)),
                value=c.number("value"),
                tolerance=c.number("tolerance", required=False, default=DEFAULT_CLAIM_TOLERANCE),
            )
        )
    ids = [claim.id for claim in claims]
    if len(set(ids)) != len(ids):
        raise f.fail("claims", f"unique ids; repeated {sorted({i for i in ids if ids.count(i) > 1})}")
    return tuple(claims)


def _cell(c: _Fields, key: str, body: Any, tables: Mapping[int, GoldenTable]) -> CellRef:
    f = _Fields(c.path, body, c.name(key), allowed=("table", "row", "setting", "metric"))
    ref = CellRef(table=f.get("table", int), row=f.text("row"), setting=f.text("setting"), metric=f.text("metric"))
    if ref.table not in tables:
        raise f.fail("table", f"a table of this paper ({sorted(tables)}), got {ref.table}")
    try:
        row = tables[ref.table].row(ref.row)
    except KeyError as err:
        raise f.fail("row", str(err.args[0])) from None
    if (ref.setting, ref.metric) not in row.values:
        raise f.fail("metric", f"a printed cell of row {ref.row!r}; {ref.setting} {ref.metric} has no value")
    return ref
