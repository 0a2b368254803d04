"""Check rendered report pages as a reader would see them.

A page can pass every assertion on its source and still read badly: a golden label whose LaTeX or HTML
markup is escaped and shown as text, a table with a header and no cells, a link to a page that was never
written, a stylesheet fetched from the network. :func:`page_problems` parses one page with the standard
library's :class:`html.parser.HTMLParser` (no new dependency) and lists, each naming the page, what was
found and what was expected:

* raw markup in visible text: a tag shown as text (``<sup>``, ``</``), template syntax (``{{``, ``{%``),
  LaTeX (``$\\``, ``^{``, ``_{``) or a literal ``\\n``;
* an empty table: a ``<table>`` without ``<td>`` cells, or a ``<tbody>`` without rows;
* a broken internal link: an ``<a href>`` to a relative file that is not one of the report's files, or to a
  ``#fragment`` with no element of that id on the target page;
* an external asset: a ``<script>``, ``<link>``, ``<img>``, ``<iframe>`` (and the other embedding tags) or a
  CSS ``url(`` that points at ``http(s)://`` or ``//``; and any ``<script>`` at all, since the report
  promises no JavaScript.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

# Markup a reader should never see as text. With character references converted, ``&lt;sup&gt;`` in the
# source arrives here as ``<sup>``, which is exactly what a browser shows.
RAW_MARKUP = re.compile(r"<\s*/?\s*[A-Za-z][A-Za-z0-9]*[^<>]*>|</|\{\{|\{%|\$\\|\^\{|_\{|\\n")
EXTERNAL = re.compile(r"^\s*(?:https?:)?//", re.IGNORECASE)
CSS_URL = re.compile(r"""url\(\s*['"]?([^'")]*)|@import\s+['"]([^'"]*)""", re.IGNORECASE)

# Tags whose named attributes fetch something when the page is shown.
ASSET_ATTRIBUTES = {
    "script": ("src",), "link": ("href",), "img": ("src", "srcset"), "iframe": ("src",),
    "source": ("src", "srcset"), "embed": ("src",), "object": ("data",), "video": ("src", "poster"),
    "audio": ("src",), "image": ("href", "xlink:href"), "use": ("href", "xlink:href"),
}
# Attributes a reader sees (as a tooltip or in place of an image) even though they are not text nodes.
VISIBLE_ATTRIBUTES = ("title", "alt")
# Elements whose text is not shown as text.
HIDDEN_TEXT = {"style", "script", "template"}
HEADINGS = {"h1", "h2", "h3", "h4", "h5", "h6", "caption"}


def _shorten(text: str, width: int = 60) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 3] + "..."


class _PageReader(HTMLParser):
    """One pass over a page: visible text, tables, links, assets and element ids, each with its line."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.ids: set[str] = set()
        self.markup: list[tuple[int, str, str]] = []
        self.empty_tables: list[tuple[int, str, str]] = []
        self.links: list[tuple[int, str]] = []
        self.assets: list[tuple[int, str]] = []
        self._hidden: list[str] = []
        self._heading: list[str] | None = None
        self.last_heading = ""
        # open tables and tbodies: [tag, line, cell or row count, heading above it]
        self._groups: list[list] = []

    def _where(self) -> str:
        return f'under "{_shorten(self.last_heading)}"' if self.last_heading else "before any heading"

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        line = self.getpos()[0]
        values = {name: value or "" for name, value in attrs}
        if "id" in values:
            self.ids.add(values["id"])
        for name in VISIBLE_ATTRIBUTES:
            if name in values:
                self._check_text(values[name], f"{name} attribute of <{tag}>")
        if "style" in values:
            self._check_css(values["style"], f"style attribute of <{tag}>")
        if tag == "script":
            self.assets.append((line, "a <script> element; expected no JavaScript at all"))
        for name in ASSET_ATTRIBUTES.get(tag, ()):
            if EXTERNAL.match(values.get(name, "")):
                self.assets.append((line, f'<{tag} {name}="{values[name]}">; expected an inline or local asset'))
        if tag == "a" and values.get("href"):
            self.links.append((line, values["href"]))
        if tag in HIDDEN_TEXT:
            self._hidden.append(tag)
        if tag in HEADINGS:
            self._heading = []
        if tag in ("table", "tbody"):
            self._groups.append([tag, line, 0, self._where()])
        elif tag in ("td", "tr"):
            self._count(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        if tag in HIDDEN_TEXT or tag in HEADINGS or tag in ("table", "tbody"):
            self.handle_endtag(tag)

    def _count(self, tag: str) -> None:
        # a cell counts for its innermost table, a row for its innermost tbody (when inside one)
        wanted = "table" if tag == "td" else "tbody"
        for group in reversed(self._groups):
            if group[0] == wanted:
                group[2] += 1
                return
            if group[0] == "table":
                return

    def handle_endtag(self, tag: str) -> None:
        if tag in HIDDEN_TEXT and tag in self._hidden:
            del self._hidden[len(self._hidden) - 1 - self._hidden[::-1].index(tag):]
        if tag in HEADINGS and self._heading is not None:
            self.last_heading = "".join(self._heading)
            self._heading = None
        if tag in ("table", "tbody") and any(group[0] == tag for group in self._groups):
            # close up to the matching open element; an unclosed tbody ends with its table
            while self._groups:
                kind, line, count, where = self._groups.pop()
                if count == 0:
                    what = "<table> with no <td> cells" if kind == "table" else "<tbody> with no <tr> rows"
                    expected = "at least one data cell" if kind == "table" else "at least one row"
                    self.empty_tables.append((line, what, f"{where}; expected {expected}"))
                if kind == tag:
                    break

    def handle_data(self, data: str) -> None:
        if self._hidden:
            if self._hidden[-1] == "style":
                self._check_css(data, "<style>")
            return
        if self._heading is not None:
            self._heading.append(data)
        self._check_text(data, "text")

    def _check_text(self, text: str, where: str) -> None:
        # one problem per text node, naming every distinct piece of markup in it
        found = list(dict.fromkeys(match.group(0) for match in RAW_MARKUP.finditer(text)))
        if found:
            first = RAW_MARKUP.search(text)
            start = max(0, first.start() - 30)
            self.markup.append((self.getpos()[0], ", ".join(repr(f) for f in found),
                                f'{where} "{_shorten(text[start:first.end() + 50], 90)}" {self._where()}'))

    def _check_css(self, css: str, where: str) -> None:
        for match in CSS_URL.finditer(css):
            target = match.group(1) or match.group(2) or ""
            if EXTERNAL.match(target):
                what = f'CSS url "{target}" in {where}; expected an inline or local asset'
                self.assets.append((self.getpos()[0], what))


def _read(text: str) -> _PageReader:
    reader = _PageReader()
    reader.feed(text)
    reader.close()
    return reader


def page_problems(path: str | Path, pages: Iterable[str], text: str | None = None) -> list[str]:
    """What a reader of the report page ``path`` would trip over, one sentence a problem.

    Args:
        path: the page; its folder holds the report's other files.
        pages: the file names of the report (``index.html``, the paper pages, ``verdicts.csv``, ...): the only
            targets a relative link may have.
        text: the page's HTML when it is not the file's content (a browser's dumped DOM of ``path``).

    Returns:
        Each problem names the page and its line, what was found and what was expected; empty for a clean page.
    """
    path = Path(path)
    names = set(pages)
    reader = _read(path.read_text(encoding="utf-8") if text is None else text)
    name = path.name
    problems = [f"{name}:{line}: raw markup {found} in {context}; expected plain text"
                for line, found, context in reader.markup]
    problems += [f"{name}:{line}: empty table: {what} {context}" for line, what, context in reader.empty_tables]
    targets: dict[str, set[str] | None] = {name: reader.ids}
    for line, href in reader.links:
        problem = _link_problem(path, href, names, targets)
        if problem:
            problems.append(f"{name}:{line}: broken link href=\"{href}\": {problem}")
    problems += [f"{name}:{line}: external asset: {what}" for line, what in reader.assets]
    return problems


def _link_problem(path: Path, href: str, names: set[str], targets: dict[str, set[str] | None]) -> str | None:
    parts = urlsplit(href)
    if parts.scheme or parts.netloc:
        return None  # a link out of the report is the reader's choice to follow, not a missing page
    target = unquote(parts.path) or path.name
    if target not in names:
        return f"no file {target!r} in the report; expected one of {sorted(names)}"
    if not parts.fragment or not target.endswith(".html"):
        return None
    if target not in targets:
        file = path.parent / target
        targets[target] = _read(file.read_text(encoding="utf-8")).ids if file.is_file() else None
    ids = targets[target]
    if ids is None:
        return f"{target!r} is one of the report's files but is not in {path.parent}; expected it written there"
    fragment = unquote(parts.fragment)
    if fragment not in ids:
        return f"no element with id {fragment!r} on {target!r}; expected the anchor it points at"
    return None


def report_problems(folder: str | Path) -> list[str]:
    """:func:`page_problems` of every ``*.html`` page in ``folder``, with every file there as a link target."""
    folder = Path(folder)
    names = {p.name for p in folder.iterdir() if p.is_file()}
    return [problem for page in sorted(folder.glob("*.html")) for problem in page_problems(page, names)]
