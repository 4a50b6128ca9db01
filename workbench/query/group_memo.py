"""What the lake's frame groups (query/groups.py) answer with a little remembered: a view's
frame tag counts and numeric range histograms.

Tags. A view filtered on the groups' columns holds whole groups, so a tagged frame is among its
frames exactly when the frame's group is among its groups. Tags live in the catalog and are
few next to the frames; which group a tagged frame is in depends only on the lake's snapshot.
So the catalog remembers, per snapshot of the groups, the group of every tagged frame it has
looked up (one read of the frames for the tagged frames it has not seen yet), and counts a
view's tags from the tags table (read afresh each time: tagging and untagging show at once)
joined to those groups. A frame id stored twice (a job's rows) maps to each of its frames'
groups and counts once, as the frames' join counts it.

Range histograms (those the histograms stored with the groups do not answer: other bounds
or bins than store/group_ranges.py merges, keys not kept). A key's values among a view's
frames in given bins are the sum over the view's groups of each group's histogram in those
bins. The first histogram of a key, bounds
and bins asked for a grouped view counts every group's in one read of the frames (what one
histogram of a filtered view reads anyway); every other WHERE on the groups' columns then
sums a few thousand remembered rows. Exact: the same bins of the same values, counted per
group, for the snapshot the groups describe.
"""

from __future__ import annotations

import threading
import weakref
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import pyarrow as pa

from workbench.query._sql import Compiled, execute
from workbench.query.groups import GroupSet
from workbench.store.groups import GROUP
from workbench.store.sqlsafe import quote_ident

if TYPE_CHECKING:
    from workbench.query.view import View
    from workbench.store.catalog import Catalog

# Past this many tagged frames the lookups stop paying: the view's frames are read instead.
MAX_TAGGED = 500_000
PAIRS = "_wb_tag_groups"
MISSING = "_wb_tag_missing"
# Counts remembered per snapshot at most (a key's histogram: groups x bins rows).
MAX_COUNTED = 32
COUNTED = "_wb_group_counted"


@dataclass
class _Known:
    """The groups of the tagged frames looked up, for one snapshot of the groups."""

    state: tuple[str, ...]
    pairs: pa.Table  # (frame_id, _wb_group)
    ids: set[str] = field(default_factory=set)
    # what `per_group` counted, by name: (g, ...) rows
    counted: dict[tuple[object, ...], pa.Table] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)


_KNOWN: weakref.WeakKeyDictionary[Catalog, _Known] = weakref.WeakKeyDictionary()
_KNOWN_LOCK = threading.Lock()
_EMPTY = pa.table({"frame_id": pa.array([], pa.string()), GROUP: pa.array([], pa.int32())})


def remembers(catalog: Catalog) -> bool:
    """Whether the catalog's groups are remembered here: a lake's, whose snapshot versions
    name what they describe (a local catalog's groups are counted again after writes with
    nothing that tells one count from the next, so its views read the frames)."""
    return catalog.lake is not None


def tag_counts(view: View, groups: GroupSet) -> pa.Table | None:
    """(tag, count) of the view's frames from its groups, or None when there are too many
    tagged frames to look up or the groups are not remembered (the caller reads the frames)."""
    catalog = view.catalog
    if not remembers(catalog):
        return None
    tagged = execute(
        catalog, Compiled("SELECT DISTINCT frame_id FROM tags WHERE roi_id IS NULL")
    ).column(0)
    if len(tagged) > MAX_TAGGED:
        return None
    known = _known(catalog, groups)
    with known.lock:
        missing = [i for i in tagged.to_pylist() if i not in known.ids]
        if missing:
            found = _look_up(catalog, groups, missing)
            known.pairs = pa.concat_tables([known.pairs, found])
            known.ids.update(missing)
        pairs = known.pairs
    query = Compiled(
        f"SELECT t.tag, count(DISTINCT t.frame_id) AS count FROM tags t"
        f" JOIN {PAIRS} p ON p.frame_id = t.frame_id WHERE t.roi_id IS NULL"
        f" AND {groups.within('p')} GROUP BY t.tag ORDER BY count DESC, t.tag"
    )
    return execute(catalog, query, tables={**groups.tables, PAIRS: pairs})


def _known(catalog: Catalog, groups: GroupSet) -> _Known:
    """What the catalog remembers for the groups' snapshot (forgotten when it moved)."""
    lake = catalog.lake
    assert lake is not None
    state = (*groups.columns, *(f"{n}@{t.version}" for n, t in sorted(lake.tables.items())))
    with _KNOWN_LOCK:
        known = _KNOWN.get(catalog)
        if known is None or known.state != state:
            known = _KNOWN[catalog] = _Known(state, _EMPTY)
        return known


def grouped_frames(groups: GroupSet) -> str:
    """SQL: the frames (alias f) joined to their group (alias g)."""
    matched = " AND ".join(
        f"g.{quote_ident(c)} IS NOT DISTINCT FROM f.{quote_ident(c)}" for c in groups.columns
    )
    kept = groups.kept.view
    join = f"JOIN {kept} g ON {matched}" if groups.columns else f"CROSS JOIN {kept} g"
    return f"frames f {join}"


def per_group(view: View, groups: GroupSet, name: tuple[object, ...], query: Compiled) -> pa.Table:
    """The rows of `query` (over `grouped_frames`, with the group's `_wb_group` column)
    that belong to the view's groups, without that column; `query` runs once per snapshot
    and `name`."""
    known = _known(view.catalog, groups)
    with known.lock:
        counted = known.counted.get(name)
        if counted is None:
            while len(known.counted) >= MAX_COUNTED:  # the oldest first
                known.counted.pop(next(iter(known.counted)))
            counted = known.counted[name] = execute(view.catalog, query)
    mine = Compiled(f"SELECT * EXCLUDE ({GROUP}) FROM {COUNTED} c WHERE {groups.within('c')}")
    return execute(view.catalog, mine, tables={**groups.tables, COUNTED: counted})


def _look_up(catalog: Catalog, groups: GroupSet, ids: list[str]) -> pa.Table:
    """(frame_id, group) of the frames with these ids: one read of the frames."""
    query = Compiled(
        f"SELECT DISTINCT f.id AS frame_id, g.{GROUP} FROM {grouped_frames(groups)}"
        f" WHERE f.id IN (SELECT frame_id FROM {MISSING})"
    )
    found = execute(catalog, query, tables={MISSING: pa.table({"frame_id": ids})})
    return found.cast(_EMPTY.schema) if found.num_rows else _EMPTY


def forget(catalog: Catalog) -> None:
    """Drop what the catalog remembers (tests; a catalog closed is forgotten by itself)."""
    with _KNOWN_LOCK:
        _KNOWN.pop(catalog, None)
