"""One ingest job on each engine writes the lake a catalog reads; every writer's table is read
by every reader (interop: deltalake, Daft, Spark, DuckDB through the catalog)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pytest
import synthetic
from deltalake import DeltaTable, write_deltalake

import workbench
from workbench.jobs import EngineConfig, IngestJob, run_ingest
from workbench.store.lake_iceberg import IcebergFormat, default_catalog
from workbench.store.lake_write import open_for_lake

HAS_DAFT = importlib.util.find_spec("daft") is not None


def inputs(folder: Path, parts: int, frames: int) -> list[str]:
    """Parquet exports with distinct frame ids (the job appends; ids must be new)."""
    out = []
    for k in range(parts):
        made = synthetic.generate(folder / f"in{k}", frames=frames)
        import duckdb

        for name in ("frames", "sources", "rois"):
            path = made.folder / f"{name}.parquet"
            key = "id" if name == "frames" else "frame_id"
            con = duckdb.connect()
            table = con.sql(
                f"SELECT * REPLACE ('p{k}-' || {key} AS {key}) FROM read_parquet('{path}')"
            ).to_arrow_table()
            con.close()
            import pyarrow.parquet as pq

            pq.write_table(table, path)
        out.append(str(made.folder))
    return out


def lake_catalog(tmp_path: Path, fmt: str = "delta") -> tuple[Path, str]:
    path = tmp_path / "c.duckdb"
    open_for_lake(
        str(path), str(tmp_path / "lake"), attach=False, buckets=4, progress=False, fmt=fmt
    )
    return path, str(tmp_path / "lake")


def check(path: Path, frames: int) -> None:
    with workbench.open(path) as catalog:
        assert catalog.view().count() == frames
        rois = catalog.sql("SELECT count(*) FROM rois").fetchall()[0][0]
        assert rois > frames  # 2 to 6 ROIs a frame
        page = catalog.view().sort_by("timestamp").page(0, 5).to_pylist()
        assert all(len(f["rois"]) >= 2 for f in page)
        # no frame twice, and every ROI's frame is there
        assert catalog.sql("SELECT count(DISTINCT id) FROM frames").fetchall()[0][0] == frames
        orphans = "SELECT count(*) FROM rois WHERE frame_id NOT IN (SELECT id FROM frames)"
        assert catalog.sql(orphans).fetchall()[0][0] == 0
        check_layout(catalog)


def check_layout(catalog: workbench.Catalog) -> None:
    """The job's rows were keyed and summarised when the catalog saw them (store/layout.py):
    label counts from the summaries are the ROIs' own, and the stored order is key order."""
    for table in ("frames", "sources", "rois"):
        unkeyed = f"SELECT count(*) FROM {table} WHERE frame_key IS NULL"
        assert catalog.sql(unkeyed).fetchall()[0][0] == 0, table
    counted = catalog.view().label_counts().to_pylist()
    plain = catalog.sql(
        "SELECT field, label, count(*) AS count FROM rois GROUP BY ALL ORDER BY ALL"
    ).to_arrow_table()
    assert sorted(counted, key=repr) == sorted(plain.to_pylist(), key=repr)
    keys = [r[0] for r in catalog.sql("SELECT frame_key FROM frames").fetchall()]
    assert keys == sorted(keys) and len(set(keys)) == len(keys)


def test_the_local_engine_ingests_into_the_lake(tmp_path: Path) -> None:
    path, lake = lake_catalog(tmp_path)
    paths = inputs(tmp_path, 3, 200)
    report = run_ingest(
        IngestJob(lake, "parquet", tuple(paths)), EngineConfig("local"), progress=False
    )
    assert (report.units, report.frames, report.refused) == (3, 600, ())
    assert report.versions == {"frames": 1, "sources": 1, "rois": 1}  # one commit each
    check(path, 600)


