"""Every write route under /v1 is audited: the test walks the app's URL map, so a new write
route without an entry in WRITE_ROUTE_CALLS fails here until someone says how to call it.

To add a route: write a small function taking `WriteCall` that sets up what it needs (through
`w.auth` or earlier calls), makes exactly ONE audited request with `w.call(...)` and returns the
action it expects; then add one line to WRITE_ROUTE_CALLS keyed by (rule, method) exactly as
`flask routes` shows the rule.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from conftest import TEST_CONFIG
from support.audit import max_seq, records_after

from blocklist import create_app

WRITE_METHODS = ("POST", "PUT", "PATCH", "DELETE")


class WriteCall:
    """What each table function gets: the test client, the auth helper, a regulator's
    credentials and headers, and `call` which remembers the trail's length before the request."""

    def __init__(self, app, client, auth):
        self.app, self.client, self.auth = app, client, auth
        self.admin = auth.org("regulator", name="audit-test regulator")
        self.headers = auth.headers(self.admin)
        self.request_id = "write-route-test"
        self.seq_before: int | None = None
        self.actor = self.admin
        self.response = None

    def call(self, method: str, path: str, *, as_=None, **kwargs):
        """Make THE request under test, as the regulator or as `as_` (Credentials)."""
        self.actor = as_ or self.admin
        headers = self.headers if as_ is None else self.auth.headers(as_)
        self.seq_before = max_seq(self.app)
        self.response = self.client.open(
            path, method=method, headers={**headers, "X-Request-Id": self.request_id}, **kwargs
        )
        return self.response


def create_org(w: WriteCall) -> str:
    w.call("POST", "/v1/orgs", json={"name": "Example Unicom", "kind": "carrier"})
    return "org.create"


def suspend_org(w: WriteCall) -> str:
    org = w.auth.org("carrier")
    w.call("POST", f"/v1/orgs/{org.org_id}/suspend", json={"reason": "test"})
    return "org.suspend"


def reinstate_org(w: WriteCall) -> str:
    org = w.auth.org("carrier")
    assert w.client.post(f"/v1/orgs/{org.org_id}/suspend", headers=w.headers).status_code == 200
    w.call("POST", f"/v1/orgs/{org.org_id}/reinstate", json={})
    return "org.reinstate"


def create_client(w: WriteCall) -> str:
    org = w.auth.org("internet")
    w.call("POST", f"/v1/orgs/{org.org_id}/clients", json={"name": "second"})
    return "client.create"


def rotate_client(w: WriteCall) -> str:
    org = w.auth.org("internet")
    w.call("POST", f"/v1/orgs/{org.org_id}/clients/{org.client_id}/rotate")
    return "client.rotate"


def revoke_client(w: WriteCall) -> str:
    org = w.auth.org("consumer")
    w.call("DELETE", f"/v1/orgs/{org.org_id}/clients/{org.client_id}")
    return "client.revoke"


def _listed(w: WriteCall, value: str = "13800138000", kind: str = "number"):
    """An entry reported by a fresh carrier; returns (entry id, the carrier's credentials)."""
    carrier = w.auth.org("carrier")
    response = w.client.post("/v1/entries", json={"kind": kind, "value": value}, headers=w.auth.headers(carrier))
    assert response.status_code == 201, response.get_data(as_text=True)
    return response.json["id"], carrier


def publish_entry(w: WriteCall) -> str:
    w.call("POST", "/v1/entries", as_=w.auth.org("carrier"), json={"kind": "code", "value": "10687415"})
    return "entry.publish"


def bulk_publish(w: WriteCall) -> str:
    w.call(
        "POST",
        "/v1/entries/bulk",
        as_=w.auth.org("internet"),
        json={"items": [{"kind": "keyword", "value": "安全账户"}]},
    )
    return "entry.publish"


def patch_entry(w: WriteCall) -> str:
    entry_id, carrier = _listed(w)
    w.call("PATCH", f"/v1/entries/{entry_id}", as_=carrier, json={"add_tags": ["channel:sms"]})
    return "entry.update"


def withdraw_entry(w: WriteCall) -> str:
    entry_id, carrier = _listed(w)
    w.call("POST", f"/v1/entries/{entry_id}/withdraw", as_=carrier, json={"reason": "mistake"})
    return "entry.withdraw"


