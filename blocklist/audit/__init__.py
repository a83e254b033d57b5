"""The hash-chained audit trail: records, verification, signed checkpoints, routes and CLI."""

from __future__ import annotations

from flask import Flask
from flask_smorest import Api


def init_app(app: Flask, api: Api) -> None:
    from . import cli, routes

    api.register_blueprint(routes.blp)
    cli.init_app(app)
