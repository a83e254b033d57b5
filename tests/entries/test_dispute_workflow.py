"""The dispute workflow: open -> acknowledged -> upheld | overturned, deadlines from the settings,
`GET /v1/disputes?overdue=true`, the overdue metric, who may act, and the audit trail."""

from __future__ import annotations

import re

from support.problems import assert_problem
from support.settings import override_settings

HOUR = 3600


def _overdue_metric(client) -> float:
    text = client.get("/metrics").get_data(as_text=True)
    match = re.search(r"^blocklist_disputes_overdue (\S+)$", text, re.M)
    assert match, "the overdue metric is exported"
    return float(match.group(1))


def _refresh(auth, callers):
    callers._headers = {name: auth.headers(creds) for name, creds in callers.creds.items()}


def test_deadlines_overdue_list_and_metric(app, client, auth, callers, publish, clock, monkeypatch):
    override_settings(monkeypatch, app, dispute_ack_hours=2, dispute_resolve_days=1)
    a = publish("number", "13800000011").json
    b = publish("number", "13800000012").json
    da = client.post(f"/v1/entries/{a['id']}/disputes", json={"reason": "mine"}, headers=callers["internet"]).json
    db_ = client.post(f"/v1/entries/{b['id']}/disputes", json={"reason": "mine"}, headers=callers["internet"]).json
    assert (da["status"], da["overdue"]) == ("open", False)
    assert da["ack_due_at"] < da["resolve_due_at"]
    assert _overdue_metric(client) == 0
    regulator = callers["regulator"]
    assert client.get("/v1/disputes", query_string={"overdue": "true"}, headers=regulator).json["items"] == []

    clock.advance(HOUR)
    _refresh(auth, callers)
    regulator = callers["regulator"]
    assert client.post(f"/v1/disputes/{da['id']}/acknowledge", headers=regulator).status_code == 200
    clock.advance(2 * HOUR)  # b was not acknowledged in time; a was
    _refresh(auth, callers)
    regulator = callers["regulator"]
    overdue = client.get("/v1/disputes", query_string={"overdue": "true"}, headers=regulator).json["items"]
    assert [(d["id"], d["overdue"]) for d in overdue] == [(db_["id"], True)]
    not_overdue = client.get("/v1/disputes", query_string={"overdue": "false"}, headers=regulator).json["items"]
    assert [d["id"] for d in not_overdue] == [da["id"]]
    assert _overdue_metric(client) == 1

    clock.advance(24 * HOUR)  # past the resolution deadline too: both
    _refresh(auth, callers)
    regulator = callers["regulator"]
    assert len(client.get("/v1/disputes", query_string={"overdue": "true"}, headers=regulator).json["items"]) == 2
    assert _overdue_metric(client) == 2
    client.post(f"/v1/disputes/{da['id']}/resolve", json={"resolution": "upheld"}, headers=regulator)
    assert _overdue_metric(client) == 1  # resolved late is no longer overdue


def test_acknowledge_rules_and_audit(client, callers, publish):
    entry = publish("number", "13800000013").json
    dispute = client.post(
        f"/v1/entries/{entry['id']}/disputes", json={"reason": "mine"}, headers=callers["internet"]
    ).json
    for caller in ("carrier", "internet"):  # not regulators (no admin scope)
        assert_problem(client.post(f"/v1/disputes/{dispute['id']}/acknowledge", headers=callers[caller]), 403)
    assert_problem(client.post("/v1/disputes/9999/acknowledge", headers=callers["regulator"]), 404)
    ack = client.post(f"/v1/disputes/{dispute['id']}/acknowledge", headers=callers["regulator"])
    assert ack.status_code == 200 and ack.json["acknowledged_at"] is not None
    assert_problem(client.post(f"/v1/disputes/{dispute['id']}/acknowledge", headers=callers["regulator"]), 409)
    # a second dispute by the same org while this one is acknowledged: still one at a time
    assert_problem(
        client.post(f"/v1/entries/{entry['id']}/disputes", json={"reason": "x"}, headers=callers["internet"]), 409
    )
    resolved = client.post(
        f"/v1/disputes/{dispute['id']}/resolve", json={"resolution": "overturned"}, headers=callers["regulator"]
    )
    assert resolved.status_code == 200 and resolved.json["status"] == "overturned"
    assert_problem(client.post(f"/v1/disputes/{dispute['id']}/acknowledge", headers=callers["regulator"]), 409)
    records = client.get(
        "/v1/audit", query_string={"target_type": "dispute", "target_id": dispute["id"]}, headers=callers["regulator"]
    ).json["items"]
    records.sort(key=lambda r: r["seq"])
    actions = [r["action"] for r in records]
    assert actions == ["dispute.file", "dispute.acknowledge", "dispute.resolve"]
    ack_record = records[1]
    assert (ack_record["before"]["status"], ack_record["after"]["status"]) == ("open", "acknowledged")


def test_bad_overdue_filter_is_422(client, callers):
    body = assert_problem(
        client.get("/v1/disputes", query_string={"overdue": "soon"}, headers=callers["regulator"]), 422
    )
    assert "overdue" in str(body["errors"])
