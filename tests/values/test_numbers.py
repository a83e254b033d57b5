"""The mainland-mobile fast path of `canonical_number` gives exactly what `phonenumbers` gives
(E.164 form and the digit strings ranges are matched against), for every 1[3-9]xx prefix and
the ways numbers are written; anything else still goes through `phonenumbers`."""

from __future__ import annotations

import random
import re

import phonenumbers
import pytest

from blocklist.values import normalise
from blocklist.values.normalise import canonical_number, digit_candidates


def _slow(raw: str, region: str) -> tuple[str, list[str]]:
    """What `phonenumbers` says: E.164 and the range digits (E.164 digits, national
    significant number, national dialling form where different)."""
    number = phonenumbers.parse(raw, region)
    assert phonenumbers.is_possible_number(number)
    e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    national = re.sub(r"\D", "", phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL))
    out = [e164.lstrip("+"), phonenumbers.national_significant_number(number)]
    return e164, out + ([national] if national not in out else [])


def test_every_mobile_prefix_agrees_with_phonenumbers():
    rng = random.Random(18)
    for prefix in range(1300, 2000):
        digits = f"{prefix}{rng.randrange(10**7):07d}"
        for written in (
            digits,
            f"+86 {digits[:3]} {digits[3:7]} {digits[7:]}",
            f"{digits[:3]}-{digits[3:7]}-{digits[7:]}",
        ):
            normalise._NUMBER_CANDIDATES.clear()
            fast = normalise._cn_mobile(written, "CN")
            assert fast is not None, written
            e164, candidates = _slow(written, "CN")
            assert fast == e164 and digit_candidates("number", fast) == candidates, written


@pytest.mark.parametrize(
    "raw, region",
    [
        ("13812345678", "US"),  # another region: not a Chinese mobile
        ("12812345678", "CN"),  # 12x is no mobile prefix
        ("1381234567", "CN"),  # ten digits
        ("008613812345678", "CN"),  # the international prefix: phonenumbers reads it
        ("１３８１２３４５６７８", "CN"),  # full-width digits: NFKC first, in the slow path
        ("(010) 1234 5678", "CN"),
    ],
)
def test_other_shapes_take_the_slow_path(raw, region):
    assert normalise._cn_mobile(raw, region) is None
    canonical_number.cache_clear()
    assert canonical_number(raw, region) == _slow(raw, region)[0]
