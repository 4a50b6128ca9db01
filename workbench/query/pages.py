"""The SELECT statements behind a view's results: pages, ROIs, contexts.

Pages pick their frames first (one query for one page of frames) and only then join sources
and ROIs to those few frames (a second query): nesting per frame before the LIMIT would build
the lists of every frame in the view (100x slower at a million frames). Sources and ROIs are
found by frame key, given as constants: they are stored clustered by it, so a page reads a
few row groups.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from workbench.query._sql import Compiled, in_list
from workbench.query.plan import KeySet, OrderTerm, Plan
from workbench.store import summaries
from workbench.store.sqlsafe import quote_ident


def key_columns(terms: Sequence[OrderTerm]) -> list[Compiled]:
    """The sort keys as extra columns `_k0, _k1, ...` of a frames query."""
    return [t.expr + f" AS _k{i}" for i, t in enumerate(terms)]


def key_order(terms: Sequence[OrderTerm], alias: str) -> Compiled:
    return Compiled.join([t.render(Compiled(f"{alias}._k{i}")) for i, t in enumerate(terms)], ", ")


def _columns(alias: str, columns: Sequence[str]) -> str:
    return ", ".join(f"{alias}.{quote_ident(c)}" for c in columns)


def _struct(alias: str, columns: Sequence[str]) -> str:
    fields = ", ".join(f"{quote_ident(c)} := {alias}.{quote_ident(c)}" for c in columns)
    return f"struct_pack({fields})"


# The name a page's frames are registered under while their sources and ROIs are joined.
PAGE_TABLE = "_wb_page"


def key_filter(alias: str, keys: Sequence[int]) -> Compiled:
    """`alias.frame_key` among `keys`, with their range as constants: DuckDB skips the row
    groups outside it (a key list from a subquery, or a range from scalar subqueries, is
    not pushed into the scan: a page of frames with a label read every ROI)."""
    if not keys:
        return Compiled("FALSE")
    span = Compiled(f"{alias}.frame_key BETWEEN ? AND ?", (min(keys), max(keys)))
    return span + " AND " + in_list(f"{alias}.frame_key", list(keys), "BIGINT")


def nested(
    keys: Sequence[int],
    terms: Sequence[OrderTerm],
    roi_predicate: Compiled,
    source_columns: Sequence[str],
    roi_columns: Sequence[str],
    tables: Mapping[str, str] | None = None,
) -> Compiled:
    """A page's frames (registered as PAGE_TABLE: frame columns, `_fk` and key columns; the
    frame keys are `keys`) with nested `sources` and `rois` lists. `tables` may name what
    to read for `sources` and `rois` instead (a lake's files that hold those keys)."""
    sources, rois = (tables or {}).get("sources", "sources"), (tables or {}).get("rois", "rois")
    sort_keys = ", ".join(f"_k{i}" for i in range(len(terms)))
    src = [c for c in source_columns if c != "frame_id"]
    roi = [c for c in roi_columns if c != "frame_id"]
    return Compiled.join(
        [
            "WITH _src AS (SELECT s.frame_key, list(",
            _struct("s", src),
            f" ORDER BY s.rowid) AS sources FROM {sources} s WHERE ",
            key_filter("s", keys),
            " GROUP BY s.frame_key), _roi AS (SELECT r.frame_key, list(",
            _struct("r", roi),
            f" ORDER BY r.rowid) AS rois FROM {rois} r WHERE ",
            key_filter("r", keys),
            " AND (",
            roi_predicate,
            f") GROUP BY r.frame_key) SELECT p.* EXCLUDE (_fk, {sort_keys}),"
            " coalesce(_src.sources, []) AS sources, coalesce(_roi.rois, []) AS rois"
            f" FROM {PAGE_TABLE} p LEFT JOIN _src ON _src.frame_key = p._fk"
            " LEFT JOIN _roi ON _roi.frame_key = p._fk ORDER BY ",
            key_order(terms, "p"),
        ],
        "",
    )


def _frame_columns(columns: Sequence[str], terms: Sequence[OrderTerm]) -> Compiled:
    """The frame columns, the frame key as `_fk` and the sort keys of a page's frames."""
    listed = Compiled(_columns("f", columns) + ", f.frame_key AS _fk")
    return Compiled.join([listed, *key_columns(terms)], ", ")


def page_frames(plan: Plan, offset: int, limit: int | None, columns: Sequence[str]) -> Compiled:
    selected = _frame_columns(columns, plan.terms)
    return plan.select(selected, ordered=True, offset=offset, limit=limit)


def context_terms() -> list[OrderTerm]:
    return [
        OrderTerm(Compiled("f.timestamp")),
        OrderTerm(Compiled("f.frame_index")),
        OrderTerm(Compiled("f.frame_key")),
    ]


def context_frames(plan: Plan, context_id: str, columns: Sequence[str]) -> Compiled:
    """The view's frames of one context, as frame columns plus timestamp-order keys."""
    selected = _frame_columns(columns, context_terms())
    condition = Compiled("f.context_id = ?", (context_id,))
    if not plan.windowed:
        return plan.select(selected, extra=[condition])
    # A window must be taken first and the context picked from what it holds.
    inner = plan.select(Compiled("f.frame_key"))
    return Compiled.join(
        [
            "SELECT ",
            selected,
            " FROM frames f WHERE f.frame_key IN (",
            inner,
            ") AND ",
            condition,
        ],
        "",
    )


def frame_set(plan: Plan) -> Compiled | None:
    """The ids of the view's frames for a semi-join, or None when the view holds them all."""
    if plan.everything:
        return None
    return plan.select(Compiled("f.id"))


def distinct_frame_keys(plan: Plan) -> Compiled:
    """The keys of the view's frames, each once (a filtered view's FrameSet)."""
    keys = plan.roi_only_set()
    if keys is None:
        return plan.select(Compiled("f.frame_key"))
    if isinstance(keys, KeySet) and keys.unique:
        return keys
    return "SELECT DISTINCT frame_key FROM (" + keys + ")"


def view_rois(plan: Plan, frame_ids: Sequence[str] | None, columns: Sequence[str]) -> Compiled:
    """The view's ROIs, in the view's frame order and each frame's stored ROI order.

    The frames' sort keys come along as columns (a window's ORDER BY cannot hold the
    correlated subqueries some sorts are, such as sort_by_eval_count)."""
    terms = plan.terms
    ranked = plan.select(Compiled.join([Compiled("f.frame_key"), *key_columns(terms)], ", "))
    query = Compiled.join(
        [
            f"SELECT {_columns('r', columns)} FROM rois r JOIN (",
            ranked,
            ") v ON v.frame_key = r.frame_key WHERE (",
            plan.roi_predicate(),
            ")",
        ],
        "",
    )
    if frame_ids is not None:
        query = query + " AND " + in_list("r.frame_id", list(frame_ids), "VARCHAR")
    return query + " ORDER BY " + key_order(terms, "v") + ", r.rowid"


def contexts(plan: Plan, offset: int, limit: int | None) -> Compiled:
    """One row per context of the view; unsorted views list contexts by context_id, sorted
    ones in the order of each context's first frame.

    The first frame (by timestamp, then frame_index and id for a deterministic pick among
    equal timestamps) and the context's total are looked up for the page's contexts only:
    that arg_min over every frame of the view cost more than the rest of the query. The
    view's conditions are evaluated in both steps: materialising its frames once measured
    2.5x slower at 10M frames, even for a JSON filter (metadata keys most frames have are
    columns of their own, store/layout.py).
    """
    columns = Compiled("f.context_id, f.id, f.timestamp, f.frame_index")
    if plan.sorted:
        columns = "row_number() OVER (" + plan.over() + ") AS _pos, " + columns
        extra, order = ", min(v._pos) AS _pos", "_pos"
    else:
        extra, order = "", "context_id"
    frames = plan.select(columns)
    window = f" LIMIT {int(limit)}" if limit is not None else ""
    window += f" OFFSET {int(offset)}" if offset else ""
    return Compiled.join(
        [
            "WITH _ctx AS MATERIALIZED (SELECT v.context_id, count(*) AS frames,"
            f" min(v.timestamp) AS first_timestamp, max(v.timestamp) AS last_timestamp{extra}"
            " FROM (",
            frames,
            f") v GROUP BY v.context_id ORDER BY {order}{window}),"
            " _first AS (SELECT v.context_id,"
            f" {summaries.first_frame('v')} AS first_frame_id FROM (",
            frames,
            ") v WHERE v.context_id IN (SELECT context_id FROM _ctx) GROUP BY v.context_id),"
            " _total AS (SELECT context_id, count(*) AS total_frames FROM frames"
            " WHERE context_id IN (SELECT context_id FROM _ctx) GROUP BY context_id)"
            " SELECT m.context_id, m.frames, t.total_frames, m.first_timestamp,"
            " m.last_timestamp, fi.first_frame_id FROM _ctx m"
            " JOIN _total t ON t.context_id = m.context_id"
            f" JOIN _first fi ON fi.context_id = m.context_id ORDER BY m.{order}",
        ],
        "",
    )
