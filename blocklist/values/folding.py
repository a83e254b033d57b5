"""Keyword folding: the evasion-proof form of published keywords and of checked text.

Each character of the input is folded on its own, in this order:

1. NFKC (full-width letters and digits become ASCII, compatibility forms are unfolded);
2. case-fold;
3. traditional -> simplified Chinese, character by character (OpenCC's ``t2s`` tables from
   ``opencc-python-reimplemented``; phrase-level conversion is not used, so that every folded
   character keeps a single original position);
4. only letters (L*), marks (M*) and numbers (N*) are kept: whitespace of every kind, control
   and format characters (zero-width spaces and joiners, BOM, bidi controls), punctuation,
   symbols, private-use and unassigned code points are removed.

The per-character result is applied again until it is stable, so ``fold`` is idempotent.
Results are cached per distinct character, which keeps folding an SMS in the tens of µs.
"""

from __future__ import annotations

import unicodedata

from opencc import OpenCC

__all__ = ["fold", "fold_with_offsets", "original_span"]

_KEEP = frozenset("LMN")  # first letter of the Unicode general categories that survive
_T2S = OpenCC("t2s")
_MAX_CACHE = 200_000  # distinct characters remembered; beyond that, fold without caching


def _step(ch: str) -> str:
    """One pass of the pipeline over a single character (the result may be 0..n chars)."""
    out = []
    for c in unicodedata.normalize("NFKC", ch).casefold():
        if unicodedata.category(c)[0] not in _KEEP:
            continue
        if ord(c) >= 0x2E80:  # CJK and beyond: the only place t2s can change anything
            c = _T2S.convert(c)
        out.append(c)
    return "".join(out)


def _fold_char(ch: str, depth: int = 0) -> str:
    """The fixed point of ``_step`` for one character."""
    once = _step(ch)
    if once == ch or depth > 4:
        return once
    return "".join(c if c == ch else _fold_char(c, depth + 1) for c in once)


class _Table(dict):
    """char -> folded string, filled on first use."""

    def __missing__(self, ch: str) -> str:
        folded = _fold_char(ch)
        if len(self) < _MAX_CACHE:
            self[ch] = folded
        return folded


_table = _Table()
_get = _table.__getitem__


def fold(text: str) -> str:
    """Return the folded form of ``text`` (see the module docstring)."""
    return "".join(map(_get, text))


def fold_with_offsets(text: str) -> tuple[str, list[int]]:
    """Return ``(fold(text), offsets)``, ``offsets[i]`` being the index in ``text`` of the
    original character that folded character ``i`` came from (a character that expands, such
    as "ß" -> "ss" or "㎏" -> "kg", gives several folded characters with the same index)."""
    parts = list(map(_get, text))
    offsets: list[int] = []
    for i, part in enumerate(parts):
        if part:
            if len(part) == 1:
                offsets.append(i)
            else:
                offsets.extend([i] * len(part))
    return "".join(parts), offsets


def original_span(offsets: list[int], start: int, end: int) -> tuple[int, int]:
    """Return the ``[start, end)`` span in the original text of the folded span
    ``[start, end)`` (``end`` exclusive, ``start < end``), using ``fold_with_offsets``'s
    offsets. Raises ``IndexError`` if the span is empty or outside the folded text."""
    if not 0 <= start < end <= len(offsets):
        raise IndexError(f"folded span [{start}, {end}) is empty or outside 0..{len(offsets)}")
    return offsets[start], offsets[end - 1] + 1
