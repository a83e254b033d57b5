"""Time-based changes reaching consumers: `sweep()` marks due entries expired (each a `remove`
change), runs the tier job (entries whose tier ageing changed: each an `upsert` with the new
tier), gives entries written without an `object_uuid` theirs (`entries.object_ids`: a rolling
upgrade's old nodes) and, now and then, prunes the change log and stored idempotent answers.

Runs from `flask --app wsgi expire` (cron / the systemd timer) and from a background thread
that every serving process starts on its first request (every BLOCKLIST_SWEEP_INTERVAL seconds;
0 disables it; never under TESTING). Sweepers in several processes are safe together: expiry
re-reads what is due under the entry-writer lock.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time

from flask import Flask

from ..config import current_settings, settings_of
from ..context import SYSTEM
from ..db import db
from ..entries import object_ids
from ..entries import services as entry_services
from ..entries.idempotency import purge_expired
from . import changes

log = logging.getLogger(__name__)
PRUNE_EVERY = 300  # seconds between prunes in the background sweeper
# Tier-job batches per sweep: bounded work per run (after an upgrade, when every entry is due
# once, the backlog is worked off over successive sweeps instead of in one long run).
TIER_BATCHES_PER_SWEEP = 10


def expire_all_due(now: dt.datetime | None = None) -> int:
    """Run `expire_due` (as the system) until nothing is due at `now` (default: the time of
    each batch), committing each batch; returns how many entries changed."""
    total = 0
    while True:
        count = entry_services.expire_due(SYSTEM, now)
        db.session.commit()
        total += count
        if count == 0:
            return total


def retier_all_due(now: dt.datetime | None = None, max_batches: int | None = None) -> int:
    """The tier job: run `retier_due` (as the system) in batches of BLOCKLIST_TIER_BATCH, each
    committed (bounded memory and lock time whatever the table's size), until nothing is due
    (or `max_batches` ran); returns how many entries were re-assessed."""
    total, batches = 0, 0
    limit = current_settings().tier_batch
    while max_batches is None or batches < max_batches:
        count = entry_services.retier_due(SYSTEM, now, limit)
        db.session.commit()
        total += count
        batches += 1
        if count < limit:
            break
    return total


def sweep(prune: bool = True) -> dict[str, int]:
    """The job: expiry, tiers, missing object ids, then (with `prune`) the feed and idempotency
    retention, each committed."""
    counts = {"expired": expire_all_due(), "retiered": retier_all_due(max_batches=TIER_BATCHES_PER_SWEEP)}
    counts["ids_filled"] = object_ids.fill_missing()
    db.session.commit()
    if prune:
        counts["feed_pruned"] = changes.prune()
        db.session.commit()
        counts["idempotency_purged"] = purge_expired()
        db.session.commit()
    return counts


def _run(app: Flask, interval: float) -> None:
    last_prune = 0.0
    while True:
        time.sleep(interval)
        try:
            with app.app_context():
                due_prune = time.monotonic() - last_prune >= PRUNE_EVERY
                sweep(prune=due_prune)
                if due_prune:
                    last_prune = time.monotonic()
        except Exception:
            log.warning("expiry sweep failed; retrying next interval", exc_info=True)
        finally:
            with app.app_context():
                db.session.remove()


def init_app(app: Flask) -> None:
    settings = settings_of(app)
    interval = settings.sweep_interval
    if settings.testing or interval <= 0:
        return
    started = threading.Event()
    lock = threading.Lock()

    @app.before_request
    def _start_sweeper() -> None:
        # Started by the first request, so only serving processes (after gunicorn's fork) sweep,
        # never `flask db upgrade` or other commands.
        if started.is_set():
            return
        with lock:
            if not started.is_set():
                threading.Thread(target=_run, args=(app, interval), name="blocklist-sweeper", daemon=True).start()
                started.set()
