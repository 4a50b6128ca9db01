"""A write whose lake commits were made but whose catalog transaction never committed (the
process killed between the two, or the block failing after `editing`) is undone in the lake
(store/lake_repair.py): at once when the transaction rolls back in a live process, else at
the next open. Afterwards the catalog is exactly the catalog whose write never ran: the
lake's rows in the same stored order with the same keys, summaries, codes, label keys, facets
and counts; a read-only process sees the committed state throughout; and a repair that
fails itself leaves the catalog to be repaired at the open after.

Real lake files in tmp_path, Delta and Iceberg alike (`fmt`); the process killed is a real
child process that ends itself (`os._exit`) once its write's lake commits are made, before its
catalog's COMMIT."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from deltalake import DeltaTable
from deltalake.transaction import AddAction

import workbench
from tests.query.query_catalog import box, build_catalog, pred
from workbench.errors import LakeError
from workbench.ingest import CatalogWriter, Frame, Source
from workbench.store import layout
from workbench.store.lake import BUCKET, Lake, table_uri
from workbench.store.lake_iceberg import IcebergFormat, default_catalog
from workbench.store.lake_write import lake_rows, open_for_lake

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(params=["delta", "iceberg"])
def fmt(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def state(catalog: Any) -> dict[str, Any]:
    """What a person and the library read of the catalog: the big tables in stored order
    (rowid, keys), the layout kept beside them, facets and counts."""
    con = catalog.cursor()
    out: dict[str, Any] = {
        t: con.execute(f"SELECT * FROM {t} ORDER BY rowid").fetchall()
        for t in ("frames", "sources", "rois")
    }
    for table in ("frame_labels", "frame_codes", "code_counts", "label_keys", "imports"):
        out[table] = sorted(con.execute(f"SELECT * FROM {table}").fetchall(), key=repr)
    out["next"] = layout.next_frame_key(con)
    view = catalog.view()
    out["facets"] = (
        view.count(),
        view.count_contexts(),
        view.label_counts("predictions").to_pylist(),
        view.label_counts("ground_truth").to_pylist(),
        view.filter_rois("predictions", labels=["car"]).frame_ids(),
        [(f["id"], len(f["rois"])) for f in view.page(0, 20).to_pylist()],
    )
    info = catalog.info().as_dict()
    out["info"] = {k: v for k, v in info.items() if k != "size_bytes"}
    return out


def read_only_state(path: Path) -> str:
    """`state` as a second process opening the catalog read-only reads it."""
    code = textwrap.dedent(
        """
        import sys
        import workbench
        from tests.store.test_lake_repair import state
        with workbench.open(sys.argv[1], read_only=True) as catalog:
            print(repr(state(catalog)))
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(path)],
        env={**os.environ, "PYTHONPATH": str(REPO)},
        capture_output=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr.decode()
    return done.stdout.decode().strip()


# A process that makes one write and is killed once its lake commits are made: the catalog's
# transaction ends itself at the step before its COMMIT when the write moved the pins.
_KILLED_WRITE = """
import os, sys
import workbench
from tests.store.test_lake_repair import WRITES
from workbench.store.catalog import Catalog

catalog = workbench.open(sys.argv[1])
pins = lambda lake: {n: t.version for n, t in lake.tables.items()}
pinned = pins(catalog.lake)
keep = Catalog._keep_layout

def killed(self, con):
    if pins(self.lake) != pinned:  # the write's lake commits are made
        os._exit(3)
    keep(self, con)

Catalog._keep_layout = killed
WRITES[sys.argv[2]](catalog)
"""


def _new_frames(catalog: Any) -> None:
    writer = CatalogWriter(catalog, progress=False)
    for i in range(3):
        writer.add(
            Frame(
                id=f"x{i}",
                context_id="ctx-x",
                timestamp=i,
                sources=[Source("cam", f"/data/x{i}.jpg", 640, 480)],
                rois=[box(f"x{i}-g", "zebra"), pred(f"x{i}-p", "car", 0.6)],
            )
        )
    writer.flush()


