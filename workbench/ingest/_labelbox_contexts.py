"""What Labelbox import and export share: the keyframe tools and the ROI kinds they stand for,
and the catalog's contexts as Labelbox data rows (a video's frames in order)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from workbench.errors import RecordError

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
    their position."""

    ids: tuple[str, ...]
    numbers: dict[int, str]
    last: int

    @classmethod
    def of(cls, rows: list[tuple[str, int | None]]) -> Video:
        if rows and all(index is not None for _, index in rows):
            numbers = {int(index) + 1: frame_id for frame_id, index in rows}  # type: ignore[arg-type]
        else:
            numbers = {n: frame_id for n, (frame_id, _) in enumerate(rows, start=1)}
        return cls(tuple(f for f, _ in rows), numbers, max(numbers, default=0))

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
            rows = (
                self.catalog.cursor()
                .execute(
                    "SELECT id, frame_index FROM frames WHERE context_id = ? "
                    "ORDER BY frame_index NULLS LAST, timestamp NULLS LAST, id",
                    [context_id],
                )
                .fetchall()
            )
            self._videos[context_id] = Video.of([(r[0], r[1]) for r in rows])
        return self._videos[context_id]

    def prefetch(self, context_ids: Iterable[str]) -> None:
        """Read the frames of many contexts in one query (those not read yet)."""
        wanted = sorted({c for c in context_ids if c not in self._videos})
        if not wanted:
            return
        rows = (
            self.catalog.cursor()
            .execute(
                "SELECT context_id, id, frame_index FROM frames "
                "WHERE context_id IN (SELECT unnest(?::VARCHAR[])) "
                "ORDER BY context_id, frame_index NULLS LAST, timestamp NULLS LAST, id",
                [wanted],
            )
            .fetchall()
        )
        found: dict[str, list[tuple[str, int | None]]] = {c: [] for c in wanted}
        for context_id, frame_id, index in rows:
            found[context_id].append((frame_id, index))
        for context_id, frames in found.items():
            self._videos[context_id] = Video.of(frames)

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
