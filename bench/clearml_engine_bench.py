"""The ClearML first import converted in the catalog's own engine: a prototype, measured
against the importer as it is.

    python bench/clearml_engine_bench.py                  # 2 rounds, each side alternately
    python bench/clearml_engine_bench.py --rounds 3 --threads 1 --scale 0.2

The importer converts each batch of lines on an in-memory engine of one thread
(ingest/_clearml_columnar.py), fetches the frames' and ROIs' rows as Arrow, and hands them to
the catalog's INSERTs (`store.layout_insert.insert_keyed`). The prototype (`engine`) runs the
same statements (ingest/_clearml_sql.py) on the catalog's own connection inside the write's
transaction, into TEMP tables, and inserts the rows from there, keyed in SQL: frame keys by
`row_number()` in line order from `next_frame_key`, context keys by their ids' hashes (a
fetch of the context ids only), values and label keys by joins of the few keys rows, the
summaries from a fetch of the ROIs' keys. No frame or ROI row crosses to Arrow.

It is the batch's path only, for the bench's file (every line SQL's, one source per frame,
ids once each): no per-record lines, no line digests, no media roots' count, ids checked
again within a write only. The importer runs here without its line digests too (`writer`;
`writer+digests`: as an import runs), so that both sides do the same work; their catalogs
are compared row by row (every column but `ingested`) at the end.

Each import runs in a process of its own, the sides alternately; printed for each: the
process's CPU (every thread, getrusage), minor page faults, peak RSS, the load average, and
for the prototype its steps' CPU and faults. `--threads` sets the catalog engine's threads
(WORKBENCH_THREADS; by default the cores, as an import runs).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import duckdb
import formats_bench
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

STEPS: dict[str, list[float]] = {}
FRAME_COLUMNS = (
    "id, dataset, version, context_id, timestamp, frame_index, num_frames, metadata, weather,"
    " time_of_day, camera, location, saved, saved_in_version"
)
ROI_COLUMNS = (
    "frame_id, id, field, label, labels, confidence, kind, geometry, x_min, y_min, x_max,"
    " y_max, area, source_ids, mask, attributes, track_index, keyframe"
)
# What `_wb_f`'s one-source columns are as a sources row.
SOURCE_OF_FRAME = (
    "f.id AS frame_id, f.id1 AS id, f.uri1 AS uri, f.width1 AS width, f.height1 AS height,"
    " f.content_type1 AS content_type, f.timestamp1 AS timestamp, f.preview1 AS preview_uri"
)
TEMP_TABLES = ("_wb_f", "_wb_r", "_wb_s", "_wb_sf", "_wb_rf", "_wb_good", "_wb_keep", "_wb_k")


def _usage() -> tuple[float, int]:
    used = resource.getrusage(resource.RUSAGE_SELF)
    return used.ru_utime + used.ru_stime, used.ru_minflt


@contextmanager
def step(name: str) -> Iterator[None]:
    cpu, faults = _usage()
    try:
        yield
    finally:
        now, now_faults = _usage()
        total = STEPS.setdefault(name, [0.0, 0])
        total[0] += now - cpu
        total[1] += now_faults - faults


# -- the prototype -------------------------------------------------------------------------
def convert(con: duckdb.DuckDBPyConnection, lines: pa.Table, base: str) -> None:
    """One batch's statements on the catalog's cursor, into TEMP tables, then stored."""
    from workbench.ingest import _clearml_sql as sql
    from workbench.ingest._clearml_columnar import _marked

    with step("marks"):
        lines = _marked(lines)
        labelled = pc.any(lines["l"]).as_py()
        typed = lines.filter(pc.invert(lines["l"])) if labelled else lines
        others = lines.filter(lines["l"]) if labelled else lines.slice(0, 0)
    for name, table in (("_wb_lines", lines), ("_wb_typed", typed), ("_wb_labelled", others)):
        con.register(name, table)
    where = {"base": base}
    with step("FRAMES"):
        frames = sql.FRAMES_LABELLED if labelled else sql.FRAMES
        con.execute(f"CREATE OR REPLACE TEMP TABLE _wb_f AS {frames}", where)
    with step("SOURCES"):
        con.execute(sql.SOURCES, where)
        con.execute(sql.SOURCES_BY_FRAME)
    with step("ROIS"):
        con.execute(f"CREATE OR REPLACE TEMP TABLE _wb_r AS {sql.ROIS}")
    with step("checks"):
        con.execute(sql.ROIS_BY_FRAME)
        if con.execute("SELECT NOT bool_and(one) FROM _wb_r").fetchall()[0][0]:
            con.execute(sql.ROIS_BY_FRAME_MANY)
        con.execute(sql.GOOD)
        con.execute(
            "SELECT n, id FROM _wb_good"
            " WHERE zero_area > 0 OR outside > 0 OR unknown_source > 0 OR no_sources"
        ).fetchall()
        left = con.execute("SELECT n FROM _wb_lines WHERE n NOT IN (SELECT n FROM _wb_good)")
        if left.fetchall():
            raise SystemExit("the prototype takes files whose every line SQL converts")
        con.execute(
            "CREATE OR REPLACE TEMP TABLE _wb_keep AS SELECT n, id,"
            " row_number() OVER (PARTITION BY id ORDER BY n) > 1"
            " OR id IN (SELECT id FROM _wb_seen) AS again FROM _wb_good"
        )
        con.execute("SELECT n, id FROM _wb_keep WHERE again").fetchall()
        con.execute("INSERT INTO _wb_seen SELECT id FROM _wb_keep WHERE NOT again")
        con.execute("DELETE FROM _wb_keep WHERE again")
    for name in ("_wb_lines", "_wb_typed", "_wb_labelled"):
        con.unregister(name)
    insert(con)


def insert(con: duckdb.DuckDBPyConnection) -> None:
    """The kept lines' rows inserted from the TEMP tables, keyed in SQL (a registered table
    of the context keys, and a fetch of the ROIs' keys for the summaries, the only Arrow)."""
    from workbench.store import layout, layout_arrays, layout_hashes, summaries_batch
    from workbench.store.sqlsafe import quote_ident

    first = layout.next_frame_key(con)
    with step("insert: keys"):
        con.execute(
            "CREATE OR REPLACE TEMP TABLE _wb_k AS SELECT n,"
            " (? - 1 + row_number() OVER (ORDER BY n))::BIGINT AS frame_key FROM _wb_keep",
            [first],
        )
        con.execute(
            "CREATE OR REPLACE TEMP VIEW _wb_kf AS"
            " SELECT f.*, k.frame_key FROM _wb_f f JOIN _wb_k k USING (n)"
        )
        contexts = con.sql("SELECT context_id, frame_key FROM _wb_kf").to_arrow_table()
        count = contexts.num_rows
        placed = layout_hashes.context_keys(con, contexts)
        keys = pa.table(
            {"frame_key": contexts["frame_key"], "context_key": pa.array(placed, pa.int32())}
        )
        con.register("_wb_ck", keys)
        layout.add_values_keys(con, "SELECT * FROM _wb_kf", [])
        values = layout.VALUES_KEY
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE _wb_fk AS SELECT k.n, k.frame_key, c.context_key,"
            f" v.{values} FROM _wb_kf k JOIN _wb_ck c USING (frame_key)"
            f" JOIN {layout.VALUE_KEYS} v ON {layout.same_values('v', 'k')}"
        )
        con.unregister("_wb_ck")
    with step("insert: frames"):
        layout.promote_while_small(con, "_wb_kf", count)
        promoted = layout.promoted_columns(con)
        columns = "".join(
            f", json_extract_string(f.metadata, ?) AS {quote_ident(column)}"
            for column in promoted.values()
        )
        named = ", ".join(f"f.{c.strip()}" for c in FRAME_COLUMNS.split(","))
        con.execute(
            f"INSERT INTO frames BY NAME SELECT {named}, k.frame_key, k.context_key, k.{values},"
            f" now()::TIMESTAMP AS ingested{columns} FROM _wb_f f JOIN _wb_fk k USING (n)",
            [layout.pointer(key) for key in promoted],
        )
        layout.set_next_frame_key(con, first + count)
        rows = "SELECT id, frame_key FROM _wb_kf"
        layout_hashes.added(con, layout_hashes.FRAMES, first, first + count, rows)
        made = con.sql(
            f"SELECT k.frame_key, k.context_key, k.{values}, f.context_id, f.id, f.timestamp,"
            " f.frame_index FROM _wb_f f JOIN _wb_fk k USING (n) ORDER BY k.frame_key"
        ).to_arrow_table()
        summaries_batch.count_new(con, first, made)
    with step("insert: sources"):
        con.execute(
            f"INSERT INTO sources BY NAME SELECT {SOURCE_OF_FRAME}, NULL AS masks, k.frame_key"
            " FROM _wb_f f JOIN _wb_k k USING (n) WHERE f.id1 IS NOT NULL"
            " UNION ALL SELECT s.frame_id, s.id, s.uri, s.width, s.height, s.content_type,"
            " s.timestamp, s.preview_uri, NULL, k.frame_key FROM _wb_s s JOIN _wb_k k USING (n)"
        )
    with step("insert: rois"):
        layout.add_label_keys(
            con, "SELECT DISTINCT field, label FROM _wb_r WHERE n IN (SELECT n FROM _wb_k)"
        )
        named = ", ".join(f"r.{c.strip()}" for c in ROI_COLUMNS.split(",")).replace(
            "r.geometry",
            "CASE WHEN len(r.ring) = 0 THEN []::DOUBLE[][] ELSE [r.ring] END AS geometry",
        )  # (ROIS gives each ROI's one ring; the import makes it a list in Arrow)
        con.execute(
            f"INSERT INTO rois BY NAME SELECT {named}, k.frame_key, l.label_key"
            " FROM _wb_r r JOIN _wb_k k USING (n) JOIN label_keys l ON l.field = r.field"
            " AND l.label IS NOT DISTINCT FROM r.label"
        )
    with step("insert: summaries"):
        found = con.sql(
            "SELECT frame_key, label_key, confidence FROM rois WHERE frame_key >= ?",
            params=[first],
        ).to_arrow_table()
        layout_arrays.store(
            con,
            np.arange(first, first + count, dtype=np.int64),
            found["frame_key"].to_numpy(),
            found["label_key"].to_numpy().astype(np.int32),
            found["confidence"].combine_chunks(),
        )


