"""A WHERE fragment is one expression on its own, and the guard follows SQL scoping.

`false) OR (true` would close the view's parentheses and cancel its other stages: a view
limited to one context would then send every frame of the catalog. DuckDB's own parser
decides what a fragment is (sqlsafe.check_where); these tests pin what it lets through.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Iterator

import pyarrow.parquet as pq
import pytest

import workbench
from workbench.errors import QueryError, ReadOnlyQueryError
from workbench.ingest import CatalogWriter, Frame, Source
from workbench.query.view import View
from workbench.store.catalog import Catalog
from workbench.store.sqlsafe import check_read_only
from workbench.ui.query_state import QueryState

# f0..f5: contexts ctx-0 (f0, f2, f4) and ctx-1 (f1, f3, f5), timestamps 100..105.
FRAMES = [f"f{i}" for i in range(6)]


@pytest.fixture(scope="module")
def catalog(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Catalog]:
    path = tmp_path_factory.mktemp("where") / "where.duckdb"
    with workbench.open(path) as cat:
        with CatalogWriter(cat, progress=False) as writer:
            for i, frame_id in enumerate(FRAMES):
                writer.add(
                    Frame(
                        id=frame_id,
                        context_id=f"ctx-{i % 2}",
                        timestamp=100 + i,
                        sources=[Source("cam", f"/data/{frame_id}.jpg", 8, 8)],
                    )
                )
        with cat.transaction() as con:
            con.execute("INSERT INTO tags (frame_id, tag) VALUES ('f2', 'keep')")
        yield cat


def ids(view: View) -> list[str]:
    return sorted(view.frame_ids())


def test_closing_the_parentheses_is_refused(catalog: Catalog):
    narrowed = catalog.view().select_contexts(["ctx-0"])
    assert ids(narrowed) == ["f0", "f2", "f4"]
    escaped = narrowed.where("false) OR (true")
    with pytest.raises(ReadOnlyQueryError, match="must be one expression"):
        escaped.frame_ids()
    with pytest.raises(ReadOnlyQueryError, match="must be one expression"):
        escaped.count()
    spec = {"version": 1, "stages": [s.to_dict() for s in escaped.stages]}
    with pytest.raises(ReadOnlyQueryError, match="must be one expression"):
        View.from_dict(catalog, spec)  # a spec from the network fails as it is decoded


@pytest.mark.parametrize(
    ("fragment", "params", "expected"),
    [
        ("f.timestamp > ?", (103,), ["f4", "f5"]),
        ("f.timestamp BETWEEN ? AND ?", (101, 102), ["f1", "f2"]),
        ("f.id = 'f1' -- a trailing comment", (), ["f1"]),
        ("f.id = 'f1' /* a block comment */", (), ["f1"]),
        ("f.id = 'f1'\n   OR f.id = 'f3'", (), ["f1", "f3"]),
        ("f.id = 'it''s' OR f.id = 'f0'", (), ["f0"]),
        ("(f.id = 'f0') OR (f.id = 'f5')", (), ["f0", "f5"]),
        ("f.id IN (SELECT frame_id FROM tags WHERE tag = 'keep')", (), ["f2"]),
        ('f.id IN (SELECT id FROM "main"."frames" WHERE timestamp < 101)', (), ["f0"]),
        ("f.id IN (WITH t AS (SELECT frame_id FROM tags) SELECT frame_id FROM t)", (), ["f2"]),
        (
            "f.timestamp IN (WITH RECURSIVE r(n) AS (SELECT 100 UNION ALL "
            "SELECT n + 2 FROM r WHERE n < 104) SELECT n FROM r)",
            (),
            ["f0", "f2", "f4"],
        ),
        ("EXISTS (SELECT 1 FROM range(3) t WHERE t.range = f.timestamp - 100)", (), FRAMES[:3]),
        ("f.context_id = 'ctx-1' AND current_date > DATE '2000-01-01'", (), ["f1", "f3", "f5"]),
    ],
)
def test_expressions_keep_working(catalog: Catalog, fragment, params, expected):
    assert ids(catalog.view().where(fragment, *params)) == expected
    spec = {"stages": [{"stage": "where", "sql": fragment, "params": list(params)}]}
    assert ids(View.from_dict(catalog, spec)) == expected


@pytest.mark.parametrize(
    "fragment",
    [
        "false) OR (true",
        "true) OR (f.id IN (SELECT id FROM frames)",
        "true ORDER BY 1",
        "true LIMIT 1",
        "true GROUP BY f.id",
        "true UNION ALL SELECT * FROM frames",
        "true) UNION ALL (SELECT * FROM frames WHERE true",
        "true; SELECT 1",
        "true\n); SELECT * FROM frames f WHERE (true",
        "true)",
        "(true",
        "true /*",
        "true */",
        "'unterminated",
        "true -- ) OR (true",  # fine on its own, but see below: the comment ends the line
        "true) --",
    ],
)
def test_anything_but_one_expression_is_refused(catalog: Catalog, fragment):
    if fragment == "true -- ) OR (true":
        assert ids(catalog.view().where(fragment)) == FRAMES  # only a comment: harmless
        return
    with pytest.raises(ReadOnlyQueryError):
        catalog.view().where(fragment).frame_ids()
    with pytest.raises(ReadOnlyQueryError):
        View.from_dict(catalog, {"stages": [{"stage": "where", "sql": fragment}]})


def test_refusals_name_what_was_refused_not_the_query(catalog: Catalog):
    marker = "marker-value-7731"
    for fragment, refused in [
        (f"f.id = '{marker}' OR f.id IN (SELECT name FROM pg_settings)", "pg_settings"),
        (f"f.id = '{marker}' OR f.id IN (SELECT * FROM read_csv('x.csv'))", "read_csv"),
        (f"f.id = '{marker}' OR current_setting('threads') = 1", "current_setting"),
        (f"f.id = '{marker}') OR (true", "one expression"),
    ]:
        with pytest.raises(ReadOnlyQueryError) as info:
            catalog.view().where(fragment).count()
        assert refused in str(info.value)
        assert marker not in str(info.value)


def test_the_where_box_shows_the_refusal_and_keeps_its_frames(catalog: Catalog):
    state = QueryState(where="false) OR (true")
    with pytest.raises(QueryError, match="must be one expression"):
        state.view(catalog).count()
    state.where = "f.timestamp > 103"
    assert ids(state.view(catalog)) == ["f4", "f5"]


# -- scoping of CTE names -------------------------------------------------------------------------

ALLOWED = [
    "WITH a AS (SELECT id FROM frames) SELECT * FROM a",
    "WITH a AS (SELECT id FROM frames), b AS (SELECT * FROM a) SELECT * FROM b",
    "WITH a AS (SELECT id FROM frames) SELECT * FROM (SELECT * FROM (SELECT * FROM a) x) y",
    "WITH a AS (SELECT id FROM frames) SELECT * FROM frames WHERE id IN (SELECT id FROM a)",
    "WITH a AS (SELECT id FROM frames) SELECT (SELECT count(*) FROM a)",
    "WITH a AS (SELECT id FROM frames) SELECT * FROM a UNION ALL SELECT * FROM a",
    "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r WHERE n < 3) SELECT * FROM r",
    "SELECT * FROM (WITH a AS (SELECT 1 AS n) SELECT * FROM a) x",
    "WITH frames AS (SELECT * FROM frames WHERE timestamp > 0) SELECT count(*) FROM frames",
    'WITH "A" AS (SELECT 1 AS n) SELECT * FROM a',
    "SELECT * FROM frames f, LATERAL (WITH a AS (SELECT f.id) SELECT * FROM a) l",
]
REFUSED = [
    "SELECT * FROM (WITH a AS (SELECT 1 AS n) SELECT * FROM a) x, a",
    "SELECT * FROM (WITH a AS (SELECT 1 AS n) SELECT * FROM a) x WHERE n IN (SELECT n FROM a)",
    "WITH b AS (SELECT * FROM a), a AS (SELECT 1 AS n) SELECT * FROM b",
    "WITH x AS (WITH a AS (SELECT 1 AS n) SELECT * FROM a) SELECT * FROM a",
    "(WITH a AS (SELECT 1 AS n) SELECT * FROM a) UNION ALL (SELECT * FROM a)",
    "SELECT (SELECT n FROM (WITH a AS (SELECT 1 AS n) SELECT * FROM a) x), (SELECT n FROM a)",
    "WITH a AS (SELECT * FROM a) SELECT * FROM a",
    "WITH RECURSIVE r(n) AS (SELECT * FROM r UNION ALL SELECT 1) SELECT * FROM r",
    "SELECT * FROM frames f, LATERAL (WITH a AS (SELECT 1 AS n) SELECT * FROM a) l, a",
    "WITH pg_settings AS (SELECT 1 AS n) SELECT * FROM pg_settings",
    'WITH "main" AS (SELECT 1 AS n) SELECT * FROM main.main',
    "SELECT * FROM main.pg_settings",
]


@pytest.mark.parametrize("query", ALLOWED)
def test_ctes_are_visible_in_their_scope(catalog: Catalog, query):
    check_read_only(catalog.cursor(), query, catalog.table_names())
    catalog.sql(query).fetchall()


@pytest.mark.parametrize("query", REFUSED)
def test_ctes_are_invisible_outside_their_scope(catalog: Catalog, query):
    with pytest.raises(ReadOnlyQueryError):
        catalog.sql(query)


@pytest.mark.parametrize(
    "stage",
    [
        {"stage": "where", "sql": "NOT " * 700 + "true"},  # deeper than the guard walks
        {"stage": "where", "sql": "NOT " * 5000 + "true"},  # deeper than DuckDB parses
        {"stage": "where", "sql": "f.id = ?", "params": "f0"},
        {"stage": "where", "sql": "f.id = ?", "params": {"a": 1}},
        {"stage": "where", "sql": 42},
        {"stage": "where", "sql": "   "},
    ],
    ids=["deep", "deeper", "params-string", "params-dict", "sql-number", "sql-blank"],
)
def test_malformed_where_stages_are_query_errors(catalog: Catalog, stage):
    with pytest.raises(QueryError):
        View.from_dict(catalog, {"stages": [stage]}).count()


def test_deeply_nested_queries_are_refused_not_crashed(catalog: Catalog):
    query = "SELECT 1"
    for i in range(500):
        query = f"SELECT * FROM ({query}) t{i}"
    with pytest.raises(ReadOnlyQueryError, match="nested too deeply"):
        catalog.sql(query)


def test_cli_export_where_is_one_expression(catalog: Catalog, tmp_path_factory):
    """`workbench export --where` takes a person's fragment too (its own catalog file: the
    CLI opens the file read-write)."""
    folder = tmp_path_factory.mktemp("export")
    path = folder / "cli.duckdb"
    catalog.cursor().execute("CHECKPOINT")
    shutil.copyfile(catalog.path, path)
    dest = folder / "out"
    command = [sys.executable, "-m", "workbench.cli", "export", "parquet", str(dest)]
    command += ["--catalog", str(path), "--match", "context_id=ctx-0"]
    refused = subprocess.run(
        [*command, "--where", "false) OR (true"], capture_output=True, text=True, timeout=120
    )
    assert refused.returncode == 2
    assert "must be one expression" in refused.stderr
    assert not dest.exists() or not any(dest.iterdir())
    done = subprocess.run(
        [*command, "--where", "f.timestamp > 101"], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert pq.read_table(dest / "frames.parquet").column("id").to_pylist() == ["f2", "f4"]
