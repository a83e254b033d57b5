"""The 1068 ticket-scam chain over HTTP (PRODUCT.md "One violation, restricted everywhere"):
codes 10687415 and 10684500 were allocated by a carrier to firm A and sub-let A -> B -> C -> D
-> E -> F. Listing F (and later A) restricts both codes everywhere at once, via the subjects;
the chain at 2023-07-15 names the six firms in order with their listings; ending the listings
and the holdings lifts the restriction; the feed, checksums and the audit trail follow."""

from __future__ import annotations

import hashlib

import pytest
from support.problems import assert_problem
from support.subjects import make_uscc

CODES = ("10687415", "10684500")
FIRMS = [make_uscc(n) for n in range(1, 7)]  # A .. F
A, F = FIRMS[0], FIRMS[-1]
LEASES_FROM = ("2023-04-01", "2023-05-01", "2023-06-01", "2023-06-15", "2023-07-01")  # A->B .. E->F


def _post(client, path, headers, body=None, status=None):
    response = client.post(path, json=body if body is not None else {}, headers=headers)
    if status is not None:
        assert response.status_code == status, response.get_data(as_text=True)
    return response


def holding(code, subject, role="holder", lessor=None, valid_from="2023-03-01T00:00:00Z", **extra):
    body = {
        "resource": {"kind": "code", "value": code},
        "subject": {"kind": "enterprise", "value": subject},
        "role": role,
        "valid_from": valid_from,
        **extra,
    }
    if lessor:
        body["lessor"] = {"kind": "enterprise", "value": lessor}
    return body


def record_chain(client, callers) -> dict[tuple[str, str], int]:
    """The carrier allocates both codes to A; the regulator records A -> ... -> F."""
    ids = {}
    for code in CODES:
        made = _post(
            client, "/v1/holdings", callers["carrier"], holding(code, A, evidence="allocation 2023-0301"), 201
        ).json
        ids[(code, A)] = made["id"]
        for start, lessor, lessee in zip(LEASES_FROM, FIRMS, FIRMS[1:], strict=False):
            made = _post(
                client,
                "/v1/holdings",
                callers["regulator"],
                holding(code, lessee, "lessee", lessor, valid_from=f"{start}T00:00:00+08:00"),
                201,
            ).json
            ids[(code, lessee)] = made["id"]
    return ids


def lookup(client, callers, code):
    return client.get("/v1/lookup", query_string={"kind": "code", "value": code}, headers=callers["carrier2"]).json


def checksum(client, callers, kind="code"):
    return client.get("/v1/feed/checksum", query_string={"kind": kind}, headers=callers["consumer"]).json


def expected_checksum(values):
    lines = sorted(f"code\t{v}\n".encode() for v in values)
    return hashlib.sha256(b"".join(lines)).hexdigest()


def feed(client, callers, since):
    page = client.get(
        "/v1/feed/changes", query_string={"since": since, "kind": "code"}, headers=callers["consumer"]
    ).json
    return [(c["op"], c["entry"]["value"]) for c in page["changes"]], page["next_cursor"]


