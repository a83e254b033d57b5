"""Every audit action, named `subject.action` (as Warehouse names its events): the one list of
what the trail records. `record()` takes only these."""

from __future__ import annotations

from enum import StrEnum


class Action(StrEnum):
    ORG_CREATE = "org.create"
    ORG_SUSPEND = "org.suspend"
    ORG_REINSTATE = "org.reinstate"
    CLIENT_CREATE = "client.create"
    CLIENT_ROTATE = "client.rotate"
    CLIENT_REVOKE = "client.revoke"
    TOKEN_REVOKE = "token.revoke"
    ENTRY_PUBLISH = "entry.publish"
    ENTRY_RELIST = "entry.relist"
    ENTRY_CORROBORATE = "entry.corroborate"
    ENTRY_UPDATE = "entry.update"
    ENTRY_WITHDRAW = "entry.withdraw"
    ENTRY_EXPIRE = "entry.expire"
    ENTRY_REPORT_EXPIRE = "entry.report_expire"
    ENTRY_REVOKE = "entry.revoke"
    # Reports via a listed subject opened, moved or closed on a held resource's entry.
    ENTRY_VIA = "entry.via"
    # Ageing moved an entry across a tier boundary (the tier job).
    ENTRY_TIER = "entry.tier"
    # A `reassigned` number event closed the reports made before its date.
    ENTRY_REASSIGNED = "entry.reassigned"
    NUMBER_EVENT = "number.event"
    SIGHTING_RECORD = "sighting.record"
    HOLDING_RECORD = "holding.record"
    HOLDING_END = "holding.end"
    REPRESENTATIVE_RECORD = "representative.record"
    REPRESENTATIVE_END = "representative.end"
    ALLOWLIST_ADD = "allowlist.add"
    ALLOWLIST_REMOVE = "allowlist.remove"
    DISPUTE_FILE = "dispute.file"
    DISPUTE_ACKNOWLEDGE = "dispute.acknowledge"
    DISPUTE_RESOLVE = "dispute.resolve"

    @property
    def subject(self) -> str:
        return self.value.split(".", 1)[0]
