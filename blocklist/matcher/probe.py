"""What a value can match: a looked-up value read as every kind its shape allows, a message's
sender read as a number and/or a code, a link found in a message read as a URL.

A `Probe` holds the exact `(kind, value)` pairs it matches (with a URL's or domain's host
suffixes down to the registrable domain), the digit strings covering ranges are matched
against, and a URL's Safe Browsing expressions. Whoever holds the entries (the server's indexed
query, a mirror's in-memory index) finds them by these keys; `index.ActiveIndex.matching`
decides what applies."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache

from ..values.canonical import CanonicalValue, canonical_url_value, canonicalise, domain_and_parents
from ..values.kinds import InvalidValue
from ..values.normalise import digit_candidates, guess_kinds
from ..values.urls import canonicalize_url, find_urls, url_expressions, url_host

SENDER_KINDS = ("number", "code")


@dataclass
class Probe:
    """What one value can match."""

    candidates: list[CanonicalValue] = field(default_factory=list)
    exact: set[tuple[str, str]] = field(default_factory=set)
    digits: list[str] = field(default_factory=list)
    url_keys: set[str] = field(default_factory=set)
    error: str | None = None

    def add(self, canonical: CanonicalValue) -> None:
        self.candidates.append(canonical)
        self.exact.add((canonical.kind, canonical.value))
        # A person hashed with retired peppers too (values/subjects.py: rotation).
        self.exact.update((canonical.kind, alt) for alt in canonical.alternates)
        if canonical.kind in ("number", "code"):
            self.digits.extend(d for d in digit_candidates(canonical.kind, canonical.value) if d not in self.digits)
        elif canonical.kind == "url":
            self.url_keys.update(url_expressions(canonical.value))
            self.exact.update(("domain", d) for d in domain_and_parents(url_host(canonical.value)))
        elif canonical.kind == "domain":
            self.exact.update(("domain", d) for d in domain_and_parents(canonical.value))

    @classmethod
    def of(
        cls,
        value: str,
        kind: str | None,
        region: str,
        kinds: Sequence[str] | None = None,
        peppers: Sequence[str] = (),
    ) -> Probe:
        """`value` read as `kind`, or as every kind its shape allows (only those in `kinds`, if
        given); `error` says why when no reading is valid. With `peppers` (a request body) a
        person may be given by its identifier, hashed here; without, only by its hash."""
        probe, errors = cls(), []
        for candidate_kind in [kind] if kind else guess_kinds(value, region=region):
            if kinds is not None and candidate_kind not in kinds:
                continue
            try:
                probe.add(canonicalise(candidate_kind, value, region, peppers))
            except InvalidValue as error:
                errors.append(str(error))
        if not probe.candidates and errors:
            probe.error = errors[0]
        return probe

    @property
    def keys(self) -> list[tuple[str, str]]:
        """The probe's own (kind, value) readings: on the allowlist, they cancel its matches."""
        return [(c.kind, v) for c in self.candidates for v in (c.value, *c.alternates)]


@lru_cache(maxsize=16384)  # a few MiB at most
def sender_probe(sender: str, region: str) -> Probe:
    """The sender read as a number and/or a code (as a look-up reads a value given without a
    kind). Pure, so cached: parsing phone numbers is the costliest part of a check and senders
    repeat. (Callers must not change the probe.)"""
    return Probe.of(sender, None, region, kinds=SENDER_KINDS)


@dataclass(frozen=True)
class Link:
    """A link found in the text: where, and the probe of its canonical URL."""

    span: tuple[int, int]
    url: str
    probe: Probe

    @classmethod
    def found_in(cls, text: str) -> list[Link]:
        links = []
        for start, end, raw in find_urls(text):
            if (read := link_probe(raw)) is not None:
                links.append(cls((start, end), *read))
        return links


@lru_cache(maxsize=16384)
def link_probe(raw: str) -> tuple[str, Probe] | None:
    """A link as found in text: its canonical URL and probe, or None when it is no valid URL.
    Pure, so cached: a campaign sends one link in many messages. (Callers must not change the
    probe.)"""
    try:
        url = canonicalize_url(raw)
    except InvalidValue:
        return None
    probe = Probe()
    probe.add(canonical_url_value(url))
    return url, probe
