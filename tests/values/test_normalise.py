"""Canonical values of every entry kind, look-up guesses and range matching."""

from __future__ import annotations

import random
import re

import phonenumbers
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from blocklist.values import normalise
from blocklist.values.normalise import (
    KINDS,
    InvalidValue,
    canonical,
    canonical_code,
    canonical_domain,
    canonical_keyword,
    canonical_number,
    canonical_range,
    canonical_url,
    digit_candidates,
    guess_kinds,
    parse_range,
    range_matches,
)


def test_kinds():
    assert KINDS == ("number", "code", "range", "keyword", "url", "domain", "enterprise", "person")


def test_invalid_value_is_a_value_error():
    assert issubclass(InvalidValue, ValueError)


@pytest.mark.parametrize(
    "raw, e164",
    [
        ("13812345678", "+8613812345678"),
        ("+86 138 1234 5678", "+8613812345678"),
        ("+86-138-1234-5678", "+8613812345678"),
        ("0086 13812345678", "+8613812345678"),
        ("008613812345678", "+8613812345678"),
        ("１３８１２３４５６７８", "+8613812345678"),  # full-width digits
        ("＋８６ １３８ １２３４ ５６７８", "+8613812345678"),
        ("138.1234.5678", "+8613812345678"),
        ("  138 1234 5678 ", "+8613812345678"),
        ("010-12345678", "+861012345678"),  # landline with national trunk 0
        ("(010) 1234 5678", "+861012345678"),
        ("0755-8765-4321", "+8675587654321"),
        ("+1 (650) 253-0000", "+16502530000"),
        ("+8613812345678", "+8613812345678"),
    ],
)
def test_canonical_number(raw, e164):
    assert canonical_number(raw) == e164
    assert canonical("number", raw) == e164


def test_canonical_number_uses_the_region():
    assert canonical_number("(650) 253-0000", region="US") == "+16502530000"
    assert canonical_number("020 7946 0000", region="GB") == "+442079460000"
    assert canonical("number", "650 253 0000", region="us") == "+16502530000"


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "   ",
        "123",
        "+86 1",
        "138123456789012345",
        "1-800-FLOWERS",
        "138 1234 5678 ext 9",
        "+",
        "--",
        "13812345678#",
        "tel:13812345678",
        "+999 1234567",
        "abc",
    ],
)
def test_canonical_number_rejects(raw):
    with pytest.raises(InvalidValue):
        canonical_number(raw)


def test_canonical_number_accepts_possible_but_not_valid_numbers():
    # 95588 is a bank's service number, not a valid subscriber number, but of a possible length
    assert canonical_number("95588") == "+8695588"


@pytest.mark.parametrize(
    "raw, code",
    [
        ("10687415", "10687415"),
        ("1068 7415", "10687415"),
        ("1069-0000-1234", "106900001234"),
        ("１０６８４５００", "10684500"),
        ("95588", "95588"),
        ("400-123-4567", "4001234567"),
        ("123", "123"),
        ("12345678901234567890", "12345678901234567890"),
        ("١٠٠٨٦", "10086"),  # Arabic-Indic digits
    ],
)
def test_canonical_code(raw, code):
    assert canonical_code(raw) == code
    assert canonical("code", raw) == code


@pytest.mark.parametrize("raw", ["", "12", "123456789012345678901", "+10086", "1068a", "95.588", "x"])
def test_canonical_code_rejects(raw):
    with pytest.raises(InvalidValue):
        canonical_code(raw)


@pytest.mark.parametrize(
    "raw, parsed, text",
    [
        ("952750xx", ("952750", 8), "952750xx"),
        ("952750XX", ("952750", 8), "952750xx"),
        ("952750xX", ("952750", 8), "952750xx"),
        ("952750*", ("952750", None), "952750*"),
        ("９５２７５０ｘｘ", ("952750", 8), "952750xx"),
        ("+86 138 1234 xxxx", ("861381234", 13), "861381234xxxx"),
        ("138-1234-xxxx", ("1381234", 11), "1381234xxxx"),
        ("106*", ("106", None), "106*"),
        ("123x", ("123", 4), "123x"),
    ],
)
def test_ranges(raw, parsed, text):
    assert parse_range(raw) == parsed
    assert canonical_range(raw) == text
    assert canonical("range", raw) == text
    assert parse_range(text) == parsed


