"""Request input that every database can store, and that costs bounded work to refuse.

- No NUL and no lone surrogates in any string, whether in a JSON body, a query string, a form
  field, HTTP Basic credentials or a path segment: PostgreSQL text cannot hold U+0000 and lone
  surrogates cannot be encoded as UTF-8, so such input would otherwise fail deep in a query or a
  write as a 500. The JSON body check is where JSON is parsed; the rest is one before_request.
- JSON nested at most `MAX_JSON_DEPTH` levels, measured on the raw text before parsing (the
  parser, and everything that walks its result, recurses once per level).
- Every datetime a request carries (body or query) can be expressed in UTC, as UTCDateTime
  stores it: `9999-12-31T23:59:59-14:00` is a valid ISO 8601 time past year 9999 in UTC.
- A JSON body with more unknown keys than `errors.MAX_REPORTED_ERRORS`, or a list longer than
  its schema allows, is refused before marshmallow validates (and reports on) each item.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from itertools import accumulate, islice
from typing import Any

import flask_smorest
from flask import Flask, request
from flask.json.provider import DefaultJSONProvider
from marshmallow import RAISE, Schema, ValidationError, fields, validate
from webargs.core import is_json
from webargs.flaskparser import FlaskParser

from .errors import MAX_REPORTED_ERRORS, abort

# The deepest request today is 4 (bulk items -> item -> tags -> tag); 32 leaves room.
MAX_JSON_DEPTH = 32
UNSTORABLE_MESSAGE = "Contains NUL or an unpaired surrogate."

_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
# In JSON text a NUL or a surrogate is an escape (`\u0000`, `\udXXX`) or, in bytes decoded with
# surrogatepass, a raw surrogate: without any of these the parsed document needs no walk.
_MAYBE_UNSTORABLE = re.compile(rb"\\u(?:0000|[dD][89a-fA-F])|\xed[\xa0-\xbf]|\x00")
_ESCAPE = re.compile(rb"\\.", re.S)
_STRING = re.compile(rb'"[^"]*"')
_ONLY_BRACKETS_AND_QUOTES = bytes(set(range(256)) - set(b'[]{}"'))
_DEPTH_STEP = [0] * 256
for _char, _step in ((b"[", 1), (b"{", 1), (b"]", -1), (b"}", -1)):
    _DEPTH_STEP[_char[0]] = _step


def is_storable(text: str) -> bool:
    """False when `text` holds a NUL or a lone surrogate."""
    return _UNSTORABLE.search(text) is None


def _utf8(document: str | bytes) -> bytes | None:
    """`document` as UTF-8 bytes (the encodings json.loads accepts), None if it is none of them."""
    if isinstance(document, str):
        return document.encode("utf-8", "surrogatepass")
    encoding = json.detect_encoding(document)
    if encoding == "utf-8":
        return document
    try:
        return document.decode(encoding, "surrogatepass").encode("utf-8", "surrogatepass")
    except UnicodeError:
        return None  # the parser refuses it as not JSON


def too_deep(document: str | bytes, limit: int = MAX_JSON_DEPTH) -> bool:
    """True when the JSON text opens more than `limit` arrays/objects inside one another.

    Counted without recursion and at C speed: escapes and strings are cut out, then the running
    sum of opening (+1) and closing (-1) brackets is taken. Invalid JSON may be miscounted; the
    parser refuses it anyway.
    """
    raw = _utf8(document)
    if raw is None or raw.count(b"[") + raw.count(b"{") <= limit:
        return False
    brackets = _STRING.sub(b"", _ESCAPE.sub(b"", raw).translate(None, _ONLY_BRACKETS_AND_QUOTES))
    return max(accumulate(map(_DEPTH_STEP.__getitem__, brackets.replace(b'"', b""))), default=0) > limit


def may_hold_unstorable(document: str | bytes) -> bool:
    """False when no string in the JSON text can hold a NUL or a lone surrogate."""
    raw = _utf8(document)
    if raw is None:
        return True
    quick = b"\\u" in raw or b"\xed" in raw or b"\x00" in raw  # memchr speed; usually all absent
    return quick and _MAYBE_UNSTORABLE.search(raw) is not None


def refuse_too_deep(document: str | bytes) -> None:
    if too_deep(document):
        abort(
            400,
            f"The JSON body nests arrays and objects more than {MAX_JSON_DEPTH} levels deep.",
            errors={"body": [f"Nested more than {MAX_JSON_DEPTH} levels deep."]},
        )


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
        abort(
            422,
            "Strings may not contain NUL characters or unpaired surrogates.",
            errors={where or "body": [UNSTORABLE_MESSAGE]},
        )
    return value


def _shown(name: str) -> str:
    return _UNSTORABLE.sub("\ufffd", name)


_OAUTH_CREDENTIALS = ("client_id", "client_secret", "username", "password")


def refuse_unstorable_parameters() -> None:
    """before_request: a 422 naming the first query, form, path or Basic credential parameter
    whose name or value holds NUL or a lone surrogate."""
    sources = [request.args.items(multi=True), (request.view_args or {}).items()]
    if request.mimetype in ("application/x-www-form-urlencoded", "multipart/form-data"):
        sources.append(request.form.items(multi=True))
    if request.authorization is not None and request.authorization.type == "basic":
        sources.append(
            [("username", request.authorization.username or ""), ("password", request.authorization.password or "")]
        )
    # Client credentials at the OAuth endpoints are the OAuth server's to refuse, as RFC 6749
    # says (401 invalid_client, the same answer as for any unknown id: auth/oauth2.py).
    credentials = _OAUTH_CREDENTIALS if request.path.startswith("/oauth/") else ()
    for source in sources:
        for name, value in source:
            if name in credentials:
                continue
            if not (is_storable(name) and (not isinstance(value, str) or is_storable(value))):
                abort(
                    422,
                    "Parameters may not contain NUL characters or unpaired surrogates.",
                    errors={_shown(name): [UNSTORABLE_MESSAGE]},
                )


def _first_unstorable_datetime(value: Any, path: tuple) -> tuple | None:
    """The path of the first aware datetime in loaded arguments that overflows in UTC."""
    if isinstance(value, dt.datetime):
        try:
            value.astimezone(dt.UTC)
        except OverflowError:
            return path
    elif isinstance(value, dict):
        for key, item in value.items():
            if (found := _first_unstorable_datetime(item, (*path, key))) is not None:
                return found
    elif isinstance(value, list):
        for index, item in enumerate(value):
            if (found := _first_unstorable_datetime(item, (*path, index))) is not None:
                return found
    return None


def refuse_unstorable_datetimes(arguments: Any) -> None:
    """Raise a ValidationError for the first datetime outside what UTC can express."""
    path = _first_unstorable_datetime(arguments, ())
    if path is not None:
        messages: Any = ["Out of range once converted to UTC."]
        for key in reversed(path):
            messages = {key: messages}
        raise ValidationError(messages)


class StorableJSONProvider(DefaultJSONProvider):
    """For `request.get_json()`; and every JSON answer is UTF-8 as is (RFC 8259 8.1): `安 全 账 户`,
    not `\u5b89 \u5168 …` escapes."""

    ensure_ascii = False

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        refuse_too_deep(s)
        value = super().loads(s, **kwargs)
        return refuse_unstorable(value) if may_hold_unstorable(s) else value


# --- early refusal of bodies whose errors would be huge --------------------------------------


class _Findings:
    """Problems found before validation: the first MAX_REPORTED_ERRORS, and how many in all."""

    def __init__(self) -> None:
        self.errors: dict = {}
        self.count = 0
        self.decisive = False  # an over-long list: refuse even with few other findings

    def add(self, path: list, messages: list[str]) -> None:
        self.count += 1
        if self.count <= MAX_REPORTED_ERRORS:
            node = self.errors
            for key in path[:-1]:
                node = node.setdefault(key, {})
            node[path[-1]] = messages


def _too_long(field: fields.Field, value: list) -> list[str] | None:
    """The field's own max-length message if `value` has more items than it allows."""
    for validator in field.validators:
        if isinstance(validator, validate.Length) and validator.max is not None and len(value) > validator.max:
            try:
                validator(value)
            except ValidationError as error:
                return error.messages if isinstance(error.messages, list) else [str(error.messages)]
    return None


