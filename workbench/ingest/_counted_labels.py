"""The ROIs one import's label-only writes (`add_labels`, `write_labels`) counted, by frame
and field: what a write that gives a frame's field again takes back (workbench/ingest/
_counting.py holds the rule).

A local catalog's frames keep their key when a label write replaces a field's ROIs, so the
pairs are held as each field's frame keys with the ROIs counted on them: sorted arrays of
integers (12 bytes a pair), a write's pairs added as an array of their own and merged with
the newest when it is at least half its size (a few arrays, each looked up by binary
search; a write's merge is paid for by the pairs it adds). A lake-backed catalog renumbers
its frames when it writes them back: its imports hold (frame id, field) pairs instead.
"""

from __future__ import annotations

import numpy as np


class KeyCounts:
    """Integer keys, each with a count (0: none), the last one set winning."""

    def __init__(self) -> None:
        self._parts: list[tuple[np.ndarray, np.ndarray]] = []  # (sorted keys, counts), oldest first

    def copy(self) -> KeyCounts:
        held = KeyCounts()
        held._parts = list(self._parts)  # parts are never changed in place
        return held

    def __bool__(self) -> bool:
        return bool(self._parts)

    def get(self, keys: np.ndarray) -> np.ndarray:
        """The count of each of `keys` (0 for one not held)."""
        keys = np.asarray(keys, dtype=np.int64)
        found = np.zeros(len(keys), dtype=np.int64)
        left = np.ones(len(keys), dtype=bool)
        for held, counts in reversed(self._parts):  # the newest first: it wins
            if not left.any():
                break
            at = np.minimum(np.searchsorted(held, keys), len(held) - 1)
            hit = left & (held[at] == keys)
            found[hit] = counts[at[hit]]
            left &= ~hit
        return found

    def set(self, keys: np.ndarray, counts: np.ndarray) -> None:
        """Hold `counts` for `keys` (distinct), replacing what they held."""
        if not len(keys):
            return
        keys = np.asarray(keys, dtype=np.int64)
        order = np.argsort(keys, kind="stable")
        self._parts.append((keys[order], np.asarray(counts, dtype=np.int64)[order]))
        while len(self._parts) > 1 and 2 * len(self._parts[-1][0]) >= len(self._parts[-2][0]):
            newer = self._parts.pop()
            older = self._parts.pop()
            self._parts.append(_merged(older, newer, dropping=not self._parts))

    def span(self) -> tuple[int, int] | None:
        """The lowest and highest keys held, if any."""
        held = [(int(keys[0]), int(keys[-1])) for keys, _ in self._parts if len(keys)]
        return (min(h[0] for h in held), max(h[1] for h in held)) if held else None

    def total(self, keys: np.ndarray) -> int:
        return int(self.get(keys).sum()) if self._parts else 0


def _merged(
    older: tuple[np.ndarray, np.ndarray], newer: tuple[np.ndarray, np.ndarray], *, dropping: bool
) -> tuple[np.ndarray, np.ndarray]:
    """Two parts as one, `newer`'s count kept for a key both hold; with `dropping` (no part
    older than these) the keys counted 0 are left out."""
    keys = np.concatenate([older[0], newer[0]])
    counts = np.concatenate([older[1], newer[1]])
    order = np.argsort(keys, kind="stable")  # a key's newer entry after its older
    keys, counts = keys[order], counts[order]
    last = np.r_[keys[1:] != keys[:-1], True] if len(keys) else np.array([], dtype=bool)
    if dropping:
        last &= counts != 0
    return keys[last], counts[last]


class LabelCounts:
    """The ROIs counted by label writes on each (frame, field): by frame key (local
    catalogs) or by frame id (lake-backed ones)."""

    def __init__(self, *, lake: bool) -> None:
        self._by_key: dict[str, KeyCounts] = {}
        self._by_id: dict[tuple[str, str], int] | None = {} if lake else None

    def copy(self) -> LabelCounts:
        held = LabelCounts(lake=self._by_id is not None)
        held._by_key = {f: counts.copy() for f, counts in self._by_key.items()}
        held._by_id = dict(self._by_id) if self._by_id is not None else None
        return held

    def __bool__(self) -> bool:
        return bool(self._by_key) or bool(self._by_id)

    def get(self, field: str, keys: np.ndarray) -> np.ndarray:
        held = self._by_key.get(field)
        return held.get(keys) if held else np.zeros(len(keys), dtype=np.int64)

    def set(self, field: str, keys: np.ndarray, counts: np.ndarray) -> None:
        self._by_key.setdefault(field, KeyCounts()).set(keys, counts)

    def span(self) -> tuple[int, int] | None:
        """The lowest and highest frame keys held (local catalogs), if any."""
        spans = [s for counts in self._by_key.values() if (s := counts.span()) is not None]
        return (min(s[0] for s in spans), max(s[1] for s in spans)) if spans else None

    def held(self, keys: np.ndarray) -> list[tuple[str, np.ndarray, np.ndarray]]:
        """The pairs of the frames with `keys` (distinct) that hold ROIs, as (field, those
        frames' keys, their counts)."""
        found = []
        keys = np.asarray(keys, dtype=np.int64)
        for field, held in self._by_key.items():
            counts = held.get(keys)
            hit = counts != 0
            if hit.any():
                found.append((field, keys[hit], counts[hit]))
        return found

    def drop(self, keys: np.ndarray) -> int:
        """Forget the pairs of the frames with `keys` (distinct: frames written whole, whose
        ROIs the frame's own count holds from now on); returns the ROIs they held."""
        total = 0
        for held in self._by_key.values():
            counts = held.get(keys)
            if counts.any():
                total += int(counts.sum())
                hit = np.flatnonzero(counts)
                held.set(np.asarray(keys, dtype=np.int64)[hit], np.zeros(len(hit), np.int64))
        return total

    # -- lake-backed catalogs ------------------------------------------------------------------
    def get_ids(self, field: str, ids: list[str]) -> list[int]:
        assert self._by_id is not None
        return [self._by_id.get((i, field), 0) for i in ids]

    def set_ids(self, field: str, ids: list[str], counts: list[int]) -> None:
        assert self._by_id is not None
        self._by_id.update(((i, field), n) for i, n in zip(ids, counts, strict=True))

    def drop_ids(self, ids: list[str]) -> int:
        """`drop` by frame id."""
        return sum(self.drop_pairs_ids(ids).values())

    def drop_pairs_ids(self, ids: list[str]) -> dict[tuple[str, str], int]:
        """`drop_ids`, returning the (frame id, field) pairs dropped that held ROIs, and
        their counts."""
        if not self._by_id or not ids:
            return {}
        wanted = set(ids)
        gone = [pair for pair in self._by_id if pair[0] in wanted]
        dropped = {pair: self._by_id.pop(pair) for pair in gone}
        return {pair: n for pair, n in dropped.items() if n}
