"""The spec is complete, so a client generated from it is: every route the app serves is in it
with every method, and every header a route reads or sends (seen on real requests, not
listed by hand) is declared on that operation. The RFC 8414 metadata is served, valid for
Authlib's own validator, and names the endpoints the app really serves."""

from __future__ import annotations

import base64
from collections import defaultdict

import pytest
from authlib.oauth2.rfc8414 import AuthorizationServerMetadata
from conftest import TEST_CONFIG, AuthHelper, Credentials
from flask import request
from openapi_spec_validator import validate
from werkzeug.datastructures import EnvironHeaders

from blocklist import create_app

METHODS = {"get", "put", "post", "delete", "patch"}
# Served but not API operations: the docs page, its assets and the spec itself.
NOT_OPERATIONS = {"static", "swagger_assets", "api-docs.openapi_json", "api-docs.openapi_swagger_ui"}

# Request headers that are HTTP framing or negotiation, or documented once for the whole API
# rather than per operation: Authorization is each operation's `security`; X-Request-Id and the
# X-Forwarded-* of trusted proxies are in the spec's description.
GENERIC_REQUEST = {
    "authorization",
    "content-type",
    "content-length",
    "transfer-encoding",
    "host",
    "accept-encoding",
    "x-request-id",
    "x-forwarded-for",
    "x-forwarded-proto",
    "x-forwarded-host",
}
# Response headers likewise: content framing and caching (Authlib's Pragma: no-cache on OAuth
# answers, RFC 6749 5.1), and X-Request-Id (on every answer).
GENERIC_RESPONSE = {
    "pragma",
    "content-type",
    "content-length",
    "content-encoding",
    "vary",
    "cache-control",
    "x-content-type-options",
    "x-request-id",
}


@pytest.fixture(scope="module")
def spec(app):
    return app.test_client().get("/openapi.json").json


def test_the_spec_is_valid_openapi_3_1(spec):
    assert spec["openapi"] == "3.1.0"
    validate(spec)


def test_every_route_is_in_the_spec_with_every_method(app, spec):
    missing = []
    for rule in app.url_map.iter_rules():
        if rule.endpoint in NOT_OPERATIONS:
            continue
        path = rule.rule
        for argument in rule.arguments:
            path = path.replace(f"<{argument}>", "{" + argument + "}")
            for converter in ("int", "string", "path"):
                path = path.replace(f"<{converter}:{argument}>", "{" + argument + "}")
        item = spec["paths"].get(path, {})
        for method in sorted(m.lower() for m in rule.methods or ()):
            if method in METHODS and method not in item:
                missing.append(f"{method.upper()} {path}")
    assert not missing, f"routes missing from the spec: {missing}"


def _declared_parameters(spec, path: str, method: str) -> set[str]:
    item = spec["paths"][path]
    return {
        p["name"].lower()
        for p in [*item.get("parameters", []), *item[method].get("parameters", [])]
        if p.get("in") == "header"
    }


def _declared_response(spec, path: str, method: str, status: int) -> dict:
    responses = spec["paths"][path][method]["responses"]
    response = responses.get(str(status)) or responses.get(f"{str(status)[0]}XX")
    assert response is not None, f"{method.upper()} {path} answered {status}, which the spec does not list"
    if "$ref" in response:
        response = spec["components"]["responses"][response["$ref"].rsplit("/", 1)[1]]
    return response


@pytest.fixture
def observed(database_url, monkeypatch):
    """(app, client, auth, seen): a fresh app whose every request records the headers it read
    and sent, by (path template, method, status)."""
    seen: dict[tuple[str, str, int], dict[str, set[str]]] = defaultdict(
        lambda: {"read": set(), "sent": set(), "media": set()}
    )
    reads: list[str] = []
    original = EnvironHeaders._get_key

    def recording(self, key):
        reads.append(key.lower())
        return original(self, key)

    monkeypatch.setattr(EnvironHeaders, "_get_key", recording)
    observed_app = create_app({**TEST_CONFIG, "database_url": database_url})

    @observed_app.before_request
    def start() -> None:
        reads.clear()

    @observed_app.after_request
    def note(response):
        if request.url_rule is not None and request.endpoint not in NOT_OPERATIONS:
            path = request.url_rule.rule
            for argument in request.url_rule.arguments:
                path = path.replace(f"<int:{argument}>", "{" + argument + "}").replace(
                    f"<string:{argument}>", "{" + argument + "}"
                )
            record = seen[(path, request.method.lower(), response.status_code)]
            record["read"].update(reads)
            record["sent"].update(name.lower() for name in response.headers.keys())
            if response.mimetype and response.status_code not in (204, 304):
                record["media"].add(response.mimetype)
        return response

    client = observed_app.test_client()
    return observed_app, client, AuthHelper(observed_app, client), seen


