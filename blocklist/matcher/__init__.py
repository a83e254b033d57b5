"""The one matcher library: look-ups and message checks over an active set held in memory,
importable without Flask or a database (only the values core, ``pyahocorasick`` and the standard
library), so the server and every carrier's ``blocklist-sync`` mirror apply the same rules.

``probe`` (what a value, a sender or a link can match), ``index`` (the active entries indexed
the ways a probe matches them), ``keywords`` (Aho-Corasick automata over the folded active
keywords) and ``rules`` (keyword matches with spans, trust of a match, the verdict, the
answers' order). The server wraps ``index`` and ``keywords`` with its database reads
(``blocklist/matching``); the sync client fills them from its mirror (``blocklist/sync/local``).
"""
