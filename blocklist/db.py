"""The declarative base, the Flask-SQLAlchemy handle and column types shared by every domain."""

from __future__ import annotations

import datetime as dt
import functools
import json
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, cast

from flask import Flask, Response, current_app, g
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import (
    BigInteger,
    ColumnElement,
    CursorResult,
    DateTime,
    Engine,
    Executable,
    Integer,
    MetaData,
    Table,
    Text,
    TypeDecorator,
    any_,
    bindparam,
    event,
    insert,
    literal,
    text,
    update,
)
from sqlalchemy import cast as sql_cast
from sqlalchemy.dialects import postgresql
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.orm import DeclarativeBase

from .clock import CLOCK

# Deterministic constraint names so Alembic autogenerate and downgrades agree on every database.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


db = SQLAlchemy(model_class=Base)

# Ids and positions that grow past 2**31 at national scale (entries, reports, the change log, the
# audit trail): BIGINT on PostgreSQL; INTEGER on SQLite, whose rowid alias only an INTEGER
# primary key gets (so ids still autoincrement there).
BigId = BigInteger().with_variant(Integer, "sqlite")


def unit_of_work(view: Callable[..., Any]) -> Callable[..., Any]:
    """One transaction per request: the view (through the services it calls, which flush and
    never commit) does its work, and its answer decides: a success (< 400) commits, anything
    else rolls back. A failing commit raises through the app's error handlers (503 when the
    database is gone) like any error in the view."""

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Response:
        response = current_app.make_response(view(*args, **kwargs))
        if g.get("read_only") and not db.session().in_transaction():
            return response  # a read that took no connection (the node index): nothing to end
        if response.status_code < 400:
            db.session.commit()
        else:
            db.session.rollback()
        return response

    return wrapper


# A pooled connection unused for this long is pinged before it is handed out again: under load
# connections come back within milliseconds; below one request a second the ping costs nothing
# that matters.
IDLE_PING_SECONDS = 1.0


def ping_after_idle(engine: Engine, idle: float = IDLE_PING_SECONDS) -> None:
    """Pessimistic disconnect handling that costs a round trip only when it can matter: a
    connection checked out again within `idle` seconds of its last use (always, under load) is
    handed out as it is; one idle for longer is pinged first, and replaced if the ping fails.
    SQLAlchemy's `pool_pre_ping` pings on every checkout, i.e. one more round trip per request.
    A connection that dies while in use fails its request with the usual 503 (errors.py), and
    the pool then drops every connection older than the failure."""

    @event.listens_for(engine, "checkin")
    def checked_in(dbapi_connection: Any, record: Any) -> None:
        record.info["checked_in"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def checked_out(dbapi_connection: Any, record: Any, proxy: Any) -> None:
        if time.monotonic() - record.info.get("checked_in", float("-inf")) < idle:
            return
        try:
            cursor = dbapi_connection.cursor()
            cursor.execute("SELECT 1")
            cursor.close()
            dbapi_connection.rollback()
        except Exception as error:  # the pool retries with a new connection
            raise DisconnectionError() from error


def init_unit_of_work(app: Flask) -> None:
    """Wrap every view the app has (call after every blueprint and route is registered)."""
    for endpoint, view in list(app.view_functions.items()):
        if endpoint != "static":
            app.view_functions[endpoint] = unit_of_work(view)


def table_of(model: type[Base]) -> Table:
    """The model's Table (typed: ``Model.__table__`` is only a FromClause to the type checker)."""
    return cast(Table, model.__table__)


def execute_count(statement: Executable) -> int:
    """Run an UPDATE or DELETE in the session; returns how many rows it touched."""
    return cast(CursorResult, db.session.execute(statement)).rowcount or 0


def utcnow() -> dt.datetime:
    """Return the current time as an aware UTC datetime, from the service's one clock."""
    return CLOCK.now()


class UTCDateTime(TypeDecorator[dt.datetime]):
    """Timestamps stored as naive UTC and read back as aware UTC on every database.

    SQLite keeps no offset, so values are normalised to UTC on the way in and labelled UTC on the
    way out; PostgreSQL gets the same naive-UTC column, so both behave alike.
    """

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTCDateTime column")
        return value.astimezone(dt.UTC).replace(tzinfo=None)

    def process_result_value(self, value: dt.datetime | None, dialect) -> dt.datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=dt.UTC)


