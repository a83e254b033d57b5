"""Values given without a kind are read as their shape says, whatever punctuation writes them.

Numbers: written as carriers and printed material write them (ITU-T E.123 "+1 (202) 555-0143",
dots, a national prefix in parentheses), the shapes libphonenumber's own test data parses
(python-phonenumbers tests/phonenumberutiltest.py, testParseWithInternationalPrefixes:
"+1 (650) 253-0000", "1-650-253-0000"; testParseNationalNumber: "03-331 6005",
"+64 3 331 6005"). A look-up without `kind` and a check's sender must find what the same value
with `kind=number` finds, and a publisher may write any of them.

Resident ID numbers (GB 11643): a value that reads as one is a person's identifier, never a code
or a range, never echoed: a GET refuses it (a URL reaches access logs), a POST hashes it.
"""

from __future__ import annotations

import pytest
from support.problems import assert_problem
from support.subjects import RIC, assert_no_raw_id, person_hash

# (as written, what the same number is published as)
WRITTEN = [
    ("+1 (202) 555-0143", "+12025550143"),
    ("+1.202.555.0143", "+12025550143"),
    ("(010) 1234 5678", "+861012345678"),
    ("+86 (0)10 1234 5678", "+861012345678"),
    ("(+852) 5123 4567", "+85251234567"),
    ("+64 3 331 6005", "+6433316005"),
    ("+1 (650) 253-0000", "+16502530000"),
]


def _get(client, headers, value, kind=None):
    return client.get("/v1/lookup", query_string={"value": value, **({"kind": kind} if kind else {})}, headers=headers)


@pytest.mark.parametrize("written, e164", WRITTEN)
def test_a_number_found_with_kind_is_found_without(client, callers, publish, written, e164):
    entry = publish("number", e164)
    assert entry.status_code == 201, entry.get_data(as_text=True)
    with_kind = _get(client, callers["consumer"], written, kind="number").json
    without = _get(client, callers["consumer"], written).json
    assert with_kind["listed"] is True, with_kind
    assert [m["id"] for m in without["matches"]] == [m["id"] for m in with_kind["matches"]] == [entry.json["id"]]
    batch = client.post("/v1/lookup", json={"values": [{"value": written}]}, headers=callers["consumer"])
    assert [m["id"] for m in batch.json["results"][0]["matches"]] == [entry.json["id"]], batch.json


@pytest.mark.parametrize("written, e164", WRITTEN)
def test_a_number_written_any_way_is_published_as_its_e164(publish, written, e164):
    response = publish("number", written)
    assert response.status_code == 201, response.get_data(as_text=True)
    assert response.json["value"] == e164 and response.json["raw_value"] == written


@pytest.mark.parametrize("sender", ["+1 (202) 555-0143", "+1.202.555.0143", "(+1) 202 555 0143"])
def test_a_check_sender_written_with_punctuation_is_the_number(client, callers, publish, sender):
    entry = publish("number", "+12025550143").json
    response = client.post("/v1/check", json={"sender": sender, "text": "你好"}, headers=callers["consumer"])
    assert response.status_code == 200
    assert [(m["entry_id"], m["field"]) for m in response.json["matches"]] == [(entry["id"], "sender")]


def test_punctuation_does_not_make_a_code_or_keyword_a_number(client, callers, publish):
    keyword = publish("keyword", "3.14159", as_="regulator").json
    assert [m["id"] for m in _get(client, callers["carrier"], "3.14159").json["matches"]] == [keyword["id"]]


@pytest.mark.parametrize("kind", [None, "code", "range", "keyword", "number"])
@pytest.mark.parametrize("written", [RIC, RIC.lower(), "110105 19491231 002X"])
def test_a_resident_id_in_a_url_is_refused_without_being_quoted(client, callers, kind, written):
    response = _get(client, callers["carrier"], written, kind=kind)
    assert_problem(response, 422)
    body = response.get_data(as_text=True)
    assert_no_raw_id(body, "the answer")
    assert "kind=person" in response.json["detail"] and "POST" in response.json["detail"]


def test_a_resident_id_without_kind_in_a_body_is_hashed_like_a_person(client, callers, publish):
    listed = client.post("/v1/entries", json={"kind": "person", "value": RIC}, headers=callers["regulator"])
    assert listed.status_code == 201, listed.get_data(as_text=True)
    response = client.post(
        "/v1/lookup",
        json={"values": [{"value": RIC}, {"value": RIC, "kind": "code"}, {"value": "10687415"}]},
        headers=callers["carrier"],
    )
    assert response.status_code == 200
    assert_no_raw_id(response.get_data(as_text=True), "the answer")
    guessed, as_code, plain = response.json["results"]
    assert guessed["value"] == person_hash(RIC) and [m["id"] for m in guessed["matches"]] == [listed.json["id"]]
    assert as_code["value"] is None and as_code["listed"] is False and "kind=person" in as_code["error"]
    assert plain["value"] == "10687415"  # other values are echoed as before


@pytest.mark.parametrize("kind", ["code", "range", "keyword", "number"])
def test_a_resident_id_is_never_published_as_another_kind(client, callers, publish, kind):
    response = publish(kind, RIC, as_="regulator")
    assert_problem(response, 422)
    assert_no_raw_id(response.get_data(as_text=True), "the answer")
    assert "kind person" in response.json["errors"]["value"][0]


def test_a_resident_id_as_a_check_sender_matches_nothing_and_is_not_echoed(client, callers, publish):
    response = client.post("/v1/check", json={"sender": RIC, "text": "你好"}, headers=callers["consumer"])
    assert response.status_code == 200 and response.json["matches"] == []
    assert_no_raw_id(response.get_data(as_text=True), "the answer")