@pytest.mark.parametrize(
    "engine",
    [
        "local",
        pytest.param(
            "daft",
            marks=pytest.mark.skipif(not HAS_DAFT, reason="Daft runs in its own virtualenv"),
        ),
    ],
)
def test_an_ingest_job_writes_an_iceberg_lake(tmp_path: Path, engine: str) -> None:
    path, lake = lake_catalog(tmp_path, "iceberg")
    paths = tuple(inputs(tmp_path, 2, 150))
    sql = default_catalog(str(path))
    job = IngestJob(lake, "parquet", paths, table_format="iceberg", iceberg_catalog=sql)
    report = run_ingest(job, EngineConfig(engine, 2), progress=False)
    assert (report.units, report.frames, report.refused) == (2, 300, ())
    tables = IcebergFormat(lake, sql)
    # one commit a table: the job's files adopted as they are (add_files)
    assert all(len(tables.table(n).snapshots()) == 1 for n in ("frames", "sources", "rois"))
    check(path, 300)


def test_a_bad_file_costs_only_its_records(tmp_path: Path) -> None:
    path, lake = lake_catalog(tmp_path)
    good = inputs(tmp_path, 1, 100)
    bad = tmp_path / "bad.json"
    bad.write_text('{"images": [{"id": 1, "file_name": "a.jpg", "width": -5}]}')
    report = run_ingest(IngestJob(lake, "coco", (str(bad),)), EngineConfig("local"), progress=False)
    assert report.frames == 0 and report.refused and "bad.json" in report.refused[0]
    run_ingest(IngestJob(lake, "parquet", tuple(good)), EngineConfig("local"), progress=False)
    check(path, 100)


@pytest.mark.skipif(not HAS_DAFT, reason="Daft runs in its own virtualenv (.ci/daft-venv)")
def test_the_daft_engine_writes_what_the_local_one_does(tmp_path: Path) -> None:
    path, lake = lake_catalog(tmp_path)
    paths = inputs(tmp_path, 4, 150)
    report = run_ingest(
        IngestJob(lake, "parquet", tuple(paths)), EngineConfig("daft", 2), progress=False
    )
    assert report.frames == 600
    check(path, 600)


@pytest.mark.skipif(not HAS_DAFT, reason="Daft runs in its own virtualenv (.ci/daft-venv)")
def test_daft_reads_and_writes_tables_the_others_read(tmp_path: Path) -> None:
    import daft

    table = pa.table({"id": ["a", "b"], "n": [1, 2], "tags": [["x"], []]})
    write_deltalake(str(tmp_path / "by_deltalake"), table)
    assert sorted(daft.read_deltalake(str(tmp_path / "by_deltalake")).to_pydict()["id"]) == [
        "a",
        "b",
    ]
    daft.from_arrow(table).write_deltalake(str(tmp_path / "by_daft"))
    read = DeltaTable(str(tmp_path / "by_daft")).to_pyarrow_table()
    assert sorted(read["id"].to_pylist()) == ["a", "b"]
    # the catalog's own lake tables (deltalake, plain strings) read in Daft
    _, lake = lake_catalog(tmp_path)
    run_ingest(
        IngestJob(lake, "parquet", tuple(inputs(tmp_path, 1, 50))),
        EngineConfig("local"),
        progress=False,
    )
    frames = daft.read_deltalake(f"{lake}/frames").to_pydict()
    assert len(frames["id"]) == 50
    # Daft appends to the catalog's tables (rows copied under new ids, their stored-order
    # numbers overlapping the others': the catalog sorts then) and the catalog reads them
    path = tmp_path / "c.duckdb"
    copied = daft.read_deltalake(f"{lake}/frames").with_column(
        "id", daft.col("id") + daft.lit("-copy")
    )
    copied.write_deltalake(f"{lake}/frames", mode="append", partition_cols=["context_bucket"])
    with workbench.open(path) as catalog:
        ids = catalog.view().frame_ids()
        assert len(ids) == 100 and sum(i.endswith("-copy") for i in ids) == 50
        rowids = [r[0] for r in catalog.sql("SELECT rowid FROM frames").fetchall()]
        assert rowids == sorted(rowids)
        check_layout(catalog)


