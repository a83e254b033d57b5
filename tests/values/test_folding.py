"""Keyword folding: every evasion form folds away, offsets point at the original text."""

from __future__ import annotations

import string

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from blocklist.values.folding import fold, fold_with_offsets, original_span, variant_key

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


# --- conformance: Unicode Default_Ignorable_Code_Point and OpenCC's variant conversions --------
# Every range of Default_Ignorable_Code_Point in Unicode 15.1 DerivedCoreProperties.txt
# (https://www.unicode.org/Public/15.1.0/ucd/DerivedCoreProperties.txt); folding drops them all,
# including the marks and letters among them (variation selectors, CGJ, Hangul fillers).
DERIVED_CORE_PROPERTIES_DEFAULT_IGNORABLE = [
    (0x00AD, 0x00AD), (0x034F, 0x034F), (0x061C, 0x061C), (0x115F, 0x1160), (0x17B4, 0x17B5),
    (0x180B, 0x180D), (0x180E, 0x180E), (0x180F, 0x180F), (0x200B, 0x200F), (0x202A, 0x202E),
    (0x2060, 0x2064), (0x2065, 0x2065), (0x2066, 0x206F), (0x3164, 0x3164), (0xFE00, 0xFE0F),
    (0xFEFF, 0xFEFF), (0xFFA0, 0xFFA0), (0xFFF0, 0xFFF8), (0x1BCA0, 0x1BCA3), (0x1D173, 0x1D17A),
    (0xE0000, 0xE0000), (0xE0001, 0xE0001), (0xE0002, 0xE001F), (0xE0020, 0xE007F),
    (0xE0080, 0xE00FF), (0xE0100, 0xE01EF), (0xE01F0, 0xE0FFF),
]  # fmt: skip


@pytest.mark.parametrize("low, high", DERIVED_CORE_PROPERTIES_DEFAULT_IGNORABLE)
def test_every_default_ignorable_code_point_is_folded_away(low, high):
    for code in {low, (low + high) // 2, high}:
        assert fold(f"百{chr(code)}万{chr(code)}保障") == "百万保障", hex(code)


def test_variation_selectors_between_characters_do_not_defeat_a_keyword():
    assert fold("百\ufe0f万\ufe0f保\ufe0f障") == fold("百万保障")
    assert fold("安\U000e0101全\u034f账\u180b户") == "安全账户"


# OpenCC's character table (TSCharacters.txt) converts 帳 -> 帐 and 賬 -> 账, while 帳 is written
# for both in Taiwan and Hong Kong (帳戶 = 账户); its phrase tables (STPhrases.txt, TSPhrases.txt)
# convert one traditional character to two simplified ones by word (覆核 -> 复核, 乾燥 -> 干燥,
# 瞭解 -> 了解, 於是 -> 于是, 徵收 -> 征收, 著名 / 着急). Text in any form matches a keyword
# folded to either.
VARIANT_PAIRS = [
    ("安全账户", "安全帳戶"),
    ("安全帐户", "安全賬戶"),
    ("安全账户", "安全帐户"),
    ("复核账号", "覆核帳號"),
    ("了解详情", "瞭解詳情"),
    ("征收费用", "徵收費用"),
    ("干燥剂", "乾燥劑"),
]


@pytest.mark.parametrize("keyword, text", VARIANT_PAIRS)
def test_traditional_variants_meet_the_form_the_keyword_was_folded_to(keyword, text):
    assert variant_key(fold(keyword)) == variant_key(fold(text))
    assert len(variant_key(fold(text))) == len(fold(text))  # one for one: spans are unchanged


def test_variant_key_is_idempotent_and_leaves_other_characters():
    for word in ("安全账户", "验证码", "abc123", "中奖通知"):
        assert variant_key(variant_key(fold(word))) == variant_key(fold(word))
    assert variant_key("验证码") == "验证码"
