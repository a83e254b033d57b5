"""`FreeText`: the one field type for text a caller writes in its own words (reasons, evidence,
notes, display names). Such text is stored, audited and shown to others, so it must not carry a
person's resident ID number (`values.subjects`: a person is named only by the keyed hash): text
that does is refused with a 422 that does not quote it, and nothing is written."""

from __future__ import annotations

from typing import Any

from marshmallow import ValidationError, fields

from .values.subjects import contains_resident_id

CARRIES_RESIDENT_ID = (
    "This text contains what reads as a resident ID number, which is never stored: leave it out, "
    "and name the person as an entry of kind person (its identifier is hashed on arrival)."
)


class FreeText(fields.String):
    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        text = super()._deserialize(value, attr, data, **kwargs)
        if contains_resident_id(text):
            raise ValidationError(CARRIES_RESIDENT_ID)
        return text
