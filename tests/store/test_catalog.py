from pathlib import Path

import duckdb
import pytest

import workbench
from workbench.errors import CatalogError, QueryError, ReadOnlyQueryError, SchemaVersionError
from workbench.ingest import CatalogWriter, Frame, Roi, Source, box_ring
from workbench.store.schema import PUBLIC_TABLES, SCHEMA_VERSION


def _frame(i: int, **kw) -> Frame:
    return Frame(
        id=f"f{i}",
        sources=[Source("front", f"/data/seq/img{i}.jpg", 640, 480)],
        rois=[Roi("r1", "box", ["car"], geometry=[box_ring(10, 20, 30, 40)], confidence=0.4)],
        timestamp=i * 100,
        metadata={"weather": "rain", "speed": i},
        **kw,
    )


@pytest.fixture
def catalog(tmp_path: Path):
    with workbench.open(tmp_path / "c.duckdb") as cat:
        yield cat


def test_new_catalog_has_every_public_table_at_current_version(catalog):
    assert catalog.schema_version == SCHEMA_VERSION
    assert set(PUBLIC_TABLES) <= set(catalog.table_names())


def test_reopen_keeps_data(tmp_path: Path):
    path = tmp_path / "c.duckdb"
    with workbench.open(path) as cat, CatalogWriter(cat, progress=False) as writer:
        writer.add(_frame(1))
    with workbench.open(path) as cat:
        assert cat.sql("SELECT id, weather FROM frames").fetchall() == [("f1", "rain")]


def test_older_catalog_is_upgraded_and_newer_refused(tmp_path: Path):
    path = tmp_path / "old.duckdb"
    duckdb.connect(str(path)).close()  # version 0: an empty file
    with workbench.open(path) as cat:
        assert cat.schema_version == SCHEMA_VERSION
    con = duckdb.connect(str(path))
    con.execute("UPDATE meta SET value = '999' WHERE key = 'schema_version'")
    con.close()
    with pytest.raises(SchemaVersionError, match="999"):
        workbench.open(path)


def test_file_locked_by_another_process_is_a_catalog_error(tmp_path: Path):
    import subprocess
    import sys

    path = tmp_path / "c.duckdb"
    workbench.open(path).close()
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            f"import duckdb,time; c=duckdb.connect({str(path)!r}); print('x', flush=True); "
            "time.sleep(30)",
        ],
        stdout=subprocess.PIPE,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline()
        with pytest.raises(CatalogError, match="cannot open catalog"):
            workbench.open(path)
    finally:
        holder.kill()


def test_sql_returns_a_relation(catalog):
    with CatalogWriter(catalog, progress=False) as writer:
        for i in range(3):
            writer.add(_frame(i))
    rel = catalog.sql("SELECT id FROM frames WHERE timestamp >= ? ORDER BY id", [100])
    assert rel.fetchall() == [("f1",), ("f2",)]
    assert list(rel.df()["id"]) == ["f1", "f2"]
    assert rel.to_arrow_table().num_rows == 2


@pytest.mark.parametrize(
    "query",
    [
        "DELETE FROM frames",
        "DROP TABLE rois",
        "COPY frames TO '/tmp/x.csv'",
        "ATTACH '/tmp/other.duckdb'",
        "SELECT * FROM read_csv('/etc/passwd')",
        "SELECT * FROM '/etc/passwd'",
        "SELECT * FROM read_json_auto('http://example.invalid/x.json')",
        "SELECT getenv('HOME')",
        "SELECT 1; DELETE FROM frames",
        "SELECT * FROM frames WHERE id IN (SELECT * FROM glob('/*'))",
        "INSTALL httpfs",
        "SET enable_external_access = true",
        "CREATE TABLE x AS SELECT 1",
    ],
)
def test_person_sql_cannot_write_or_reach_outside(catalog, query):
    with pytest.raises(ReadOnlyQueryError):
        catalog.sql(query)
    assert catalog.sql("SELECT count(*) FROM frames").fetchall() == [(0,)]


def test_person_sql_may_use_ctes_and_subqueries(catalog):
    q = "WITH c AS (SELECT context_id FROM frames) SELECT count(*) FROM c, range(2)"
    assert catalog.sql(q).fetchall() == [(0,)]


def test_bad_sql_is_a_query_error_with_duckdb_message(catalog):
    with pytest.raises(QueryError, match="nope"):
        catalog.sql("SELECT nope FROM frames").fetchall()


def test_info_counts(catalog):
    with CatalogWriter(catalog, progress=False) as writer:
        for i in range(4):
            writer.add(_frame(i, context_id="ctx", dataset="d", version="v1"))
    info = catalog.info()
    assert (info.frames, info.contexts, info.rois, info.datasets) == (4, 1, 4, 1)
    assert info.fields == {"ground_truth": 4}


def test_media_roots_keep_outermost(catalog, tmp_path: Path):
    catalog.add_media_roots([tmp_path / "a" / "b", tmp_path / "a" / "c"])
    catalog.add_media_roots([tmp_path / "a"])
    catalog.add_media_roots([tmp_path / "a" / "d"])
    assert catalog.media_roots() == [str((tmp_path / "a").resolve())]
