from pathlib import Path

import duckdb
import pytest

import workbench
from workbench.errors import CatalogError, QueryError, ReadOnlyQueryError, SchemaVersionError
from workbench.ingest import CatalogWriter, Frame, Roi, Source, box_ring
from workbench.ingest.imports import recorded
from workbench.store.schema import MIGRATIONS, PUBLIC_TABLES, SCHEMA_VERSION


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
        "SET memory_limit = '64GB'",
        "RESET memory_limit",
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


def _memory_limit(catalog) -> str:
    return catalog.cursor().execute("SELECT current_setting('memory_limit')").fetchall()[0][0]


def _probe_import(limits: list[str], *, fail: bool = False):
    """An importer run through the real `recorded` wrapper that notes the engine's limit."""

    @recorded("probe")
    def import_files(catalog, paths, **options):
        limits.append(_memory_limit(catalog))
        with CatalogWriter(catalog, progress=False) as writer:
            writer.add(_frame(len(limits)))
        with catalog.import_memory():  # an import inside another
            limits.append(_memory_limit(catalog))
        limits.append(_memory_limit(catalog))
        if fail:
            raise ValueError("the file ended early")
        return writer.report

    return import_files


def test_an_import_holds_the_engine_to_a_lower_memory_limit(catalog, tmp_path: Path):
    own = _memory_limit(catalog)
    assert own == "953.6 MiB"  # WORKBENCH_MEMORY_LIMIT's default, 1GB
    limits: list[str] = []
    _probe_import(limits)(catalog, [tmp_path])
    assert limits == ["244.1 MiB"] * 3  # 256MB, also after an import inside it ended
    assert _memory_limit(catalog) == own
    with pytest.raises(ValueError, match="ended early"):
        _probe_import(limits, fail=True)(catalog, [tmp_path])
    assert _memory_limit(catalog) == own
    assert catalog.sql("SELECT count(*) FROM frames").fetchall() == [(2,)]


