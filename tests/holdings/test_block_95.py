"""The 95 call-centre block over HTTP: a company blacklisted by its local carrier for sub-letting
numbers; its legal representative obtains `952750xx` through an agent for a new company. The
second carrier's screening of the same company, or of the new one with the same representative,
answers `restricted: true` with the first carrier's listing; once the block is recorded as held
by the listed company it is restricted everywhere at that moment. Also: a person under joint
punishment holding a number, and the raw ID number nowhere."""

from __future__ import annotations

from support.problems import assert_problem
from support.subjects import RIC, assert_no_raw_id, make_uscc, person_hash, stored_text

from blocklist.db import db

OLD_CO, NEW_CO, CLEAN_CO, LESSEE_CO = (make_uscc(n) for n in (11, 12, 13, 14))


def _post(client, path, headers, body=None, status=None):
    response = client.post(path, json=body if body is not None else {}, headers=headers)
    if status is not None:
        assert response.status_code == status, response.get_data(as_text=True)
    return response


def screen(client, callers, kind, value, as_="carrier2"):
    response = _post(client, "/v1/subjects/screen", callers[as_], {"kind": kind, "value": value}, 200)
    assert_no_raw_id(response.get_data(as_text=True), "a screening answer")
    return response.json


def test_the_95_block_screening_finds_the_listed_company_through_its_representative(client, callers, publish):
    # The first carrier blacklists the company and records its legal representative.
    listing = publish(
        "enterprise", OLD_CO, as_="carrier", reason="Sub-let its numbers to a call centre", tags=["list:bad-operator"]
    ).json
    _post(
        client,
        "/v1/representatives",
        callers["carrier"],
        {"enterprise": OLD_CO, "person": RIC, "valid_from": "2020-01-01T00:00:00Z"},
        201,
    )
    # The new company has the same legal representative (recorded by the agent's carrier).
    new_rep = _post(client, "/v1/representatives", callers["carrier2"], {"enterprise": NEW_CO, "person": RIC}, 201).json
    assert new_rep["person"] == person_hash(RIC)

    # Screening the same company: its own listing.
    same = screen(client, callers, "enterprise", OLD_CO)
    assert same["restricted"] is True
    assert [e["id"] for e in same["listings"]] == [listing["id"]]
    # Screening the new company: restricted, with the first carrier's listing, through the person.
    new = screen(client, callers, "enterprise", NEW_CO)
    assert new["restricted"] is True and new["listings"] == []
    related = {(r["relation"], r["value"]): r for r in new["related"]}
    assert set(related) == {("representative", person_hash(RIC)), ("shares_representative", OLD_CO)}
    shared = related[("shares_representative", OLD_CO)]
    assert shared["via"] == person_hash(RIC)
    ((found,),) = [shared["listings"]]
    assert found["id"] == listing["id"] and found["reports"][0]["org"]["id"] == callers.org_id("carrier")
    # Screening the person by the ID number (body only): the enterprises it represents.
    person = screen(client, callers, "person", RIC)
    assert person["restricted"] is True
    assert {(r["relation"], r["value"], bool(r["listings"])) for r in person["related"]} == {
        ("represents", OLD_CO, True),
        ("represents", NEW_CO, False),
    }
    # A clean applicant.
    clean = screen(client, callers, "enterprise", CLEAN_CO)
    assert clean == {"restricted": False, "listings": [], "holdings": [], "related": []}
    assert (
        "check character"
        in assert_problem(
            _post(
                client, "/v1/subjects/screen", callers["carrier2"], {"kind": "enterprise", "value": OLD_CO[:-1] + "0"}
            ),
            422,
        )["detail"]
    )

    # The agent's carrier records the block as held by the listed company: restricted at once.
    block = _post(
        client,
        "/v1/holdings",
        callers["carrier2"],
        {
            "resource": {"kind": "range", "value": "952750XX"},
            "subject": {"kind": "enterprise", "value": OLD_CO},
            "role": "holder",
        },
        201,
    ).json
    assert block["resource"] == {"kind": "range", "value": "952750xx"}
    verdict = client.get("/v1/lookup", query_string={"value": "95275012"}, headers=callers["internet"]).json
    assert verdict["listed"] is True
    (match,) = [m for m in verdict["matches"] if m["kind"] == "range"]
    assert match["reports"][0]["via"] == {"subject_entry_id": listing["id"], "holding_id": block["id"]}
    assert match["reports"][0]["org"]["id"] == callers.org_id("carrier")  # the listing org
    assert [h["id"] for h in screen(client, callers, "enterprise", OLD_CO)["holdings"]] == [block["id"]]

    # One lease away: a lessee of the listed company is told of its lessor, not restricted by it.
    _post(
        client,
        "/v1/holdings",
        callers["regulator"],
        {
            "resource": {"kind": "range", "value": "952750xx"},
            "subject": {"kind": "enterprise", "value": LESSEE_CO},
            "role": "lessee",
            "lessor": {"kind": "enterprise", "value": OLD_CO},
        },
        201,
    )
    lessee = screen(client, callers, "enterprise", LESSEE_CO)
    assert lessee["restricted"] is False
    assert [(r["relation"], r["value"], len(r["listings"])) for r in lessee["related"]] == [("lessor", OLD_CO, 1)]
    assert ("lessee", LESSEE_CO) in {
        (r["relation"], r["value"]) for r in screen(client, callers, "enterprise", OLD_CO)["related"]
    }

    # Representatives: listed by either, ended only by the recorder or a regulator.
    reps = client.get("/v1/representatives", query_string={"person": person_hash(RIC)}, headers=callers["carrier"]).json
    assert {r["enterprise"] for r in reps["items"]} == {OLD_CO, NEW_CO}
    assert_problem(client.get("/v1/representatives", query_string={"person": RIC}, headers=callers["carrier"]), 422)
    assert_problem(_post(client, f"/v1/representatives/{new_rep['id']}/end", callers["carrier"]), 403)
    assert_problem(
        _post(client, "/v1/representatives", callers["internet"], {"enterprise": NEW_CO, "person": RIC}), 403
    )
    _post(client, f"/v1/representatives/{new_rep['id']}/end", callers["carrier2"], {"reason": "changed"}, 200)
    assert screen(client, callers, "enterprise", NEW_CO)["restricted"] is False


