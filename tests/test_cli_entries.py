"""Operator commands for entries and the allowlist (`flask entries import|export`, `flask
allowlist import`), run through Flask's CLI runner on the real database. Imports are all or
nothing (a bad row is named by its line and nothing is written); their effect is checked over
HTTP and in the audit trail; the export is the snapshot's bytes."""

from __future__ import annotations

import json

import pytest


@pytest.fixture
def regulator(auth):
    return auth.headers("regulator")


def _entries(client, headers) -> list[dict]:
    response = client.get("/v1/entries?limit=1000", headers=headers)
    assert response.status_code == 200
    return response.json["items"]


def _audit_actions(client, headers) -> list[tuple[str, str]]:
    response = client.get("/v1/audit?order=asc&limit=1000", headers=headers)
    assert response.status_code == 200
    return [(r["action"], r["actor_org_name"]) for r in response.json["items"]]


def test_import_jsonl_publishes_as_the_org_and_is_audited_as_the_operator(runner, client, auth, regulator, tmp_path):
    carrier = auth.org("carrier", name="China Mobile")
    path = tmp_path / "entries.jsonl"
    path.write_text(
        '{"kind": "code", "value": "10687415", "reason": "leased code", "tags": ["channel:sms"]}\n'
        "\n"
        '{"kind": "range", "value": "952750xx", "category": null}\n'
        '{"kind": "keyword", "value": "安全账户"}\n',
        encoding="utf-8",
    )
    result = runner.invoke(args=["entries", "import", str(path), "--org", str(carrier.org_id)])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == {"rows": 3, "created": 3, "relisted": 0, "corroborated": 0, "refreshed": 0}

    verdict = client.get("/v1/lookup?value=95275012", headers=regulator).json
    assert verdict["listed"] and verdict["matches"][0]["value"] == "952750xx"
    entry = client.get("/v1/lookup?value=10687415", headers=regulator).json["matches"][0]
    assert entry["tags"] == ["channel:sms"]
    assert [(r["org"]["id"], r["reason"]) for r in entry["reports"]] == [(carrier.org_id, "leased code")]
    check = client.post("/v1/check", json={"text": "请转入安 全 账 户"}, headers=regulator).json
    assert check["verdict"] == "block"
    publishes = [a for a in _audit_actions(client, regulator) if a[0] == "entry.publish"]
    assert publishes == [("entry.publish", "operator (cli) for China Mobile")] * 3


def test_import_csv_with_tags_and_a_second_import_corroborates(runner, client, auth, regulator, tmp_path):
    carrier, app_org = auth.org("carrier"), auth.org("internet")
    path = tmp_path / "entries.csv"
    path.write_text("kind,value,tags,reason\ncode,10684500,channel:sms fraud:lease,\nnumber,+86 138 0013 8000,,\n")
    first = runner.invoke(args=["entries", "import", str(path), "--org", str(carrier.org_id)])
    assert first.exit_code == 0, first.output
    second = runner.invoke(args=["entries", "import", str(path), "--org", str(app_org.org_id)])
    assert json.loads(second.output)["corroborated"] == 2
    entries = {e["value"]: e for e in _entries(client, regulator)}
    assert entries["10684500"]["tags"] == ["channel:sms", "fraud:lease"]
    assert entries["+8613800138000"]["reporters"] == 2


@pytest.mark.parametrize(
    ("content", "line", "message"),
    [
        # schema errors, found before any write
        ("kind,value\ncode,10687415\nbank,1\n", 3, "kind"),
        ("kind,value\ncode,10687415\ncode,\n", 3, "value"),
        ("kind,value\ncode,10687415\nnumber,1,extra\n", 3, "more fields"),
        # errors the publish service finds, mapped back to their lines
        ("kind,value\ncode,10687415\nnumber,not a number\n", 3, "phone number"),
        ("kind,value\ncode,10687415\nkeyword,ok\n", 3, "at least 3"),
        ("kind,value\ncode,10687415\nrange,95*\n", 3, "range"),
    ],
)
def test_a_bad_row_is_named_by_line_and_nothing_is_written(
    runner, client, auth, regulator, tmp_path, content, line, message
):
    carrier = auth.org("carrier")
    path = tmp_path / "entries.csv"
    path.write_text(content)
    before = _audit_actions(client, regulator)
    result = runner.invoke(args=["entries", "import", str(path), "--org", str(carrier.org_id)])
    assert result.exit_code == 1
    assert f"line {line}:" in result.output and message in result.output, result.output
    assert "nothing was written" in result.output and "Traceback" not in result.output
    assert _entries(client, regulator) == []
    assert _audit_actions(client, regulator) == before


def test_jsonl_that_is_not_json_is_named_by_line(runner, client, auth, regulator, tmp_path):
    carrier = auth.org("carrier")
    path = tmp_path / "entries.jsonl"
    path.write_text('{"kind": "code", "value": "10687415"}\n{"kind": "code", "value": \n["code"]\n')
    result = runner.invoke(args=["entries", "import", str(path), "--org", str(carrier.org_id)])
    assert result.exit_code == 1
    assert "line 2: not JSON" in result.output and "line 3: not a JSON object" in result.output
    assert _entries(client, regulator) == []


def test_import_for_an_unknown_or_suspended_org_is_refused(runner, client, auth, regulator, tmp_path):
    path = tmp_path / "entries.jsonl"
    path.write_text('{"kind": "code", "value": "10687415"}\n')
    unknown = runner.invoke(args=["entries", "import", str(path), "--org", "424242"])
    assert unknown.exit_code == 1 and "No organisation with id 424242" in unknown.output
    carrier = auth.org("carrier")
    assert runner.invoke(args=["org", "suspend", str(carrier.org_id)]).exit_code == 0
    suspended = runner.invoke(args=["entries", "import", str(path), "--org", str(carrier.org_id)])
    assert suspended.exit_code == 1 and "suspended" in suspended.output
    assert _entries(client, regulator) == []