def bulk_insert(table: Table, rows: list[dict[str, Any]]) -> None:
    """Insert many rows in the session's transaction as fast as the database allows.

    PostgreSQL: one binary `COPY ... FROM STDIN` stream (`_copy_in`: several times faster than
    multi-row INSERTs, whose statements psycopg must re-parse). Elsewhere: an executemany.
    """
    if not rows:
        return
    session = db.session
    if session.get_bind().dialect.name != "postgresql":
        session.execute(insert(table), rows)
        return
    columns = list(rows[0])
    types = [copy_type(table.c[c].type) for c in columns]
    values = [_column(rows, c, t) for c, t in zip(columns, types, strict=True)]
    _copy_in(table.name, columns, types, zip(*values, strict=True))


def insert_with_ids(table: Table, rows: list[dict[str, Any]]) -> list[int]:
    """Insert rows (without ids) as fast as the database allows; returns their new ids in row
    order: ids from the sequence and one COPY on PostgreSQL, INSERT ... RETURNING elsewhere."""
    ids = allocate_ids(table, len(rows))
    if ids is None:
        return list(db.session.scalars(insert(table).returning(table.c.id, sort_by_parameter_order=True), rows))
    bulk_insert(table, [{"id": row_id, **row} for row_id, row in zip(ids, rows, strict=True)])
    return ids


def allocate_ids(table: Table, count: int) -> list[int] | None:
    """`count` new ids from the table's sequence (PostgreSQL), for rows then COPYed with them;
    None where ids come from the insert itself (SQLite)."""
    session = db.session
    if session.get_bind().dialect.name != "postgresql":
        return None
    return list(
        session.scalars(
            text("SELECT nextval(pg_get_serial_sequence(:table, 'id')) FROM generate_series(1, :n)"),
            {"table": table.name, "n": count},
        )
    )


IN_CHUNK = 5000


def is_postgres() -> bool:
    return db.session.get_bind().dialect.name == "postgresql"


def id_array(ids: Iterable[int]) -> str:
    """Integers as a PostgreSQL array literal, the parameter of a `CAST(:ids AS bigint[])`:
    joined in C, where psycopg dumps a list parameter element by element in Python (about
    6 ms per 10,000 ids)."""
    return "{" + ",".join(map(str, ids)) + "}"


def in_clauses(column: Any, values: Iterable[Any], type_: Any) -> Iterator[ColumnElement[bool]]:
    """WHERE clauses that together match `column` to any of `values` (run one statement per
    clause): on PostgreSQL one `= ANY(:array)`, a single parameter whatever the count (an IN list
    of thousands of bound values costs more to render and parse than to run; integers go as an
    `id_array` literal); elsewhere IN lists of at most IN_CHUNK values."""
    values = sorted(set(values))
    if not values:
        return
    if is_postgres():
        if isinstance(type_, Integer) or (isinstance(type_, type) and issubclass(type_, Integer)):
            yield column == any_(sql_cast(literal(id_array(values), Text()), ARRAY(type_)))
        else:
            yield column == any_(literal(values, ARRAY(type_)))
        return
    for start in range(0, len(values), IN_CHUNK):
        yield column.in_(values[start : start + IN_CHUNK])


def ids_in(column: Any, ids: list[int]) -> ColumnElement[bool]:
    """SQL: `column` is one of `ids`, at most IN_CHUNK of them (so `in_clauses` gives one)."""
    if len(ids) > IN_CHUNK:
        raise ValueError(f"ids_in takes at most {IN_CHUNK} ids")
    return next(in_clauses(column, ids, BigInteger))


# The PostgreSQL types a binary COPY dumps each column type as (`copy_type`); JSON goes as its
# text, which is also its binary form.
_COPY_TYPES = {
    "BIGINT": "bigint",
    "INTEGER": "integer",
    "SMALLINT": "smallint",
    "BOOLEAN": "boolean",
    "TEXT": "text",
    "VARCHAR": "text",
    "JSON": "json",
    "TIMESTAMP WITHOUT TIME ZONE": "timestamp",
    "UUID": "uuid",
    "BYTEA": "bytea",
    "DATE": "date",
}


@functools.cache
def copy_type(column_type: Any) -> str:
    """The type `_copy_in` dumps values of this SQLAlchemy column type as."""
    name = column_type.compile(dialect=postgresql.dialect())
    return _COPY_TYPES[name.split("(")[0]]


