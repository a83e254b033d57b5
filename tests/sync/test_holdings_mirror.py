"""Derived restrictions reach a mirror: a code held by a listed firm enters `blocklist-sync`'s
copy through the feed with the listing, leaves it when the holding ends, and the mirror's
checksum agrees with the server's each time (the client verifies it: "in sync")."""

from __future__ import annotations

import pytest
from conftest import threaded_server
from support.subjects import make_uscc
from sync_support import mirror_set, run, secret_env, server_set, sync_command

from blocklist.sync.lookup import lookup as mirror_lookup
from blocklist.sync.mirror import Mirror

FIRM = make_uscc(31)
CODES = ("10687415", "10684500")


@pytest.mark.committed
def test_a_mirror_receives_the_derived_restrictions_and_their_removal(
    app, database_url, auth, client, callers, publish, tmp_path
):
    holdings = []
    for code in CODES:
        response = client.post(
            "/v1/holdings",
            json={
                "resource": {"kind": "code", "value": code},
                "subject": {"kind": "enterprise", "value": FIRM},
                "role": "holder",
            },
            headers=callers["carrier"],
        )
        assert response.status_code == 201, response.json
        holdings.append(response.json["id"])
    listing = publish("enterprise", FIRM, as_="regulator", reason="ticket-scam texts").json
    creds = auth.org("carrier", name="mirroring-carrier")
    mirror_path = tmp_path / "mirror.sqlite"
    server = threaded_server(database_url)
    try:
        first = run(sync_command(server, creds, mirror_path), secret_env(creds))
        assert first.returncode == 0 and "in sync" in first.stderr, first.stderr
        assert mirror_set(mirror_path) == server_set(app) == {("enterprise", FIRM), *(("code", c) for c in CODES)}
        mirror = Mirror(str(mirror_path))
        try:
            assert mirror_lookup(mirror, "1068 7415", "code", "CN")["listed"] is True
        finally:
            mirror.close()

        # The carrier ends one allocation; the regulator withdraws the listing: both codes leave.
        ended = client.post(f"/v1/holdings/{holdings[0]}/end", json={}, headers=callers["carrier"])
        assert ended.status_code == 200
        second = run(sync_command(server, creds, mirror_path), secret_env(creds))
        assert second.returncode == 0 and "in sync" in second.stderr, second.stderr
        assert mirror_set(mirror_path) == server_set(app) == {("enterprise", FIRM), ("code", CODES[1])}
        withdrawn = client.post(f"/v1/entries/{listing['id']}/withdraw", json={}, headers=callers["regulator"])
        assert withdrawn.status_code == 200
        third = run(sync_command(server, creds, mirror_path), secret_env(creds))
        assert third.returncode == 0 and "in sync" in third.stderr, third.stderr
        assert mirror_set(mirror_path) == server_set(app) == set()
    finally:
        server.stop()
