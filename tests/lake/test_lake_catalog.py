"""A lake-backed catalog answers as the local one it was made from, and writes reach the lake."""

from __future__ import annotations

import zlib
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from deltalake import DeltaTable

import workbench
from tests.lake.formats import commits, read_rows, tables
from tests.lake.s3 import make_bucket, moto_server
from tests.query.query_catalog import build_catalog
from workbench.errors import LakeError
from workbench.ingest import CatalogWriter, Frame, Roi, Source, box_ring
from workbench.store import lake_order, lake_write, layout
from workbench.store.lake_compact import compact, vacuum
from workbench.store.lake_write import open_for_lake


def answers(catalog: Any) -> dict[str, Any]:
    view = catalog.view()
    return {
        "ids": view.frame_ids(),
        "count": view.count(),
        "contexts": view.count_contexts(),
        "labels": view.label_counts("predictions").to_pylist(),
        "rain": view.match(weather="rain").frame_ids(),
        "cars": view.filter_rois("predictions", labels=["car"]).frame_ids(),
        "sorted": view.sort_by("timestamp", reverse=True).limit(4).frame_ids(),
        "page": [(f["id"], len(f["rois"])) for f in view.page(2, 3).to_pylist()],
    }


def assert_codes_exact(catalog: Any) -> None:
    """The per-frame ROI codes and their totals, kept in the catalog beside a lake, are what
    the lake's ROIs give."""
    derived = (
        f"SELECT r.frame_key, list_sort(list({layout.roi_code('r')})) FROM rois r"
        f" WHERE r.frame_key <> {layout.NO_FRAME} GROUP BY 1"
    )
    stored = "SELECT frame_key, list_sort(codes) FROM frame_codes WHERE len(codes) > 0"
    assert sorted(catalog.sql(stored).fetchall()) == sorted(catalog.sql(derived).fetchall())
    summed = "SELECT x, count(*) FROM (SELECT unnest(codes) AS x FROM frame_codes) GROUP BY 1"
    totals = "SELECT code, rois FROM code_counts WHERE rois <> 0"
    assert sorted(catalog.sql(totals).fetchall()) == sorted(catalog.sql(summed).fetchall())
    assert catalog.sql("SELECT count(*) FROM frame_codes").fetchall()[0][0] > 0


def unordered(found: dict[str, Any]) -> dict[str, Any]:
    """The answers whatever the stored order (a page at an offset depends on it)."""
    return {
        k: sorted(v, key=repr) if isinstance(v, list) else v
        for k, v in found.items()
        if k != "page"
    }


def make_pair(tmp_path: Path, buckets: int, fmt: str = "delta") -> tuple[Path, Path]:
    """The query recipe twice: a local catalog and a lake-backed copy of it."""
    local = tmp_path / "local.duckdb"
    build_catalog(local).close()
    lake = tmp_path / "lake.duckdb"
    build_catalog(lake).close()
    open_for_lake(
        str(lake), str(tmp_path / "lake"), attach=False, buckets=buckets, progress=False, fmt=fmt
    )
    return local, lake


@pytest.fixture
def pair(tmp_path: Path, fmt: str) -> tuple[Path, Path]:
    """One bucket: the lake's stored order is the local catalog's insertion order."""
    return make_pair(tmp_path, 1, fmt)


def test_with_several_buckets_the_stored_order_goes_bucket_by_bucket(
    tmp_path: Path, fmt: str
) -> None:
    local, path = make_pair(tmp_path, 3, fmt)
    with workbench.open(local) as a, workbench.open(path) as b:
        assert unordered(answers(b)) == unordered(answers(a))
        rows = b.sql("SELECT id, rowid FROM frames").fetchall()
        assert [r[1] for r in rows] == sorted(r[1] for r in rows)  # scanned in stored order
        assert [r[0] for r in rows] == b.view().frame_ids()
        # inside a bucket, the local insertion order is kept
        lake = tables(tmp_path / "lake", fmt)
        rows_of = read_rows(lake, "frames").select(["id", "context_bucket"]).to_pylist()
        buckets = {r["id"]: r["context_bucket"] for r in rows_of}
        local_order = a.view().frame_ids()
        for bucket in set(buckets.values()):
            mine = [i for i in b.view().frame_ids() if buckets[i] == bucket]
            assert mine == [i for i in local_order if buckets[i] == bucket]


