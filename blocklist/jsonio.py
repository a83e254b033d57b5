"""Request JSON that every database can store: no NUL and no lone surrogates in any string.

PostgreSQL text cannot hold U+0000 and lone surrogates cannot be encoded as UTF-8, so such
input would otherwise fail deep in a write as a 500. One check where JSON is parsed refuses it
for every endpoint with a 422 problem.
"""

from __future__ import annotations

import re
from typing import Any

from flask.json.provider import DefaultJSONProvider
from webargs.flaskparser import FlaskParser

from .errors import abort

_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def _first_unstorable(value: Any, path: str) -> str | None:
    if isinstance(value, str):
        return path if _UNSTORABLE.search(value) else None
    if isinstance(value, dict):
        for key, item in value.items():
            found = _first_unstorable(key, path) or _first_unstorable(item, f"{path}.{key}" if path else str(key))
            if found is not None:
                return found
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found = _first_unstorable(item, f"{path}.{index}" if path else str(index))
            if found is not None:
                return found
    return None


def refuse_unstorable(value: Any) -> Any:
    """Return `value`, or stop the request with a 422 naming the first bad field."""
    where = _first_unstorable(value, "")
    if where is not None:
        abort(422, "Strings may not contain NUL characters or unpaired surrogates.",
              errors={where or "body": ["Contains NUL or an unpaired surrogate."]})
    return value


class StorableJSONProvider(DefaultJSONProvider):
    """For `request.get_json()`."""

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        return refuse_unstorable(super().loads(s, **kwargs))


class StorableFlaskParser(FlaskParser):
    """For `@blp.arguments` (webargs parses JSON bodies itself)."""

    def _raw_load_json(self, req) -> Any:
        return refuse_unstorable(super()._raw_load_json(req))
