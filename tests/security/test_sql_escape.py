"""SQL typed by a person reads the catalog and nothing else, through every way in.

Each attempt below tries to reach files, the engine's settings and state, or to write, and to
bring what it found back in a result or an error message (`CAST(secret AS INTEGER)` puts the
secret in DuckDB's conversion error). Every attempt runs through every entry point: the
library (`catalog.sql`), the real CLI (`python -m workbench.cli sql`), `View.where` and a view
spec decoded by `View.from_dict`, the app's WHERE box (query panel and state), and the HTTP API
of a real `workbench serve` process (a view spec's where stage in `annotate`). The planted
token must never come back, and the catalog must stay as it was.

`test_attempts_leak_on_an_open_engine` runs the same text on a plain DuckDB connection, with
no guard and no seal: there the token comes back, so these attempts are real.
"""

from __future__ import annotations

import json
import os
import queue
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import workbench
from workbench.errors import QueryError
from workbench.ingest import CatalogWriter, Frame, Roi, Source, box_ring
from workbench.query.view import View
from workbench.store.catalog import Catalog
from workbench.ui.media import ServedMediaUrls
from workbench.ui.query_panel import QueryPanel
from workbench.ui.state import WorkbenchState

TOKEN = "WBSECRET" + uuid.uuid4().hex
ENV_SECRET = "WB_TEST_SQL_SECRET"
FRAME_IDS = [f"f{i}" for i in range(4)]
CLI = [sys.executable, "-m", "workbench.cli", "sql"]


@dataclass(frozen=True)
class Attempt:
    name: str
    fragment: str  # what goes into a WHERE box or a view spec's where stage
    leaks: bool = True  # on an open engine the token comes back
    may_run: bool = False  # a harmless expression: it may run (and must find nothing secret)

    def query(self, paths: dict[str, str]) -> str:
        """What a person types into `workbench sql` / catalog.sql for the same attempt."""
        return "SELECT f.id FROM frames AS f WHERE " + self.text(paths)

    def text(self, paths: dict[str, str]) -> str:
        return self.fragment.format(**paths)


def leak(source: str) -> str:
    """A condition whose conversion error carries column `a` of `source`."""
    return f"CAST((SELECT max(CAST(a AS VARCHAR)) FROM {source}) AS INTEGER) = 1"


def cast_a() -> str:
    return "CAST(CAST(a AS INTEGER) AS VARCHAR)"


