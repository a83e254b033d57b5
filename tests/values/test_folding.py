"""Keyword folding: every evasion form folds away, offsets point at the original text."""

from __future__ import annotations

import string

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from blocklist.values.folding import fold, fold_with_offsets, original_span

SEPARATORS = [
    " ",
    "\u3000",
    "\u00a0",
    "\t",
    "\n",
    "\r\n",
    "\u2028",
    "\u200b",
    "\u200c",
    "\u200d",
    "\u2060",
    "\ufeff",
    "\u202e",
    "-",
    ".",
    "*",
    "、",
    "，",
    "。",
    "·",
    "/",
    "_",
    "~",
    "|",
    "★",
    "【",
    "】",
    "$",
    "+",
    "=",
    "^",
    "`",
]


@pytest.mark.parametrize(
    "text, folded",
    [
        ("安全账户", "安全账户"),
        ("安 全 账 户", "安全账户"),
        ("安\u3000全\u3000账\u3000户", "安全账户"),  # ideographic space
        ("安\u00a0全账户", "安全账户"),  # no-break space
        ("安\u200b全\u200c账\u200d户\ufeff", "安全账户"),  # zero-width characters, BOM
        ("安\u2060全\u202e账\u202c户", "安全账户"),  # word joiner, bidi controls
        ("安\n全\r\n账\t户", "安全账户"),  # line breaks and tabs
        ("安-全.账*户", "安全账户"),
        ("【安全】账户！", "安全账户"),
        ("ＡＢＣ１２３", "abc123"),  # full-width letters and digits
        ("AbC", "abc"),
        ("Straße", "strasse"),  # case-folding expands
        ("安全賬戶", "安全账户"),  # traditional -> simplified
        ("銀行帳號", "银行帐号"),
        ("½㎏", "12kg"),  # compatibility forms
        ("café", "café"),  # precomposed letters survive
        ("cafe\u0301", "cafe\u0301"),  # combining marks survive
        ("$100 ★ 免费!!", "100免费"),  # symbols go, digits stay
        ("", ""),
        (" \u3000\u200b-.", ""),
    ],
)
def test_fold(text, folded):
    assert fold(text) == folded


def test_traditional_equals_simplified():
    assert fold("安全賬戶") == fold("安全账户") == fold("安 全 賬 戶")


def test_fold_with_offsets_maps_each_folded_char_to_its_original():
    text = "安 全\u200b賬-户"
    folded, offsets = fold_with_offsets(text)
    assert folded == "安全账户"
    assert offsets == [0, 2, 4, 6]
    for ch, i in zip(folded, offsets, strict=False):
        assert fold(text[i]) == ch


def test_expanding_characters_share_their_original_index():
    folded, offsets = fold_with_offsets("aß ㎏!")
    assert folded == "asskg"
    assert offsets == [0, 1, 1, 3, 3]


@pytest.mark.parametrize(
    "text, keyword, span",
    [
        ("您的安 全 账 户有风险", "安全账户", (2, 9)),
        ("请转入安\u3000全賬戶。", "安全账户", (3, 8)),
        ("点击\u200bＡＢＣ１２３领取", "abc123", (3, 9)),
        ("ok Straße!", "strasse", (3, 9)),
        ("xß", "s", (1, 2)),  # a match inside an expansion covers the whole original char
    ],
)
def test_original_span_of_a_match(text, keyword, span):
    folded, offsets = fold_with_offsets(text)
    start = folded.index(keyword)
    assert original_span(offsets, start, start + len(keyword)) == span
    assert fold(text[span[0] : span[1]]).find(keyword) >= 0


@pytest.mark.parametrize("start, end", [(0, 0), (2, 1), (-1, 1), (0, 9)])
def test_original_span_rejects_empty_or_outside_spans(start, end):
    _, offsets = fold_with_offsets("安全账户")
    with pytest.raises(IndexError):
        original_span(offsets, start, end)


def test_fold_is_idempotent_on_every_bmp_character():
    bad = [c for c in map(chr, range(0x10000)) if fold(fold(c)) != fold(c)]
    assert bad == []


texts = st.text(max_size=60)


@settings(max_examples=200, deadline=None)
@given(texts)
def test_fold_idempotent(text):
    assert fold(fold(text)) == fold(text)


@settings(max_examples=200, deadline=None)
@given(texts)
def test_offsets_are_consistent(text):
    folded, offsets = fold_with_offsets(text)
    assert folded == fold(text)
    assert len(offsets) == len(folded)
    assert offsets == sorted(offsets)
    assert all(0 <= i < len(text) for i in offsets)
    if folded:
        start, end = original_span(offsets, 0, len(folded))
        assert fold(text[start:end]) == folded


keywords = st.text(
    alphabet=st.sampled_from("安全账户賬戶银行中奖免费领取" + string.ascii_letters + string.digits + "ＡＢＣ１２３"),
    min_size=1,
    max_size=12,
)


@settings(max_examples=200, deadline=None)
@given(keywords, st.data())
def test_separators_between_characters_never_change_fold(keyword, data):
    seps = data.draw(
        st.lists(
            st.lists(st.sampled_from(SEPARATORS), max_size=3).map("".join),
            min_size=len(keyword) + 1,
            max_size=len(keyword) + 1,
        )
    )
    spaced = seps[0] + "".join(c + s for c, s in zip(keyword, seps[1:], strict=False))
    assert fold(spaced) == fold(keyword)