def _survey(schema: Schema, data: Any, path: list, found: _Findings, unknown: str | None = None) -> None:
    """Count unknown keys (when they are refused: `unknown`, else the schema's own setting) and
    over-long lists, without deserializing anything; descend into nested schemas."""
    if not isinstance(data, dict):
        return
    known = {field.data_key or name: field for name, field in schema.load_fields.items()}
    if (unknown or schema.unknown) == RAISE:
        extra = len(data) - sum(1 for key in known if key in data)
        listed = min(extra, max(0, MAX_REPORTED_ERRORS - found.count))
        for key in islice((k for k in data if k not in known), listed):
            found.add([*path, key], [schema.error_messages["unknown"]])
        found.count += extra - listed
    for key, field in known.items():
        value = data.get(key)
        inner = field.inner if isinstance(field, fields.List) else field
        many = isinstance(field, fields.List) or (isinstance(field, fields.Nested) and field.many)
        if many and isinstance(value, list):
            messages = _too_long(field, value)
            if messages is not None:
                found.add([*path, key], messages)
                found.decisive = True
                continue
        if not isinstance(inner, fields.Nested) or not isinstance(inner.schema, Schema):
            continue
        if many and isinstance(value, list):
            for index, item in enumerate(value):
                _survey(inner.schema, item, [*path, key, index], found, inner.unknown)
        elif not many:
            _survey(inner.schema, value, [*path, key], found, inner.unknown)


