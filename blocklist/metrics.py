"""What operators watch, for `/metrics` (Prometheus text format).

Two kinds of series:

- **Counted in the serving processes** (counters and one gauge defined here, incremented where
  the thing happens): check verdicts, keyword-engine rebuilds, 429s by the caller's org kind,
  waiting long-polls. Under gunicorn each worker writes its samples to files in
  ``PROMETHEUS_MULTIPROC_DIR`` (``deploy/gunicorn.conf.py`` always sets one, emptied at start)
  and a scrape adds up every worker, dead ones' counters included, so a counter never goes
  backwards whichever worker answers.
- **Read from the database at scrape time** (`DatabaseCollector`), with cheap bounded queries:
  entries by kind and status (a count over the ``(status, kind, id)`` index), the feed head
  position and the audit head seq (one stored row each) and the newest checkpoint (by primary
  key). They are the same whichever node or worker answers.

`exposition()` builds the scrape's body; the `/metrics` view in ops.py serves it.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from datetime import UTC, datetime

from flask import Flask, Response, g
from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, generate_latest, multiprocess
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import func, select, text

from .db import db, utcnow
from .entries.models import Dispute
from .values.kinds import KINDS

log = logging.getLogger(__name__)
STATUSES = ("active", "expired", "revoked")

CHECK_VERDICTS = Counter("blocklist_check_verdicts_total", "POST /v1/check answers by verdict", ["verdict"])
ENGINE_REBUILDS = Counter(
    "blocklist_engine_rebuilds_total", "Builds of the main keyword automaton (POST /v1/check), in any worker"
)
RATE_LIMITED = Counter(
    "blocklist_rate_limited_total",
    "Requests answered 429 (rate limits and long-poll bounds), by the caller's org kind (none: no token)",
    ["org_kind"],
)
LONGPOLL_WAITING = Gauge(
    "blocklist_longpoll_waiting", "Long-polls waiting for changes now", multiprocess_mode="livesum"
)


class DatabaseCollector(Collector):
    """Gauges read from the database when scraped; `blocklist_database_up` is 0 (and the others
    absent) when the queries fail, so a scrape never fails with the database."""

    def collect(self) -> Iterator[GaugeMetricFamily]:
        up = GaugeMetricFamily("blocklist_database_up", "1 when the scrape's database queries succeeded")
        try:
            families = list(self._families())
        except Exception as error:  # any driver error: report it as a gauge, not a failed scrape
            db.session.rollback()
            log.warning("metrics: database queries failed: %s", error)
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        yield from families

    def _families(self) -> Iterator[GaugeMetricFamily]:
        session = db.session
        counts = {(kind, status): 0 for kind in KINDS for status in STATUSES}
        rows = session.execute(text("SELECT kind, status, count(*) FROM entries GROUP BY status, kind"))
        counts.update({(kind, status): count for kind, status, count in rows})
        entries = GaugeMetricFamily("blocklist_entries", "Entries by kind and status", labels=["kind", "status"])
        for (kind, status), count in sorted(counts.items()):
            entries.add_metric([kind, status], count)
        yield entries
        overdue = session.scalar(select(func.count()).select_from(Dispute).where(Dispute.overdue_at(utcnow()))) or 0
        yield GaugeMetricFamily(
            "blocklist_disputes_overdue",
            "Disputes past their acknowledgement or resolution deadline (BLOCKLIST_DISPUTE_ACK_HOURS, _RESOLVE_DAYS)",
            value=overdue,
        )
        position = session.execute(text("SELECT position FROM feed_head WHERE id = 1")).scalar() or 0
        yield GaugeMetricFamily(
            "blocklist_feed_head_position", "Position of the newest change in the feed", value=position
        )
        seq = session.execute(text("SELECT seq FROM audit_head WHERE id = 1")).scalar() or 0
        yield GaugeMetricFamily("blocklist_audit_head_seq", "Records in the audit chain (its head's seq)", value=seq)
        checkpoint = session.execute(
            text("SELECT seq, created_at FROM audit_checkpoints ORDER BY id DESC LIMIT 1")
        ).first()
        yield GaugeMetricFamily(
            "blocklist_audit_checkpoint_seq",
            "Audit head seq covered by the newest signed checkpoint (0: none yet)",
            value=checkpoint[0] if checkpoint else 0,
        )
        if checkpoint is not None:
            created_at = checkpoint[1]
            if isinstance(created_at, str):  # SQLite returns the stored text
                created_at = datetime.fromisoformat(created_at)
            yield GaugeMetricFamily(
                "blocklist_audit_checkpoint_timestamp_seconds",
                "When the newest signed checkpoint was made (Unix time)",
                value=created_at.replace(tzinfo=UTC).timestamp(),
            )
        session.rollback()  # end the read; nothing was written


class _Forward(Collector):
    """This process's default registry, inside the scrape's own registry."""

    def collect(self):
        return REGISTRY.collect()


def exposition() -> bytes:
    """The body of one scrape: every worker's samples (or this process's) and the database gauges."""
    registry = CollectorRegistry()
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        multiprocess.MultiProcessCollector(registry)
    else:
        registry.register(_Forward())
    registry.register(DatabaseCollector())
    return generate_latest(registry)


def _count_429(response: Response) -> Response:
    if response.status_code == 429:
        actor = getattr(g, "actor", None)
        RATE_LIMITED.labels((actor.org_kind if actor is not None else None) or "none").inc()
    return response


def init_app(app: Flask) -> None:
    app.after_request(_count_429)
