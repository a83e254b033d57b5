"""Hostile input in every parameter of every operation: never a 5xx, every error a problem.

The schemathesis module generates values from the spec; it rarely produces the inputs that break
a service in production: NUL and lone surrogates (PostgreSQL text cannot hold them), bytes that
are not UTF-8, 100 KB strings, numbers no column can hold, cursors that decode to the wrong
types, JSON nested a thousand deep, bodies of thousands of unknown keys or over-long lists. This
module walks the app's own OpenAPI spec and sends each of those, one parameter at a time, to
every query and path parameter and every property of every JSON body, as a regulator (every
scope, so authorization does not hide the handlers). Arbitrary JSON cursors come from
hypothesis, derandomised like the schemathesis module (BLOCKLIST_FUZZ_EXAMPLES explores
further). Run it on PostgreSQL too: that is where NUL and wrong-typed cursors used to 500.
"""

from __future__ import annotations

import base64
import json
import os
import re
from urllib.parse import quote

import pytest
from conftest import TEST_CONFIG
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from blocklist import create_app

SPEC = create_app({**TEST_CONFIG, "database_url": "sqlite://"}).test_client().get("/openapi.json").json
METHODS = {"get", "post", "put", "patch", "delete"}


def b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def cursor_of(value) -> str:
    return b64(json.dumps(value).encode())


CURSOR_VALUES = [
    ["abc"],
    [2**70],
    [None],
    [True],
    [[1]],
    {},
    "x",
    [1.5],
    [-1],
    [2**63],
    ["a\x00"],
    ["\ud800"],
    ["t" * 5000],
    [{"t": "x"}],
    [{"t": "2020-01-01T00:00:00"}],
    [1, 2],
    [],
    json.loads("[" * 100 + "1" + "]" * 100),
]
# Raw (already percent-encoded) text for a query value or a path segment.
HOSTILE_TEXT = {
    "nul": "%00",
    "nul-inside": "ab%00cd",
    "tag-with-nul": "fraud:a%00b",
    "utf8-surrogate": "%ED%A0%80",
    "not-utf8": "%FF%FE",
    "overlong-nul": "%C0%80",
    "100kb": "a" * 100_000,
    "huge-int": "9" * 40,
    "2**63": str(2**63),
    "negative": "-1",
    "negative-huge": "-" + "9" * 30,
    "float": "1e400",
    "nan": "NaN",
    "empty": "",
    "space": "%20",
    "bidi-zero-width": quote("\u202e\u200b"),
    "control": "%01%1F%7F",
    "date-underflow": quote("0001-01-01T00:00:00+14:00"),
    "date-overflow": quote("9999-12-31T23:59:59-14:00"),
    "not-base64": "!!!not-base64!!!",
    "percent": "%25%25",
    "slash": "..%2F..%2F",
    "json": quote('{"a":[1]}'),
    "feed-cursor-huge": b64(b"v1:" + b"9" * 19),
    "feed-cursor-negative": b64(b"v1:-1"),
    "feed-cursor-nul": b64(b"v1:\x00"),
    "b64-not-utf8": b64(b"\xff\xfe\xfd"),
    **{f"cursor-{json.dumps(v)[:24]}": cursor_of(v) for v in CURSOR_VALUES},
}
# No parameter may hold these on any database (PostgreSQL text cannot), so they must be refused
# even where SQLite would have stored them.
NEVER_STORABLE = {"nul", "nul-inside", "tag-with-nul"}
# JSON values for a body property.
HOSTILE_VALUES = {
    "nul": "a\x00b",
    "surrogate": "\ud800x",
    "100kb": "x" * 100_000,
    "huge-int": 2**70,
    "negative": -1,
    "infinity": float("inf"),
    "nan": float("nan"),
    "null": None,
    "true": True,
    "empty-object": {},
    "deep": json.loads("[" * 40 + "]" * 40),
    "long-list": [{}] * 20_000,
    "long-list-of-strings": ["a"] * 20_000,
    "unknown-keys": {f"k{i}": 0 for i in range(2000)},
    "date-underflow": "0001-01-01T00:00:00+14:00",
    "date-overflow": "9999-12-31T23:59:59-14:00",
    "bidi": "\u202e\u200b\uff10",
}
# Whole request bodies (bytes, sent as application/json).
HOSTILE_BODIES = {
    "deep-arrays": b"[" * 1000 + b"]" * 1000,
    "deep-objects": b'{"a":' * 1000 + b"1" + b"}" * 1000,
    "deep-utf16": ("[" * 1000 + "]" * 1000).encode("utf-16"),
    "deep-inside-string-then-real": b'{"a": "[[[[", "b":' + b"[" * 500 + b"]" * 500 + b"}",
    "unknown-keys": json.dumps({f"k{i:05d}": 0 for i in range(20_000)}).encode(),
    "long-list": json.dumps([{}] * 20_000).encode(),
    "nul-key": b'{"\\u0000": 1}',
    "surrogate-value": b'{"a": "\\udfff"}',
    "not-utf8": b"\xff\xfe\xfd",
    "string": b'"x"',
    "null": b"null",
    "nan": b"NaN",
    "empty": b"",
}


