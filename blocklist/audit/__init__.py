"""The hash-chained audit trail: records, verification, signed checkpoints, routes and CLI."""

from __future__ import annotations

import os

from flask import Flask
from flask_smorest import Api


def init_app(app: Flask, api: Api) -> None:
    from . import cli, routes

    # Read here rather than in config.py so the audit package stays self-contained.
    app.config.setdefault(
        "AUDIT_SIGNING_KEY_FILE",
        os.environ.get("BLOCKLIST_AUDIT_SIGNING_KEY_FILE") or os.path.join(app.instance_path, "audit-signing-key.pem"),
    )
    # Public keys of earlier signing keys (PEM files, comma-separated): their checkpoints
    # stay verifiable after the signing key is rotated.
    app.config.setdefault(
        "AUDIT_RETIRED_PUBLIC_KEYS",
        [p.strip() for p in os.environ.get("BLOCKLIST_AUDIT_RETIRED_PUBLIC_KEYS", "").split(",") if p.strip()],
    )
    api.register_blueprint(routes.blp)
    cli.init_app(app)
