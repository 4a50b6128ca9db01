from pathlib import Path

import pyarrow as pa
import pytest

import workbench
from workbench.ingest import CatalogWriter, Frame, Roi, Source, box_ring


@pytest.fixture
def catalog(tmp_path: Path):
    with workbench.open(tmp_path / "c.duckdb") as cat:
        yield cat


def _rows(catalog, q):
    return catalog.sql(q).fetchall()


def test_frames_sources_rois_are_written_with_derived_columns(catalog):
    frame = Frame(
        id="f1",
        sources=[Source("front", "/d/a.jpg", 100, 50), Source("rear", "/d/b.jpg", 100, 50)],
        rois=[
            Roi(
                "b",
                "box",
                ["car", "vehicle"],
                geometry=[box_ring(10, 5, 20, 10)],
                confidence=0.9,
                source_ids=["front"],
                attributes={"occluded": True},
                track_index=3,
                keyframe=True,
            ),
            Roi("p", "polygon", ["road"], geometry=[[0, 0, 4, 0, 4, 4], [10, 10, 12, 10, 12, 12]]),
            Roi("c", "classification", ["day"]),
        ],
        metadata={"weather": "fog", "camera": "front", "extra": {"x": 1}},
    )
    with CatalogWriter(catalog, progress=False) as writer:
        writer.add(frame)
    assert writer.report.ok and writer.report.rois == 3
    assert _rows(
        catalog, "SELECT context_id, weather, camera, metadata->>'$.extra.x' FROM frames"
    ) == [("/d/a.jpg", "fog", "front", "1")]
    rows = _rows(
        catalog,
        "SELECT id, label, labels, x_min, y_min, x_max, y_max, area, kind FROM rois ORDER BY id",
    )
    assert rows == [
        ("b", "car", ["car", "vehicle"], 10.0, 5.0, 30.0, 15.0, 200.0, "box"),
        ("c", "day", ["day"], None, None, None, None, None, "classification"),
        ("p", "road", ["road"], 0.0, 0.0, 12.0, 12.0, 144.0, "polygon"),
    ]
    assert _rows(catalog, "SELECT len(geometry) FROM rois WHERE id = 'p'") == [(2,)]
    assert _rows(
        catalog, "SELECT attributes->>'$.occluded', track_index, keyframe FROM rois WHERE id='b'"
    ) == [("true", 3, True)]


@pytest.mark.parametrize(
    ("roi", "problem"),
    [
        (Roi("r", "box", ["x"], geometry=[[1, 2, 3]]), "odd number of coordinates"),
        (Roi("r", "polygon", ["x"], geometry=[[1, 2, 3, 4]]), "has 2 points, needs 3"),
        (Roi("r", "blob", ["x"]), "unknown kind 'blob'"),
        (Roi("r", "box", ["x"], geometry=[box_ring(0, 0, 1, 1)], confidence=1.5), "outside [0, 1]"),
        (Roi("r", "point", ["x"], geometry=[[float("nan"), 1.0]]), "not a finite number"),
        (Roi("r", "box", ["x"]), "needs coordinates"),
    ],
)
def test_bad_roi_rejects_its_frame_and_keeps_the_rest(catalog, roi, problem):
    with CatalogWriter(catalog, progress=False) as writer:
        writer.add(Frame(id="good", sources=[Source("s", "/d/g.jpg")]))
        writer.add(
            Frame(id="bad", sources=[Source("s", "/d/b.jpg")], rois=[roi]), where="file.json line 7"
        )
    assert writer.report.rejected == 1
    message = str(writer.report.errors[0])
    assert message.startswith("file.json line 7, ROI 'r': ") and problem in message
    assert _rows(catalog, "SELECT id FROM frames") == [("good",)]


def test_reimport_replaces_frames_and_keeps_tags(catalog):
    with CatalogWriter(catalog, progress=False) as writer:
        for i in range(3):
            writer.add(
                Frame(
                    id=f"f{i}",
                    sources=[Source("s", f"/d/{i}.jpg")],
                    rois=[
                        Roi("a", "point", ["p"], geometry=[[1, 1]]),
                        Roi("b", "point", ["p"], geometry=[[2, 2]]),
                    ],
                )
            )
    with catalog.transaction() as con:
        con.execute("INSERT INTO tags (frame_id, tag) VALUES ('f1', 'keep')")
    with CatalogWriter(catalog, progress=False) as writer:
        writer.add(
            Frame(
                id="f1",
                sources=[Source("s", "/d/1-new.jpg")],
                rois=[Roi("c", "point", ["q"], geometry=[[3, 3]])],
            )
        )
    assert _rows(catalog, "SELECT count(*) FROM frames") == [(3,)]
    assert _rows(catalog, "SELECT uri FROM sources WHERE frame_id='f1'") == [("/d/1-new.jpg",)]
    assert _rows(catalog, "SELECT id FROM rois WHERE frame_id='f1'") == [("c",)]
    assert _rows(catalog, "SELECT count(*) FROM rois") == [(5,)]
    assert _rows(catalog, "SELECT tag FROM tags") == [("keep",)]


