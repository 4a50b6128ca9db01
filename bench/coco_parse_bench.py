"""The COCO annotations' parses, each way the engine offers, on the bench file's pieces.

    python bench/coco_parse_bench.py                      # 100,000 images, 5 runs, 1 thread
    python bench/coco_parse_bench.py --images 20000 --runs 3 --statement

The import parses each annotation twice: its piece into the records' texts (`texts`, as
`_coco_sql.ITEMS_OF_PIECE`), then each text into its keys (`keys from texts`, the
`from_json(x, ANN)` of `_coco_sql.ANNOTATION_ROWS`). Timed beside them, alternately, in one
engine of `--threads` threads (one: the CPU of a parse, not of its spread over the cores):
the keys taken by `json_extract` paths or by `->` from the texts, and one parse of each
piece straight into the keys (`keys from pieces`: no record's text), into the keys and the
texts at once, and into a map of every key. The keys parsed from the pieces are checked equal
to those parsed from the texts. With `--statement` the import runs on the same file, and the
annotations' statement, whole and its parse alone, is timed on its staged tables. CPU is the
process's (every thread of the engine); medians, minimums and the load average are printed.
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

import duckdb
import pyarrow as pa
from formats_bench import write_coco
from step_cpu import load, process_cpu

from workbench.ingest import _coco_columnar, _coco_staged
from workbench.ingest import _coco_sql as sql
from workbench.ingest._coco_pieces import members, pieces

_ANN_LIST = "[" + sql.ANN + "]"
_FROM_PIECE = "SELECT first, from_json(decode(x), '{shape}') AS r FROM _wb_piece"
# Each parse as a table made (so that every value is written out), by name.
PARSES = {
    "texts (the import's first)": (
        "SELECT unnest(r) AS x, generate_subscripts(r, 1) - 1 + first AS i FROM ("
        + _FROM_PIECE.format(shape='["JSON"]')
        + ")"
    ),
    "keys from texts (its second)": f"SELECT i, from_json(x, '{sql.ANN}') AS d FROM _wb_items",
    "keys by json_extract paths": (
        "SELECT i, json_extract(x, ['$.id', '$.image_id', '$.category_id', '$.bbox',"
        " '$.segmentation', '$.score', '$.iscrowd', '$.area', '$.supercategory']) AS d"
        " FROM _wb_items"
    ),
    "keys by -> (a parse each)": (
        "SELECT i, x->'$.id' AS a, x->'$.image_id' AS b, x->'$.category_id' AS c,"
        " x->'$.bbox' AS e, x->'$.segmentation' AS f, x->'$.score' AS g,"
        " x->'$.iscrowd' AS h, x->'$.area' AS k, x->'$.supercategory' AS l FROM _wb_items"
    ),
    "keys from pieces (no texts)": (
        "SELECT unnest(r) AS d, generate_subscripts(r, 1) - 1 + first AS i FROM ("
        + _FROM_PIECE.format(shape=_ANN_LIST)
        + ")"
    ),
    "keys and texts from pieces": (
        "SELECT unnest(r) AS d, unnest(q) AS x, generate_subscripts(r, 1) - 1 + first AS i"
        f" FROM (SELECT first, from_json(decode(x), '{_ANN_LIST}') AS r,"
        """ from_json(decode(x), '["JSON"]') AS q FROM _wb_piece)"""
    ),
    "every key, a map from pieces": (
        "SELECT unnest(r) AS d FROM (" + _FROM_PIECE.format(shape='["MAP(VARCHAR, JSON)"]') + ")"
    ),
}
# The annotations' statement on the import's staged tables: whole, and its parse alone.
STATEMENT = {
    "the annotations' statement": sql.ANNOTATION_ROWS,
    "of it, the parse alone": f"SELECT i, try(from_json(x, '{sql.ANN}')) AS d FROM _wb_items",
}


def timed(con: Any, statements: dict[str, str], runs: int) -> dict[str, list[tuple[float, float]]]:
    """(CPU, wall) seconds of each statement made into a table, `runs` times, alternately."""
    spent: dict[str, list[tuple[float, float]]] = {name: [] for name in statements}
    for _ in range(runs):
        for name, statement in statements.items():
            cpu, wall = process_cpu(), time.perf_counter()
            con.execute("CREATE OR REPLACE TEMP TABLE _wb_t AS " + statement)
            spent[name].append((process_cpu() - cpu, time.perf_counter() - wall))
    con.execute("DROP TABLE IF EXISTS _wb_t")
    return spent


def show(spent: dict[str, list[tuple[float, float]]]) -> None:
    for name, runs in spent.items():
        cpu = [c for c, _ in runs]
        wall = statistics.median(w for _, w in runs)
        print(
            f"  {name:32s} CPU median {statistics.median(cpu):.3f} s, min {min(cpu):.3f} s;"
            f" wall median {wall:.3f} s",
            flush=True,
        )


def staged(path: Path, threads: int) -> duckdb.DuckDBPyConnection:
    """An engine holding the annotations' pieces (`_wb_piece`) and texts (`_wb_items`),
    staged as the import stages them."""
    found = members(path, _coco_columnar.PIECE_BYTES)
    assert found is not None, "the bench file is cut"
    member = found["annotations"]
    table = pa.table(
        {
            "x": pa.array(list(pieces(path, member)), pa.binary()),
            "first": pa.array(member.firsts.tolist(), pa.int64()),
            "odd": pa.array([False] * len(member.firsts)),
        }
    )
    con = duckdb.connect(config={"threads": threads})
    con.register("_wb_piece", table)
    con.execute(sql.ITEMS_TABLE.format(table="_wb_items"))
    con.execute(sql.ITEMS_OF_PIECE.format(table="_wb_items"))
    return con


def differing(con: Any) -> int:
    """Records whose keys parsed from the pieces differ from those parsed from the texts."""
    one = f"SELECT i, d::VARCHAR FROM ({PARSES['keys from pieces (no texts)']})"
    two = f"SELECT i, d::VARCHAR FROM ({PARSES['keys from texts (its second)']})"
    query = f"SELECT count(*) FROM (({one} EXCEPT ALL {two}) UNION ALL ({two} EXCEPT ALL {one}))"
    return int(con.execute(query).fetchall()[0][0])


def statement(path: Path, threads: int, runs: int) -> dict[str, list[tuple[float, float]]]:
    """The annotations' statement timed on the tables an import of `path` stages (its
    engine held to `threads`)."""
    spent: dict[str, list[tuple[float, float]]] = {}
    add, plans = _coco_staged.InEngine.add, _coco_columnar.plans

    def adding(self: Any, con: Any, converted: Any = None) -> None:
        spent.update(timed(con, STATEMENT, runs))
        add(self, con, converted)

    def one_plan() -> Any:
        first, second = plans()
        return dataclasses.replace(first, threads=threads), second

    import workbench
    from workbench.ingest import coco

    _coco_staged.InEngine.add = adding  # type: ignore[method-assign]
    _coco_columnar.plans = one_plan
    try:
        with (
            tempfile.TemporaryDirectory() as folder,
            workbench.open(Path(folder) / "c.db") as catalog,
        ):
            report = coco.import_files(catalog, [path], progress=False, id_prefix="bench:")
    finally:
        _coco_staged.InEngine.add = add  # type: ignore[method-assign]
        _coco_columnar.plans = plans
    assert report.ok and spent, report
    return spent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=100_000)
    parser.add_argument("--file", type=Path, help="the bench file (written if absent)")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--statement", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        path = args.file or Path(folder) / "coco.json"
        if not path.exists():
            write_coco(path, args.images)
        con = staged(path, args.threads)
        count = con.execute("SELECT count(*) FROM _wb_items").fetchall()[0][0]
        print(f"{path}: {count:,} annotations, {args.threads} thread(s); load {load()}")
        show(timed(con, PARSES, args.runs))
        print(f"  keys from pieces and from texts: {differing(con)} records differ")
        con.close()
        print(f"load {load()}", flush=True)
        if args.statement:
            show(statement(path, args.threads, args.runs))
            print(f"load {load()}", flush=True)


if __name__ == "__main__":
    main()
