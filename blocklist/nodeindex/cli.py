"""`flask node-index build|follow|status`: the node follower's commands."""

from __future__ import annotations

import os
import signal

import click
from flask import current_app
from flask.cli import AppGroup
from sqlalchemy import create_engine
from sqlalchemy.orm import Session

from ..config import settings_of
from ..db import db, ping_after_idle
from . import follow, store

node_index_cli = AppGroup("node-index", help="The node index look-ups and checks read (BLOCKLIST_NODE_INDEX).")


def _path(path: str | None) -> str:
    path = path or settings_of(current_app).node_index
    if not path:
        raise click.UsageError("Name the file: --path, or BLOCKLIST_NODE_INDEX.")
    return path


def _source():
    """Where the follower reads: the replica when BLOCKLIST_REPLICA_URL is set, else the primary."""
    url = settings_of(current_app).replica_url
    if not url:
        return db.engine
    engine = create_engine(url)
    ping_after_idle(engine)
    return engine


@node_index_cli.command("build")
@click.option("--path", help="The node index file (default: BLOCKLIST_NODE_INDEX)")
def build_command(path: str | None) -> None:
    """Build the node index from the database (or catch it up) and exit."""
    conn = store.connect(_path(path))
    with Session(_source()) as session:
        at = follow.catch_up(session, conn)
    conn.close()
    click.echo(f"node index at feed position {at}")


@node_index_cli.command("follow")
@click.option("--path", help="The node index file (default: BLOCKLIST_NODE_INDEX)")
def follow_command(path: str | None) -> None:
    """Build the node index, then keep it current from the change feed until stopped."""
    stopping = []
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(True))
    parent = os.getppid()  # gunicorn's master, or systemd: gone (orphaned) means stop too
    follow.follow(_source(), _path(path), stop=lambda: bool(stopping) or os.getppid() != parent, listen_to=db.engine)


@node_index_cli.command("status")
@click.option("--path", help="The node index file (default: BLOCKLIST_NODE_INDEX)")
def status_command(path: str | None) -> None:
    """The feed position the node index reflects and the entries it holds."""
    conn = store.connect(_path(path))
    count = conn.execute("SELECT count(*) FROM entries").fetchone()[0]
    click.echo(f"position {store.position(conn)}, {count} active entries")
    conn.close()
