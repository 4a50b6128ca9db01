"""One write of a COCO import: the frames of a range of image ordinals, with their ROIs.

The images were staged in `_wb_images` (workbench.ingest._coco_images) and the annotations by
workbench.ingest._coco_staged; a write reads its own range of both, checks what SQL cannot
(a frame's id and source, its count of ROIs) with the per-record path's functions and
errors, and hands the catalog writer one batch of rows.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from workbench.errors import RecordError
from workbench.ingest import _coco_sql as sql
from workbench.ingest._coco_rois import write_rois
from workbench.ingest._coco_staged import Stored
from workbench.ingest.report import is_record_failure, record_error
from workbench.ingest.writer import CatalogWriter, RowBatch
from workbench.model.limits import MAX_ROIS_PER_FRAME
from workbench.model.records import FRAME_SCHEMA, SOURCE_SCHEMA, Frame, Source
from workbench.model.validation import WARN_OUTSIDE, WARN_ZERO_AREA, validate_frame

if TYPE_CHECKING:
    from workbench.ingest.coco import _Instances

_FRAMES = pa.schema([f for f in FRAME_SCHEMA if f.name != "ingested"])


def write_images(
    con: Any,
    path: Path,
    writer: CatalogWriter,
    options: _Instances,
    stored: Stored,
    first: int,
    last: int,
) -> None:
    """Write the frames of the images with ordinals first..last, with their ROIs."""
    stored.staged.load(con, first, last)
    params = {"first": first, "last": last}
    con.execute(sql.FRAMES, {**params, "dataset": options.dataset, "version": options.version})
    mine = stored.rois_of(first, last)
    extra: dict[int, int] = {}
    for row in mine:
        extra[row[-2]] = extra.get(row[-2], 0) + 1
    refused = set()
    for o, image_id, frame_id, uri, count in con.execute(
        "SELECT _line, image_id, id, context_id, rois FROM _wb_frames WHERE NOT ok "
        "OR _line IN (SELECT unnest(?::BIGINT[]))",
        [sorted(extra)],
    ).fetchall():
        where = f"{path}, image {image_id}"
        try:
            validate_frame(Frame(frame_id, sources=[Source("image", uri)]), where)
            total = count + extra.get(o, 0)
            if total > MAX_ROIS_PER_FRAME:
                problem = f"the frame has {total:,} ROIs, more than {MAX_ROIS_PER_FRAME:,}"
                raise RecordError(where, problem)
        except Exception as exc:
            if not is_record_failure(exc):
                raise
            writer.reject(record_error(exc, where))
            refused.add(o)
    con.execute(
        "DELETE FROM _wb_frames WHERE _line IN (SELECT unnest(?::BIGINT[]))", [sorted(refused)]
    )
    frames = con.sql(sql.FRAME_ROWS).to_arrow_table().cast(_FRAMES)
    sources = con.sql(sql.SOURCE_ROWS).to_arrow_table().cast(SOURCE_SCHEMA)
    warnings = []
    warned = [o for o in stored.warnings if first <= o <= last]
    found = con.execute(sql.ROI_WARNINGS, {"warned": warned}).fetchall()
    for o, image_id, zero, outside in found:
        kinds = stored.warnings.get(o, [])
        zero, outside = zero + kinds.count(WARN_ZERO_AREA), outside + kinds.count(WARN_OUTSIDE)
        where = f"{path}, image {image_id}"
        warnings += [
            (k, where, n) for k, n in ((WARN_ZERO_AREA, zero), (WARN_OUTSIDE, outside)) if n
        ]
    rois = write_rois(con, mine, options.field, params, refused)
    stored.staged.release(con, first)
    beside = None
    if stored.digests is not None:  # kept only of frames converted without warning
        beside = stored.digests.beside(con, first, last, {r[0] for r in found}, extra)
    writer.write_rows(RowBatch(frames, sources, rois, warnings, beside))
