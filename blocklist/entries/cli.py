"""Operator commands for entries, tags and the allowlist: `flask entries import | export |
recanonicalise`, `flask tags recount` and `flask allowlist import`.

Imports read the whole file first, validate every row with the API's own schema, then hand
them to the same services as the API inside one transaction: a bad row is reported with its
line number and nothing is written (exit 1). Every change is audited as the operator's. The
export streams the active set with the snapshot's own code (bounded memory, one consistent
read), in the snapshot's formats, which `entries import` reads back.
"""

from __future__ import annotations

import csv
import dataclasses
import json
from collections.abc import Iterator
from typing import IO, Any

import click
from flask import Flask
from flask.cli import AppGroup
from marshmallow import EXCLUDE, Schema, ValidationError

from ..auth import services as auth_services
from ..config import current_settings
from ..context import OPERATOR, Actor
from ..db import db
from ..exceptions import Conflict, DomainError
from ..feeds import cursors, lines, snapshot
from ..values.canonical import recanonicalised
from ..values.kinds import KINDS
from . import allowlist, queries, services, tagcounts
from .schemas import MAX_BULK, AllowlistItemSchema, PublishSchema

entries_cli = AppGroup("entries", help="Bulk import and export of entries.")
allowlist_cli = AppGroup("allowlist", help="The regulators' allowlist.")
tags_cli = AppGroup("tags", help="The tag counts the writes keep.")

FORMATS = click.Choice(snapshot.FORMATS)
MAX_REPORTED = 20  # bad rows listed in one error message


class BadRows(click.ClickException):
    """Bad rows, each named by its line number; nothing was written."""

    def __init__(self, problems: list[tuple[int, str]], what: str = "import"):
        shown = [f"  line {line}: {message}" for line, message in problems[:MAX_REPORTED]]
        if len(problems) > MAX_REPORTED:
            shown.append(f"  ... and {len(problems) - MAX_REPORTED} more")
        super().__init__(f"{what} refused, nothing was written ({len(problems)} bad rows):\n" + "\n".join(shown))


def _format_of(path: str, given: str | None) -> str:
    if given:
        return given
    return "csv" if path.lower().endswith(".csv") else "jsonl"


def _rows(stream: IO[str], fmt: str) -> Iterator[tuple[int, dict[str, Any] | str]]:
    """(line number, row) for each data row, or (line number, message) for one that cannot be
    read. CSV: a header row, empty fields left out, `tags` space-separated; JSONL: one object a
    line, blank lines skipped; `null` members left out (the export writes them)."""
    if fmt == "csv":
        reader = csv.DictReader(stream)
        for row in reader:
            line = reader.line_num
            if None in row:
                yield line, "more fields than the header names"
                continue
            fields: dict[str, Any] = {k: v for k, v in row.items() if k and v not in (None, "")}
            if "tags" in fields:
                fields["tags"] = fields["tags"].split()
            yield line, fields
        return
    for line, text in enumerate(stream, start=1):
        if not text.strip():
            continue
        try:
            obj = json.loads(text)
        except ValueError as error:
            yield line, f"not JSON ({error})"
            continue
        if not isinstance(obj, dict):
            yield line, "not a JSON object"
            continue
        yield line, {k: v for k, v in obj.items() if v is not None}


def _messages(errors: Any) -> str:
    """marshmallow's or a domain error's per-field messages as one line."""
    if isinstance(errors, dict):
        return "; ".join(f"{field}: {_messages(message)}" for field, message in errors.items())
    if isinstance(errors, list):
        return " ".join(_messages(message) for message in errors)
    return str(errors)


