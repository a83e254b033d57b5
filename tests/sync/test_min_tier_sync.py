"""`blocklist-sync --min-tier block` against a live gunicorn: the mirror holds exactly the block
set (verified by the checksum with `min_tier`), follows entries out of it (a dispute's cap) and
into it (corroboration), and re-snapshots when the minimum changes."""

from __future__ import annotations

import pytest
from conftest import threaded_server
from sync_support import mirror_set, run, secret_env, sync_command


@pytest.fixture
def feed_server(app, database_url):
    server = threaded_server(database_url, workers=2, threads=8, BLOCKLIST_SWEEP_INTERVAL="0")
    yield server
    server.stop()


def test_a_block_mirror(app, feed_server, auth, client, callers, publish, tmp_path):
    carrier = publish("number", "13812340001").json  # block
    publish("number", "13812340002", as_="internet")  # label
    creds = auth.org("consumer")
    db_path = tmp_path / "mirror.sqlite"

    def sync(*extra):
        result = run(sync_command(feed_server, creds, db_path, *extra), env=secret_env(creds))
        assert result.returncode == 0, result.stderr
        assert "in sync" in result.stderr  # the checksum with min_tier matched
        return result

    sync("--min-tier", "block")
    assert mirror_set(db_path) == {("number", "+8613812340001")}

    filed = client.post(f"/v1/entries/{carrier['id']}/disputes", json={"reason": "mine"}, headers=callers["internet"])
    assert filed.status_code == 201
    publish("number", "13812340002", as_="carrier")  # corroborated by a carrier: block
    resumed = sync("--min-tier", "block")
    assert "snapshot loaded" not in resumed.stderr  # followed the feed from its cursor
    assert mirror_set(db_path) == {("number", "+8613812340002")}

    everything = sync()  # no minimum now: a new snapshot of the whole active set
    assert "snapshot loaded: 2 rows" in everything.stderr
    assert mirror_set(db_path) == {("number", "+8613812340001"), ("number", "+8613812340002")}
