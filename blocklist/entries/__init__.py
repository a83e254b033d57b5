"""Entries: the violating values, their reports, tags, the allowlist, disputes and look-ups."""

from __future__ import annotations

from flask import Flask
from flask_smorest import Api

from ..feeds import models as feed_models  # noqa: F401
from . import models  # noqa: F401  (registers the tables)


def init_app(app: Flask, api: Api) -> None:
    from . import cli, routes

    for blueprint in routes.BLUEPRINTS:
        api.register_blueprint(blueprint)
    cli.init_app(app)