def engine_import(db: Path, file: Path) -> None:
    import workbench
    from workbench.ingest import _clearml_sql as sql
    from workbench.ingest._clearml_columnar import LINES_PER_CONVERSION
    from workbench.ingest._columnar import ndjson_batches

    setup = sql.MACROS.replace("CREATE MACRO", "CREATE TEMP MACRO")
    base = str(file.parent.resolve())
    with workbench.open(db) as catalog:
        pending: list[pa.Table] = []

        def write() -> None:  # three conversions a write, as the importer's
            with catalog.transaction() as con:
                for statement in (s.strip() for s in setup.split(";")):
                    if statement:
                        con.execute(statement)
                for lines in pending:
                    convert(con, lines, base)
                for table in TEMP_TABLES:
                    con.execute(f"DROP TABLE IF EXISTS {table}")
            pending.clear()

        batches = iter(ndjson_batches(file, LINES_PER_CONVERSION))
        while True:
            with step("reading"):
                read = next(batches, None)
            if read is None:
                break
            pending.append(read.lines)
            if len(pending) == 3:
                write()
        if pending:
            write()


def _timed(owner: Any, name: str, label: str) -> None:
    """`owner.name` wrapped so that its CPU and faults count as the step `label`."""
    wrapped = getattr(owner, name)

    def timed(*args: Any, **kwargs: Any) -> Any:
        with step(label):
            return wrapped(*args, **kwargs)

    setattr(owner, name, timed)


