"""A new catalog made from store/fresh_ddl.py is the one the migrations make."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from workbench.store import fresh, fresh_ddl
from workbench.store.catalog import Catalog
from workbench.store.schema import SCHEMA_VERSION


def _contents(path: Path) -> tuple[list[str], list[tuple[str, str]], dict[str, int], list[str]]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        statements, meta = fresh.dump(con)
        tables = [r[0] for r in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()]
        rows = {t: con.execute(f'SELECT count(*) FROM "{t}"').fetchall()[0][0] for t in tables}
        constraints = con.execute(
            "SELECT table_name || ' ' || constraint_type || ' ' || constraint_text"
            " FROM duckdb_constraints() ORDER BY ALL"
        ).fetchall()
        others = con.execute(  # views, indexes and macros the migrations might add
            "SELECT 'view ' || view_name FROM duckdb_views() WHERE NOT internal"
            " UNION ALL SELECT 'index ' || index_name FROM duckdb_indexes()"
            " UNION ALL SELECT 'macro ' || function_name FROM duckdb_functions()"
            " WHERE NOT internal ORDER BY ALL"
        ).fetchall()
        return statements, meta, rows, [r[0] for r in constraints + others]
    finally:
        con.close()


def test_the_written_schema_is_what_the_migrations_make() -> None:
    version, statements, meta = fresh.migrated_dump()
    assert version == SCHEMA_VERSION
    # After a change to the migrations: python -m workbench.store.fresh
    assert fresh_ddl.VERSION == SCHEMA_VERSION
    assert list(fresh_ddl.STATEMENTS) == statements
    assert list(fresh_ddl.META) == meta


def test_a_new_catalog_matches_one_migrated_step_by_step(tmp_path: Path) -> None:
    quick, slow = tmp_path / "quick.duckdb", tmp_path / "slow.duckdb"
    Catalog(quick).close()
    fresh.migrate_in_turn(slow)
    made, migrated = _contents(quick), _contents(slow)
    assert made == migrated
    assert made[2]["meta"] == len(fresh_ddl.META)
    assert sum(made[2].values()) == len(fresh_ddl.META)  # every other table empty


def test_the_long_way_runs_every_migration_and_a_new_catalog_does_not(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refused(con: duckdb.DuckDBPyConnection) -> None:
        raise AssertionError("the schema was made in one go")

    monkeypatch.setattr(fresh, "create", refused)
    fresh.migrate_in_turn(tmp_path / "slow.duckdb")
    with pytest.raises(AssertionError, match="in one go"):
        Catalog(tmp_path / "quick.duckdb")


def test_a_file_with_tables_of_its_own_is_migrated_the_long_way(tmp_path: Path) -> None:
    path = tmp_path / "other.duckdb"
    with duckdb.connect(str(path)) as con:
        con.execute("CREATE TABLE notes (text VARCHAR)")
    Catalog(path).close()
    with duckdb.connect(str(path), read_only=True) as con:
        tables = {r[0] for r in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
        version = con.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchall()
    assert "notes" in tables and "frames" in tables
    assert version == [(str(SCHEMA_VERSION),)]
