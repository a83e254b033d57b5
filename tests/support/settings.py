"""Changing a running test app's settings for one test (they are frozen: a test swaps in a copy)."""

from __future__ import annotations

from typing import Any

from blocklist.config import EXTENSION, settings_of


def override_settings(monkeypatch, app, **changes: Any) -> None:
    """`app`'s settings with `changes` (field names) until the test ends."""
    monkeypatch.setitem(app.extensions, EXTENSION, settings_of(app).replace(changes))
