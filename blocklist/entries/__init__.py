"""Entries: the violating values, their reports, tags and look-ups."""

from __future__ import annotations

from flask import Flask
from flask_smorest import Api


def init_app(app: Flask, api: Api) -> None:
    from . import routes

    api.register_blueprint(routes.blp)
