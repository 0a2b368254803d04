"""Row names: a golden row's label as printed, split into a clean name and its citation by one rule.

The papers print a row's method with its citation glued on in several styles (``HSMEHao et al. (2019)``,
``AGW[23]``, ``AGW [50]``, ``D ² RL (Wang et al. 2019c)``, ``CAJL Ye et al. [2021a]``) and with sub- and
superscripts in several markups (``<sup>2</sup>``, ``²``, ``$L_{CMT}$``, a bare ``L_id``). This module holds the
one rule (docs/decisions.md, "Row names: the label as printed, a clean name and its citation by one rule"):

* :func:`normalize_markup` turns every printed markup into the one canonical markup: ``_{...}`` for a
  subscript, ``^{...}`` for a superscript (no nesting), everything else plain text;
* :func:`segments` splits canonical text into text, subscript and superscript pieces (what a renderer needs);
* :func:`plain` writes canonical text on one ASCII-friendly line without braces (``L_id``, ``D^2RL``): row ids;
* :func:`split_label` splits a label into :class:`LabelName` ``(name, citation)``.

It belongs to the golden layer: nothing here knows about HTML (the report renders :func:`segments`).
"""

from __future__ import annotations

import re
from typing import NamedTuple

SUPERSCRIPT_DIGITS = {"⁰": "0", "¹": "1", "²": "2", "³": "3", "⁴": "4", "⁵": "5", "⁶": "6", "⁷": "7", "⁸": "8",
                      "⁹": "9", "⁺": "+", "⁻": "-"}
"""Unicode superscript characters a PDF extraction leaves in a label, and what they raise."""

_TAG = re.compile(r"\s*<(sub|sup)>\s*(.*?)\s*</\1>(\s*)", re.IGNORECASE | re.DOTALL)
_UNICODE_SUP = re.compile(r"\s*([" + "".join(SUPERSCRIPT_DIGITS) + r"]+)(\s*)")
_MATH = re.compile(r"\$([^$]*)\$")
_TEX_WRAPPER = re.compile(r"\\(?:mathrm|text|textrm|mathit|textit|operatorname)\{([^{}]*)\}")
_TEX_SINGLE = re.compile(r"([_^])([A-Za-z0-9])")
_BARE = re.compile(r"([_^])([A-Za-z0-9]+)")
_SPACE = re.compile(r"\s+")
_PIECE = re.compile(r"([_^])\{([^{}]*)\}")

YEAR = r"\d{4}[a-z]?"
AUTHOR = r"[A-Z][a-z]+(?:-[A-Z][a-z]+)?"
AUTHORS = rf"{AUTHOR}(?: et al\.|(?:, {AUTHOR})*,? and {AUTHOR})"
CITATION_FORMS: dict[str, re.Pattern[str]] = {
    "numbered": re.compile(r"\[\d+\]"),
    "author_year": re.compile(rf"{AUTHORS} (?:\({YEAR}\)|\[{YEAR}\])"),
    "parenthetical": re.compile(rf"\({AUTHORS},? {YEAR}\)"),
}
"""The citations the rule recognises at the end of a label, by form:

* ``numbered``: ``[23]`` (with or without a space before it);
* ``author_year``: ``Hao et al. (2019)``, ``Ye et al. [2021a]``, ``Zhang and Wang [2023]`` (after a space, or
  glued to the name: ``HSMEHao et al. (2019)``, the author being the last capital followed by lower-case letters);
* ``parenthetical``: ``(Wu et al. 2017)``, ``(Feng, Lai, and Xie 2019)``.
"""

_SPLIT = re.compile(
    r"(?P<name>.*?)\s*(?P<citation>"
    + "|".join(f"(?:{p.pattern})" for p in CITATION_FORMS.values())
    + r")\Z",
    re.DOTALL,
)


class LabelName(NamedTuple):
    """A label split by :func:`split_label`: the clean name (canonical markup) and the citation (as printed,
    whitespace collapsed) or ``None``."""

    name: str
    citation: str | None


def _unwrap_math(body: str) -> str:
    previous = None
    while previous != body:  # \mathrm{\text{x}} unwraps from the inside out
        previous, body = body, _TEX_WRAPPER.sub(r"\1", body)
    # TeX: an unbraced sub- or superscript is one character.
    return _TEX_SINGLE.sub(lambda m: f"{m.group(1)}{{{m.group(2)}}}", body)


