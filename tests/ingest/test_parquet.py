import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import workbench
from workbench.errors import IngestError
from workbench.ingest import CatalogWriter, Frame, Roi, Source, box_ring, clearml, parquet
from workbench.model.records import FRAME_SCHEMA, ROI_SCHEMA, SOURCE_SCHEMA

DATA = Path(__file__).resolve().parent.parent / "data" / "clearml"
TAG_SCHEMA = pa.schema([("frame_id", pa.string()), ("roi_id", pa.string()), ("tag", pa.string())])


@pytest.fixture
def catalog(tmp_path: Path):
    with workbench.open(tmp_path / "c.duckdb") as cat:
        yield cat


@pytest.fixture
def filled(catalog):
    """A catalog with the ClearML samples (frame group, masks, rings, classifications) and tags."""
    clearml.import_files(catalog, [DATA], progress=False)
    catalog.cursor().execute(
        "INSERT INTO tags (frame_id, roi_id, tag) VALUES "
        "('n1', NULL, 'review'), ('n1', 'a', 'bad-box'), ('car1-000', NULL, 'review')"
    )
    return catalog


def _rows(catalog, query):
    return catalog.sql(query).fetchall()


def _catalog_rows(catalog, frame_ids=None) -> dict[str, list[tuple]]:
    where = "" if frame_ids is None else f" WHERE {{key}} IN {tuple(frame_ids)!r}"
    return {
        "frames": _rows(
            catalog,
            "SELECT * EXCLUDE (ingested, frame_key) FROM frames"
            + where.format(key="id")
            + " ORDER BY id",
        ),
        "sources": _rows(
            catalog,
            "SELECT * EXCLUDE (frame_key) FROM sources"
            + where.format(key="frame_id")
            + " ORDER BY frame_id, id",
        ),
        "rois": _rows(
            catalog,
            "SELECT * EXCLUDE (frame_key, label_key) FROM rois"
            + where.format(key="frame_id")
            + " ORDER BY frame_id, id",
        ),
        "tags": _rows(
            catalog,
            "SELECT frame_id, roi_id, tag FROM tags"
            + where.format(key="frame_id")
            + " ORDER BY ALL",
        ),
    }


def _write(path: Path, rows: list[dict], schema: pa.Schema) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows, schema=schema), path)
    return path


def _frame(frame_id, **values):
    return {"id": frame_id, "context_id": "ctx", "timestamp": 0, **values}


def _roi(frame_id, roi_id, kind="box", **values):
    geometry = [box_ring(1, 2, 3, 4)] if kind == "box" else []
    return {
        "frame_id": frame_id,
        "id": roi_id,
        "field": "ground_truth",
        "kind": kind,
        "labels": ["car"],
        "label": "car",
        "geometry": geometry,
        **values,
    }


def test_export_writes_four_files_and_round_trips(filled, tmp_path):
    dest = tmp_path / "export"
    report = parquet.export_files(filled.view(), dest, progress=False)
    assert (report.frames, report.rois) == (5, 10)
    assert report.files == [dest / f"{t}.parquet" for t in ("frames", "sources", "rois", "tags")]
    with workbench.open(tmp_path / "again.duckdb") as again:
        result = parquet.import_files(again, [dest], progress=False)
        assert result.ok and (result.frames, result.rois) == (5, 10)
        assert _catalog_rows(again) == _catalog_rows(filled)
        # Sources come back in their original order (the first one names the context).
        assert _rows(
            again, "SELECT id FROM sources WHERE frame_id = 'car1-000' ORDER BY rowid"
        ) == [("front",), ("left",), ("right",)]
        assert _rows(again, "SELECT * FROM dataset_versions ORDER BY ALL")[0][:2] == ("cars", "v1")
        # Roots are declared, not read from the URIs: the export folder is the root, and the
        # images and preview it names elsewhere are counted as outside it.
        assert again.media_roots() == [str(dest)]
        assert result.outside_media_roots == 5


def test_export_holds_only_the_view(filled, tmp_path):
    dest = tmp_path / "export"
    view = filled.view().where("f.id IN (?, ?)", "n1", "car1-000")
    assert parquet.export_files(view, dest, progress=False).frames == 2
    assert pq.read_table(dest / "frames.parquet").column("id").to_pylist() == ["car1-000", "n1"]
    assert set(pq.read_table(dest / "rois.parquet").column("frame_id").to_pylist()) == {
        "car1-000",
        "n1",
    }
    assert len(pq.read_table(dest / "tags.parquet")) == 3
    with workbench.open(tmp_path / "again.duckdb") as again:
        parquet.import_files(again, [dest], progress=False)
        assert _catalog_rows(again) == _catalog_rows(filled, ["n1", "car1-000"])


