"""Keyword folding: the evasion-proof form of published keywords and of checked text.

Each character of the input is folded on its own, in this order:

1. NFKC (full-width letters and digits become ASCII, compatibility forms are unfolded);
2. case-fold;
3. traditional -> simplified Chinese, character by character (OpenCC's ``t2s`` tables from
   ``opencc-python-reimplemented``; phrase-level conversion is not used, so that every folded
   character keeps a single original position);
4. only letters (L*), marks (M*) and numbers (N*) are kept: whitespace of every kind, control
   and format characters (zero-width spaces and joiners, BOM, bidi controls), punctuation,
   symbols, private-use and unassigned code points are removed; and so is every
   Default_Ignorable_Code_Point (Unicode DerivedCoreProperties.txt, ``DEFAULT_IGNORABLE``),
   some of which are marks or letters: variation selectors (U+FE00..FE0F, U+E0100..E01EF, as in
   "百️万️保️障"), the combining grapheme joiner, Hangul fillers, Mongolian free variation
   selectors, tag characters.

Traditional characters with more than one simplified form in use (帳 is written for both 帐
and 账: 帳戶 = 账户) are a second, matching-time step, ``variant_key``: each class of simplified
variants (``VARIANT_CLASSES``) is written as one member in the keyword automaton and in the
folded text, so a keyword folded to either form matches text in any of them. It maps one
character to one character, so spans are unchanged; canonical keyword values (``fold``) are not
changed by it.

The per-character result is applied again until it is stable, so ``fold`` is idempotent.
Results are cached per distinct character, which keeps folding an SMS in the tens of µs.
"""

from __future__ import annotations

import unicodedata
from bisect import bisect_right
from collections.abc import Sequence
from itertools import accumulate

from opencc import OpenCC

__all__ = ["fold", "fold_with_offsets", "original_span", "variant_key", "is_default_ignorable"]

_KEEP = frozenset("LMN")  # first letter of the Unicode general categories that survive

# Default_Ignorable_Code_Point, Unicode 15.1 DerivedCoreProperties.txt: rendered as nothing, so a
# filter must read through them. Those that are not Cc/Cf (already dropped) are marks and letters.
_DEFAULT_IGNORABLE_RANGES = (
    (0x00AD, 0x00AD),
    (0x034F, 0x034F),
    (0x061C, 0x061C),
    (0x115F, 0x1160),
    (0x17B4, 0x17B5),
    (0x180B, 0x180F),
    (0x200B, 0x200F),
    (0x202A, 0x202E),
    (0x2060, 0x206F),
    (0x3164, 0x3164),
    (0xFE00, 0xFE0F),
    (0xFEFF, 0xFEFF),
    (0xFFA0, 0xFFA0),
    (0xFFF0, 0xFFF8),
    (0x1BCA0, 0x1BCA3),
    (0x1D173, 0x1D17A),
    (0xE0000, 0xE0FFF),
)


def is_default_ignorable(c: str) -> bool:
    code = ord(c)
    return any(low <= code <= high for low, high in _DEFAULT_IGNORABLE_RANGES)


# Simplified characters that one traditional character is converted to, depending on the word:
# the pairs OpenCC's own phrase tables (STPhrases.txt, TSPhrases.txt) convert differently from its
# character table (覆核 -> 复核 but 覆盖; 乾坤 but 乾燥 -> 干燥), kept where both are words
# scammers' keywords use; and 帐/账, which OpenCC's tables leave apart although Taiwan and Hong
# Kong write 帳 for both (帳戶 = 账户, 帳號 = 账号). The first member of each is the one written.
VARIANT_CLASSES = (
    "账帐",
    "复覆",
    "干乾",
    "借藉",
    "了瞭",
    "于於",
    "钟锺",
    "余馀",
    "征徵",
    "么麽幺",
    "沉沈",
    "巨钜",
    "只衹",
    "着著",
    "画划",
    "链炼",
    "升昇",
    "证証",
    "签籤",
    "迹跡",
    "托讬",
)
_VARIANTS = {ord(c): group[0] for group in VARIANT_CLASSES for c in group[1:]}
_T2S = OpenCC("t2s")
_MAX_CACHE = 200_000  # distinct characters remembered; beyond that, fold without caching


def _step(ch: str) -> str:
    """One pass of the pipeline over a single character (the result may be 0..n chars)."""
    out = []
    for c in unicodedata.normalize("NFKC", ch).casefold():
        if unicodedata.category(c)[0] not in _KEEP or is_default_ignorable(c):
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


def variant_key(folded: str) -> str:
    """``folded`` with each simplified variant written as its class's first member
    (``VARIANT_CLASSES``): what keywords and text are compared in. Same length as ``folded``."""
    return folded.translate(_VARIANTS)


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


class _KeyedTable(dict):
    """char -> ``variant_key(fold(char))``, filled on first use."""

    def __missing__(self, ch: str) -> str:
        keyed = variant_key(_get(ch))
        if len(self) < _MAX_CACHE:
            self[ch] = keyed
        return keyed


_keyed_get = _KeyedTable().__getitem__


def keyed_with_ends(text: str) -> tuple[str, Sequence[int]]:
    """Return ``(variant_key(fold(text)), ends)`` in one pass, ``ends[i]`` being the length of
    the folded form of ``text[: i + 1]``: what keywords are matched in, and the cheap way to map
    spans back (no loop in Python; see ``original_span_by_ends``)."""
    parts = list(map(_keyed_get, text))
    keyed = "".join(parts)
    if len(keyed) == len(parts) and "" not in parts:  # every character folded to one: no sums
        return keyed, range(1, len(parts) + 1)
    return keyed, list(accumulate(map(len, parts)))


def original_span_by_ends(ends: Sequence[int], start: int, end: int) -> tuple[int, int]:
    """``original_span`` with ``keyed_with_ends``'s ends: the original character that folded
    character ``j`` came from is the first ``i`` with ``ends[i] > j``."""
    if not 0 <= start < end <= (ends[-1] if ends else 0):
        raise IndexError(f"folded span [{start}, {end}) is empty or outside the folded text")
    return bisect_right(ends, start), bisect_right(ends, end - 1) + 1


def original_span(offsets: list[int], start: int, end: int) -> tuple[int, int]:
    """Return the ``[start, end)`` span in the original text of the folded span
    ``[start, end)`` (``end`` exclusive, ``start < end``), using ``fold_with_offsets``'s
    offsets. Raises ``IndexError`` if the span is empty or outside the folded text."""
    if not 0 <= start < end <= len(offsets):
        raise IndexError(f"folded span [{start}, {end}) is empty or outside 0..{len(offsets)}")
    return offsets[start], offsets[end - 1] + 1