def test_the_import_limit_never_raises_the_engines(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("WORKBENCH_MEMORY_LIMIT", "128MB")
    monkeypatch.setenv("WORKBENCH_IMPORT_MEMORY_LIMIT", "1GB")
    limits: list[str] = []
    with workbench.open(tmp_path / "c.duckdb") as cat:
        _probe_import(limits)(cat, [tmp_path])
        assert limits == ["122.0 MiB"] * 3
    monkeypatch.setenv("WORKBENCH_MEMORY_LIMIT", "1GB")
    monkeypatch.setenv("WORKBENCH_IMPORT_MEMORY_LIMIT", "64MB")
    with workbench.open(tmp_path / "c.duckdb") as cat:
        _probe_import(limits)(cat, [tmp_path])
        assert limits[3:] == ["61.0 MiB"] * 3
        assert _memory_limit(cat) == "953.6 MiB"
    monkeypatch.setenv("WORKBENCH_IMPORT_MEMORY_LIMIT", "lots")
    with workbench.open(tmp_path / "c.duckdb") as cat, pytest.raises(CatalogError, match="lots"):
        _probe_import(limits)(cat, [tmp_path])


def test_the_memory_limit_is_the_only_setting_the_library_may_change(catalog):
    con = catalog.cursor()
    con.execute("SET memory_limit = '300MB'")
    for statement in (
        "SET threads = 1",
        "SET enable_external_access = true",
        "SET allowed_configs = ['enable_external_access']",
        "SET lock_configuration = false",
    ):
        with pytest.raises(duckdb.Error, match="locked"):
            con.execute(statement)


def test_info_counts(catalog):
    with CatalogWriter(catalog, progress=False) as writer:
        for i in range(4):
            writer.add(_frame(i, context_id="ctx", dataset="d", version="v1"))
    info = catalog.info()
    assert (info.frames, info.contexts, info.rois, info.datasets) == (4, 1, 4, 1)
    assert info.fields == {"ground_truth": 4}


def test_media_roots_are_stored_as_declared_and_removed_exactly(catalog, tmp_path: Path):
    a, b = tmp_path / "a", tmp_path / "a" / "b"
    assert catalog.add_media_roots([b, tmp_path / "a" / "c"]) == [str(b), str(a / "c")]
    assert catalog.add_media_roots([a]) == [str(a)]
    assert catalog.add_media_roots([a / "." / "b"]) == []  # already there, once resolved
    assert catalog.media_roots() == [str(a), str(b), str(a / "c")]
    # Removing the outer folder leaves the folders declared on their own.
    assert catalog.remove_media_roots([a, tmp_path / "never"]) == [str(a)]
    assert catalog.media_roots() == [str(b), str(a / "c")]
    assert [(r.path, r.origin, r.served) for r in catalog.media_root_entries()] == [
        (str(b), "configured", True),
        (str(a / "c"), "configured", True),
    ]


def test_media_roots_are_resolved(catalog, tmp_path: Path):
    real = tmp_path / "real"
    real.mkdir()
    (tmp_path / "link").symlink_to(real)
    catalog.add_media_roots([tmp_path / "link"], origin="option")
    assert catalog.media_roots() == [str(real)]
    assert catalog.media_root_entries()[0].origin == "option"
    # A root whose folder went away is removed by the path it was stored under.
    assert catalog.remove_media_roots([real]) == [str(real)]


def test_roots_cannot_be_declared_inferred(catalog, tmp_path: Path):
    with pytest.raises(CatalogError, match="never inferred"):
        catalog.add_media_roots([tmp_path], origin="inferred")


def _version_3_catalog(path: Path, roots: list[str]) -> None:
    """A catalog as an older workbench left it: schema version 3, roots it inferred."""
    con = duckdb.connect(str(path))
    for version in range(3):
        for statement in MIGRATIONS[version]:
            con.execute(statement)
    con.execute("INSERT INTO meta VALUES ('schema_version', '3')")
    for root in roots:
        con.execute("INSERT INTO media_roots VALUES (?)", [root])
    con.close()


def test_version_3_catalog_is_upgraded_and_inferred_roots_are_no_longer_served(tmp_path: Path):
    path = tmp_path / "old.duckdb"
    _version_3_catalog(path, ["/etc", str(tmp_path / "media")])
    with pytest.raises(SchemaVersionError, match="read-write once"):
        workbench.open(path, read_only=True)
    with workbench.open(path) as cat:
        assert cat.schema_version == SCHEMA_VERSION
        assert cat.sql("SELECT count(*) FROM imports").fetchall() == [(0,)]
        assert cat.media_roots() == []
        assert [(r.path, r.origin, r.served) for r in cat.media_root_entries()] == [
            ("/etc", "inferred", False),
            (str(tmp_path / "media"), "inferred", False),
        ]
        # Declaring one of them serves it again; the other stays for review.
        assert cat.add_media_roots([tmp_path / "media"]) == [str(tmp_path / "media")]
        assert cat.media_roots() == [str(tmp_path / "media")]
        assert cat.remove_media_roots(["/etc"]) == ["/etc"]
        assert cat.media_root_entries()[0].served


def test_a_version_8_catalog_gets_keypoint_visibility_and_label_keypoints(tmp_path: Path):
    from workbench.model.keypoints import KeypointLabel
    from workbench.store.keypoints import keypoint_labels

    path = tmp_path / "old.duckdb"
    with workbench.open(path) as cat, CatalogWriter(cat, progress=False) as writer:
        writer.add(Frame("f", rois=[Roi("b", "box", ["car"], geometry=[box_ring(1, 2, 3, 4)])]))
    con = duckdb.connect(str(path))  # as schema version 8 left it
    con.execute("ALTER TABLE rois DROP COLUMN visibility")
    con.execute("DROP TABLE keypoint_labels")
    con.execute("UPDATE meta SET value = '8' WHERE key = 'schema_version'")
    con.close()
    with workbench.open(path) as cat:
        assert cat.schema_version == SCHEMA_VERSION
        assert cat.sql("SELECT id, kind, visibility FROM rois").fetchall() == [("b", "box", None)]
        with CatalogWriter(cat, progress=False) as writer:
            roi = Roi("k", "keypoints", ["person"], geometry=[[1, 2, 0, 0]], visibility=[2, 0])
            writer.add(Frame("g", rois=[roi]))
            writer.add_keypoint_labels([KeypointLabel("person", ("nose", "tail"), ((1, 2),))])
        rows = cat.sql("SELECT id, visibility, x_min, x_max FROM rois WHERE kind = 'keypoints'")
        assert rows.fetchall() == [("k", [2, 0], 1, 1)]
        assert keypoint_labels(cat.cursor()) == {
            "person": KeypointLabel("person", ("nose", "tail"), ((1, 2),))
        }
