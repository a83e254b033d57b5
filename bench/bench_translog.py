"""The audit transparency log at scale: append cost, proof sizes and times, witness check time.

    python bench/bench_translog.py --size 10000000 [--keep]

Creates a scratch PostgreSQL database (BENCH_PG, default
postgresql://postgres@127.0.0.1:5432/bench_translog_<size>), migrates it, and builds the Merkle tree of
`--size` synthetic leaves (leaf i = SHA-256(0x00 || "leaf i")) with the same append code the
server uses (blocklist/audit/merkle.py), COPYed into `audit_tree_nodes` in chunks: a real audit
trail of ten million records through the services would take hours, and the tree's shape and
the cost of reading it depend only on its size. `audit_head.seq` is set to the size, so real
appends then land at leaf `size`. Then it measures, on that tree:

- append: real audited writes through `audit/services.record` (one record per transaction,
  committed), and inside each the tree's step (`tree.append_leaves`: read the right edge, hash,
  insert the new nodes), timed on its own;
- inclusion and consistency proofs: hashes, bytes, and milliseconds to build one (the server's
  reads) and to verify one (blocklist/sync/rfc9162.py);
- the witness check: what `blocklist-sync` does per sync once it has a tree head (check the new
  head's signature, fetch a consistency proof, verify it), in process;
- leaf hashing speed (RFC 8785 of a real record + SHA-256), for what a full `verify --witness`
  costs per record on top of the chain check.

Prints one JSON document. Nothing here runs in CI.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import create_engine, text  # noqa: E402

from blocklist.audit import merkle  # noqa: E402

CHUNK = 1 << 16


def pg_url(name: str) -> str:
    return os.environ.get("BENCH_PG", f"postgresql://postgres@127.0.0.1:5432/{name}")


def recreate(url: str) -> None:
    base, name = url.rsplit("/", 1)
    engine = create_engine(base + "/postgres", isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    engine.dispose()


def synthetic_leaf(i: int) -> bytes:
    return merkle.leaf_hash(f"leaf {i}".encode())


def build_tree(url: str, size: int) -> dict:
    """The tree of `size` synthetic leaves, appended chunk by chunk as the server would."""
    import psycopg

    started = time.perf_counter()
    edge: dict = {}
    hashing = 0.0
    with psycopg.connect(url.replace("postgresql+psycopg", "postgresql")) as conn:
        for start in range(0, size, CHUNK):
            count = min(CHUNK, size - start)
            t = time.perf_counter()
            created = merkle.append(start, edge, [synthetic_leaf(i) for i in range(start, start + count)])
            hashing += time.perf_counter() - t
            with conn.cursor().copy("COPY audit_tree_nodes (level, position, hash) FROM STDIN") as copy:
                for row in created:
                    copy.write_row(row)
            conn.commit()
            new_size = start + count
            known = {(level, position): value for level, position, value in created}
            edge = {node: known.get(node) or edge[node] for node in merkle.frontier(new_size)}
            if start // CHUNK % 16 == 0:
                print(f"  {new_size:,} leaves, {time.perf_counter() - started:.0f} s", file=sys.stderr)
        with conn.cursor() as cur:
            cur.execute("UPDATE audit_head SET seq = %s", (size,))
            cur.execute("ANALYZE audit_tree_nodes")
        conn.commit()
    return {"build_seconds": round(time.perf_counter() - started, 1), "hashing_seconds": round(hashing, 1)}


def timed(fn, repeat: int) -> tuple[float, object]:
    """Median milliseconds of `fn()` over `repeat` calls, and its last result."""
    times, result = [], None
    for _ in range(repeat):
        t = time.perf_counter()
        result = fn()
        times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times), result


def measure(url: str, size: int, appends: int) -> dict:
    from blocklist import create_app
    from blocklist.audit import services, signing, tree, treeheads
    from blocklist.audit.actions import Action
    from blocklist.context import OPERATOR
    from blocklist.db import db
    from blocklist.sync import rfc9162

    keydir = tempfile.mkdtemp()
    key = Path(keydir) / "key.pem"
    signing.generate_key(key)
    app = create_app({"database_url": url, "audit_signing_key_file": str(key), "testing": True})
    out: dict = {}
    rng = random.Random(17)
    with app.app_context():
        size_now = db.session.scalar(text("SELECT seq FROM audit_head"))
        assert size_now >= size, size_now  # with --keep, earlier runs' real appends follow

        def one_append() -> None:
            services.record(Action("org.create"), "org", rng.randrange(10**6), actor=OPERATOR, after={"n": 1})
            db.session.commit()

        one_append()  # warm-up
        old_head = treeheads.sign_tree_head()  # the witness's earlier head
        db.session.commit()
        assert old_head is not None
        original = tree.append_leaves
        tree_ms: list[float] = []

        def timed_append(*args, **kwargs):
            t = time.perf_counter()
            original(*args, **kwargs)
            tree_ms.append((time.perf_counter() - t) * 1000)

        tree.append_leaves = timed_append  # the tree's step inside each real append, timed
        try:
            whole, _ = timed(one_append, appends)
        finally:
            tree.append_leaves = original
        out["append_ms_per_record"] = {
            "whole_audited_write_committed": round(whole, 3),
            "tree_step": round(statistics.median(tree_ms), 3),
            "tree_step_p90": round(sorted(tree_ms)[int(len(tree_ms) * 0.9)], 3),
        }
        db.session.rollback()

        # Proofs on the synthetic tree of `size` leaves (the real appends sit beyond it).
        root = tree.root(size)
        incl_ms, verify_ms, sizes = [], [], []
        for _ in range(200):
            index = rng.randrange(size)
            ms, proof = timed(lambda index=index: tree.inclusion_proof(index, size), 1)
            incl_ms.append(ms)
            sizes.append(len(proof))
            leaf = synthetic_leaf(index)
            t = time.perf_counter()
            ok = rfc9162.verify_inclusion(index, size, leaf, proof, root)
            ms = (time.perf_counter() - t) * 1000
            verify_ms.append(ms)
            assert ok
        out["inclusion_proof"] = {
            "hashes_median": statistics.median(sizes),
            "hashes_max": max(sizes),
            "bytes_max": 32 * max(sizes),
            "build_ms_median": round(statistics.median(incl_ms), 3),
            "verify_ms_median": round(statistics.median(verify_ms), 3),
        }
        cons_ms, cverify_ms, csizes = [], [], []
        for _ in range(200):
            first = rng.randrange(1, size)
            ms, proof = timed(lambda first=first: tree.consistency_proof(first, size), 1)
            cons_ms.append(ms)
            csizes.append(len(proof))
            first_root = tree.root(first)
            t = time.perf_counter()
            ok = rfc9162.verify_consistency(first, size, first_root, root, proof)
            ms = (time.perf_counter() - t) * 1000
            cverify_ms.append(ms)
            assert ok
        out["consistency_proof"] = {
            "hashes_median": statistics.median(csizes),
            "hashes_max": max(csizes),
            "bytes_max": 32 * max(csizes),
            "build_ms_median": round(statistics.median(cons_ms), 3),
            "verify_ms_median": round(statistics.median(cverify_ms), 3),
        }
        db.session.rollback()

        # The witness's per-sync check: a new head after the real appends, against the old one.
        new_head = treeheads.sign_tree_head()
        db.session.commit()
        raw = bytes.fromhex(signing.raw_public_key())
        old, new = treeheads.as_dict(old_head), treeheads.as_dict(new_head)

        def witness_check() -> None:
            proof = [h.hex() for h in tree.consistency_proof(old["tree_size"], new["tree_size"])]
            db.session.rollback()
            rfc9162.check_consistent(old, new, proof, raw)

        ms, _ = timed(witness_check, 200)
        out["witness_check_ms"] = {"proof_from_database_and_verify": round(ms, 3)}
        proof = [h.hex() for h in tree.consistency_proof(old["tree_size"], new["tree_size"])]
        ms, _ = timed(lambda: rfc9162.check_consistent(old, new, proof, raw), 500)
        out["witness_check_ms"]["verify_only"] = round(ms, 3)
        out["witness_check_ms"]["sizes"] = [old["tree_size"], new["tree_size"]]
        db.session.rollback()

        # Leaf hashing of real records (what verify --witness adds per record).
        rows = db.session.execute(text("SELECT * FROM audit_records ORDER BY seq LIMIT 1")).mappings().all()
        record = dict(rows[0])
        count = 20000
        t = time.perf_counter()
        for _ in range(count):
            merkle.leaf_hash(services.record_leaf(record))
        out["leaf_hashes_per_second"] = round(count / (time.perf_counter() - t))
        out["tree_nodes"] = db.session.scalar(text("SELECT count(*) FROM audit_tree_nodes"))
        out["tree_nodes_bytes"] = db.session.scalar(text("SELECT pg_total_relation_size('audit_tree_nodes')"))
        db.session.rollback()
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size", type=int, default=1_000_000)
    parser.add_argument("--appends", type=int, default=300)
    parser.add_argument("--keep", action="store_true", help="reuse a database built before at this size")
    args = parser.parse_args()
    url = pg_url(f"bench_translog_{args.size}")
    result: dict = {"size": args.size}
    if not args.keep:
        recreate(url)
        os.environ["BLOCKLIST_DATABASE_URL"] = url
        import flask_migrate

        from blocklist import create_app
        from blocklist.db import db

        app = create_app({"database_url": url, "testing": True})
        with app.app_context():
            flask_migrate.upgrade()
            db.session.remove()
        result["build"] = build_tree(url, args.size)
    result.update(measure(url, args.size, args.appends))
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
