"""Subjects in the pure core: USCC check characters, resident-ID check digits, the peppered
person hash and its rotation, and that no range or keyword ever covers a subject."""

from __future__ import annotations

import hashlib
import hmac

import pytest
from stdnum.cn import ric

from blocklist.values.canonical import CanonicalValue, canonicalise, protection_keys
from blocklist.values.coverage import covers
from blocklist.values.kinds import InvalidValue
from blocklist.values.normalise import canonical, guess_kinds
from blocklist.values.subjects import normalise_person_id, person_hash, person_hashes

USCC = "91110000600037341L"
RIC = "11010519491231002X"
PEPPER, OLD_PEPPER = "pepper-current-0123456789", "pepper-retired-0123456789"


@pytest.mark.parametrize(
    "raw",
    [
        "91110000600037341L",
        "91110000600037341l",
        " 9111 0000 6000 3734 1L ",
        "９１１１００００６０００３７３４１Ｌ",
        "911100006-00037341L",
    ],
)
def test_an_enterprise_is_its_uscc_upper_cased_and_compacted(raw):
    assert canonical("enterprise", raw) == USCC
    assert canonicalise("enterprise", raw, "CN") == CanonicalValue("enterprise", USCC)


@pytest.mark.parametrize(
    ("raw", "why"),
    [
        ("91110000600037341M", "check character"),
        ("91110000600037341", "18 characters"),
        ("9111000060003734IL", "capital letters"),
        ("", "18 characters"),
    ],
)
def test_a_bad_uscc_says_why(raw, why):
    with pytest.raises(InvalidValue, match=why):
        canonical("enterprise", raw)


def test_a_resident_id_is_normalised_then_hashed_with_the_pepper():
    assert normalise_person_id("11010519491231002x") == f"ric:{RIC}"
    assert normalise_person_id("ric: 110105 19491231 002X") == f"ric:{RIC}"
    expected = hmac.new(PEPPER.encode(), f"ric:{RIC}".encode(), hashlib.sha256).hexdigest()
    assert person_hash(PEPPER, f"ric:{RIC}") == expected
    value = canonicalise("person", "１１０１０５１９４９１２３１００２ｘ", "CN", [PEPPER])
    assert value == CanonicalValue("person", expected)
    assert RIC not in repr(value)


@pytest.mark.parametrize(
    ("raw", "why"),
    [
        ("110105194912310021", "check digit"),
        ("110105194913310025", "birth date or region"),  # month 13 (check digit made valid below)
        ("1101051949123100", "17 digits"),
        ("drivers:12345678", "type one of"),
        ("passport-cn:E1", "5 to 20"),
    ],
)
def test_a_bad_person_identifier_says_why_without_quoting_it(raw, why):
    if "13310" in raw:
        raw = raw[:17] + ric.calc_check_digit(raw)
    with pytest.raises(InvalidValue, match=why) as error:
        canonicalise("person", raw, "CN", [PEPPER])
    assert raw not in str(error.value)


def test_other_documents_are_type_colon_number():
    assert normalise_person_id("Passport-CN: e1234 5678") == "passport-cn:E12345678"
    assert normalise_person_id("hkmo-permit:H1234567890") == "hkmo-permit:H1234567890"
    # The same number under another document type is another person.
    assert person_hashes("passport-cn:E12345678", [PEPPER]) != person_hashes("passport-us:E12345678", [PEPPER])


def test_without_a_pepper_a_person_is_only_its_hash():
    hashed = person_hash(PEPPER, f"ric:{RIC}")
    assert canonical("person", hashed.upper()) == hashed
    assert canonicalise("person", hashed, "CN") == CanonicalValue("person", hashed)
    with pytest.raises(InvalidValue, match="hashed value") as error:
        canonicalise("person", RIC, "CN")
    assert RIC not in str(error.value)


def test_rotation_keeps_the_retired_peppers_hash_matchable():
    value = canonicalise("person", RIC, "CN", [PEPPER, OLD_PEPPER])
    assert value.value == person_hash(PEPPER, f"ric:{RIC}")
    assert value.alternates == (person_hash(OLD_PEPPER, f"ric:{RIC}"),)


def test_subjects_are_never_guessed_as_other_kinds_and_nothing_wide_covers_them():
    # A resident ID number is read as a person (hashed, never echoed), never as a code or range.
    assert "enterprise" not in guess_kinds(USCC) and guess_kinds(RIC) == ["person"]
    keyword = canonicalise("keyword", "00006000", "CN")
    assert covers(keyword, "code", "91110000600037341") and not covers(keyword, "enterprise", USCC)
    hashed = person_hash(PEPPER, f"ric:{RIC}")
    assert not covers(canonicalise("keyword", hashed[:8], "CN"), "person", hashed)
    assert protection_keys("person", hashed, "CN") == [("person", hashed)]