@pytest.mark.committed  # the checksum reads on its own connection
def test_the_1068_chain_listing_f_then_a_restricts_both_codes_and_ending_lifts_it(client, callers, publish):
    ids = record_chain(client, callers)
    for code in CODES:
        assert lookup(client, callers, code)["listed"] is False
    cursor = client.get("/v1/feed/changes", headers=callers["consumer"]).json["next_cursor"]

    # The regulator lists F: both codes are restricted at once, via F.
    f_entry = publish(
        "enterprise", F, as_="regulator", reason="Sent 6,525 ticket-scam texts", tags=["list:bad-operator"]
    ).json
    changed, cursor = feed(client, callers, cursor)
    assert sorted(changed) == [("upsert", c) for c in sorted(CODES)]
    for code in CODES:
        verdict = lookup(client, callers, code)
        assert verdict["listed"] is True
        (entry,) = verdict["matches"]
        (report,) = entry["reports"]
        assert report["via"] == {"subject_entry_id": f_entry["id"], "holding_id": ids[(code, F)]}
        assert report["org"]["id"] == callers.org_id("regulator")
        assert report["reason"] == "Sent 6,525 ticket-scam texts"
    assert checksum(client, callers) == {
        **checksum(client, callers),
        "count": 2,
        "sha256": expected_checksum(CODES),
    }
    check = _post(client, "/v1/check", callers["internet"], {"sender": "10687415", "text": "退票请联系"}, 200).json
    assert check["verdict"] == "block"
    assert check["sender_status"] == "restricted"
    assert [link["subject"]["value"] for link in check["sender_chain"]] == FIRMS
    assert [link["listed"] for link in check["sender_chain"]] == [False] * 5 + [True]

    # The chain at 2023-07-15: the six firms in order, F with its listing.
    code_entry = lookup(client, callers, "10687415")["matches"][0]
    chain = client.get(
        f"/v1/entries/{code_entry['id']}/chain", query_string={"at": "2023-07-15"}, headers=callers["carrier2"]
    ).json
    assert [link["subject"]["value"] for link in chain["chain"]] == FIRMS
    assert [link["role"] for link in chain["chain"]] == ["holder"] + ["lessee"] * 5
    assert [link["lessor"]["value"] if link["lessor"] else None for link in chain["chain"]] == [None, *FIRMS[:-1]]
    assert [[e["id"] for e in link["listings"]] for link in chain["chain"]] == [[]] * 5 + [[f_entry["id"]]]
    # Before the leases began only A held it.
    early = client.get(
        f"/v1/entries/{code_entry['id']}/chain", query_string={"at": "2023-03-15"}, headers=callers["carrier2"]
    ).json
    assert [link["subject"]["value"] for link in early["chain"]] == [A]

    # A via report is not the resource's to withdraw or change.
    withdrawn = assert_problem(_post(client, f"/v1/entries/{code_entry['id']}/withdraw", callers["regulator"]), 409)
    assert f"holding {ids[('10687415', F)]}" in withdrawn["detail"]
    patched = client.patch(
        f"/v1/entries/{code_entry['id']}", json={"expires_at": "2099-01-01T00:00:00Z"}, headers=callers["carrier"]
    )
    assert_problem(patched, 403)

    other_code_id = lookup(client, callers, "10684500")["matches"][0]["id"]
    # Later the regulator lists A too: a second via report, still one reporter.
    a_entry = publish("enterprise", A, as_="regulator", reason="Allocated and sub-let both codes").json
    entry = lookup(client, callers, "10687415")["matches"][0]
    assert entry["reporters"] == 1
    assert sorted(r["via"]["subject_entry_id"] for r in entry["reports"] if r["withdrawn_at"] is None) == sorted(
        [a_entry["id"], f_entry["id"]]
    )

    # F's listing withdrawn: still restricted via A.
    _post(client, f"/v1/entries/{f_entry['id']}/withdraw", callers["regulator"], {"reason": "appeal"}, 200)
    assert all(lookup(client, callers, code)["listed"] for code in CODES)
    # The carrier ends its allocation to A: nothing holds the codes for a listed subject any more.
    _, cursor = feed(client, callers, cursor)
    for code in CODES:
        ended = _post(
            client, f"/v1/holdings/{ids[(code, A)]}/end", callers["carrier"], {"reason": "allocation revoked"}, 200
        ).json
        assert ended["valid_to"] is not None and ended["ended_by_org_id"] == callers.org_id("carrier")
        assert lookup(client, callers, code)["listed"] is False
    changed, cursor = feed(client, callers, cursor)
    assert sorted(changed) == [("remove", c) for c in sorted(CODES)]
    assert checksum(client, callers)["count"] == 0
    closed = client.get(f"/v1/entries/{entry['id']}", headers=callers["regulator"]).json
    assert closed["status"] == "expired"
    assert {r["close_reason"] for r in closed["reports"]} == {"holding ended", "subject no longer listed"}

    # The audit trail says who listed whom and why, and how each code followed.
    # One record per change of a subject's restrictions, on the subject's entry, listing every
    # via report opened, moved or closed (entry, org, holding ...).
    code_ids = {c: lookup_id for c, lookup_id in zip(CODES, [entry["id"], other_code_id], strict=True)}
    listed = client.get(
        "/v1/audit", query_string={"target_type": "entry", "target_id": f_entry["id"]}, headers=callers["regulator"]
    ).json["items"]
    publish_record = next(r for r in listed if r["action"] == "entry.publish")
    assert publish_record["actor_org_id"] == callers.org_id("regulator")
    assert publish_record["reason"] == "Sent 6,525 ticket-scam texts"
    opened = listed[listed.index(publish_record) - 1]  # newest first: the record right after the listing
    assert opened["action"] == "entry.via" and opened["actor_org_id"] == callers.org_id("regulator")
    assert opened["request_id"] == publish_record["request_id"]
    assert f"restricted via enterprise {F} (entry {f_entry['id']})" in opened["reason"]
    regulator = callers.org_id("regulator")
    assert opened["after"]["opened"] == sorted(
        [code_ids[c], regulator, ids[(c, F)], f_entry["id"], f_entry["expires_at"]] for c in CODES
    )
    assert opened["after"]["entered_active_set"] == sorted(code_ids.values())
    a_records = client.get(
        "/v1/audit", query_string={"target_type": "entry", "target_id": a_entry["id"]}, headers=callers["regulator"]
    ).json["items"]
    ended = [r for r in a_records if r["action"] == "entry.via" and r["after"]["closed"]]
    assert len(ended) == 2 and {r["actor_org_id"] for r in ended} == {callers.org_id("carrier")}
    assert sorted(row for r in ended for row in r["after"]["closed"]) == sorted(
        [code_ids[c], regulator, ids[(c, A)], "holding ended"] for c in CODES
    )
    assert sorted(i for r in ended for i in r["after"]["left_active_set"]) == sorted(code_ids.values())
    holdings_audit = client.get(
        "/v1/audit",
        query_string={"target_type": "holding", "target_id": ids[("10687415", A)]},
        headers=callers["regulator"],
    ).json["items"]
    assert [r["action"] for r in holdings_audit] == ["holding.end", "holding.record"]  # newest first
    assert holdings_audit[0]["before"]["valid_to"] is None and holdings_audit[0]["after"]["valid_to"] is not None
    assert holdings_audit[0]["reason"] == "allocation revoked"


