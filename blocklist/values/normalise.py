"""Canonical values: one function per entry kind, pure (no database, no Flask).

``canonical(kind, raw)`` is what an entry is identified and matched by; each normaliser is
idempotent on its own output and raises only ``InvalidValue`` (a ``ValueError`` whose message
is a short sentence fit for a per-field 422 error).
"""

from __future__ import annotations

import functools
import re
import unicodedata

import idna
import phonenumbers

from . import folding, urls
from .kinds import KINDS, InvalidValue
from .subjects import canonical_enterprise, canonical_person, looks_like_resident_id
from .text import SEPARATORS, nfkc

__all__ = [
    "InvalidValue",
    "KINDS",
    "canonical",
    "canonical_number",
    "canonical_code",
    "parse_range",
    "canonical_range",
    "range_matches",
    "canonical_keyword",
    "canonical_url",
    "canonical_domain",
    "guess_kinds",
    "digit_candidates",
]


KEYWORD_MIN, KEYWORD_MAX = 2, 200
CODE_MIN, CODE_MAX = 3, 20
RANGE_MIN_PREFIX, RANGE_MAX_LENGTH = 3, 20

# Digits with the punctuation numbers are written with (ITU-T E.123, and as carriers and print
# write them): "+1 (202) 555-0143", "+1.202.555.0143", "(010) 1234 5678", "+86 (0)10 1234 5678",
# "(+852) 5123 4567". The "+" may follow an opening parenthesis.
_NUMBER_CHARS = re.compile(r"[\s(]*\+?[0-9\s\-.()\u2010-\u2015\u2212]*")
_RANGE = re.compile(r"([0-9]+)(?:([xX]+)|(\*))")
_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]*[a-z0-9])?")


def _ascii_digits(text: str) -> str:
    """Decimal digits of any script as ASCII digits; everything else unchanged."""
    if text.isascii():
        return text
    return "".join(str(unicodedata.decimal(c)) if unicodedata.decimal(c, None) is not None else c for c in text)


# --- numbers and codes ------------------------------------------------------------------


def _parse_number(raw: str, region: str) -> phonenumbers.PhoneNumber:
    text = _ascii_digits(nfkc(raw))
    if not text or not _NUMBER_CHARS.fullmatch(text) or not any(c.isdigit() for c in text):
        raise InvalidValue("A phone number may contain only digits, a leading +, spaces, dashes, dots and parentheses.")
    try:
        number = phonenumbers.parse(text, region.upper() if region else None)
    except phonenumbers.NumberParseException as exc:
        raise InvalidValue(f"Not a phone number: {exc._msg}") from None
    if not phonenumbers.is_possible_number(number):
        raise InvalidValue("Not a possible phone number for its country (wrong length).")
    return number


@functools.lru_cache(maxsize=65536)
def canonical_number(raw: str, region: str = "CN") -> str:
    """The E.164 form ("+8613812345678") of phone number ``raw``.

    Accepts full-width digits, spaces, dashes, dots, parentheses, "+86", the international
    prefix "0086" and a national trunk 0 ("010-12345678"); numbers without a country code are
    read in ``region``. Requires ``phonenumbers.is_possible_number`` (a plausible length for
    the country) but not ``is_valid_number``: fraud uses freshly allocated or odd blocks that
    the library's metadata may not know yet, and wrongly refusing a report costs more than
    listing an unassigned number. Letters (vanity numbers) and extensions are refused."""
    if (fast := _cn_mobile(raw, region)) is not None:
        return fast
    number = _parse_number(raw, region)
    e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    if e164 not in _NUMBER_CANDIDATES:
        _number_candidates(e164, number)
    return e164


_CN_MOBILE = re.compile(r"(?:\+86)?(1[3-9][0-9]{9})")