def test_reimport_replaces_frames_and_merges_tags(filled, tmp_path):
    dest = tmp_path / "export"
    parquet.export_files(filled.view(), dest, progress=False)
    wanted = _catalog_rows(filled)
    with workbench.open(tmp_path / "other.duckdb") as other:
        # An older n1 with other ROIs and sources, a tag of its own and one the export has too.
        with CatalogWriter(other, progress=False) as writer:
            writer.add(
                Frame(
                    id="n1",
                    sources=[Source("old", "/old/n1.jpg"), Source("older", "/old/n1b.jpg")],
                    rois=[
                        Roi("a", "box", ["truck"], geometry=[box_ring(0, 0, 1, 1)]),
                        Roi("z", "classification", ["stale"]),
                    ],
                    metadata={"weather": "fog"},
                )
            )
            writer.add(Frame(id="untouched", sources=[Source("s", "/old/u.jpg")]))
        other.cursor().execute(
            "INSERT INTO tags (frame_id, tag) VALUES ('n1', 'keep'), ('n1', 'review')"
        )
        for _ in range(2):
            assert parquet.import_files(other, [dest], progress=False).ok
        rows = _catalog_rows(other)
        assert rows["rois"] == wanted["rois"]
        assert rows["sources"] == wanted["sources"] + [
            ("untouched", "s", "/old/u.jpg") + (None,) * 6
        ]
        assert [r[0] for r in rows["frames"]] == sorted(
            [r[0] for r in wanted["frames"]] + ["untouched"]
        )
        assert rows["tags"] == sorted(wanted["tags"] + [("n1", None, "keep")], key=str)


def test_bad_rows_are_reported_and_skipped(catalog, tmp_path):
    folder = tmp_path / "bad"
    frames = _write(
        folder / "frames.parquet",
        [
            _frame("f1", metadata='{"weather": "rain"}', weather="rain"),
            _frame(None),
            _frame("f3", context_id=None),
            _frame("f1"),
            _frame("f4", metadata="{not json"),
            _frame("f5"),
        ],
        FRAME_SCHEMA,
    )
    sources = _write(
        folder / "sources.parquet",
        [
            {"frame_id": "f1", "id": "s", "uri": "/media/cam/f1.jpg"},
            {"frame_id": "ghost", "id": "s", "uri": "/media/cam/g.jpg"},
            {"frame_id": "f5", "id": None, "uri": "/media/cam/f5.jpg"},
        ],
        SOURCE_SCHEMA,
    )
    rois = _write(
        folder / "rois.parquet",
        [
            _roi("f1", "ok"),
            _roi("f1", "blob", kind="blob"),
            _roi("f1", "nokind", kind=None),
            _roi("ghost", "g"),
            _roi("f3", "orphan"),
            _roi("f5", "fine", kind="classification"),
        ],
        ROI_SCHEMA,
    )
    tags = _write(
        folder / "tags.parquet",
        [
            {"frame_id": "f1", "tag": "t"},
            {"frame_id": "f1", "tag": "t"},
            {"frame_id": "ghost", "tag": "t"},
            {"frame_id": "f5", "tag": None},
        ],
        TAG_SCHEMA,
    )
    report = parquet.import_files(catalog, [folder], progress=False)
    assert [str(e) for e in report.errors] == [
        f"{frames} row 1: frame has no id",
        f"{frames} row 2, frame 'f3': frame has no context_id",
        f"{frames} row 3, frame 'f1': frame id appears in an earlier row",
        f"{frames} row 4, frame 'f4': metadata {{not json is not JSON",
        f"{sources} row 1, frame 'ghost': its frame is not in the import",
        f"{sources} row 2, frame 'f5': source has no id",
        f"{rois} row 1, frame 'f1': unknown kind blob (expected one of box, polygon, polyline, "
        "point, keypoints, mask, classification)",
        f"{rois} row 2, frame 'f1': unknown kind NULL (expected one of box, polygon, polyline, "
        "point, keypoints, mask, classification)",
        f"{rois} row 3, frame 'ghost': its frame is not in the import",
        f"{rois} row 4, frame 'f3': its frame is not in the import",
        f"{tags} row 2, frame 'ghost': its frame is neither in the import nor in the catalog",
        f"{tags} row 3, frame 'f5': tag has no tag",
    ]
    assert report.rejected == 12 and (report.frames, report.rois) == (2, 2)
    assert _rows(catalog, "SELECT id, weather, metadata->>'$.weather' FROM frames ORDER BY id") == [
        ("f1", "rain", "rain"),
        ("f5", None, None),
    ]
    assert _rows(catalog, "SELECT frame_id, id FROM sources") == [("f1", "s")]
    assert _rows(catalog, "SELECT frame_id, id FROM rois ORDER BY id") == [
        ("f5", "fine"),
        ("f1", "ok"),
    ]
    assert _rows(catalog, "SELECT frame_id, tag FROM tags") == [("f1", "t")]
    assert catalog.media_roots() == [str(folder)]
    assert report.outside_media_roots == 1  # /media/cam/... is named, never made a root