def _load(stream: IO[str], fmt: str, schema: Schema) -> tuple[list[int], list[dict[str, Any]]]:
    """Every row validated by `schema`: (line numbers, loaded rows); BadRows if any is bad."""
    lines, items, problems = [], [], []
    try:
        for line, row in _rows(stream, fmt):
            if isinstance(row, str):
                problems.append((line, row))
                continue
            try:
                items.append(schema.load(row))
                lines.append(line)
            except ValidationError as error:
                problems.append((line, _messages(error.messages)))
    except (csv.Error, UnicodeDecodeError) as error:
        raise click.ClickException(f"cannot read the file: {error}") from None
    if problems:
        raise BadRows(problems)
    if not items:
        raise click.ClickException("the file has no rows")
    return lines, items


def _item_problems(error: DomainError, lines: list[int]) -> list[tuple[int, str]]:
    """A service's per-item errors (`{"items": {index: {field: [...]}}}`) by line number."""
    items = (error.errors or {}).get("items")
    if not isinstance(items, dict):
        return []
    return [(lines[int(index)], _messages(messages)) for index, messages in items.items()]


def operator_for(org_id: int) -> Actor:
    """The operator acting for an org: reports are that org's and its kind's rules apply (a
    carrier's import gets no regulator powers); the audit trail names the operator."""
    org = auth_services.get_org(org_id)
    if not org.is_active:
        raise Conflict(f"Organisation {org.id} is suspended; reinstate it before importing for it.")
    return dataclasses.replace(
        OPERATOR, org_id=org.id, org_name=f"{OPERATOR.org_name} for {org.name}", org_kind=org.kind
    )


@entries_cli.command("import")
@click.argument("file", type=click.File("r", encoding="utf-8"))
@click.option("--org", "org_id", required=True, type=int, help="The org whose reports these are")
@click.option("--format", "fmt", type=FORMATS, default=None, help="Default: csv for *.csv, else jsonl")
def import_entries(file: IO[str], org_id: int, fmt: str | None) -> None:
    """Publish every row of FILE (JSONL or CSV with a header; `-` for stdin) as ORG's reports,
    all or nothing. Columns as in POST /v1/entries (kind, value, region, reason, evidence,
    category, tags, expires_at); others, such as an export's id and status, are ignored. Prints
    the counts as JSON."""
    lines, items = _load(file, _format_of(file.name, fmt), PublishSchema(unknown=EXCLUDE))
    counts = dict.fromkeys(("created", "relisted", "corroborated", "refreshed"), 0)
    try:
        actor = operator_for(org_id)
        for start in range(0, len(items), MAX_BULK):
            try:
                outcomes = services.publish(items[start : start + MAX_BULK], actor)
            except DomainError as error:
                problems = _item_problems(error, lines[start : start + MAX_BULK])
                if problems:
                    raise BadRows(problems) from None
                raise
            for outcome in outcomes:
                counts[outcome.result] += 1
        db.session.commit()
    except DomainError as error:
        db.session.rollback()
        raise click.ClickException(error.detail) from None
    except click.ClickException:
        db.session.rollback()
        raise
    click.echo(json.dumps({"rows": len(items), **counts}))


@entries_cli.command("export")
@click.option("--format", "fmt", type=FORMATS, default="jsonl", show_default=True)
@click.option("--kind", type=click.Choice(KINDS), default=None, help="Only this kind")
@click.option("--output", "-o", type=click.Path(dir_okay=False, writable=True), default="-", help="Default: stdout")
def export_entries(fmt: str, kind: str | None, output: str) -> None:
    """Write the active set (as GET /v1/feed/snapshot does, from one consistent read) in JSONL
    or CSV, streamed. Prints the feed cursor of the export on stderr (follow changes from it)."""
    with click.open_file(output, "wb") as out:
        read = snapshot.consistent_read()
        cursor = cursors.encode(read.position)
        for chunk in snapshot.stream(read, kind, fmt):  # closes the read when done or abandoned
            out.write(chunk)
    click.echo(json.dumps({"cursor": cursor}), err=True)