def _cn_mobile(raw: str, region: str) -> str | None:
    """The commonest shape without `phonenumbers` (60-100 µs a parse): a mainland mobile
    number, 11 digits 1[3-9]…, in ASCII with spaces or dashes, after +86 (in any region) or bare
    (read in region CN). Its E.164 form is +86 and the digits, its range digits the E.164 digits
    and the 11 digits: its national significant number and national form, no trunk 0
    (tests/values/test_numbers.py and test_normalise.py check every 1[3-9]xx prefix against
    `phonenumbers`). None for anything else."""
    if not isinstance(raw, str) or not raw.isascii():
        return None
    match = _CN_MOBILE.fullmatch(SEPARATORS.sub("", raw))
    if match is None or (not raw.lstrip().startswith("+") and (region or "").upper() != "CN"):
        return None
    digits = match.group(1)
    e164 = "+86" + digits
    if e164 not in _NUMBER_CANDIDATES:
        _remember_candidates(e164, ("86" + digits, digits))
    return e164


def _digits_only(raw: str, what: str) -> str:
    text = SEPARATORS.sub("", _ascii_digits(nfkc(raw)))
    if not text.isascii() or not text.isdigit():
        raise InvalidValue(f"A {what} may contain only digits (spaces and dashes are ignored).")
    return text


def canonical_code(raw: str) -> str:
    """The digits of a service / short-message code ("1068 7415" -> "10687415"): full-width
    digits folded, whitespace and dashes removed, 3 to 20 digits."""
    digits = _digits_only(raw, "code")
    if not CODE_MIN <= len(digits) <= CODE_MAX:
        raise InvalidValue(f"A code has {CODE_MIN} to {CODE_MAX} digits.")
    return digits


# --- ranges -----------------------------------------------------------------------------


def parse_range(raw: str) -> tuple[str, int | None]:
    """``(digit prefix, total length or None)`` of a number range.

    "952750xx" and "952750XX" -> ("952750", 8): the prefix followed by exactly that many
    digits; "952750*" -> ("952750", None): the prefix followed by any number of digits
    (including none). Full-width characters, whitespace, dashes and a leading "+" are
    ignored ("+86 138 1234 xxxx" -> ("861381234", 13)). The prefix has at least 3 digits, the
    x's come only at the end, and the whole range is at most 20 digits long."""
    text = SEPARATORS.sub("", _ascii_digits(nfkc(raw)))
    if text.startswith("+"):
        text = text[1:]
    m = _RANGE.fullmatch(text)
    if not m:
        raise InvalidValue(
            'A range is a digit prefix followed by "x" for each further digit '
            '(952750xx) or by "*" for any number of digits (952750*).'
        )
    prefix, xs, _ = m.groups()
    if len(prefix) < RANGE_MIN_PREFIX:
        raise InvalidValue(f"A range's prefix has at least {RANGE_MIN_PREFIX} digits.")
    length = len(prefix) + len(xs) if xs else None
    if len(prefix) + len(xs or "") > RANGE_MAX_LENGTH:
        raise InvalidValue(f"A range covers numbers of at most {RANGE_MAX_LENGTH} digits.")
    return prefix, length


def canonical_range(raw: str) -> str:
    """The canonical text of a range: the prefix then "x" per digit ("952750xx"), or the
    prefix then "*"."""
    prefix, length = parse_range(raw)
    return prefix + ("*" if length is None else "x" * (length - len(prefix)))


def range_matches(prefix: str, length: int | None, digits: str) -> bool:
    """Whether the digit string ``digits`` lies in the range ``(prefix, length)``."""
    return digits.startswith(prefix) and (length is None or len(digits) == length)


# --- keywords, URLs, domains ------------------------------------------------------------


def canonical_keyword(raw: str) -> str:
    """The folded keyword (``blocklist.values.folding.fold``), 2 to 200 characters."""
    if not isinstance(raw, str):
        raise InvalidValue("The value must be a string.")
    folded = folding.fold(raw)
    if len(folded) < KEYWORD_MIN:
        raise InvalidValue(
            f"A keyword needs at least {KEYWORD_MIN} letters or digits (spaces, punctuation and symbols do not count)."
        )
    if len(folded) > KEYWORD_MAX:
        raise InvalidValue(f"A keyword has at most {KEYWORD_MAX} letters or digits.")
    return folded


def canonical_url(raw: str) -> str:
    """The Safe Browsing canonical URL (``blocklist.values.urls.canonicalize_url``)."""
    return urls.canonicalize_url(raw)


