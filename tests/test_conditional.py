"""Conditional requests as RFC 9110 section 13 says: `If-Match` on PATCH uses the strong
comparison (a weak tag never matches: 412), the snapshot's `If-None-Match` the weak one (a
`W/` tag matches, `*` matches any), and lists of tags are read as lists."""

from __future__ import annotations

import pytest
from support.problems import assert_problem


def _patch(client, callers, entry_id: int, if_match: str | None, tag: str):
    headers = {**callers["carrier"], **({"If-Match": if_match} if if_match is not None else {})}
    return client.patch(f"/v1/entries/{entry_id}", json={"add_tags": [tag]}, headers=headers)


def test_if_match_is_the_strong_comparison(client, callers, publish):
    entry = publish("code", "10687415", tags=["fraud:ticket-scam"])
    entry_id, etag = entry.json["id"], entry.headers["ETag"]
    assert etag.startswith('"') and etag.endswith('"')

    # A weak validator of the very same version never matches If-Match (RFC 9110 13.1.1).
    weak = _patch(client, callers, entry_id, f"W/{etag}", "channel:sms")
    body = assert_problem(weak, 412)
    assert "ETag" in body["detail"]
    assert client.get(f"/v1/entries/{entry_id}", headers=callers["carrier"]).headers["ETag"] == etag  # unchanged

    # The current strong tag matches, also inside a list with other tags.
    listed = _patch(client, callers, entry_id, f'"0.0", W/"x", {etag}', "channel:sms")
    assert listed.status_code == 200, listed.get_data(as_text=True)
    assert listed.headers["ETag"] != etag
    assert_problem(_patch(client, callers, entry_id, etag, "source:12321"), 412)  # now stale

    # `*` matches any current entry; no header means no precondition.
    current = listed.headers["ETag"]
    star = _patch(client, callers, entry_id, "*", "source:12321")
    assert star.status_code == 200 and star.headers["ETag"] != current
    assert _patch(client, callers, entry_id, None, "channel:voice").status_code == 200


def test_if_match_on_a_missing_entry_is_404_not_412(client, callers):
    assert_problem(_patch(client, callers, 999_999, '"999999.1"', "channel:sms"), 404)


def _snapshot(client, headers):
    """A whole snapshot response, read and closed (closing ends its read transaction)."""
    response = client.get("/v1/feed/snapshot", headers=headers)
    response.get_data()
    response.close()
    return response


@pytest.mark.committed  # the snapshot reads on a connection of its own
def test_snapshot_if_none_match_is_the_weak_comparison_and_honours_star(client, callers, publish):
    publish("range", "952750xx")
    headers = callers["consumer"]
    first = _snapshot(client, headers)
    assert first.status_code == 200
    etag = first.headers["ETag"]
    cursor = first.headers["X-Blocklist-Cursor"]

    for if_none_match in (etag, f"W/{etag}", f'"other", W/{etag}', "*"):
        again = _snapshot(client, {**headers, "If-None-Match": if_none_match})
        assert again.status_code == 304, if_none_match
        assert again.data == b""
        assert again.headers["ETag"] == etag and again.headers["X-Blocklist-Cursor"] == cursor

    # Another snapshot's tag, or a tag that merely contains this one, is not a match.
    for if_none_match in ('"feed-0-all-jsonl"', etag[:-1] + '-x"'):
        assert _snapshot(client, {**headers, "If-None-Match": if_none_match}).status_code == 200

    # Once the active set changes, the old tag no longer matches (but `*` still does).
    publish("keyword", "安 全 账 户")
    changed = _snapshot(client, {**headers, "If-None-Match": f"W/{etag}"})
    assert changed.status_code == 200 and changed.headers["ETag"] != etag
    assert "安全账户" in changed.get_data(as_text=True)  # the folded keyword
    assert _snapshot(client, {**headers, "If-None-Match": "*"}).status_code == 304
