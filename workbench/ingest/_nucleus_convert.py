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
    con: duckdb.DuckDBPyConnection, strict: Strict | None = None
) -> tuple[pa.Table, Scenes]:
    """The rows of the scenes SQL takes among `_wb_lines`, and per line its scene and rows'
    slice; `strict` chooses the scenes' statement (None: the strict parse first)."""
    con.execute(strict.statement() if strict is not None else sql.SCENES)
    if strict is not None:
        strict.saw(con)
    tails = _tails(con.execute("SELECT n, rate, scene_meta FROM _nu_s WHERE ok").fetchall())
    con.register("_nu_tails", tails)
    try:
        con.execute(sql.ITEMS)
        con.execute(sql.GOOD)
        rows = in_order(con.sql(sql.ROWS).to_arrow_table())
        names = con.execute(
            "SELECT n, context_id FROM _nu_s WHERE n IN (SELECT n FROM _nu_good)"
        ).fetchall()
    finally:
        con.unregister("_nu_tails")
    lines = rows["_line"].to_numpy()
    found, starts = np.unique(lines, return_index=True)
    ends = np.append(starts[1:], len(lines))[: len(starts)]
    spans = {int(n): slice(int(a), int(b)) for n, a, b in zip(found, starts, ends, strict=True)}
    return rows, {n: (context, spans[n]) for n, context in names if n in spans}


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


def others(con: duckdb.DuckDBPyConnection, good: set[int]) -> list[tuple[int, str]]:
    """The lines SQL did not take (the texts of the others stay in the engine)."""
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
