"""Exports for stock tools: TAXII 2.1 with STIX 2.1, a MISP feed, a DNS response-policy zone,
a hosts file and plain lists, all read from one consistent snapshot each."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    from . import routes, taxii_routes

    app.register_blueprint(taxii_routes.bp)
    app.register_blueprint(routes.bp)