@pytest.mark.parametrize(
    "raw",
    [
        "95275",
        "",
        "xx",
        "*",
        "12xx",
        "95x27",
        "952750x*",
        "952750**",
        "95*0",
        "abcx",
        "1234567890123456789xx",
        "952 750 x x x y",
    ],
)
def test_ranges_reject(raw):
    with pytest.raises(InvalidValue):
        parse_range(raw)


@pytest.mark.parametrize(
    "prefix, length, digits, matches",
    [
        ("952750", 8, "95275012", True),
        ("952750", 8, "9527501", False),
        ("952750", 8, "952750123", False),
        ("952750", 8, "95275112", False),
        ("952750", None, "952750", True),
        ("952750", None, "9527501234567", True),
        ("952750", None, "95275", False),
        ("861381234", 13, "8613812345678", True),
    ],
)
def test_range_matches(prefix, length, digits, matches):
    assert range_matches(prefix, length, digits) is matches


def test_a_number_lies_in_its_national_and_international_ranges():
    candidates = digit_candidates("number", canonical_number("138 1234 5678"))
    for rng in ["138 1234 xxxx", "+86 138 1234 xxxx", "1381*"]:
        prefix, length = parse_range(rng)
        assert any(range_matches(prefix, length, d) for d in candidates)
    prefix, length = parse_range("139xxxxxxxx")
    assert not any(range_matches(prefix, length, d) for d in candidates)


@pytest.mark.parametrize(
    "kind, value, candidates",
    [
        ("number", "+8613812345678", ["8613812345678", "13812345678"]),
        ("number", "+861012345678", ["861012345678", "1012345678", "01012345678"]),
        ("code", "10687415", ["10687415"]),
        ("keyword", "安全账户", []),
        ("url", "http://x.cn/", []),
    ],
)
def test_digit_candidates(kind, value, candidates):
    assert digit_candidates(kind, value) == candidates


@pytest.mark.parametrize(
    "raw, folded",
    [
        ("安全账户", "安全账户"),
        ("安 全 賬 戶", "安全账户"),
        ("安\u200b全\u3000账\n户", "安全账户"),
        ("ＡＢＣ１２３", "abc123"),
        ("Free-Gift!!", "freegift"),
        ("ab", "ab"),
        ("中" * 200, "中" * 200),
    ],
)
def test_canonical_keyword(raw, folded):
    assert canonical_keyword(raw) == folded
    assert canonical("keyword", raw) == folded


@pytest.mark.parametrize("raw", ["", "a", " a ", "!!!", "\u200b\u3000", "★中", "中" * 201])
def test_canonical_keyword_rejects(raw):
    with pytest.raises(InvalidValue):
        canonical_keyword(raw)


def test_canonical_url_is_the_safe_browsing_form():
    assert canonical_url("Evil.com/a/../pay#x") == "http://evil.com/pay"
    assert canonical("url", "http://3279880203/") == "http://195.127.0.11/"


@pytest.mark.parametrize(
    "raw, domain",
    [
        ("example.com", "example.com"),
        ("Example.COM.", "example.com"),
        ("  www.example.com  ", "www.example.com"),
        ("例子.中国", "xn--fsqu00a.xn--fiqs8s"),
        ("BÜCHER.de.", "xn--bcher-kva.de"),
        ("xn--bcher-kva.de", "xn--bcher-kva.de"),
        ("ｅｖｉｌ。ＣＯＭ", "evil.com"),
        ("evil．com", "evil.com"),
        ("a-b.co.uk", "a-b.co.uk"),
        ("bit.ly", "bit.ly"),
        ("t.cn", "t.cn"),
        ("deep.sub.domain.example.org", "deep.sub.domain.example.org"),
    ],
)
def test_canonical_domain(raw, domain):
    assert canonical_domain(raw) == domain
    assert canonical("domain", raw) == domain