def expire_entry(w: WriteCall) -> str:
    entry_id, carrier = _listed(w)
    w.call("POST", f"/v1/entries/{entry_id}/expire", as_=carrier, json={"reason": "recycled"})
    return "entry.expire"


def revoke_entry(w: WriteCall) -> str:
    entry_id, _ = _listed(w)
    w.call("POST", f"/v1/entries/{entry_id}/revoke", json={"reason": "legitimate"})
    return "entry.revoke"


def file_dispute(w: WriteCall) -> str:
    entry_id, _ = _listed(w)
    w.call("POST", f"/v1/entries/{entry_id}/disputes", as_=w.auth.org("internet"), json={"reason": "my number"})
    return "dispute.file"


def acknowledge_dispute(w: WriteCall) -> str:
    entry_id, _ = _listed(w)
    filed = w.client.post(
        f"/v1/entries/{entry_id}/disputes", json={"reason": "my number"}, headers=w.auth.headers(w.auth.org("internet"))
    )
    w.call("POST", f"/v1/disputes/{filed.json['id']}/acknowledge")
    return "dispute.acknowledge"


def post_number_events(w: WriteCall) -> str:
    w.call(
        "POST",
        "/v1/numbers/events",
        json={"events": [{"number": "13900000001", "type": "reassigned", "date": "2026-01-01"}]},
    )
    return "number.event"


def post_sightings(w: WriteCall) -> str:
    entry_id, _ = _listed(w)
    w.call(
        "POST",
        "/v1/sightings",
        as_=w.auth.org("carrier"),
        json={"items": [{"entry_id": entry_id, "type": "hit", "count": 3, "date": "2026-01-01"}]},
    )
    return "sighting.record"


def resolve_dispute(w: WriteCall) -> str:
    entry_id, _ = _listed(w)
    filed = w.client.post(
        f"/v1/entries/{entry_id}/disputes", json={"reason": "my number"}, headers=w.auth.headers(w.auth.org("internet"))
    )
    w.call("POST", f"/v1/disputes/{filed.json['id']}/resolve", json={"resolution": "upheld"})
    return "dispute.resolve"


def batch_lookup(w: WriteCall) -> None:
    """A read that takes a body: it must leave no record."""
    w.call("POST", "/v1/lookup", as_=w.auth.org("consumer"), json={"values": [{"value": "10086"}]})
    return None


def check_message(w: WriteCall) -> None:
    """A read that takes a body: it must leave no record."""
    w.call("POST", "/v1/check", as_=w.auth.org("consumer"), json={"sender": "10690001", "text": "安全账户"})
    return None


def add_allowlist(w: WriteCall) -> str:
    w.call("POST", "/v1/allowlist", json={"kind": "code", "value": "95588", "reason": "ICBC"})
    return "allowlist.add"


def remove_allowlist(w: WriteCall) -> str:
    added = w.client.post(
        "/v1/allowlist", json={"kind": "code", "value": "10086", "reason": "China Mobile"}, headers=w.headers
    )
    w.call("DELETE", f"/v1/allowlist/{added.json['id']}")
    return "allowlist.remove"


HOLDING = {
    "resource": {"kind": "code", "value": "10687415"},
    "subject": {"kind": "enterprise", "value": "91110000600037341L"},
    "role": "holder",
}
REPRESENTATIVE = {"enterprise": "91110000600037341L", "person": "11010519491231002X"}


def record_holding(w: WriteCall) -> str:
    w.call("POST", "/v1/holdings", as_=w.auth.org("carrier"), json=HOLDING)
    return "holding.record"


def end_holding(w: WriteCall) -> str:
    made = w.client.post("/v1/holdings", json=HOLDING, headers=w.headers)
    w.call("POST", f"/v1/holdings/{made.json['id']}/end", json={"reason": "returned"})
    return "holding.end"


def record_representative(w: WriteCall) -> str:
    w.call("POST", "/v1/representatives", as_=w.auth.org("carrier"), json=REPRESENTATIVE)
    return "representative.record"


def end_representative(w: WriteCall) -> str:
    made = w.client.post("/v1/representatives", json=REPRESENTATIVE, headers=w.headers)
    w.call("POST", f"/v1/representatives/{made.json['id']}/end", json={})
    return "representative.end"


def screen_subject(w: WriteCall) -> None:
    """A read that takes a body (a raw person id is accepted only there): no record."""
    w.call(
        "POST",
        "/v1/subjects/screen",
        as_=w.auth.org("carrier"),
        json={"kind": "person", "value": REPRESENTATIVE["person"]},
    )
    return None


