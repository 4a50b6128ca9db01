"""Facets: counts over a view, all computed over one set of its frames.

A filtered view's frames are found once (`FrameSet`: their keys, read with the view's guard
and time limit) and every facet reads that set: a WHERE typed by a person or a JSON filter is
evaluated once, not once per facet. A small set is joined as it is; a large one becomes a
bitmap over frame keys, which each ROI or summary row tests by position (no hash join of
millions of keys). Label counts read the per-frame label summaries (frame_labels) whenever
the view's ROI filters read fields and labels only; the confidence histogram reads the ROIs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.compute as pc

from workbench.errors import QueryError
from workbench.model.records import PROMOTED_KEYS
from workbench.query._sql import TRUE, Compiled, sql
from workbench.query.plan import LabelFilter, Plan
from workbench.query.stages import metadata_expr
from workbench.store.sqlsafe import quote_ident

if TYPE_CHECKING:
    from workbench.query.view import View

MAX_BINS = 1000
# The name a view's frame keys are registered under, for the queries that read them.
KEYS_TABLE = "_wb_view_keys"
# Up to this many frames are joined as keys; more are tested against a bitmap.
BITMAP_FROM = 50_000


@dataclass
class FrameSet:
    """The keys of a view's frames (column `frame_key`), as the queries over them read them.

    A large set is handed to each query as a bitmap over frame keys (a BIT parameter, built
    once): testing a row is one bit lookup, where a hash join would probe a table of millions
    of keys; a plain filter with a constant bitmap measured 1.9x faster than the same bitmap
    joined in from a CTE.
    """

    keys: pa.Table
    _bits: str | None = None

    @property
    def count(self) -> int:
        return self.keys.num_rows

    @property
    def tables(self) -> dict[str, pa.Table]:
        return {KEYS_TABLE: self.keys}

    @property
    def _bound(self) -> int:
        top = pc.max(self.keys.column(0)).as_py() if self.count else 0
        return int(top or 0)

    def bits(self, view: View) -> str:
        """The set as a string of 0s and 1s, bit k + 1 for key k (kept)."""
        if self._bits is None:
            # Bit k + 1 stands for key k: bit 0 for -1 (ROIs of no frame) and the last bit
            # for every key past the largest, all never set.
            query = Compiled(
                f"SELECT bitstring_agg(frame_key + 1, 0, {self._bound + 2})::VARCHAR AS bits"
                f" FROM {KEYS_TABLE}"
            )
            self._bits = str(view.facet(query, self).column(0)[0].as_py())
        return self._bits

    def condition(self, alias: str, view: View) -> Compiled:
        """Whether the row (alias `alias`, with a `frame_key`) belongs to one of the frames."""
        key = f"{alias}.frame_key"
        if self.count <= BITMAP_FROM:
            return Compiled(f"{key} IN (SELECT frame_key FROM {KEYS_TABLE})")
        # Keys are -1 or more; those past the bitmap's end (frames stored since) read its
        # last bit. One clamp: the bounds checks it replaced cost 40% of a label count.
        return Compiled(
            f"get_bit(?::BIT, least({key} + 1, {self._bound + 2})::INTEGER) = 1",
            (self.bits(view),),
        )


def _in(view: View, frames: FrameSet | None, alias: str) -> Compiled:
    return frames.condition(alias, view) if frames is not None else TRUE


def summarised(plan: Plan) -> bool:
    """Whether the view's ROI filters read fields and labels only (facets may then read the
    label summaries)."""
    return all(isinstance(f, LabelFilter) for f in plan.roi_filters)


def _labels_of(plan: Plan, field: str | None) -> list[Compiled]:
    """Conditions over `label_keys r` (or `rois r`) picking the view's ROIs of `field`."""
    return [*([sql("r.field = ?", field)] if field is not None else []), *plan.roi_filters]


def _label_filter(plan: Plan, field: str | None) -> Compiled:
    """The frame_labels rows (alias l) of the view's labels of `field`."""
    conditions = _labels_of(plan, field)
    if not conditions:
        return TRUE
    return (
        "l.label_key IN (SELECT r.label_key FROM label_keys r WHERE "
        + Compiled.join([("(" + c + ")") for c in conditions], " AND ")
        + ")"
    )


def view_rois_where(view: View, field: str | None, frames: FrameSet | None) -> Compiled:
    """WHERE clause (without the keyword) selecting the view's ROIs, alias r."""
    condition = "(" + view.plan.roi_predicate() + ")"
    if field is not None:
        condition = condition + sql(" AND r.field = ?", field)
    return condition + " AND " + _in(view, frames, "r")


def fields(view: View) -> list[str]:
    """Label fields among the view's ROIs."""
    plan, frames = view.plan, view.frame_set()
    if summarised(plan):
        rows = (
            "SELECT DISTINCT k.field FROM label_keys k WHERE k.label_key IN"
            " (SELECT l.label_key FROM frame_labels l WHERE "
            + _label_filter(plan, None)
            + " AND "
            + _in(view, frames, "l")
            + ") ORDER BY 1"
        )
    else:
        rows = (
            "SELECT DISTINCT r.field FROM rois r WHERE "
            + view_rois_where(view, None, frames)
            + " ORDER BY 1"
        )
    return [str(r[0]) for r in view.facet_rows(rows, frames)]


