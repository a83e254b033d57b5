"""Number lifecycle events (reassigned, disconnected) and sightings (hits, false positives,
expiries seen by carriers and apps): the signals, besides reports, that move an entry's trust
(PRODUCT.md "Trust: proportionate, explainable, contestable")."""

from __future__ import annotations

from flask import Flask
from flask_smorest import Api

from . import models  # noqa: F401  (registers the tables)


def init_app(app: Flask, api: Api) -> None:
    from . import routes

    for blueprint in routes.BLUEPRINTS:
        api.register_blueprint(blueprint)
