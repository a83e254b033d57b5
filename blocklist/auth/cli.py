"""Operator commands for organisations and API clients: `flask org create | list | suspend |
reinstate` and `flask client create | list | rotate | revoke`. Each prints JSON for scripts to
read (lists: one object a line), acts as the OPERATOR through the same services as the admin
API (so each change is audited alike), and commits once; an error exits non-zero with a message
and writes nothing."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import click
from flask import Flask
from flask.cli import AppGroup

from ..context import OPERATOR
from ..db import db
from ..exceptions import DomainError
from ..pagination import MAX_LIMIT, Page
from . import queries, services
from .schemas import ClientSchema, OrgSchema
from .scopes import ORG_KINDS

org_cli = AppGroup("org", help="Organisations.")
client_cli = AppGroup("client", help="OAuth API clients.")

org_id_option = click.option("--org", "org_id", required=True, type=int, help="The org's id")
reason_option = click.option("--reason", default=None, help="Why (kept in the audit trail)")


def _fail(error: DomainError) -> None:
    raise click.ClickException(error.detail)


def _commit(change: Callable[[], Any]) -> Any:
    """Run one change as the operator and commit it; a domain error rolls back and exits 1."""
    try:
        result = change()
        db.session.commit()
    except DomainError as error:
        db.session.rollback()
        _fail(error)
    return result


def _echo_pages(read_page: Callable[[dict[str, Any]], Page], schema: Any) -> None:
    """Print every item of a keyset-paginated list, one JSON object a line, a page at a time."""

    def items() -> Iterator[Any]:
        cursor = None
        while True:
            page = read_page({"cursor": cursor, "limit": MAX_LIMIT})
            yield from page.items
            if page.next_cursor is None:
                return
            cursor = page.next_cursor

    for item in items():
        click.echo(json.dumps(schema.dump(item), ensure_ascii=False))


# --- organisations ---------------------------------------------------------------------------


@org_cli.command("create")
@click.option("--name", required=True)
@click.option("--kind", required=True, type=click.Choice(ORG_KINDS))
def create_org(name: str, kind: str) -> None:
    """Create an organisation and print it as JSON."""
    org = _commit(lambda: services.create_org(name, kind, actor=OPERATOR))
    click.echo(json.dumps(OrgSchema().dump(org), ensure_ascii=False))


@org_cli.command("list")
def list_orgs() -> None:
    """Print every organisation, one JSON object a line, by id."""
    _echo_pages(queries.list_orgs, OrgSchema())


@org_cli.command("suspend")
@click.argument("org_id", type=int)
@reason_option
def suspend_org(org_id: int, reason: str | None) -> None:
    """Suspend an organisation: its tokens stop working at once. Prints the org."""
    org = _commit(lambda: services.set_org_status(services.get_org(org_id), "suspended", reason, actor=OPERATOR))
    click.echo(json.dumps(OrgSchema().dump(org), ensure_ascii=False))


@org_cli.command("reinstate")
@click.argument("org_id", type=int)
@reason_option
def reinstate_org(org_id: int, reason: str | None) -> None:
    """Reinstate a suspended organisation (its clients then get new tokens). Prints the org."""
    org = _commit(lambda: services.set_org_status(services.get_org(org_id), "active", reason, actor=OPERATOR))
    click.echo(json.dumps(OrgSchema().dump(org), ensure_ascii=False))


# --- API clients -----------------------------------------------------------------------------


@client_cli.command("create")
@org_id_option
@click.option("--scope", default=None, help="Space-separated scopes (default: the org kind's)")
@click.option("--name", default="", help="A label for the client")
def create_client(org_id: int, scope: str | None, name: str) -> None:
    """Create a client and print client_id, client_secret (shown only now) and scope."""
    client, secret = _commit(
        lambda: services.create_client(services.get_org(org_id), actor=OPERATOR, name=name, scope=scope)
    )
    click.echo(json.dumps({**ClientSchema().dump(client), "client_secret": secret}, ensure_ascii=False))


@client_cli.command("list")
@org_id_option
def list_clients(org_id: int) -> None:
    """Print the org's clients, one JSON object a line (secrets are never shown again)."""
    try:
        org = services.get_org(org_id)
    except DomainError as error:
        _fail(error)
    _echo_pages(lambda page: queries.list_clients(org, page), ClientSchema())


@client_cli.command("rotate")
@org_id_option
@click.argument("client_id")
def rotate_client(org_id: int, client_id: str) -> None:
    """New secret for a client, printed once; the old secret and its tokens stop working."""

    def rotate() -> tuple[Any, str]:
        client = services.get_client(services.get_org(org_id), client_id)
        return client, services.rotate_client_secret(client, actor=OPERATOR)

    client, secret = _commit(rotate)
    click.echo(json.dumps({**ClientSchema().dump(client), "client_secret": secret}, ensure_ascii=False))


@client_cli.command("revoke")
@org_id_option
@click.argument("client_id")
def revoke_client(org_id: int, client_id: str) -> None:
    """Revoke a client: its secret and tokens stop working at once. Prints the client."""
    client = _commit(
        lambda: services.revoke_client(services.get_client(services.get_org(org_id), client_id), actor=OPERATOR)
    )
    click.echo(json.dumps(ClientSchema().dump(client), ensure_ascii=False))


def init_app(app: Flask) -> None:
    app.cli.add_command(org_cli)
    app.cli.add_command(client_cli)
