"""One batch of Nucleus scene lines converted by SQL (workbench.ingest._nucleus_sql) on the
import's in-memory engine: the rows of the scenes SQL takes, in line and item order, each
line's scene and slice of them, and the lines left to the per-record path."""

from __future__ import annotations

import math
import mimetypes

import duckdb
import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc

from workbench.ingest import _nucleus_sql as sql
from workbench.ingest._nucleus_export import FPS_KEY, SCENE_KEY
from workbench.model.limits import MAX_JSON_FIELD_BYTES
from workbench.model.records import PROMOTED_KEYS

# line -> (its scene, the slice of the rows that are its frames)
Scenes = dict[int, tuple[str, slice]]


def content_types() -> tuple[pa.Table, pa.Table]:
    """File extension -> content type as mimetypes.guess_type reads it, and the extensions it
    reads through another (compressions, `.tgz`...), which SQL leaves to Python."""
    mimetypes.guess_type("x.jpg")  # loads the tables
    known = mimetypes.types_map
    odd = {e.lower() for e in [*mimetypes.suffix_map, *mimetypes.encodings_map]}
    return (
        pa.table({"ext": list(known), "type": list(known.values())}),
        pa.table({"ext": sorted(odd)}),
    )


class Strict:
    """Which form of sql.SCENES an import's batches take: the strict parse first (sql.SCENES)
    until a batch most of whose lines it refused, then the whole parse and check alone
    (sql.SCENES_WHOLE) for the next RETRY batches, then the strict parse again. A line the
    strict parse refuses is parsed twice, so a file whose lines it refuses (items without
    metadata) pays that on one batch in RETRY + 1; a file's lines are alike as a rule."""

    RETRY = 8

    def __init__(self) -> None:
        self._whole = 0  # batches left to take the whole form

    def statement(self) -> str:
        return sql.SCENES if self._whole == 0 else sql.SCENES_WHOLE

    def saw(self, con: duckdb.DuckDBPyConnection) -> None:
        """Count the batch just converted (`_nu_s`) in."""
        if self._whole:
            self._whole -= 1
            return
        taken, lines = con.execute(
            "SELECT count(*) FILTER (WHERE strict), count(*) FROM _nu_s"
        ).fetchall()[0]
        if 2 * taken < lines:
            self._whole = self.RETRY


def convert(
    con: duckdb.DuckDBPyConnection,
    strict: Strict | None = None,
    types: tuple[pa.Table, pa.Table] | None = None,
) -> tuple[pa.Table, Scenes]:
    """The rows of the scenes SQL takes among `_wb_lines`, and per line its scene and rows'
    slice; `strict` chooses the scenes' statement (None: the strict parse first), `types` are
    `content_types()` (None: read now)."""
    con.execute(strict.statement() if strict is not None else sql.SCENES)
    if strict is not None:
        strict.saw(con)
    tails = _tails(con.execute("SELECT n, rate, scene_meta FROM _nu_s WHERE ok").fetchall())
    found = con.execute(sql.KEYS).fetchall()
    keys = sql.usable_keys(found[0][0] if found else None)
    con.register("_nu_tails", tails)
    try:
        items = in_order(con.sql(sql.items(keys)).to_arrow_table())
    finally:
        con.unregister("_nu_tails")
    return _taken(con, items, types if types is not None else content_types())


def _taken(
    con: duckdb.DuckDBPyConnection, items: pa.Table, types: tuple[pa.Table, pa.Table]
) -> tuple[pa.Table, Scenes]:
    """The rows of the scenes all of whose items (`items`, in line and item order) SQL takes:
    every item ok, its file extension not one mimetypes reads through another, its metadata
    well within the limit, and no reference_id twice in its scene; its items' metadata keys
    given once each (vouched for by `items`, else METADATA_KEYS)."""
    lines = items["_line"].to_numpy()
    found, starts = np.unique(lines, return_index=True)
    if not len(found):
        return _rows(items, types[0]), {}
    sizes = np.diff(np.append(starts, len(lines)))
    known, odd = types
    ok = _flags(items["ok"])
    ok &= ~_flags(pc.is_in(items["ext"], value_set=odd["ext"].combine_chunks()))
    ok &= _flags(pc.less_equal(pc.binary_length(items["metadata"]), MAX_JSON_FIELD_BYTES - 4096))
    good = np.logical_and.reduceat(ok, starts) & _ids_once(items, found, sizes)
    doubt = good & ~np.logical_and.reduceat(_flags(items["vouched"]), starts)
    if doubt.any():
        twice = con.execute(sql.METADATA_KEYS, [found[doubt].tolist()]).fetchall()
        good &= ~np.isin(found, [n for (n,) in twice])
    contexts = items["context_id"].take(pa.array(starts[good])).to_pylist()
    if not good.all():
        items = items.filter(pa.array(np.repeat(good, sizes)))
    kept = sizes[good]
    firsts = np.cumsum(kept) - kept
    scenes = {
        int(n): (context, slice(int(a), int(a + k)))
        for n, context, a, k in zip(found[good], contexts, firsts, kept, strict=True)
    }
    return _rows(items, known), scenes


