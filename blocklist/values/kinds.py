"""The entry kinds and the one error every normaliser raises."""

from __future__ import annotations

# Values, then subjects (who is behind a resource: blocklist/values/subjects.py).
KINDS = ("number", "code", "range", "keyword", "url", "domain", "enterprise", "person")


class InvalidValue(ValueError):
    """A value that cannot be a canonical value of its kind; the message says why."""
