"""`flask audit verify | checkpoint | public-key | keygen`."""

from __future__ import annotations

import json
import time
from typing import BinaryIO, NoReturn, TextIO

import click
from flask import Flask, current_app
from flask.cli import AppGroup

from ..config import current_settings
from ..db import db
from ..exceptions import DomainError
from . import signing
from .bundle import court_bundle
from .checkpoints import create_checkpoint
from .tree import TreeDamaged
from .treeheads import TreeInconsistent, as_dict, sign_tree_head
from .verify import DEFAULT_BATCH, UnknownCheckpoint, verify_chain
from .witness import WitnessFileError, read_heads, verify_witness

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
@click.option(
    "--witness",
    type=click.File("r", encoding="utf-8"),
    default=None,
    help="A file of signed tree heads kept outside the database (JSON lines, a JSON array, or "
    "`blocklist-sync witness-export`): the trail must still contain each of them",
)
def verify(batch: int, from_checkpoint: int | None, witness: TextIO | None) -> None:
    """Verify the chain, audit_head and checkpoints (and, with --witness, the Merkle tree against
    witnessed tree heads); print JSON; exit 1 if broken."""
    started = time.perf_counter()
    heads = None
    if witness is not None:
        try:
            heads = read_heads(witness.read())
        except WitnessFileError as error:
            raise click.BadParameter(str(error), param_hint="--witness") from None
    try:
        result = verify_chain(db.session, batch=batch, from_checkpoint=from_checkpoint)
        witnessed = verify_witness(db.session, heads) if heads is not None else None
    except UnknownCheckpoint:
        raise click.BadParameter(f"no checkpoint with id {from_checkpoint}", param_hint="--from-checkpoint") from None
    except signing.SigningKeyUnavailable:
        _signing_key_unusable()
    seconds = time.perf_counter() - started
    output = {
        **result.as_dict(),
        "seconds": round(seconds, 3),
        "records_per_second": round(result.records / seconds) if seconds else None,
    }
    if witnessed is not None:
        output["witness"] = witnessed.as_dict()
        output["ok"] = result.ok and witnessed.ok
    click.echo(json.dumps(output))
    if not output["ok"]:
        raise SystemExit(1)


@audit_cli.command("sth")
@click.option("--loop", is_flag=True, help="Keep signing every BLOCKLIST_STH_INTERVAL seconds")
def sth(loop: bool) -> None:
    """Sign a tree head of the transparency log if it grew; print it (or null) as JSON.

    Safe to run on several hosts at once: heads are signed under the audit head lock and one
    size is signed once. Exit 1 when the stored tree no longer extends the last signed head."""
    interval = max(current_settings().sth_interval, 1)
    while True:
        try:
            head = sign_tree_head()
            db.session.commit()
        except signing.SigningKeyUnavailable:
            db.session.rollback()
            _signing_key_unusable()
        except (TreeInconsistent, TreeDamaged) as error:
            db.session.rollback()
            raise click.ClickException(f"refusing to sign: {error}") from None
        click.echo(json.dumps(as_dict(head) if head is not None else None), nl=True)
        if not loop:
            return
        time.sleep(interval)


@audit_cli.command("bundle")
@click.option("--entry-id", required=True, type=click.IntRange(min=1))
@click.option("--output", type=click.File("wb"), default="-", help="File to write (default: stdout)")
def bundle(entry_id: int, output: BinaryIO) -> None:
    """Write the court bundle of an entry: its records, their inclusion proofs in the latest
    signed tree head, the head and the public key (verify with scripts/verify_bundle.py)."""
    try:
        output.write(court_bundle(str(entry_id)))
    except DomainError as error:
        raise click.ClickException(error.detail) from None
    except signing.SigningKeyUnavailable:
        _signing_key_unusable()


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