@pytest.mark.slow
def test_spark_runs_the_job_and_reads_and_writes_the_lake(tmp_path: Path) -> None:
    """One Spark session for everything Spark (it costs about a minute to start here)."""
    from deltalake import convert_to_deltalake

    from workbench.jobs.engines import spark_session

    path, lake = lake_catalog(tmp_path)
    paths = inputs(tmp_path, 2, 150)
    config = EngineConfig("spark", 2)
    try:
        report = run_ingest(IngestJob(lake, "parquet", tuple(paths)), config, progress=False)
        assert report.frames == 300
        check(path, 300)
        spark = spark_session(config)
        # Spark reads the lake's files (no Delta jars offline: the snapshot's file list)
        files = DeltaTable(f"{lake}/frames").file_uris()
        assert spark.read.parquet(*files).count() == 300
        # Spark writes Parquet; deltalake adopts it; the others read it
        df = spark.createDataFrame([("a", 1), ("b", 2)], "id string, n long")
        df.write.parquet(str(tmp_path / "by_spark"))
        convert_to_deltalake(str(tmp_path / "by_spark"))
        assert sorted(
            DeltaTable(str(tmp_path / "by_spark")).to_pyarrow_table()["id"].to_pylist()
        ) == ["a", "b"]
    finally:
        from pyspark.sql import SparkSession

        active = SparkSession.getActiveSession()
        if active is not None:
            active.stop()


def test_a_job_fills_the_promoted_columns(tmp_path: Path) -> None:
    """Rows a job appends get the promoted metadata columns when the catalog keys them."""
    from workbench.store import layout

    path, lake = lake_catalog(tmp_path)
    first, second = inputs(tmp_path, 2, 100)
    run_ingest(IngestJob(lake, "parquet", (first,)), EngineConfig("local"), progress=False)
    with workbench.open(path) as catalog:
        assert catalog.optimize() == ["scene", "speed"]
    run_ingest(IngestJob(lake, "parquet", (second,)), EngineConfig("local"), progress=False)
    with workbench.open(path) as catalog:
        assert catalog.view().count() == 200
        for key, column in layout.promoted_columns(catalog.cursor()).items():
            wrong = catalog.sql(
                f"SELECT count(*) FROM frames WHERE {column} IS DISTINCT FROM"
                f" json_extract_string(metadata, '/{key}')"
            )
            assert wrong.fetchall()[0][0] == 0
        scene = catalog.sql("SELECT metadata_scene FROM frames WHERE id LIKE 'p1-%'").fetchall()
        expected = catalog.sql(
            "SELECT count(*) FROM frames WHERE json_extract_string(metadata, '/scene') = ?",
            [scene[0][0]],
        ).fetchall()[0][0]
        assert catalog.view().match(scene=scene[0][0]).count() == expected


def test_copies_appended_by_another_writer_are_read_once(tmp_path: Path) -> None:
    """Another writer's copies of a job's rows, their `_row` numbers the originals' (as the
    Daft test above makes them, here by deltalake): the write the catalog makes when it sees
    them (keys, stored order) does not take `_row` for a row's identity, and two files of one
    range are two files (store/lake_order.py, lake_format.Span)."""
    path, lake = lake_catalog(tmp_path)
    run_ingest(
        IngestJob(lake, "parquet", tuple(inputs(tmp_path, 1, 50))),
        EngineConfig("local"),
        progress=False,
    )
    stored = DeltaTable(f"{lake}/frames").to_pyarrow_table()
    at = stored.schema.get_field_index("id")
    copies = stored.set_column(at, "id", pc.binary_join_element_wise(stored["id"], "-copy", ""))
    write_deltalake(f"{lake}/frames", copies, mode="append", partition_by=["context_bucket"])
    for _ in range(2):  # seen, then read again as it was left
        with workbench.open(path) as catalog:
            ids = catalog.view().frame_ids()
            assert len(ids) == 100 and sum(i.endswith("-copy") for i in ids) == 50
            check_layout(catalog)
    assert DeltaTable(f"{lake}/frames").to_pyarrow_table().num_rows == 100
