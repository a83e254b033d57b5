"""The exchange's deterministic identifiers: UUIDv5s in one namespace, so the same entry has the
same id everywhere (its STIX indicator id, its MISP attribute uuid, the `object_uuid` stored on
the entry so TAXII finds it by id with an index probe)."""

from __future__ import annotations

import uuid

# The namespace of every UUIDv5 this exchange derives (STIX ids, MISP event and attribute uuids).
NAMESPACE = uuid.UUID("4d1f4a4e-6f0b-5c61-9a57-2f1d0c9e8b31")


def entry_uuid(kind: str, value: str) -> uuid.UUID:
    """The entry's UUIDv5 from its kind and canonical value."""
    return uuid.uuid5(NAMESPACE, f"{kind}:{value}")
