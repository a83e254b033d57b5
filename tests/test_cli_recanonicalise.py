"""`flask entries recanonicalise`: the entries stored before a canonical form changed (issue #20:
Safe Browsing drops the port; e-mail addresses and escaped spaces are no URLs; folding drops
every default-ignorable code point) are listed, read-only, so a regulator can act on them."""

from __future__ import annotations

import json

from sqlalchemy import update

from blocklist.db import db
from blocklist.entries.models import Entry


def _store_as_before(app, entry_id: int, value: str, raw: str) -> None:
    """What the previous canonical forms stored (the entry is otherwise as published)."""
    with app.app_context():
        db.session.execute(update(Entry).where(Entry.id == entry_id).values(value=value, raw_value=raw))
        db.session.commit()  # releases the test's savepoint: the outer transaction is rolled back


def test_entries_stored_in_an_old_canonical_form_are_listed(app, runner, publish):
    clean = runner.invoke(args=["entries", "recanonicalise"])
    assert clean.exit_code == 0 and clean.output == ""

    portless = publish("url", "http://www.gotaport.com/").json
    with_port = publish("url", "http://other.example/a").json
    _store_as_before(app, with_port["id"], "http://www.gotaport.com:1234/", "http://www.gotaport.com:1234/")
    email = publish("url", "http://qq.com/x").json
    _store_as_before(app, email["id"], "http://qq.com/", "kefu@qq.com")
    selector = publish("keyword", "百万保障").json
    _store_as_before(app, selector["id"], "百\ufe0f万保障", "百\ufe0f万保障")
    untouched = publish("number", "+1 (202) 555-0143").json

    result = runner.invoke(args=["entries", "recanonicalise"])
    assert result.exit_code == 1, result.output
    lines = {line["id"]: line for line in map(json.loads, result.output.splitlines())}
    assert lines[with_port["id"]] == {
        "id": with_port["id"],
        "kind": "url",
        "status": "active",
        "changed": "http://www.gotaport.com/",
        "duplicate_of": portless["id"],
    }
    assert lines[email["id"]]["refused"].startswith("An e-mail address is not a URL")
    # no other entry holds the keyword's new canonical value: not a duplicate
    assert lines[selector["id"]]["changed"] == "百万保障" and "duplicate_of" not in lines[selector["id"]]
    assert untouched["id"] not in lines and portless["id"] not in lines