def _operations():
    for path, item in SPEC["paths"].items():
        for method, operation in item.items():
            if method in METHODS:
                yield method, path, operation.get("parameters", []) + item.get("parameters", []), operation


def _resolve(schema: dict) -> dict:
    while "$ref" in schema:
        schema = SPEC["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
    return schema


PARAMETERS = [
    pytest.param(method, path, p["name"], p["in"], id=f"{method.upper()} {path} {p['in']}:{p['name']}")
    for method, path, params, _ in _operations()
    for p in params
]
BODIES = [
    pytest.param(
        method,
        path,
        _resolve(op["requestBody"]["content"]["application/json"]["schema"]),
        id=f"{method.upper()} {path}",
    )
    for method, path, _, op in _operations()
    if "application/json" in op.get("requestBody", {}).get("content", {})
]


def test_the_walk_covers_the_api():
    """Guard against an empty or shrunken walk (a spec change that hides operations)."""
    assert len(PARAMETERS) >= 60 and len(BODIES) >= 15
    assert any("{client_id}" in p.values[1] for p in PARAMETERS)


@pytest.fixture
def caller(auth, client):
    """A regulator's headers and real ids for the path parameters not under test."""
    regulator = auth.org("regulator")
    headers = auth.headers(regulator)
    entry = client.post("/v1/entries", json={"kind": "code", "value": "10687415"}, headers=headers)
    assert entry.status_code == 201, entry.get_data(as_text=True)
    ids = {"org_id": regulator.org_id, "client_id": regulator.client_id, "entry_id": entry.json["id"]}
    return headers, ids


def _url(path: str, ids: dict, hostile: dict[str, str], query: dict[str, str]) -> str:
    url = re.sub(r"\{(\w+)\}", lambda m: hostile.get(m.group(1), str(ids.get(m.group(1), 1))), path)
    return url + ("?" + "&".join(f"{k}={v}" for k, v in query.items()) if query else "")


def _verdict(response, label: str) -> str | None:
    """None when the answer is acceptable: below 500, and a problem document (a TAXII error on
    the TAXII routes) if an error."""
    if response.status_code >= 500:
        return f"{label}: {response.status_code} {response.get_data(as_text=True)[:200]}"
    if response.status_code >= 400 and response.mimetype == "application/taxii+json":
        # TAXII 2.1 routes answer in TAXII's error shape (§3.6.1), not as problems.
        body = json.loads(response.get_data())
        if body.get("http_status") != str(response.status_code) or not body.get("title"):
            return f"{label}: not a TAXII error: {str(body)[:200]}"
    elif response.status_code >= 400:
        if response.mimetype != "application/problem+json":
            return f"{label}: {response.status_code} as {response.mimetype}"
        body = json.loads(response.get_data())
        if body.get("status") != response.status_code or not body.get("title"):
            return f"{label}: not a problem document: {str(body)[:200]}"
    return None


@pytest.mark.parametrize("method,path,name,where", PARAMETERS)
def test_hostile_value_in_every_parameter(client, caller, method, path, name, where):
    headers, ids = caller
    failures = []
    for label, text in HOSTILE_TEXT.items():
        url = _url(path, ids, {name: text}, {}) if where == "path" else _url(path, ids, {}, {name: text})
        response = client.open(url, method=method.upper(), headers=headers)
        failures.append(_verdict(response, f"{label} in {name}"))
        if label in NEVER_STORABLE and response.status_code < 400:
            failures.append(f"{label} in {name}: accepted with {response.status_code}")
    assert not [f for f in failures if f], failures


@pytest.mark.parametrize("method,path,schema", BODIES)
def test_hostile_json_bodies(client, caller, method, path, schema):
    headers, ids = caller
    url = _url(path, ids, {}, {})
    sent = {f"body {label}": raw for label, raw in HOSTILE_BODIES.items()}
    for prop in schema.get("properties", {}):
        for label, value in HOSTILE_VALUES.items():
            sent[f"{label} in {prop}"] = json.dumps({prop: value}).encode()
            if _resolve(schema["properties"][prop]).get("type") == "array":  # hostile items too
                sent[f"[{label}] in {prop}"] = json.dumps({prop: [value]}).encode()
    failures = [
        _verdict(
            client.open(url, method=method.upper(), data=raw, headers={**headers, "Content-Type": "application/json"}),
            label,
        )
        for label, raw in sent.items()
    ]
    assert not [f for f in failures if f], failures


CURSOR_PARAMETERS = [
    p for p in PARAMETERS if p.values[2] == "cursor" or (p.values[2] == "since" and "/feed/" in p.values[1])
]
FUZZ_EXAMPLES = os.environ.get("BLOCKLIST_FUZZ_EXAMPLES")
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=8,
)


