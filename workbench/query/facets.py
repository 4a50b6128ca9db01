"""Facets: counts over a view, all computed over one set of its frames.

A filtered view's frames are found once (`FrameSet`: their keys, read with the view's guard
and time limit) and every facet reads that set: a WHERE typed by a person or a JSON filter is
evaluated once, not once per facet. A small set is joined as it is; a large one becomes a
bitmap over frame keys, which each ROI or summary row tests by position (no hash join of
millions of keys).

When the view's ROI filters read fields and labels only, label counts and the confidence
histogram of a filtered view come from one read of the per-frame ROI codes (frame_codes: a
row per frame, not one per ROI), counted by label and bin once and kept for both; over the
whole catalog label counts sum the label summaries (frame_labels). Otherwise they read the
ROIs. The promoted metadata keys are one grouping of the frames by their values key (all four
keys' values as one integer, layout.VALUES_KEY) and the count of contexts one more read.

A view filtered on the columns of the catalog's frame groups (store/groups.py) needs no frame
set: its count, ROI codes, promoted keys and contexts are sums over its groups.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.compute as pc

from workbench.errors import QueryError
from workbench.model.records import PROMOTED_KEYS
from workbench.query import group_memo, whole
from workbench.query import groups as frame_groups
from workbench.query._sql import TRUE, Compiled, execute, sql
from workbench.query.plan import LabelFilter, Plan
from workbench.query.stages import key_column, metadata_expr
from workbench.store import layout
from workbench.store.sqlsafe import quote_ident

if TYPE_CHECKING:
    from workbench.query.view import View

MAX_BINS = 1000
# The name a view's frame keys are registered under, for the queries that read them.
KEYS_TABLE = "_wb_view_keys"
# Up to this many frames are joined as keys; more are tested against a bitmap.
BITMAP_FROM = 50_000
# What testing one row against a frame set's bitmap costs (CPU, measured at 10M frames).
BIT_TEST_SECONDS = 28e-9
# The histogram's bins when none are given (the app's): label counts read the ROI codes
# counted with these bins, so the app's two ROI facets are one read.
DEFAULT_BINS = 10
# The name the view's ROI codes, counted by label and bin, are registered under.
CODES_TABLE = "_wb_view_codes"
# ROI codes read beside the frames: in this many ranges of frame keys, one scan each (a
# positional scan runs on one thread; the catalog's engine has two by default).
PARTS = 2


@dataclass
class FrameSet:
    """The keys of a view's frames (column `frame_key`), as the queries over them read them.

    A large set is handed to each query as a bitmap over frame keys (a BIT parameter, built
    once): testing a row is one bit lookup, where a hash join would probe a table of millions
    of keys; a plain filter with a constant bitmap measured 1.9x faster than the same bitmap
    joined in from a CTE.
    """

    keys: pa.Table
    # What finding the keys cost (the view's conditions evaluated over every frame): the
    # query's CPU time or its wall time, the lesser. Wall time alone depends on the machine's
    # load: at load 10-15 on 2 cores a 50 ms query waited 150-350 ms, past the bit tests'
    # cost at 10M frames, and the frames were tested against the bitmap (~300 ms more CPU).
    seconds: float = 0.0
    _bits: str | None = None

    def reread(self, view: View) -> bool:
        """Whether a read of frames had better evaluate the view's conditions again than test
        each frame against this set: when finding the set took less time than the tests
        would (a bitmap test costs BIT_TEST_SECONDS a frame)."""
        if self.count <= BITMAP_FROM or view.plan.windowed or view.plan.sorted:
            return False
        return self.seconds < BIT_TEST_SECONDS * self._bound

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


def _label_filter(plan: Plan, field: str | None, alias: str = "l") -> Compiled:
    """The rows (alias `alias`, with a `label_key`) of the view's labels of `field`."""
    conditions = _labels_of(plan, field)
    if not conditions:
        return TRUE
    return (
        f"{alias}.label_key IN (SELECT r.label_key FROM label_keys r WHERE "
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
    plan = view.plan
    frames = None if _grouped(view) else view.frame_set()
    if (frames is not None or _grouped(view)) and summarised(plan):
        query = (
            "SELECT DISTINCT k.field FROM label_keys k WHERE k.label_key IN"
            f" (SELECT c.label_key FROM {CODES_TABLE} c WHERE "
            + _label_filter(plan, None, "c")
            + ") ORDER BY 1"
        )
        return [str(v) for v in _over_codes(view, query, DEFAULT_BINS).column(0).to_pylist()]
    if summarised(plan):  # the whole catalog: the label keys its code counts hold
        rows = (
            "SELECT DISTINCT k.field FROM label_keys k WHERE k.label_key IN"
            f" (SELECT c.label_key FROM (SELECT code // {layout.CODE_LABEL} AS label_key"
            " FROM code_counts) c WHERE " + _label_filter(plan, None, "c") + ") ORDER BY 1"
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
    plan = view.plan
    frames = None if _grouped(view) else view.frame_set()
    if (frames is not None or _grouped(view)) and summarised(plan):
        counted = (
            f"SELECT c.label_key, sum(c.count)::BIGINT AS count FROM {CODES_TABLE} c WHERE "
            + _label_filter(plan, field, "c")
            + " GROUP BY c.label_key"
        )
        return _over_codes(view, _named_labels(counted), DEFAULT_BINS)
    if frames is None and summarised(plan):
        return view.facet(_named_labels(_whole(plan, field, "c.label_key", "TRUE")), None)
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
    return view.facet(_named_labels(counted), frames)


def _grouped(view: View) -> bool:
    """Whether the view's ROI facets are sums over the catalog's frame groups (query/groups.py):
    then its frame set is not needed."""
    return summarised(view.plan) and view.groups() is not None


def _whole(plan: Plan, field: str | None, grouped: str, where: str) -> Compiled:
    """(grouped, count) over the ROIs of every frame: a read of the catalog's code counts."""
    label = f"code // {layout.CODE_LABEL}"
    return (
        f"SELECT {grouped}, sum(c.rois)::BIGINT AS count FROM (SELECT *, {label} AS label_key"
        f" FROM code_counts) c WHERE {where} AND "
        + _label_filter(plan, field, "c")
        + f" GROUP BY {grouped}"
    )


def _named_labels(counted: Compiled) -> Compiled:
    """(field, label, count) of a query of (label_key, count), most frequent first."""
    return (
        "SELECT k.field, k.label, c.count FROM ("
        + counted
        + ") c JOIN label_keys k ON k.label_key = c.label_key"
        " ORDER BY c.count DESC, k.field, k.label NULLS LAST"
    )


def roi_codes(view: View, bins: int) -> pa.Table:
    """(label_key, bin, count): the ROIs of the view's frames (a filtered view's) counted by
    label and by confidence bin among `bins` (a divisor of layout.CONFIDENCE_BINS; `bins` and
    more for ROIs without a confidence), in one read of frame_codes (each row tested against
    the frame set), or from the view's frame groups when they answer for it
    (query/groups.py)."""
    grouped = view.groups()
    frames = None if grouped is not None else view.frame_set()
    if (frames is None and grouped is None) or bins < 1 or layout.CONFIDENCE_BINS % bins:
        raise QueryError(
            f"ROI codes are counted for a filtered view, with bins dividing {layout.CONFIDENCE_BINS}"
        )
    if grouped is not None:
        return frame_groups.roi_codes(view, grouped, bins)
    assert frames is not None
    # One division of a code gives its label and bin together (layout.CODE_LABEL).
    step = layout.CONFIDENCE_BINS // bins
    per_label = layout.CODE_LABEL // step

    def counted(codes: Compiled) -> Compiled:
        return (
            f"SELECT g // {per_label} AS label_key, g % {per_label} AS bin, count FROM ("
            f"SELECT x // {step} AS g, count(*) AS count FROM (" + codes + ") GROUP BY g)"
        )

    beside = _beside_frames(view, frames)
    if beside is not None:
        return view.run(counted(beside))
    codes = "SELECT unnest(c.codes) AS x FROM frame_codes c WHERE " + frames.condition("c", view)
    return view.facet(counted(codes), frames)


def _beside_frames(view: View, frames: FrameSet) -> Compiled | None:
    """The codes of the view's ROIs (column x) read beside its frames, when frame_codes holds
    a row per frame in the stored order of frames (layout.CODES_ALIGNED) and evaluating the
    view's conditions again costs less than testing every row against its frame set
    (FrameSet.reread): a POSITIONAL JOIN of the two tables, the view's WHERE evaluated in
    the same scan, no bitmap made or tested (about a third less CPU at 10M frames).

    The state row is trusted as the frame groups' is (every write passes through
    `layout.sync`, which drops it when it codes stored frames again): checking each row's
    two keys in the query cost as much as the bitmap it saves. A positional scan runs on one
    thread: the frames are read as PARTS ranges of keys, one scan each, side by side."""
    plan = view.plan
    if (
        getattr(view.catalog, "lake", None) is not None
        or plan.depth
        or plan.source.sql != "frames f"
        or not frames.reread(view)
    ):
        return None
    con = view.catalog.cursor()
    try:
        if not layout.codes_aligned(con):
            return None
        top = layout.next_frame_key(con)
    finally:
        con.close()
    size = -(-max(top, 1) // PARTS)
    parts = []
    for first in range(0, max(top, 1), size):
        keys = f"frame_key BETWEEN {first} AND {first + size - 1}"
        source = Compiled(
            f"(SELECT * FROM frames WHERE {keys}) f POSITIONAL JOIN"
            f" (SELECT frame_key, codes FROM frame_codes WHERE {keys}) c"
        )
        parts.append(replace(plan, source=source).select("unnest(c.codes) AS x"))
    return Compiled.join(parts, " UNION ALL ")


def _over_codes(view: View, query: Compiled, bins: int) -> pa.Table:
    """Run `query` over the view's ROI codes counted with `bins` (table CODES_TABLE)."""
    return execute(view.catalog, query, tables={CODES_TABLE: view.roi_codes(bins)})


def _coded(view: View, frames: FrameSet | None, bins: int) -> bool:
    """Whether the histogram with `bins` bins is read from the ROI codes."""
    filtered = frames is not None or _grouped(view)
    return filtered and summarised(view.plan) and layout.CONFIDENCE_BINS % bins == 0


def confidence_bin(bins: int) -> str:
    """SQL: the bin of `r.confidence` among `bins` (NULL without a confidence); for a divisor
    of layout.CONFIDENCE_BINS, the bin its ROI code holds, so both readings agree."""
    if layout.CONFIDENCE_BINS % bins == 0:
        return f"{layout.confidence_bin('r.confidence')} // {layout.CONFIDENCE_BINS // bins}"
    return (
        "CASE WHEN r.confidence >= 0 AND NOT isnan(r.confidence)"
        f" THEN least(floor(r.confidence * {bins}), {bins - 1})::BIGINT END"
    )


def metadata_values(view: View, key: str, limit: int = 50) -> pa.Table:
    """(value, count): the `limit` commonest values of a metadata key (or frame column) among
    the view's frames, as text; frames without the key count under a NULL value.

    The promoted keys (weather, time_of_day, camera, location) are counted together, in one
    read of the view's frames, the first time one of them is asked for. A promoted metadata
    key of a view made of whole frame groups is summed over its groups when they keep its
    value counts (store/group_values.py).
    """
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise QueryError(f"metadata_values() needs a positive limit, got {limit!r}")
    if key in PROMOTED_KEYS:
        counted = view.promoted_counts()[key]
        return counted.slice(0, limit)
    grouped = view.groups()
    column = key_column(key, view.frame_columns, view.plan.promoted)
    if grouped is not None and column is not None:
        counted = frame_groups.values(view, grouped, column, limit)
        if counted is not None:
            return counted
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


@dataclass(frozen=True)
class FrameCounts:
    """Counts over the view's frames read together: (value, count) of every promoted key,
    commonest first, and the number of contexts (of a filtered view; None otherwise)."""

    promoted: dict[str, pa.Table]
    contexts: int | None


def frame_counts(view: View) -> FrameCounts:
    """The promoted keys' values and, for a filtered view, its contexts: one read of frames,
    which evaluates the view's conditions again when that costs less than testing every
    frame against its set (FrameSet.reread); or sums over the catalog's frame groups."""
    grouped = view.groups()
    if grouped is not None and frame_groups.has_promoted(grouped):
        values, contexts = frame_groups.promoted(view, grouped)
        return FrameCounts({k: _value_table(v) for k, v in values.items()}, contexts)
    frames = view.frame_set()
    context = context_column(view)
    keyed = None
    if context == layout.CONTEXT_KEY and _has_values_keys(view):
        keyed = _keyed_counts(view, frames)
    if keyed is not None:
        return keyed
    names = [quote_ident(k) for k in PROMOTED_KEYS]
    columns = ", ".join(f"f.{n}" for n in [*names, context])
    counted = ["count(*) AS frames"]
    for i, n in enumerate(names):
        counted += [f"histogram(CAST({n} AS VARCHAR)) AS v{i}", f"count({n}) AS n{i}"]
    if frames is not None:
        counted.append(f"count(DISTINCT {context}) AS contexts")
    select = "SELECT " + ", ".join(counted) + " FROM ("
    row = _frames_read(view, frames, columns, lambda rows: select + rows + ") f").to_pylist()[0]
    promoted: dict[str, pa.Table] = {}
    for i, key in enumerate(PROMOTED_KEYS):
        pairs: list[tuple[str | None, int]] = [(str(v), int(n)) for v, n in row[f"v{i}"] or []]
        if row["frames"] > row[f"n{i}"]:  # frames without the key
            pairs.append((None, int(row["frames"] - row[f"n{i}"])))
        promoted[key] = _value_table(pairs)
    return FrameCounts(promoted, int(row["contexts"]) if frames is not None else None)


def _frames_read(
    view: View, frames: FrameSet | None, columns: str, query: Callable[[Compiled], Compiled]
) -> pa.Table:
    """`query` over the view's frames with `columns` (alias f): the view's conditions
    evaluated again when that costs less than testing every frame against its set
    (FrameSet.reread), else each frame tested against the set."""
    if frames is not None and frames.reread(view):
        return view.run(query(view.plan.select(columns)))
    within = f"SELECT {columns} FROM frames f WHERE " + _in(view, frames, "f")
    return view.facet(query(within), frames)


def _keyed_counts(view: View, frames: FrameSet | None) -> FrameCounts | None:
    """The promoted keys' values from one integer grouping of the view's frames by their
    values key (layout.VALUES_KEY: the four keys' values together), summed by key here, and
    the contexts counted over their integer keys in a second read (a distinct count beside
    the grouping, in one query, cost more than both reads); None if a frame has no values
    key (the counts are then read as values)."""
    key, names = layout.VALUES_KEY, ", ".join(f"k.{quote_ident(k)}" for k in PROMOTED_KEYS)

    def grouped(rows: Compiled) -> Compiled:
        return (
            f"SELECT g.{key}, {names}, g.n FROM (SELECT f.{key}, count(*) AS n FROM ("
            + rows
            + f") f GROUP BY f.{key}) g LEFT JOIN {layout.VALUE_KEYS} k ON k.{key} = g.{key}"
        )

    kept = whole.value_counts(view.catalog, names) if frames is None else None
    read = kept if kept is not None else _frames_read(view, frames, f"f.{key}", grouped)
    rows = read.to_pylist()
    if any(row[key] is None for row in rows):
        return None
    counts: dict[str, dict[str | None, int]] = {k: {} for k in PROMOTED_KEYS}
    for row in rows:
        for k, counted in counts.items():
            counted[row[k]] = counted.get(row[k], 0) + int(row["n"])
    contexts = None
    if frames is not None:
        distinct = Compiled(f"SELECT count(DISTINCT f.{layout.CONTEXT_KEY}) FROM (")
        read = _frames_read(view, frames, f"f.{layout.CONTEXT_KEY}", lambda r: distinct + r + ") f")
        contexts = int(read.column(0)[0].as_py())
    promoted = {k: _value_table(list(counted.items())) for k, counted in counts.items()}
    return FrameCounts(promoted, contexts)


def _has_values_keys(view: View) -> bool:
    con = view.catalog.cursor()
    try:
        return layout.has_values_keys(con)
    finally:
        con.close()


def context_column(view: View) -> str:
    """The frames' column to count contexts by: their integer key on a local catalog that
    keeps one (layout.CONTEXT_KEY: a distinct count over integers took less than half the CPU
    of one over the text ids at 10M frames), else context_id."""
    if getattr(view.catalog, "lake", None) is not None:
        return "context_id"
    con = view.catalog.cursor()
    try:
        return layout.CONTEXT_KEY if layout.has_context_keys(con) else "context_id"
    finally:
        con.close()


def _value_table(pairs: list[tuple[str | None, int]]) -> pa.Table:
    """(value, count), commonest first, NULL after the values of its count."""
    pairs = sorted(pairs, key=lambda p: (-p[1], p[0] is None, p[0] or ""))
    return pa.table(
        {
            "value": pa.array([p[0] for p in pairs], pa.string()),
            "count": pa.array([p[1] for p in pairs], pa.int64()),
        }
    )


def confidence_histogram(view: View, field: str | None = None, bins: int = 10) -> pa.Table:
    """(bin_start, bin_end, count) over [0, 1] in `bins` equal bins, empty bins included;
    a confidence of exactly 1 falls in the last bin, ROIs without confidence in none."""
    if isinstance(bins, bool) or not isinstance(bins, int) or not 1 <= bins <= MAX_BINS:
        raise QueryError(f"confidence_histogram() needs 1 to {MAX_BINS} bins, got {bins!r}")
    coded = layout.CONFIDENCE_BINS % bins == 0  # bins the ROI codes hold
    frames = None if coded and _grouped(view) else view.frame_set()
    if view.plan.everything and summarised(view.plan) and coded:
        step = layout.CONFIDENCE_BINS // bins
        bin_of = f"(c.code % {layout.CODE_LABEL}) // {step}"
        counted = _whole(view.plan, field, bin_of, f"{bin_of} < {bins}")
        return view.facet(_binned("SELECT * FROM (" + counted + ") c(bin, count)", bins), None)
    if _coded(view, frames, bins):
        counted = (
            f"SELECT c.bin, sum(c.count)::BIGINT AS count FROM {CODES_TABLE} c"
            f" WHERE c.bin < {bins} AND " + _label_filter(view.plan, field, "c") + " GROUP BY c.bin"
        )
        return _over_codes(view, _binned(counted, bins), bins)
    counted = (
        f"SELECT {confidence_bin(bins)} AS bin, count(*) AS count FROM rois r"
        " WHERE r.confidence IS NOT NULL AND "
        + view_rois_where(view, field, frames)
        + " GROUP BY bin"
    )
    return view.facet(_binned(counted, bins), frames)


def _binned(counted: Compiled, bins: int) -> Compiled:
    """(bin_start, bin_end, count) of every bin, from a query of (bin, count)."""
    return (
        f"SELECT b.range / {bins}.0 AS bin_start, (b.range + 1) / {bins}.0 AS bin_end,"
        " coalesce(c.count, 0)::BIGINT AS count"
        f" FROM range({bins}) b LEFT JOIN (" + counted + ") c ON c.bin = b.range ORDER BY bin_start"
    )


def tag_counts(view: View) -> pa.Table:
    """(tag, count): frame tags among the view's frames, most frequent first."""
    # Without any frame tag the answer needs no frames (a view answered by the catalog's frame
    # groups then reads none)
    tagged = Compiled("SELECT count(*) FROM (SELECT 1 FROM tags WHERE roi_id IS NULL LIMIT 1)")
    if not execute(view.catalog, tagged).column(0)[0].as_py():
        frames = None
    else:  # from the tagged frames' groups when a lake's groups answer (query/group_memo.py)
        grouped = view.groups()
        counted = None if grouped is None else group_memo.tag_counts(view, grouped)
        if counted is not None:
            return counted
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
