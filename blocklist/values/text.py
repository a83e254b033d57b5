"""Reading a raw value: the one string check, NFKC, and the separators people type inside
numbers and identifiers (spaces, hyphens and dashes of every script)."""

from __future__ import annotations

import re
import unicodedata

from .kinds import InvalidValue

SEPARATORS = re.compile(r"[\s\-\u2010-\u2015\u2212]+")


def nfkc(raw: str) -> str:
    """`raw` in NFKC (full-width forms read as ASCII), stripped; InvalidValue if not a string."""
    if not isinstance(raw, str):
        raise InvalidValue("The value must be a string.")
    return unicodedata.normalize("NFKC", raw).strip()
