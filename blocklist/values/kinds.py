"""The entry kinds and the one error every normaliser raises."""

from __future__ import annotations

KINDS = ("number", "code", "range", "keyword", "url", "domain")


class InvalidValue(ValueError):
    """A value that cannot be a canonical value of its kind; the message says why."""
