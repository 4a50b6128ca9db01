"""What Labelbox import and export share: the keyframe tools and the ROI kinds they stand for,
and the catalog's contexts as Labelbox data rows (a video's frames in order)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from workbench.store.catalog import Catalog

# Tool key in a keyframe -> ROI kind.
TOOLS = {"bbox": "box", "point": "point", "line": "polyline"}
KINDS = {kind: tool for tool, kind in TOOLS.items()}


class Contexts:
    """Data rows -> contexts, and each context's frames in order, read once per context."""

    def __init__(self, catalog: Catalog, data_rows: Mapping[str, str] | None) -> None:
        self.catalog = catalog
        self.data_rows = data_rows
        self._frames: dict[str, list[str]] = {}

    def frames(self, context_id: str) -> list[str]:
        if context_id not in self._frames:
            rows = (
                self.catalog.cursor()
                .execute(
                    "SELECT id FROM frames WHERE context_id = ? "
                    "ORDER BY frame_index NULLS LAST, timestamp NULLS LAST, id",
                    [context_id],
                )
                .fetchall()
            )
            self._frames[context_id] = [r[0] for r in rows]
        return self._frames[context_id]

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