def _basic(creds) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{creds.client_id}:{creds.client_secret}".encode()).decode()}


def _exercise(client, auth) -> None:
    """Every kind of request a client makes, with the headers the API defines."""
    carrier, regulator, consumer = auth.org("carrier"), auth.org("regulator"), auth.org("consumer")
    c, r, f = auth.headers(carrier), auth.headers(regulator), auth.headers(consumer)
    for path in ("/healthz", "/readyz", "/metrics", "/.well-known/oauth-authorization-server"):
        client.get(path)
    form = {"grant_type": "client_credentials"}
    token = client.post("/oauth/token", data=form, headers=_basic(carrier)).json["access_token"]
    nobody = Credentials(0, "carrier", "blc_nobody", "wrong")
    client.post("/oauth/token", data=form, headers=_basic(nobody))  # 401
    client.post("/oauth/introspect", data={"token": token}, headers=_basic(carrier))
    client.post("/oauth/revoke", data={"token": token}, headers=_basic(carrier))
    client.get("/v1/entries")  # 401

    item = {"kind": "code", "value": "10687415", "tags": ["fraud:ticket-scam"]}
    first = client.post("/v1/entries", json=item, headers={**c, "Idempotency-Key": "k-1"})
    client.post("/v1/entries", json=item, headers={**c, "Idempotency-Key": "k-1"})  # replayed
    client.post("/v1/entries", json=item, headers={**c, "Idempotency-Key": "bad key \x7f"})  # 400
    entry_id, etag = first.json["id"], first.headers["ETag"]
    bulk = {"items": [{"kind": "range", "value": "952750xx"}, {"kind": "keyword", "value": "安 全 账 户"}]}
    client.post("/v1/entries/bulk", json=bulk, headers={**c, "Idempotency-Key": "k-2"})
    client.post("/v1/entries/bulk", json=bulk, headers={**c, "Idempotency-Key": "k-2"})
    client.get("/v1/entries", headers=c)
    client.get(f"/v1/entries/{entry_id}", headers=c)
    client.get("/v1/entries/999999", headers=c)
    client.patch(f"/v1/entries/{entry_id}", json={"add_tags": ["channel:sms"]}, headers={**c, "If-Match": etag})
    client.patch(f"/v1/entries/{entry_id}", json={"add_tags": ["source:12321"]}, headers={**c, "If-Match": etag})
    client.get("/v1/lookup", query_string={"value": "95275012"}, headers=c)
    client.post("/v1/lookup", json={"values": [{"value": "10687415"}]}, headers=c)
    client.post("/v1/check", json={"sender": "10687415", "text": "转入安 全 账 户"}, headers=c)
    client.get("/v1/tags", headers=c)
    app_maker = auth.headers(auth.org("internet"))
    dispute = client.post(f"/v1/entries/{entry_id}/disputes", json={"reason": "reassigned"}, headers=app_maker)
    client.post(f"/v1/entries/{entry_id}/disputes", json={"reason": "again"}, headers=app_maker)  # 409
    client.get("/v1/disputes", headers=r)
    client.post(f"/v1/disputes/{dispute.json['id']}/resolve", json={"resolution": "upheld"}, headers=r)
    allowed = client.post("/v1/allowlist", json={"kind": "code", "value": "95588", "reason": "ICBC"}, headers=r)
    client.post("/v1/entries", json={"kind": "code", "value": "95588"}, headers=c)  # 409
    client.get("/v1/allowlist", headers=c)
    client.delete(f"/v1/allowlist/{allowed.json['id']}", headers=r)
    client.post(f"/v1/entries/{entry_id}/withdraw", json={}, headers=c)
    client.post(f"/v1/entries/{entry_id}/withdraw", json={}, headers=c)  # 409
    client.post(f"/v1/entries/{entry_id}/expire", json={"reason": "recycled"}, headers=r)
    client.post(f"/v1/entries/{entry_id}/revoke", json={"reason": "wrong"}, headers=r)

    snapshot = client.get("/v1/feed/snapshot", headers={**f, "Accept-Encoding": "gzip"})
    snapshot.get_data()
    snapshot.close()
    client.get("/v1/feed/snapshot", headers={**f, "If-None-Match": snapshot.headers["ETag"]}).close()
    client.get("/v1/feed/changes", query_string={"since": snapshot.headers["X-Blocklist-Cursor"]}, headers=f)
    client.get("/v1/feed/changes", query_string={"since": "not-a-cursor"}, headers=f)
    client.get("/v1/feed/checksum", headers=f)
    taxii_headers = {**_basic(consumer), "Accept": "application/taxii+json;version=2.1"}
    for path in ("/taxii2/", "/taxii2/blocklist/", "/taxii2/blocklist/collections/", "/taxii2/nope/"):
        client.get(path, headers=taxii_headers)
    client.get("/taxii2/", headers={**taxii_headers, "Accept": "text/html"})  # 406
    client.get("/taxii2/")  # 401
    collections = client.get("/taxii2/blocklist/collections/", headers=taxii_headers).json["collections"]
    everything = f"/taxii2/blocklist/collections/{collections[-1]['id']}"
    client.get(everything + "/", headers=taxii_headers)
    page = client.get(everything + "/objects/", headers=taxii_headers, query_string={"limit": 1}).json
    client.get(everything + "/objects/", headers=taxii_headers, query_string={"limit": "x"})  # 400
    client.get(everything + "/manifest/", headers=taxii_headers)
    object_id = page["objects"][0]["id"]
    client.get(f"{everything}/objects/{object_id}/", headers=taxii_headers)
    client.get(f"{everything}/objects/{object_id}/versions/", headers=taxii_headers)
    client.get(f"{everything}/objects/indicator--00000000-0000-5000-8000-000000000000/", headers=taxii_headers)
    manifest = client.get("/v1/export/misp/manifest.json", headers=f)
    client.get("/v1/export/misp/manifest.json", headers={**f, "If-None-Match": manifest.headers["ETag"]})
    client.get("/v1/export/misp/hashes.csv", headers=_basic(consumer)).close()
    client.get(f"/v1/export/misp/{next(iter(manifest.json))}.json", headers=f).close()
    client.get("/v1/export/misp/00000000-0000-0000-0000-000000000000.json", headers=f)  # 404
    client.get("/v1/export/rpz", headers=f, query_string={"zone": "rpz.example.org"}).close()
    client.get("/v1/export/rpz", headers=f, query_string={"zone": "bad zone"})  # 400
    client.get("/v1/export/hosts", headers=f).close()
    client.get("/v1/export/code.txt", headers={**f, "Accept-Encoding": "gzip"}).close()
    client.get("/v1/export/nope.txt", headers=f)  # 404
    client.get("/v1/export/hosts")  # 401

    org = client.post("/v1/orgs", json={"name": "Example Mobile", "kind": "carrier"}, headers=r).json
    client.get("/v1/orgs", headers=r)
    client.get(f"/v1/orgs/{org['id']}", headers=r)
    new = client.post(f"/v1/orgs/{org['id']}/clients", json={"name": "interception"}, headers=r).json
    client.get(f"/v1/orgs/{org['id']}/clients", headers=r)
    client.post(f"/v1/orgs/{org['id']}/clients/{new['client_id']}/rotate", headers=r)
    client.delete(f"/v1/orgs/{org['id']}/clients/{new['client_id']}", headers=r)
    client.post(f"/v1/orgs/{org['id']}/suspend", json={}, headers=r)
    client.post(f"/v1/orgs/{org['id']}/reinstate", json={}, headers=r)
    audit = auth.headers(regulator)
    client.get("/v1/audit", headers=audit)
    client.get("/v1/audit/checkpoints", headers=audit)
    client.get("/v1/audit/999999", headers=audit)  # 404
    client.get("/v1/orgs/999999", headers=r)  # 404
    client.post("/v1/orgs", json={"name": "Example Mobile", "kind": "carrier"}, headers=r)  # 409


