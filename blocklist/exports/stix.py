"""STIX 2.1 objects for entries and organisations, made with the `stix2` library.

- One `indicator` per entry, id `indicator--UUIDv5(NAMESPACE, "<kind>:<value>")`: the same entry
  always has the same id (in TAXII, and as the MISP attribute uuid), so versions line up.
- `modified` is the time of the entry's latest change in the change log (its TAXII
  `date_added`): change times strictly increase with feed positions, so every version of an
  object has its own `modified`, and the same version always has the same content.
- Patterns: `[url:value = '…']` and `[domain-name:value = '…']`; the other kinds use the
  cyber-observable types of this exchange's extension (`x-blocklist-number`, `-code`, `-range`,
  `-keyword`, `-enterprise`, `-person`), declared by `EXTENSION_DEFINITION` (STIX 2.1 §7.3,
  `new-sco`), and every indicator carries the `property-extension` with `kind` and `value`.
- `valid_until` from `expires_at`, `labels` from tags, `confidence` from the tier recorded with
  the latest change (`confidence(...)`),
  `revoked: true` once the entry left the active set, `created_by_ref` the identity of the org
  whose report came first (an `identity` per reporting org).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from stix2.v21 import ExtensionDefinition, Identity, Indicator
from stix2.v21.base import _DomainObject

from ..values.ids import NAMESPACE, entry_uuid

EPOCH = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)

# STIX cyber-observable types: the standard ones where STIX has them, else the extension's.
OBSERVABLE_TYPES = {"url": "url", "domain": "domain-name"}
EXTENSION_PREFIX = "x-blocklist-"

EXCHANGE_IDENTITY = Identity(
    id=f"identity--{uuid.uuid5(NAMESPACE, 'exchange')}",
    created=EPOCH,
    modified=EPOCH,
    name="Blocklist exchange",
    identity_class="system",
)
EXTENSION_DEFINITION = ExtensionDefinition(
    id=f"extension-definition--{uuid.uuid5(NAMESPACE, 'extension:v1')}",
    created=EPOCH,
    modified=EPOCH,
    created_by_ref=EXCHANGE_IDENTITY.id,
    name="Blocklist exchange entries",
    description=(
        "Observable types x-blocklist-number (E.164), x-blocklist-code (service or SMS code, digits), "
        "x-blocklist-range (digit prefix followed by x per digit, or *), x-blocklist-keyword (folded scam "
        "wording), x-blocklist-enterprise (unified social credit code) and x-blocklist-person (HMAC-SHA-256 "
        "of the identifier, hex), each with the one property `value` (the canonical value); and an indicator "
        "property extension with `kind` and `value`, the entry as the exchange lists it."
    ),
    schema="https://github.com/blocklist-exchange/blocklist/blob/main/README.md#stix-extension",
    version="1.0.0",
    extension_types=["new-sco", "property-extension"],
)
STATIC_OBJECTS = (EXCHANGE_IDENTITY, EXTENSION_DEFINITION)


class _Indicator(Indicator):
    """`stix2`'s Indicator, without re-running the STIX pattern grammar on every object: every
    pattern comes from `pattern()`, one template with the value escaped (tests validate the
    patterns with `stix2-patterns`); the grammar check costs 1.5 ms an object."""

    def _check_object_constraints(self) -> None:
        _DomainObject._check_object_constraints(self)
        if self.get("valid_until") and self["valid_until"] <= self["valid_from"]:
            raise ValueError(f"{self.id}: valid_until must be later than valid_from")


@dataclass(frozen=True)
class Reporter:
    org_id: int
    name: str
    kind: str
    created_at: dt.datetime


@dataclass(frozen=True)
class EntryState:
    """What an indicator is made from: the entry as of its latest change (`changed_at`)."""

    id: int
    kind: str
    value: str
    status: str
    category: str | None
    tags: Sequence[str]
    created_at: dt.datetime
    expires_at: dt.datetime | None
    changed_at: dt.datetime
    reporters: Sequence[Reporter]
    # The tier recorded with that change (feed_changes.tier; None: before tiers, read as block).
    tier: str | None = None


def object_uuid(kind: str, value: str) -> uuid.UUID:
    """The entry's UUIDv5 (`values.ids.entry_uuid`, stored as `entries.object_uuid`): its STIX
    indicator id and its MISP attribute uuid."""
    return entry_uuid(kind, value)


def indicator_id(kind: str, value: str) -> str:
    return f"indicator--{object_uuid(kind, value)}"


def identity_id(org_id: int) -> str:
    return f"identity--{uuid.uuid5(NAMESPACE, f'org:{org_id}')}"


def observable_type(kind: str) -> str:
    return OBSERVABLE_TYPES.get(kind, EXTENSION_PREFIX + kind)


def pattern(kind: str, value: str) -> str:
    """The STIX pattern matching the entry's value (a string literal: `\\` and `'` escaped)."""
    literal = value.replace("\\", "\\\\").replace("'", "\\'")
    return f"[{observable_type(kind)}:value = '{literal}']"


# STIX 2.1 Appendix A, the "None / Low / Med / High" scale: each tier is one of its values.
TIER_CONFIDENCE = {"block": 85, "label": 50, "watch": 15}
REVOKED_CONFIDENCE = 0


def confidence(tier: str | None, revoked: bool) -> int:
    """STIX `confidence` (0-100) from the tier recorded with the entry's latest feed change:
    block 85 (High), label 50 (Medium), watch 15 (Low), an object revoked 0 (None); a change
    from before tiers counts as block (as every read of the tier does). Not the score: that
    moves as reports age between changes, and a TAXII object may change only with a version."""
    if revoked:
        return REVOKED_CONFIDENCE
    return TIER_CONFIDENCE.get(tier or "block", TIER_CONFIDENCE["block"])


def indicator(entry: EntryState) -> Indicator:
    """The entry's indicator as of its latest change."""
    valid_until = entry.expires_at if entry.expires_at and entry.expires_at > entry.created_at else None
    fields = {
        "id": indicator_id(entry.kind, entry.value),
        "created": entry.created_at,
        "modified": max(entry.changed_at, entry.created_at),
        "name": f"{entry.kind} {entry.value}",
        "indicator_types": ["malicious-activity"],
        "pattern": pattern(entry.kind, entry.value),
        "pattern_type": "stix",
        "valid_from": entry.created_at,
        "confidence": confidence(entry.tier, entry.status != "active"),
        "revoked": entry.status != "active",
        "extensions": {
            EXTENSION_DEFINITION.id: {"extension_type": "property-extension", "kind": entry.kind, "value": entry.value}
        },
    }
    if valid_until is not None:
        fields["valid_until"] = valid_until
    if entry.tags:
        fields["labels"] = list(entry.tags)
    if entry.category:
        fields["description"] = f"category: {entry.category}"
    if entry.reporters:
        fields["created_by_ref"] = identity_id(entry.reporters[0].org_id)
    return _Indicator(**fields)


def identity(reporter: Reporter) -> Identity:
    """The reporting organisation as a STIX identity (`sectors` from the org kind)."""
    return Identity(
        id=identity_id(reporter.org_id),
        created=reporter.created_at,
        modified=reporter.created_at,
        name=reporter.name,
        identity_class="organization",
        description=f"{reporter.kind} organisation of the blocklist exchange",
    )
