"""What time it is, for the whole service: one clock, read through `db.utcnow()`.

Production reads the wall clock. Tests move it forward (`CLOCK.advance`) to make an entry
expire or a stored answer go stale, instead of sleeping until the wall clock gets there; only
in-process tests can, a live server keeps its own clock.
"""

from __future__ import annotations

import datetime as dt


class Clock:
    """Wall-clock UTC time plus an offset that only tests change."""

    def __init__(self) -> None:
        self.offset = dt.timedelta(0)

    def now(self) -> dt.datetime:
        return dt.datetime.now(dt.UTC) + self.offset

    def advance(self, seconds: float) -> None:
        self.offset += dt.timedelta(seconds=seconds)

    def reset(self) -> None:
        self.offset = dt.timedelta(0)


CLOCK = Clock()
