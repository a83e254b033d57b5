"""`flask --app wsgi expire`: one sweep (expire what is due, prune the feed and idempotency
answers), printed as JSON. For cron or deploy/blocklist-expire.timer."""

from __future__ import annotations

import json

import click
from flask.cli import with_appcontext

from .sweeper import sweep


@click.command("expire")
@with_appcontext
def expire_command() -> None:
    """Expire entries whose time ran out, prune the change log and stale idempotency answers."""
    click.echo(json.dumps(sweep()))
