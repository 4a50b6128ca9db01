"""A write's tables of one row group or less are inserted in the chunks they come in (no copy
into one chunk first), and the catalogs the imports leave are the same, table for table and
row for row in stored order, as when every table is copied into one chunk: Nucleus, Labelbox
and COCO, first import and update; and a new catalog's schema is made in one call."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType
from typing import Any

import duckdb
import pyarrow as pa
import pytest

import workbench
from tests.benches import bench_module
from workbench.ingest import _storing
from workbench.ingest._columnar import ROWS_PER_WRITE
from workbench.store import fresh, fresh_ddl

# Columns whose values change from run to run whatever the code (times, the import
# records' ids and process, what the digests seed with or hash of those).
_VARYING = {
    "imports": {"id", "pid", "host", "superseded_by", "resumes"},
    "audit_log": {"id", "target", "details"},
    "_line_digests": {"file_key", "digest", "frame_hash"},
}


def _chunked(table: pa.Table, rows: int) -> pa.Table:
    return pa.Table.from_batches(table.to_batches(max_chunksize=rows), table.schema)


def test_a_table_of_one_row_group_is_not_copied_into_one_chunk():
    small = _chunked(pa.table({"id": [f"f{i}" for i in range(1_000)]}), 300)
    (kept,) = _storing.whole(small)
    assert kept.column("id").num_chunks == 4
    assert kept.column("id").chunk(0).buffers()[2] is not None
    assert kept.column("id").chunk(0).buffers()[2].address == (
        small.column("id").chunk(0).buffers()[2].address
    )
    big = _chunked(pa.table({"n": list(range(ROWS_PER_WRITE + 10))}), 65_536)
    (joined,) = _storing.whole(big)
    assert joined.column("n").num_chunks == 1  # a larger table still goes in as one chunk
    aligned = _chunked(pa.table({"n": list(range(ROWS_PER_WRITE + 10))}), ROWS_PER_WRITE)
    (left,) = _storing.whole(aligned)
    assert left.column("n").num_chunks == 2  # chunks of whole row groups stay as they are


def _dump(path: Path) -> dict[str, Any]:
    """Every table's rows in stored order (columns of times and of the import records' ids
    left out), its row groups, and the views."""
    con = duckdb.connect(str(path), read_only=True)
    try:
        found: dict[str, Any] = {}
        tables = con.execute(
            "SELECT table_name FROM duckdb_tables() WHERE schema_name = 'main' ORDER BY 1"
        ).fetchall()
        for (table,) in tables:
            columns = con.execute(
                "SELECT column_name, data_type FROM duckdb_columns() WHERE schema_name = 'main'"
                " AND table_name = ? ORDER BY column_index",
                [table],
            ).fetchall()
            kept = [
                f'"{name}"'
                for name, kind in columns
                if "TIMESTAMP" not in kind and name not in _VARYING.get(table, set())
            ]
            listed = ", ".join(kept) or "1"
            rows = con.execute(f'SELECT {listed} FROM "{table}" ORDER BY rowid').fetchall()
            groups = con.execute(
                "SELECT count(DISTINCT row_group_id) FROM pragma_storage_info(?)", [table]
            ).fetchall()
            found[table] = (rows, groups)
        views = con.execute(
            "SELECT view_name, sql FROM duckdb_views() WHERE NOT internal ORDER BY 1"
        ).fetchall()
        found["views"] = views
        return found
    finally:
        con.close()


def _imported(bench: ModuleType, fmt: str, folder: Path, db: Path) -> list[dict[str, Any]]:
    """The catalog a first import leaves, then the one an update leaves."""
    file = folder / f"{fmt}.{'json' if fmt == 'coco' else 'ndjson'}"
    for old in (db, db.with_name(db.name + ".wal")):  # the same path each time (its roots)
        old.unlink(missing_ok=True)
    if fmt == "labelbox":
        bench.workbench_setup(folder / "videos.ndjson", db)
    dumps = []
    for _ in ("import", "update"):
        bench.workbench_import(fmt, file, db)
        dumps.append(_dump(db))
    return dumps


@pytest.mark.parametrize("fmt", ["nucleus", "labelbox", "coco"])
def test_the_catalogs_left_are_those_of_tables_copied_into_one_chunk(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fmt: str
):
    bench = bench_module("formats_bench")
    sizes = {"nucleus": 6, "labelbox": 4, "coco": 700}
    writers = {
        "nucleus": bench.write_nucleus,
        "labelbox": bench.write_labelbox,
        "coco": bench.write_coco,
    }
    writers[fmt](tmp_path / f"{fmt}.{'json' if fmt == 'coco' else 'ndjson'}", sizes[fmt])
    if fmt == "labelbox":
        bench.write_labelbox_videos(tmp_path / "videos.ndjson", sizes[fmt])
    whole = _storing.whole

    def in_chunks(*tables: pa.Table) -> tuple[pa.Table, ...]:  # chunks of 977 rows each
        return whole(*(_chunked(t, 977) for t in tables))

    def one_chunk(*tables: pa.Table) -> tuple[pa.Table, ...]:
        return tuple(t.combine_chunks() for t in tables)

    monkeypatch.setattr(_storing, "whole", in_chunks)
    chunked = _imported(bench, fmt, tmp_path, tmp_path / "c.duckdb")
    monkeypatch.setattr(_storing, "whole", one_chunk)
    combined = _imported(bench, fmt, tmp_path, tmp_path / "c.duckdb")
    for ours, theirs in zip(chunked, combined, strict=True):
        assert ours.keys() == theirs.keys()
        for table in ours:
            assert ours[table] == theirs[table], table
    assert chunked[0]["frames"][0], "frames were stored"


def test_a_new_catalog_is_made_in_one_call(tmp_path: Path):
    calls: list[str] = []

    class Noted:
        def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
            self._con = con

        def execute(self, sql: str, *args: Any) -> Any:
            calls.append(sql)
            return self._con.execute(sql, *args)

    con = duckdb.connect(str(tmp_path / "new.duckdb"))
    con.execute("BEGIN")
    fresh.create(Noted(con))  # type: ignore[arg-type]
    con.execute("COMMIT")
    assert len(calls) == 2
    statements, meta = fresh.dump(con)
    assert meta == sorted(fresh_ddl.META)
    assert len(statements) == len(fresh_ddl.STATEMENTS)
    con.close()
    with workbench.open(tmp_path / "new.duckdb") as catalog:
        assert catalog.schema_version == fresh_ddl.VERSION


def test_a_write_without_rois_looks_up_no_frame_ids(monkeypatch: pytest.MonkeyPatch):
    from workbench.store import layout_insert

    ids = pa.array([f"f{i}" for i in range(10)])

    def refused(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("the batch's ids looked up for no rows")

    monkeypatch.setattr(layout_insert.pc, "index_in", refused)
    keys = layout_insert._frame_keys(pa.table({"frame_id": pa.array([], pa.string())}), ids, 7)
    assert len(keys) == 0 and keys.type == pa.int64()
    sources = pa.table({"frame_id": ids})
    assert layout_insert._frame_keys(sources, ids, 7).to_pylist() == list(range(7, 17))
