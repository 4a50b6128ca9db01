"""The layout the store keeps beside the public tables: frame and label keys, per-frame label
summaries and promoted metadata columns stay exactly what the ROIs and metadata say, after
every kind of write, after migrating an older catalog and after optimize()."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pytest

import workbench
from workbench.ingest import parquet
from workbench.ingest.writer import CatalogWriter
from workbench.model.geometry import box_ring
from workbench.model.records import PROMOTED_KEYS, Frame, Roi, Source
from workbench.store import layout, layout_build, summaries
from workbench.store.schema import LAYOUT_MIGRATION, MIGRATIONS, SCHEMA_VERSION


def _rows(catalog: Any, query: str) -> list[tuple[Any, ...]]:
    return catalog.cursor().execute(query).fetchall()


def check_layout(catalog: Any) -> None:
    """Every derived value equals what the public columns say."""
    keys = _rows(catalog, "SELECT frame_key FROM frames ORDER BY rowid")
    assert all(k[0] is not None for k in keys)
    assert len({k[0] for k in keys}) == len(keys)
    assert [k[0] for k in keys] == sorted(k[0] for k in keys), "keys follow insertion order"
    for table in ("sources", "rois"):
        wrong = _rows(
            catalog,
            f"SELECT count(*) FROM {table} t LEFT JOIN frames f ON f.id = t.frame_id"
            f" WHERE t.frame_key IS DISTINCT FROM coalesce(f.frame_key, {layout.NO_FRAME})",
        )
        assert wrong == [(0,)], table
    assert _rows(
        catalog,
        "SELECT count(*) FROM rois r LEFT JOIN label_keys k ON k.label_key = r.label_key"
        " WHERE k.field IS DISTINCT FROM r.field OR k.label IS DISTINCT FROM r.label",
    ) == [(0,)]
    summaries = (
        "SELECT frame_key, label_key, rois, min_confidence, max_confidence FROM frame_labels"
    )
    recomputed = (
        "SELECT frame_key, label_key, count(*)::INTEGER, min(confidence), max(confidence)"
        f" FROM rois WHERE frame_key <> {layout.NO_FRAME} GROUP BY ALL"
    )
    assert sorted(_rows(catalog, summaries)) == sorted(_rows(catalog, recomputed))
    check_codes(catalog)
    check_contexts(catalog)
    for key, column in layout.promoted_columns(catalog.cursor()).items():
        pointer = "/" + key
        assert _rows(
            catalog,
            f'SELECT count(*) FROM frames WHERE "{column}" IS DISTINCT FROM'
            f" json_extract_string(metadata, '{pointer}')",
        ) == [(0,)]


def check_contexts(catalog: Any) -> None:
    """On a local catalog every frame's context key is its context_id's in context_keys,
    one key per context_id and one context_id per key."""
    if getattr(catalog, "lake", None) is not None:
        return
    assert layout.has_context_keys(catalog.cursor())
    wrong = (
        "SELECT count(*) FROM frames f LEFT JOIN context_keys k ON k.context_id = f.context_id"
        " WHERE f.context_key IS NULL OR f.context_key IS DISTINCT FROM k.context_key"
    )
    assert _rows(catalog, wrong) == [(0,)]
    unique = "SELECT count(DISTINCT context_id), count(DISTINCT context_key), count(*)"
    ids, keys, rows = _rows(catalog, unique + " FROM context_keys")[0]
    assert ids == keys == rows
    check_values(catalog)


def check_values(catalog: Any) -> None:
    """On a local catalog every frame's values key names its promoted keys' values in
    value_keys, one key per combination of values and one combination per key."""
    assert layout.has_values_keys(catalog.cursor())
    same = " AND ".join(f"k.{k} IS NOT DISTINCT FROM f.{k}" for k in PROMOTED_KEYS)
    wrong = (
        f"SELECT count(*) FROM frames f LEFT JOIN value_keys k ON k.values_key = f.values_key"
        f" WHERE f.values_key IS NULL OR k.values_key IS NULL OR NOT ({same})"
    )
    assert _rows(catalog, wrong) == [(0,)]
    keys = ", ".join(PROMOTED_KEYS)
    unique = f"SELECT count(DISTINCT ({keys})), count(DISTINCT values_key), count(*)"
    combinations, numbers, rows = _rows(catalog, unique + " FROM value_keys")[0]
    assert combinations == numbers == rows
    check_summaries(catalog)


LAST = 2**63 - 1


def check_summaries(catalog: Any) -> None:
    """On a local catalog the whole catalog's summaries say what its frames say: a row per
    context with its frames, time span and first frame (by timestamp, frame_index, id), the
    frames of each values key; every frame counted, nothing left pending."""
    con = catalog.cursor()
    assert summaries.marked(con) == layout.next_frame_key(con)
    assert _rows(catalog, f"SELECT count(*) FROM {summaries.PENDING}") == [(0,)]
    frames = _rows(
        catalog,
        "SELECT context_key, context_id, timestamp, frame_index, id, values_key FROM frames",
    )
    contexts: dict[tuple[int, str], list[tuple[Any, ...]]] = {}
    for key, context, ts, index, frame_id, _ in frames:
        contexts.setdefault((key, context), []).append((ts, index, frame_id))
    expected = []
    for (key, context), rows in contexts.items():
        stamps = [r[0] for r in rows if r[0] is not None]
        first = min(
            rows,
            key=lambda r: (LAST if r[0] is None else r[0], LAST if r[1] is None else r[1], r[2]),
        )
        span = (min(stamps), max(stamps)) if stamps else (None, None)
        expected.append((key, context, len(rows), *span, first[2]))
    stored = _rows(
        catalog,
        "SELECT context_key, context_id, frames, first_timestamp, last_timestamp,"
        f" first_frame_id FROM {summaries.CONTEXTS}",
    )
    assert sorted(stored) == sorted(expected)
    values: dict[int, int] = {}
    for *_, values_key in frames:
        values[values_key] = values.get(values_key, 0) + 1
    assert dict(_rows(catalog, f"SELECT values_key, frames FROM {summaries.VALUES}")) == values
    assert summaries.current(con)


def roi_code(label_key: int, confidence: float | None) -> int:
    """A ROI's code in frame_codes, computed here as docs/scale.md describes it."""
    usable = confidence is not None and not math.isnan(confidence) and confidence >= 0
    fine = min(math.floor(confidence * 1000), 999) if usable else 1000  # type: ignore[operator]
    return label_key * 2000 + fine


