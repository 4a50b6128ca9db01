"""The whole catalog's contexts and promoted values, read from the summaries the store keeps
at every write (store/summaries.py) instead of every frame: the app's first page.

Each answer is the same as the per-frame query's (tests/query/test_whole_catalog.py); None
when the catalog keeps no summaries (a lake-backed catalog, one not migrated) or they do not
count every stored frame, and the caller reads the frames.
"""

from __future__ import annotations

import weakref
from typing import TYPE_CHECKING

import pyarrow as pa

from workbench.query._sql import Compiled, execute
from workbench.store import layout, summaries

if TYPE_CHECKING:
    from workbench.store.catalog import Catalog

# Whether a catalog's summaries are current, by its generation (it changes at every commit).
_CURRENT: weakref.WeakKeyDictionary[Catalog, tuple[int, bool]] = weakref.WeakKeyDictionary()


def kept(catalog: Catalog) -> bool:
    """Whether the catalog's summaries answer for its whole set of frames now: not for a
    lake-backed catalog, one not migrated, or after a write that stored or deleted frames
    behind the store's writers (tests/query/test_whole_catalog.py). The check costs two
    reads, and the first page asks it for each of its three whole-catalog reads: it is
    made once per generation."""
    if getattr(catalog, "lake", None) is not None:
        return False
    generation = getattr(catalog, "generation", 0)
    known = _CURRENT.get(catalog)
    if known is not None and known[0] == generation:
        return known[1]
    con = catalog.cursor()
    try:
        current = summaries.current(con)
    finally:
        con.close()
    _CURRENT[catalog] = (generation, current)
    return current


def context_count(catalog: Catalog) -> int | None:
    """How many contexts hold frames."""
    if not kept(catalog):
        return None
    counted = execute(catalog, Compiled(f"SELECT count(*) FROM {summaries.CONTEXTS}"))
    return int(counted.column(0)[0].as_py())


def contexts(catalog: Catalog, offset: int, limit: int | None) -> pa.Table | None:
    """A page of the catalog's contexts by context_id, as View.contexts() gives them."""
    if not kept(catalog):
        return None
    window = f" LIMIT {int(limit)}" if limit is not None else ""
    window += f" OFFSET {int(offset)}" if offset else ""
    query = (
        "SELECT context_id, frames, frames AS total_frames, first_timestamp, last_timestamp,"
        f" first_frame_id FROM {summaries.CONTEXTS} ORDER BY context_id{window}"
    )
    return execute(catalog, Compiled(query))


def value_counts(catalog: Catalog, columns: str) -> pa.Table | None:
    """(values_key, the promoted keys' `columns` of `value_keys k`, n): the frames of each
    values key, as the facets group a view's frames by it."""
    if not kept(catalog):
        return None
    query = (
        f"SELECT g.{layout.VALUES_KEY}, {columns}, g.frames AS n FROM {summaries.VALUES} g"
        f" LEFT JOIN {layout.VALUE_KEYS} k ON k.{layout.VALUES_KEY} = g.{layout.VALUES_KEY}"
    )
    return execute(catalog, Compiled(query))
