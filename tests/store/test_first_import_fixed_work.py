"""The catalog's fixed work around a first import: its schema version read once as it opens,
its import record's and media roots' transactions without the layout's upkeep, and the
groups of a catalog without ROIs counted without reading codes it cannot hold (the same
tables as counted the long way)."""

from pathlib import Path

import pytest

import workbench
from workbench.errors import SchemaVersionError
from workbench.ingest import CatalogWriter, Frame, Source
from workbench.store import catalog as store_catalog
from workbench.store.imports import FINISHED, begin_import, end_import
from workbench.store.schema import SCHEMA_VERSION


class _Counting(store_catalog.Catalog):
    """A catalog counting the reads of its schema version."""

    reads = 0

    @property
    def schema_version(self) -> int:
        type(self).reads += 1
        return super().schema_version


@pytest.mark.parametrize("existing", [False, True], ids=["new file", "existing file"])
def test_opening_a_catalog_reads_its_schema_version_once(tmp_path: Path, existing: bool):
    path = tmp_path / "c.duckdb"
    if existing:
        store_catalog.Catalog(path).close()
    _Counting.reads = 0
    with _Counting(path) as catalog:
        assert _Counting.reads == 1
        assert catalog.schema_version == SCHEMA_VERSION
    _Counting.reads = 0
    with _Counting(path, read_only=True):
        assert _Counting.reads == 1


def test_a_catalog_of_a_newer_schema_is_still_refused(tmp_path: Path):
    path = tmp_path / "c.duckdb"
    with store_catalog.Catalog(path) as catalog, catalog.transaction() as con:
        con.execute(
            "UPDATE meta SET value = ? WHERE key = 'schema_version'", [str(SCHEMA_VERSION + 1)]
        )
    for read_only in (False, True):
        with pytest.raises(SchemaVersionError, match="upgrade workbench"):
            store_catalog.Catalog(path, read_only=read_only)


_GROUP_TABLES = (
    "_group_rows", "_group_codes", "_group_contexts", "_group_ranges", "_group_range_keys",
    "_group_values", "_group_value_keys", "_groups",
)  # fmt: skip


def _groups(catalog) -> dict[str, list[tuple]]:
    with catalog.cursor() as con:
        return {
            table: sorted(con.execute(f"SELECT * FROM {table}").fetchall(), key=repr)
            for table in _GROUP_TABLES
        }


def test_the_groups_of_a_catalog_without_rois_read_no_codes(tmp_path: Path, seen):
    with workbench.open(tmp_path / "c.duckdb") as catalog:
        # past PROMOTE_FROM frames, so that `fps` is promoted and joins the groups
        with CatalogWriter(catalog, progress=False, batch_size=500) as writer:
            for i in range(1200):
                weather = ("rain", "snow", "clear")[i % 3]
                writer.add(
                    Frame(
                        id=f"f{i}",
                        context_id=f"scene{i // 100}",
                        timestamp=i,
                        metadata={"weather": weather, "fps": 10 + i % 2},
                        sources=[Source("cam", f"/d/{i}.jpg")],
                    )
                )
        seen.clear()
        made = catalog.count_groups()
        assert made == 6  # weather by fps
        assert not [s for s in seen if "frame_codes" in s], seen
        quick = _groups(catalog)
        assert quick["_group_codes"] == []
        assert len(quick["_group_contexts"]) == 12 * 6  # each scene's frames in all six
        # the long way: a ROI of no frame makes the catalog hold ROIs, so the count reads
        # every frame's codes (none) as it did whatever the catalog held
        with catalog.transaction() as con:
            con.execute(
                "INSERT INTO rois (frame_id, id, field, label, kind)"
                " VALUES ('gone', 'r', 'ground_truth', 'car', 'classification')"
            )
        seen.clear()
        assert catalog.count_groups() == made
        assert [s for s in seen if "frame_codes" in s]
        assert _groups(catalog) == quick


def test_an_imports_records_and_media_roots_read_nothing_of_the_layout(tmp_path: Path, seen):
    with workbench.open(tmp_path / "c.duckdb") as catalog:
        with CatalogWriter(catalog, progress=False) as writer:
            writer.add(Frame(id="f0", sources=[Source("cam", "/d/0.jpg")]))
        seen.clear()
        catalog.add_media_roots([tmp_path])
        record = begin_import(
            catalog, fmt="coco", files=["x.json"], options={}, media_roots=[], actor="me"
        )
        end_import(catalog, record.id, FINISHED)
        layout_reads = [s for s in seen if "frame_key IS NULL" in s or "_summary_pending" in s]
        # the groups' count after the import is a transaction of frames' tables: it keeps
        # the layout, once
        assert len(layout_reads) == 2, layout_reads
        assert seen.count("COMMIT") == 4
        assert catalog.sql("SELECT status FROM imports").fetchall() == [(FINISHED,)]
        assert len(catalog.media_roots()) == 1


def test_rows_left_unkeyed_wait_for_the_next_transaction_of_frames(tmp_path: Path):
    with workbench.open(tmp_path / "c.duckdb") as catalog:
        with catalog.cursor() as con:  # no writer's path, outside any transaction
            con.execute(
                "INSERT INTO frames (id, context_id, ingested) VALUES ('g', 'ctx-g', now())"
            )
        catalog.add_media_roots([tmp_path])  # media roots only: nothing keyed
        assert catalog.sql("SELECT frame_key FROM frames").fetchall() == [(None,)]
        with catalog.transaction():
            pass
        assert catalog.sql("SELECT frame_key FROM frames").fetchall() == [(0,)]
