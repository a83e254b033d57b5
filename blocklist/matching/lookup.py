"""Is this listed? Look-ups of any number of values in a constant number of queries.

A value is tried as the kind the caller named, or as every kind its shape allows. Numbers and
codes also match the ranges that cover them, URLs match URL entries by Safe Browsing expression
and domain entries for their host or a parent domain, and nothing the allowlist protects ever
matches (`index`: the matcher the message check uses too).
"""

from __future__ import annotations

from typing import Any

from ..config import current_settings
from ..exceptions import Invalid
from ..values.trust import at_least
from .index import EntryIndex, Probe, guard, protected_keys


def lookup_many(
    queries: list[dict[str, Any]], *, from_body: bool = True, min_tier: str | None = None
) -> list[dict[str, Any]]:
    """One verdict per query (`{value, kind}`), in order. A person may be given by its
    identifier only `from_body` (a POST): it is hashed here, and its verdict names the hash,
    never the identifier (null when the identifier is not valid). With `min_tier`, only
    entries of that tier or above match."""
    settings = current_settings()
    region = settings.default_region
    peppers = settings.subject_peppers if from_body else ()
    probes = [Probe.of(q["value"], q.get("kind"), region, peppers=peppers) for q in queries]
    index = EntryIndex.fetch(probes, whole=True)
    found = [
        [(entry, probe.keys) for entry in index.matching(probe) if at_least(entry.tier, min_tier)] for probe in probes
    ]
    # Only what matched needs the allowlist: a probe with no match is not listed either way.
    protected = protected_keys(
        {key for matches in found for entry, keys in matches for key in [(entry.kind, entry.value), *keys]}, region
    )
    verdicts = []
    for query, probe, matches in zip(queries, probes, found, strict=True):
        entries = guard(matches, protected)
        value = query["value"]
        if query.get("kind") == "person":
            value = probe.candidates[0].value if probe.candidates else None
        verdict = {"value": value, "kind": query.get("kind"), "listed": bool(entries), "matches": entries}
        if probe.error and not probe.candidates:
            verdict["error"] = probe.error
        verdicts.append(verdict)
    return verdicts


def lookup_one(value: str, kind: str | None, min_tier: str | None = None) -> dict[str, Any]:
    """A look-up by URL: a person only by its hash (an identifier there is a 422 that does not
    quote it)."""
    verdict = lookup_many([{"value": value, "kind": kind}], from_body=False, min_tier=min_tier)[0]
    if kind and verdict.get("error"):
        raise Invalid(verdict["error"], errors={"value": [verdict["error"]]})
    return verdict
