"""Subjects as entries over HTTP (PRODUCT.md "One violation, restricted everywhere"): an
enterprise by its unified social credit code, a person by the peppered hash of an ID number
that is accepted only in request bodies and never stored, logged, audited or returned.

The story is the joint punishment of card sellers (卡农): a regulator lists a person under
`list:joint-punishment`, and every carrier's look-up of that person's ID number finds it.
"""

from __future__ import annotations

from support.problems import assert_problem
from support.settings import override_settings
from support.subjects import OTHER_RIC, OTHER_USCC, PEPPER, RIC, USCC, assert_no_raw_id, person_hash, stored_text


def _post(client, path, headers, body, status=None, **kw):
    response = client.post(path, json=body, headers=headers, **kw)
    if status is not None:
        assert response.status_code == status, response.get_data(as_text=True)
    return response


def test_an_enterprise_is_listed_by_its_uscc_and_a_bad_check_character_is_refused(client, callers, publish):
    response = publish(
        "enterprise", "9111 0000 6000 3734 1l", tags=["list:bad-operator"], display_name="某某信息技术有限公司"
    )
    assert response.status_code == 201, response.json
    entry = response.json
    assert (entry["kind"], entry["value"], entry["display_name"]) == ("enterprise", USCC, "某某信息技术有限公司")
    assert entry["tags"] == ["list:bad-operator"]

    bad = assert_problem(publish("enterprise", "91110000600037341M"), 422)
    assert "check character" in bad["errors"]["value"][0]
    # A display name is for subjects only.
    not_subject = assert_problem(publish("code", "10687415", display_name="someone"), 422)
    assert "display_name" in not_subject["errors"]

    # Look-ups: by kind only (a subject is never guessed), in any spelling of the code.
    verdict = client.get(
        "/v1/lookup", query_string={"kind": "enterprise", "value": USCC.lower()}, headers=callers["carrier2"]
    )
    assert verdict.status_code == 200 and [m["id"] for m in verdict.json["matches"]] == [entry["id"]]
    # Nothing wide covers a subject: a regulator's keyword that is part of the code matches no enterprise.
    assert publish("keyword", "60003734", as_="regulator").status_code == 201
    verdict = client.get("/v1/lookup", query_string={"kind": "enterprise", "value": USCC}, headers=callers["carrier2"])
    assert [m["kind"] for m in verdict.json["matches"]] == ["enterprise"]
    # The allowlist guard: an allowlisted enterprise cannot be listed.
    _post(
        client,
        "/v1/allowlist",
        callers["regulator"],
        {"kind": "enterprise", "value": OTHER_USCC, "reason": "state-owned carrier"},
        201,
    )
    refused = assert_problem(publish("enterprise", OTHER_USCC), 409)
    assert refused["allowlist_reason"] == "state-owned carrier"