def label_counts(view: View, field: str | None = None) -> pa.Table:
    """(field, label, count) of the view's ROIs, most frequent first."""
    plan, frames = view.plan, view.frame_set()
    if summarised(plan):
        counted = (
            "SELECT l.label_key, sum(l.rois)::BIGINT AS count FROM frame_labels l WHERE "
            + _label_filter(plan, field)
            + " AND "
            + _in(view, frames, "l")
            + " GROUP BY l.label_key"
        )
    else:
        counted = (
            "SELECT r.label_key, count(*) AS count FROM rois r WHERE "
            + view_rois_where(view, field, frames)
            + " GROUP BY r.label_key"
        )
    query = (
        "SELECT k.field, k.label, c.count FROM ("
        + counted
        + ") c JOIN label_keys k ON k.label_key = c.label_key"
        " ORDER BY c.count DESC, k.field, k.label NULLS LAST"
    )
    return view.facet(query, frames)


def metadata_values(view: View, key: str, limit: int = 50) -> pa.Table:
    """(value, count): the `limit` commonest values of a metadata key (or frame column) among
    the view's frames, as text; frames without the key count under a NULL value.

    The promoted keys (weather, time_of_day, camera, location) are counted together, in one
    read of the view's frames, the first time one of them is asked for.
    """
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise QueryError(f"metadata_values() needs a positive limit, got {limit!r}")
    if key in PROMOTED_KEYS:
        counted = view.promoted_counts()[key]
        return counted.slice(0, limit)
    expr, _ = metadata_expr(key, view.frame_columns, view.plan.promoted)
    frames = view.frame_set()
    values = (
        "SELECT CAST("
        + expr
        + " AS VARCHAR) AS value FROM frames f WHERE "
        + _in(view, frames, "f")
    )
    query = (
        "SELECT value, count(*) AS count FROM ("
        + values
        + f") GROUP BY value ORDER BY count DESC, value NULLS LAST LIMIT {int(limit)}"
    )
    return view.facet(query, frames)


def promoted_counts(view: View) -> dict[str, pa.Table]:
    """(value, count) of every promoted key among the view's frames, commonest first."""
    frames = view.frame_set()
    names = [quote_ident(k) for k in PROMOTED_KEYS]
    values = ", ".join(f"CAST(f.{n} AS VARCHAR) AS {n}" for n in names)
    sets = ", ".join(f"({n})" for n in names)
    query = (
        f"SELECT GROUPING_ID({', '.join(names)}) AS _set, {', '.join(names)},"
        f" count(*) AS count FROM (SELECT {values} FROM frames f WHERE "
        + _in(view, frames, "f")
        + f") GROUP BY GROUPING SETS ({sets})"
    )
    rows = view.facet(query, frames).to_pylist()
    counted: dict[str, pa.Table] = {}
    for i, key in enumerate(PROMOTED_KEYS):
        # GROUPING_ID has a bit set for each key not grouped; this set groups key i only.
        wanted = ((1 << len(PROMOTED_KEYS)) - 1) ^ (1 << (len(PROMOTED_KEYS) - 1 - i))
        pairs = [(r[key], r["count"]) for r in rows if r["_set"] == wanted]
        pairs.sort(key=lambda p: (-p[1], p[0] is None, p[0] or ""))
        counted[key] = pa.table(
            {
                "value": pa.array([p[0] for p in pairs], pa.string()),
                "count": pa.array([p[1] for p in pairs], pa.int64()),
            }
        )
    return counted


def confidence_histogram(view: View, field: str | None = None, bins: int = 10) -> pa.Table:
    """(bin_start, bin_end, count) over [0, 1] in `bins` equal bins, empty bins included;
    a confidence of exactly 1 falls in the last bin, ROIs without confidence in none."""
    if isinstance(bins, bool) or not isinstance(bins, int) or not 1 <= bins <= MAX_BINS:
        raise QueryError(f"confidence_histogram() needs 1 to {MAX_BINS} bins, got {bins!r}")
    frames = view.frame_set()
    counted = (
        f"SELECT least(CAST(floor(r.confidence * {bins}) AS INTEGER), {bins - 1}) AS bin,"
        " count(*) AS count FROM rois r WHERE r.confidence IS NOT NULL AND "
        + view_rois_where(view, field, frames)
        + " GROUP BY bin"
    )
    query = (
        f"SELECT b.range / {bins}.0 AS bin_start, (b.range + 1) / {bins}.0 AS bin_end,"
        " coalesce(c.count, 0) AS count"
        f" FROM range({bins}) b LEFT JOIN (" + counted + ") c ON c.bin = b.range ORDER BY bin_start"
    )
    return view.facet(query, frames)


def tag_counts(view: View) -> pa.Table:
    """(tag, count): frame tags among the view's frames, most frequent first."""
    frames = view.frame_set()
    join = Compiled("")
    if frames is not None:
        join = " JOIN frames f ON f.id = t.frame_id AND " + frames.condition("f", view)
    query = (
        "SELECT t.tag, count(DISTINCT t.frame_id) AS count FROM tags t"
        + join
        + " WHERE t.roi_id IS NULL GROUP BY t.tag ORDER BY count DESC, t.tag"
    )
    return view.facet(query, frames)


def count_contexts(view: View, frames: FrameSet) -> int:
    query = "SELECT count(DISTINCT f.context_id) FROM frames f WHERE " + frames.condition("f", view)
    return int(view.facet_rows(query, frames)[0][0])