def add_frames(catalog: Any) -> None:
    """New frames in several contexts (so several buckets), and f1 stored again."""
    with CatalogWriter(catalog, progress=False) as writer:
        for n in range(6):
            rois = [Roi(f"r{n}", "box", ["car" if n % 2 else "bus"], "predictions", [], 0.5)]
            writer.add(Frame(id=f"w{n}", context_id=f"ctx-{n}", timestamp=n, rois=rois))
        writer.add(Frame(id="f1", context_id="ctx-a", timestamp=102, sources=[]))


@pytest.mark.parametrize("listed", [5000, 2], ids=["one-commit", "in-stretches"])
def test_writes_keep_the_layout_on_several_buckets(
    tmp_path: Path, listed: int, fmt: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # past PREDICATE_IDS frames, a table's rows are replaced a stretch of frames at a time
    monkeypatch.setattr(lake_write, "PREDICATE_IDS", listed)
    local, path = make_pair(tmp_path, 3, fmt)
    with workbench.open(local) as a, workbench.open(path) as b:
        add_frames(a)
        add_frames(b)
        assert unordered(answers(b)) == unordered(answers(a))
        # the stored order is the frame-key order, which filtered views page by
        keys = [r[0] for r in b.sql("SELECT frame_key FROM frames").fetchall()]
        assert keys == sorted(keys) and len(set(keys)) == len(keys)
        scanned = [r[0] for r in b.sql("SELECT id FROM frames").fetchall()]
        assert b.view().frame_ids() == scanned
        cars = b.view().filter_rois("predictions", labels=["car"]).frame_ids()
        assert cars == [i for i in scanned if i in set(cars)]
        for table in ("frames", "sources", "rois"):
            unkeyed = f"SELECT count(*) FROM {table} WHERE frame_key IS NULL"
            assert b.sql(unkeyed).fetchall()[0][0] == 0
        assert_codes_exact(b)
        plain = "SELECT field, label, count(*) AS count FROM rois GROUP BY ALL"
        counted = b.view().label_counts().to_pylist()
        assert sorted(counted, key=repr) == sorted(
            b.sql(plain).to_arrow_table().to_pylist(), key=repr
        )


def test_a_lake_catalog_answers_as_the_local_one(pair: tuple[Path, Path]) -> None:
    local, lake = pair
    with workbench.open(local) as a, workbench.open(lake) as b:
        assert b.lake is not None and a.lake is None
        assert answers(b) == answers(a)
        assert_codes_exact(b)
        assert sorted(b.table_names()) == sorted(a.table_names())


def test_the_lake_tables_are_partitioned_and_typed_for_every_reader(
    tmp_path: Path, fmt: str
) -> None:
    make_pair(tmp_path, 4, fmt)
    lake = tables(tmp_path / "lake", fmt)
    if fmt == "delta":
        frames = DeltaTable(str(tmp_path / "lake" / "frames"))
        assert frames.metadata().partition_columns == ["context_bucket"]
        files = frames.file_uris()
        table = frames.to_pyarrow_table()
    else:
        iceberg = lake.table("frames")  # type: ignore[attr-defined]
        assert [f.name for f in iceberg.spec().fields] == ["context_bucket"]
        assert str(iceberg.spec().fields[0].transform) == "identity"
        assert [
            iceberg.schema().find_column_name(f.source_id) for f in iceberg.sort_order().fields
        ] == ["_row"]
        files, _ = lake.files("frames", lake.version("frames"))
        table = pq.read_table(files[0]).schema.empty_table()
        table = pa.concat_tables([pq.read_table(f) for f in files])
    assert table.num_rows == 10
    assert "string_view" not in str(table.schema) and "large_" not in str(table.schema)
    assert len(files) > 1
    # a context's frames are all in one bucket: crc32 of its id
    for row in table.to_pylist():
        assert row["context_bucket"] == zlib.crc32(row["context_id"].encode()) % 4


def test_writes_go_to_the_lake_and_move_the_pin(pair: tuple[Path, Path], tmp_path: Path) -> None:
    _, path = pair
    with workbench.open(path) as catalog:
        before = catalog.lake.tables["rois"].version
        with CatalogWriter(catalog, progress=False) as writer:
            writer.add(
                Frame(
                    id="f1",  # replaces f1 whole
                    context_id="ctx-a",
                    timestamp=102,
                    sources=[Source("cam", "/data/f1.jpg", 640, 480)],
                    rois=[Roi("n1", "box", ["bus"], "predictions", [box_ring(0, 0, 4, 4)], 0.5)],
                )
            )
            writer.add(Frame(id="new", context_id="ctx-z", timestamp=1, sources=[]))
        assert catalog.lake.tables["rois"].version != before  # a new snapshot
        ids = catalog.view().frame_ids()
        assert ids.count("f1") == 1 and "new" in ids
        counts = catalog.view().select(["f1"]).label_counts("predictions").to_pylist()
        assert [(c["label"], c["count"]) for c in counts] == [("bus", 1)]
    # a second process reads the same rows from the lake
    lake_rows = read_rows(tables(tmp_path / "lake", catalog.lake.format.kind), "rois")
    f1 = [r for r in lake_rows.to_pylist() if r["frame_id"] == "f1"]
    assert [r["id"] for r in f1] == ["n1"]


def append_elsewhere(lake: Path, fmt: str, count: int = 1) -> None:
    """Another writer (a job) appends frames to the lake's frames table: `extra`, `extra1`..."""
    other = tables(lake, fmt)
    added = read_rows(other, "frames").sort_by("_row").slice(0, count)
    ids = ["extra" + (str(n) if n else "") for n in range(added.num_rows)]
    added = added.set_column(0, "id", pa.array(ids))
    # a writer other than the catalog leaves the keys to it (store/layout.py)
    at = added.schema.get_field_index("frame_key")
    added = added.set_column(at, added.schema.field(at), pa.nulls(added.num_rows, pa.int64()))
    at = added.schema.get_field_index("_row")  # after every row the catalog wrote
    added = added.set_column(at, "_row", pa.array([2**62 + n for n in range(count)], pa.int64()))
    other.append("frames", added)


def test_a_job_elsewhere_is_seen_after_refresh(
    pair: tuple[Path, Path], tmp_path: Path, fmt: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, path = pair
    monkeypatch.setenv("WORKBENCH_LAKE_REFRESH", "3600")  # no look of its own in this test
    with workbench.open(path) as catalog:
        count = catalog.view().count()
        append_elsewhere(tmp_path / "lake", fmt)
        assert catalog.view().count() == count  # pinned
        assert catalog.refresh_lake() is True
        assert catalog.view().count() == count + 1
        keys = catalog.sql("SELECT frame_key FROM frames WHERE id = 'extra'").fetchall()
        assert keys[0][0] is not None  # keyed when the catalog saw it
        assert catalog.refresh_lake() is False  # nothing new


def test_many_rows_of_a_job_are_keyed_in_one_commit(
    pair: tuple[Path, Path], tmp_path: Path, fmt: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(lake_write, "PREDICATE_IDS", 2)
    _, path = pair
    with workbench.open(path) as catalog:
        count = catalog.view().count()
        append_elsewhere(tmp_path / "lake", fmt, 5)
        version = commits(tables(tmp_path / "lake", fmt), "frames")
        assert catalog.refresh_lake() is True
        assert catalog.view().count() == count + 5
        keys = [r[0] for r in catalog.sql("SELECT frame_key FROM frames").fetchall()]
        assert None not in keys and keys == sorted(keys) and len(set(keys)) == len(keys)
    # the job's rows replaced by keyed ones in one commit (not one per stretch of frames)
    assert commits(tables(tmp_path / "lake", fmt), "frames") == version + 1


def test_the_pins_move_on_by_themselves(
    pair: tuple[Path, Path], tmp_path: Path, fmt: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, path = pair
    monkeypatch.setenv("WORKBENCH_LAKE_REFRESH", "0")  # look whenever a cursor is taken
    with workbench.open(path) as catalog:
        count = catalog.view().count()
        append_elsewhere(tmp_path / "lake", fmt)
        assert catalog.view().count() == count + 1


def test_compact_and_vacuum_keep_the_rows(
    pair: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    _, path = pair
    # each write a file of its own, as past the bound a write leaves its rows (else they
    # go into the bucket's small last file, store/lake_order.py)
    monkeypatch.setattr(lake_order, "FOLD_BYTES", 0)
    with workbench.open(path) as catalog:
        with CatalogWriter(catalog, progress=False) as writer:
            for n in range(3):
                writer.add(Frame(id=f"x{n}", context_id="ctx-a", timestamp=500 + n, sources=[]))
                writer.flush()
        before = unordered(answers(catalog))
        removed = compact(catalog, progress=False)
        assert removed  # small files of several writes were merged
        catalog.refresh_lake()
        assert unordered(answers(catalog)) == before
        # compacted, the stored order is by context and time
        rows = catalog.sql("SELECT context_id, timestamp FROM frames").fetchall()
        keys = [(c, t if t is not None else 2**62) for c, t in rows]
        assert keys == sorted(keys)
        # ... which is the frame-key order, and the summaries follow the new keys
        frame_keys = [r[0] for r in catalog.sql("SELECT frame_key FROM frames").fetchall()]
        assert frame_keys == sorted(frame_keys)
        summarised = "SELECT count(*) FROM frame_labels WHERE frame_key NOT IN (SELECT frame_key FROM frames)"
        assert catalog.sql(summarised).fetchall()[0][0] == 0
        assert_codes_exact(catalog)
        gone = vacuum(catalog.lake, retention_hours=0, dry_run=False)
        assert sum(map(len, gone.values())) > 0
        catalog.refresh_lake()
        assert unordered(answers(catalog)) == before


def test_the_engine_reads_the_lake_and_nothing_else(pair: tuple[Path, Path]) -> None:
    _, path = pair
    with workbench.open(path) as catalog, pytest.raises(duckdb.Error, match=r"disabled"):
        catalog.cursor().execute("SELECT * FROM read_csv('/etc/passwd')").fetchall()


def test_attach_refuses_a_catalog_with_frames_of_its_own(tmp_path: Path, fmt: str) -> None:
    build_catalog(tmp_path / "a.duckdb").close()
    build_catalog(tmp_path / "b.duckdb").close()
    lake = str(tmp_path / "lake")
    open_for_lake(
        str(tmp_path / "a.duckdb"), lake, attach=False, buckets=2, progress=False, fmt=fmt
    )
    # an Iceberg lake is found through its SQL catalog: the one `a` made beside itself
    sql = f"sqlite:///{tmp_path / 'a.duckdb'}.iceberg.db" if fmt == "iceberg" else None
    with pytest.raises(LakeError, match="frames of its own"):
        open_for_lake(
            str(tmp_path / "b.duckdb"),
            lake,
            attach=True,
            buckets=2,
            progress=False,
            fmt=fmt,
            catalog=sql,
        )
    workbench.open(tmp_path / "c.duckdb").close()
    open_for_lake(
        str(tmp_path / "c.duckdb"),
        lake,
        attach=True,
        buckets=2,
        progress=False,
        fmt=fmt,
        catalog=sql,
    )
    with workbench.open(tmp_path / "c.duckdb") as c, workbench.open(tmp_path / "a.duckdb") as a:
        assert answers(c) == answers(a)
        assert_codes_exact(c)


def test_a_lake_on_s3(tmp_path: Path, fmt: str) -> None:
    local = tmp_path / "local.duckdb"
    build_catalog(local).close()
    with moto_server():
        make_bucket("fleet")
        path = tmp_path / "s3.duckdb"
        build_catalog(path).close()
        open_for_lake(
            str(path), "s3://fleet/lake", attach=False, buckets=2, progress=False, fmt=fmt
        )
        with workbench.open(path) as b, workbench.open(local) as a:
            assert b.lake is not None and b.lake.root == "s3://fleet/lake"
            assert answers(b) == answers(a)
            with CatalogWriter(b, progress=False) as writer:
                writer.add(Frame(id="s3new", context_id="ctx-s", timestamp=1, sources=[]))
                writer.add(Frame(id="f1", context_id="ctx-a", timestamp=102, sources=[]))
            assert "s3new" in b.view().frame_ids()
            # the files the write replaced are removed from the bucket, the rows stay
            ids = b.view().frame_ids()
            gone = vacuum(b.lake, retention_hours=0, dry_run=False)
            assert gone["frames"]
            b.refresh_lake()
            assert b.view().frame_ids() == ids


def test_the_parquet_importer_writes_to_the_lake_and_replaces(
    pair: tuple[Path, Path], tmp_path: Path, fmt: str
) -> None:
    from workbench.ingest import exporter, importer

    local, _ = pair
    with workbench.open(local) as a:
        exporter("parquet")(a.view(), tmp_path / "export", progress=False)
        expected = answers(a)
    empty = tmp_path / "empty.duckdb"
    workbench.open(empty).close()
    open_for_lake(
        str(empty), str(tmp_path / "lake2"), attach=False, buckets=1, progress=False, fmt=fmt
    )
    with workbench.open(empty) as b:
        for _ in range(2):  # the second import replaces every frame
            report = importer("parquet")(b, [tmp_path / "export"], progress=False)
            assert report.frames == 10
            assert unordered(answers(b)) == unordered(expected)
        assert len(read_rows(tables(tmp_path / "lake2", fmt, empty), "frames")) == 10


def test_migrations_run_on_stand_ins_and_the_lake_follows(
    pair: tuple[Path, Path], fmt: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from workbench.store import migrations

    local, path = pair
    with workbench.open(local) as a:
        expected = answers(a)
    # a newer workbench whose next migration adds a column to frames
    added = "ALTER TABLE frames ADD COLUMN reviewed_by VARCHAR"
    version = migrations.SCHEMA_VERSION + 1
    monkeypatch.setattr(migrations, "MIGRATIONS", [*migrations.MIGRATIONS, (added,)])
    monkeypatch.setattr(migrations, "SCHEMA_VERSION", version)
    with workbench.open(path) as b:
        assert b.schema_version == version and b.lake is not None
        assert answers(b) == expected
        kinds = dict(
            b.cursor()
            .execute(
                "SELECT table_name, table_type FROM information_schema.tables "
                "WHERE table_name IN ('frames', 'sources', 'rois')"
            )
            .fetchall()
        )
        assert kinds == {"frames": "VIEW", "sources": "VIEW", "rois": "VIEW"}
        assert b.sql("SELECT count(reviewed_by) FROM frames").fetchall() == [(0,)]
    assert "reviewed_by" in tables(path.parent / "lake", fmt).field_names("frames")


def test_a_lake_older_than_the_layout_is_refused(pair: tuple[Path, Path]) -> None:
    _, path = pair
    con = duckdb.connect(str(path))
    con.execute("UPDATE meta SET value = '6' WHERE key = 'schema_version'")
    con.close()
    with pytest.raises(LakeError, match="older than schema version 7"):
        workbench.open(path)


def test_a_lake_made_before_keypoints_gets_their_visibility_column(
    tmp_path: Path, fmt: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from workbench.store import migrations

    local = tmp_path / "local.duckdb"
    build_catalog(local).close()
    path = tmp_path / "lake.duckdb"
    build_catalog(path).close()
    con = duckdb.connect(str(path))  # the catalog as schema version 8 left it
    con.execute("ALTER TABLE rois DROP COLUMN visibility")
    con.execute("DROP TABLE keypoint_labels")
    con.execute("UPDATE meta SET value = '8' WHERE key = 'schema_version'")
    con.close()
    with monkeypatch.context() as older:
        older.setattr(migrations, "MIGRATIONS", migrations.MIGRATIONS[:8])
        older.setattr(migrations, "SCHEMA_VERSION", 8)
        open_for_lake(
            str(path), str(tmp_path / "lake"), attach=False, buckets=2, progress=False, fmt=fmt
        )
    assert "visibility" not in tables(tmp_path / "lake", fmt).field_names("rois")
    with workbench.open(local) as a:
        expected = unordered(answers(a))
    with workbench.open(path) as b:
        assert b.schema_version == migrations.SCHEMA_VERSION
        assert unordered(answers(b)) == expected
        assert b.sql("SELECT count(visibility) FROM rois").fetchall() == [(0,)]
        with CatalogWriter(b, progress=False) as writer:
            roi = Roi("k", "keypoints", ["person"], geometry=[[1, 2, 3, 4]], visibility=[2, 1])
            writer.add(Frame(id="kp", context_id="ctx-k", timestamp=1, rois=[roi]))
        rois = b.view().rois(["kp"])
        assert rois.select(["kind", "visibility"]).to_pylist() == [
            {"kind": "keypoints", "visibility": [2, 1]}
        ]
    assert "visibility" in tables(tmp_path / "lake", fmt).field_names("rois")


def test_the_cli_makes_an_iceberg_lake_and_embedding_jobs_are_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from workbench.cli import EXIT_ERROR, main

    local = tmp_path / "local.duckdb"
    build_catalog(local).close()
    path = tmp_path / "c.duckdb"
    build_catalog(path).close()
    lake = tmp_path / "lake"
    common = ["--catalog", str(path), "lake"]
    assert main([*common, "init", str(lake), "--format", "iceberg", "--buckets", "2"]) == 0
    assert "(iceberg)" in capsys.readouterr().out
    assert (tmp_path / "c.duckdb.iceberg.db").is_file()  # the SQL catalog beside the catalog
    assert (lake / "frames" / "metadata").is_dir() and (lake / "frames" / "data").is_dir()
    # a password is never recorded: it comes from the environment
    secret = "postgresql://me:secret@db.example/lake"
    other = tmp_path / "d.duckdb"
    build_catalog(other).close()
    args = ["--catalog", str(other), "lake", "init", str(tmp_path / "lake2")]
    assert main([*args, "--format", "iceberg", "--iceberg-catalog", secret]) == EXIT_ERROR
    assert "WORKBENCH_ICEBERG_CATALOG" in capsys.readouterr().err
    with workbench.open(path) as b, workbench.open(local) as a:
        assert b.lake is not None and b.lake.format.kind == "iceberg"
        assert answers(b) == answers(a)
    assert main([*common, "compact", "--no-promote"]) == 0
    assert main([*common, "vacuum", "--retention-hours", "0"]) == 0
    assert "frames" in capsys.readouterr().out
    assert main([*common, "embed", "--engine", "local"]) == EXIT_ERROR
    assert "embedding jobs run on Delta lakes" in capsys.readouterr().err
    with workbench.open(path) as b, workbench.open(local) as a:
        assert unordered(answers(b)) == unordered(answers(a))


def test_a_lake_recorded_before_formats_is_delta(tmp_path: Path) -> None:
    local, path = make_pair(tmp_path, 1)
    con = duckdb.connect(str(path))  # `_lake` as catalogs made before Iceberg recorded it
    con.execute("ALTER TABLE _lake DROP COLUMN catalog")
    con.execute("ALTER TABLE _lake DROP COLUMN format")
    con.close()
    with workbench.open(path) as b, workbench.open(local) as a:
        assert b.lake is not None and b.lake.format.kind == "delta"
        assert answers(b) == answers(a)
