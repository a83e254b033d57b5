"""Organisations, OAuth clients and tokens, the OAuth server and the admin API."""

from __future__ import annotations

from flask import Flask
from flask_smorest import Api


def init_app(app: Flask, api: Api) -> None:
    from . import cli, oauth2, routes

    oauth2.init_app(app)
    app.register_blueprint(routes.oauth_bp)
    api.register_blueprint(routes.blp)
    cli.init_app(app)