def _replaced_frames(catalog: Any) -> None:
    writer = CatalogWriter(catalog, progress=False)
    for frame_id in ("f0", "f1"):
        writer.add(
            Frame(
                id=frame_id,
                context_id="ctx-a",
                timestamp=7,
                metadata={"weather": "snow"},
                sources=[Source("cam", f"/data/{frame_id}-new.jpg", 640, 480)],
                rois=[box(f"{frame_id}-z", "zebra")],
            )
        )
    writer.add(Frame(id="x9", sources=[Source("cam", "/data/x9.jpg")]))
    writer.flush()


def _rois_only(catalog: Any) -> None:
    writer = CatalogWriter(catalog, progress=False)
    writer.add_labels("f2", "predictions", [pred("f2-q", "zebra", 0.8)])
    writer.add_labels("f7", "ground_truth", [])
    writer.flush()


def _sources_only(catalog: Any) -> None:
    with catalog.transaction() as con, catalog.editing(con, ["f3"]):
        con.execute("UPDATE sources SET uri = '/data/other.jpg' WHERE frame_id = 'f3'")


WRITES = {
    "new": _new_frames,
    "replaced": _replaced_frames,
    "rois": _rois_only,
    "sources": _sources_only,
}


def _lake_catalog(tmp_path: Path, fmt: str) -> Path:
    path = tmp_path / "c.duckdb"
    build_catalog(path).close()
    lake = str(tmp_path / "lake")
    open_for_lake(str(path), lake, attach=False, buckets=2, progress=False, fmt=fmt)
    workbench.open(path).close()  # the catalog names its writer on its first open
    return path


def _killed_write(path: Path, write: str) -> None:
    done = subprocess.run(
        [sys.executable, "-c", _KILLED_WRITE, str(path), write],
        env={**os.environ, "PYTHONPATH": str(REPO)},
        capture_output=True,
        timeout=300,
    )
    assert done.returncode == 3, done.stderr.decode()


def _ahead(path: Path) -> list[str]:
    """The lake tables whose latest version is past the one the catalog pinned."""
    with workbench.open(path, read_only=True) as catalog:
        lake = catalog.lake
        assert lake is not None
        latest = lake.latest_versions()
        return [n for n, t in lake.tables.items() if latest[n] != t.version]


def _lake_ids(path: Path) -> list[str]:
    """The frame ids the lake's latest version of `frames` holds (the lake beside `path`)."""
    root = str(path.parent / "lake")
    if (path.parent / "lake" / "frames" / "_delta_log").exists():
        rows = DeltaTable(table_uri(root, "frames")).to_pyarrow_table(columns=["id"])
    else:
        rows = IcebergFormat(root, default_catalog(str(path))).table("frames").scan().to_arrow()
    return sorted(rows["id"].to_pylist())


@pytest.mark.parametrize("write", sorted(WRITES))
def test_the_next_open_after_a_killed_write_is_as_if_it_never_ran(
    tmp_path: Path, fmt: str, write: str
) -> None:
    path = _lake_catalog(tmp_path, fmt)
    with workbench.open(path) as catalog:
        before = state(catalog)
    ids = _lake_ids(path)
    _killed_write(path, write)
    assert _ahead(path)  # the write reached the lake
    assert read_only_state(path) == repr(before)
    with workbench.open(path) as catalog:
        assert state(catalog) == before
    assert not _ahead(path)
    assert _lake_ids(path) == ids
    assert read_only_state(path) == repr(before)
    with workbench.open(path) as catalog:  # and it writes on from there
        assert state(catalog) == before
        _new_frames(catalog)
        keys = catalog.sql("SELECT id, frame_key FROM frames WHERE id LIKE 'x%'").fetchall()
        assert sorted(k for _, k in keys) == [before["next"] + i for i in range(3)]


def test_a_block_failing_after_its_lake_commits_is_undone_at_once(tmp_path: Path, fmt: str) -> None:
    path = _lake_catalog(tmp_path, fmt)
    ids = _lake_ids(path)
    with workbench.open(path) as catalog:
        before = state(catalog)
        with pytest.raises(ValueError), catalog.transaction() as con:
            with catalog.editing(con, ["f0", "x"]):
                con.execute("INSERT INTO frames (id, context_id) VALUES ('x', 'x')")
                con.execute("UPDATE frames SET timestamp = 1 WHERE id = 'f0'")
            raise ValueError("the block failed after the lake's commits")
        assert _lake_ids(path) == ids
        assert state(catalog) == before
        catalog.refresh_lake(force=True)
        assert state(catalog) == before
        _new_frames(catalog)
        keys = catalog.sql("SELECT frame_key FROM frames WHERE id LIKE 'x%'").fetchall()
        assert sorted(k for (k,) in keys) == [before["next"] + i for i in range(3)]


