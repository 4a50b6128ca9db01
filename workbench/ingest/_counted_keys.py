"""The frame keys one import has counted, as a bitmap over the span of keys it counted.

A local catalog's frames keep their key until they are replaced or removed, and keys are
never reused, so a key tells one stored version of one frame: the frames an import counted
and still holds as it stored them are those whose keys it noted. A bit a key, from the
lowest key noted (rounded down to a byte) to the highest: 1.25 MB for 10M keys, and a
write's keys are looked up and noted in time linear in their number, however they lie.

Ranges of keys (lows and highs, merged as they were added) were held before: as small for
the keys a write hands out (one range) and the unchanged frames of a file stored together,
but one range a key when every other frame of an update is found unchanged, and each write's
ranges were merged with all those held (at 2M frames every other one kept, 1M ranges, 16 MB
and 1.1 s of CPU; quadratic in the writes).
"""

from __future__ import annotations

import numpy as np

_EMPTY = np.zeros(0, dtype=np.uint8)


class KeyBits:
    """A set of non-negative integer keys."""

    def __init__(self) -> None:
        self._bits = _EMPTY  # bit k - base of byte (k - base) >> 3 set: key k held
        self._base = 0  # a multiple of 8

    def copy(self) -> KeyBits:
        held = KeyBits()
        held._bits, held._base = self._bits.copy(), self._base
        return held

    def __bool__(self) -> bool:
        return len(self._bits) > 0

    def span(self) -> tuple[int, int] | None:
        """The lowest and highest keys held, if any."""
        held = np.flatnonzero(self._bits)
        if not len(held):
            return None
        low, high = int(held[0]), int(held[-1])
        lowest = (int(self._bits[low]) & -int(self._bits[low])).bit_length() - 1
        return self._base + 8 * low + lowest, self._base + 8 * high + int(
            self._bits[high]
        ).bit_length() - 1

    def contains(self, keys: np.ndarray) -> np.ndarray:
        """Which of `keys` are held."""
        keys = np.asarray(keys, dtype=np.int64)
        found = np.zeros(len(keys), dtype=bool)
        if not len(self._bits) or not len(keys):
            return found
        at = keys - self._base
        inside = (at >= 0) & (at < 8 * len(self._bits))
        at = at[inside]
        found[inside] = (self._bits[at >> 3] >> (at & 7).astype(np.uint8)) & 1 == 1
        return found

    def add(self, keys: np.ndarray) -> np.ndarray:
        """Hold `keys` (any order, repeats allowed); returns those not held before."""
        keys = np.asarray(keys, dtype=np.int64)
        if not len(keys):
            return keys
        fresh = keys[~self.contains(keys)]
        if len(fresh):
            self._cover(int(fresh.min()), int(fresh.max()))
            at = fresh - self._base
            np.bitwise_or.at(self._bits, at >> 3, np.left_shift(1, at & 7).astype(np.uint8))
            if len(fresh) > 1 and np.any(fresh[1:] <= fresh[:-1]):
                fresh = np.unique(fresh)
        return fresh

    def add_range(self, low: int, high: int) -> np.ndarray:
        """Hold the keys `low`..`high` (inclusive); returns those not held before."""
        return self.add(np.arange(low, high + 1, dtype=np.int64))

    def remove(self, keys: np.ndarray) -> None:
        """Hold `keys` (all held) no more."""
        keys = np.asarray(keys, dtype=np.int64)
        if len(keys):
            at = keys - self._base
            masks = np.invert(np.left_shift(1, at & 7).astype(np.uint8))
            np.bitwise_and.at(self._bits, at >> 3, masks)

    def _cover(self, low: int, high: int) -> None:
        """Make room for the keys `low`..`high`."""
        if not len(self._bits):
            self._base = low - low % 8
            self._bits = np.zeros(((high - self._base) >> 3) + 1, dtype=np.uint8)
            return
        base = min(self._base, low - low % 8)
        size = max(self._base + 8 * len(self._bits), high + 1) - base
        if base == self._base and size <= 8 * len(self._bits):
            return
        grown = np.zeros(max((size + 7) >> 3, 2 * len(self._bits)), dtype=np.uint8)
        start = (self._base - base) >> 3
        grown[start : start + len(self._bits)] = self._bits
        self._bits, self._base = grown, base
