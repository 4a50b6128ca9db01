"""ROIs of a view one page at a time (the app's patches), and evaluation outcomes per ROI.

A page of patches picks its ROIs first (a materialised CTE holding one page of them, in the
view's frame order and each frame's stored ROI order) and only then joins each ROI's frame
and the source it is drawn on, as the frame pages do. ROIs that have no box (whole-frame
classifications) make no patch.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import pyarrow as pa

from workbench.errors import QueryError
from workbench.query._sql import Compiled, all_of, execute, in_list, sql
from workbench.query.pages import frame_set, key_columns
from workbench.query.plan import LabelFilter

if TYPE_CHECKING:
    from workbench.query.view import View
    from workbench.store.catalog import Catalog

MAX_PAGE = 1000
_PATCH_COLUMNS = (
    "r.frame_id, r.id, r.field, r.label, r.confidence, r.kind, r.geometry,"
    " r.x_min, r.y_min, r.x_max, r.y_max, r.source_ids"
)


def _conditions(view: View, fields: Sequence[str] | None) -> list[Compiled]:
    conditions = [
        view.plan.roi_predicate(),
        Compiled("r.kind <> 'classification' AND r.x_min IS NOT NULL"),
    ]
    if fields:
        conditions.append(in_list("r.field", list(fields), "VARCHAR"))
    frames = frame_set(view.plan)
    if frames is not None and view.plan.needs_sort is False:
        conditions.append("r.frame_id IN (" + frames + ")")
    return conditions


def _picked(view: View, fields: Sequence[str] | None) -> tuple[Compiled, str, Compiled]:
    """`FROM ... WHERE ...` of the view's patch ROIs, the columns of the sort keys that keep
    view order (`_o0, _o1, ...`) and the ORDER BY over them."""
    plan = view.plan
    where = all_of(_conditions(view, fields))
    if not plan.needs_sort:
        # Unsorted: insertion order, the order frames and their ROIs were stored in.
        return Compiled("rois r WHERE ") + where, "r.rowid AS _o0", Compiled("_o0")
    terms = plan.terms
    ranked = plan.select(Compiled.join([Compiled("f.id"), *key_columns(terms)], ", "))
    source = Compiled.join(["rois r JOIN (", ranked, ") v ON v.id = r.frame_id WHERE "], "")
    n = len(terms)
    keys = ", ".join([*(f"v._k{i} AS _o{i}" for i in range(n)), f"r.rowid AS _o{n}"])
    order = Compiled.join(
        [*(t.render(Compiled(f"_o{i}")) for i, t in enumerate(terms)), Compiled(f"_o{n}")],
        ", ",
    )
    return source + where, keys, order


def count_patches(view: View, fields: Sequence[str] | None = None) -> int:
    """How many ROIs of the view (of `fields`) make a patch."""
    source, _, _ = _picked(view, fields)
    return int(view.rows("SELECT count(*) FROM " + source)[0][0])


def patch_page(
    view: View,
    offset: int = 0,
    limit: int = 48,
    *,
    fields: Sequence[str] | None = None,
    eval_key: str | None = None,
) -> pa.Table:
    """One page of the view's patch ROIs: the ROI's columns (frame_id, id, field, label,
    confidence, kind, geometry, box, source_ids), its frame's context_id, the source it is
    drawn on (source_id, uri, preview_uri, width, height), and with `eval_key` its outcome."""
    if offset < 0 or not 0 < limit <= MAX_PAGE:
        raise QueryError(f"a page of patches is 1 to {MAX_PAGE} ROIs from offset >= 0")
    source, keys, order = _picked(view, fields)
    # A scan of rois filtered by its own columns returns rows in stored order (DuckDB keeps
    # insertion order without ORDER BY), so such a page needs no sort: deep pages then cost a
    # scan, not a sort of every ROI before them.
    scan = frame_set(view.plan) is None and all(
        isinstance(f, LabelFilter) for f in view.plan.roi_filters
    )
    picked = Compiled.join(
        [
            f"SELECT {_PATCH_COLUMNS}, {keys} FROM ",
            source,
            "" if not view.plan.needs_sort and scan else " ORDER BY " + order,
            f" LIMIT {int(limit)} OFFSET {int(offset)}",
        ],
        "",
    )
    outcome = Compiled("NULL::VARCHAR AS outcome")
    joins = Compiled("")
    if eval_key:
        outcome = Compiled("e.outcome AS outcome")
        joins = sql(
            " LEFT JOIN eval_rois e ON e.run_id = (SELECT run_id FROM evaluations"
            " WHERE eval_key = ?) AND e.frame_id = p.frame_id AND e.roi_id = p.id"
            " AND e.field = p.field",
            eval_key,
        )
    exclude = ", ".join(k.split(" AS ")[1] for k in keys.split(", "))
    query = Compiled.join(
        [
            "WITH _p AS MATERIALIZED (",
            picked,
            "), _first AS (SELECT s.frame_id, arg_min(s.id, s.rowid) AS id FROM sources s"
            " WHERE s.frame_id IN (SELECT frame_id FROM _p) GROUP BY s.frame_id)"
            f" SELECT p.* EXCLUDE ({exclude}), f.context_id, s.id AS source_id, s.uri,"
            " s.preview_uri, s.width, s.height, ",
            outcome,
            " FROM _p p JOIN frames f ON f.id = p.frame_id"
            " LEFT JOIN _first fs ON fs.frame_id = p.frame_id"
            " LEFT JOIN sources s ON s.frame_id = p.frame_id"
            " AND s.id = coalesce(p.source_ids[1], fs.id)",
            joins,
            " ORDER BY ",
            Compiled.join([("p." + part) for part in order.sql.split(", ")], ", "),
        ],
        "",
    )
    return view.run(query)


def frame_outcomes(catalog: Catalog, eval_key: str, frame_ids: Sequence[str]) -> pa.Table:
    """Evaluation `eval_key`'s rows for the ROIs of these frames: frame_id, roi_id, field,
    outcome, match_id, iou (empty when there is no such evaluation)."""
    query = sql(
        "SELECT e.frame_id, e.roi_id, e.field, e.outcome, e.match_id, e.iou"
        " FROM eval_rois e WHERE e.run_id = (SELECT run_id FROM evaluations"
        " WHERE eval_key = ?) AND ",
        eval_key,
    ) + in_list("e.frame_id", list(frame_ids), "VARCHAR")
    return execute(catalog, query)
