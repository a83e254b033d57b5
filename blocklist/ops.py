"""Liveness, readiness and Prometheus metrics."""

from __future__ import annotations

import time

from flask import Blueprint, Flask, Response, g, request
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Histogram
from sqlalchemy import text

from . import metrics as operator_metrics
from .apidoc import RETRY_AFTER, operation, problem, schema
from .db import db
from .errors import problem_response

REQUESTS = Counter("blocklist_http_requests_total", "HTTP requests served", ["method", "endpoint", "status"])
LATENCY = Histogram(
    "blocklist_http_request_duration_seconds",
    "HTTP request latency",
    ["method", "endpoint"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)

bp = Blueprint("ops", __name__)


_HEALTH = schema(
    "Health",
    {"type": "object", "properties": {"status": {"type": "string", "enum": ["ok"]}}, "required": ["status"]},
)
_READINESS = schema(
    "Readiness",
    {
        "type": "object",
        "properties": {"status": {"type": "string", "enum": ["ready"]}, "database": {"type": "string", "enum": ["ok"]}},
        "required": ["status", "database"],
    },
)


@bp.get("/healthz")
@operation(
    tags=["ops"],
    summary="Liveness: the process answers (no database, never rate limited)",
    operationId="healthz",
    responses={"200": {"description": "Alive", "content": {"application/json": {"schema": _HEALTH}}}},
)
def healthz():
    """Liveness: the process answers. Touches nothing else."""
    return {"status": "ok"}


@bp.get("/readyz")
@operation(
    tags=["ops"],
    summary="Readiness: the database answers a query (never rate limited)",
    operationId="readyz",
    responses={
        "200": {"description": "Ready", "content": {"application/json": {"schema": _READINESS}}},
        "503": problem("The database is unreachable", RETRY_AFTER),
    },
)
def readyz():
    """Readiness: the database answers a query."""
    try:
        db.session.execute(text("SELECT 1"))
    except Exception as error:  # any driver error means not ready
        db.session.rollback()
        return problem_response(
            503, "Service Unavailable", f"Database unreachable: {type(error).__name__}", headers={"Retry-After": "5"}
        )
    return {"status": "ready", "database": "ok"}


@bp.get("/metrics")
@operation(
    tags=["ops"],
    summary="Prometheus metrics (text exposition format; never rate limited)",
    operationId="metrics",
    responses={
        "200": {
            "description": "Prometheus text exposition format 0.0.4",
            "content": {"text/plain": {"schema": {"type": "string"}}},
        }
    },
)
def metrics():
    # Every worker's samples and the database gauges (blocklist/metrics.py). content_type, not
    # mimetype: CONTENT_TYPE_LATEST already names its charset.
    return Response(operator_metrics.exposition(), content_type=CONTENT_TYPE_LATEST)


def _start_timer() -> None:
    g.started_at = time.perf_counter()


def _observe(response: Response) -> Response:
    endpoint = request.url_rule.rule if request.url_rule is not None else "<unmatched>"
    started = getattr(g, "started_at", None)
    if started is not None:
        LATENCY.labels(request.method, endpoint).observe(time.perf_counter() - started)
    REQUESTS.labels(request.method, endpoint, str(response.status_code)).inc()
    return response


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
    operator_metrics.init_app(app)
    app.before_request(_start_timer)
    app.after_request(_observe)
