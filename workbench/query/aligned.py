"""ROI codes of a filtered view read beside its frames, when the catalog stores them aligned.

`frame_codes` holds a row per frame with ROIs, sorted by frame key once the layout is built
(Catalog.optimize()), and `frames` is stored in key order. When every frame has ROIs the two
tables are aligned row for row: DuckDB's POSITIONAL JOIN then reads a frame's columns and its
codes together, and the view's WHERE is evaluated on the rows that hold the codes, with no
frame set to test each row against (docs/scale-out.md).

Alignment is not assumed: each row's two frame keys are compared in the same scan, and one
that differs makes the query fail (DuckDB's `error()`), after which the codes are read the
usual way (facets.roi_codes). The tables' row counts are compared first, so a catalog with
frames without ROIs (never aligned) costs two counts, not a scan.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pyarrow as pa

from workbench.errors import QueryError
from workbench.query import groups
from workbench.query._sql import Compiled, all_of, execute_rows

if TYPE_CHECKING:
    from workbench.query.view import View

# The message of the error a misaligned row raises (told apart from the view's own errors).
MISALIGNED = "frames and frame_codes are not aligned"


def roi_codes(view: View, step: int, per_label: int) -> pa.Table | None:
    """(label_key, bin, count) of the view's ROIs, codes divided by `step` (label and bin
    at once, `per_label` bins a label), or None when this read cannot give them (the view
    is not a filter of frame columns of a local catalog, or the tables are not aligned)."""
    if view.catalog.lake is not None or not groups.applies(view):
        return None
    counts = Compiled("SELECT (SELECT count(*) FROM frames), (SELECT count(*) FROM frame_codes)")
    frames, coded = execute_rows(view.catalog, counts)[0]
    if frames != coded:
        return None
    kept = (
        "CASE WHEN f.frame_key IS DISTINCT FROM c.frame_key"
        f" THEN error('{MISALIGNED}') ELSE (" + all_of(view.plan.conditions) + ") END"
    )
    query = (
        f"SELECT g // {per_label} AS label_key, g % {per_label} AS bin, count FROM ("
        f"SELECT x // {step} AS g, count(*) AS count FROM (SELECT unnest(c.codes) AS x"
        " FROM frames f POSITIONAL JOIN frame_codes c WHERE " + kept + ") GROUP BY g)"
    )
    try:
        return view.run(query)
    except QueryError as exc:
        if MISALIGNED in str(exc):
            return None
        raise