def _flags(column: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """A boolean column as numpy, NULL as false."""
    return np.asarray(column.fill_null(False).to_numpy(zero_copy_only=False), dtype=bool)


def _ids_once(items: pa.Table, found: np.ndarray, sizes: np.ndarray) -> np.ndarray:
    """Per line of `found` (with `sizes` items each), whether its items give each a
    reference_id, none twice (counted per line only when the batch gives one twice or none)."""
    ids = items["id"]
    if ids.null_count == 0 and pc.count_distinct(ids).as_py() == len(ids):
        return np.ones(len(found), dtype=bool)
    pairs = pa.table({"n": items["_line"], "id": ids}).filter(pc.is_valid(ids))
    numbers, counts = np.unique(
        pairs.group_by(["n", "id"]).aggregate([])["n"].to_numpy(), return_counts=True
    )
    distinct = np.zeros(len(found), dtype=np.int64)
    distinct[np.searchsorted(found, numbers)] = counts
    return distinct == sizes


_ROW_COLUMNS = ["_line", "id", "context_id", "frame_index", "num_frames", "timestamp", "uri"]


def _rows(items: pa.Table, known: pa.Table) -> pa.Table:
    """The catalog's columns of `items` (_nucleus_rows), each item's content type looked up
    by its file extension among mimetypes' `known` ones."""
    at = pc.index_in(items["ext"], value_set=known["ext"].combine_chunks())
    content_type = pc.take(known["type"].combine_chunks(), at)
    after = ["metadata", *PROMOTED_KEYS]
    arrays = [*(items[c] for c in _ROW_COLUMNS), content_type, *(items[c] for c in after)]
    return pa.Table.from_arrays(arrays, names=[*_ROW_COLUMNS, "content_type", *after])


def _tails(scenes: list[tuple[int, str, str | None]]) -> pa.Table:
    """Per scene SQL may take: its frame rate as Python reads it and the end of each of its
    frames' metadata text (`"scene":...,"fps":...}`) as the per-record path writes it."""
    numbers, rates, tails = [], [], []
    for n, rate_text, meta_text in scenes:
        rate = float(orjson.loads(rate_text))
        if not (math.isfinite(rate) and rate > 0):
            continue
        meta = orjson.loads(meta_text) if meta_text is not None else {}
        scene = f'"{SCENE_KEY}":{orjson.dumps(meta).decode()},' if meta else ""
        numbers.append(n)
        rates.append(rate)
        tails.append(f'{scene}"{FPS_KEY}":{orjson.dumps(rate).decode()}}}')
    return pa.table(
        {
            "n": pa.array(numbers, pa.int64()),
            "rate": pa.array(rates, pa.float64()),
            "tail": pa.array(tails, pa.string()),
        }
    )


def others(con: duckdb.DuckDBPyConnection, good: set[int], lines: int) -> list[tuple[int, str]]:
    """The lines SQL did not take of the `lines` lines of `_wb_lines` (the texts of the
    others stay in the engine; none is read when SQL took every line)."""
    if len(good) == lines:
        return []
    return con.execute(
        "SELECT n, j FROM _wb_lines WHERE NOT list_contains(?::BIGINT[], n) ORDER BY n",
        [sorted(good)],
    ).fetchall()


def in_order(rows: pa.Table) -> pa.Table:
    """The rows in line and item order (sorted only when the engine gave another)."""
    lines = rows["_line"].to_numpy()
    items = rows["frame_index"].to_numpy()
    later = (lines[1:] > lines[:-1]) | ((lines[1:] == lines[:-1]) & (items[1:] > items[:-1]))
    if bool(later.all()):
        return rows
    return rows.take(pc.sort_indices(rows, [("_line", "ascending"), ("frame_index", "ascending")]))
