"""Hostile hosts against every endpoint that parses one (issue #12, item 1): very long hosts,
very many labels, long labels, IDNA junk, many links in one text. Each request gets a normal
answer or a 4xx problem, never a 5xx, and the work it makes is bounded by a small constant per
value: SQL statements are counted, and the bound parameters of each one (the probe values sent
to the database: at most 5 host suffixes x 6 path prefixes URL keys and 5 domain names per
link). Nothing is timed."""

from __future__ import annotations

import pytest
from support.problems import assert_problem
from support.sql import sql_log

from blocklist.matching.engine import get_engine

# Per URL: its canonical (kind, value) pair, 30 Safe Browsing expressions, 5 domain names.
PROBES_PER_URL = 36
# A valid host of 121 labels (243 characters): every parent domain was a probe before.
DEEP = "a." * 120 + "com"

HOSTILE = {
    "long host": "http://" + ".".join(["a" * 63] * 30) + ".com/",  # 1,930 chars, labels fine
    "many labels": "http://" + "a." * 1000 + "com/",  # 1,000 labels
    "many labels, no scheme": "a." * 1020 + "com",
    "long label": "http://" + "a" * 1500 + ".com/x",
    "long label, no scheme": "a" * 64 + ".com",
    "escaped long host": "http://" + "%61%2e" * 300 + "com/",  # a.a.a... once unescaped
    "IDNA junk: long Chinese label": "http://" + "中" * 1500 + ".com/",
    "IDNA junk: escaped UTF-8 host": "http://" + "%E4%B8%AD" * 220 + ".com/",
    "IDNA junk: emoji labels": "http://" + "😀." * 600 + "com/",
    "IDNA junk: bad punycode": "http://xn--" + "9" * 59 + ".xn--zz.com/",
    "IDNA junk: ignorable characters": "http://a" + "\u00ad" * 1200 + ".com/",
    "deep valid host": "http://" + DEEP + "/1/2/3/4/5?q=1",
    "deep valid domain": DEEP,
}


@pytest.fixture(autouse=True)
def fresh_engine(app):
    get_engine(app).reset()
    yield
    get_engine(app).reset()


def _answered(response, *ok):
    """A normal answer with one of the `ok` statuses, or a 4xx problem; never a 5xx."""
    if response.status_code in ok:
        return response.json
    assert 400 <= response.status_code < 500, response.get_data(as_text=True)
    assert_problem(response, response.status_code)
    return None


def _requests(value):
    """(name, method, path, keyword arguments, ok statuses, links in it) for every endpoint that
    parses a host."""
    return [
        ("publish url", "post", "/v1/entries", {"json": {"kind": "url", "value": value}}, (200, 201)),
        ("publish domain", "post", "/v1/entries", {"json": {"kind": "domain", "value": value}}, (200, 201)),
        (
            "bulk",
            "post",
            "/v1/entries/bulk",
            {"json": {"items": [{"kind": "url", "value": value}, {"kind": "domain", "value": "fine.example.com"}]}},
            (200, 201),
        ),
        ("lookup url", "get", "/v1/lookup", {"query_string": {"value": value, "kind": "url"}}, (200,)),
        ("lookup guessed", "get", "/v1/lookup", {"query_string": {"value": value}}, (200,)),
        (
            "batch lookup",
            "post",
            "/v1/lookup",
            {
                "json": {
                    "values": [{"value": value}, {"value": value, "kind": "url"}, {"value": value, "kind": "domain"}]
                }
            },
            (200,),
        ),
        ("check", "post", "/v1/check", {"json": {"sender": "1", "text": f"看 {value} 。"}}, (200,)),
    ]


