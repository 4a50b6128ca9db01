"""Values never become SQL, raw SQL stays read-only, and DuckDB errors reach people readably."""

import pytest

from workbench.errors import QueryError, ReadOnlyQueryError

from .query_catalog import rows

HOSTILE = "x' OR '1'='1'); DROP TABLE frames; --"


def frames_intact(catalog) -> bool:
    return rows(catalog, "SELECT count(*) FROM frames")[0][0] == 10


@pytest.mark.parametrize(
    "make",
    [
        lambda v: v.match(weather=HOSTILE),
        lambda v: v.match(speed=[HOSTILE, HOSTILE + "2"]),
        lambda v: v.match(**{HOSTILE: "rain"}),
        lambda v: v.match(**{"metadata." + HOSTILE: 1}),
        lambda v: v.select([HOSTILE]),
        lambda v: v.select([HOSTILE + str(i) for i in range(100)]),
        lambda v: v.select_contexts([HOSTILE]),
        lambda v: v.filter_rois(HOSTILE),
        lambda v: v.filter_rois(labels=[HOSTILE]),
        lambda v: v.has_rois(HOSTILE, HOSTILE),
        lambda v: v.match_tags(HOSTILE, "review", all=True),
    ],
)
def test_hostile_values_match_nothing(catalog, make):
    view = make(catalog.view())
    assert view.frame_ids() == []
    assert view.count() == 0
    assert frames_intact(catalog)


def test_hostile_values_in_exclusions_and_sorts_change_nothing(catalog):
    view = catalog.view().exclude([HOSTILE]).exclude_tags(HOSTILE).lacks_rois(label=HOSTILE)
    assert view.count() == 10
    assert catalog.view().sort_by("metadata." + HOSTILE).count() == 10
    assert catalog.view().metadata_values(HOSTILE).to_pylist() == [{"value": None, "count": 10}]
    assert catalog.view().context_frames(HOSTILE).num_rows == 0
    assert frames_intact(catalog)


@pytest.mark.parametrize(
    ("fragment", "why"),
    [
        ("TRUE; DROP TABLE frames", "cannot parse"),
        ("TRUE\n); DROP TABLE frames; SELECT id FROM frames f WHERE (TRUE", "one query"),
        ("f.id IN (SELECT column0 FROM read_csv('/etc/passwd'))", "read_csv"),
        ("getenv('HOME') IS NOT NULL", "getenv"),
        ("f.id IN (SELECT name FROM duckdb_settings())", "duckdb_settings"),
        ("f.id IN (SELECT id FROM other_db.frames)", "only tables of this catalog"),
    ],
)
def test_raw_sql_must_stay_read_only(catalog, fragment, why):
    view = catalog.view().where(fragment)
    with pytest.raises(ReadOnlyQueryError, match=why):
        view.frame_ids()
    with pytest.raises(ReadOnlyQueryError):
        view.compile()
    with pytest.raises(ReadOnlyQueryError):
        view.page()
    assert frames_intact(catalog)


def test_raw_sql_can_read_other_catalog_tables(catalog):
    view = catalog.view().where("f.id IN (SELECT frame_id FROM tags WHERE tag = ?)", "bad")
    assert view.frame_ids() == ["f1", "f4"]
    assert view.label_counts("ground_truth").num_rows == 2


def test_duckdb_errors_become_query_errors_with_the_message(catalog):
    with pytest.raises(QueryError, match="no_such_column") as info:
        catalog.view().where("f.no_such_column = 1").count()
    assert not isinstance(info.value, ReadOnlyQueryError)
    assert len(str(info.value).splitlines()) <= 3
    with pytest.raises(QueryError):
        catalog.view().where("f.timestamp > ?").count()  # a parameter without a value
    with pytest.raises(QueryError, match="needs a SQL expression"):
        catalog.view().where("  ")
