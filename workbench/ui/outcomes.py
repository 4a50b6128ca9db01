"""An evaluation's outcomes for the ROIs of the frame on screen (the viewer colours them)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from workbench.errors import WorkbenchError
from workbench.query.roi_pages import frame_outcomes as outcome_rows
from workbench.ui.glyphs import RoiOutcome

if TYPE_CHECKING:
    from workbench.store.catalog import Catalog


def frame_outcomes(
    catalog: Catalog, eval_key: str, frame: Mapping[str, Any]
) -> dict[tuple[str, str], RoiOutcome] | None:
    """Outcomes by (field, ROI id) of `frame` in evaluation `eval_key` (None without a key;
    empty when the run is gone: ROIs then keep their label colours)."""
    if not eval_key or not frame.get("id"):
        return None
    try:
        rows = outcome_rows(catalog, eval_key, [str(frame["id"])]).to_pylist()
    except WorkbenchError:
        return {}
    return {
        (str(r["field"]), str(r["roi_id"])): RoiOutcome(r["outcome"], r["match_id"], r["iou"])
        for r in rows
    }