@pytest.mark.parametrize("value", list(HOSTILE.values()), ids=list(HOSTILE))
def test_hostile_hosts_get_an_answer_and_bounded_work(client, callers, publish, app, value):
    publish("domain", "example.com")
    publish("url", "http://a.example.com/")
    headers = callers["carrier"]
    for name, method, path, kwargs, ok in _requests(value):
        with sql_log(app) as log:
            response = getattr(client, method)(path, headers=headers, **kwargs)
        _answered(response, *ok)
        # Three values at most per request: every statement's parameters stay a small multiple.
        widest = max((n for _, n in log), default=0)
        assert widest <= 3 * PROBES_PER_URL, (name, widest, [s[:80] for s, n in log if n == widest])
        assert len(log) <= 40, (name, len(log))


@pytest.mark.parametrize(
    "name", ["long host", "many labels", "long label", "escaped long host", "IDNA junk: escaped UTF-8 host"]
)
def test_a_host_too_long_for_dns_is_refused_with_a_clear_problem(client, callers, publish, name):
    value = HOSTILE[name]
    for kwargs in ({"json": {"kind": "url", "value": value}},):
        body = assert_problem(client.post("/v1/entries", headers=callers["carrier"], **kwargs), 422)
        assert "host name" in str(body), body
    body = assert_problem(
        client.get("/v1/lookup", query_string={"value": value, "kind": "url"}, headers=callers["carrier"]), 422
    )
    assert "at most 253 characters" in body["detail"] or "at most 63 characters" in body["detail"]
    body = assert_problem(
        client.post("/v1/entries/bulk", json={"items": [{"kind": "url", "value": value}]}, headers=callers["carrier"]),
        422,
    )
    batch = client.post("/v1/lookup", json={"values": [{"value": value, "kind": "url"}]}, headers=callers["carrier"])
    assert batch.status_code == 200
    assert batch.json["results"][0]["listed"] is False
    assert "host name" in batch.json["results"][0]["error"]


def test_check_probes_are_linear_in_the_links(client, callers, app):
    """The filed attack (a 32,000-label host) and texts packed with links: the probe values sent
    to the database are at most PROBES_PER_URL per link found, in one statement per 5,000."""
    cases = {
        "32,000 labels": ("http://" + "a." * 32000 + "a", 0),
        "16,000 labels, no scheme": ("a." * 16000 + "com", 0),
        "one deep valid host": ("http://" + DEEP + "/", 1),
        "200 deep valid hosts": (" ".join(f"http://{'a.' * 118}x{i}.com/1/2/3/4?q" for i in range(200)), 200),
        "1,000 links of 5 suffixes x 6 paths": (" ".join(f"a.b.c.d{i}.com/1/2/3/x?q" for i in range(1000)), 1000),
    }
    headers = callers["consumer"]
    client.post("/v1/check", json={"text": "warm-up: the engine is built"}, headers=headers)
    for name, (text, links) in cases.items():
        with sql_log(app) as log:
            response = client.post("/v1/check", json={"sender": "1", "text": text}, headers=headers)
        assert response.status_code == 200 and response.json["verdict"] == "allow", (name, response.json)
        probes = sum(n for statement, n in log if "FROM entries" in statement)
        assert probes <= PROBES_PER_URL * links + 5, (name, probes)
        assert len(log) <= 3 + probes // 5000, (name, [s[:80] for s, _ in log])


def test_check_still_matches_a_listed_domain_under_a_deep_host(client, callers, publish):
    """Bounding the parents keeps what matters: the registrable domain is always one of the five
    host suffixes probed."""
    entry_id = publish("domain", "evil.example.com").json["id"]
    text = "点击 http://" + "x." * 100 + "evil.example.com/login 领奖"
    response = client.post("/v1/check", json={"text": text}, headers=callers["consumer"])
    assert response.status_code == 200
    assert [(m["kind"], m["entry_id"]) for m in response.json["matches"]] == [("domain", entry_id)]
    lookup = client.get(
        "/v1/lookup", query_string={"value": "http://" + "x." * 100 + "evil.example.com/"}, headers=callers["consumer"]
    )
    assert [m["id"] for m in lookup.json["matches"]] == [entry_id]
