"""What a wide value (a range, keyword or domain) covers, and how wide a value may be by its
shape alone: the pure rules behind the breadth limits (`entries/breadth.py` applies them)."""

from __future__ import annotations

from functools import lru_cache

from .canonical import CanonicalValue
from .folding import fold, variant_key
from .normalise import RANGE_MAX_LENGTH, digit_candidates, range_matches
from .subjects import SUBJECT_KINDS


def range_span(prefix: str, length: int | None) -> int:
    """How many digit strings the range covers: 10^(x's) for `prefix` + x's; for an open range
    (`prefix*`) every continuation up to the longest digits a range matches (20)."""
    if length is not None:
        return 10 ** (length - len(prefix))
    return sum(10**k for k in range(RANGE_MAX_LENGTH - len(prefix) + 1))


def shape_errors(value: CanonicalValue, *, max_span: int, min_keyword_chars: int) -> str | None:
    """Why a non-regulator may not publish this canonical value by its shape alone, or None."""
    kind = value.kind
    if kind == "range":
        assert value.range_prefix is not None  # every canonical range has one
        span = range_span(value.range_prefix, value.range_length)
        if span > max_span:
            return (
                f"This range covers {span:,} numbers; a range may cover at most {max_span:,} "
                "(list the numbers or a narrower range, or ask a regulator)."
            )
    elif kind == "keyword" and len(value.value) < min_keyword_chars:
        return (
            f"A keyword needs at least {min_keyword_chars} letters or digits; shorter ones "
            "match legitimate messages (ask a regulator for a shorter one)."
        )
    return None


def range_covers(prefix: str, length: int | None, kind: str, value: str) -> bool:
    """Whether the range matches the number or code `value` (any of its digit forms)."""
    return any(range_matches(prefix, length, digits) for digits in digit_candidates(kind, value))


@lru_cache(maxsize=4096)
def _folded_text(kind: str, value: str) -> str:
    """The text a keyword is matched against in a value; cached, since a publish tests every
    keyword it carries against the same few hundred allowlisted values."""
    return variant_key(value if kind == "keyword" else fold(value))


def keyword_covers(keyword: str, kind: str, value: str) -> bool:
    """Whether the folded keyword occurs in the folded text of the value: a message naming the
    value (quoting the phrase, the number, the domain) would match the keyword."""
    return variant_key(keyword) in _folded_text(kind, value)


def domain_covers(domain: str, kind: str, value: str, match_key: str | None) -> bool:
    """Whether a domain entry would match this domain or URL (the domain or a parent of its host)."""
    host = value if kind == "domain" else (match_key or "").split("/", 1)[0]
    return host == domain or host.endswith("." + domain)


def covers(item: CanonicalValue, kind: str, value: str, match_key: str | None = None) -> bool:
    """Whether the published canonical value `item` covers the value (kind, value)."""
    if item.kind == "range":
        assert item.range_prefix is not None  # every canonical range has one
        return kind in ("number", "code") and range_covers(item.range_prefix, item.range_length, kind, value)
    if item.kind == "keyword":
        # A subject matches only itself: no message names a USCC or an identifier's hash.
        return kind not in SUBJECT_KINDS and keyword_covers(item.value, kind, value)
    if item.kind == "domain":
        return kind in ("domain", "url") and domain_covers(item.value, kind, value, match_key)
    return False