def test_every_header_and_body_type_a_route_reads_or_sends_is_declared(observed, spec):
    _app, client, auth, seen = observed
    _exercise(client, auth)
    assert len({(path, method) for path, method, _ in seen}) >= 35  # the scenario reached the API
    undeclared = []
    for (path, method, status), headers in sorted(seen.items()):
        for name in sorted(headers["read"] - GENERIC_REQUEST - _declared_parameters(spec, path, method)):
            undeclared.append(f"{method.upper()} {path}: request header {name}")
        declared = _declared_response(spec, path, method, status)
        sent = headers["sent"] - GENERIC_RESPONSE
        for name in sorted(sent - {name.lower() for name in declared.get("headers", {})}):
            undeclared.append(f"{method.upper()} {path} {status}: response header {name}")
        for media in sorted(headers["media"] - set(declared.get("content", {}))):
            undeclared.append(f"{method.upper()} {path} {status}: body of type {media}")
    assert not undeclared, "\n".join(undeclared)
    # The headers this API defines were really exercised above.
    read = set().union(*(h["read"] for h in seen.values()))
    sent = set().union(*(h["sent"] for h in seen.values()))
    assert {"idempotency-key", "if-match", "if-none-match"} <= read
    assert {"etag", "idempotent-replayed", "x-blocklist-cursor", "www-authenticate"} <= sent


