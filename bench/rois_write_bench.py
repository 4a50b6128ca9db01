"""What the `rois` table's write costs, column by column, and what other layouts would cost.

    python bench/rois_write_bench.py                          # COCO and ClearML, 1x, 3 repeats
    python bench/rois_write_bench.py --only coco --repeat 5 --folder /tmp/rois

Generates the files of bench/formats_bench.py (ClearML 200,000 frames with 800,000 ROIs;
COCO 100,000 images with 400,000 annotations), imports each into a fresh catalog in this
process, keeping the ROI rows the writer hands to the INSERT (`layout_insert.insert_keyed`'s
Arrow table, as inserted), and loads the same file by the DuckDB baseline of
formats_bench.py. Then prints, in process CPU (`time.process_time`: every thread of the
engine), medians of --repeat runs taken alternately:

1. each column of the stored `rois` table (the catalog's, then the baseline's) read back
   and written alone into a new file: CREATE TABLE AS, then CHECKPOINT; the stored size;
2. the writer's INSERT of the kept rows into a new file with the catalog's `rois` DDL,
   then CHECKPOINT, with the engine's profiler's time for each operator of the INSERT;
3. the same INSERT under other layouts of the same rows (what each would save): the
   all-NULL columns left out of the INSERT (the engine fills them), JSON columns typed as
   JSON in Arrow (no cast in the INSERT), the boxes' geometry left NULL (the box columns
   would carry it), the text repeated per ROI (field, label, labels, kind) left out (its
   keys would carry it), frame_id left out (its key would carry it), ids stored without
   compression (`USING COMPRESSION uncompressed`); with the stored size of each.

The load average is printed with every section.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

sys.path.insert(0, str(Path(__file__).parent))
import formats_bench

TEXT_REPEATED = ("field", "label", "labels", "kind")


def _load() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def _fresh(path: Path) -> None:
    for p in (path, path.with_name(path.name + ".wal")):
        p.unlink(missing_ok=True)


def import_keeping_rows(fmt: str, file: Path, db: Path) -> pa.Table:
    """Import `file` into a new catalog `db`; the ROI rows of every keyed INSERT, as the
    writer makes them (frame and label keys included), as one table."""
    import workbench
    from workbench.ingest import _storing, importer
    from workbench.store import layout_insert

    kept: list[pa.Table] = []
    original = layout_insert.insert_keyed

    def keeping(con: Any, frames: pa.Table, sources: pa.Table, rois: pa.Table) -> bool:
        kept.append(rois)
        return original(con, frames, sources, rois)

    _storing.insert_keyed = keeping  # type: ignore[assignment]
    _fresh(db)
    options: dict[str, Any] = {"progress": False}
    if fmt == "coco":
        options["id_prefix"] = "bench:"
    try:
        with workbench.open(db) as catalog:
            report = importer(fmt)(catalog, [file], **options)
            assert report.ok, report
    finally:
        _storing.insert_keyed = original
    con = duckdb.connect(str(db), read_only=True)
    try:  # the keys the INSERT gave, in its rows' order
        keys = con.sql("SELECT frame_id, frame_key, label_key FROM rois ORDER BY rowid")
        keys = keys.to_arrow_table()
    finally:
        con.close()
    rows = pa.concat_tables(kept).combine_chunks()
    assert keys["frame_id"].equals(rows["frame_id"]), "the stored rows are the kept rows"
    return rows.append_column("frame_key", keys["frame_key"]).append_column(
        "label_key", keys["label_key"]
    )


def rois_ddl() -> str:
    from workbench.store import fresh_ddl

    return next(s for s in fresh_ddl.STATEMENTS if s.startswith("CREATE TABLE rois("))


def _median(values: list[float]) -> float:
    return statistics.median(values)


# -- 1. each column alone ------------------------------------------------------------------------
def columns_alone(source: Path, out: Path, repeat: int) -> dict[str, tuple[float, float]]:
    """Each column of `source`'s rois written alone into `out`: median CPU, size (MB)."""
    con = duckdb.connect(str(source), read_only=True)
    columns = [c for (c,) in con.execute("SELECT column_name FROM (DESCRIBE rois)").fetchall()]
    con.close()
    cpu: dict[str, list[float]] = {c: [] for c in ["*", *columns]}
    size: dict[str, float] = {}
    for _ in range(repeat):
        for column in cpu:
            _fresh(out)
            con = duckdb.connect(str(out))
            con.execute("ATTACH ? AS c (READ_ONLY)", [str(source)])
            con.execute("SELECT count(*) FROM c.rois").fetchall()  # attached and read once
            chosen = column if column == "*" else f'"{column}"'
            started = time.process_time()
            con.execute(f"CREATE TABLE t AS SELECT {chosen} FROM c.rois")
            con.execute("CHECKPOINT")
            cpu[column].append(time.process_time() - started)
            con.close()
            size[column] = out.stat().st_size / 1e6
    return {c: (_median(v), size[c]) for c, v in cpu.items()}