def canonical_domain(raw: str) -> str:
    """The lower-case ASCII (IDNA punycode) domain, without trailing dot.

    Full-width forms and ideographic full stops are folded; one trailing dot is removed.
    Every label is 1 to 63 of [a-z0-9-] without a leading or trailing hyphen, the whole at
    most 253 characters, and it must have a registrable part under a public suffix (Public
    Suffix List snapshot bundled with tldextract, ICANN section): "com" or "co.uk" alone is
    not a domain. Something with a scheme, path, port or "@" is refused: use kind url."""
    text = nfkc(raw).translate(urls.IDEOGRAPHIC_DOTS)
    if any(c in text for c in "/:@?#\\") or urls._SCHEME.match(text):
        raise InvalidValue("A domain is a host name only; for a link use kind url.")
    text = text.lower()
    if text.endswith("."):
        text = text[:-1]
    if not text:
        raise InvalidValue("The domain is empty.")
    urls.check_host_size(text)  # before IDNA: bounded work on any input
    if not text.isascii():
        try:
            text = idna.encode(text, uts46=True).decode("ascii")
        except (idna.IDNAError, UnicodeError, ValueError):
            try:
                text = text.encode("idna").decode("ascii")
            except UnicodeError:
                raise InvalidValue("The domain cannot be written as an IDNA name.") from None
    urls.check_host_size(text)
    for label in text.split("."):
        if not _LABEL.fullmatch(label):
            raise InvalidValue(
                "Each part of a domain has 1 to 63 letters, digits or hyphens, and does not start or end with a hyphen."
            )
    ext = urls.EXTRACT(text)
    if not ext.suffix or not ext.domain:
        raise InvalidValue(
            "The domain does not end in a known public suffix with a name "
            "before it (a bare suffix such as 'com' is not a domain)."
        )
    return text


_NORMALISERS = {
    "code": canonical_code,
    "range": canonical_range,
    "keyword": canonical_keyword,
    "url": canonical_url,
    "domain": canonical_domain,
    "enterprise": canonical_enterprise,
    # Without a pepper only the hashed value is a person (blocklist/values/subjects.py).
    "person": canonical_person,
}


RESIDENT_ID_AS_OTHER_KIND = (
    "This value reads as a resident ID number, a person's identifier: it is never stored or "
    "matched as another kind. Send it as kind person, in a request body."
)


def canonical(kind: str, raw: str, *, region: str = "CN") -> str:
    """The canonical value of ``raw`` as an entry of ``kind`` (one of KINDS); InvalidValue for
    an unknown kind or a value that is not valid for it. A value that reads as a resident ID
    number is InvalidValue as any kind but a person (it would be stored and echoed raw)."""
    if kind not in ("person", "enterprise") and looks_like_resident_id(raw):
        raise InvalidValue(RESIDENT_ID_AS_OTHER_KIND)
    if kind == "person" or not isinstance(raw, str) or not isinstance(kind, str):
        return _canonical(kind, raw, region)  # a person's identifier is never kept, not even here
    value, error = _remembered(kind, raw, region)
    if error is not None:
        raise InvalidValue(error)
    return value


@functools.lru_cache(maxsize=64)
def _remembered(kind: str, raw: str, region: str) -> tuple[str, str | None]:
    """`_canonical`'s answer (value, or why not) for the last few values: a look-up without a
    kind reads each value once to guess its kinds and at once again to match it, and parsing a
    phone number is the costliest part of both. Small on purpose: the reading just made, not a
    cache of values seen before (a batch of a thousand distinct values gains nothing from it)."""
    try:
        return _canonical(kind, raw, region), None
    except InvalidValue as error:
        return "", str(error)


def _canonical(kind: str, raw: str, region: str) -> str:
    if kind == "number":
        return canonical_number(raw, region)
    try:
        normaliser = _NORMALISERS[kind]
    except (KeyError, TypeError):
        raise InvalidValue(f"Unknown kind; use one of: {', '.join(KINDS)}.") from None
    return normaliser(raw)


# --- look-ups -----------------------------------------------------------------------------

_HOSTLIKE = re.compile(r"[^\s/@:]+\.[^\s/@:.]+\.?")