def check_codes(catalog: Any) -> None:
    """frame_codes holds one row per stored frame, its ROIs' codes (an empty list without
    ROIs; a lake's, frames with ROIs only); code_counts, how many ROIs of stored frames hold
    each code. While they say so, frame_codes and frames hold the same frames row for row."""
    local = getattr(catalog, "lake", None) is None
    expected: dict[int, list[int]] = {}
    if local:
        expected = {k: [] for (k,) in _rows(catalog, "SELECT frame_key FROM frames")}
    for frame_key, label_key, confidence in _rows(
        catalog,
        f"SELECT frame_key, label_key, confidence FROM rois WHERE frame_key <> {layout.NO_FRAME}",
    ):
        expected.setdefault(frame_key, []).append(roi_code(label_key, confidence))
    stored = _rows(catalog, "SELECT frame_key, codes FROM frame_codes")
    assert len(stored) == len({k for k, _ in stored}), "one row per frame"
    if not local:
        stored = [(k, c) for k, c in stored if c]
    if local and layout.codes_aligned(catalog.cursor()):
        step = "SELECT count(*) FROM frames f POSITIONAL JOIN frame_codes c"
        assert _rows(catalog, step + " WHERE f.frame_key IS DISTINCT FROM c.frame_key") == [(0,)]
    assert {k: sorted(c) for k, c in stored} == {k: sorted(c) for k, c in expected.items()}
    totals: dict[int, int] = {}
    for codes in expected.values():
        for c in codes:
            totals[c] = totals.get(c, 0) + 1
    assert dict(_rows(catalog, "SELECT code, rois FROM code_counts")) == totals


