"""Backend bookkeeping through the store's ledger: declared tables made on first use, typed
rows, and catalogs whose tables an earlier schema version made."""

from __future__ import annotations

import pytest

import workbench
from workbench.errors import CatalogError
from workbench.store.ledger import Column, Ledger, LedgerTable

RUNS = LedgerTable(
    "demo_runs",
    (
        Column("run_id", "VARCHAR"),
        Column("project_id", "BIGINT", not_null=True),
        Column("labels", "JSON"),
        Column("created", "TIMESTAMP", default="current_timestamp"),
    ),
    primary_key=("run_id",),
)
ITEMS = LedgerTable(
    "demo_items",
    (
        Column("run_id", "VARCHAR", not_null=True),
        Column("item", "INTEGER", not_null=True),
        Column("name", "VARCHAR"),
    ),
)


def _tables(con) -> set[str]:
    return {
        r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()
    }


@pytest.fixture
def catalog(tmp_path):
    with workbench.open(tmp_path / "ledger.duckdb") as cat:
        yield cat


def test_tables_are_made_on_the_first_write_and_reads_before_find_nothing(catalog):
    con = catalog.cursor()
    book = Ledger(con, [RUNS, ITEMS])
    assert book.rows("demo_runs") == [] and book.get("demo_runs", run_id="r") is None
    assert book.delete("demo_items", run_id="r") == 0
    assert "demo_runs" not in _tables(con)  # reading made nothing
    with catalog.transaction() as tx:
        Ledger(tx, [RUNS, ITEMS]).put(
            "demo_runs", [{"run_id": "r", "project_id": 7, "labels": {"car": [1, 2]}}]
        )
    assert {"demo_runs"} <= _tables(con) and "demo_items" not in _tables(con)
    row = Ledger(con, [RUNS]).get("demo_runs", run_id="r")
    assert row is not None
    assert (row["project_id"], row["labels"]) == (7, {"car": [1, 2]})  # JSON comes back decoded
    assert row["created"] is not None  # the declared default


def test_a_rolled_back_write_leaves_no_table(catalog):
    with pytest.raises(RuntimeError), catalog.transaction() as tx:
        Ledger(tx, [ITEMS]).put("demo_items", [{"run_id": "r", "item": 1}])
        raise RuntimeError("the action failed after the write")
    assert "demo_items" not in _tables(catalog.cursor())


def test_rows_match_values_lists_and_nulls_and_come_in_order(catalog):
    with catalog.transaction() as tx:
        book = Ledger(tx, [ITEMS])
        rows = [{"run_id": "a", "item": i, "name": None if i == 2 else f"n{i}"} for i in range(4)]
        assert book.put("demo_items", [*rows, {"run_id": "b", "item": 9}]) == 5
    book = Ledger(catalog.cursor(), [ITEMS])
    assert [r["item"] for r in book.rows("demo_items", run_id="a", order_by=("item",))] == [
        0,
        1,
        2,
        3,
    ]
    assert [r["item"] for r in book.rows("demo_items", item=[3, 9], order_by=("item",))] == [3, 9]
    assert [r["item"] for r in book.rows("demo_items", name=None, order_by=("item",))] == [2, 9]
    assert book.rows("demo_items", item=[]) == []
    with catalog.transaction() as tx:
        assert Ledger(tx, [ITEMS]).delete("demo_items", run_id="a", item=[0, 1]) == 2
    assert [r["item"] for r in book.rows("demo_items", order_by=("item",))] == [2, 3, 9]


def test_values_are_parameters_and_names_are_checked(catalog):
    hostile = "x'); DROP TABLE frames; --"
    with catalog.transaction() as tx:
        book = Ledger(tx, [ITEMS])
        book.put("demo_items", [{"run_id": hostile, "item": 1, "name": hostile}])
        assert book.rows("demo_items", run_id=hostile)[0]["name"] == hostile
        with pytest.raises(ValueError, match="has no columns colour"):
            book.put("demo_items", [{"run_id": "r", "item": 2, "colour": "red"}])
        with pytest.raises(ValueError, match="has no column 'colour'"):
            book.rows("demo_items", colour="red")
        with pytest.raises(ValueError, match="not a table of this ledger"):
            book.rows("frames")
        with pytest.raises(ValueError, match="needs a condition"):
            book.delete("demo_items")
    assert "frames" in _tables(catalog.cursor())


def test_two_rows_where_one_is_expected_is_an_error(catalog):
    with catalog.transaction() as tx:
        book = Ledger(tx, [ITEMS])
        book.put("demo_items", [{"run_id": "r", "item": 1}, {"run_id": "r", "item": 2}])
        with pytest.raises(CatalogError, match="2 rows where one was expected"):
            book.get("demo_items", run_id="r")


def test_a_table_an_older_schema_made_is_used_as_it_is(catalog):
    con = catalog.cursor()
    con.execute("CREATE TABLE demo_items (run_id VARCHAR, item INTEGER, name VARCHAR, extra INT)")
    con.execute("INSERT INTO demo_items VALUES ('old', 1, 'kept', 5)")
    book = Ledger(con, [ITEMS])
    assert book.rows("demo_items") == [{"run_id": "old", "item": 1, "name": "kept"}]
    book.put("demo_items", [{"run_id": "new", "item": 2}])
    assert len(book.rows("demo_items")) == 2


def test_a_table_without_a_declared_column_is_refused(catalog):
    con = catalog.cursor()
    con.execute("CREATE TABLE demo_items (run_id VARCHAR, item INTEGER)")
    with pytest.raises(CatalogError, match="demo_items lacks the columns name"):
        Ledger(con, [ITEMS]).rows("demo_items")


def test_declarations_are_checked():
    with pytest.raises(ValueError, match="type 'TEXT' is not one of"):
        Column("x", "TEXT")
    assert RUNS.ddl().startswith('CREATE TABLE IF NOT EXISTS "demo_runs"')
    assert '"run_id" VARCHAR PRIMARY KEY' in RUNS.ddl()
    assert '"created" TIMESTAMP DEFAULT current_timestamp' in RUNS.ddl()
