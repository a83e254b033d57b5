"""Look-ups: single and batch, kinds guessed by shape, covering ranges, URL expressions and
parent domains, allowlist precedence, and a constant number of queries per batch."""

from __future__ import annotations

from support.problems import assert_problem
from support.sql import sql_log


def _lookup(client, headers, value, kind=None):
    query = {"value": value, **({"kind": kind} if kind else {})}
    response = client.get("/v1/lookup", query_string=query, headers=headers)
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.json


def test_number_matches_itself_and_covering_ranges(client, callers, publish):
    number = publish("number", "13812345678").json
    narrow = publish("range", "1381234xxxx").json
    wide = publish("range", "138*", as_="regulator").json  # wider than a carrier may publish
    publish("range", "1381234xxx")  # one digit short: does not cover an 11-digit number
    verdict = _lookup(client, callers["consumer"], "+86 138-1234-5678")
    assert verdict["listed"] is True
    assert verdict["value"] == "+86 138-1234-5678" and verdict["kind"] is None
    assert sorted(m["id"] for m in verdict["matches"]) == sorted([number["id"], narrow["id"], wide["id"]])
    other = _lookup(client, callers["consumer"], "13812349999", kind="number")
    assert [m["id"] for m in other["matches"]] == [narrow["id"], wide["id"]] or sorted(
        m["id"] for m in other["matches"]
    ) == sorted([narrow["id"], wide["id"]])


def test_code_range_covers_service_codes(client, callers, publish):
    rng = publish("range", "952750xx").json
    verdict = _lookup(client, callers["carrier"], "95275012")
    assert [m["id"] for m in verdict["matches"]] == [rng["id"]]
    assert _lookup(client, callers["carrier"], "952750123")["listed"] is False  # too long for xx


def test_url_matches_by_path_prefix_and_domain_parents_but_not_lookalikes(client, callers, publish):
    url = publish("url", "http://evil.example.com/pay/").json
    domain = publish("domain", "scam.cn").json
    hit = _lookup(client, callers["carrier"], "https://EVIL.example.com/pay/step2?x=1")
    assert [m["id"] for m in hit["matches"]] == [url["id"]]
    sub = _lookup(client, callers["carrier"], "http://login.www.scam.cn/a")
    assert [m["id"] for m in sub["matches"]] == [domain["id"]]
    assert _lookup(client, callers["carrier"], "www.scam.cn", kind="domain")["listed"] is True
    for lookalike in ["http://notscam.cn/", "http://scam.cn.evil.org/", "http://evil.example.com/other"]:
        assert _lookup(client, callers["carrier"], lookalike)["listed"] is False, lookalike


def test_keyword_lookup_uses_the_folded_form(client, callers, publish):
    publish("keyword", "安全账户")
    assert _lookup(client, callers["carrier"], "安 全 賬 戶", kind="keyword")["listed"] is True


def test_allowlisted_value_never_matches_even_under_a_covering_range(client, callers, publish):
    publish("range", "955xx")
    assert _lookup(client, callers["carrier"], "95588")["listed"] is True
    client.post(
        "/v1/allowlist", json={"kind": "code", "value": "95588", "reason": "ICBC"}, headers=callers["regulator"]
    )
    verdict = _lookup(client, callers["carrier"], "95588")
    assert verdict == {"value": "95588", "kind": None, "listed": False, "matches": []}
    assert _lookup(client, callers["carrier"], "95599")["listed"] is True


def test_allowlisting_revokes_the_entry_and_protects_subdomains(client, callers, publish):
    entry = publish("domain", "icbc.com.cn").json
    client.post(
        "/v1/allowlist",
        json={"kind": "domain", "value": "icbc.com.cn", "reason": "the bank"},
        headers=callers["regulator"],
    )
    assert client.get(f"/v1/entries/{entry['id']}", headers=callers["carrier"]).json["status"] == "revoked"
    assert_problem(publish("url", "http://mybank.icbc.com.cn/login"), 409)


def test_batch_lookup_keeps_order_and_uses_a_constant_number_of_queries(client, callers, publish, app):
    for i in range(5):
        publish("number", f"1390000000{i}")
    publish("range", "1391111xxxx")
    publish("url", "http://a.example.org/")
    values = [{"value": f"1390000000{i}"} for i in range(5)] + [
        {"value": "13911112222"},
        {"value": "http://a.example.org/x"},
        {"value": "not listed at all"},
        {"value": "12", "kind": "number"},
    ]
    # one value of each shape, against the whole batch: same statements
    with sql_log(app) as log:
        small = client.post(
            "/v1/lookup", json={"values": [values[0], values[5], values[6]]}, headers=callers["carrier"]
        )
    small_count = len(log)
    with sql_log(app) as log:
        big = client.post("/v1/lookup", json={"values": values}, headers=callers["carrier"])
    big_count = len(log)
    assert small.status_code == big.status_code == 200
    results = big.json["results"]
    assert [r["value"] for r in results] == [v["value"] for v in values]
    assert [r["listed"] for r in results] == [True] * 7 + [False, False]
    assert "error" in results[-1]
    assert big_count == small_count, (small_count, big_count)


def test_lookup_validation(client, callers):
    assert_problem(client.get("/v1/lookup", headers=callers["carrier"]), 422)
    assert_problem(
        client.get("/v1/lookup", query_string={"value": "12", "kind": "number"}, headers=callers["carrier"]), 422
    )
    assert_problem(client.post("/v1/lookup", json={"values": [{"value": "1"}] * 1001}, headers=callers["carrier"]), 422)


def test_single_lookup_round_trips(client, callers, publish, app):
    """After the token, a miss is one query (the probe); a hit is that query (the entries joined
    to their reports and tags) and one allowlist query. (Round trips are most of a look-up.)"""
    publish("number", "13900000001")
    counts = {}
    for name, value in (("miss", "13900000002"), ("hit", "13900000001")):
        with sql_log(app) as log:  # the token look-up is left out
            response = client.get("/v1/lookup", query_string={"value": value}, headers=callers["carrier"])
        assert response.status_code == 200 and response.json["listed"] == (name == "hit")
        counts[name] = [statement for statement, _ in log]
    assert len(counts["miss"]) == 1, counts["miss"]
    assert len(counts["hit"]) == 2, counts["hit"]  # entries with reports and tags, allowlist
    assert any("FROM allowlist" in s for s in counts["hit"])