def test_import_holds_a_carrier_to_its_own_rules(runner, client, auth, regulator, tmp_path):
    """The operator importing for a carrier gets no regulator powers: a revoked value stays
    revoked; importing for a regulator org may list it again."""
    carrier, reg = auth.org("carrier"), auth.org("regulator")
    path = tmp_path / "one.jsonl"
    path.write_text('{"kind": "code", "value": "10687415"}\n')
    assert runner.invoke(args=["entries", "import", str(path), "--org", str(carrier.org_id)]).exit_code == 0
    entry_id = _entries(client, regulator)[0]["id"]
    revoked = client.post(f"/v1/entries/{entry_id}/revoke", json={"reason": "wrong"}, headers=regulator)
    assert revoked.status_code == 200
    again = runner.invoke(args=["entries", "import", str(path), "--org", str(carrier.org_id)])
    assert again.exit_code == 1 and "line 1:" in again.output and "Revoked" in again.output
    relisted = runner.invoke(args=["entries", "import", str(path), "--org", str(reg.org_id)])
    assert relisted.exit_code == 0 and json.loads(relisted.output)["relisted"] == 1


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
@pytest.mark.committed  # the export reads on a connection of its own
def test_export_is_the_snapshot_and_imports_back(runner, client, auth, regulator, tmp_path, fmt):
    carrier = auth.org("carrier")
    source = tmp_path / "in.jsonl"
    source.write_text(
        '{"kind": "code", "value": "10687415", "tags": ["channel:sms", "fraud:lease"], "category": "fraud"}\n'
        '{"kind": "range", "value": "952750xx"}\n'
        '{"kind": "url", "value": "http://icbc-safe-verify.top/login"}\n'
    )
    assert runner.invoke(args=["entries", "import", str(source), "--org", str(carrier.org_id)]).exit_code == 0

    result = runner.invoke(args=["entries", "export", "--format", fmt])
    assert result.exit_code == 0, result.output
    snapshot = client.get(f"/v1/feed/snapshot?format={fmt}", headers=auth.headers(carrier))
    assert result.stdout_bytes == snapshot.data
    assert json.loads(result.stderr)["cursor"] == snapshot.headers["X-Blocklist-Cursor"]

    out = tmp_path / f"export.{fmt}"
    assert runner.invoke(args=["entries", "export", "--format", fmt, "--kind", "code", "-o", str(out)]).exit_code == 0
    exported = out.read_text()
    assert "10687415" in exported and "952750xx" not in exported

    other = auth.org("internet")
    back = runner.invoke(args=["entries", "import", str(out), "--org", str(other.org_id)])
    assert back.exit_code == 0, back.output
    assert json.loads(back.output)["corroborated"] == 1
    code = client.get("/v1/lookup?value=10687415", headers=regulator).json["matches"][0]
    assert code["reporters"] == 2 and code["tags"] == ["channel:sms", "fraud:lease"]


def test_allowlist_import_adds_revokes_listed_values_and_refuses_publishing(runner, client, auth, regulator, tmp_path):
    carrier = auth.org("carrier")
    listed = client.post("/v1/entries", json={"kind": "code", "value": "95588"}, headers=auth.headers(carrier))
    assert listed.status_code == 201
    path = tmp_path / "allowlist.csv"
    path.write_text("kind,value,reason\ncode,95588,ICBC customer service\nnumber,12381,MIIT anti-fraud warnings\n")
    result = runner.invoke(args=["allowlist", "import", str(path)])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == {"rows": 2, "added": 2, "skipped": 0}

    items = client.get("/v1/allowlist", headers=regulator).json["items"]
    assert sorted(i["value"] for i in items) == ["+8612381", "95588"]
    assert client.get(f"/v1/entries/{listed.json['id']}", headers=regulator).json["status"] == "revoked"
    refused = client.post("/v1/entries", json={"kind": "code", "value": "95588"}, headers=auth.headers(carrier))
    assert refused.status_code == 409
    actions = _audit_actions(client, regulator)
    assert actions.count(("allowlist.add", "operator (cli)")) == 2
    assert ("entry.revoke", "operator (cli)") in actions

    again = runner.invoke(args=["allowlist", "import", str(path)])
    assert again.exit_code == 1 and "line 2:" in again.output and "line 3:" in again.output
    skipped = runner.invoke(args=["allowlist", "import", "--skip-existing", str(path)])
    assert skipped.exit_code == 0 and json.loads(skipped.output) == {"rows": 2, "added": 0, "skipped": 2}


@pytest.mark.parametrize(
    ("content", "line", "message"),
    [
        ("kind,value,reason\ncode,95588,ICBC\nbank,1,x\n", 3, "kind"),
        ("kind,value,reason\ncode,95588,ICBC\ncode,10086,\n", 3, "reason"),
        ("kind,value,reason\ncode,95588,ICBC\nnumber,abc,x\n", 3, "phone number"),
        ("kind,value,reason\ncode,95588,ICBC\ncode,95588,twice\n", 3, "already"),
    ],
)
def test_allowlist_import_bad_row_writes_nothing(runner, client, regulator, tmp_path, content, line, message):
    path = tmp_path / "allowlist.csv"
    path.write_text(content)
    result = runner.invoke(args=["allowlist", "import", str(path)])
    assert result.exit_code == 1
    assert f"line {line}:" in result.output and message in result.output, result.output
    assert client.get("/v1/allowlist", headers=regulator).json["items"] == []