# -- 2. the writer's INSERT, profiled ------------------------------------------------------------
def insert(rows: pa.Table, out: Path, ddl: str, profile: Path | None = None) -> tuple[float, float]:
    """The writer's INSERT of `rows` into a new file with `ddl`, then CHECKPOINT: CPU, MB."""
    _fresh(out)
    con = duckdb.connect(str(out))
    con.execute(ddl)
    con.register("_wb_keyed", rows)
    if profile is not None:
        con.execute("PRAGMA enable_profiling = 'json'")
        con.execute(f"PRAGMA profiling_output = '{profile}'")
    started = time.process_time()
    con.execute("INSERT INTO rois BY NAME SELECT * FROM _wb_keyed")
    if profile is not None:
        con.execute("PRAGMA disable_profiling")
    con.execute("CHECKPOINT")
    cpu = time.process_time() - started
    con.close()
    return cpu, out.stat().st_size / 1e6


def operators(profile: Path) -> list[tuple[str, float, str]]:
    """The INSERT's operators, their time and what they project."""
    found: list[tuple[str, float, str]] = []

    def walk(node: dict[str, Any]) -> None:
        projected = node.get("extra_info", {}).get("Projections", [])
        casts = [p for p in projected if str(p).startswith("CAST")]
        found.append((node["name"], float(node["timing"]), ", ".join(casts)))
        for child in node.get("children", []):
            walk(child)

    for node in json.loads(profile.read_text())["operator"]:
        walk(node)
    return found


# -- 3. other layouts ----------------------------------------------------------------------------
def layouts(rows: pa.Table, ddl: str) -> dict[str, tuple[pa.Table, str]]:
    """The same rows as each other layout would insert them, with its DDL."""
    n = rows.num_rows
    empty = [c for c in rows.column_names if rows[c].null_count == n]
    typed = rows
    for name in ("attributes", "mask"):
        at = typed.column_names.index(name)
        typed = typed.set_column(at, name, typed[name].combine_chunks().cast(pa.json_()))
    boxes = pc.equal(rows["kind"].combine_chunks(), "box")
    at = rows.column_names.index("geometry")
    geometry = rows["geometry"].combine_chunks()
    no_box_rings = rows.set_column(
        at, "geometry", pc.if_else(boxes, pa.nulls(n, geometry.type), geometry)
    )
    uncompressed = ddl.replace(
        "frame_id VARCHAR NOT NULL, id VARCHAR NOT NULL",
        "frame_id VARCHAR USING COMPRESSION uncompressed NOT NULL,"
        " id VARCHAR USING COMPRESSION uncompressed NOT NULL",
    )
    assert uncompressed != ddl
    loose = ddl.replace(" NOT NULL", "")  # columns left out are NULL
    return {
        "as the writer inserts them": (rows, ddl),
        f"all-NULL columns left out ({len(empty)})": (rows.drop_columns(empty), ddl),
        "attributes, mask typed JSON in Arrow": (typed, ddl),
        "boxes' geometry NULL": (no_box_rings, ddl),
        "field, label, labels, kind left out": (rows.drop_columns(list(TEXT_REPEATED)), loose),
        "frame_id left out": (rows.drop_columns(["frame_id"]), loose),
        "frame_id, id uncompressed": (rows, uncompressed),
    }


