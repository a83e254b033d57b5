"""`flask org create` and `flask client create`: print JSON for scripts to read."""

from __future__ import annotations

import json

import click
from flask import Flask
from flask.cli import AppGroup

from ..context import OPERATOR
from ..db import db
from ..exceptions import DomainError
from . import services
from .schemas import ClientSchema, OrgSchema
from .scopes import ORG_KINDS

org_cli = AppGroup("org", help="Organisations.")
client_cli = AppGroup("client", help="OAuth API clients.")


def _fail(error: DomainError) -> None:
    raise click.ClickException(error.detail)


@org_cli.command("create")
@click.option("--name", required=True)
@click.option("--kind", required=True, type=click.Choice(ORG_KINDS))
def create_org(name: str, kind: str) -> None:
    """Create an organisation and print it as JSON."""
    try:
        org = services.create_org(name, kind, actor=OPERATOR)
        db.session.commit()
    except DomainError as error:
        _fail(error)
    click.echo(json.dumps(OrgSchema().dump(org)))


@client_cli.command("create")
@click.option("--org", "org_id", required=True, type=int, help="The org's id")
@click.option("--scope", default=None, help="Space-separated scopes (default: the org kind's)")
@click.option("--name", default="", help="A label for the client")
def create_client(org_id: int, scope: str | None, name: str) -> None:
    """Create a client and print client_id, client_secret (shown only now) and scope."""
    try:
        client, secret = services.create_client(services.get_org(org_id), actor=OPERATOR, name=name, scope=scope)
        db.session.commit()
    except DomainError as error:
        _fail(error)
    click.echo(json.dumps({**ClientSchema().dump(client), "client_secret": secret}))


def init_app(app: Flask) -> None:
    app.cli.add_command(org_cli)
    app.cli.add_command(client_cli)