def test_a_jobs_rows_committed_meanwhile_stay(tmp_path: Path, fmt: str) -> None:
    """Rows another writer appended to the lake after the catalog's pins (a job's, without
    keys) are kept by the undo and keyed at the next open, as without a failed write."""
    path = _lake_catalog(tmp_path, fmt)
    job = tmp_path / "job.duckdb"
    with workbench.open(job) as other, CatalogWriter(other, progress=False) as writer:
        writer.add(Frame(id="j0", sources=[Source("c", "/j.jpg")]))
    with workbench.open(job) as other:
        rows = {
            t: other.sql(f"SELECT * FROM {t}").to_arrow_table()
            for t in ("frames", "sources", "rois")
        }
    with workbench.open(path) as catalog:
        lake = catalog.lake
        assert lake is not None
        before = state(catalog)
        with pytest.raises(ValueError), catalog.transaction() as con:
            with catalog.editing(con, ["x"]):
                con.execute("INSERT INTO frames (id, context_id) VALUES ('x', 'x')")
            _job_append(lake, con, rows)  # a job commits between the write and its failure
            raise ValueError("the block failed after the lake's commits")
    with workbench.open(path) as catalog:
        ids = catalog.sql("SELECT id FROM frames ORDER BY id").fetchall()
        assert [i for (i,) in ids] == sorted([*(f[0] for f in before["frames"]), "j0"])
        keyed = catalog.sql("SELECT frame_key FROM frames WHERE id = 'j0'").fetchall()
        assert keyed == [(before["next"],)]


def _job_append(lake: Lake, con: Any, rows: dict[str, pa.Table]) -> None:
    """Rows appended to the lake's tables as a job appends them: without keys, one commit a
    table, made by another writer than the catalog."""
    schemas = {n: t.arrow_schema(con) for n, t in lake.tables.items()}
    for name, table in lake_rows(rows, schemas, lake.buckets).items():
        at = table.schema.get_field_index("frame_key")
        unkeyed = table.set_column(at, "frame_key", pa.nulls(table.num_rows, pa.int64()))
        if isinstance(lake.format, IcebergFormat):  # a job's own tables: no writer id
            job = IcebergFormat(lake.root, lake.format.catalog_uri)
            job.add_files(name, _written_iceberg(lake, job, name, unkeyed))
            continue
        dt = DeltaTable(str(Path(lake.root) / name))
        dt.create_write_transaction(_written(lake, name, unkeyed), "append", dt.schema(), [BUCKET])


def _written_iceberg(lake: Lake, job: IcebergFormat, name: str, rows: pa.Table) -> list[str]:
    """`rows` written as Parquet files under an Iceberg table's data folder, as a job's unit
    writes them (the partition column kept, the table's plain types)."""
    out = []
    rows = rows.cast(job.arrow_schema(name)).select(job.arrow_schema(name).names)
    for bucket in sorted(set(rows[BUCKET].to_pylist())):
        full = Path(table_uri(lake.root, name)) / "data" / f"{BUCKET}={bucket}"
        full.mkdir(parents=True, exist_ok=True)
        file = full / f"job-{uuid.uuid4().hex}.parquet"
        pq.write_table(rows.filter(pc.equal(rows[BUCKET], bucket)), file)
        out.append(str(file))
    return out


def _written(lake: Lake, name: str, rows: pa.Table) -> list[AddAction]:
    """`rows` written as Parquet files into the table's folder, as add actions."""
    out = []
    for bucket in sorted(set(rows[BUCKET].to_pylist())):
        part = rows.filter(pc.equal(rows[BUCKET], bucket))
        relative = f"{BUCKET}={bucket}/job-{uuid.uuid4().hex}.parquet"
        full = Path(lake.root) / name / relative
        full.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(part.drop([BUCKET]), full)
        stats = f'{{"numRecords": {part.num_rows}}}'
        out.append(AddAction(relative, full.stat().st_size, {BUCKET: str(bucket)}, 0, True, stats))
    return out


