"""Evidence on a report is for the reporting org and regulators (issue #12, item 10): everyone
else sees `has_evidence`; feeds carry no evidence at all."""

from __future__ import annotations

import pytest

EVIDENCE = "subscriber ID 110101199001011234, call recording 2026-11-01"


@pytest.fixture
def entry(publish):
    response = publish("number", "13600001111", evidence=EVIDENCE, reason="fraud calls")
    assert response.status_code == 201
    assert response.json["reports"][0]["evidence"] == EVIDENCE  # the publisher sees its own
    publish("number", "13600001111", as_="internet")  # a second report, without evidence
    return response.json


def _reports(client, headers, entry_id):
    return {r["org"]["name"]: r for r in client.get(f"/v1/entries/{entry_id}", headers=headers).json["reports"]}


@pytest.mark.parametrize(
    "viewer,sees",
    [("carrier", True), ("regulator", True), ("internet", False), ("consumer", False), ("carrier2", False)],
)
def test_evidence_is_shown_to_its_org_and_regulators_only(client, callers, entry, viewer, sees):
    reports = _reports(client, callers[viewer], entry["id"])
    carrier = reports["carrier-org"]
    assert carrier["has_evidence"] is True and reports["internet-org"]["has_evidence"] is False
    assert ("evidence" in carrier) is sees and (carrier.get("evidence") == EVIDENCE) is sees
    # The same rule in lists and look-ups.
    listed = client.get("/v1/entries", query_string={"kind": "number"}, headers=callers[viewer]).json["items"][0]
    looked = client.get("/v1/lookup", query_string={"value": "13600001111"}, headers=callers[viewer]).json
    batch = client.post("/v1/lookup", json={"values": [{"value": "13600001111"}]}, headers=callers[viewer]).json
    for shown in (listed, looked["matches"][0], batch["results"][0]["matches"][0]):
        report = next(r for r in shown["reports"] if r["org"]["name"] == "carrier-org")
        assert (report.get("evidence") == EVIDENCE) is sees and report["has_evidence"] is True


def test_feeds_never_carry_evidence(client, callers, entry):
    regulator = {**callers["regulator"]}
    text = client.get("/v1/feed/changes", headers=regulator).get_data(as_text=True)
    assert "110101199001011234" not in text and '"has_evidence": true' in text.replace('":true', '": true')
    for fmt in ("jsonl", "csv"):
        snapshot = client.get("/v1/feed/snapshot", query_string={"format": fmt}, headers=regulator)
        assert snapshot.status_code == 200 and "110101199001011234" not in snapshot.get_data(as_text=True)


def test_another_org_cannot_see_evidence_by_corroborating(client, callers, entry, publish):
    corroborated = publish("number", "13600001111", as_="carrier2")
    assert corroborated.status_code == 200
    carrier = next(r for r in corroborated.json["reports"] if r["org"]["name"] == "carrier-org")
    assert "evidence" not in carrier and carrier["has_evidence"] is True
