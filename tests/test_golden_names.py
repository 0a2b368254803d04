"""Row names (reid.golden.names): the canonical markup, the label rule, and every golden label held to the rule."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from reid.golden import load_golden
from reid.golden.names import (
    CITATION_FORMS,
    SUPERSCRIPT_DIGITS,
    LabelName,
    citation_form,
    has_raw_markup,
    normalize_markup,
    plain,
    segments,
    split_label,
)

# --- the printed examples -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("label", "name", "citation"),
    [
        ("HSMEHao et al. (2019)", "HSME", "Hao et al. (2019)"),
        ("MCLNetHao et al. (2021)", "MCLNet", "Hao et al. (2021)"),
        ("X-ModallLi et al. (2020)", "X-Modall", "Li et al. (2020)"),  # the rule's; the golden file fixes it by hand
        ("cm-SSFTLu et al. (2020)", "cm-SSFT", "Lu et al. (2020)"),
        ("D <sup>2</sup> RLWang et al. (2019b)", "D^{2}RL", "Wang et al. (2019b)"),
        ("D ² RL (Wang et al. 2019c)", "D^{2}RL", "(Wang et al. 2019c)"),
        ("MSR (Feng, Lai, and Xie 2019)", "MSR", "(Feng, Lai, and Xie 2019)"),
        ("One-stream (Wu et al. 2017)", "One-stream", "(Wu et al. 2017)"),
        ("DEEN Zhang and Wang [2023]", "DEEN", "Zhang and Wang [2023]"),
        ("CAJL Ye et al. [2021a]", "CAJL", "Ye et al. [2021a]"),
        ("AGW[23]", "AGW", "[23]"),
        ("AGW [50]", "AGW", "[50]"),
        ("L_CMT Jiang et al. [2022]", "L_{CMT}", "Jiang et al. [2022]"),
        ("$L_{CMT}$ Jiang et al. [2022]", "L_{CMT}", "Jiang et al. [2022]"),
        ("CMFT_S6F", "CMFT_{S6F}", None),
        ("CMFT <sub>S6F</sub>", "CMFT_{S6F}", None),
        ("L_id+L_KD+LSR", "L_{id}+L_{KD}+LSR", None),
        ("BASE + L_tri", "BASE + L_{tri}", None),
        ("MSFL_euclidean + DCL_dyn", "MSFL_{euclidean} + DCL_{dyn}", None),
        ("Our (L_Cross)", "Our (L_{Cross})", None),
        ("CMFT (ours)", "CMFT (ours)", None),  # "(ours)" is not a citation
        ("Baseline+RCC+CRE", "Baseline+RCC+CRE", None),
        ("[12]", "[12]", None),  # all citation: all name
    ],
)
def test_the_rule_splits_the_printed_labels(label, name, citation):
    assert split_label(label) == LabelName(name, citation)


def test_the_rule_reads_a_bare_caret_as_raising_the_whole_run():
    # why xiv Table 2's "D^2RL" is named by hand
    assert split_label("D^2RL").name == "D^{2RL}"


@pytest.mark.parametrize(
    ("text", "name", "free"),
    [
        ("D <sup>2</sup> RL", "D^{2}RL", "D^{2} RL"),
        ("CMFT <sub>S6F</sub>", "CMFT_{S6F}", "CMFT_{S6F}"),
        ("Printed 'CMFT <sub>S6F</sub>': x", "Printed 'CMFT_{S6F}': x", "Printed 'CMFT_{S6F}': x"),
        ("D²RL", "D^{2}RL", "D^{2}RL"),
        ("$L_{id}^{global}$", "L_{id}^{global}", "L_{id}^{global}"),
        ("$\\mathrm{cm}\\text{-}\\mathrm{SSFT}$", "cm-SSFT", "cm-SSFT"),
        ("$x_i$", "x_{i}", "x_{i}"),  # TeX: an unbraced subscript is one character
        ("L_id and  L_KD", "L_{id} and L_{KD}", "L_id and  L_KD"),  # free text: only explicit markup
    ],
)
def test_markup_is_normalized_to_one_form(text, name, free):
    assert normalize_markup(text, name=True) == name
    assert normalize_markup(text) == free


def test_segments_and_plain():
    assert segments("L_{id}^{global} and x") == (("text", "L"), ("sub", "id"), ("sup", "global"), ("text", " and x"))
    assert segments("D^{2}RL") == (("text", "D"), ("sup", "2"), ("text", "RL"))
    assert segments("") == () and segments("a_{}b") == (("text", "ab"),)
    assert plain("L_{id}+L_{KD}+LSR") == "L_id+L_KD+LSR"
    assert plain("CMFT_{S6F}") == "CMFT_S6F" and plain("D^{2}RL") == "D^2RL"


@pytest.mark.parametrize("text", ["a_{b", "a}b", "_{a{b}}", "x^{1}}", "{", "L_{KD_{1}}"])
def test_unbalanced_or_nested_braces_are_refused(text):
    with pytest.raises(ValueError, match="unbalanced brace"):
        segments(text)
    with pytest.raises(ValueError):
        plain(text)
    assert has_raw_markup(text)


@pytest.mark.parametrize(
    ("citation", "form"),
    [("[23]", "numbered"), ("Hao et al. (2019)", "author_year"), ("Ye et al. [2021a]", "author_year"),
     ("Zhang and Wang [2023]", "author_year"), ("(Wu et al. 2017)", "parenthetical"),
     ("(Feng, Lai, and Xie 2019)", "parenthetical"), ("(ours)", None), ("Hao 2019", None), ("[a]", None)],
)
def test_citation_forms(citation, form):
    assert citation_form(citation) == form


# --- properties -----------------------------------------------------------------------------------------------

_TEXT = st.text(alphabet="ABCxyz019 +-&()", min_size=1, max_size=8)
_RUN = st.text(alphabet="ABCabc0129", min_size=1, max_size=5)


@st.composite
def canonical(draw, *, for_plain: bool = False) -> str:
    """Canonical text: text pieces and sub/superscripts of letters and digits. ``for_plain``: each script is
    followed by a piece that does not start with a letter or digit, so its plain form reads back unchanged."""
    parts = []
    for _ in range(draw(st.integers(1, 4))):
        parts.append(draw(_TEXT))
        if draw(st.booleans()):
            parts.append(("_" if draw(st.booleans()) else "^") + "{" + draw(_RUN) + "}")
            if for_plain:
                parts.append(draw(st.sampled_from(["+", " ", "-", "+x", " y"])))
    text = "".join(parts)
    return " ".join(text.split()) if for_plain else text


@given(canonical())
def test_canonical_text_is_a_fixed_point_and_its_segments_rebuild_it(text):
    assert normalize_markup(text) == text
    rebuilt = "".join(c if k == "text" else ("_" if k == "sub" else "^") + "{" + c + "}" for k, c in segments(text))
    assert rebuilt == text
    assert not has_raw_markup(text)


@given(canonical(for_plain=True))
def test_plain_reads_back_as_the_same_name(text):
    assert normalize_markup(text, name=True) == text
    assert normalize_markup(plain(text), name=True) == text
    assert "{" not in plain(text) and "}" not in plain(text)


@given(st.text(alphabet="ab<>/$^_{}² \t\\", max_size=12))
def test_normalizing_is_idempotent(text):
    for name in (True, False):
        once = normalize_markup(text, name=name)
        assert normalize_markup(once, name=name) == once


_NAME = st.lists(st.text(alphabet="ABCDEFGHMNRSTX0123456789", min_size=1, max_size=5), min_size=1, max_size=3).map(
    "+".join
)
_AUTHOR = st.sampled_from(["Ye", "Hao", "Wang", "Zhang", "Feng", "Li"])
_YEAR = st.tuples(st.integers(1990, 2030), st.sampled_from(["", "a", "b"])).map(lambda y: f"{y[0]}{y[1]}")


@st.composite
def citation(draw) -> tuple[str, bool]:
    """A citation of a recognised form, and whether it may be glued to the name (no space)."""
    form = draw(st.sampled_from(["numbered", "et_al_paren", "et_al_bracket", "and", "paren", "paren_list"]))
    author, year = draw(_AUTHOR), draw(_YEAR)
    if form == "numbered":
        return f"[{draw(st.integers(1, 99))}]", True
    if form == "et_al_paren":
        return f"{author} et al. ({year})", True
    if form == "et_al_bracket":
        return f"{author} et al. [{year}]", False
    if form == "and":
        return f"{author} and {draw(_AUTHOR)} [{year}]", False
    if form == "paren":
        return f"({author} et al. {year})", False
    return f"({author}, {draw(_AUTHOR)}, and {draw(_AUTHOR)} {year})", False


@given(_NAME, citation(), st.booleans())
def test_a_name_and_a_citation_split_back_apart(name, cited, glued):
    text, may_glue = cited
    label = f"{name}{'' if glued and may_glue else ' '}{text}"
    assert split_label(label) == LabelName(name, text)
    assert citation_form(text) is not None
    assert split_label(name) == LabelName(name, None)


# --- every golden label held to the rule ------------------------------------------------------------------------

GOLDEN = load_golden()
ROWS = [(table, row) for table in GOLDEN.tables.values() for row in table.rows]


def _compact(text: str) -> str:
    return re.sub(r"\s+", "", text)


@pytest.mark.parametrize(("table", "row"), ROWS, ids=[f"{t.key}:{r.row_id}" for t, r in ROWS])
def test_every_golden_label_follows_the_rule(table, row):
    rule = split_label(row.label)
    # a hand-given field replaces what the rule gets wrong, so it must differ from the rule's
    assert (row.name != rule.name) == ("name" in row.hand), (row.name, rule)
    assert (row.citation != rule.citation) == ("citation" in row.hand), (row.citation, rule)
    assert not has_raw_markup(row.name), row.name
    assert row.citation is None or citation_form(row.citation) in CITATION_FORMS, row.citation
    assert row.row_id == (plain(row.name) if row.group is None else f"{row.group}/{plain(row.name)}")
    assert row.row_id.isascii() and "{" not in row.row_id
    if not row.hand:  # the label is the name and its citation, markup normalized
        rebuilt = row.name + (row.citation or "")
        assert _compact(normalize_markup(row.label, name=True)) == _compact(rebuilt)


def test_the_hand_given_names_are_the_rule_s_known_failures():
    hand = {(t.key, r.label): (r.name, r.hand) for t, r in ROWS if r.hand}
    assert hand == {
        ("cmmp_table6", "X-ModallLi et al. (2020)"): ("X-Modal", ("name",)),
        ("cmmp_table7", "X-ModallLi et al. (2020)"): ("X-Modal", ("name",)),
        ("xiv_table2", "D^2RL"): ("D^{2}RL", ("name",)),
    }


@pytest.mark.parametrize("table", list(GOLDEN.tables.values()), ids=[t.key for t in GOLDEN.tables.values()])
def test_captions_and_notes_hold_only_markup_the_report_renders(table):
    for text in [table.caption] + [row.note for row in table.rows if row.note]:
        normal = normalize_markup(text)
        segments(normal)
        assert not any(mark in normal for mark in ("<sub", "<sup", "</", "$", "\t", *SUPERSCRIPT_DIGITS)), normal