def test_a_repair_that_fails_is_made_at_the_open_after(
    tmp_path: Path, fmt: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The undo of the second table fails (the first one's is made): the open fails, the
    catalog's file is unchanged and read-only readers see its committed state; the next open
    finishes the undo. Then the undo is whole but moving the pins fails: likewise."""
    from workbench.store import lake_repair

    path = _lake_catalog(tmp_path, fmt)
    with workbench.open(path) as catalog:
        before = state(catalog)
    _killed_write(path, "new")
    commit = lake_repair._commit
    made: list[int] = []

    def second_fails(*args: Any) -> None:
        made.append(1)
        if len(made) == 2:
            raise OSError("the disk went away")
        commit(*args)

    monkeypatch.setattr(lake_repair, "_commit", second_fails)
    with pytest.raises(LakeError, match="undoing it failed"):
        workbench.open(path)
    monkeypatch.undo()
    assert len(_ahead(path)) == 3  # one table undone: its latest is past the pins too
    assert read_only_state(path) == repr(before)

    pin = Lake.pin

    def fails(self: Lake, con: Any, versions: Any = None) -> None:
        raise OSError("the disk went away")

    monkeypatch.setattr(Lake, "pin", fails)
    with pytest.raises(OSError):
        workbench.open(path)
    monkeypatch.setattr(Lake, "pin", pin)
    assert read_only_state(path) == repr(before)
    with workbench.open(path) as catalog:
        assert state(catalog) == before
    assert not _ahead(path)


def test_another_catalogs_writes_are_not_undone(tmp_path: Path, fmt: str) -> None:
    """A second catalog attached to the lake (its own writer id) takes the first one's
    writes made since it pinned as a writer's it does not know, and keeps them."""
    path = _lake_catalog(tmp_path, fmt)
    reader = tmp_path / "reader.duckdb"
    workbench.open(reader).close()
    tables = default_catalog(str(path)) if fmt == "iceberg" else None
    lake = str(tmp_path / "lake")
    open_for_lake(
        str(reader), lake, attach=True, buckets=2, progress=False, fmt=fmt, catalog=tables
    )
    workbench.open(reader).close()
    with workbench.open(path) as catalog:
        _new_frames(catalog)
    with workbench.open(reader) as other:
        ids = [i for (i,) in other.sql("SELECT id FROM frames WHERE id LIKE 'x%'").fetchall()]
        assert sorted(ids) == ["x0", "x1", "x2"]
    with workbench.open(path) as catalog:
        assert catalog.sql("SELECT count(*) FROM frames WHERE id LIKE 'x%'").fetchall() == [(3,)]


def test_a_live_catalog_whose_undo_failed_writes_nothing_until_it_is_made(
    tmp_path: Path, fmt: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The undo right after the rollback fails: a warning, the committed state still read,
    writes refused (they would pin the rolled-back rows); a refresh then makes the undo."""
    from workbench.store import lake_repair

    path = _lake_catalog(tmp_path, fmt)
    with workbench.open(path) as catalog:
        before = state(catalog)

        def fails(*args: Any) -> None:
            raise OSError("the disk went away")

        monkeypatch.setattr(lake_repair, "_commit", fails)
        with (
            pytest.warns(UserWarning, match="undoing it failed"),
            pytest.raises(ValueError),
            catalog.transaction() as con,
        ):
            with catalog.editing(con, ["x"]):
                con.execute("INSERT INTO frames (id, context_id) VALUES ('x', 'x')")
            raise ValueError("the block failed after the lake's commits")
        assert state(catalog) == before
        with pytest.raises(LakeError, match="rolled back is still in its lake"):
            _new_frames(catalog)
        monkeypatch.undo()
        catalog.refresh_lake(force=True)  # the undo made, the pins moved to it
        assert state(catalog) == before
        _new_frames(catalog)
        keys = catalog.sql("SELECT frame_key FROM frames WHERE id LIKE 'x%'").fetchall()
        assert sorted(k for (k,) in keys) == [before["next"] + i for i in range(3)]
