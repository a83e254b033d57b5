"""Tags with counts, entry list filters and pagination, disputes, and the allowlist routes."""

from __future__ import annotations

from support.problems import assert_problem


def test_tags_count_active_entries_only(client, callers, publish):
    a = publish("number", "13600000001", tags=["fraud:ticket-scam", "channel:sms"]).json
    publish("number", "13600000002", tags=["fraud:ticket-scam"])
    client.post(f"/v1/entries/{a['id']}/expire", json={"reason": "done"}, headers=callers["carrier"])
    body = client.get("/v1/tags", headers=callers["consumer"]).json
    assert body == {"items": [{"tag": "fraud:ticket-scam", "count": 1}], "next_cursor": None}
    publish("code", "10690003", tags=["channel:sms", "source:12321"])
    page = client.get("/v1/tags", query_string={"limit": 2}, headers=callers["consumer"]).json
    assert [i["tag"] for i in page["items"]] == ["channel:sms", "fraud:ticket-scam"]
    rest = client.get(
        "/v1/tags", query_string={"limit": 2, "cursor": page["next_cursor"]}, headers=callers["consumer"]
    ).json
    assert rest == {"items": [{"tag": "source:12321", "count": 1}], "next_cursor": None}
    only = client.get("/v1/tags", query_string={"namespace": "fraud"}, headers=callers["consumer"]).json
    assert [i["tag"] for i in only["items"]] == ["fraud:ticket-scam"]


def test_entry_list_filters_and_keyset_pages(client, callers, publish):
    ids = [publish("code", f"1069{i:04d}", tags=["fraud:loan"] if i % 2 else []).json["id"] for i in range(7)]
    publish("keyword", "贷款秒批", as_="internet")
    h = callers["consumer"]
    seen, cursor = [], None
    while True:
        page = client.get(
            "/v1/entries",
            query_string={"kind": "code", "limit": 3, **({"cursor": cursor} if cursor else {})},
            headers=h,
        ).json
        seen += [e["id"] for e in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen == ids
    tagged = client.get("/v1/entries", query_string={"tag": "fraud:loan"}, headers=h).json["items"]
    assert [e["id"] for e in tagged] == ids[1::2]
    by_org = client.get("/v1/entries", query_string={"reporter": callers.org_id("internet")}, headers=h).json["items"]
    assert [e["kind"] for e in by_org] == ["keyword"]
    prefix = client.get("/v1/entries", query_string={"q": "106900"}, headers=h).json["items"]
    assert len(prefix) == 7
    client.post(f"/v1/entries/{ids[0]}/expire", json={"reason": "x"}, headers=callers["carrier"])
    expired = client.get("/v1/entries", query_string={"status": "expired"}, headers=h).json["items"]
    assert [e["id"] for e in expired] == [ids[0]]
    assert_problem(client.get("/v1/entries", query_string={"cursor": "!!!"}, headers=h), 400)
    assert_problem(client.get("/v1/entries", query_string={"kind": "planet"}, headers=h), 422)


def test_dispute_filed_listed_and_overturned(client, callers, publish):
    entry = publish("number", "13500135000").json
    filed = client.post(
        f"/v1/entries/{entry['id']}/disputes", json={"reason": "this is my new number"}, headers=callers["internet"]
    )
    assert filed.status_code == 201, filed.get_data(as_text=True)
    dispute = filed.json
    assert dispute["status"] == "open" and dispute["org"]["id"] == callers.org_id("internet")
    assert_problem(
        client.post(f"/v1/entries/{entry['id']}/disputes", json={"reason": "again"}, headers=callers["internet"]), 409
    )
    # the reporter sees it (a stake in the entry); an unrelated org does not; a regulator sees all
    assert [d["id"] for d in client.get("/v1/disputes", headers=callers["carrier"]).json["items"]] == [dispute["id"]]
    assert client.get("/v1/disputes", headers=callers["carrier2"]).json["items"] == []
    listed = client.get("/v1/disputes", query_string={"status": "open"}, headers=callers["regulator"]).json["items"]
    assert [d["id"] for d in listed] == [dispute["id"]]
    resolved = client.post(
        f"/v1/disputes/{dispute['id']}/resolve",
        json={"resolution": "overturned", "note": "recycled number"},
        headers=callers["regulator"],
    )
    assert resolved.status_code == 200 and resolved.json["status"] == "overturned"
    assert client.get(f"/v1/entries/{entry['id']}", headers=callers["carrier"]).json["status"] == "revoked"
    assert_problem(
        client.post(
            f"/v1/disputes/{dispute['id']}/resolve", json={"resolution": "upheld"}, headers=callers["regulator"]
        ),
        409,
    )
    assert_problem(
        client.post("/v1/disputes/999/resolve", json={"resolution": "upheld"}, headers=callers["regulator"]), 404
    )
    assert_problem(
        client.post(
            f"/v1/disputes/{dispute['id']}/resolve", json={"resolution": "maybe"}, headers=callers["regulator"]
        ),
        422,
    )


def test_upheld_dispute_keeps_the_entry(client, callers, publish):
    entry = publish("number", "13500135001").json
    dispute = client.post(
        f"/v1/entries/{entry['id']}/disputes", json={"reason": "no"}, headers=callers["internet"]
    ).json
    client.post(f"/v1/disputes/{dispute['id']}/resolve", json={"resolution": "upheld"}, headers=callers["regulator"])
    assert client.get(f"/v1/entries/{entry['id']}", headers=callers["carrier"]).json["status"] == "active"


def test_allowlist_routes(client, callers):
    reg = callers["regulator"]
    added = client.post(
        "/v1/allowlist", json={"kind": "number", "value": "010-12381", "reason": "MIIT hotline"}, headers=reg
    )
    assert added.status_code == 201, added.get_data(as_text=True)
    assert added.json["value"].startswith("+86")
    assert_problem(
        client.post("/v1/allowlist", json={"kind": "number", "value": "01012381", "reason": "dup"}, headers=reg), 409
    )
    assert_problem(
        client.post("/v1/allowlist", json={"kind": "number", "value": "12", "reason": "bad"}, headers=reg), 422
    )
    assert_problem(client.post("/v1/allowlist", json={"kind": "number", "value": "01012381"}, headers=reg), 422)
    items = client.get("/v1/allowlist", headers=callers["consumer"]).json["items"]
    assert [i["id"] for i in items] == [added.json["id"]]
    assert client.delete(f"/v1/allowlist/{added.json['id']}", headers=reg).status_code == 204
    assert client.get("/v1/allowlist", headers=callers["consumer"]).json["items"] == []
    assert_problem(client.delete(f"/v1/allowlist/{added.json['id']}", headers=reg), 404)
