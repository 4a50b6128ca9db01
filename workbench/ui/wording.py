"""Counts in words: "1 scene holds", "3 scenes hold", "1 context matches".

Every sentence of the UI that puts a number before a noun goes through `plural` (and `agree`
for its verb), so no message reads "1 scenes" or "1 scene hold".
"""

from __future__ import annotations

# Nouns whose plural is not the noun and an "s".
_IRREGULAR = {"match": "matches", "batch": "batches", "class": "classes", "ROI": "ROIs"}


def nouns(n: int, noun: str, many: str | None = None) -> str:
    """`noun` as it goes after the number `n`: the plural unless `n` is 1."""
    if n == 1:
        return noun
    return many if many is not None else _IRREGULAR.get(noun, noun + "s")


def plural(n: int, noun: str, many: str | None = None) -> str:
    """`n` and its noun: "1 frame", "0 frames", "2 classes" (`many` for irregular ones)."""
    return f"{n} {nouns(n, noun, many)}"


def agree(n: int, one: str, many: str) -> str:
    """The verb for a subject of `n` things: `agree(1, "holds", "hold")` is "holds"."""
    return one if n == 1 else many