def test_who_may_record_and_end_holdings(client, callers):
    body = holding("10687415", A)
    # Internet and consumer orgs record nothing; a carrier records only allocations.
    assert_problem(_post(client, "/v1/holdings", callers["internet"], body), 403)
    assert_problem(_post(client, "/v1/holdings", callers["consumer"], body), 403)
    leased = holding("10687415", FIRMS[1], "lessee", A)
    assert_problem(_post(client, "/v1/holdings", callers["carrier"], leased), 403)
    made = _post(client, "/v1/holdings", callers["carrier"], body, 201).json
    # Another carrier may not end it; the recording carrier or a regulator may.
    assert_problem(_post(client, f"/v1/holdings/{made['id']}/end", callers["carrier2"]), 403)
    assert_problem(_post(client, f"/v1/holdings/{made['id']}/end", callers["internet"]), 403)
    regulator_made = _post(client, "/v1/holdings", callers["regulator"], leased, 201).json
    assert_problem(_post(client, f"/v1/holdings/{regulator_made['id']}/end", callers["carrier"]), 403)
    _post(client, f"/v1/holdings/{regulator_made['id']}/end", callers["regulator"], {}, 200)
    assert_problem(_post(client, f"/v1/holdings/{regulator_made['id']}/end", callers["regulator"]), 409)
    assert_problem(_post(client, "/v1/holdings/999999/end", callers["regulator"]), 404)
    # Evidence: the recording carrier and regulators see it; another carrier sees has_evidence.
    with_evidence = _post(
        client, "/v1/holdings", callers["carrier"], holding("10684500", A, evidence="contract 17"), 201
    ).json
    assert with_evidence["evidence"] == "contract 17"
    query = {"resource_kind": "code", "resource": "10684500"}
    seen = client.get("/v1/holdings", query_string=query, headers=callers["carrier2"]).json["items"]
    assert seen[0]["has_evidence"] is True and "evidence" not in seen[0]
    seen = client.get("/v1/holdings", query_string=query, headers=callers["regulator"]).json["items"]
    assert seen[0]["evidence"] == "contract 17"
    # Who may list a subject: a consumer org may not publish at all.
    listed = client.post("/v1/entries", json={"kind": "enterprise", "value": A}, headers=callers["consumer"])
    assert_problem(listed, 403)


