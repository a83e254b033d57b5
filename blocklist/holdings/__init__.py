"""Holdings and representatives: who is behind a number, code or range, and restriction that
follows a listed subject to what it holds (PRODUCT.md "One violation, restricted everywhere")."""

from __future__ import annotations

from flask import Flask
from flask_smorest import Api

from . import models  # noqa: F401  (registers the tables)


def init_app(app: Flask, api: Api) -> None:
    from . import routes

    for blueprint in routes.BLUEPRINTS:
        api.register_blueprint(blueprint)
