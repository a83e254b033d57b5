"""Sync feeds: the change log, snapshots, checksums, long-polling and the expiry sweeper."""

from __future__ import annotations

from flask import Flask
from flask_smorest import Api

from . import models  # noqa: F401  (registers the tables)


def init_app(app: Flask, api: Api) -> None:
    from . import cli, longpoll, routes, sweeper

    longpoll.init_app(app)
    api.register_blueprint(routes.blp)
    app.cli.add_command(cli.expire_command)
    sweeper.init_app(app)