def _valid(kind: str, raw: str, region: str) -> bool:
    try:
        canonical(kind, raw, region=region)
    except InvalidValue:
        return False
    return True


def guess_kinds(raw: str, *, region: str = "CN") -> list[str]:
    """Which kinds to try, in order, for a look-up value given without a kind, by its shape:

    * digits (ignoring a leading +, whitespace, dashes; full-width folded): those of
      "number" and "code" that accept it ("+86..." is never a code);
    * a digit prefix then x's or "*": ["range"];
    * containing "/" or a scheme: ["url"];
    * a host name: ["domain", "url"];
    * anything else (and digit strings neither kind accepts): ["keyword"].

    The digits may be written with the punctuation of a phone number ("+1 (202) 555-0143",
    "+1.202.555.0143", "(+852) 5123 4567"): ["number", "keyword"] (only a number, never a code,
    has parentheses or dots; a keyword may too, "3.14159").

    A value that reads as a resident ID number (``looks_like_resident_id``) is a person:
    ["person"], never a code or range, so that it is hashed (or, where it cannot be, refused)
    and never echoed. Enterprises are never guessed: a look-up names their kind."""
    if not isinstance(raw, str):
        return ["keyword"]
    if looks_like_resident_id(raw):
        return ["person"]
    text = _ascii_digits(nfkc(raw))
    compact = SEPARATORS.sub("", text)
    bare = compact[1:] if compact.startswith("+") else compact
    if bare.isascii() and bare.isdigit():
        kinds = [
            k for k in ("number", "code") if not (k == "code" and compact.startswith("+")) and _valid(k, raw, region)
        ]
        return kinds or ["keyword"]
    if text.isascii() and _NUMBER_CHARS.fullmatch(text) and any(c.isdigit() for c in text):
        # Dots also write decimals and versions ("3.14159"): still a keyword as well.
        return ["number", "keyword"] if _valid("number", raw, region) else ["keyword"]
    if _RANGE.fullmatch(bare) and _valid("range", raw, region):
        return ["range"]
    if "/" in text or urls._SCHEME.match(text):
        return ["url"]
    if _HOSTLIKE.fullmatch(text.translate(urls.IDEOGRAPHIC_DOTS)) and _valid("domain", raw, region):
        return ["domain", "url"]
    return ["keyword"]


def digit_prefixes(digits: str) -> list[str]:
    """Every prefix of `digits`: the `range_prefix` values a covering range can have."""
    return [digits[:n] for n in range(1, len(digits) + 1)]


def digit_candidates(kind: str, canonical: str) -> list[str]:
    """Digit strings that ranges are matched against.

    For a number (E.164): its digits, its national significant number and, where different,
    its national dialling form with the trunk prefix ("+861012345678" -> "861012345678",
    "1012345678", "01012345678"). For a code: the code. Other kinds: none."""
    if kind == "code":
        return [canonical]
    if kind != "number":
        return []
    cached = _NUMBER_CANDIDATES.get(canonical)
    if cached is None:
        if _cn_mobile(canonical, "") is not None:
            cached = (canonical[1:], canonical[3:])
        else:
            cached = _number_candidates(canonical, _parse_number(canonical, ""))
    return list(cached)


# Parsing is the dearest step of a bulk publish, and one number's candidates are asked for by
# the look-up, the range index and the allowlist check alike: canonical_number stores them
# from its own parse, so a published number is parsed once.
_NUMBER_CANDIDATES: dict[str, tuple[str, ...]] = {}
_NUMBER_CANDIDATES_MAX = 200_000


def _number_candidates(e164: str, number: phonenumbers.PhoneNumber) -> tuple[str, ...]:
    national = re.sub(r"\D", "", phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL))
    out = [e164.lstrip("+"), phonenumbers.national_significant_number(number)]
    if national and national not in out:
        out.append(national)
    return _remember_candidates(e164, tuple(out))


def _remember_candidates(e164: str, candidates: tuple[str, ...]) -> tuple[str, ...]:
    if len(_NUMBER_CANDIDATES) >= _NUMBER_CANDIDATES_MAX:
        _NUMBER_CANDIDATES.clear()
    _NUMBER_CANDIDATES[e164] = candidates
    return candidates
