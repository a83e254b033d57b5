"""Matching: checking messages against the blocklist.

Folding, URL canonicalisation and link finding live in the values core (``blocklist.values``);
``engine`` keeps the active
keywords in memory per worker process (everything else is one database probe per check);
``services.check`` and ``routes`` answer ``POST /v1/check``.
"""

from __future__ import annotations

from flask import Flask
from flask_smorest import Api


def init_app(app: Flask, api: Api) -> None:
    from . import routes

    api.register_blueprint(routes.blp)
