"""Blocklist exchange.

The server is built by `create_app` (blocklist/app.py), loaded on first use: importing the
package itself loads nothing, so the sync client (`blocklist.sync`) and the pure values core
(`blocklist.values`) start without Flask, SQLAlchemy or the rest of the server's stack.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .app import create_app

__all__ = ["create_app"]


def __getattr__(name: str) -> Any:
    if name == "create_app":
        from .app import create_app

        return create_app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