def test_holding_validation(client, callers):
    cases = [
        (holding("10687415", A, valid_from="2999-01-01T00:00:00Z"), "valid_from"),
        (holding("10687415", A, valid_to="2023-02-01T00:00:00Z"), "valid_to"),
        (holding("10687415", FIRMS[1], "lessee"), "lessor"),
        (holding("10687415", A, lessor=FIRMS[1]), "lessor"),
        (holding("10687415", A, "lessee", A), "lessor"),
        (holding("10687415", "91110000600037341M"), "subject"),
        ({**holding("10687415", A), "resource": {"kind": "keyword", "value": "x"}}, "resource"),
        ({**holding("1", A)}, "resource"),
    ]
    for body, field in cases:
        problem = assert_problem(_post(client, "/v1/holdings", callers["regulator"], body), 422)
        assert field in problem["errors"], (body, problem)
    listed = client.get("/v1/holdings", headers=callers["carrier"])
    assert_problem(listed, 422)
    for at in ("9999-12-31", "9999-12-31T23:59:59.999999+00:00", "0001-01-01T00:00:00+14:00", "2023-02-30", "x"):
        query = {"subject": A, "at": at}
        assert (
            "at"
            in assert_problem(client.get("/v1/holdings", query_string=query, headers=callers["carrier"]), 422)["errors"]
        )
    # A carrier is held to the breadth limits publishing has; a regulator is not.
    wide = {**holding("10687415", A), "resource": {"kind": "range", "value": "138*"}}
    problem = assert_problem(_post(client, "/v1/holdings", callers["carrier"], wide), 422)
    assert "resource" in problem["errors"]
    assert _post(client, "/v1/holdings", callers["regulator"], wide).status_code == 201


def test_a_holding_recorded_for_a_listed_subject_restricts_at_once_and_list_filters(client, callers, publish):
    publish("enterprise", A, as_="regulator", tags=["list:bad-operator"])
    made = _post(client, "/v1/holdings", callers["carrier"], holding("10687415", A), 201).json
    assert lookup(client, callers, "10687415")["listed"] is True
    # A past holding (ended before now) restricts nothing.
    _post(
        client,
        "/v1/holdings",
        callers["carrier"],
        holding("10684500", A, valid_from="2023-01-01T00:00:00Z", valid_to="2023-06-01T00:00:00Z"),
        201,
    )
    assert lookup(client, callers, "10684500")["listed"] is False
    by_subject = client.get("/v1/holdings", query_string={"subject": A}, headers=callers["carrier2"]).json
    assert len(by_subject["items"]) == 2
    at = client.get("/v1/holdings", query_string={"subject": A, "at": "2024-01-01"}, headers=callers["carrier2"]).json
    assert [h["id"] for h in at["items"]] == [made["id"]]
    # Idempotent: revoking nothing and re-listing the subject opens no second report.
    publish("enterprise", A, as_="regulator")
    entry = lookup(client, callers, "10687415")["matches"][0]
    assert len([r for r in entry["reports"] if r["withdrawn_at"] is None]) == 1
    # A regulator's revoke of the resource closes the via report and sticks.
    _post(client, f"/v1/entries/{entry['id']}/revoke", callers["regulator"], {"reason": "court order"}, 200)
    publish("enterprise", A, as_="regulator")
    assert lookup(client, callers, "10687415")["listed"] is False