@allowlist_cli.command("import")
@click.argument("file", type=click.File("r", encoding="utf-8"))
@click.option("--skip-existing", is_flag=True, help="Skip values already on the allowlist instead of failing")
def import_allowlist(file: IO[str], skip_existing: bool) -> None:
    """Allowlist every row of FILE (CSV with the header kind,value,reason; `-` for stdin), all or
    nothing; an active entry with an allowlisted value is revoked, as by POST /v1/allowlist.
    Prints the counts as JSON."""
    lines, items = _load(file, "csv", AllowlistItemSchema(unknown=EXCLUDE))
    added = skipped = 0
    problems: list[tuple[int, str]] = []
    try:
        for line, item in zip(lines, items, strict=True):
            try:
                allowlist.add(item["kind"], item["value"], item["reason"], OPERATOR)
                added += 1
            except Conflict as error:  # raised before anything of this row is written
                if not skip_existing:
                    problems.append((line, error.detail))
                skipped += 1
            except DomainError as error:
                problems.append((line, error.detail))
        if problems:
            raise BadRows(problems, "allowlist import")
        db.session.commit()
    except click.ClickException:
        db.session.rollback()
        raise
    click.echo(json.dumps({"rows": len(items), "added": added, "skipped": skipped}))


@entries_cli.command("recanonicalise")
def recanonicalise_command() -> None:
    """List the entries whose stored value is not today's canonical form of what was published
    (README "Canonical forms": a URL's port is dropped, e-mail addresses are no URLs...), one
    JSON object a line: `changed` with the new value (and `duplicate_of` when an entry already
    has it), or `refused` with the reason. Read-only: such an entry keeps matching as before (a
    URL's expression never had a port); a regulator revokes the refused ones and the duplicates
    expire. Exit status 1 when any is listed."""
    region = current_settings().default_region
    found = 0

    def report(batch: list[tuple[int, str, str, str, str]]) -> int:
        ids = queries.entry_ids_by_value([(kind, new) for _, kind, _, outcome, new in batch if outcome == "changed"])
        for entry_id, kind, status, outcome, detail in batch:
            line: dict[str, Any] = {"id": entry_id, "kind": kind, "status": status, outcome: detail}
            if outcome == "changed" and (kind, detail) in ids:
                line["duplicate_of"] = ids[(kind, detail)]
            click.echo(json.dumps(line, ensure_ascii=False))
        return len(batch)

    pending: list[tuple[int, str, str, str, str]] = []
    for entry_id, kind, status, value, raw in queries.entries_to_recanonicalise():
        moved = recanonicalised(kind, value, raw, region)
        if moved is not None:
            pending.append((entry_id, kind, status, *moved))
        if len(pending) >= 500:
            found += report(pending)
            pending = []
    found += report(pending)
    if found:
        raise click.exceptions.Exit(1)


@tags_cli.command("recount")
@click.option("--repair", is_flag=True, help="Rewrite what drifted (under the entry-writer lock) and commit.")
def recount_command(repair: bool) -> None:
    """Check what the writes keep for reads against a fresh computation from every entry: the
    tag counts, the snapshot's tags and (PostgreSQL) the snapshot's lines. One JSON object:
    `ok`, `tags` whose count differs as [kept, actual], how many `entries` have stale snapshot
    tags and the first `entry_ids`, how many `lines` are missing, extra or stale. Exit status 1
    on any drift, unless `--repair` rewrote it (then `repaired` says how much). Reads every
    entry: minutes at 10M."""
    found = tagcounts.drift()
    found["lines"] = lines.drift()
    found["ok"] = found["ok"] and not found["lines"]
    if repair and not found["ok"]:
        services.lock_for_write()
        found["repaired"] = tagcounts.repair()
        lines.rebuild()
        db.session.commit()
    click.echo(json.dumps(found, ensure_ascii=False))
    if not found["ok"] and not repair:
        raise click.exceptions.Exit(1)


def init_app(app: Flask) -> None:
    app.cli.add_command(entries_cli)
    app.cli.add_command(allowlist_cli)
    app.cli.add_command(tags_cli)
