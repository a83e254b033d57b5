"""blocklist-sync: a reference client that keeps a local SQLite mirror of the active set."""
