"""Facets: counts over a view, computed from the same compiled query as its frames.

Each facet is one GROUP BY over the view's ROIs (as filtered by filter_rois) or frames. When
the view holds every frame, ROI facets skip the semi-join against frames entirely.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pyarrow as pa

from workbench.errors import QueryError
from workbench.query._sql import Compiled, sql
from workbench.query.pages import frame_set
from workbench.query.plan import Plan
from workbench.query.stages import metadata_expr

if TYPE_CHECKING:
    from workbench.query.view import View

MAX_BINS = 1000


def view_rois_where(plan: Plan, field: str | None) -> Compiled:
    """WHERE clause (without the keyword) selecting the view's ROIs, alias r."""
    condition = "(" + plan.roi_predicate() + ")"
    if field is not None:
        condition = condition + sql(" AND r.field = ?", field)
    frames = frame_set(plan)
    if frames is not None:
        condition = condition + " AND r.frame_id IN (" + frames + ")"
    return condition


def fields_query(plan: Plan) -> Compiled:
    return (
        "SELECT DISTINCT r.field FROM rois r WHERE " + view_rois_where(plan, None) + " ORDER BY 1"
    )


def label_counts(view: View, field: str | None = None) -> pa.Table:
    """(field, label, count) of the view's ROIs, most frequent first."""
    query = (
        "SELECT r.field, r.label, count(*) AS count FROM rois r WHERE "
        + view_rois_where(view.plan, field)
        + " GROUP BY r.field, r.label ORDER BY count DESC, r.field, r.label NULLS LAST"
    )
    return view.run(query)


def metadata_values(view: View, key: str, limit: int = 50) -> pa.Table:
    """(value, count): the `limit` commonest values of a metadata key (or frame column) among
    the view's frames, as text; frames without the key count under a NULL value."""
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise QueryError(f"metadata_values() needs a positive limit, got {limit!r}")
    expr, _ = metadata_expr(key, view.frame_columns)
    values = view.plan.select("CAST(" + expr + " AS VARCHAR) AS value")
    query = (
        "SELECT value, count(*) AS count FROM ("
        + values
        + f") GROUP BY value ORDER BY count DESC, value NULLS LAST LIMIT {int(limit)}"
    )
    return view.run(query)


def confidence_histogram(view: View, field: str | None = None, bins: int = 10) -> pa.Table:
    """(bin_start, bin_end, count) over [0, 1] in `bins` equal bins, empty bins included;
    a confidence of exactly 1 falls in the last bin, ROIs without confidence in none."""
    if isinstance(bins, bool) or not isinstance(bins, int) or not 1 <= bins <= MAX_BINS:
        raise QueryError(f"confidence_histogram() needs 1 to {MAX_BINS} bins, got {bins!r}")
    counted = (
        f"SELECT least(CAST(floor(r.confidence * {bins}) AS INTEGER), {bins - 1}) AS bin,"
        " count(*) AS count FROM rois r WHERE r.confidence IS NOT NULL AND "
        + view_rois_where(view.plan, field)
        + " GROUP BY bin"
    )
    query = (
        f"SELECT b.range / {bins}.0 AS bin_start, (b.range + 1) / {bins}.0 AS bin_end,"
        " coalesce(c.count, 0) AS count"
        f" FROM range({bins}) b LEFT JOIN (" + counted + ") c ON c.bin = b.range ORDER BY bin_start"
    )
    return view.run(query)


def tag_counts(view: View) -> pa.Table:
    """(tag, count): frame tags among the view's frames, most frequent first."""
    condition = Compiled("t.roi_id IS NULL")
    frames = frame_set(view.plan)
    if frames is not None:
        condition = condition + " AND t.frame_id IN (" + frames + ")"
    query = (
        "SELECT t.tag, count(DISTINCT t.frame_id) AS count FROM tags t WHERE "
        + condition
        + " GROUP BY t.tag ORDER BY count DESC, t.tag"
    )
    return view.run(query)