def _frame(i: int, labels: list[tuple[str, str, float | None]], **metadata: Any) -> Frame:
    rois = [
        Roi(f"r{n}", "box", [label], geometry=[box_ring(n, n, 5, 5)], field=field, confidence=c)
        for n, (field, label, c) in enumerate(labels)
    ]
    return Frame(
        id=f"f{i}",
        context_id=f"c{i // 3}",
        timestamp=i,
        sources=[Source("cam", f"/data/f{i}.jpg")],
        rois=rois,
        metadata=metadata,
    )


@pytest.fixture
def catalog(tmp_path: Path):
    with workbench.open(tmp_path / "layout.duckdb") as cat:
        yield cat


def _fill(catalog: Any, n: int = 9) -> None:
    with CatalogWriter(catalog, progress=False) as writer:
        for i in range(n):
            writer.add(
                _frame(
                    i,
                    [("ground_truth", "car", None), ("predictions", "car", 0.1 * (i % 10))],
                    scene=f"s{i % 2}",
                )
            )


def test_written_frames_get_keys_and_summaries(catalog):
    _fill(catalog)
    check_layout(catalog)
    assert _rows(catalog, "SELECT count(*) FROM frame_labels") == [(18,)]


def test_replacing_frames_and_labels_keeps_summaries_exact(catalog):
    _fill(catalog)
    with CatalogWriter(catalog, progress=False) as writer:
        writer.add(_frame(1, [("predictions", "truck", 0.9)]))
        writer.add(_frame(2, []))
        writer.add_labels("f3", "predictions", [])
        writer.add_labels(
            "f4", "ground_truth", [Roi("n", "box", ["bus"], geometry=[box_ring(0, 0, 2, 2)])]
        )
    check_layout(catalog)
    labels = catalog.view().label_counts().to_pylist()
    assert {"field": "predictions", "label": "truck", "count": 1} in labels
    assert catalog.view().filter_rois("predictions", labels=["car"]).count() == 6
    # The replaced frames moved to the end of the insertion order, as their rows did.
    assert catalog.view().frame_ids()[-2:] == ["f1", "f2"]


def test_rois_deleted_in_place_are_forgotten_once_touched(catalog):
    _fill(catalog)
    with catalog.transaction() as con:
        layout.touch(con, "SELECT 'f5'")
        con.execute("DELETE FROM rois WHERE frame_id = 'f5'")
    check_layout(catalog)
    assert "f5" not in catalog.view().has_rois().frame_ids()


def test_labels_changed_in_place_are_keyed_again_once_touched(catalog):
    _fill(catalog)
    with catalog.transaction() as con:
        layout.touch(con, "SELECT 'f2'")
        con.execute(
            "UPDATE rois SET label = 'tram' WHERE frame_id = 'f2' AND field = 'predictions'"
        )
    check_layout(catalog)
    assert catalog.view().filter_rois("predictions", labels=["tram"]).frame_ids() == ["f2"]


def test_parquet_reimport_keeps_summaries_exact(catalog, tmp_path: Path):
    _fill(catalog)
    folder = tmp_path / "export"
    parquet.export_files(catalog.view(), folder, progress=False)
    for _ in range(2):
        assert parquet.import_files(catalog, [folder], progress=False).ok
        check_layout(catalog)
    assert catalog.view().count() == 9


def _old_catalog(path: Path) -> None:
    """A catalog at the version before the layout, with frames in it."""
    before = MIGRATIONS.index(LAYOUT_MIGRATION)
    con = duckdb.connect(str(path))
    for migration in MIGRATIONS[:before]:
        for statement in migration:
            assert isinstance(statement, str)
            con.execute(statement)
    con.execute("INSERT INTO meta VALUES ('schema_version', ?)", [str(before)])
    con.execute(
        "INSERT INTO frames (id, context_id, timestamp, metadata) SELECT 'f' || range,"
        " 'c' || (range // 4), range, json_object('scene', 's' || (range % 3), 'nested',"
        " json_object('a', 1)) FROM range(40)"
    )
    con.execute("INSERT INTO sources (frame_id, id, uri) SELECT id, 'cam', id FROM frames")
    con.execute(
        "INSERT INTO rois (frame_id, id, field, label, confidence, kind)"
        " SELECT f.id, 'r' || k, CASE WHEN k = 0 THEN 'ground_truth' ELSE 'predictions' END,"
        " CASE WHEN k = 2 THEN NULL ELSE 'car' END, k / 10.0, 'box'"
        " FROM frames f, range(3) t(k)"
    )
    con.execute("INSERT INTO rois (frame_id, id, field, kind) VALUES ('gone', 'x', 'gt', 'box')")
    con.close()


