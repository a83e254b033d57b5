"""Concurrent writers on a live gunicorn (2 workers): the chain never forks and has no gaps, and
the Merkle tree grown by those writers — while two tree-head jobs sign at once — is exactly the
RFC 9162 tree of the records, with every signed head on it."""

from __future__ import annotations

import threading
import time

import requests
from conftest import requires_postgres
from sqlalchemy import select

from blocklist.audit import tree
from blocklist.audit.models import AuditRecord
from blocklist.audit.treecheck import recompute
from blocklist.audit.treeheads import as_dict, sign_tree_head
from blocklist.audit.verify import verify_chain
from blocklist.db import db

THREADS = 8
SECONDS = 3


def test_concurrent_writers_keep_one_contiguous_chain(app, auth, live_server):
    with app.app_context():
        requires_postgres(app)
    headers = auth.headers("regulator")
    successes: list[int] = []
    failures: list[str] = []
    deadline = time.monotonic() + SECONDS

    def writer(n: int) -> None:
        session = requests.Session()
        i = 0
        while time.monotonic() < deadline:
            i += 1
            org = session.post(
                f"{live_server.url}/v1/orgs",
                headers=headers,
                timeout=30,
                json={"name": f"thread {n} org {i}", "kind": "carrier"},
            )
            if org.status_code != 201:
                failures.append(org.text)
                continue
            successes.append(1)
            created = session.post(
                f"{live_server.url}/v1/orgs/{org.json()['id']}/clients", headers=headers, json={"name": "c"}, timeout=30
            )
            if created.status_code == 201:
                successes.append(1)
            else:
                failures.append(created.text)

    signed: list[dict] = []

    def signer() -> None:
        """A tree-head job (`flask audit sth`), two of them at once, while the writers write."""
        with app.app_context():
            while time.monotonic() < deadline:
                try:
                    head = sign_tree_head()
                    db.session.commit()
                except Exception as error:  # noqa: BLE001 - recorded and asserted below
                    db.session.rollback()
                    failures.append(f"sth: {error!r}")
                    continue
                if head is not None:
                    signed.append(as_dict(head))
            db.session.remove()

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(THREADS)]
    threads += [threading.Thread(target=signer) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert not failures, failures[:3]
    print(f"\n{len(successes)} audited writes from {THREADS} threads in {SECONDS}s")
    assert len(successes) > THREADS  # the writers really overlapped
    with app.app_context():
        seqs = list(db.session.scalars(select(AuditRecord.seq).order_by(AuditRecord.seq)))
        result = verify_chain(db.session, batch=100)
        db.session.rollback()
    assert seqs == list(range(1, len(seqs) + 1))
    assert len(seqs) == 2 + len(successes)  # the regulator's org and client, then one per write
    assert result.ok, result
    assert result.records == len(seqs)
    # The tree: the records' own tree, and every head signed meanwhile is a prefix of it.
    assert signed and len({head["tree_size"] for head in signed}) == len(signed)  # each size once
    with app.app_context():
        recomputed = recompute(db.session.connection(), {head["tree_size"] for head in signed})
        assert recomputed.gap is None and recomputed.size == len(seqs)
        assert tree.root(len(seqs)) == recomputed.root
        for head in signed:
            assert recomputed.roots[head["tree_size"]].hex() == head["root_hash"]
        db.session.rollback()