@pytest.mark.parametrize("method,path,name,where", CURSOR_PARAMETERS)
def test_arbitrary_cursors_are_refused_or_honoured(client, caller, method, path, name, where):
    headers, ids = caller

    @settings(
        max_examples=int(FUZZ_EXAMPLES or 30),
        derandomize=not FUZZ_EXAMPLES,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        database=None,
    )
    @given(value=JSON_VALUES | st.lists(JSON_VALUES, min_size=1, max_size=2) | st.binary(max_size=40))
    def check(value):
        raw = value if isinstance(value, bytes) else json.dumps(value).encode()
        response = client.open(_url(path, ids, {}, {name: b64(raw)}), method="GET", headers=headers)
        assert _verdict(response, f"cursor {value!r}") is None

    check()


def test_oauth_form_endpoints_refuse_hostile_fields(client, auth):
    """The OAuth endpoints take form bodies and HTTP Basic credentials, outside the spec."""
    creds = auth.org("carrier")
    token = auth.token(creds)
    strings = {"nul": "a\x00b", "surrogate-free-nul": "\x00", "100kb": "x" * 100_000, "bidi": "\u202e"}
    failures = []
    for path in ("/oauth/token", "/oauth/revoke", "/oauth/introspect"):
        base = {"grant_type": "client_credentials", "token": token}
        for field in ("grant_type", "client_id", "client_secret", "scope", "token", "token_type_hint"):
            for label, text in strings.items():
                form = {**base, field: text}
                response = client.post(path, data=form, auth=(creds.client_id, creds.client_secret))
                failures.append(_verdict(response, f"{path} {label} in {field}"))
        for label, text in strings.items():
            for basic in ((text, creds.client_secret), (creds.client_id, text)):
                response = client.post(path, data=base, auth=basic)
                failures.append(_verdict(response, f"{path} {label} in Basic credentials"))
    assert not [f for f in failures if f], failures
