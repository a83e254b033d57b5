"""The pure values core: no database, no Flask.

``kinds`` (the entry kinds, ``InvalidValue``), ``folding`` (keyword folding against evasion),
``urls`` (Safe Browsing canonical URLs, look-up expressions, links in text, host bounds),
``normalise`` (the canonical value of each kind, kinds guessed by shape, digit forms for
ranges), ``canonical`` (``CanonicalValue``: what an entry stores and is probed by, parents of
domains, allowlist protection keys) and ``coverage`` (what a range, keyword or domain covers,
and how wide a value may be) and ``subjects`` (enterprise and person values: USCC check,
resident-ID check, the peppered person hash) and ``ids`` (the UUIDv5 of an entry, its STIX and
MISP id). Entries, matching, the sync client and exports all use these;
nothing here imports from the rest of the package.
"""