def test_tags_may_go_to_frames_already_in_the_catalog(catalog, tmp_path):
    with CatalogWriter(catalog, progress=False) as writer:
        writer.add(Frame(id="old", sources=[Source("s", "/d/o.jpg")]))
    tags = _write(
        tmp_path / "tags.parquet",
        [{"frame_id": "old", "tag": "x"}, {"frame_id": "gone", "tag": "x"}],
        TAG_SCHEMA,
    )
    report = parquet.import_files(catalog, [tags], progress=False)
    assert [e.problem for e in report.errors] == [
        "its frame is neither in the import nor in the catalog"
    ]
    assert _rows(catalog, "SELECT frame_id, tag FROM tags") == [("old", "x")]


def test_missing_columns_are_null_or_derived(catalog, tmp_path):
    frames = _write(
        tmp_path / "old" / "frames.parquet",
        [{"id": "f", "context_id": "c", "metadata": json.dumps({"weather": "sun"})}],
        pa.schema([("id", pa.string()), ("context_id", pa.string()), ("metadata", pa.string())]),
    )
    rois = _write(
        tmp_path / "old" / "rois.parquet",
        [
            {
                "frame_id": "f",
                "id": "r",
                "kind": "polygon",
                "labels": ["a", "b"],
                "geometry": [[0, 0, 4, 0, 4, 2], [10, 1, 11, 1, 11, 3]],
            }
        ],
        pa.schema(
            [
                ("frame_id", pa.string()),
                ("id", pa.string()),
                ("kind", pa.string()),
                ("labels", pa.list_(pa.string())),
                ("geometry", pa.list_(pa.list_(pa.float64()))),
            ]
        ),
    )
    report = parquet.import_files(catalog, [frames, rois], progress=False)
    assert report.ok and (report.frames, report.rois) == (1, 1)
    assert _rows(catalog, "SELECT id, context_id, timestamp, weather, dataset FROM frames") == [
        ("f", "c", None, "sun", None)
    ]
    assert _rows(
        catalog, "SELECT field, label, x_min, y_min, x_max, y_max, area, confidence FROM rois"
    ) == [("ground_truth", "a", 0.0, 0.0, 11.0, 3.0, 33.0, None)]


def test_unknown_columns_are_an_ingest_error_and_nothing_changes(filled, tmp_path):
    before = _catalog_rows(filled)
    frames = _write(
        tmp_path / "x" / "frames.parquet",
        [{"id": "n1", "context_id": "c", "colour": "red"}],
        pa.schema([("id", pa.string()), ("context_id", pa.string()), ("colour", pa.string())]),
    )
    with pytest.raises(
        IngestError, match=r"frames.parquet: unknown columns colour for table frames"
    ):
        parquet.import_files(filled, [tmp_path / "x"], progress=False)
    assert _catalog_rows(filled) == before
    assert frames.exists()


@pytest.mark.parametrize(
    ("name", "problem"),
    [
        ("empty-folder", "none of frames.parquet"),
        ("rois-alone", "only be imported with their frames.parquet"),
        ("other.parquet", "expected one of frames.parquet"),
        ("missing", "no such file or folder"),
    ],
)
def test_bad_paths_are_ingest_errors(catalog, tmp_path, name, problem):
    if name == "empty-folder":
        path = tmp_path / "empty"
        path.mkdir()
    elif name == "rois-alone":
        path = _write(tmp_path / "rois.parquet", [_roi("f", "r")], ROI_SCHEMA)
    elif name == "other.parquet":
        path = _write(tmp_path / "other.parquet", [_roi("f", "r")], ROI_SCHEMA)
    else:
        path = tmp_path / "missing"
    with pytest.raises(IngestError, match=problem):
        parquet.import_files(catalog, [path], progress=False)


def test_export_to_a_file_is_an_ingest_error(filled, tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(IngestError, match="is a file"):
        parquet.export_files(filled.view(), tmp_path / "file", progress=False)


def test_keypoints_rows_need_a_visibility_per_point(tmp_path):
    folder = tmp_path / "kp"
    _write(folder / "frames.parquet", [_frame("f1")], FRAME_SCHEMA)
    ring = [[1.0, 2.0, 3.0, 4.0]]
    rois = _write(
        folder / "rois.parquet",
        [
            _roi("f1", "good", kind="keypoints", geometry=ring, visibility=[2, 0]),
            _roi("f1", "short", kind="keypoints", geometry=ring, visibility=[2]),
            _roi("f1", "v3", kind="keypoints", geometry=ring, visibility=[2, 3]),
            _roi("f1", "none", kind="keypoints", geometry=ring),
            _roi("f1", "box", visibility=[2, 2, 2, 2]),
        ],
        ROI_SCHEMA,
    )
    with workbench.open(tmp_path / "c.duckdb") as catalog:
        report = parquet.import_files(catalog, [folder], progress=False)
        stored = catalog.sql("SELECT id, kind, visibility FROM rois").fetchall()
    assert stored == [("good", "keypoints", [2, 0])]
    need = "keypoints need one ring and a visibility of 0, 1 or 2 for each point"
    assert [str(e) for e in report.errors] == [
        f"{rois} row 1, frame 'f1': {need}",
        f"{rois} row 2, frame 'f1': {need}",
        f"{rois} row 3, frame 'f1': {need}",
        f"{rois} row 4, frame 'f1': only keypoints have a visibility",
    ]
