"""What Labelbox import and export share: the keyframe tools and the ROI kinds they stand for,
and the catalog's contexts as Labelbox data rows (a video's frames in order)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from workbench.errors import RecordError
from workbench.store.arrow import registered

if TYPE_CHECKING:
    from workbench.store.catalog import Catalog

# Tool key in a keyframe -> ROI kind.
TOOLS = {"bbox": "box", "point": "point", "line": "polyline"}
KINDS = {kind: tool for tool, kind in TOOLS.items()}


@dataclass(frozen=True)
class Video:
    """A context's frames as Labelbox numbers them: frame n (from 1) is the frame whose
    frame_index is n - 1 (its true frame number in the video, so a video imported with
    frame_step=5 has frames 1, 6, 11, ...); frames without frame_index are numbered by
    their position.

    `ids` are the frames in order; `numbered` the Labelbox number of each (ascending) and
    `lookup` the position of the frame each number names (-1: not imported), as arrays;
    `numbers` (number -> frame id) is made from them when asked for. Of two frames with the
    same frame_index the later one holds the number."""

    ids: tuple[str, ...]
    numbered: np.ndarray
    last: int
    column: pa.Array | None = None  # `ids` as read, an Arrow column

    @classmethod
    def of(
        cls, ids: Sequence[str], frame_index: np.ndarray | None, column: pa.Array | None = None
    ) -> Video:
        """`frame_index` per frame in order (None when a frame has none)."""
        count = len(ids)
        if count and frame_index is not None:
            numbered = frame_index.astype(np.int64) + 1
        else:
            numbered = np.arange(1, count + 1, dtype=np.int64)
        return cls(tuple(ids), numbered, int(numbered.max()) if count else 0, column)

    @cached_property
    def lookup(self) -> np.ndarray:
        lookup = np.full(self.last + 1, -1, dtype=np.int64)
        # Numbers ascend with positions; of a number given twice the last position holds it.
        held = np.append(self.numbered[1:] != self.numbered[:-1], True) & (self.numbered >= 1)
        lookup[self.numbered[held]] = np.flatnonzero(held)
        return lookup

    @cached_property
    def numbers(self) -> dict[int, str]:
        return dict(zip(self.numbered.tolist(), self.ids, strict=True))

    def check(self, number: Any, where: str) -> int:
        """A Labelbox frame number of this video, or RecordError naming it."""
        if isinstance(number, bool) or not isinstance(number, int) or not 1 <= number <= self.last:
            raise RecordError(
                where,
                f"frame number {number!r} is out of range: the video's frames are 1 to {self.last}",
            )
        return number

    def number_of(self) -> dict[str, int]:
        return {frame_id: n for n, frame_id in self.numbers.items()}


class Contexts:
    """Data rows -> contexts, and each context's frames in order, read once per context."""

    def __init__(self, catalog: Catalog, data_rows: Mapping[str, str] | None) -> None:
        self.catalog = catalog
        self.data_rows = data_rows
        self._videos: dict[str, Video] = {}

    def video(self, context_id: str) -> Video:
        if context_id not in self._videos:
            self.prefetch([context_id])
        return self._videos[context_id]

    def prefetch(self, context_ids: Iterable[str]) -> None:
        """Read the frames of many contexts in one query (those not read yet)."""
        wanted = sorted({c for c in context_ids if c not in self._videos})
        if not wanted:
            return
        con = self.catalog.cursor()
        try:
            with registered(con, "_wb_lb_wanted", pa.table({"c": pa.array(wanted, pa.string())})):
                rows = con.sql(
                    "SELECT context_id, id, frame_index FROM frames "
                    "WHERE context_id IN (SELECT c FROM _wb_lb_wanted) "
                    "ORDER BY context_id, frame_index NULLS LAST, timestamp NULLS LAST, id"
                ).to_arrow_table()
        finally:
            con.close()
        contexts = rows["context_id"].combine_chunks()
        starts = np.flatnonzero(changes(contexts)).tolist()
        column = rows["id"].combine_chunks().cast(pa.string())
        ids = column.to_pylist()
        indexes = rows["frame_index"].combine_chunks()
        found = dict.fromkeys(wanted, (0, 0))
        for start, end in zip(starts, [*starts[1:], len(ids)], strict=False):
            found[contexts[start].as_py()] = (start, end)
        for context_id, (start, end) in found.items():
            index = indexes.slice(start, end - start)
            numbers = None if index.null_count else index.to_numpy(zero_copy_only=False)
            self._videos[context_id] = Video.of(
                ids[start:end], numbers, column.slice(start, end - start)
            )

    def forget(self) -> None:
        """Drop the frames read so far (read again when named again): memory stays flat."""
        self._videos.clear()

    def candidates(self, data_row: Any) -> list[str]:
        """The contexts `resolve` may look at for a data row (to prefetch them)."""
        if not isinstance(data_row, dict):
            return []
        keys = [k for k in (data_row.get("globalKey"), data_row.get("id")) if isinstance(k, str)]
        if self.data_rows is None:
            return keys
        return [self.data_rows[k] for k in keys if k in self.data_rows]

    def frames(self, context_id: str) -> tuple[str, ...]:
        return self.video(context_id).ids

    def resolve(self, data_row: Any) -> str | None:
        if not isinstance(data_row, dict):
            return None
        keys = [data_row.get("globalKey"), data_row.get("id")]
        for key in keys:
            if not isinstance(key, str):
                continue
            if self.data_rows is not None:
                if key in self.data_rows:
                    return self.data_rows[key]
            elif self.frames(key):
                return key
        return None


def changes(values: pa.Array) -> np.ndarray:
    """Whether each value differs from the one before it (the first always does)."""
    out = np.ones(len(values), dtype=bool)
    if len(values) > 1:
        differs = pc.not_equal(values.slice(1), values.slice(0, len(values) - 1))
        out[1:] = differs.fill_null(True).to_numpy(zero_copy_only=False)
    return out