WRITE_ROUTE_CALLS: dict[tuple[str, str], Callable[[WriteCall], str | None]] = {
    ("/v1/orgs", "POST"): create_org,
    ("/v1/orgs/<int:org_id>/suspend", "POST"): suspend_org,
    ("/v1/orgs/<int:org_id>/reinstate", "POST"): reinstate_org,
    ("/v1/orgs/<int:org_id>/clients", "POST"): create_client,
    ("/v1/orgs/<int:org_id>/clients/<string:client_id>/rotate", "POST"): rotate_client,
    ("/v1/orgs/<int:org_id>/clients/<string:client_id>", "DELETE"): revoke_client,
    ("/v1/entries", "POST"): publish_entry,
    ("/v1/entries/bulk", "POST"): bulk_publish,
    ("/v1/entries/<int:entry_id>", "PATCH"): patch_entry,
    ("/v1/entries/<int:entry_id>/withdraw", "POST"): withdraw_entry,
    ("/v1/entries/<int:entry_id>/expire", "POST"): expire_entry,
    ("/v1/entries/<int:entry_id>/revoke", "POST"): revoke_entry,
    ("/v1/entries/<int:entry_id>/disputes", "POST"): file_dispute,
    ("/v1/disputes/<int:dispute_id>/resolve", "POST"): resolve_dispute,
    ("/v1/disputes/<int:dispute_id>/acknowledge", "POST"): acknowledge_dispute,
    ("/v1/numbers/events", "POST"): post_number_events,
    ("/v1/sightings", "POST"): post_sightings,
    ("/v1/allowlist", "POST"): add_allowlist,
    ("/v1/lookup", "POST"): batch_lookup,
    ("/v1/check", "POST"): check_message,
    ("/v1/allowlist/<int:item_id>", "DELETE"): remove_allowlist,
    ("/v1/holdings", "POST"): record_holding,
    ("/v1/holdings/<int:holding_id>/end", "POST"): end_holding,
    ("/v1/representatives", "POST"): record_representative,
    ("/v1/representatives/<int:representative_id>/end", "POST"): end_representative,
    ("/v1/subjects/screen", "POST"): screen_subject,
}


def _write_rules() -> list[tuple[str, str]]:
    """(rule, method) of every write route under /v1, from a throwaway app's URL map."""
    app = create_app({**TEST_CONFIG, "database_url": "sqlite://"})
    return sorted(
        {
            (rule.rule, method)
            for rule in app.url_map.iter_rules()
            if rule.rule.startswith("/v1/") or rule.rule == "/v1"
            for method in rule.methods
            if method in WRITE_METHODS
        }
    )


def pytest_generate_tests(metafunc):
    if "write_rule" in metafunc.fixturenames:
        rules = _write_rules()
        metafunc.parametrize("write_rule", rules, ids=[f"{m} {r}" for r, m in rules])


def test_every_write_route_is_audited(app, client, auth, write_rule):
    rule, method = write_rule
    perform = WRITE_ROUTE_CALLS.get(write_rule)
    if perform is None:
        pytest.fail(
            f"{method} {rule} is a write route with no entry in WRITE_ROUTE_CALLS "
            f"(tests/audit/test_write_routes.py). Add a function that calls it once and "
            f"returns the audit action it must record, and a line ({rule!r}, {method!r}): "
            f"your_function to the table."
        )
    w = WriteCall(app, client, auth)
    action = perform(w)
    assert w.response is not None, "the table function must make its request with w.call(...)"
    assert w.response.status_code < 300, w.response.get_data(as_text=True)
    assert w.response.headers["X-Request-Id"] == w.request_id
    new = records_after(app, w.seq_before)
    if action is None:  # a read that takes a body (batch look-up, message check)
        assert new == [], f"{method} {rule} is a read and must leave no record"
        return
    assert [r["action"] for r in new] == [action], f"{method} {rule} must leave exactly one record"
    assert (new[0]["actor_org_id"], new[0]["actor_client_id"]) == (w.actor.org_id, w.actor.client_id)
    assert new[0]["request_id"] == w.request_id


def test_the_table_lists_no_route_that_does_not_exist():
    stale = set(WRITE_ROUTE_CALLS) - set(_write_rules())
    assert not stale, f"WRITE_ROUTE_CALLS names routes the app no longer has: {sorted(stale)}"