def test_duplicate_ids_in_one_batch_keep_the_last(catalog):
    with CatalogWriter(catalog, progress=False, batch_size=10) as writer:
        writer.add(Frame(id="f", sources=[Source("s", "/d/1.jpg")]))
        writer.add(Frame(id="f", sources=[Source("s", "/d/2.jpg")]))
    assert _rows(catalog, "SELECT uri FROM sources") == [("/d/2.jpg",)]


def test_add_labels_replaces_one_field_only(catalog):
    with CatalogWriter(catalog, progress=False) as writer:
        writer.add(
            Frame(
                id="f",
                sources=[Source("s", "/d/1.jpg")],
                rois=[
                    Roi("gt", "point", ["a"], geometry=[[1, 1]]),
                    Roi("old", "point", ["a"], field="predictions", geometry=[[1, 1]]),
                ],
            )
        )
    with CatalogWriter(catalog, progress=False) as writer:
        writer.add_labels(
            "f", "predictions", [Roi("new", "point", ["b"], geometry=[[2, 2]], confidence=0.3)]
        )
        writer.add_labels("missing", "predictions", [], where="preds.ndjson line 4")
    assert _rows(catalog, "SELECT id, field FROM rois ORDER BY id") == [
        ("gt", "ground_truth"),
        ("new", "predictions"),
    ]
    assert [str(e) for e in writer.report.errors] == [
        "preds.ndjson line 4: frame 'missing' is not in the catalog"
    ]


def test_batches_flush_and_a_failure_keeps_earlier_batches(catalog):
    with (
        pytest.raises(RuntimeError),
        CatalogWriter(catalog, progress=False, batch_size=5) as writer,
    ):
        for i in range(12):
            writer.add(Frame(id=f"f{i}", sources=[Source("s", f"/d/{i}.jpg")]))
        raise RuntimeError("reader failed")
    # Everything queued before the failure was stored, in batches.
    assert _rows(catalog, "SELECT count(*) FROM frames") == [(12,)]


def test_dataset_versions_recorded_and_media_roots_never_inferred(catalog, tmp_path):
    with CatalogWriter(catalog, progress=False) as writer:
        writer.add(
            Frame(
                id="f",
                sources=[Source("s", str(tmp_path / "img" / "a.jpg"))],
                dataset="d1",
                version="v2",
            )
        )
        writer.add(
            Frame(
                id="g",
                sources=[Source("s", "https://example.invalid/b.jpg")],
                dataset="d1",
                version="v2",
            )
        )
    assert _rows(catalog, "SELECT dataset, version FROM dataset_versions") == [("d1", "v2")]
    # The local image's folder is not made a root: the URI is counted as outside them all.
    assert catalog.media_roots() == []
    assert writer.report.outside_media_roots == 1
    assert writer.report.outside_examples == [str(tmp_path / "img" / "a.jpg")]


def test_label_rows_are_stored_with_their_keys(catalog, monkeypatch):
    """write_labels gives its ROIs their frame and label keys (a new label too): the layout's
    sync has no ROI left to key, only the frames' summaries to compute."""
    from tests.store.test_layout import check_layout
    from workbench.store import layout

    with CatalogWriter(catalog, progress=False) as writer:
        for i in range(3):
            roi = Roi("a", "point", ["car"], geometry=[[1, 1]])
            writer.add(Frame(id=f"f{i}", sources=[Source("s", f"/d/{i}.jpg")], rois=[roi]))
    rows = (
        catalog.cursor().sql("SELECT * EXCLUDE (frame_key, label_key) FROM rois").to_arrow_table()
    )
    rows = rows.slice(1)  # the ROIs of f1 and f2, as predictions of a new label
    for name, value in (("field", "predictions"), ("label", "bus"), ("labels", ["bus"])):
        at = rows.schema.get_field_index(name)
        rows = rows.set_column(
            at, name, pa.array([value] * rows.num_rows, rows.schema.field(at).type)
        )
    key_rows = layout._key_rows

    def no_rois(con, table, *args):
        assert table != "rois", "the ROIs were stored without their keys"
        key_rows(con, table, *args)

    monkeypatch.setattr(layout, "_key_rows", no_rois)
    with CatalogWriter(catalog, progress=False) as writer:
        writer.write_labels(["f1", "f2"], "predictions", rows, [])
    check_layout(catalog)
    assert _rows(catalog, "SELECT field, label, count(*) FROM rois GROUP BY ALL ORDER BY ALL") == [
        ("ground_truth", "car", 3),
        ("predictions", "bus", 2),
    ]


def _frame(i: int, context: str, weather: str) -> Frame:
    rois = [Roi(f"r{i}", "point", ["car"], geometry=[[1, 1]], confidence=0.5)]
    meta = {"weather": weather}
    return Frame(
        f"f{i}", context_id=context, metadata=meta, sources=[Source("s", "/d.jpg")], rois=rois
    )