CSV_ID = '"{csv}"'  # a quoted identifier that, unless a CTE of that name is in scope, is a file
ATTEMPTS = [
    # -- a CTE of one scope used to name a file in another -------------------------------------
    Attempt(
        "cte_in_subquery",
        f"{leak(CSV_ID)} OR f.id IN (SELECT a FROM "
        f"(WITH {CSV_ID} AS (SELECT 'x' AS a) SELECT a FROM {CSV_ID}) s)",
    ),
    Attempt(
        "cte_in_another_cte",
        f"f.id IN (WITH c1 AS (WITH {CSV_ID} AS (SELECT 'x' AS a) SELECT a FROM {CSV_ID}), "
        f"c2 AS (SELECT {cast_a()} AS a FROM {CSV_ID}) SELECT a FROM c2)",
    ),
    Attempt(
        "cte_in_scalar_subquery",
        f"{leak(CSV_ID)} OR (SELECT a FROM "
        f"(WITH {CSV_ID} AS (SELECT 'x' AS a) SELECT a FROM {CSV_ID}) s) = 'x'",
    ),
    Attempt(
        "cte_in_in_list",
        f"f.id IN (SELECT {cast_a()} FROM {CSV_ID}) OR "
        f"f.id IN (WITH {CSV_ID} AS (SELECT 'x' AS a) SELECT a FROM {CSV_ID})",
    ),
    Attempt(
        "cte_in_lateral_join",
        "EXISTS (SELECT 1 FROM (SELECT 1 AS one) t, "
        f"LATERAL (SELECT a FROM {CSV_ID} WHERE CAST(a AS INTEGER) = 1) m, "
        f"LATERAL (WITH {CSV_ID} AS (SELECT 'x' AS a) SELECT a FROM {CSV_ID}) l)",
    ),
    Attempt(
        "cte_in_set_operation_branch",
        f"f.id IN ((SELECT {cast_a()} FROM {CSV_ID}) UNION ALL "
        f"(WITH {CSV_ID} AS (SELECT 'x' AS a) SELECT a FROM {CSV_ID}))",
    ),
    Attempt(
        "recursive_cte_outside_its_query",
        f"f.id IN ((SELECT {cast_a()} FROM {CSV_ID}) UNION ALL "
        f"(WITH RECURSIVE {CSV_ID}(a) AS (SELECT 'x' UNION ALL "
        f"SELECT a FROM {CSV_ID} WHERE false) SELECT a FROM {CSV_ID}))",
    ),
    Attempt(
        "recursive_cte_anchor_reads_a_file",
        f"f.id IN (WITH RECURSIVE r(a) AS (SELECT {cast_a()} FROM {CSV_ID} "
        "UNION ALL SELECT a FROM r WHERE false) SELECT a FROM r)",
    ),
    Attempt(
        "cte_named_before_it_is_declared",
        f"f.id IN (WITH c1 AS (SELECT {cast_a()} AS a FROM {CSV_ID}), "
        f"{CSV_ID} AS (SELECT 'x' AS a) SELECT a FROM c1)",
    ),
    Attempt(
        "cte_shadowing_a_system_view",
        "f.id IN (SELECT name FROM pg_settings) OR "
        "f.id IN (WITH pg_settings AS (SELECT 'x' AS name) SELECT name FROM pg_settings)",
        leaks=False,
    ),
    Attempt(
        "cte_with_a_unicode_folded_system_name",
        # U+212A KELVIN SIGN: DuckDB folds it to `k`, so this CTE would shadow duckdb_tables.
        "f.id IN (WITH \"duc\u212adb_tables\" AS (SELECT 'x' AS sql) "
        "SELECT sql FROM duckdb_tables)",
        leaks=False,
    ),
    # -- files by name -----------------------------------------------------------------------
    Attempt("glob_replacement_scan", leak("'{dir}/nested/**/*.json'")),
    Attempt("csv_by_quoted_path", leak("'{csv}'")),
    Attempt("json_by_quoted_path", leak("'{json}'")),
    Attempt("ndjson_by_quoted_path", leak("'{ndjson}'")),
    Attempt("parquet_by_quoted_path", leak("'{parquet}'")),
    Attempt("csv_by_quoted_identifier", leak(CSV_ID)),
    Attempt("file_in_a_where_subquery", f"f.id IN (SELECT {cast_a()} FROM '{{csv}}')"),
    Attempt("read_csv", leak("read_csv('{csv}')")),
    Attempt("read_csv_auto_list", leak("read_csv_auto(['{csv}'], header = true)")),
    Attempt("read_json", leak("read_json('{json}')")),
    Attempt("read_ndjson", leak("read_ndjson('{ndjson}')")),
    Attempt("read_parquet", leak("read_parquet('{parquet}')")),
    Attempt(
        "parquet_kv_metadata",
        "CAST((SELECT max(CAST(value AS VARCHAR)) FROM parquet_kv_metadata('{parquet}')) "
        "AS INTEGER) = 1",
    ),
    Attempt("read_text", "CAST((SELECT max(content) FROM read_text('{txt}')) AS INTEGER) = 1"),
    Attempt(
        "read_blob",
        "CAST((SELECT max(CAST(content AS VARCHAR)) FROM read_blob('{txt}')) AS INTEGER) = 1",
    ),
    Attempt("glob_function", "CAST((SELECT min(file) FROM glob('{dir}/*.txt')) AS INTEGER) = 1"),
    Attempt("query_function", leak("query('SELECT a FROM read_csv(''{csv}'')')")),
    Attempt("query_table_function", leak("query_table('{csv}')")),
    Attempt(
        "file_in_a_table_function_argument",
        "EXISTS (SELECT 1 FROM range((SELECT CAST(max(a) AS INTEGER) FROM '{csv}')))",
    ),
    Attempt(
        "json_execute_serialized_sql",
        "EXISTS (SELECT 1 FROM json_execute_serialized_sql(json_serialize_sql("
        "'SELECT CAST(a AS INTEGER) FROM read_csv(''{csv}'')')))",
    ),
    Attempt(
        "file_in_a_case_expression",
        "CASE WHEN f.id IS NULL THEN 0 ELSE (SELECT CAST(max(a) AS INTEGER) FROM '{csv}') END = 1",
    ),
    Attempt(
        "describe_a_file",
        "f.id IN (SELECT column_name FROM (DESCRIBE SELECT * FROM '{csv}'))",
        leaks=False,
    ),
    Attempt(
        "pivot_a_file",
        "f.id IN (SELECT CAST(k AS VARCHAR) FROM (PIVOT (SELECT a, 'k' AS c FROM '{csv}') "
        "ON c USING max(CAST(a AS INTEGER))))",
    ),
    Attempt(
        "sniff_csv",
        "f.id IN (SELECT CAST(Columns AS VARCHAR) FROM sniff_csv('{csv}'))",
        leaks=False,
    ),
    # -- the engine's settings, state and environment ------------------------------------------
    Attempt("pg_settings", "f.id IN (SELECT name FROM pg_settings)", leaks=False),
    Attempt("duckdb_settings", "f.id IN (SELECT value FROM duckdb_settings())", leaks=False),
    Attempt("duckdb_tables", "f.id IN (SELECT sql FROM duckdb_tables())", leaks=False),
    Attempt(
        "information_schema",
        "f.id IN (SELECT table_name FROM information_schema.tables)",
        leaks=False,
    ),
    Attempt("sqlite_master", "f.id IN (SELECT sql FROM sqlite_master)", leaks=False),
    Attempt("duckdb_secrets", "f.id IN (SELECT name FROM duckdb_secrets())", leaks=False),
    Attempt("which_secret", "which_secret('{csv}', 'local') IS NOT NULL", leaks=False),
    Attempt("current_setting", "current_setting('temp_directory') IS NOT NULL", leaks=False),
    Attempt("getenv", f"CAST(getenv('{ENV_SECRET}') AS INTEGER) = 1", leaks=False),
    Attempt("getvariable", "getvariable('x') IS NULL", leaks=False),
    Attempt(
        "system_catalog_qualified",
        "f.id IN (SELECT sql FROM system.main.duckdb_tables)",
        leaks=False,
    ),
    Attempt("pg_catalog_function", "pg_catalog.current_database() IS NOT NULL", leaks=False),
    Attempt("other_schema", "f.id IN (SELECT id FROM temp.main.frames)", leaks=False),
    # -- other statements ----------------------------------------------------------------------
    Attempt("attach", "true; ATTACH '{db}' AS s; SELECT CAST(a AS INTEGER) FROM s.t"),
    Attempt("attached_table", "f.id IN (SELECT a FROM s.main.t)", leaks=False),
    Attempt("copy_to", "true; COPY frames TO '{dir}/copied.csv'", leaks=False),
    Attempt("copy_from", "true; COPY tags FROM '{csv}'", leaks=False),
    Attempt("export_database", "true; EXPORT DATABASE '{dir}/exported'", leaks=False),
    Attempt("install_load", "true; INSTALL httpfs; LOAD httpfs", leaks=False),
    Attempt("pragma", "true; PRAGMA database_list", leaks=False),
    Attempt(
        "set_external_access",
        "true; SET enable_external_access = true; SELECT CAST(a AS INTEGER) FROM '{csv}'",
        leaks=False,  # even a plain DuckDB refuses to turn access back on while running
    ),
    Attempt("call", "true; CALL duckdb_settings()", leaks=False),
    Attempt("create_table", "true; CREATE TABLE stolen AS SELECT * FROM '{csv}'", leaks=False),
    Attempt("insert", "true; INSERT INTO tags (frame_id, tag) VALUES ('f0', 'x')", leaks=False),
    Attempt("update", "true; UPDATE frames SET context_id = 'x'", leaks=False),
    Attempt("delete", "true; DELETE FROM frames", leaks=False),
    Attempt("drop", "true; DROP TABLE frames", leaks=False),
    Attempt("second_select", "true; SELECT CAST(a AS INTEGER) FROM '{csv}'"),
    # -- comments, parentheses, strings, identifiers -------------------------------------------
    Attempt(
        "line_comment_closes_parenthesis",
        f"false --\n) OR {leak(chr(39) + '{csv}' + chr(39))} OR (false",
    ),
    Attempt("block_comment", f"false /* ) OR ( */ OR {leak(chr(39) + '{csv}' + chr(39))}"),
    Attempt("unterminated_block_comment", "false) OR (true /*", leaks=False),
    Attempt("comment_after_a_quote", f"f.id = 'x' -- '\nOR {leak(chr(39) + '{csv}' + chr(39))}"),
    Attempt("close_parentheses", "false) OR (true", leaks=False),
    Attempt(
        "close_parentheses_and_union",
        f"false) UNION ALL SELECT {cast_a()} FROM '{{csv}}' --",
        leaks=False,
    ),
    Attempt("close_parentheses_and_order", "true) ORDER BY 1 LIMIT 1 --", leaks=False),
    Attempt(
        "doubled_quote_in_a_string",
        "f.id = 'x'' OR CAST((SELECT max(a) FROM ''{csv}'') AS INTEGER) = 1 --'",
        leaks=False,
        may_run=True,
    ),
    Attempt(
        "backslash_in_a_string",
        f"f.id = E'x\\\\' OR {leak(chr(39) + '{csv}' + chr(39))} --'",
        may_run=True,
        leaks=False,
    ),
    Attempt("dollar_quoted_string", f"f.id = $$x$$ OR {leak(chr(39) + '{csv}' + chr(39))}"),
    Attempt("fullwidth_table_name", "f.id IN (SELECT id FROM \uff46rames)", leaks=False),
    Attempt(
        "main_frames_qualified",
        'f.id IN (SELECT id FROM "main"."frames")',
        leaks=False,
        may_run=True,
    ),
]


