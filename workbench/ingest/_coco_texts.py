"""The records' texts of a COCO instances document staged in the import's engine.

Each top-level array is parsed by DuckDB's JSON reader AT_ONCE pieces to a statement, each on
a thread of its own (pieces of about PIECE_BYTES cut by workbench.ingest._coco_pieces, which
gives each one's first record's number; a document that cannot be cut, whole), its records
numbered in file order with their texts: the categories and images first, then the
annotations a batch of pieces at a time. What only the engine's parser takes (NaN, numbers
past a double, a comma before a closing bracket) is found here first (one pass of RE2 over
the bytes), so that those records keep their texts as written, or the file goes record by
record.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from workbench.ingest import _coco_sql as sql
from workbench.ingest._coco_pieces import Member, piece_arrays
from workbench.ingest._columnar import NOT_FINITE, NOT_JSON, trailing_comma
from workbench.ingest.jsonread import raw_items
from workbench.model.limits import MAX_JSON_DEPTH
from workbench.store.arrow import registered

# What the engine's parser raises for a document that is not for it (malformed JSON, bytes
# not UTF-8, a record past its size): read record by record, each error naming its record.
NOT_FOR_THE_ENGINE = (duckdb.InvalidInputException, duckdb.ConversionException)
_ITEMS = {"categories": "_wb_cat_items", "images": "_wb_image_items", "annotations": "_wb_items"}
# Pieces parsed by one statement: the engine parses each on a thread of its own (one Arrow
# batch each), where a statement of one piece ran on one core. Python holds their bytes.
# (Four at a time made a later statement of the update, the digests', cost 0.2 s more CPU in
# about one run in three, on two cores; two did not, in ten.)
AT_ONCE = 2
_PIECE = pa.schema([("x", pa.binary()), ("first", pa.int64()), ("odd", pa.bool_())])


class _ByRecord(Exception):
    """The annotations' pieces are to be read record by record (see read_texts)."""


def read_texts(con: Any, path: Path, found: dict[str, Member] | None, size: int) -> bool:
    """Stage the records' texts with their numbers: `_wb_image_items`, `_wb_cat_items`, and
    for a document that is not cut (`found` None) `_wb_items` (the annotations, else read by
    annotation_batches); a piece at a time when the document is cut.
    False when they must be read record by record instead: bytes holding a comma before a
    closing bracket (the engine's parser takes it and drops it from the record's text), or a
    document that cannot be cut holding anything only that parser takes."""
    if found is None:
        if _odd(pa.array([path.read_bytes()], pa.large_binary())) is not False:
            return False  # rare, and its records' texts as written are not at hand
        con.execute(sql.READ, {"file": str(path.resolve()), "size": size + 1})
        for key, table in _ITEMS.items():
            con.execute(sql.ITEMS_OF_DOC.format(table=table, key=key))
        con.execute("DROP TABLE _wb_doc")
        return True
    for key in ("categories", "images"):
        con.execute(sql.ITEMS_TABLE.format(table=_ITEMS[key]))
        for group in _groups(path, found[key]):
            if _pieces(con, _ITEMS[key], group, found[key].deepest) is None:
                return False
    return True


def annotation_batches(
    con: Any, path: Path, found: dict[str, Member] | None, batch_bytes: int
) -> Iterator[None]:
    """Fill `_wb_items` with the annotations' records a batch of pieces at a time (of about
    `batch_bytes`; at least one batch, maybe of none), yielding when it holds one;
    _ByRecord when they are to be read record by record (see read_texts). (A document not cut is
    one batch, read by read_texts.)"""
    if found is None:
        yield
        return
    # The table is emptied only before a piece to come is added: a batch yielded last stays
    # (an import that hashed its one batch for the lookup converts it after).
    count, held, empty_first = 0, 0, True
    for group in _groups(path, found["annotations"]):
        if empty_first:
            con.execute(sql.ITEMS_TABLE.format(table="_wb_items"))
            empty_first = False
        try:
            added = _pieces(con, "_wb_items", group, found["annotations"].deepest)
        except NOT_FOR_THE_ENGINE as exc:
            raise _ByRecord from exc
        if added is None:
            raise _ByRecord
        count, held = count + added, held + sum(_size(piece) for _, piece, _ in group)
        if held >= batch_bytes:
            yield
            empty_first, held = True, 0
    if held or not count:
        if empty_first:  # no piece at all
            con.execute(sql.ITEMS_TABLE.format(table="_wb_items"))
        yield


def _groups(path: Path, member: Member) -> Iterator[list[tuple[int, pa.Array, int | None]]]:
    """The member's pieces, AT_ONCE at a time: (number of the first record, the piece (one
    binary value), count of records or None for the last piece, whose count the cuts do not
    give)."""
    firsts = member.firsts.tolist()
    counts: list[int | None] = [b - a for a, b in itertools.pairwise(firsts)]
    numbered = zip(firsts, piece_arrays(path, member), [*counts, None], strict=True)
    while group := list(itertools.islice(numbered, AT_ONCE)):
        yield group


def _pieces(
    con: Any, table: str, group: list[tuple[int, pa.Array, int | None]], deepest: int
) -> int | None:
    """Add the records of the pieces `group` (see _groups) to `table`, each numbered on from
    its first's number, in one statement: how many; None when the file is to be read record
    by record (see read_texts), or when a piece holds another count of records than its cuts
    say (then the engine parsed what a strict parser would not)."""
    batches, odds = [], []
    for first, data, _ in group:
        odd = _odd(data)
        if odd is None:
            return None
        odds.append(odd)
        deep = odd or deepest > MAX_JSON_DEPTH
        batches.append(pa.record_batch([data, pa.array([first]), pa.array([deep])], _PIECE))
    with registered(con, "_wb_piece", pa.Table.from_batches(batches)):
        added = int(con.execute(sql.ITEMS_OF_PIECE.format(table=table)).fetchall()[0][0])
    known = [count for _, _, count in group]
    if None not in known and added != sum(c for c in known if c is not None):
        return None
    for (first, data, _), odd in zip(group, odds, strict=True):
        if odd:
            _raw_texts(con, table, data[0].as_py(), first)
    return added


def _size(piece: pa.Array) -> int:
    """The bytes of a piece (one binary value)."""
    return len(piece.buffers()[2])


def _raw_texts(con: Any, table: str, piece: bytes, first: int) -> None:
    """Give the records of `piece` (numbered from `first`) that hold what only the engine's
    parser takes their text as written: the engine's own writes NaN and numbers its way, and
    the per-record path's error names the place in the record as written."""
    odd = re.compile(NOT_FINITE.encode())
    rows = [
        (first + n, raw.decode())
        for n, raw in enumerate(raw_items(piece))
        if raw is not None and odd.search(raw)
    ]
    if rows:
        i, x = zip(*rows, strict=True)
        con.register("_wb_raw", pa.table({"i": pa.array(i, pa.int64()), "x": pa.array(x)}))
        con.execute(sql.RAW_TEXTS.format(table=table))
        con.unregister("_wb_raw")


def _odd(data: pa.Array) -> bool | None:
    """Whether the bytes (one value) hold what only the engine's JSON parser takes, so that
    their records are looked at one by one in SQL; None when that is a comma before a closing
    bracket. (One pass of RE2 over the bytes: 2 ns a byte.)"""
    if not pc.any(pc.match_substring_regex(data, NOT_JSON)).as_py():
        return False
    return None if trailing_comma(data[0].as_py()) else True