def test_a_label_write_summarises_its_frames_and_keys_nothing_else(catalog, monkeypatch):
    """Replacing the ROIs of stored frames changes nothing of their frames rows: the commit
    keys no context, values or label of theirs again, while their ROI summaries and the code
    counts come out exact (the same batch adding a new frame too), and frame groups counted
    for the catalog as it was have their ROI codes counted as a whole count gives them."""
    from tests.store.test_layout import check_layout
    from workbench.store import groups, layout

    with CatalogWriter(catalog, progress=False) as writer:
        for i in range(4):
            writer.add(_frame(i, f"c{i // 2}", "sunny" if i % 2 else "rain"))

    def refused(*args, **kwargs):
        raise AssertionError("a frame of a label write was keyed or counted again")

    for name in ("key_contexts", "key_values", "_rekey_labels"):
        monkeypatch.setattr(layout, name, refused)
    bus = Roi("p", "point", ["bus"], field="predictions", geometry=[[2, 2]], confidence=0.9)
    with CatalogWriter(catalog, progress=False) as writer:
        writer.add_labels("f1", "predictions", [bus, Roi("q", "point", ["car"], geometry=[[3, 3]])])
        writer.add_labels("f0", "ground_truth", [])  # f0's only ROI goes
        writer.add(_frame(7, "c9", "snow"))
    assert writer.report.ok, writer.report
    rows = (
        catalog.cursor().sql("SELECT * EXCLUDE (frame_key, label_key) FROM rois").to_arrow_table()
    )
    rows = rows.filter(pa.compute.equal(rows["label"], "bus"))
    assert catalog.count_groups() == 3
    con = catalog.cursor()
    assert groups.current(con, groups.LOCAL, lambda: groups.local_stamp(con)) is not None
    with CatalogWriter(catalog, progress=False) as writer:
        writer.write_labels(["f2", "f3"], "predictions", rows.slice(0, 0), [], cleared=["f2"])
        writer.write_labels(["f2", "f3"], "predictions", rows.slice(0, 1).set_column(
            0, "frame_id", pa.array(["f3"])), [])  # fmt: skip
    check_layout(catalog)
    con = catalog.cursor()
    assert groups.current(con, groups.LOCAL, lambda: groups.local_stamp(con)) is not None
    counted = "SELECT * FROM _group_codes ORDER BY ALL"
    kept = con.execute(counted).fetchall()
    assert ("f3", "predictions") in _rows(catalog, "SELECT frame_id, field FROM rois")
    catalog.count_groups()
    assert kept == catalog.cursor().execute(counted).fetchall()
    monkeypatch.undo()
    assert _rows(catalog, "SELECT frame_id, field, label FROM rois ORDER BY ALL") == [
        ("f1", "ground_truth", "car"),
        ("f1", "predictions", "bus"),
        ("f1", "predictions", "car"),
        ("f2", "ground_truth", "car"),
        ("f3", "ground_truth", "car"),
        ("f3", "predictions", "bus"),
        ("f7", "ground_truth", "car"),
    ]
    with CatalogWriter(catalog, progress=False) as writer:  # a frame stored again, labelled
        writer.add(_frame(2, "c1", "fog"))
        writer.add_labels("f2", "predictions", [bus])
    check_layout(catalog)
    assert _rows(catalog, "SELECT count(*) FROM rois WHERE frame_id = 'f2'") == [(2,)]


def test_rows_given_in_several_chunks_fill_whole_row_groups(catalog):
    """The engine stores each Arrow chunk an INSERT scans in row groups of its own: the
    writer hands it one chunk per table, so two chunks of 130,000 sources make two full row
    groups and the rest, not two part-filled ones (which a checkpoint merges and rewrites)."""
    from workbench.ingest.writer import RowBatch
    from workbench.model.records import FRAME_SCHEMA, ROI_SCHEMA, SOURCE_SCHEMA

    def rows(schema: pa.Schema, first: int, count: int, **values: pa.Array) -> pa.Table:
        columns = {f.name: pa.nulls(count, f.type) for f in schema if f.name != "ingested"}
        return pa.table({**columns, **values})

    def part(first: int, count: int) -> tuple[pa.Table, pa.Table]:
        ids = pa.array([f"f{i}" for i in range(first, first + count)])
        frames = rows(FRAME_SCHEMA, first, count, id=ids, context_id=pa.array(["c"] * count))
        sources = rows(
            SOURCE_SCHEMA, first, count, frame_id=ids, id=pa.array(["s"] * count), uri=ids
        )
        return frames, sources

    (f1, s1), (f2, s2) = part(0, 130_000), part(130_000, 130_000)
    sources = pa.concat_tables([s1, s2])
    assert sources["frame_id"].num_chunks == 2
    rois = pa.schema([f for f in ROI_SCHEMA if f.name != "visibility"]).empty_table()
    with CatalogWriter(catalog, progress=False) as writer:
        writer.write_rows(RowBatch(pa.concat_tables([f1, f2]), sources, rois))
    groups = (
        catalog.cursor()
        .execute(
            "SELECT row_group_id, sum(count) FROM pragma_storage_info('sources')"
            " WHERE column_name = 'frame_id' AND segment_type <> 'VALIDITY'"
            " GROUP BY 1 ORDER BY 1"
        )
        .fetchall()
    )
    assert [int(count) for _, count in groups] == [122_880, 122_880, 260_000 - 245_760]
