"""Tag counts kept by the writes, and the tags the snapshot writes, kept on the entry row.

Two derived things, kept together so they can never disagree:
  - `entries.feed_tags`: the entry's tags as the JSON array the snapshot writes while the entry
    is in the active set (status `active`), NULL while it is not;
  - `tag_counts`: per tag, how many entries carry it in their `feed_tags`.

Every change to the active set or to an active entry's tags writes a feed change, so
`feeds.changes.append` calls `settle` for every entry it writes a change for (the one funnel:
publish, bulk, corroborate, PATCH, withdraw, expire, the sweeper, revoke, disputes overturned,
the allowlist, restriction via subjects, number events). `settle` compares what the entry
row says was counted with the entry as it now is and applies the difference. New entries are
inserted with their `feed_tags` already rendered, and `inserted` counts them (no second write).
Both run under the entry-writer lock (`feeds.changes.write_lock`), so counters are exact under
concurrent writers.

`GET /v1/tags` reads the counters and subtracts the entries whose `expires_at` has passed but
the sweeper has not marked yet (a few seconds' worth, read through a partial index), so it
counts exactly the entries that restrict now, as the aggregation did. `drift` recomputes
everything from `entry_tags` (`flask tags recount`); `repair` rewrites what drifted.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Select,
    delete,
    func,
    literal_column,
    select,
)
from sqlalchemy.dialects import postgresql, sqlite

from ..db import IN_CHUNK, db, ids_in, in_clauses, table_of, update_rows
from .models import Entry, EntryTag, TagCount

CHUNK = IN_CHUNK
_entries, _tags, _counts = table_of(Entry), table_of(EntryTag), table_of(TagCount)
# A literal, not a parameter: the planner can then use the partial index on active entries'
# expiry with a generic (prepared) plan as well.
_ACTIVE: ColumnElement[str] = literal_column("'active'")


def render(tags: Iterable[str]) -> str:
    """The tags as the snapshot writes them: a compact JSON array, sorted by code point."""
    return _render(tuple(sorted(tags)))


@functools.lru_cache(maxsize=4096)
def _render(tags: tuple[str, ...]) -> str:
    # Cached: a writer renders thousands of entries' tags, nearly all of them alike.
    return json.dumps(tags, ensure_ascii=False, separators=(",", ":"))


def _parse(feed_tags: str | None) -> list[str]:
    return json.loads(feed_tags) if feed_tags else []


def inserted(tag_lists: Iterable[Sequence[str]]) -> None:
    """Count the tags of entries just inserted active with `feed_tags = render(tags)`. The
    caller holds the entry-writer lock."""
    _add(Counter(tag for tags in tag_lists for tag in set(tags)))


def settle(entry_ids: Iterable[int], written: Mapping[int, tuple[str | None, str | None]] | None = None) -> None:
    """Bring `feed_tags` and the counters of these entries up to date with their status and
    tags as they now are in this transaction. The caller holds the entry-writer lock and has
    flushed its changes. `written`: entries whose `feed_tags` the writer has already set in its
    own UPDATE of the row ({id: (feed_tags before, feed_tags written)}, see `rendered`): only
    their counters move, with no second read or UPDATE of the rows."""
    written = written or {}
    delta: Counter[str] = Counter()
    for (old, new), times in Counter(written.values()).items():  # each distinct pair parsed once
        for tag in _parse(old):
            delta[tag] -= times
        for tag in _parse(new):
            delta[tag] += times
    ids = sorted(set(entry_ids).difference(written))
    changed: list[dict[str, Any]] = []
    for start in range(0, len(ids), CHUNK):
        chunk = ids[start : start + CHUNK]
        rows = db.session.execute(
            select(_entries.c.id, _entries.c.status, _entries.c.feed_tags).where(ids_in(_entries.c.id, chunk))
        ).all()
        active = [row.id for row in rows if row.status == "active"]
        tags = tags_of(active)
        for row in rows:
            new = render(tags[row.id]) if row.status == "active" else None
            if new == row.feed_tags:
                continue
            delta.subtract(_parse(row.feed_tags))
            delta.update(tags[row.id] if new is not None else ())
            changed.append({"id": row.id, "feed_tags": new})
    update_rows(_entries, changed, {"feed_tags": "text"})
    _add(delta)


def tags_of(entry_ids: Iterable[int]) -> defaultdict[int, list[str]]:
    """Entry id -> its tags (unordered; `render` sorts), for any number of entries; an entry
    with none is absent (and reads as [])."""
    tags: defaultdict[int, list[str]] = defaultdict(list)
    for clause in in_clauses(_tags.c.entry_id, entry_ids, BigInteger):
        for entry_id, tag in db.session.execute(select(_tags.c.entry_id, _tags.c.tag).where(clause)):
            tags[entry_id].append(tag)
    return tags


def rendered(status: str, tags: Iterable[str]) -> str | None:
    """What `feed_tags` says for an entry of this status with these tags: a writer that sets it
    in its own UPDATE hands (before, this) to `feeds.changes.append` as `feed_tags`."""
    return render(tags) if status == "active" else None


def write_with(entry: Entry) -> tuple[str | None, str | None]:
    """Set this loaded entry's `feed_tags` to what its status and tags now call for (`rendered`),
    so the UPDATE its flush writes anyway carries it; returns (before, written) for
    `feeds.changes.append`'s `feed_tags`. Load the entries with `undefer(Entry.feed_tags)`
    (else each costs a SELECT)."""
    pair = (entry.feed_tags, rendered(entry.status, entry.tags))
    entry.feed_tags = pair[1]
    return pair


def _add(delta: Counter[str]) -> None:
    """Add these (possibly negative) amounts to the counters; a tag whose count reaches 0
    loses its row."""
    delta = Counter({tag: n for tag, n in delta.items() if n})
    if not delta:
        return
    dialect = db.session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    stmt = insert(_counts)
    db.session.execute(
        stmt.on_conflict_do_update(
            index_elements=[_counts.c.tag], set_={"count": _counts.c.count + stmt.excluded.count}
        ),
        [{"tag": tag, "count": n} for tag, n in sorted(delta.items())],
    )
    gone = sorted(tag for tag, n in delta.items() if n < 0)
    for start in range(0, len(gone), CHUNK):
        db.session.execute(delete(_counts).where(_counts.c.tag.in_(gone[start : start + CHUNK]), _counts.c.count <= 0))


def counts(now: dt.datetime, namespace: str | None = None) -> Select:
    """SQL: (tag, count) of the entries that restrict at `now` carrying each tag: the counters
    less the entries past their `expires_at` not yet swept. Tags with no such entry are left
    out. Unordered (the caller pages it by tag)."""
    due = (
        select(EntryTag.tag, func.count().label("due"))
        .join(Entry, Entry.id == EntryTag.entry_id)
        .where(Entry.status == _ACTIVE, Entry.expires_at <= now)
        .group_by(EntryTag.tag)
        .subquery("due")
    )
    count = (TagCount.count - func.coalesce(due.c.due, 0)).label("count")
    stmt = select(TagCount.tag, count).outerjoin(due, due.c.tag == TagCount.tag).where(count > 0)
    if namespace is not None:
        stmt = stmt.where(TagCount.tag.startswith(namespace + ":", autoescape=True))
    return stmt


# --- checking and repairing ------------------------------------------------------------------


def _fresh_counts() -> dict[str, int]:
    """Per tag, the active entries (status `active`) carrying it, aggregated from entry_tags."""
    rows = db.session.execute(
        select(EntryTag.tag, func.count())
        .join(Entry, Entry.id == EntryTag.entry_id)
        .where(Entry.status == "active")
        .group_by(EntryTag.tag)
    ).all()
    return {tag: n for tag, n in rows}


def _stale_rows(batch: int = 10000) -> Iterable[tuple[int, str | None, str | None]]:
    """(entry id, stored feed_tags, what it should be) of every entry whose `feed_tags` is not
    what its status and tags say, in id order, read in batches by keyset (bounded memory)."""
    after = 0
    while True:
        rows = db.session.execute(
            select(_entries.c.id, _entries.c.status, _entries.c.feed_tags)
            .where(_entries.c.id > after)
            .order_by(_entries.c.id)
            .limit(batch)
        ).all()
        if not rows:
            return
        tags: dict[int, list[str]] = defaultdict(list)
        for entry_id, tag in db.session.execute(
            select(_tags.c.entry_id, _tags.c.tag).where(_tags.c.entry_id > after, _tags.c.entry_id <= rows[-1].id)
        ):
            tags[entry_id].append(tag)
        for row in rows:
            want = render(tags[row.id]) if row.status == "active" else None
            if want != row.feed_tags:
                yield row.id, row.feed_tags, want
        after = rows[-1].id


def drift(limit: int = 20) -> dict[str, Any]:
    """What the kept counters and `feed_tags` say against a fresh aggregation: `ok`, the tags
    whose counter differs (`{tag: [kept, actual]}`), how many entries' `feed_tags` differ and
    the ids of the first `limit` of them. Reads every entry: run it off-peak at scale."""
    kept = {tag: n for tag, n in db.session.execute(select(TagCount.tag, TagCount.count))}
    actual = _fresh_counts()
    tags = {tag: [kept.get(tag, 0), actual.get(tag, 0)] for tag in sorted(set(kept) | set(actual))}
    tags = {tag: pair for tag, pair in tags.items() if pair[0] != pair[1]}
    entries = 0
    examples: list[int] = []
    for entry_id, _, _ in _stale_rows():
        entries += 1
        if len(examples) < limit:
            examples.append(entry_id)
    return {"ok": not tags and not entries, "tags": tags, "entries": entries, "entry_ids": examples}


def repair() -> dict[str, int]:
    """Rewrite every drifted `feed_tags` and every counter from a fresh aggregation. The caller
    holds the entry-writer lock (so no writer moves them meanwhile) and commits. Returns how
    many entries and tags were rewritten."""
    fixed = [{"id": entry_id, "feed_tags": want} for entry_id, _, want in _stale_rows()]
    for start in range(0, len(fixed), CHUNK):
        update_rows(_entries, fixed[start : start + CHUNK], {"feed_tags": "text"})
    kept = {tag: n for tag, n in db.session.execute(select(TagCount.tag, TagCount.count))}
    actual = _fresh_counts()
    wrong = Counter({tag: actual.get(tag, 0) - kept.get(tag, 0) for tag in set(kept) | set(actual)})
    _add(wrong)
    return {"entries": len(fixed), "tags": sum(1 for n in wrong.values() if n)}
