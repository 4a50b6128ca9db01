"""Where the CVAT backend keeps its bookkeeping: tables it declares, made on first use, and
the tables schema version 3 made in older catalogs, used as they are."""

from __future__ import annotations

from pathlib import Path

import workbench
from workbench.backends import LocalBackend
from workbench.backends.cvat import CvatBackend
from workbench.backends.cvat.ledger import TABLES, CvatLedger
from workbench.services import Workbench
from workbench.store.catalog import Catalog
from workbench.store.ledger import Ledger

from .cvat_catalog import IMAGES, SCHEMA
from .fake_cvat import FakeCvat

# What schema version 3 made in every catalog, word for word.
VERSION_3 = (
    """CREATE TABLE IF NOT EXISTS cvat_runs (
        run_id VARCHAR PRIMARY KEY,
        url VARCHAR NOT NULL,
        project_id BIGINT NOT NULL,
        labels JSON NOT NULL,
        created TIMESTAMP DEFAULT current_timestamp)""",
    """CREATE TABLE IF NOT EXISTS cvat_tasks (
        run_id VARCHAR NOT NULL,
        task_id BIGINT NOT NULL,
        position INTEGER NOT NULL,
        name VARCHAR NOT NULL,
        size INTEGER NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS cvat_task_frames (
        run_id VARCHAR NOT NULL,
        task_id BIGINT NOT NULL,
        frame INTEGER NOT NULL,
        frame_id VARCHAR NOT NULL,
        input_uuid VARCHAR,
        source_id VARCHAR)""",
    """CREATE TABLE IF NOT EXISTS cvat_shapes (
        run_id VARCHAR NOT NULL,
        task_id BIGINT NOT NULL,
        shape_id VARCHAR NOT NULL,
        frame_id VARCHAR NOT NULL,
        sent JSON,
        original JSON)""",
)
NAMES = [t.name for t in TABLES]


def _tables(catalog: Catalog) -> list[str]:
    rows = catalog.cursor().execute("SELECT table_name FROM information_schema.tables").fetchall()
    return sorted(r[0] for r in rows if r[0].startswith("cvat_"))


def _columns(catalog: Catalog) -> list[tuple[str, str, str, str]]:
    return (
        catalog.cursor()
        .execute(
            "SELECT table_name, column_name, data_type, is_nullable FROM information_schema.columns "
            "WHERE table_name LIKE 'cvat_%' ORDER BY table_name, ordinal_position"
        )
        .fetchall()
    )


def test_a_new_catalog_gets_the_tables_on_the_first_run(wb: Workbench, catalog: Catalog) -> None:
    assert _tables(catalog) == []  # the schema does not name them
    wb.annotate(IMAGES, "dry", backend="cvat", label_schema=SCHEMA, dryrun=True)
    assert _tables(catalog) == []  # a dry run rolls them back with everything else
    wb.annotate(IMAGES, "first", backend="cvat", label_schema=SCHEMA, task_size=2)
    assert _tables(catalog) == sorted(NAMES)


def test_declared_tables_have_the_columns_version_3_made(tmp_path: Path) -> None:
    with (
        workbench.open(tmp_path / "old.duckdb") as old,
        workbench.open(tmp_path / "new.duckdb") as new,
    ):
        for statement in VERSION_3:
            old.cursor().execute(statement)
        for table in TABLES:
            new.cursor().execute(table.ddl())  # what the store runs before the first write
        assert _columns(new) == _columns(old)
        assert Ledger(old.cursor(), TABLES).rows("cvat_runs") == []  # and the old ones pass


def test_an_older_catalogs_tables_are_used_as_they_are(
    catalog: Catalog, backend: CvatBackend, fake: FakeCvat
) -> None:
    for statement in VERSION_3:
        catalog.cursor().execute(statement)
    wb = Workbench(catalog, actor="tester", backends={"local": LocalBackend(), "cvat": backend})
    info = wb.annotate(IMAGES, "old", backend="cvat", label_schema=SCHEMA, task_size=2).info
    book = CvatLedger(catalog.cursor())
    run = book.load_run(info.run_id)
    assert run is not None and run.url == fake.url
    assert [t.position for t in book.load_tasks(info.run_id)] == [0, 1]
    assert len(book.load_shapes(info.run_id)) == 6
    assert wb.load_annotations("old").unchanged == 6  # read back from the old tables
    report = wb.cleanup_annotation_run("old", confirm=True)
    assert report.tasks == 2
    counts = [
        catalog.cursor().execute(f"SELECT count(*) FROM {name}").fetchall()[0][0] for name in NAMES
    ]
    assert counts == [0, 0, 0, 0]