def writer_import(db: Path, file: Path) -> None:
    import workbench
    from workbench.ingest import importer

    with workbench.open(db) as catalog:
        report = importer("clearml")(catalog, [file], progress=False)
        if not report.ok:
            raise SystemExit(f"the import refused records: {report}")


def _time_the_importer() -> None:
    """The importer's own steps counted (in a process of the bench's: they stay wrapped);
    nested, each figure holds the next's. The import runs one step after the other
    (step_cpu.one_step_at_a_time: a step's CPU is the process's)."""
    from step_cpu import one_step_at_a_time

    from workbench.ingest import _clearml_columnar as columnar
    from workbench.ingest import _storing, writer

    one_step_at_a_time()
    _timed(_storing, "insert_keyed", "insert_keyed")
    _timed(writer.CatalogWriter, "write_rows", "write_rows (insert_keyed in it)")
    _timed(columnar.NdjsonImport, "_frames", "_frames (the frames' statement)")
    _timed(columnar.NdjsonImport, "_convert", "_convert (the other statements, fetches, _write)")
    _timed(columnar.NdjsonImport, "_write", "_write (rows picked, write_rows)")


def child(side: str, file: Path, db: Path) -> None:
    import workbench.ingest.clearml  # noqa: F401  (loaded before the clock starts)

    if side != "engine":
        _time_the_importer()
    if side == "writer":  # without line digests (as a lake-backed catalog keeps none)
        from workbench.ingest import _clearml_columnar as columnar

        columnar.LineDigests = lambda *_, **__: None  # type: ignore[assignment,misc]

    cpu, faults = _usage()
    started = time.perf_counter()
    if side == "engine":
        engine_import(db, file)
    else:
        writer_import(db, file)
    now, now_faults = _usage()
    figures = {
        "cpu": now - cpu,
        "faults": now_faults - faults,
        "wall": time.perf_counter() - started,
        "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "steps": STEPS,
    }
    print(json.dumps(figures))