def normalize_markup(text: str, *, name: bool = False) -> str:
    """``text`` in the canonical markup: ``_{x}`` subscripts, ``^{x}`` superscripts.

    Converted wherever they appear: ``<sub>x</sub>`` and ``<sup>x</sup>`` tags, Unicode superscripts (``²``)
    and ``$...$`` TeX math (its content, ``\\mathrm{x}`` / ``\\text{x}`` unwrapped, an unbraced ``_x`` one
    character as in TeX). The white space a PDF extraction puts around a tag or a Unicode superscript is
    dropped (``D <sup>2</sup> RL`` -> ``D^{2}RL``), except that free text keeps one space after it when a
    space was there.

    With ``name=True`` (a row name) a bare ``_abc`` or ``^2`` (the sign followed by letters and digits) is a
    sub- or superscript too (``L_id+L_KD`` -> ``L_{id}+L_{KD}``), and white space is collapsed to single
    spaces and stripped. Free text (notes, captions) only has its explicit markup converted.
    The result of canonical text is itself (idempotent).
    """

    def tag(m: re.Match[str]) -> str:
        sign = "_" if m.group(1).lower() == "sub" else "^"
        after = "" if name or not m.group(3) else " "
        return f"{sign}{{{m.group(2)}}}{after}"

    def unicode_sup(m: re.Match[str]) -> str:
        after = "" if name or not m.group(2) else " "
        return "^{" + "".join(SUPERSCRIPT_DIGITS[c] for c in m.group(1)) + "}" + after

    text = _MATH.sub(lambda m: _unwrap_math(m.group(1).strip()), text)
    text = _TAG.sub(tag, text)
    text = _UNICODE_SUP.sub(unicode_sup, text)
    if name:
        text = _BARE.sub(lambda m: f"{m.group(1)}{{{m.group(2)}}}", text)
        text = _SPACE.sub(" ", text).strip()
    return text


def segments(text: str) -> tuple[tuple[str, str], ...]:
    """Canonical ``text`` as ``(kind, content)`` pieces in order, ``kind`` one of ``text``, ``sub``, ``sup``;
    adjacent text is one piece, an empty ``_{}`` is dropped.

    Raises:
        ValueError: a brace outside a ``_{...}`` / ``^{...}`` pair (unbalanced or nested braces).
    """
    pieces: list[tuple[str, str]] = []
    position = 0

    def add(kind: str, content: str) -> None:
        if not content:
            return
        if kind == "text" and pieces and pieces[-1][0] == "text":
            pieces[-1] = ("text", pieces[-1][1] + content)
        else:
            pieces.append((kind, content))

    for m in _PIECE.finditer(text):
        add("text", _plain_text(text, position, m.start()))
        add("sub" if m.group(1) == "_" else "sup", m.group(2))
        position = m.end()
    add("text", _plain_text(text, position, len(text)))
    return tuple(pieces)


def _plain_text(text: str, start: int, end: int) -> str:
    part = text[start:end]
    for offset, char in enumerate(part):
        if char in "{}":
            raise ValueError(
                f"unbalanced brace {char!r} at position {start + offset} of {text!r}: sub- and superscripts are "
                "written _{...} and ^{...}, without nesting, and no other brace may appear"
            )
    return part


def plain(text: str) -> str:
    """Canonical ``text`` on one line without braces: ``L_{id}+L_{KD}`` -> ``L_id+L_KD``, ``D^{2}RL`` ->
    ``D^2RL`` (row ids, SVG labels, CSV columns).

    Raises:
        ValueError: unbalanced braces (:func:`segments`).
    """
    out = []
    for kind, content in segments(text):
        out.append(content if kind == "text" else ("_" if kind == "sub" else "^") + content)
    return _SPACE.sub(" ", "".join(out)).strip()


def citation_form(citation: str) -> str | None:
    """The :data:`CITATION_FORMS` key ``citation`` is written in, or ``None`` for none of them."""
    return next((form for form, pattern in CITATION_FORMS.items() if pattern.fullmatch(citation)), None)


def split_label(label: str) -> LabelName:
    """The rule: ``label`` (as printed) -> its clean name and its citation.

    The label is first put in canonical markup as a name (:func:`normalize_markup` with ``name=True``). A
    citation is a trailing ``[23]``, ``Author et al. (2019b)``, ``Author et al. [2021a]``, ``Author and Author
    [2023]``, ``(Author et al. 2019a)`` or ``(Author, Author, and Author 2019)`` (:data:`CITATION_FORMS`),
    with or without a space before it; the name is the rest, stripped. A label that is all citation, or has
    none, is all name (``CMFT (ours)``: ``(ours)`` is not a citation).
    """
    text = normalize_markup(label, name=True)
    m = _SPLIT.fullmatch(text)
    if m is None or not m.group("name").strip():
        return LabelName(text, None)
    return LabelName(m.group("name").strip(), m.group("citation"))


def has_raw_markup(text: str) -> bool:
    """Whether ``text`` still holds printed markup the canonical form does not allow: ``<``, ``>``, ``$``, a
    backslash, a tab, a Unicode superscript, or unbalanced braces."""
    if any(c in text for c in "<>$\\\t") or any(c in SUPERSCRIPT_DIGITS for c in text):
        return True
    try:
        segments(text)
    except ValueError:
        return True
    return False
