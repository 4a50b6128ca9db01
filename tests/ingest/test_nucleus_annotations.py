"""Nucleus annotation payloads: every bad record costs only itself (named by file and line),
items' rows give their annotations, keypoints follow the catalog's names, and the export
writes other formats' ROIs as payloads, counting what Nucleus cannot hold."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import workbench
from workbench.ingest import (
    CatalogWriter,
    Frame,
    Roi,
    Source,
    _nucleus_placing,
    box_ring,
    nucleus_annotations,
)
from workbench.model.keypoints import KeypointLabel


def _box(ref: str | None, **more: Any) -> dict[str, Any]:
    payload = {"type": "box", "label": "car", "reference_id": ref,
               "geometry": {"x": 1, "y": 2, "width": 3, "height": 4}}  # fmt: skip
    return {**payload, **more}


def _catalog(tmp_path: Path) -> workbench.Catalog:
    """Scene `drive` of three frames; f1 and f2 hold a ground_truth box already."""
    catalog = workbench.open(tmp_path / "c.duckdb")
    with CatalogWriter(catalog, progress=False) as writer:
        writer.add_keypoint_labels([KeypointLabel("hand", ("thumb", "index"), ((1, 2),))])
        for n in range(3):
            rois = [Roi("old", "box", ["bus"], geometry=[box_ring(0, 0, 5, 5)])] if n else []
            writer.add(Frame(f"f{n}", [Source("image", f"/i/{n}.jpg", 100, 80)], rois,
                             context_id="drive", frame_index=n))  # fmt: skip
    return catalog


def _rois(catalog: workbench.Catalog) -> list[tuple[Any, ...]]:
    return catalog.sql(
        "SELECT frame_id, id, kind, labels FROM rois ORDER BY frame_id, id"
    ).fetchall()


def test_every_bad_record_costs_only_itself(tmp_path: Path) -> None:
    lines = [
        json.dumps(_box("f0", annotation_id="a1")),
        "{not json",
        "[1, 2]",
        json.dumps(_box(None)),
        json.dumps(_box("nope")),
        json.dumps({"type": "cuboid", "reference_id": "f0", "label": "car"}),
        json.dumps({"type": "ellipse", "reference_id": "f0"}),
        json.dumps(_box("f0", geometry={"x": 1, "y": 2, "width": -3, "height": 4})),
        json.dumps(_box("f0", confidence=1.5)),
        json.dumps(_box("f0", annotation_id="a1")),
        json.dumps(_box("f0", metadata={"nucleus": 1})),
        json.dumps(
            {
                "type": "keypoints",
                "label": "hand",
                "reference_id": "f0",
                "geometry": {"keypoints": [], "names": ["thumb"]},
            }
        ),
        json.dumps(
            {
                "type": "polygon",
                "label": "p",
                "reference_id": "f0",
                "geometry": {"vertices": [{"x": 1, "y": 1}, {"x": 2, "y": 2}]},
            }
        ),
        json.dumps(
            {"type": "mask", "mask_url": "s3://m.png", "reference_id": "f0", "annotations": []}
        ),
        json.dumps(
            {
                "type": "line",
                "label": "lane",
                "reference_id": "f1",
                "geometry": {"vertices": [{"x": 1, "y": 1}, {"x": 2, "y": 2}]},
            }
        ),
    ]
    path = tmp_path / "a.ndjson"
    path.write_text("\n".join(lines) + "\n")
    with _catalog(tmp_path) as catalog:
        report = nucleus_annotations.import_files(catalog, [path], progress=False)
        assert [str(e) for e in report.errors] == [
            f"{path}:2: not valid JSON: Expecting property name enclosed in double quotes at column 2",
            f"{path}:3: an annotation must be a JSON object, got list",
            f"{path}:4: annotation has no reference_id",
            f"{path}:6, item 'f0': a cuboid is a 3D annotation, which the catalog cannot hold",
            f"{path}:7, item 'f0': unknown annotation type 'ellipse'",
            f"{path}:8, item 'f0': a box of width -3 and height 4: neither may be negative",
            f"{path}:9, item 'f0': confidence 1.5 is outside [0, 1]",
            f"{path}:11, item 'f0': metadata key 'nucleus' is reserved",
            f"{path}:12, item 'f0': keypoints need lists 'keypoints' and 'names' of one length",
            f"{path}:13, item 'f0': ring 0 of a polygon has 2 points, needs 3",
            f"{path}:14, item 'f0': a segmentation needs a non-empty list of annotations",
            f"{path}:5, item 'nope': no frame (or scene) has reference_id 'nope'",
            f"{path}:10, item 'f0': annotation_id 'a1' came earlier for this item",
        ]  # fmt: skip
        # f1's ground truth is replaced by the file's; f2, which the file does not name, keeps its.
        assert _rois(catalog) == [
            ("f0", "a1", "box", ["car"]),
            ("f1", "line-0", "polyline", ["lane"]),
            ("f2", "old", "box", ["bus"]),
        ]


def test_items_rows_give_their_annotations(tmp_path: Path) -> None:
    rows = [
        {"item": {"reference_id": "f0", "image_url": "s3://b/0.jpg"},
         "annotations": {"box": [_box(None, annotation_id="b")],
                         "category": [{"label": "day", "geometry": {}}]}},
        {"item": {"reference_id": "f1"}, "box": [], "polygon": [], "cuboid": [
            {"label": "car", "geometry": {}}],
         "segmentation": {"mask_url": "s3://m1.png", "annotations": [{"label": "road", "index": 1}]}},
    ]  # fmt: skip
    path = tmp_path / "rows.json"
    path.write_text(json.dumps(rows))
    with _catalog(tmp_path) as catalog:
        report = nucleus_annotations.import_files(catalog, [path], progress=False)
        assert [str(e) for e in report.errors] == [
            f"{path}[1], cuboid[0], item 'f1': a cuboid is a 3D annotation, which the catalog "
            "cannot hold"
        ]
        assert _rois(catalog) == [
            ("f0", "b", "box", ["car"]),
            ("f0", "category-0", "classification", ["day"]),
            ("f1", "mask-0/0", "mask", ["road"]),
            ("f2", "old", "box", ["bus"]),
        ]


def test_keypoints_take_the_catalogs_order_of_names(tmp_path: Path) -> None:
    def hand(names: list[str]) -> str:
        points = [{"x": 1, "y": 2, "visible": True}, {"x": None, "y": None, "visible": False}]
        return json.dumps({"type": "keypoints", "label": "hand", "reference_id": "f0",
                           "geometry": {"keypoints": points, "names": names, "skeleton": None}})  # fmt: skip

    path = tmp_path / "k.ndjson"
    path.write_text(hand(["index", "thumb"]) + "\n" + hand(["a", "b"]) + "\n")
    with _catalog(tmp_path) as catalog:
        report = nucleus_annotations.import_files(catalog, [path], progress=False)
        assert [str(e) for e in report.errors] == [
            f"{path}:2, item 'f0': label 'hand' has keypoints named thumb, index; "
            "these are named a, b"
        ]
        rows = catalog.sql("SELECT geometry, visibility FROM rois WHERE frame_id = 'f0'")
        assert rows.fetchall() == [([[0, 0, 1, 2]], [0, 2])]  # thumb unlabelled, index at 1, 2
        out = tmp_path / "out.ndjson"
        nucleus_annotations.export_files(catalog.view().filter_rois("ground_truth", labels=["hand"]),
                                         out, progress=False)  # fmt: skip
        (payload,) = [json.loads(line) for line in out.read_text().splitlines()]
        assert payload["geometry"] == {
            "keypoints": [{"x": None, "y": None, "visible": False},
                          {"x": 1, "y": 2, "visible": True}],
            "names": ["thumb", "index"], "skeleton": [[0, 1]],
        }  # fmt: skip


def test_other_formats_rois_export_as_payloads_and_the_rest_is_counted(tmp_path: Path) -> None:
    catalog = workbench.open(tmp_path / "c.duckdb")
    rois = [
        Roi("b", "box", ["car"], geometry=[box_ring(1.5, 2, 3, 4)], attributes={"iscrowd": 0},
            track_index=3),
        Roi("c", "classification", ["rain"], "predictions", confidence=0.25),
        Roi("p", "point", ["dot"], geometry=[[1, 1]]),
        Roi("g", "polygon", ["two"], geometry=[[0, 0, 4, 0, 4, 4], [5, 5, 6, 5, 6, 6]]),
        Roi("r", "mask", ["blob"], mask={"rle": {"size": [2, 2], "counts": "04"}},
            bbox=(0, 0, 2, 2)),
        Roi("k", "keypoints", ["paw"], geometry=[[1, 2]], visibility=[2]),
        Roi("u", "box", [], geometry=[box_ring(0, 0, 1, 1)]),
    ]  # fmt: skip
    with catalog:
        with CatalogWriter(catalog, progress=False) as writer:
            writer.add(Frame("f0", [Source("image", "/i/0.jpg", 100, 80)], rois, context_id="clip"))
        out = tmp_path / "out.json"
        report = nucleus_annotations.export_files(catalog.view(), out, progress=False)
    assert (report.frames, report.rois) == (1, 2)
    assert report.skipped == [
        "1 box ROIs without a label (a Nucleus annotation has one)",
        "1 keypoints ROIs whose label has no point names",
        "1 mask ROIs without a mask file (Nucleus takes a mask_url)",
        "1 point ROIs (Nucleus has no point annotation)",
        "1 polygon ROIs of 2 rings (Nucleus takes one)",
    ]
    assert json.loads(out.read_text()) == [
        {"label": "car", "type": "box", "geometry": {"x": 1.5, "y": 2, "width": 3, "height": 4},
         "reference_id": "f0", "annotation_id": "b", "metadata": {"iscrowd": 0},
         "embedding_vector": None, "track_reference_id": "clip:3", "task_id": None},
        {"label": "rain", "type": "category", "geometry": {}, "reference_id": "f0",
         "metadata": {}, "track_reference_id": None, "task_id": None, "confidence": 0.25},
    ]  # fmt: skip


def test_a_relative_mask_file_is_read_from_the_files_folder(tmp_path: Path) -> None:
    folder = tmp_path / "labels"
    folder.mkdir()
    seg = {"type": "mask", "mask_url": "masks/f0.png", "reference_id": "f0",
           "annotation_id": "s", "annotations": [{"label": "road", "index": 0}]}  # fmt: skip
    (folder / "seg.ndjson").write_text(json.dumps(seg) + "\n")
    with _catalog(tmp_path) as catalog:
        report = nucleus_annotations.import_files(catalog, [folder], progress=False)
        assert report.ok, report
        ((mask,),) = catalog.sql("SELECT mask FROM rois WHERE frame_id = 'f0'").fetchall()
        assert json.loads(mask) == {"uri": str(folder / "masks/f0.png"), "value": 0}
        out = tmp_path / "out.ndjson"
        nucleus_annotations.export_files(catalog.view(), out, progress=False)
        written = [json.loads(line) for line in out.read_text().splitlines()]
        assert written[0] == {**seg, "mask_url": str(folder / "masks/f0.png")}


@pytest.mark.parametrize("chunk", [1, 2, 3])
def test_a_file_placed_in_chunks_stores_what_one_chunk_stores(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, chunk: int
) -> None:
    """A frame's annotations spread over chunks, a scene's category after its frames' boxes:
    each chunk adds to what the import stored before, as if the file were read at once."""
    payloads = [
        _box("f0", track_reference_id="t"),
        _box("f1", annotation_id="x", track_reference_id="t"),
        {"type": "category", "label": "highway", "reference_id": "drive"},
        _box("f0", metadata={"n": 1}),
        {"type": "mask", "mask_url": "s3://m.png", "reference_id": "f1",
         "annotations": [{"label": "road", "index": 1}, {"label": "sky", "index": 2}]},
        _box("f0", annotation_id="x"),  # given to another frame's box: this frame's own
        _box("f0", annotation_id="x"),  # given twice to this frame: refused
        _box("nope"),
        {"type": "category", "label": "day", "reference_id": "f2"},
    ]  # fmt: skip
    path = tmp_path / "a.ndjson"
    path.write_text("".join(json.dumps(p) + "\n" for p in payloads))
    query = (
        "SELECT frame_id, id, kind, labels, geometry, attributes, track_index, mask"
        " FROM rois ORDER BY frame_id, id"
    )
    with _catalog(tmp_path) as catalog:
        whole = nucleus_annotations.import_files(catalog, [path], progress=False)
        expected = catalog.sql(query).fetchall()
    (tmp_path / "c.duckdb").unlink()
    monkeypatch.setattr(_nucleus_placing, "CHUNK", chunk)
    with _catalog(tmp_path) as catalog:
        report = nucleus_annotations.import_files(catalog, [path], progress=False)
        assert catalog.sql(query).fetchall() == expected
    assert [str(e) for e in report.errors] == [str(e) for e in whole.errors]
    assert report.rois == whole.rois == 10  # 4 on f0, 4 on f1, 2 on f2 (the old box replaced)
    assert len(report.errors) == 2  # the frame that is not there, the id given twice
    assert [(r[0], r[1]) for r in expected] == [
        ("f0", "box-0"), ("f0", "box-1"), ("f0", "scene-category-0"), ("f0", "x"),
        ("f1", "mask-0/0"), ("f1", "mask-0/1"), ("f1", "scene-category-0"), ("f1", "x"),
        ("f2", "category-0"), ("f2", "scene-category-0"),
    ]  # fmt: skip
