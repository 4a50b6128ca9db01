"""An Iceberg lake written by pyiceberg (the catalog's own writes) is read alike by DuckDB (the
snapshot's file list), pyarrow, pyiceberg and Daft; rows Daft appends are read by the catalog.

Daft runs in its own virtualenv (.ci/daft-venv, with its own pyiceberg): its parts skip
elsewhere."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import workbench
from tests.query.query_catalog import build_catalog
from workbench.ingest import CatalogWriter, Frame, Roi
from workbench.store.lake_iceberg import IcebergFormat, default_catalog
from workbench.store.lake_write import open_for_lake

HAS_DAFT = importlib.util.find_spec("daft") is not None


@pytest.fixture
def lake(tmp_path: Path) -> tuple[Path, IcebergFormat]:
    """A catalog made an Iceberg lake (two buckets), then written to (an overwrite)."""
    path = tmp_path / "c.duckdb"
    build_catalog(path).close()
    root = tmp_path / "lake"
    open_for_lake(str(path), str(root), attach=False, buckets=2, progress=False, fmt="iceberg")
    with workbench.open(path) as catalog, CatalogWriter(catalog, progress=False) as writer:
        roi = Roi("n1", "box", ["bus"], "predictions", [], 0.5)
        writer.add(Frame(id="f1", context_id="ctx-a", timestamp=102, rois=[roi]))
        writer.add(Frame(id="new", context_id="ctx-z", timestamp=1))
    return path, IcebergFormat(str(root), default_catalog(str(path)))


def catalog_rows(path: Path, name: str) -> list[tuple[Any, ...]]:
    with workbench.open(path, read_only=True) as catalog:
        return sorted(catalog.sql(f"SELECT id, frame_key FROM {name}").fetchall())


@pytest.mark.parametrize("name", ["frames", "rois"])
def test_every_reader_reads_the_rows_pyiceberg_wrote(
    lake: tuple[Path, IcebergFormat], name: str
) -> None:
    path, tables = lake
    expected = catalog_rows(path, name)
    assert len(expected) > 5
    table = tables.table(name)
    # pyiceberg's own reader
    assert sorted(table.scan().to_arrow().select(["id", "frame_key"]).to_pylist(), key=repr) == [
        {"id": i, "frame_key": k} for i, k in sorted(expected, key=repr)
    ]
    files = [t.file.file_path.removeprefix("file://") for t in table.scan().plan_files()]
    assert len(files) > 1
    # DuckDB on the snapshot's file list, outside the catalog
    listed = ", ".join(f"'{f}'" for f in files)
    plain = duckdb.connect().sql(f"SELECT id, frame_key FROM read_parquet([{listed}])")
    assert sorted(plain.fetchall()) == expected
    # pyarrow on the same files: plain types every reader takes
    read = pa.concat_tables([pq.read_table(f) for f in files])
    assert (
        sorted(zip(read["id"].to_pylist(), read["frame_key"].to_pylist(), strict=True)) == expected
    )
    assert "large_" not in str(read.schema) and "string_view" not in str(read.schema)


@pytest.mark.skipif(not HAS_DAFT, reason="Daft runs in its own virtualenv (.ci/daft-venv)")
def test_daft_reads_the_lake_and_its_appends_are_read_by_the_catalog(
    lake: tuple[Path, IcebergFormat],
) -> None:
    import daft

    path, tables = lake
    expected = catalog_rows(path, "frames")
    frames = daft.read_iceberg(tables.table("frames")).to_pydict()
    assert sorted(zip(frames["id"], frames["frame_key"], strict=True)) == expected
    # Daft appends copies under new ids, without keys (the catalog keys them when it sees
    # them; their stored-order numbers overlap the others': the catalog's view sorts then)
    copied = daft.read_iceberg(tables.table("frames")).with_columns(
        {
            "id": daft.col("id") + daft.lit("-copy"),
            "frame_key": daft.lit(None).cast(daft.DataType.int64()),
        }
    )
    copied.write_iceberg(tables.table("frames"), mode="append")
    with workbench.open(path) as catalog:
        ids = catalog.view().frame_ids()
        assert sorted(ids) == sorted([i for i, _ in expected] + [f"{i}-copy" for i, _ in expected])
        keys = [r[0] for r in catalog.sql("SELECT frame_key FROM frames").fetchall()]
        assert None not in keys and len(set(keys)) == len(keys)
