"""blocklist-sync: a reference client that keeps a local SQLite mirror of the active set, and
`LocalMatcher`, the mirror in memory for look-ups and message checks by the server's rules."""

from .local import LocalMatcher, NoMirror

__all__ = ["LocalMatcher", "NoMirror"]
