"""Breadth limits (issue #12, item 4): a non-regulator cannot publish a range over
MAX_RANGE_SPAN numbers, a keyword under MIN_KEYWORD_CHARS folded characters, or a range or
keyword that covers an allowlisted value. Regulators can."""

from __future__ import annotations

import pytest
from support.problems import assert_problem
from support.settings import override_settings

from blocklist.values.coverage import range_span


def test_range_span_counts_the_numbers_a_range_covers():
    assert range_span("952750", 8) == 100
    assert range_span("1381234", 11) == 10_000
    assert range_span("1381234567890123456", None) == 11  # itself, or one more digit (20 at most)
    assert range_span("861", None) > 10**16


@pytest.mark.parametrize(
    "value,allowed",
    [
        ("952750xx", True),
        ("1381234xxxx", True),
        ("138123xxxxx", False),
        ("861*", False),
        ("138*", False),
        ("8613800138*", False),
        ("1381234567890123456*", True),
    ],
)
def test_a_carrier_publishes_only_ranges_up_to_the_span(publish, value, allowed):
    response = publish("range", value)
    if allowed:
        assert response.status_code == 201, response.get_data(as_text=True)
    else:
        body = assert_problem(response, 422)
        assert "at most 10,000" in body["errors"]["value"][0]
        assert publish("range", value, as_="regulator").status_code == 201


@pytest.mark.parametrize("value", ["ok", "验证", "o k", "ＯＫ"])
def test_short_keywords_are_for_regulators(publish, value):
    body = assert_problem(publish("keyword", value, as_="internet"), 422)
    assert "at least 3" in body["detail"]
    assert publish("keyword", value, as_="regulator").status_code in (200, 201)


def test_the_limits_are_configurable(app, publish, monkeypatch):
    override_settings(monkeypatch, app, max_range_span=100, min_keyword_chars=2)
    assert publish("range", "952750xx").status_code == 201
    assert_problem(publish("range", "95275xxx"), 422)
    assert publish("keyword", "验证").status_code == 201


def test_bulk_names_each_item_over_the_limits(client, callers):
    items = [
        {"kind": "code", "value": "10690001"},
        {"kind": "range", "value": "138*"},
        {"kind": "keyword", "value": "ok"},
    ]
    body = assert_problem(client.post("/v1/entries/bulk", json={"items": items}, headers=callers["carrier"]), 422)
    assert set(body["errors"]["items"]) == {"1", "2"}
    assert client.get("/v1/entries", headers=callers["carrier"]).json["items"] == []  # all or nothing


@pytest.mark.parametrize(
    "allowed_kind,allowed_value,kind,value",
    [
        ("code", "95588", "range", "955xx"),
        ("number", "+8610086", "range", "10086"[:3] + "xx"),
        ("code", "95588", "keyword", "95588转账"[:5]),
        ("domain", "icbc.com.cn", "keyword", "ICBC"),
        ("keyword", "招商银行信用卡中心", "keyword", "信用卡中心"),
    ],
)
def test_a_range_or_keyword_covering_an_allowlisted_value_is_refused(
    client, callers, publish, allowed_kind, allowed_value, kind, value
):
    added = client.post(
        "/v1/allowlist",
        json={"kind": allowed_kind, "value": allowed_value, "reason": "official"},
        headers=callers["regulator"],
    )
    assert added.status_code == 201, added.get_data(as_text=True)
    body = assert_problem(publish(kind, value), 409)
    assert "allowlisted" in body["detail"] and body["allowlist_reason"] == "official"
    assert publish(kind, value, as_="regulator").status_code == 201


def test_an_allowlisted_sender_is_not_blocked_for_keywords_a_carrier_cannot_publish(client, callers, publish):
    """The issue's reproduction: 验证 (2 characters) is refused, so 95588's 验证码 SMS is not
    blocked by a carrier's keyword."""
    client.post(
        "/v1/allowlist", json={"kind": "code", "value": "95588", "reason": "ICBC"}, headers=callers["regulator"]
    )
    assert_problem(publish("keyword", "验证"), 422)
    verdict = client.post(
        "/v1/check", json={"sender": "95588", "text": "您的验证码是 123456"}, headers=callers["carrier"]
    ).json
    assert verdict["verdict"] == "allow"