def refuse_overwhelming(schema: Schema, data: Any) -> None:
    """Stop with a 422 before validation when `data` has a list longer than its schema allows
    or more unknown keys than are reported; otherwise let the schema validate as usual."""
    found = _Findings()
    _survey(schema, data, [], found)
    if found.decisive or found.count > MAX_REPORTED_ERRORS:
        omitted = found.count - MAX_REPORTED_ERRORS
        extra: dict[str, Any] = {"errors_omitted": omitted} if omitted > 0 else {}
        abort(422, "The request did not validate; see errors for each field.", errors=found.errors, **extra)


class StorableFlaskParser(FlaskParser):
    """For `@blp.arguments` (webargs parses JSON bodies itself)."""

    def _raw_load_json(self, req) -> Any:
        if not is_json(req.mimetype):
            return super()._raw_load_json(req)
        body = req.get_data(cache=True)
        refuse_too_deep(body)
        value = super()._raw_load_json(req)
        return refuse_unstorable(value) if may_hold_unstorable(body) else value

    def _process_location_data(self, *args: Any, **kwargs: Any) -> Any:
        arguments = super()._process_location_data(*args, **kwargs)
        refuse_unstorable_datetimes(arguments)
        return arguments

    def pre_load(self, location_data, *, schema: Schema, req, location: str):
        if location == "json":
            refuse_overwhelming(schema, location_data)
        return location_data


def init_app(app: Flask) -> None:
    app.before_request(refuse_unstorable_parameters)


def _has_required_field(schema: Any) -> bool:
    instance = schema() if isinstance(schema, type) else schema
    return any(field.required for field in instance.fields.values())


class Blueprint(flask_smorest.Blueprint):
    """flask-smorest's Blueprint whose `@blp.arguments` go through the NUL / surrogate check:
    every route module makes its blueprint from this class.

    A JSON body is documented as required exactly when its schema has a required field: a body
    whose every field has a default may be left out (it reads as `{}`), and the spec says so,
    instead of declaring a body required that the server does not require."""

    ARGUMENTS_PARSER = StorableFlaskParser()

    def arguments(self, schema: Any, *, location: str = "json", required: bool | None = None, **kwargs: Any):
        # One instance per route, made here: webargs would make one per request from a class
        # (about 100 µs of a look-up's time).
        schema = schema() if isinstance(schema, type) else schema
        if required is None:
            required = location != "json" or _has_required_field(schema)
        return super().arguments(schema, location=location, required=required, **kwargs)