# -- what the attempts aim at --------------------------------------------------------------------


@pytest.fixture(scope="module")
def paths(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """Secret files holding TOKEN (and TOKEN in an environment variable)."""
    folder = tmp_path_factory.mktemp("sqlsecrets")
    (folder / "secret.csv").write_text(f"a\n{TOKEN}\n")
    (folder / "secret.json").write_text(json.dumps([{"a": TOKEN}]))
    (folder / "secret.ndjson").write_text(json.dumps({"a": TOKEN}) + "\n")
    (folder / "secret.txt").write_text(TOKEN)
    (folder / f"{TOKEN}.txt").write_text("its name is the secret")
    nested = folder / "nested" / "deep"
    nested.mkdir(parents=True)
    (nested / "x.json").write_text(json.dumps([{"a": TOKEN}]))
    table = pa.table({"a": [TOKEN]}).replace_schema_metadata({"note": TOKEN})
    pq.write_table(table, folder / "secret.parquet")
    with duckdb.connect(str(folder / "secret.duckdb")) as con:
        con.execute("CREATE TABLE t AS SELECT ? AS a", [TOKEN])
    old = os.environ.get(ENV_SECRET)
    os.environ[ENV_SECRET] = TOKEN
    try:
        yield {
            "dir": str(folder),
            "csv": str(folder / "secret.csv"),
            "json": str(folder / "secret.json"),
            "ndjson": str(folder / "secret.ndjson"),
            "parquet": str(folder / "secret.parquet"),
            "txt": str(folder / "secret.txt"),
            "db": str(folder / "secret.duckdb"),
        }
    finally:
        if old is None:
            os.environ.pop(ENV_SECRET, None)
        else:
            os.environ[ENV_SECRET] = old


def build_catalog(path: Path) -> None:
    with workbench.open(path) as catalog, CatalogWriter(catalog, progress=False) as writer:
        for i, frame_id in enumerate(FRAME_IDS):
            writer.add(
                Frame(
                    id=frame_id,
                    context_id=f"ctx-{i % 2}",
                    timestamp=100 + i,
                    metadata={"weather": "rain"},
                    sources=[Source("cam", f"/data/{frame_id}.jpg", 64, 48)],
                    rois=[Roi(f"{frame_id}-r", "box", ["car"], geometry=[box_ring(1, 1, 5, 5)])],
                )
            )


@pytest.fixture(scope="module")
def catalog_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The same small catalog three times: in this process, for the CLI, for the server
    (a DuckDB file is open in one process at a time)."""
    folder = tmp_path_factory.mktemp("sqlcatalog")
    files = {}
    for use in ("here", "cli", "server"):
        files[use] = folder / f"{use}.duckdb"
        build_catalog(files[use])
    return files


@pytest.fixture(scope="module")
def catalog(catalog_files: dict[str, Path]) -> Iterator[Catalog]:
    with workbench.open(catalog_files["here"]) as cat:
        yield cat


def assert_nothing_escaped(texts: list[Any], paths: dict[str, str]) -> None:
    for text in texts:
        assert TOKEN not in str(text)
    folder = Path(paths["dir"])
    assert not (folder / "copied.csv").exists()
    assert not (folder / "exported").exists()


def assert_catalog_intact(catalog: Catalog) -> None:
    con = catalog.cursor()
    assert [r[0] for r in con.execute("SELECT id FROM frames ORDER BY id").fetchall()] == FRAME_IDS
    assert con.execute("SELECT count(*) FROM frames WHERE context_id = 'x'").fetchall() == [(0,)]
    assert con.execute("SELECT count(*) FROM tags").fetchall() == [(0,)]
    assert "stolen" not in catalog.table_names()


IDS = [a.name for a in ATTEMPTS]


def test_there_are_enough_distinct_attempts():
    assert len(set(IDS)) == len(IDS) >= 40
    assert len({a.fragment for a in ATTEMPTS}) == len(ATTEMPTS)


# -- the attempts are real -------------------------------------------------------------------------


@pytest.mark.parametrize("attempt", [a for a in ATTEMPTS if a.leaks], ids=lambda a: a.name)
def test_attempts_leak_on_an_open_engine(attempt: Attempt, paths: dict[str, str]):
    """Without the guard and the seal (a plain DuckDB), the same text brings the token back,
    typed as a whole query or embedded as the view embeds a WHERE fragment."""
    con = duckdb.connect()
    con.execute("CREATE TABLE frames AS SELECT * FROM (VALUES ('f0', 'ctx-0')) v(id, context_id)")
    con.execute("CREATE TABLE tags (frame_id VARCHAR, tag VARCHAR)")
    found = []
    embedded = "SELECT f.id FROM frames AS f WHERE (\n" + attempt.text(paths) + "\n)"
    for query in (attempt.query(paths), embedded):
        try:
            found.append(str(con.execute(query).fetchall()))
        except duckdb.Error as exc:
            found.append(str(exc))
    assert any(TOKEN in text for text in found), found


# -- every entry point ----------------------------------------------------------------------------


@pytest.mark.parametrize("attempt", ATTEMPTS, ids=IDS)
def test_catalog_sql(attempt: Attempt, catalog: Catalog, paths: dict[str, str]):
    try:
        result: Any = catalog.sql(attempt.query(paths)).fetchall()
    except QueryError as exc:
        result = exc
    else:
        assert attempt.may_run, f"ran: {result}"
    assert_nothing_escaped([result], paths)
    assert_catalog_intact(catalog)


CLI_PROCESSES = 3


@pytest.fixture(scope="module")
def cli_runs(
    catalog_files: dict[str, Path], paths: dict[str, str]
) -> dict[str, subprocess.CompletedProcess[str]]:
    """Every attempt through `workbench sql`, a few processes at a time, each process on a
    catalog file of its own (the CLI opens the file read-write)."""
    copies: queue.Queue[Path] = queue.Queue()
    for i in range(CLI_PROCESSES):
        copy = catalog_files["cli"].with_name(f"cli-{i}.duckdb")
        shutil.copyfile(catalog_files["cli"], copy)
        copies.put(copy)

    def run(attempt: Attempt) -> subprocess.CompletedProcess[str]:
        path = copies.get()
        try:
            return subprocess.run(
                [*CLI, "--catalog", str(path), attempt.query(paths), "--format", "json"],
                capture_output=True,
                text=True,
                timeout=300,
                stdin=subprocess.DEVNULL,
            )
        finally:
            copies.put(path)

    with ThreadPoolExecutor(CLI_PROCESSES) as pool:
        done = dict(zip(IDS, pool.map(run, ATTEMPTS), strict=True))
    while not copies.empty():
        with workbench.open(copies.get(), read_only=True) as catalog:
            assert_catalog_intact(catalog)
    return done


@pytest.mark.parametrize("attempt", ATTEMPTS, ids=IDS)
def test_cli_sql(
    attempt: Attempt, cli_runs: dict[str, subprocess.CompletedProcess[str]], paths: dict[str, str]
):
    done = cli_runs[attempt.name]
    assert "Traceback" not in done.stderr
    if not attempt.may_run:
        assert done.returncode == 2, done.stdout
        assert done.stderr.startswith("error: ")
    assert_nothing_escaped([done.stdout, done.stderr], paths)


@pytest.mark.parametrize("attempt", ATTEMPTS, ids=IDS)
def test_view_where_and_view_spec(attempt: Attempt, catalog: Catalog, paths: dict[str, str]):
    fragment = attempt.text(paths)
    spec = {"version": 1, "stages": [{"stage": "where", "sql": fragment}]}
    outcomes: list[Any] = []
    for make in (
        lambda: catalog.view().where(fragment),
        lambda: View.from_dict(catalog, spec),  # as the HTTP API decodes a request's view
    ):
        try:
            outcomes.append(make().frame_ids())
        except QueryError as exc:
            outcomes.append(exc)
        else:
            assert attempt.may_run, f"ran: {outcomes[-1]}"
            assert set(outcomes[-1]) <= set(FRAME_IDS)
    assert_nothing_escaped(outcomes, paths)
    assert_catalog_intact(catalog)


@pytest.fixture(scope="module")
def query_panel(catalog: Catalog) -> QueryPanel:
    return QueryPanel(WorkbenchState(catalog, ServedMediaUrls()))


@pytest.mark.parametrize("attempt", ATTEMPTS, ids=IDS)
def test_app_where_box(attempt: Attempt, query_panel: QueryPanel, paths: dict[str, str]):
    state = query_panel.state
    query_panel.where.value_input = ""
    query_panel.apply()
    assert not state.error and state.total > 0
    query_panel.where.value_input = attempt.text(paths)  # what typing does
    query_panel.apply_button.clicks += 1
    shown = [state.error, query_panel.error.object, state.tiles, state.facets]
    if state.error:
        assert query_panel.error.visible
        assert state.tiles == [] and state.total == 0
    else:
        assert attempt.may_run, f"ran: {state.tiles}"
        assert {t["id"] for t in state.tiles} <= {"ctx-0", "ctx-1"}
    assert_nothing_escaped(shown, paths)
    assert_catalog_intact(state.catalog)


# -- the HTTP API of a real server ----------------------------------------------------------------


@pytest.fixture(scope="module")
def server(catalog_files: dict[str, Path], paths: dict[str, str], serve_catalog: Any) -> Any:
    # `paths` first: the server inherits the planted environment variable.
    return serve_catalog(catalog_files["server"])


def annotate(server: Any, fragment: str) -> Any:
    """`annotate` is the API method that takes a view spec; a dry run changes nothing."""
    body = {
        "view": {"version": 1, "stages": [{"stage": "where", "sql": fragment}]},
        "anno_key": "probe",
        "label_field": "ground_truth",
        "label_type": "detections",
        "classes": ["car"],
        "dryrun": True,
    }
    return server.client.post("/api/v1/annotate", json=body)


def test_http_view_specs_reach_the_where_stage(server: Any):
    """Controls: the fragment is evaluated (no frames match; a bad column is reported)."""
    empty = annotate(server, "f.id = 'no-such-frame'")
    assert empty.status_code == 400 and "has no frames" in empty.json()["message"]
    bad = annotate(server, "f.no_such_column = 1")
    assert bad.status_code == 400 and "no_such_column" in bad.json()["message"]


@pytest.mark.parametrize("attempt", ATTEMPTS, ids=IDS)
def test_http_api(attempt: Attempt, server: Any, paths: dict[str, str]):
    response = annotate(server, attempt.text(paths))
    if attempt.may_run:
        assert response.status_code < 500
    else:
        assert 400 <= response.status_code < 500, response.text
        assert "cannot be read" in response.json()["message"]
    assert_nothing_escaped([response.text, dict(response.headers)], paths)


@pytest.mark.parametrize(
    "stage",
    [
        {"stage": "where", "sql": "NOT " * 700 + "true"},
        {"stage": "where", "sql": "f.id = ?", "params": 5},
        {"stage": "where", "sql": ["f.id = 'f0'"]},
    ],
    ids=["deep", "params-number", "sql-list"],
)
def test_http_malformed_where_stages_are_4xx(server: Any, stage: dict[str, Any]):
    body = {"view": {"stages": [stage]}, "anno_key": "probe", "dryrun": True}
    response = server.client.post("/api/v1/annotate", json=body)
    assert response.status_code == 400, response.text