def test_entry_routes_declare_their_error_answers(spec):
    entry = spec["paths"]["/v1/entries/{entry_id}"]
    assert {"404", "412"} <= set(entry["patch"]["responses"])
    assert "404" in entry["get"]["responses"]
    for action in ("withdraw", "expire", "revoke", "disputes"):
        assert {"404", "409"} <= set(spec["paths"][f"/v1/entries/{{entry_id}}/{action}"]["post"]["responses"])
    for path in ("/v1/entries", "/v1/entries/bulk"):
        assert "409" in spec["paths"][path]["post"]["responses"]
    for responses in (entry["get"]["responses"], spec["paths"]["/readyz"]["get"]["responses"]):
        assert "retry-after" in {h.lower() for h in responses["503"]["headers"]}
    assert spec["paths"]["/metrics"]["get"]["responses"]["200"]["content"].keys() == {"text/plain"}


def test_request_examples_tell_the_seeds_story(spec):
    publish = spec["paths"]["/v1/entries"]["post"]["requestBody"]["content"]["application/json"]["example"]
    bulk = spec["paths"]["/v1/entries/bulk"]["post"]["requestBody"]["content"]["application/json"]["example"]
    assert publish["value"] == "10687415"
    assert [i["value"] for i in bulk["items"]] == ["10687415", "952750xx", "安 全 账 户", "91110000600037341L"]
    assert bulk["items"][-1]["kind"] == "enterprise"  # the company that sub-let the block


def test_oauth_metadata_is_served_valid_and_names_the_real_endpoints(app, client, auth):
    response = client.get("/.well-known/oauth-authorization-server", base_url="https://blocklist.example.org")
    assert response.status_code == 200
    metadata = AuthorizationServerMetadata(response.json)
    metadata.validate()  # Authlib's RFC 8414 checks: https issuer, required members, arrays
    assert metadata["issuer"] == "https://blocklist.example.org"
    assert metadata["token_endpoint"] == "https://blocklist.example.org/oauth/token"
    assert metadata["revocation_endpoint"] == "https://blocklist.example.org/oauth/revoke"
    assert metadata["introspection_endpoint"] == "https://blocklist.example.org/oauth/introspect"
    assert metadata["grant_types_supported"] == ["client_credentials"]
    assert set(metadata["token_endpoint_auth_methods_supported"]) == {"client_secret_basic", "client_secret_post"}
    assert set(metadata["scopes_supported"]) == {"entries:read", "entries:write", "feeds:read", "audit:read", "admin"}
    assert metadata["response_types_supported"]

    # What it says works: both auth methods at its token endpoint, and its scopes are grantable.
    creds = auth.org("regulator")
    token_path = metadata["token_endpoint"].removeprefix("https://blocklist.example.org")
    form = {"grant_type": "client_credentials", "scope": " ".join(metadata["scopes_supported"])}
    assert client.post(token_path, data=form, headers=_basic(creds)).status_code == 200
    posted = {**form, "client_id": creds.client_id, "client_secret": creds.client_secret}
    assert client.post(token_path, data=posted).status_code == 200
