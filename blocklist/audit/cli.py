"""`flask audit verify | checkpoint | public-key | keygen`."""

from __future__ import annotations

import json
import time
from typing import NoReturn

import click
from flask import Flask, current_app
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
    except signing.SigningKeyUnavailable:
        _signing_key_unusable()
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
    try:
        created, result = create_checkpoint(batch=batch)
    except signing.SigningKeyUnavailable:
        db.session.rollback()
        _signing_key_unusable()
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
    try:
        click.echo(signing.public_key_pem(), nl=False)
    except signing.SigningKeyUnavailable:
        _signing_key_unusable()


@audit_cli.command("keygen")
@click.option("--if-missing", is_flag=True, help="Exit 0 without a change when the key file already exists")
def keygen(if_missing: bool) -> None:
    """Create the checkpoint-signing key at BLOCKLIST_AUDIT_SIGNING_KEY_FILE (mode 0600), once.

    Every node must then read this same file. Prints the file, its key_id and whether it was
    created, as JSON. Never overwrites a key (rotation: deploy/README.md, Key rotation)."""
    path = signing.key_path()
    try:
        signing.generate_key(path)
        created = True
    except FileExistsError:
        if not if_missing:
            raise click.ClickException(
                f"{path} already exists; a signing key is never overwritten (to rotate it see deploy/README.md)"
            ) from None
        created = False
    except OSError as error:
        raise click.ClickException(f"cannot write the audit signing key to {path}: {error.strerror or error}") from None
    try:
        kid = signing.require_key(current_app)
    except signing.SigningKeyError as error:
        raise click.ClickException(str(error)) from None
    click.echo(json.dumps({"key_file": str(path), "key_id": kid, "created": created}))


def _signing_key_unusable() -> NoReturn:
    """Exit 1 naming the key file and what is wrong with it (the 503's detail does not)."""
    try:
        signing.load_key(signing.key_path())
    except signing.SigningKeyError as error:
        raise click.ClickException(str(error)) from None
    raise click.ClickException("a retired audit public key (BLOCKLIST_AUDIT_RETIRED_PUBLIC_KEYS) cannot be used")


def init_app(app: Flask) -> None:
    app.cli.add_command(audit_cli)