def compare(rows: pa.Table, out: Path, repeat: int) -> dict[str, tuple[float, float]]:
    chosen = layouts(rows, rois_ddl())
    cpu: dict[str, list[float]] = {k: [] for k in chosen}
    size: dict[str, float] = {}
    for _ in range(repeat):  # alternately
        for name, (table, ddl) in chosen.items():
            seconds, size[name] = insert(table, out, ddl)
            cpu[name].append(seconds)
    return {k: (_median(v), size[k]) for k, v in cpu.items()}


def stored(rows: pa.Table, out: Path, ddl: str) -> pa.Table:
    insert(rows, out, ddl)
    con = duckdb.connect(str(out), read_only=True)
    try:
        return con.sql("SELECT * FROM rois ORDER BY rowid").to_arrow_table()
    finally:
        con.close()


def same_rows(rows: pa.Table, out: Path) -> dict[str, bool]:
    """Whether each layout that keeps every column stores the rows the writer's does."""
    chosen = layouts(rows, rois_ddl())
    names = list(chosen)
    first = stored(chosen[names[0]][0], out, chosen[names[0]][1])
    lossless = [n for n in names[1:] if n.startswith(("all-NULL", "attributes", "frame_id, id"))]
    return {n: stored(chosen[n][0], out, chosen[n][1]).equals(first) for n in lossless}


def _print_table(title: str, figures: dict[str, tuple[float, float]]) -> None:
    print(f"  {title} (load {_load()})")
    for name, (cpu, mb) in figures.items():
        print(f"    {name:52s} {cpu:7.3f} s  {mb:6.1f} MB")


def measure(fmt: str, folder: Path, repeat: int, scale: float) -> None:
    count = max(1, round(formats_bench.FULL[fmt] * scale))
    file = folder / f"{fmt}.{'json' if fmt == 'coco' else 'ndjson'}"
    writers: dict[str, Callable[[Path, int], dict[str, int]]] = {
        "clearml": formats_bench.write_clearml,
        "coco": formats_bench.write_coco,
    }
    size = writers[fmt](file, count)
    print(f"{fmt}: {size['frames']:,} frames, {size['rois']:,} ROIs (load {_load()})")
    catalog, baseline, out = folder / f"{fmt}.db", folder / f"{fmt}-base.db", folder / "out.db"
    rows = import_keeping_rows(fmt, file, catalog)
    _fresh(baseline)
    formats_bench.baseline_import(fmt, file, baseline)
    ours = columns_alone(catalog, out, repeat)
    theirs = columns_alone(baseline, out, repeat)
    print(f"  each column written alone (CREATE TABLE AS, CHECKPOINT; load {_load()})")
    print(f"    {'column':16s} {'catalog':>16s} {'baseline':>18s}")
    for column in dict.fromkeys([*ours, *theirs]):
        mine = "{:7.3f} s {:5.1f} MB".format(*ours[column]) if column in ours else " " * 16
        base = (
            "{:7.3f} s {:5.1f} MB".format(*theirs[column]) if column in theirs else "(not stored)"
        )
        print(f"    {column:16s} {mine} {base:>18s}")
    profile = folder / "insert-profile.json"
    cpu, mb = insert(rows, out, rois_ddl(), profile)
    print(f"  the writer's INSERT, profiled: {cpu:.3f} s, {mb:.1f} MB (load {_load()})")
    for name, seconds, casts in operators(profile):
        print(f"    {name:20s} {seconds:7.3f} s  {casts}")
    _print_table("the same rows in other layouts (INSERT, CHECKPOINT)", compare(rows, out, repeat))
    for name, same in same_rows(rows, out).items():
        print(f"    {name}: {'the same rows stored' if same else 'OTHER ROWS STORED'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--only", nargs="+", choices=("coco", "clearml"), default=["coco", "clearml"]
    )
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--folder", type=Path, default=None)
    args = parser.parse_args()
    os.environ.setdefault("TQDM_DISABLE", "1")
    with tempfile.TemporaryDirectory() as temp:
        folder = args.folder or Path(temp)
        folder.mkdir(parents=True, exist_ok=True)
        for fmt in args.only:
            measure(fmt, folder, args.repeat, args.scale)


if __name__ == "__main__":
    main()
