"""`flask audit verify | checkpoint | public-key`."""

from __future__ import annotations

import json
import time

import click
from flask import Flask
from flask.cli import AppGroup

from ..db import db
from . import signing
from .checkpoints import create_checkpoint
from .verify import DEFAULT_BATCH, UnknownCheckpoint, verify_chain

audit_cli = AppGroup("audit", help="The hash-chained audit trail.")


@audit_cli.command("verify")
@click.option(
    "--batch", default=DEFAULT_BATCH, show_default=True, type=click.IntRange(min=1), help="Records read per query"
)
@click.option(
    "--from-checkpoint",
    type=click.IntRange(min=1),
    default=None,
    help="Check only the records after this signed checkpoint (its id)",
)
def verify(batch: int, from_checkpoint: int | None) -> None:
    """Verify the chain, audit_head and checkpoints; print JSON; exit 1 if broken."""
    started = time.perf_counter()
    try:
        result = verify_chain(db.session, batch=batch, from_checkpoint=from_checkpoint)
    except UnknownCheckpoint:
        raise click.BadParameter(f"no checkpoint with id {from_checkpoint}", param_hint="--from-checkpoint") from None
    seconds = time.perf_counter() - started
    click.echo(
        json.dumps(
            {
                **result.as_dict(),
                "seconds": round(seconds, 3),
                "records_per_second": round(result.records / seconds) if seconds else None,
            }
        )
    )
    if not result.ok:
        raise SystemExit(1)


@audit_cli.command("checkpoint")
@click.option("--batch", default=DEFAULT_BATCH, show_default=True, type=click.IntRange(min=1))
def checkpoint(batch: int) -> None:
    """Verify the chain, then sign and store its head; print the checkpoint as JSON."""
    created, result = create_checkpoint(batch=batch)
    if created is None:
        db.session.rollback()
        click.echo(json.dumps({"checkpoint": None, **result.as_dict()}))
        raise SystemExit(1)
    db.session.commit()
    click.echo(
        json.dumps(
            {
                "id": created.id,
                "seq": created.seq,
                "head_hash": created.head_hash,
                "created_at": created.created_at.isoformat(),
                "signature": created.signature,
                "key_id": created.key_id,
            }
        )
    )


@audit_cli.command("public-key")
def public_key() -> None:
    """Print the checkpoint-signing public key (PEM)."""
    click.echo(signing.public_key_pem(), nl=False)


def init_app(app: Flask) -> None:
    app.cli.add_command(audit_cli)