def test_joint_punishment_every_carrier_finds_the_person_and_the_id_is_never_kept(app, client, callers, publish):
    texts: list[str] = []

    def keep(response):
        texts.append(response.get_data(as_text=True))
        return response

    hashed = person_hash(RIC)
    listing_body = {
        "kind": "person",
        "value": RIC.lower(),
        "tags": ["list:joint-punishment"],
        "category": "fraud",
        "reason": "Sold bank cards and phone cards to a fraud ring",
        "display_name": "card seller 张某",
    }
    idempotent = {**callers["regulator"], "Idempotency-Key": "listing-1"}
    listed = keep(client.post("/v1/entries", json=listing_body, headers=idempotent))
    assert listed.status_code == 201, listed.json
    entry = listed.json
    assert (entry["kind"], entry["value"], entry["raw_value"]) == ("person", hashed, hashed)
    assert [r["raw_value"] for r in entry["reports"]] == [hashed]

    # Every carrier's screening of the ID number (in a body) finds the listing.
    for carrier in ("carrier", "carrier2", "carrier3"):
        batch = keep(
            _post(
                client,
                "/v1/lookup",
                callers[carrier],
                {"values": [{"kind": "person", "value": f"ric:{RIC}"}, {"kind": "person", "value": OTHER_RIC}]},
                200,
            )
        ).json["results"]
        assert [(r["value"], r["listed"]) for r in batch] == [(hashed, True), (person_hash(OTHER_RIC), False)]
        assert batch[0]["matches"][0]["id"] == entry["id"]
        assert batch[0]["matches"][0]["tags"] == ["list:joint-punishment"]
    # By URL only the hash is accepted: an ID number there is a 422 that does not quote it.
    by_hash = keep(
        client.get("/v1/lookup", query_string={"kind": "person", "value": hashed.upper()}, headers=callers["carrier"])
    )
    assert by_hash.status_code == 200 and [m["id"] for m in by_hash.json["matches"]] == [entry["id"]]
    refused = assert_problem(
        keep(client.get("/v1/lookup", query_string={"kind": "person", "value": RIC}, headers=callers["carrier"])), 422
    )
    assert "hashed value" in refused["errors"]["value"][0]
    bad = assert_problem(keep(publish("person", RIC[:-1] + "1")), 422)
    assert "check digit" in bad["errors"]["value"][0]
    assert_problem(keep(publish("person", "110105 19491231 0021")), 422)

    # The same request replayed; corroboration by a carrier (by ID number and by hash), in bulk.
    replay = keep(client.post("/v1/entries", json=listing_body, headers=idempotent))
    assert replay.headers.get("Idempotent-Replayed") == "true" and replay.json["id"] == entry["id"]
    bulk = keep(
        _post(
            client,
            "/v1/entries/bulk",
            callers["carrier"],
            {
                "items": [
                    {"kind": "person", "value": RIC},
                    {"kind": "person", "value": hashed, "tags": ["list:dishonest"]},
                    {"kind": "person", "value": OTHER_RIC},
                ]
            },
            200,
        )
    ).json
    # The ID number and its hash are one item (merged, tags joined).
    assert [(i["value"], i["result"]) for i in bulk["items"]] == [
        (hashed, "corroborated"),
        (person_hash(OTHER_RIC), "created"),
    ]
    one = keep(client.get(f"/v1/entries/{entry['id']}", headers=callers["carrier"])).json
    assert one["reporters"] == 2 and one["tags"] == ["list:dishonest", "list:joint-punishment"]

    # Everything entries have: tags, a dispute, withdrawal, expiry, the allowlist.
    keep(client.patch(f"/v1/entries/{entry['id']}", json={"add_tags": ["source:court"]}, headers=callers["regulator"]))
    _post(
        client,
        f"/v1/entries/{entry['id']}/disputes",
        callers["carrier3"],
        {"reason": "Not me: my card was stolen"},
        201,
    )
    keep(_post(client, f"/v1/entries/{bulk['items'][1]['id']}/expire", callers["carrier"], {"reason": "mistaken"}, 200))
    allow = keep(
        _post(
            client,
            "/v1/allowlist",
            callers["regulator"],
            {"kind": "person", "value": OTHER_RIC, "reason": "identity theft victim"},
            201,
        )
    ).json
    assert allow["value"] == allow["raw_value"] == person_hash(OTHER_RIC)
    assert_problem(keep(publish("person", OTHER_RIC)), 409)
    listing = keep(client.get("/v1/entries", query_string={"kind": "person"}, headers=callers["regulator"])).json
    assert {e["value"] for e in listing["items"]} == {hashed, person_hash(OTHER_RIC)}

    # The audit trail shows who listed whom and why, by hash.
    trail = keep(
        client.get(
            "/v1/audit", query_string={"target_type": "entry", "target_id": entry["id"]}, headers=callers["regulator"]
        )
    )
    assert trail.status_code == 200, trail.json
    first = next(r for r in trail.json["items"] if r["action"] == "entry.publish")
    assert first["after"]["value"] == hashed and first["after"]["tags"] == ["list:joint-punishment"]
    assert first["actor_org_id"] == callers.org_id("regulator")
    assert first["reason"] == "Sold bank cards and phone cards to a fraud ring"

    for text in texts:
        assert_no_raw_id(text, "a response")
    with app.app_context():
        stored = stored_text()
    assert hashed in stored  # the rows are there, under the hash
    assert_no_raw_id(stored, "the database")


