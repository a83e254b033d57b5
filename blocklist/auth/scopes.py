"""Scopes and which org kinds may hold them."""

from __future__ import annotations

ENTRIES_READ = "entries:read"
ENTRIES_WRITE = "entries:write"
FEEDS_READ = "feeds:read"
AUDIT_READ = "audit:read"
ADMIN = "admin"

ALL_SCOPES = (ENTRIES_READ, ENTRIES_WRITE, FEEDS_READ, AUDIT_READ, ADMIN)

ORG_KINDS = ("carrier", "internet", "regulator", "consumer")

# PRODUCT.md "Default scopes by org kind". A client's scope is also capped by these: a carrier
# client can never be given `admin`, whatever an operator types.
DEFAULT_SCOPES: dict[str, tuple[str, ...]] = {
    "carrier": (ENTRIES_READ, ENTRIES_WRITE, FEEDS_READ),
    "internet": (ENTRIES_READ, ENTRIES_WRITE, FEEDS_READ),
    "consumer": (ENTRIES_READ, FEEDS_READ),
    "regulator": ALL_SCOPES,
}


def scope_list(scope: str | None) -> list[str]:
    """Split a space-separated scope string, keeping order and dropping repeats."""
    seen: list[str] = []
    for item in (scope or "").split():
        if item not in seen:
            seen.append(item)
    return seen


def scope_string(scopes: list[str] | tuple[str, ...]) -> str:
    """Join scopes in the canonical order of ALL_SCOPES."""
    return " ".join(s for s in ALL_SCOPES if s in scopes)