def _column(rows: list[dict[str, Any]], column: str, sql_type: str) -> list[Any]:
    """One column of `rows` as a binary COPY of `sql_type` takes it: numbers and text as they
    are; timestamps as naive UTC (like `UTCDateTime`; many rows share one, now, converted once),
    JSON as its text and UUIDs as `uuid.UUID`, each distinct value converted once."""
    values = [row[column] for row in rows]
    if sql_type == "timestamp":
        convert: Callable[[Any], Any] = _naive_utc
    elif sql_type == "json":
        convert = _json_text
    elif sql_type == "uuid":
        convert = _as_uuid
    else:
        return values
    seen: dict[Any, Any] = {None: None}
    out = []
    for value in values:
        try:
            out.append(seen[value])
        except KeyError:
            out.append(seen.setdefault(value, convert(value)))
        except TypeError:  # unhashable (JSON)
            out.append(convert(value))
    return out


def _naive_utc(value: dt.datetime) -> dt.datetime:
    return value.astimezone(dt.UTC).replace(tzinfo=None)


def _json_text(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _as_uuid(value: uuid.UUID | str) -> uuid.UUID:
    return value if isinstance(value, uuid.UUID) else uuid.UUID(value)


def _copy_in(table: str, columns: list[str], sql_types: list[str], rows: Iterable[Sequence[Any]]) -> None:
    """Stream `rows` (values in `columns` order, as `_column` gives them) into `table` with one
    binary `COPY ... FROM STDIN` on the session's connection (its transaction): no text
    rendering and parsing of each value, and `sql_types` tell psycopg how to dump each column
    (PostgreSQL applies no cast to a binary COPY)."""
    raw = db.session.connection().connection.driver_connection
    assert raw is not None
    names = ", ".join(f'"{c}"' for c in columns)
    with raw.cursor() as cursor, cursor.copy(f'COPY "{table}" ({names}) FROM STDIN (FORMAT BINARY)') as copy:
        copy.set_types(["text" if t == "json" else t for t in sql_types])
        for row in rows:
            copy.write_row(row)


# Fewer rows than this `update_rows` writes with an executemany (psycopg pipelines it: one round
# trip), not the four statements of the temporary table.
COPY_MIN_ROWS = 100


def update_rows(
    table: Table, rows: list[dict[str, Any]], types: dict[str, Any], increment: tuple[str, ...] = ()
) -> None:
    """Set different values on many rows by id in one statement: each row is {"id": …, column:
    value, …} with the same columns, `types` gives each column's SQL type; the `increment`
    columns (a version) go up by one on every row. PostgreSQL, from COPY_MIN_ROWS rows: the rows
    go into a temporary table with one binary COPY, then one `UPDATE … FROM` it (the temporary
    table is dropped at once); fewer rows, and elsewhere, an executemany."""
    if not rows:
        return
    columns = [c for c in rows[0] if c != "id"]
    if len(rows) < COPY_MIN_ROWS or not is_postgres():
        db.session.execute(
            update(table)
            .where(table.c.id == bindparam("id_", type_=BigInteger))
            .values({**{c: bindparam(c) for c in columns}, **{c: table.c[c] + 1 for c in increment}})
            .execution_options(synchronize_session=False),
            [{"id_": row["id"], **{c: row[c] for c in columns}} for row in rows],
        )
        return
    names = ["id", *columns]
    sql_types = {"id": "bigint", **types}
    scratch = f"update_rows_{table.name}"
    definition = ", ".join(f'"{c}" {sql_types[c]}' for c in names)
    sets = ", ".join(
        [*(f'"{c}" = v."{c}"' for c in columns), *(f'"{c}" = "{table.name}"."{c}" + 1' for c in increment)]
    )
    session = db.session
    session.execute(text(f'CREATE TEMPORARY TABLE "{scratch}" ({definition}) ON COMMIT DROP'))
    values = [_column(rows, c, sql_types[c]) for c in names]
    _copy_in(scratch, names, [sql_types[c] for c in names], zip(*values, strict=True))
    session.execute(text(f'UPDATE "{table.name}" SET {sets} FROM "{scratch}" AS v WHERE "{table.name}".id = v.id'))
    session.execute(text(f'DROP TABLE "{scratch}"'))
