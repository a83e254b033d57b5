"""Feed cursors: opaque strings naming a position in the change log ("v1:<position>", URL-safe
base64). Clients must treat them as opaque; the version prefix lets the format change later."""

from __future__ import annotations

import base64
import binascii
import re

from ..errors import abort

_PREFIX = "v1:"
_SHAPE = re.compile(r"^v1:(0|[1-9][0-9]{0,18})$")


def encode(position: int) -> str:
    return base64.urlsafe_b64encode(f"{_PREFIX}{position}".encode()).decode().rstrip("=")


def decode(cursor: str, field: str = "since") -> int:
    """The position a cursor names; a malformed cursor is a 400 problem."""
    try:
        text = base64.urlsafe_b64decode((cursor + "=" * (-len(cursor) % 4)).encode()).decode("ascii")
        match = _SHAPE.match(text)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        match = None
    if match is None:
        abort(
            400,
            "The cursor is malformed; use a cursor the feed returned (next_cursor or X-Blocklist-Cursor).",
            errors={field: ["Malformed cursor."]},
        )
    return int(match.group(1))
