"""Golden text with sub- and superscripts as HTML: the one way the report renders a row name, a caption or a note.

The golden layer puts every printed markup into one canonical form (:mod:`reid.golden.names`: ``_{...}``,
``^{...}``); :func:`to_html` turns its :func:`~reid.golden.names.segments` into ``<sub>`` / ``<sup>`` elements,
every piece of text escaped, so autoescaping stays on for everything else. :func:`printed` is the form a
printed label takes where only plain text may go (a tooltip): its markup written ``D^2RL``, never as tags.
"""

from __future__ import annotations

from markupsafe import Markup, escape

from reid.golden.names import normalize_markup, plain, segments

TAGS = {"sub": "sub", "sup": "sup"}


def to_html(text: str | None) -> Markup:
    """``text`` (canonical markup, or printed markup that :func:`~reid.golden.names.normalize_markup` converts)
    as escaped HTML with its sub- and superscripts as ``<sub>`` / ``<sup>``; empty for ``None``.

    Raises:
        ValueError: unbalanced braces (the golden parser rejects such text first).
    """
    if text is None:
        return Markup("")
    out = []
    for kind, content in segments(normalize_markup(text)):
        piece = escape(content)
        out.append(piece if kind == "text" else Markup(f"<{TAGS[kind]}>{piece}</{TAGS[kind]}>"))
    return Markup("").join(out)


def printed(label: str) -> str:
    """A printed label as plain text: its markup in the one-line form of row ids (``D <sup>2</sup> RLWang et al.
    (2019b)`` -> ``D^2RLWang et al. (2019b)``), so that a tooltip shows what the paper prints, not tags."""
    return plain(normalize_markup(label, name=True))