def test_an_older_catalog_is_migrated_to_the_layout(tmp_path: Path, monkeypatch):
    # Small stretches, so the migration rewrites and summarises in several.
    monkeypatch.setattr(layout_build, "COPY_ROWS", 7)
    monkeypatch.setattr(layout_build, "SUMMARY_FRAMES", 5)
    path = tmp_path / "old.duckdb"
    _old_catalog(path)
    with workbench.open(path) as catalog:
        assert catalog.schema_version == SCHEMA_VERSION
        check_layout(catalog)
        # `scene` is in every frame and scalar: promoted; `nested` holds objects: not.
        assert layout.promoted_columns(catalog.cursor()) == {"scene": "metadata_scene"}
        view = catalog.view()
        assert view.match(scene="s1").count() == 13
        assert "metadata_scene" not in view.frames(0, 1).column_names
        # ROIs of no stored frame stay, keyed as such.
        assert _rows(catalog, "SELECT frame_key FROM rois WHERE frame_id = 'gone'") == [
            (layout.NO_FRAME,)
        ]


def test_optimize_reclusters_and_promotes(catalog):
    _fill(catalog)
    with CatalogWriter(catalog, progress=False) as writer:
        writer.add_labels(
            "f0", "predictions", [Roi("late", "box", ["car"], geometry=[box_ring(0, 0, 2, 2)])]
        )
    assert layout.promoted_columns(catalog.cursor()) == {}
    assert catalog.optimize() == ["scene"]
    check_layout(catalog)
    keys = [r[0] for r in _rows(catalog, "SELECT frame_key FROM rois ORDER BY rowid")]
    assert keys == sorted(keys)
    # Views built after the change read the new column.
    assert catalog.view().match(scene="s0").count() == 5
    with CatalogWriter(catalog, progress=False) as writer:
        writer.add(_frame(20, [], scene="s9"))
    check_layout(catalog)
    assert catalog.view().match(scene="s9").frame_ids() == ["f20"]


def test_an_interrupted_migration_is_done_again_on_the_next_open(tmp_path: Path, monkeypatch):
    path = tmp_path / "old.duckdb"
    _old_catalog(path)
    before = MIGRATIONS.index(LAYOUT_MIGRATION)

    def killed(con: Any) -> None:
        raise KeyboardInterrupt

    with monkeypatch.context() as patched:
        patched.setattr(layout_build, "_summarise", killed)
        with pytest.raises(KeyboardInterrupt):
            workbench.open(path)
    con = duckdb.connect(str(path))
    assert con.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchall() == [
        (str(before),)
    ]
    con.close()
    with workbench.open(path) as catalog:
        assert catalog.schema_version == SCHEMA_VERSION
        check_layout(catalog)
        tables = {r[0] for r in _rows(catalog, "SELECT table_name FROM duckdb_tables()")}
        assert not tables & set(layout_build.BUILT.values())


def test_writes_promote_keys_while_the_catalog_is_small(catalog, monkeypatch):
    monkeypatch.setattr(layout, "PROMOTE_FROM", 6)
    _fill(catalog, 4)
    assert layout.promoted_columns(catalog.cursor()) == {}
    _fill(catalog, 9)  # 9 frames: past PROMOTE_FROM
    assert layout.promoted_columns(catalog.cursor()) == {"scene": "metadata_scene"}
    check_layout(catalog)
    assert catalog.view().match(scene="s1").count() == 4
    assert "metadata_scene" not in catalog.view().frames(0, 1).column_names


