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
from .index import EntryIndex, Probe, guard, protected_keys


def lookup_many(queries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One verdict per query (`{value, kind}`), in order."""
    region = current_settings().default_region
    probes = [Probe.of(q["value"], q.get("kind"), region) for q in queries]
    index = EntryIndex.fetch(probes, whole=True)
    found = [[(entry, probe.keys) for entry in index.matching(probe)] for probe in probes]
    # Only what matched needs the allowlist: a probe with no match is not listed either way.
    protected = protected_keys(
        {key for matches in found for entry, keys in matches for key in [(entry.kind, entry.value), *keys]}, region
    )
    verdicts = []
    for query, probe, matches in zip(queries, probes, found, strict=True):
        entries = guard(matches, protected)
        verdict = {"value": query["value"], "kind": query.get("kind"), "listed": bool(entries), "matches": entries}
        if probe.error and not probe.candidates:
            verdict["error"] = probe.error
        verdicts.append(verdict)
    return verdicts


def lookup_one(value: str, kind: str | None) -> dict[str, Any]:
    verdict = lookup_many([{"value": value, "kind": kind}])[0]
    if kind and verdict.get("error"):
        raise Invalid(verdict["error"], errors={"value": [verdict["error"]]})
    return verdict