@pytest.mark.parametrize(
    "raw, why",
    [
        ("com", "public suffix"),
        ("co.uk", "public suffix"),
        ("中国", "public suffix"),
        ("http://example.com", "kind url"),
        ("example.com/path", "kind url"),
        ("example.com:8080", "kind url"),
        ("user@example.com", "kind url"),
        ("", "empty"),
        (".", "empty"),
        ("example.com..", "1 to 63"),
        ("-bad.com", "hyphen"),
        ("bad-.com", "hyphen"),
        ("ex_ample.com", "hyphen"),
        ("exa mple.com", "hyphen"),
        ("a" * 64 + ".com", "at most 63"),
        (".".join(["a" * 60] * 5) + ".com", "253"),
        ("file.txt", "public suffix"),
        ("localhost", "public suffix"),
        ("1.2.3.4", "public suffix"),
    ],
)
def test_canonical_domain_rejects(raw, why):
    with pytest.raises(InvalidValue, match=why):
        canonical_domain(raw)


def test_unknown_kind():
    with pytest.raises(InvalidValue, match="Unknown kind"):
        canonical("email", "a@b.c")


@pytest.mark.parametrize(
    "raw, kinds",
    [
        ("13812345678", ["number", "code"]),
        ("138 1234 5678", ["number", "code"]),
        ("１３８１２３４５６７８", ["number", "code"]),
        ("+86 138-1234-5678", ["number"]),
        ("10687415", ["number", "code"]),
        ("12345678901234567890", ["code"]),
        ("12", ["keyword"]),
        ("952750xx", ["range"]),
        ("http://evil.com", ["url"]),
        ("evil.com/pay", ["url"]),
        ("hxxp://evil.com", ["url"]),
        ("evil.com", ["domain", "url"]),
        ("例子.中国", ["domain", "url"]),
        ("ｅｖｉｌ。com", ["domain", "url"]),
        ("安全账户", ["keyword"]),
        ("file.txt", ["keyword"]),
        ("free gift", ["keyword"]),
    ],
)
def test_guess_kinds(raw, kinds):
    assert guess_kinds(raw) == kinds
    for kind in kinds:
        canonical(kind, raw)  # every guessed kind accepts the value


values = st.one_of(
    st.text(max_size=40),
    st.from_regex(r"[+＋]?[0-9０-９ \-()]{0,20}", fullmatch=True),
    st.from_regex(r"[0-9]{0,10}[xX*]{0,4}", fullmatch=True),
    st.from_regex(r"[a-zA-Z0-9\-.。ü中]{1,30}", fullmatch=True),
)


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(KINDS), values)
def test_canonical_is_idempotent_and_raises_only_invalid_value(kind, raw):
    try:
        value = canonical(kind, raw)
    except InvalidValue as exc:
        assert str(exc)
        return
    assert canonical(kind, value) == value
    if kind in ("number", "code"):
        for digits in digit_candidates(kind, value):
            assert digits.isdigit()


@settings(max_examples=200, deadline=None)
@given(values)
def test_guess_kinds_never_raises(raw):
    kinds = guess_kinds(raw)
    assert kinds and set(kinds) <= set(KINDS)


@pytest.mark.parametrize("prefix", range(130, 200))
def test_mobile_fast_path_agrees_with_phonenumbers(prefix):
    """The mainland-mobile fast path gives exactly what phonenumbers gives: the E.164 form from
    bare digits read in CN and from "+86…", and the digit candidates ranges are matched with."""
    rng = random.Random(prefix)
    for _ in range(20):
        digits = f"{prefix}{rng.randrange(10**8):08d}"
        parsed = phonenumbers.parse(digits, "CN")
        expected = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
        national = re.sub(r"\D", "", phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.NATIONAL))
        slow = list(dict.fromkeys([expected.lstrip("+"), phonenumbers.national_significant_number(parsed), national]))
        assert normalise._cn_mobile(digits, "CN") == expected
        assert normalise._cn_mobile(expected, "US") == expected
        assert canonical_number(digits, "CN") == canonical_number(expected, "GB") == expected
        normalise._NUMBER_CANDIDATES.pop(expected, None)
        assert digit_candidates("number", expected) == slow


@pytest.mark.parametrize(
    ("raw", "region"),
    [
        ("13812345678", "US"),
        ("12812345678", "CN"),
        ("+8612812345678", "CN"),
        ("1381234567", "CN"),
        ("(138) 1234 5678", "CN"),
    ],
)
def test_mobile_fast_path_leaves_other_shapes_to_phonenumbers(raw, region):
    assert normalise._cn_mobile(raw, region) is None