def test_a_first_write_promotes_from_its_own_frames(catalog, monkeypatch):
    """Keys promoted by the write that stores the first frames are chosen from that write's
    frames and filled by its INSERT (no frame is updated after it)."""
    monkeypatch.setattr(layout, "PROMOTE_FROM", 6)
    statements: list[str] = []
    _fill_traced(catalog, 9, statements)
    assert layout.promoted_columns(catalog.cursor()) == {"scene": "metadata_scene"}
    assert not [s for s in statements if s.startswith('UPDATE frames SET "metadata_')]
    check_layout(catalog)
    assert catalog.view().match(scene="s0").count() == 5


def _fill_traced(catalog: Any, n: int, statements: list[str]) -> None:
    """_fill, keeping the text of every statement its transactions run."""
    from workbench.store import catalog as store_catalog

    inner = store_catalog.Catalog._cursor

    class Traced:
        def __init__(self, con: Any) -> None:
            self._con = con

        def __getattr__(self, name: str) -> Any:
            return getattr(self._con, name)

        def execute(self, sql: str, *args: Any) -> Any:
            statements.append(sql)
            return self._con.execute(sql, *args)

    store_catalog.Catalog._cursor = lambda self: Traced(inner(self))  # type: ignore[method-assign]
    try:
        _fill(catalog, n)
    finally:
        store_catalog.Catalog._cursor = inner  # type: ignore[method-assign]


def test_a_catalog_at_version_7_gets_its_roi_codes(catalog, monkeypatch):
    monkeypatch.setattr(layout_build, "SUMMARY_FRAMES", 4)
    monkeypatch.setattr(layout_build, "CODE_FRAMES", 4)
    _fill(catalog)
    path = catalog.path
    with catalog.transaction() as con:
        con.execute("DROP TABLE frame_codes")
        con.execute("DROP TABLE code_counts")
        con.execute("INSERT OR REPLACE INTO meta VALUES ('schema_version', '7')")
    catalog.close()
    with workbench.open(path) as reopened:
        assert reopened.schema_version == SCHEMA_VERSION
        check_layout(reopened)
        assert _rows(reopened, "SELECT count(*) FROM frame_codes") == [(9,)]


def test_rows_keyed_as_inserted_match_what_sync_would_give(catalog, monkeypatch):
    """Frames stored after keys were promoted get their promoted columns in the INSERT; ROIs
    without a label, new (field, label) pairs and ROIs naming a stored frame outside the
    batch (keyed by sync) all end up as the public columns say."""
    from workbench.ingest.writer import RowBatch
    from workbench.model.records import SOURCE_SCHEMA

    monkeypatch.setattr(layout, "PROMOTE_FROM", 6)
    _fill(catalog, 9)
    assert layout.promoted_columns(catalog.cursor()) == {"scene": "metadata_scene"}
    with CatalogWriter(catalog, progress=False) as writer:
        writer.add(_frame(20, [("ground_truth", "bus", 0.5)], scene="s9"))
        writer.add(Frame(id="f21", rois=[Roi("k", "classification", [], field="tags")]))
    stored = catalog.cursor().sql("SELECT * FROM rois WHERE frame_id = 'f0'").to_arrow_table()
    rois = stored.drop_columns(["frame_key", "label_key"])
    rois = rois.set_column(1, "id", pa.array(["x", "y"]))
    frames = (
        catalog.cursor()
        .sql("SELECT * EXCLUDE (frame_key, metadata_scene, ingested) FROM frames WHERE id = 'f20'")
        .to_arrow_table()
    )
    frames = frames.set_column(0, "id", pa.array(["f30"]))
    with CatalogWriter(catalog, progress=False) as writer:  # f30's rows, and two more for f0
        writer.write_rows(RowBatch(frames, SOURCE_SCHEMA.empty_table(), rois))
    check_layout(catalog)
    assert catalog.view().match(scene="s9").count() == 2
    assert _rows(catalog, "SELECT count(*) FROM rois WHERE frame_id = 'f0'") == [(4,)]