def test_a_retired_peppers_hashes_still_match_after_a_rotation(app, client, callers, publish, monkeypatch):
    old = publish("person", RIC, as_="regulator", tags=["list:joint-punishment"]).json
    override_settings(monkeypatch, app, subject_peppers=("a-brand-new-pepper-0123456789", PEPPER))
    verdict = _post(client, "/v1/lookup", callers["carrier"], {"values": [{"kind": "person", "value": RIC}]}, 200)
    result = verdict.json["results"][0]
    # The verdict names the current pepper's hash; the entry listed under the old one matches.
    assert result["value"] == person_hash(RIC, "a-brand-new-pepper-0123456789")
    assert [m["id"] for m in result["matches"]] == [old["id"]]
    # A new report of the same person corroborates the old entry instead of listing it twice.
    again = publish("person", RIC)
    assert again.status_code == 200 and again.json["id"] == old["id"] and again.json["reporters"] == 2
    # The allowlist too: a person allowlisted under the old pepper stays protected, and
    # allowlisting one listed under the old pepper revokes that entry.
    override_settings(monkeypatch, app, subject_peppers=(PEPPER,))
    _post(
        client, "/v1/allowlist", callers["regulator"], {"kind": "person", "value": OTHER_RIC, "reason": "victim"}, 201
    )
    override_settings(monkeypatch, app, subject_peppers=("a-brand-new-pepper-0123456789", PEPPER))
    assert publish("person", OTHER_RIC).status_code == 409
    _post(client, "/v1/allowlist", callers["regulator"], {"kind": "person", "value": RIC, "reason": "victim"}, 201)
    assert client.get(f"/v1/entries/{old['id']}", headers=callers["carrier"]).json["status"] == "revoked"
    assert publish("person", RIC, as_="regulator").status_code == 409
    # Once the old pepper is dropped, the old hash is only found by itself.
    override_settings(monkeypatch, app, subject_peppers=("a-brand-new-pepper-0123456789",))
    verdict = _post(client, "/v1/lookup", callers["carrier"], {"values": [{"kind": "person", "value": RIC}]}, 200)
    assert verdict.json["results"][0]["listed"] is False


def test_a_retry_with_the_same_idempotency_key_across_a_pepper_rotation_replays(app, client, callers, monkeypatch):
    """The stored request fingerprint is keyed with the pepper current when it was stored; a
    retry after a rotation (old pepper still active) is the same request and replays the first
    answer, while another body under that key is still refused."""
    headers = {**callers["regulator"], "Idempotency-Key": "rotation-1"}
    body = {"kind": "person", "value": RIC, "tags": ["list:joint-punishment"]}
    first = client.post("/v1/entries", json=body, headers=headers)
    assert first.status_code == 201
    override_settings(monkeypatch, app, subject_peppers=("a-brand-new-pepper-0123456789", PEPPER))
    again = client.post("/v1/entries", json=body, headers=headers)
    assert again.status_code == 201 and again.headers["Idempotent-Replayed"] == "true"
    assert again.json["id"] == first.json["id"]
    other = client.post("/v1/entries", json={**body, "value": OTHER_RIC}, headers=headers)
    assert other.status_code == 422


def test_free_text_carrying_a_resident_id_number_is_refused_and_nothing_is_stored(app, client, callers, publish):
    """Reasons, evidence, notes and display names are stored, audited and shown to others: one
    that carries a resident ID number (in any width, next to other text) is a 422 that does not
    quote it, and nothing is written; digits that only look alike (a longer run, a phone
    number, a bad check character) pass."""
    firm = publish("enterprise", USCC, as_="regulator").json
    hold = {"resource": {"kind": "code", "value": "10690031"}, "subject": {"kind": "enterprise", "value": USCC}}
    fullwidth = RIC.translate(str.maketrans("0123456789X", "０１２３４５６７８９Ｘ"))
    refused = [
        ("/v1/entries", {"kind": "number", "value": "13800138000", "reason": f"卖卡人身份证{RIC}，已处罚"}),
        ("/v1/entries", {"kind": "number", "value": "13800138000", "evidence": f"id {RIC.lower()} seen"}),
        ("/v1/entries", {"kind": "enterprise", "value": OTHER_USCC, "display_name": f"张某 {fullwidth}"}),
        ("/v1/holdings", {**hold, "role": "holder", "evidence": f"contract signed by {OTHER_RIC}"}),
        (f"/v1/entries/{firm['id']}/disputes", {"reason": f"we are not {RIC}"}),
    ]
    for path, body in refused:
        response = client.post(path, json=body, headers=callers["carrier"])
        assert_problem(response, 422)
        assert_no_raw_id(response.get_data(as_text=True), "the error")
        assert "resident ID number" in response.get_data(as_text=True)
    with app.app_context():
        assert_no_raw_id(stored_text(), "the database")
    for reason in (f"ref 9{RIC}", "call 13800138000", RIC[:-1] + ("1" if RIC[-1] != "1" else "2")):
        ok = publish("number", "13800138000", reason=reason)
        assert ok.status_code in (200, 201), ok.get_data(as_text=True)
