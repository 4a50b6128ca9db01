"""The second line of defence: the catalog's DuckDB engine itself cannot reach files.

These tests go around the read-only guard on purpose (the catalog's own cursor, as the
library's code uses it) and show that DuckDB refuses; then that what the catalog needs (Arrow
data, transactions, checkpoints) still works, and that person SQL is bounded in time.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest

import workbench
from workbench.errors import QueryError
from workbench.store.catalog import Catalog
from workbench.ui.query_state import WHERE_TIME_LIMIT, QueryState

TOKEN = "SEALTOKEN-7f3c9a"
# Counting a trillion rows takes far longer than any limit below.
SLOW = "SELECT count(*) FROM range(1000000000000) a"
CLI = [sys.executable, "-m", "workbench.cli", "sql"]


@pytest.fixture
def secret(tmp_path: Path) -> Path:
    path = tmp_path / "secret.csv"
    path.write_text(f"a\n{TOKEN}\n")
    return path


@pytest.fixture(params=[False, True], ids=["read-write", "read-only"])
def catalog(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Catalog]:
    path = tmp_path / "sealed.duckdb"
    workbench.open(path).close()
    with workbench.open(path, read_only=request.param) as cat:
        yield cat


@pytest.mark.parametrize(
    "statement",
    [
        "SELECT * FROM read_csv('{path}')",
        "SELECT * FROM '{path}'",
        "SELECT * FROM read_text('{path}')",
        "SELECT * FROM glob('{dir}/*')",
        "ATTACH '{dir}/other.duckdb' AS other",
        "COPY (SELECT 1) TO '{dir}/out.csv'",
        "EXPORT DATABASE '{dir}/exported'",
        "INSTALL httpfs",
        "LOAD httpfs",
    ],
)
def test_the_engine_refuses_files_without_the_guard(catalog: Catalog, secret: Path, statement):
    con = catalog.cursor()
    text = statement.format(path=secret, dir=secret.parent)
    with pytest.raises(duckdb.Error) as info:
        con.execute(text).fetchall()
    assert TOKEN not in str(info.value)
    assert isinstance(info.value, duckdb.PermissionException | duckdb.CatalogException), info
    for made in ("other.duckdb", "out.csv", "exported"):
        assert not (secret.parent / made).exists()


def test_read_csv_is_a_permission_error(catalog: Catalog, secret: Path):
    with pytest.raises(duckdb.PermissionException, match="disabled by configuration"):
        catalog.cursor().execute(f"SELECT * FROM read_csv('{secret}')")


def test_the_seal_cannot_be_lifted(catalog: Catalog, secret: Path):
    con = catalog.cursor()
    for statement in (
        "SET enable_external_access = true",
        "RESET enable_external_access",
        "SET lock_configuration = false",
        "SET allowed_paths = ['/']",
        "SET python_enable_replacements = true",
    ):
        with pytest.raises(duckdb.Error):
            con.execute(statement)
    with pytest.raises(duckdb.PermissionException):
        con.execute(f"SELECT * FROM read_csv('{secret}')")


def test_python_variables_are_not_tables(catalog: Catalog):
    leak = pa.table({"a": [TOKEN]})  # noqa: F841 - what a replacement scan would find
    with pytest.raises(duckdb.CatalogException):
        catalog.cursor().sql("SELECT * FROM leak").fetchall()


def test_what_the_catalog_needs_still_works(tmp_path: Path):
    with workbench.open(tmp_path / "works.duckdb") as catalog:
        incoming = pa.table({"id": ["a", "b"], "context_id": ["c", "c"]})
        with catalog.transaction() as tx:
            tx.register("incoming", incoming)
            tx.execute("INSERT INTO frames (id, context_id) SELECT * FROM incoming")
        con = catalog.cursor()
        con.from_arrow(incoming).create("staged")
        assert con.execute("SELECT count(*) FROM staged").fetchall() == [(2,)]
        con.execute("CREATE TEMP TABLE scratch AS SELECT * FROM range(100000)")
        con.execute("CHECKPOINT")
        assert catalog.sql("SELECT count(*) FROM frames").fetchall() == [(2,)]
        assert catalog.view().count() == 2


# -- time limits ----------------------------------------------------------------------------


def test_catalog_sql_stops_at_its_time_limit(tmp_path: Path):
    with workbench.open(tmp_path / "slow.duckdb", time_limit=0.5) as catalog:
        started = time.monotonic()
        with pytest.raises(QueryError, match=r"query took longer than 0\.5 s"):
            catalog.sql(SLOW)
        assert time.monotonic() - started < 15
        assert catalog.sql("SELECT 42").fetchall() == [(42,)]  # the catalog goes on
        with pytest.raises(QueryError, match=r"longer than 0\.2 s"):
            catalog.sql(SLOW, time_limit=0.2)


def test_the_default_limit_comes_from_the_environment(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("WORKBENCH_SQL_TIME_LIMIT", "12.5")
    with workbench.open(tmp_path / "env.duckdb") as catalog:
        assert catalog.time_limit == 12.5
    monkeypatch.delenv("WORKBENCH_SQL_TIME_LIMIT")
    with workbench.open(tmp_path / "env.duckdb") as catalog:
        assert catalog.time_limit == 30


def test_views_with_a_where_fragment_stop_at_the_limit(tmp_path: Path):
    with workbench.open(tmp_path / "slow.duckdb", time_limit=0.5) as catalog:
        with catalog.transaction() as con:
            con.execute("INSERT INTO frames (id, context_id) VALUES ('f0', 'c')")
        view = catalog.view().where(f"({SLOW}) > 0")
        with pytest.raises(QueryError, match=r"longer than 0\.5 s"):
            view.count()
        with pytest.raises(QueryError, match=r"longer than 0\.3 s"):
            view.with_time_limit(0.3).frame_ids()
        # The library's own queries (no person SQL in them) are not bounded.
        assert catalog.view().count() == 1


def test_the_where_box_has_a_shorter_limit(tmp_path: Path):
    with workbench.open(tmp_path / "box.duckdb") as catalog:
        state = QueryState(where="f.id IS NOT NULL")
        assert state.view(catalog).time_limit == WHERE_TIME_LIMIT < catalog.time_limit


def test_cli_sql_time_limit(tmp_path: Path):
    path = tmp_path / "cli.duckdb"
    workbench.open(path).close()
    started = time.monotonic()
    done = subprocess.run(
        [*CLI, "--catalog", str(path), SLOW, "--time-limit", "0.5"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2
    assert "query took longer than 0.5 s" in done.stderr
    assert time.monotonic() - started < 60