def run(side: str, file: Path, db: Path, threads: int | None) -> dict[str, Any]:
    for path in (db, db.with_name(db.name + ".wal")):
        path.unlink(missing_ok=True)
    env = {**os.environ, "TQDM_DISABLE": "1"}
    if threads:
        env["WORKBENCH_THREADS"] = str(threads)
    command = [sys.executable, __file__, "--child", side, str(file), str(db)]
    done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    if done.returncode:
        raise SystemExit(f"{side} failed:\n{done.stdout}\n{done.stderr[-3000:]}")
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def same_rows(one: Path, other: Path) -> dict[str, bool]:
    """Whether two catalogs hold the same frames, sources and ROIs (every column but
    `ingested`, with their keys), and the same label keys and summaries."""
    con = duckdb.connect()
    con.execute(f"ATTACH '{one}' AS a (READ_ONLY)")
    con.execute(f"ATTACH '{other}' AS b (READ_ONLY)")
    same = {}
    for table in ("frames", "sources", "rois", "label_keys", "frame_labels", "frame_codes"):
        columns = [
            row[0]
            for row in con.execute(
                "SELECT column_name FROM information_schema.columns"
                " WHERE table_catalog = 'a' AND table_name = ? ORDER BY ordinal_position",
                [table],
            ).fetchall()
            if row[0] != "ingested"
        ]
        listed = ", ".join(f'"{c}"' for c in columns)
        differ = con.execute(
            f"SELECT count(*) FROM ((SELECT {listed} FROM a.{table} EXCEPT ALL"
            f" SELECT {listed} FROM b.{table}) UNION ALL (SELECT {listed} FROM b.{table}"
            f" EXCEPT ALL SELECT {listed} FROM a.{table}))"
        ).fetchall()[0][0]
        same[table] = differ == 0
    return same


def main() -> None:
    if len(sys.argv) == 5 and sys.argv[1] == "--child":
        child(sys.argv[2], Path(sys.argv[3]), Path(sys.argv[4]))
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--threads", type=int, help="the catalog engine's threads")
    parser.add_argument(
        "--sides", nargs="+", default=["engine", "writer", "writer+digests"],
        choices=("engine", "writer", "writer+digests"),
    )  # fmt: skip
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="clearml-engine-") as tmp:
        folder = Path(tmp)
        file = folder / "clearml.ndjson"
        frames = max(1, round(formats_bench.FULL["clearml"] * args.scale))
        formats_bench.write_clearml(file, frames)
        print(f"{frames:,} frames; threads {args.threads or os.cpu_count()}")
        for number in range(args.rounds):
            for side in args.sides:
                load = f"{os.getloadavg()[0]:.2f}"
                done = run(side, file, folder / f"{side}.duckdb", args.threads)
                steps = ", ".join(
                    f"{name} {cpu:.2f} s/{faults:,.0f}"
                    for name, (cpu, faults) in done["steps"].items()
                )
                print(
                    f"round {number + 1} {side:15s} load {load:>5s}: CPU {done['cpu']:.2f} s,"
                    f" {done['faults']:,} faults, {done['rss_mb']:.0f} MB, wall {done['wall']:.1f} s"
                    + (f"\n    {steps}" if steps else ""),
                    flush=True,
                )
        if "engine" in args.sides and "writer" in args.sides:
            same = same_rows(folder / "engine.duckdb", folder / "writer.duckdb")
            print("the same rows as the importer's:", same)


if __name__ == "__main__":
    main()