def test_a_person_under_joint_punishment_holding_a_number_restricts_it_and_the_id_is_never_kept(
    app, client, callers, publish
):
    person = publish("person", RIC, as_="regulator", tags=["list:joint-punishment"], reason="card seller").json
    made = _post(
        client,
        "/v1/holdings",
        callers["carrier"],
        {
            "resource": {"kind": "number", "value": "138 0013 8000"},
            "subject": {"kind": "person", "value": RIC},
            "role": "holder",
        },
        201,
    )
    assert_no_raw_id(made.get_data(as_text=True), "a holding")
    assert made.json["subject"] == {"kind": "person", "value": person_hash(RIC)}
    verdict = client.get("/v1/lookup", query_string={"value": "+8613800138000"}, headers=callers["carrier2"]).json
    assert verdict["listed"] and verdict["matches"][0]["reports"][0]["via"]["subject_entry_id"] == person["id"]
    assert screen(client, callers, "person", RIC)["holdings"][0]["id"] == made.json["id"]
    # Listed under joint punishment: ending the person's listing lifts the number.
    _post(client, f"/v1/entries/{person['id']}/expire", callers["regulator"], {"reason": "served"}, 200)
    assert (
        client.get("/v1/lookup", query_string={"value": "+8613800138000"}, headers=callers["carrier2"]).json["listed"]
        is False
    )
    with app.app_context():
        stored = stored_text()
        db.session.remove()
    assert_no_raw_id(stored, "the database")
