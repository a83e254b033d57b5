"""Subjects: who is behind a resource (PRODUCT.md "One violation, restricted everywhere").

* ``enterprise``: the 18-character unified social credit code (统一社会信用代码), upper-cased,
  full-width characters, spaces and dashes folded away, its GB 32100-2015 check character
  verified (``stdnum.cn.uscc``).
* ``person``: never the identifier itself. The canonical value is
  ``HMAC-SHA-256(pepper, normalised identifier)`` as 64 lower-case hex digits. The normalised
  identifier is ``ric:<18 characters>`` for a resident identity card number (居民身份证号码,
  given bare or as ``ric:...``; GB 11643 check digit, birth date and place verified by
  ``stdnum.cn.ric``), or ``<type>:<NUMBER>`` for another document (``DOCUMENT_TYPES``; the
  number upper-cased, spaces and dashes removed, 5 to 20 letters or digits). A value that is
  already such a hash is taken as it is (lower-cased), so a look-up by URL, a mirror and a
  corroboration by value never need the identifier.

Pepper rotation: the first pepper is current (new entries are hashed with it); the others are
retired but still matched: a raw identifier is hashed with every pepper (``person_hashes``), a
look-up probes them all and a publish corroborates an entry listed under an older one. Nothing
here knows where peppers come from (the server's settings, a sync client's file).
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Sequence

from stdnum import exceptions as stdnum_errors
from stdnum.cn import ric, uscc

from .kinds import InvalidValue
from .text import SEPARATORS, nfkc

SUBJECT_KINDS = ("enterprise", "person")

# Documents other than the resident identity card, as `<type>:<number>`. A passport number is
# unique only within its issuing country, so its type names the country (ISO 3166 alpha-2):
# `passport-cn:E12345678`, `passport-us:...`.
DOCUMENT_TYPES = {
    "ric": "resident identity card (居民身份证), 18 characters",
    "hkmo-permit": "mainland travel permit for Hong Kong and Macao residents (港澳居民来往内地通行证)",
    "tw-permit": "mainland travel permit for Taiwan residents (台湾居民来往大陆通行证)",
    "foreign-pr": "foreigner's permanent residence ID card (外国人永久居留身份证)",
    "passport-<cc>": "passport issued by country <cc> (ISO 3166 alpha-2, e.g. passport-cn)",
}
_TYPE = re.compile(r"ric|hkmo-permit|tw-permit|foreign-pr|passport-[a-z]{2}")
_DOCUMENT_NUMBER = re.compile(r"[A-Z0-9]{5,20}")
_HASH = re.compile(r"[0-9a-fA-F]{64}")


def _compact(raw: str) -> str:
    return SEPARATORS.sub("", nfkc(raw)).upper()


def canonical_enterprise(raw: str) -> str:
    """The 18-character USCC, upper-case, its check character verified."""
    text = _compact(raw)
    try:
        return uscc.validate(text)
    except stdnum_errors.InvalidLength:
        raise InvalidValue("A unified social credit code has 18 characters.") from None
    except stdnum_errors.InvalidChecksum:
        raise InvalidValue("Not a unified social credit code: its check character (GB 32100-2015) is wrong.") from None
    except stdnum_errors.ValidationError:
        raise InvalidValue(
            "Not a unified social credit code: 18 digits and capital letters (not I, O, S, V, Z) expected."
        ) from None


def is_person_hash(raw: str) -> bool:
    return isinstance(raw, str) and _HASH.fullmatch(raw.strip()) is not None


_RIC_SHAPE = re.compile(r"[0-9]{17}[0-9X]")


def looks_like_resident_id(raw: object) -> bool:
    """Whether `raw` reads as a resident ID number (GB 11643: 17 digits, a valid birth date and
    the check character; spaces and dashes ignored), whatever kind a caller meant it as. Such a
    value is a person's identifier and is only ever hashed, never echoed or read as a code."""
    if not isinstance(raw, str) or len(raw) > 64 or (len(raw) < 18 and raw.isascii()):
        return False  # ASCII is its own NFKC form: fewer than 18 characters cannot make 18
    text = _compact(raw)
    return _RIC_SHAPE.fullmatch(text) is not None and ric.is_valid(text)


_RIC_IN_TEXT = re.compile(r"(?<![0-9])[0-9]{17}[0-9Xx](?![0-9])")


def contains_resident_id(text: str) -> bool:
    """Whether free text (a reason, evidence, a note) carries what reads as a resident ID
    number: 18 characters not inside a longer run of digits, with a valid birth date and check
    character. Such text is refused, never stored: a person is named only by the hash."""
    return any(ric.is_valid(m.group().upper()) for m in _RIC_IN_TEXT.finditer(nfkc(text)))


def normalise_person_id(raw: str) -> str:
    """`ric:<18 characters>` or `<type>:<NUMBER>`; InvalidValue saying why not (never quoting it)."""
    text = nfkc(raw)
    kind, sep, number = text.partition(":")
    doc_type = kind.strip().lower() if sep else "ric"
    number = _compact(number if sep else text)
    if not _TYPE.fullmatch(doc_type):
        raise InvalidValue(
            "A person is a resident ID number or <type>:<number> with type one of "
            "ric, hkmo-permit, tw-permit, foreign-pr, passport-<country code>."
        )
    if doc_type == "ric":
        try:
            number = ric.validate(number)
        except stdnum_errors.InvalidChecksum:
            raise InvalidValue("Not a resident ID number: its check digit (GB 11643) is wrong.") from None
        except stdnum_errors.InvalidComponent:
            raise InvalidValue("Not a resident ID number: its birth date or region code is not valid.") from None
        except stdnum_errors.ValidationError:
            raise InvalidValue("A resident ID number has 17 digits and a check digit (0-9 or X).") from None
    elif not _DOCUMENT_NUMBER.fullmatch(number):
        raise InvalidValue("A document number has 5 to 20 letters or digits (spaces and dashes are ignored).")
    return f"{doc_type}:{number}"


def person_hash(pepper: str, normalised: str) -> str:
    """HMAC-SHA-256 of the normalised identifier under `pepper`, 64 lower-case hex digits."""
    return hmac.new(pepper.encode(), normalised.encode(), hashlib.sha256).hexdigest()


def person_hashes(raw: str, peppers: Sequence[str]) -> list[str]:
    """The person's canonical value under each pepper, current first: for a hash, itself; for an
    identifier, its hash with every pepper (none given: InvalidValue)."""
    if is_person_hash(raw):
        return [raw.strip().lower()]
    normalised = normalise_person_id(raw)
    if not peppers:
        raise InvalidValue(
            "A person is given here by its hashed value (64 hex digits); "
            "send the identifier itself only in a request body."
        )
    return list(dict.fromkeys(person_hash(p, normalised) for p in peppers))


def canonical_person(raw: str) -> str:
    """A person's canonical value where no pepper is at hand: only the hash itself is accepted."""
    if is_person_hash(raw):
        return raw.strip().lower()
    raise InvalidValue(
        "A person is given here by its hashed value (64 hex digits); send the identifier itself only in a request body."
    )
