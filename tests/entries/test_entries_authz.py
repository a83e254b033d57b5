"""Object- and function-level authorization on every entries write route: an org changes only
its own reports and entries, consumers publish nothing, only regulators revoke, resolve and keep
the allowlist."""

from __future__ import annotations

import pytest
from support.problems import assert_problem


@pytest.fixture
def listed(publish):
    """An entry reported by 'carrier' only."""
    return publish("number", "13700137000").json


def test_another_org_cannot_patch_or_expire_someone_elses_entry(client, callers, listed):
    entry_id = listed["id"]
    assert_problem(client.patch(f"/v1/entries/{entry_id}", json={"category": "spam"}, headers=callers["internet"]), 403)
    assert_problem(
        client.post(f"/v1/entries/{entry_id}/expire", json={"reason": "done"}, headers=callers["internet"]), 403
    )
    assert_problem(client.post(f"/v1/entries/{entry_id}/withdraw", headers=callers["internet"]), 409)
    # ...but a regulator may
    assert (
        client.patch(f"/v1/entries/{entry_id}", json={"category": "spam"}, headers=callers["regulator"]).status_code
        == 200
    )


@pytest.mark.parametrize("caller", ["carrier", "internet", "consumer"])
def test_non_regulators_cannot_use_admin_routes(client, callers, listed, caller):
    entry_id = listed["id"]
    assert_problem(client.post(f"/v1/entries/{entry_id}/revoke", json={"reason": "x"}, headers=callers[caller]), 403)
    assert_problem(
        client.post("/v1/allowlist", json={"kind": "code", "value": "10086", "reason": "x"}, headers=callers[caller]),
        403,
    )
    assert_problem(client.delete("/v1/allowlist/1", headers=callers[caller]), 403)
    assert_problem(client.post("/v1/disputes/1/resolve", json={"resolution": "upheld"}, headers=callers[caller]), 403)


@pytest.mark.parametrize(
    "method,path,body",
    [
        ("post", "/v1/entries", {"kind": "code", "value": "10690002"}),
        ("post", "/v1/entries/bulk", {"items": [{"kind": "code", "value": "10690002"}]}),
        ("patch", "/v1/entries/{id}", {"category": "x"}),
        ("post", "/v1/entries/{id}/withdraw", {}),
        ("post", "/v1/entries/{id}/expire", {"reason": "recycled"}),
        ("post", "/v1/entries/{id}/disputes", {"reason": "mine"}),
    ],
)
def test_consumers_and_read_only_tokens_cannot_write(client, callers, auth, listed, method, path, body):
    path = path.format(id=listed["id"])
    assert_problem(getattr(client, method)(path, json=body, headers=callers["consumer"]), 403)
    read_only = auth.headers(auth.org("carrier"), scope="entries:read")
    assert_problem(getattr(client, method)(path, json=body, headers=read_only), 403)
    assert_problem(getattr(client, method)(path, json=body), 401)


@pytest.mark.parametrize(
    "path", ["/v1/entries", "/v1/entries/1", "/v1/lookup?value=10086", "/v1/tags", "/v1/allowlist", "/v1/disputes"]
)
def test_reads_need_a_token(client, path):
    assert_problem(client.get(path), 401)
