"""Is this listed? Look-ups of any number of values in a constant number of queries.

A value is tried as the kind the caller named, or as every kind its shape allows. Numbers and
codes also match the ranges that cover them, URLs match URL entries by Safe Browsing expression
and domain entries for their host or a parent domain, and nothing the allowlist protects ever
matches (`index`: the matcher the message check uses too).
"""

from __future__ import annotations

import json
from typing import Any

from flask import Response

from ..config import current_settings
from ..context import current_actor
from ..exceptions import Invalid
from ..nodeindex.reader import NodeIndexReader, current_reader
from ..values.subjects import looks_like_resident_id
from ..values.trust import at_least
from .index import EntryIndex, Probe, guard, protected_keys

RESIDENT_ID = (
    "This value reads as a resident ID number, a person's identifier: it is not looked up or "
    "echoed as anything else. Send it only in a request body: POST /v1/subjects/screen, or "
    "POST /v1/lookup with kind=person."
)


def _as_person(query: dict[str, Any]) -> bool:
    """Whether the query's value is read as a person: named so, or given without a kind and
    shaped like a resident ID number (which is then hashed like one, never echoed)."""
    return query.get("kind") == "person" or (not query.get("kind") and looks_like_resident_id(query["value"]))


def lookup_many(
    queries: list[dict[str, Any]],
    *,
    from_body: bool = True,
    min_tier: str | None = None,
    node: NodeIndexReader | None = None,
) -> list[dict[str, Any]]:
    """One verdict per query (`{value, kind}`), in order. A person may be given by its
    identifier only `from_body` (a POST): it is hashed here, and its verdict names the hash,
    never the identifier (null when the identifier is not valid). With `min_tier`, only
    entries of that tier or above match. From the `node` index when given: its matches are
    then `store.Row`s (their look-up document)."""
    settings = current_settings()
    region = settings.default_region
    peppers = settings.subject_peppers if from_body else ()
    # A resident ID number given as another kind (a code, a keyword...) is not read at all.
    refused = [q.get("kind") not in (None, "person") and looks_like_resident_id(q["value"]) for q in queries]
    probes = [
        Probe() if no else Probe.of(q["value"], q.get("kind"), region, peppers=peppers)
        for q, no in zip(queries, refused, strict=True)
    ]
    index = EntryIndex.fetch(probes, whole=True, node=node)
    found = [
        [(entry, probe.keys) for entry in index.matching(probe) if at_least(entry.tier, min_tier)] for probe in probes
    ]
    # Only what matched needs the allowlist: a probe with no match is not listed either way.
    protected = protected_keys(
        {key for matches in found for entry, keys in matches for key in [(entry.kind, entry.value), *keys]}, region
    )
    verdicts = []
    for query, probe, matches, no in zip(queries, probes, found, refused, strict=True):
        entries = guard(matches, protected)
        value = query["value"]
        if no or _as_person(query):
            value = probe.candidates[0].value if probe.candidates else None
        verdict = {"value": value, "kind": query.get("kind"), "listed": bool(entries), "matches": entries}
        if no:
            verdict["error"] = RESIDENT_ID
        elif probe.error and not probe.candidates:
            verdict["error"] = probe.error
        verdicts.append(verdict)
    return verdicts


def _verdict_json(verdict: dict[str, Any], viewer: tuple[int | None, bool]) -> str:
    """A verdict as `VerdictSchema` dumps it, node index rows by their stored document (as the
    `viewer`, (org id, is regulator), is shown reports' evidence)."""
    head: dict[str, Any] = {key: verdict[key] for key in ("value", "kind", "listed")}
    if "error" in verdict:
        head["error"] = verdict["error"]
    matches = ",".join(m.doc_for(*viewer) for m in verdict["matches"])
    return json.dumps(head, ensure_ascii=False)[:-1] + ',"matches":[' + matches + "]}"


def _viewer() -> tuple[int | None, bool]:
    actor = current_actor()
    return actor.org_id, actor.is_regulator


def _json(text: str) -> Response:
    return Response(text, status=200, mimetype="application/json")


def lookup_batch(queries: list[dict[str, Any]], min_tier: str | None = None) -> dict[str, Any] | Response:
    """`POST /v1/lookup`'s answer: from the node index when this node has one (the JSON text
    built here, the documents as stored), else from the database (for the response schema)."""
    node = current_reader()
    verdicts = lookup_many(queries, min_tier=min_tier, node=node)
    if node is None:
        return {"results": verdicts}
    viewer = _viewer()
    return _json('{"results":[' + ",".join(_verdict_json(v, viewer) for v in verdicts) + "]}")


def lookup_one(value: str, kind: str | None, min_tier: str | None = None) -> dict[str, Any] | Response:
    """A look-up by URL: a person only by its hash (an identifier there is a 422 that does not
    quote it), and a value that reads as a resident ID number, whatever its kind, is a 422 that
    says where to send it instead (a URL ends up in access logs)."""
    if kind != "person" and looks_like_resident_id(value):
        raise Invalid(RESIDENT_ID, errors={"value": [RESIDENT_ID]})
    node = current_reader()
    verdict = lookup_many([{"value": value, "kind": kind}], from_body=False, min_tier=min_tier, node=node)[0]
    if kind and verdict.get("error"):
        raise Invalid(verdict["error"], errors={"value": [verdict["error"]]})
    return verdict if node is None else _json(_verdict_json(verdict, _viewer()))
