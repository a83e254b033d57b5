"""Keyset (cursor) pagination for every list endpoint.

A cursor is an opaque, URL-safe encoding of the sort key of the last row returned; the next page
is the rows strictly after it in the same order, so pages stay stable under concurrent inserts and
each page is an index probe rather than an OFFSET scan.

A cursor comes back from the client, so it is checked against the pager's key columns before it
reaches a query: integers within the column's range, strings no longer than the column and
storable, aware datetimes; anything else is a 400 problem, never a driver error.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from marshmallow import Schema, fields, validate
from sqlalchemy import BigInteger, Select, tuple_
from sqlalchemy.orm import InstrumentedAttribute

from .db import db
from .errors import abort
from .jsonio import is_storable, too_deep

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
# Ids in query strings: the narrowest id column is a 32-bit INTEGER, and a larger number can
# name nothing (and would overflow the driver's parameter binding).
MAX_ID = 2**31 - 1
MAX_BIG_ID = 2**63 - 1
ID_RANGE = validate.Range(min=1, max=MAX_ID)
# Longest cursor accepted: the widest key we page on is a 100-character tag (about 550 base64
# characters when every character is escaped in the JSON).
MAX_CURSOR_CHARS = 1024
MAX_CURSOR_STRING = 1000  # for a string key column declared without a length


class PageArgsSchema(Schema):
    cursor = fields.String(load_default=None, metadata={"description": "`next_cursor` of the previous page"})
    limit = fields.Integer(load_default=DEFAULT_LIMIT, validate=validate.Range(min=1, max=MAX_LIMIT))


def list_schema(item_schema: type[Schema], name: str) -> type[Schema]:
    """Return a ``{"items": [...], "next_cursor": str|null}`` schema around `item_schema`."""
    return Schema.from_dict(
        {
            "items": fields.List(fields.Nested(item_schema), required=True),
            "next_cursor": fields.String(allow_none=True, required=True),
        },
        name=name,
    )


def _encode_value(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return {"t": value.isoformat()}
    return value


def _decode_value(value: Any, key: InstrumentedAttribute) -> Any:
    """`value` as the key column holds it; ValueError if it is not one the column can hold."""
    python_type = key.type.python_type
    if python_type is int:
        top = MAX_BIG_ID if isinstance(key.type, BigInteger) else MAX_ID
        if type(value) is int and 0 <= value <= top:  # bool is not an int here
            return value
    elif python_type is str:
        limit = getattr(key.type, "length", None) or MAX_CURSOR_STRING
        if isinstance(value, str) and len(value) <= limit and is_storable(value):
            return value
    elif python_type is dt.datetime:
        if isinstance(value, dict) and set(value) == {"t"} and isinstance(value["t"], str):
            moment = dt.datetime.fromisoformat(value["t"])
            if moment.tzinfo is not None:
                return moment
    raise ValueError(f"not a value of {key}")


def encode_cursor(values: Sequence[Any]) -> str:
    raw = json.dumps([_encode_value(v) for v in values], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, keys: Sequence[InstrumentedAttribute]) -> list[Any]:
    """Decode a cursor made by `encode_cursor` for a pager ordered by `keys`; one that is
    malformed, or holds values the key columns cannot hold, is a 400 problem."""
    try:
        if len(cursor) > MAX_CURSOR_CHARS:
            raise ValueError("too long")
        padded = cursor + "=" * (-len(cursor) % 4)
        text = base64.urlsafe_b64decode(padded.encode()).decode()
        if too_deep(text):
            raise ValueError("too deep")
        values = json.loads(text)
        if not isinstance(values, list) or len(values) != len(keys):
            raise ValueError("wrong width")
        return [_decode_value(v, k) for v, k in zip(values, keys, strict=True)]
    except (ValueError, binascii.Error, UnicodeError, TypeError):
        abort(
            400,
            "The cursor is malformed; use next_cursor from a previous page.",
            errors={"cursor": ["Malformed cursor."]},
        )


@dataclass
class Page:
    items: list[Any]
    next_cursor: str | None

    def as_dict(self) -> dict[str, Any]:
        return {"items": self.items, "next_cursor": self.next_cursor}


def paginate(
    stmt: Select,
    keys: Sequence[InstrumentedAttribute],
    *,
    cursor: str | None,
    limit: int,
    descending: bool = False,
    rows: bool = False,
) -> Page:
    """Run `stmt` one page at a time, ordered by `keys` (which together must be unique).

    Returns the items of the page — the selected entities, or with `rows` the result rows (the
    keys among their columns) — and the cursor of the next one (None on the last page).
    """
    key_expr = tuple_(*keys) if len(keys) > 1 else keys[0]
    if cursor:
        after = decode_cursor(cursor, keys)
        bound = tuple_(*after) if len(keys) > 1 else after[0]
        stmt = stmt.where(key_expr < bound if descending else key_expr > bound)
    order = [k.desc() if descending else k.asc() for k in keys]
    stmt = stmt.order_by(*order).limit(limit + 1)
    items = list(db.session.execute(stmt) if rows else db.session.scalars(stmt))
    next_cursor = None
    if len(items) > limit:
        items = items[:limit]
        next_cursor = encode_cursor([getattr(items[-1], k.key) for k in keys])
    return Page(items, next_cursor)
