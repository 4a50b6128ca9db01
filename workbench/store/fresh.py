"""A new catalog made in one transaction from the schema the migrations end at.

A new, empty file used to be brought up to date by running every migration from version 0:
about 250 statements in some 30 transactions (tables made, then rebuilt by the layout's
migrations on no rows), 0.15-0.2 s of CPU before an import could start. The statements the
migrations leave behind are few: the tables (with their keys and defaults), one sequence and
the rows of `meta`. `store/fresh_ddl.py` holds them, as DuckDB itself writes them out
(`duckdb_tables().sql`) after migrating an empty file, and `create` runs them in one
transaction. tests/store/test_fresh.py migrates an empty file the long way and checks that
it ends with exactly these tables and rows; after a change to the migrations, write the file
again with

    python -m workbench.store.fresh
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import duckdb

from workbench.store import fresh_ddl

Con = duckdb.DuckDBPyConnection


def create(con: Con) -> None:
    """Make the schema of version `fresh_ddl.VERSION` on an empty file (in the caller's
    transaction)."""
    con.execute("\n".join(fresh_ddl.STATEMENTS))  # one call: the same schema, 4 ms less
    rows = ", ".join(["(?, ?)"] * len(fresh_ddl.META))
    con.execute(f"INSERT INTO meta VALUES {rows}", [v for row in fresh_ddl.META for v in row])


def dump(con: Con) -> tuple[list[str], list[tuple[str, str]]]:
    """A catalog's sequences and tables as the statements that make them, and its `meta`
    rows: what an empty catalog's migrations leave (any other table must have no rows)."""
    statements = [
        str(r[0])
        for r in con.execute(
            "SELECT sql FROM duckdb_sequences() WHERE NOT temporary ORDER BY sequence_name"
        ).fetchall()
    ]
    tables = con.execute(
        "SELECT table_name, sql FROM duckdb_tables() WHERE NOT temporary"
        " AND schema_name = 'main' ORDER BY table_name"
    ).fetchall()
    statements += [str(sql) for _, sql in tables]
    meta = con.execute("SELECT key, value FROM meta ORDER BY key").fetchall()
    return statements, [(str(k), str(v)) for k, v in meta]


def migrate_in_turn(path: Path) -> None:
    """Make a new catalog file at `path` the long way `create` stands in for: every
    migration in turn from version 0."""
    from workbench.store import migrations
    from workbench.store.catalog import Catalog

    class InTurn(Catalog):
        def _migrate(self) -> None:
            migrations.migrate_in_turn(self)

    InTurn(path).close()


def migrated_dump() -> tuple[int, list[str], list[tuple[str, str]]]:
    """The schema version, statements and `meta` rows of an empty file migrated the long
    way (every migration in turn)."""
    with tempfile.TemporaryDirectory(prefix="workbench-fresh-") as folder:
        path = Path(folder) / "fresh.duckdb"
        migrate_in_turn(path)
        con = duckdb.connect(str(path), read_only=True)
        try:
            version = int(
                con.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchall()[0][0]
            )
            return version, *dump(con)
        finally:
            con.close()


def module_text() -> str:
    """The text of store/fresh_ddl.py for the migrations as they are now."""
    version, statements, meta = migrated_dump()
    lines = [
        '"""The schema an empty catalog\'s migrations end at (written by',
        '`python -m workbench.store.fresh`; see store/fresh.py). Do not edit by hand."""',
        "",
        f"VERSION = {version}",
        "",
        "STATEMENTS: tuple[str, ...] = (",
        *(f"    {s!r}," for s in statements),
        ")",
        "",
        "META: tuple[tuple[str, str], ...] = (",
        *(f"    {row!r}," for row in meta),
        ")",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":  # write store/fresh_ddl.py again
    target = Path(__file__).with_name("fresh_ddl.py")
    target.write_text(module_text())
    sys.stdout.write(f"wrote {target}\n")
