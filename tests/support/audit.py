"""Helpers and fixtures for the audit tests: read the trail straight from the database, tamper
with it by SQL, and keep the checkpoint-signing key in a temporary directory."""

from __future__ import annotations

import json

from sqlalchemy import func, select, text

from blocklist.audit.models import AuditRecord
from blocklist.audit.services import HASHED_FIELDS
from blocklist.db import db

RECORD_FIELDS = HASHED_FIELDS + ("hash",)


def max_seq(app) -> int:
    with app.app_context():
        return db.session.scalar(select(func.coalesce(func.max(AuditRecord.seq), 0)))


def records_after(app, seq: int = 0) -> list[dict]:
    """Every record with a seq above `seq`, oldest first, as plain dicts."""
    with app.app_context():
        rows = db.session.execute(
            select(*[getattr(AuditRecord, f) for f in RECORD_FIELDS])
            .where(AuditRecord.seq > seq)
            .order_by(AuditRecord.seq)
        ).all()
        db.session.rollback()
        return [dict(row._mapping) for row in rows]


def trail_text(app) -> str:
    """The whole trail as one JSON string, for "this never appears anywhere" checks."""
    return json.dumps(records_after(app), default=str, ensure_ascii=False)


def sql(app, statement: str, **params) -> list:
    """Run raw SQL in its own committed transaction, as an attacker with database access would."""
    with app.app_context():
        result = db.session.execute(text(statement), params)
        rows = result.all() if result.returns_rows else []
        db.session.commit()
        return rows
