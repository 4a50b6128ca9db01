import json
import os
from pathlib import Path

import numpy as np
import pytest

import workbench
from workbench.errors import IngestError
from workbench.ingest import CatalogWriter, Frame, Roi, Source, box_ring, coco, rle

DATA = Path(__file__).resolve().parents[1] / "data" / "coco"
INSTANCES = DATA / "instances_tiny.json"
RESULTS = DATA / "results_tiny.json"


@pytest.fixture
def catalog(tmp_path: Path):
    with workbench.open(tmp_path / "c.duckdb") as cat:
        yield cat


def _write(path: Path, data) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data))
    return path


def _snapshot(catalog) -> dict:
    """Everything an import writes, with JSON columns parsed so key order does not matter."""
    frames = catalog.sql("SELECT id, context_id, metadata FROM frames ORDER BY id").fetchall()
    sources = catalog.sql(
        "SELECT frame_id, id, uri, width, height, content_type FROM sources ORDER BY ALL"
    ).fetchall()
    rois = catalog.sql(
        "SELECT frame_id, field, id, label, labels, confidence, kind, geometry, "
        "x_min, y_min, x_max, y_max, mask, attributes FROM rois ORDER BY frame_id, field, id"
    ).fetchall()

    def parsed(row, columns):
        return tuple(json.loads(v) if i in columns and v else v for i, v in enumerate(row))

    return {
        "frames": [parsed(r, {2}) for r in frames],
        "sources": sources,
        "rois": [parsed(r, {12, 13}) for r in rois],
    }


def _rois(catalog, field="ground_truth"):
    rows = catalog.sql(
        "SELECT frame_id, id, label, kind, geometry, x_min, y_min, x_max, y_max, mask, "
        "attributes, confidence, visibility FROM rois WHERE field = ? ORDER BY frame_id, id",
        [field],
    ).fetchall()
    keys = "frame id label kind geometry x_min y_min x_max y_max mask attributes confidence"
    keys += " visibility"
    out = {}
    for row in rows:
        item = dict(zip(keys.split(), row, strict=True))
        item["attributes"] = json.loads(item["attributes"]) if item["attributes"] else {}
        item["mask"] = json.loads(item["mask"]) if item["mask"] else None
        out[(item["frame"], item["id"])] = item
    return out


# -- import ------------------------------------------------------------------------------------
def test_images_become_frames_with_one_image_source(catalog):
    report = coco.import_files(catalog, [INSTANCES], progress=False)
    assert report.frames == 3
    frames = catalog.sql("SELECT id, context_id, metadata FROM frames ORDER BY id").fetchall()
    assert [f[0] for f in frames] == ["instances_tiny:1", "instances_tiny:2", "instances_tiny:3"]
    assert frames[0][1] == str(DATA / "000001.jpg")  # each image is its own context
    assert json.loads(frames[0][2]) == {"license": 1, "date_captured": "2024-05-01 10:00:00"}
    assert json.loads(frames[1][2]) == {"license": 1, "weather": "rain"}
    assert catalog.sql("SELECT weather FROM frames WHERE id = 'instances_tiny:2'").fetchall() == [
        ("rain",)
    ]
    sources = catalog.sql(
        "SELECT frame_id, id, uri, width, height, content_type FROM sources ORDER BY frame_id"
    ).fetchall()
    assert sources[2] == (
        "instances_tiny:3",
        "image",
        str(DATA / "sub" / "000003.png"),
        40,
        30,
        "image/png",
    )


def test_annotations_become_boxes_polygons_and_masks(catalog):
    coco.import_files(catalog, [INSTANCES], progress=False)
    rois = _rois(catalog)
    box = rois[("instances_tiny:1", "10")]
    assert (box["kind"], box["label"], box["confidence"]) == ("box", "person", None)
    assert box["geometry"] == [box_ring(2.5, 3.0, 10.0, 8.25)]
    assert box["attributes"] == {
        "category_id": 1,
        "supercategory": "human",
        "area": 82.5,
        "iscrowd": 0,
    }
    polygon = rois[("instances_tiny:1", "11")]
    assert polygon["kind"] == "polygon"
    assert polygon["geometry"] == [[20, 5, 30, 5, 30, 15], [22, 20, 26, 20, 26, 24, 22, 24]]
    assert (polygon["x_min"], polygon["y_min"], polygon["x_max"], polygon["y_max"]) == (
        20,
        5,
        30,
        15,
    )
    assert polygon["attributes"]["occluded"] is True
    mask = rois[("instances_tiny:2", "12")]
    assert mask["kind"] == "mask" and mask["geometry"] == []
    assert mask["mask"] == {"rle": {"size": [30, 40], "counts": rle.to_string(rle.encode(_road()))}}
    assert (mask["x_min"], mask["y_min"], mask["x_max"], mask["y_max"]) == (8, 5, 36, 25)
    assert "supercategory" not in mask["attributes"]
    crowd = rois[("instances_tiny:2", "13")]
    # An uncompressed crowd RLE is stored compressed; its box and area come from the mask.
    assert crowd["mask"]["rle"]["counts"] == "0:d00000000jP1"
    assert (crowd["x_min"], crowd["y_min"], crowd["x_max"], crowd["y_max"]) == (0, 0, 5, 10)
    assert crowd["attributes"]["iscrowd"] == 1 and crowd["attributes"]["area"] == 50
    keypoints = rois[("instances_tiny:3", "17")]
    assert keypoints["kind"] == "keypoints"
    assert (keypoints["geometry"], keypoints["visibility"]) == ([[1, 2]], [2])
    assert "keypoints" not in keypoints["attributes"]
    assert keypoints["attributes"]["num_keypoints"] == 1
    assert keypoints["attributes"]["area"] == 12  # computed when the file has none


def _road() -> np.ndarray:
    mask = np.zeros((30, 40), np.uint8)
    mask[5:12, 8:20] = 1
    mask[20:25, 30:36] = 1
    return mask


def test_bad_annotations_are_reported_by_file_and_id_and_the_rest_kept(catalog):
    report = coco.import_files(catalog, [INSTANCES], progress=False)
    assert report.rejected == 3 and report.rois == 5
    problems = sorted((err.where, err.problem) for err in report.errors)
    assert problems == [
        (f"{INSTANCES}, annotation 14", "unknown image_id 99"),
        (f"{INSTANCES}, annotation 15", "unknown category_id 7"),
        (f"{INSTANCES}, annotation 16", "bbox has a negative width or height: [0, 0, -1, 4]"),
    ]
    # The image of a bad annotation keeps its good ones.
    assert ("instances_tiny:3", "17") in _rois(catalog)


def test_malformed_records_each_have_their_own_error(catalog, tmp_path):
    path = _write(
        tmp_path / "bad.json",
        {
            "images": [
                {"id": 1, "file_name": "a.jpg", "width": 10, "height": 10},
                {"id": 1, "file_name": "dup.jpg"},
                {"id": 2},
                {"id": 3, "file_name": "c.jpg", "width": 0, "height": 5},
            ],
            "annotations": [
                {"id": 1, "image_id": 1, "category_id": 1, "bbox": [0, 0, 1]},
                {"id": 2, "image_id": 1, "category_id": 1, "segmentation": [[0, 0, 1, 1]]},
                {
                    "id": 3,
                    "image_id": 1,
                    "category_id": 1,
                    "segmentation": "x",
                    "bbox": [0, 0, 1, 1],
                },
                {
                    "id": 4,
                    "image_id": 1,
                    "category_id": 1,
                    "segmentation": {"size": [10, 10], "counts": [5]},
                },
                {
                    "id": 5,
                    "image_id": 1,
                    "category_id": 1,
                    "segmentation": {"size": [9, 9], "counts": [81]},
                },
                {"id": 6, "image_id": 1, "category_id": 1},
                {"id": 7, "image_id": 1, "category_id": 1, "bbox": [0, 0, 2, 2], "score": "high"},
                {"id": 8, "image_id": 1, "category_id": 1, "bbox": [0, 0, 2, 2]},
                {"id": 8, "image_id": 1, "category_id": 1, "bbox": [1, 1, 2, 2]},
            ],
            "categories": [{"id": 1, "name": "thing"}, {"id": 2}],
        },
    )
    report = coco.import_files(catalog, [path], progress=False)
    found = {(err.where.replace(f"{path}, ", ""), err.problem) for err in report.errors}
    assert found == {
        ("category 2", "a category needs a name"),
        ("image 1", "the id appears twice"),
        ("image 2", "an image needs a file_name"),
        ("image 3", "width must be a positive integer, got 0"),
        ("annotation 1", "bbox must be four numbers [x, y, w, h], got [0, 0, 1]"),
        ("annotation 2", "polygon 0 has 4 coordinates, needs 3 points"),
        ("annotation 3", "segmentation must be a list of polygons or an RLE object"),
        ("annotation 4", "bad RLE segmentation: RLE counts cover 5 pixels, the mask has 10x10"),
        ("annotation 5", "RLE size [9, 9] differs from the image's [h, w] [10, 10]"),
        ("annotation 6", "an annotation needs a bbox or a segmentation"),
        ("annotation 7", "score must be a number in [0, 1], got 'high'"),
        ("annotation 8", "the id appears twice for this image"),
    }
    assert report.frames == 1
    assert list(_rois(catalog)) == [("bad:1", "8")]


def test_images_folder_next_to_the_file_is_the_default(catalog, tmp_path):
    (tmp_path / "ds" / "images").mkdir(parents=True)
    path = _write(
        tmp_path / "ds" / "train.json",
        {"images": [{"id": 5, "file_name": "x.jpg"}], "annotations": [], "categories": []},
    )
    coco.import_files(catalog, [path], progress=False, dataset="ds", version="v1")
    assert catalog.sql("SELECT frame_id, uri FROM sources").fetchall() == [
        ("train:5", str(tmp_path / "ds" / "images" / "x.jpg"))
    ]
    assert catalog.sql("SELECT id, dataset, version FROM frames").fetchall() == [
        ("train:5", "ds", "v1")
    ]
    coco.import_files(
        catalog, path, progress=False, images_dir=tmp_path / "elsewhere", id_prefix="t/"
    )
    assert catalog.sql("SELECT uri FROM sources WHERE frame_id = 't/5'").fetchall() == [
        (str(tmp_path / "elsewhere" / "x.jpg"),)
    ]


def test_importing_again_replaces_frames_instead_of_duplicating(catalog):
    coco.import_files(catalog, [INSTANCES], progress=False)
    first = _snapshot(catalog)
    coco.import_files(catalog, [INSTANCES], progress=False)
    assert _snapshot(catalog) == first


def test_annotations_spilled_to_partitions_give_the_same_catalog(tmp_path):
    with workbench.open(tmp_path / "memory.duckdb") as cat:
        coco.import_files(cat, [INSTANCES], progress=False)
        in_memory = _snapshot(cat)
    with workbench.open(tmp_path / "spilled.duckdb") as cat:
        report = coco.import_files(cat, [INSTANCES], progress=False, partition_bytes=300)
        assert report.rejected == 3
        assert _snapshot(cat) == in_memory


def test_a_file_that_is_not_json_cannot_be_imported(catalog, tmp_path):
    path = tmp_path / "broken.json"
    path.write_text('{"images": [{"id": 1, "file_name": ')
    with pytest.raises(IngestError, match="not valid JSON"):
        coco.import_files(catalog, [path], progress=False)
    with pytest.raises(IngestError, match="no such file"):
        coco.import_files(catalog, [tmp_path / "missing.json"], progress=False)


# -- results files -----------------------------------------------------------------------------
def test_results_add_predictions_to_the_frames_of_the_instances(catalog):
    coco.import_files(catalog, [INSTANCES], progress=False)
    report = coco.import_files(catalog, [RESULTS], progress=False)
    assert report.rois == 3 and report.frames == 0
    assert sorted((e.where, e.problem) for e in report.errors) == [
        (f"{RESULTS}, annotation 4", "score must be a number in [0, 1], got 1.5"),
        (f"{RESULTS}, image 42", "frame 'instances_tiny:42' is not in the catalog"),
    ]
    predictions = _rois(catalog, "predictions")
    # Results carry no ids: they are numbered in file order, as pycocotools does.
    assert [(k, v["label"], v["confidence"]) for k, v in predictions.items()] == [
        (("instances_tiny:1", "1"), "person", 0.91),
        (("instances_tiny:1", "2"), "car", 0.45),
        (("instances_tiny:2", "3"), "road", 0.7),
    ]
    assert predictions[("instances_tiny:2", "3")]["kind"] == "mask"
    assert len(_rois(catalog)) == 5  # ground truth untouched


def test_results_replace_the_field_they_write(catalog, tmp_path):
    coco.import_files(catalog, [INSTANCES], progress=False)
    coco.import_files(catalog, [RESULTS], progress=False)
    fewer = _write(
        tmp_path / "r.json",
        [{"image_id": 1, "category_id": 3, "bbox": [0, 0, 4, 4], "score": 0.2}],
    )
    coco.import_files(catalog, [fewer], progress=False, field="predictions")
    rows = catalog.sql("SELECT frame_id, label FROM rois WHERE field = 'predictions'").fetchall()
    # Image 1's predictions are replaced; image 2 is not in the new file and keeps its own.
    assert sorted(rows) == [("instances_tiny:1", "road"), ("instances_tiny:2", "road")]


def test_results_take_categories_and_prefix_from_options(catalog, tmp_path):
    with CatalogWriter(catalog, progress=False) as writer:
        for prefix in ("a:", "b:"):
            writer.add(Frame(id=f"{prefix}1", sources=[Source("image", f"/{prefix}.jpg", 40, 30)]))
    with pytest.raises(IngestError, match="pass id_prefix="):
        coco.import_files(catalog, [RESULTS], progress=False, categories=INSTANCES)
    report = coco.import_files(
        catalog,
        [RESULTS],
        progress=False,
        id_prefix="b:",
        categories=[
            {"id": 1, "name": "walker"},
            {"id": 2, "name": "auto"},
            {"id": 3, "name": "lane"},
        ],
    )
    assert report.rois == 2
    rows = catalog.sql("SELECT frame_id, label FROM rois ORDER BY id").fetchall()
    assert rows == [("b:1", "walker"), ("b:1", "auto")]


# -- export ------------------------------------------------------------------------------------
def test_export_writes_images_annotations_and_categories(catalog, tmp_path):
    coco.import_files(catalog, [INSTANCES], progress=False)
    coco.import_files(catalog, [RESULTS], progress=False)
    dest = tmp_path / "out" / "gt.json"
    report = coco.export_files(catalog.view(), dest, progress=False)
    assert (report.frames, report.rois, report.files) == (3, 5, [dest])
    data = json.loads(dest.read_text())
    assert set(data) == {"info", "licenses", "images", "annotations", "categories"}
    assert data["images"][0] == {
        "id": 1,
        # Not under the export's folder: a relative name that climbs out of it, never absolute.
        "file_name": os.path.relpath(DATA / "000001.jpg", tmp_path / "out"),
        "width": 40,
        "height": 30,
        "license": 1,
        "date_captured": "2024-05-01 10:00:00",
    }
    assert data["categories"] == [
        {"id": 1, "name": "person", "supercategory": "human"},
        {"id": 2, "name": "car", "supercategory": "vehicle"},
        {"id": 3, "name": "road"},
    ]
    by_id = {a["id"]: a for a in data["annotations"]}
    assert by_id[10] == {
        "id": 10,
        "image_id": 1,
        "category_id": 1,
        "segmentation": [],
        "area": 82.5,
        "bbox": [2.5, 3.0, 10.0, 8.25],
        "iscrowd": 0,
    }
    assert by_id[11]["segmentation"] == [[20, 5, 30, 5, 30, 15], [22, 20, 26, 20, 26, 24, 22, 24]]
    assert by_id[11]["occluded"] is True
    assert by_id[13]["segmentation"] == {"size": [30, 40], "counts": "0:d00000000jP1"}
    assert all("score" not in a for a in data["annotations"])

    preds = json.loads(
        coco.export_files(
            catalog.view(), tmp_path / "p.json", field="predictions", progress=False
        ).dest.read_text()
    )
    assert sorted(a["score"] for a in preds["annotations"]) == [0.45, 0.7, 0.91]


def test_export_of_a_narrowed_view_with_uncompressed_masks(catalog, tmp_path):
    coco.import_files(catalog, [INSTANCES], progress=False)
    view = catalog.view().select(["instances_tiny:2"])
    report = coco.export_files(
        view, tmp_path / "subset.json", rle_format="uncompressed", progress=False
    )
    data = json.loads(report.dest.read_text())
    assert [i["id"] for i in data["images"]] == [2]
    counts = {a["id"]: a["segmentation"]["counts"] for a in data["annotations"]}
    assert counts[13] == [0, 10, 20, 10, 20, 10, 20, 10, 20, 10, 1070]
    assert rle.to_string(counts[12]) == rle.to_string(rle.encode(_road()))
    with pytest.raises(IngestError, match="rle_format"):
        coco.export_files(view, tmp_path / "x.json", rle_format="png", progress=False)


def test_export_names_images_relative_to_its_images_folder(catalog, tmp_path):
    (tmp_path / "ds" / "images").mkdir(parents=True)
    src = _write(
        tmp_path / "ds" / "a.json",
        {
            "images": [{"id": 7, "file_name": "deep/x.jpg", "width": 4, "height": 4}],
            "categories": [],
        },
    )
    coco.import_files(catalog, [src], progress=False)
    report = coco.export_files(catalog.view(), tmp_path / "ds", progress=False)
    assert report.dest == tmp_path / "ds" / "ground_truth.json"
    assert json.loads(report.dest.read_text())["images"][0]["file_name"] == "deep/x.jpg"


def test_export_skips_kinds_coco_cannot_hold_and_numbers_foreign_ids(catalog, tmp_path):
    rois = [
        Roi("car-a", "box", ["car"], geometry=[box_ring(1, 2, 3, 4)], confidence=0.5),
        Roi("7", "box", ["truck"], geometry=[box_ring(0, 0, 1, 1)], attributes={"category_id": 9}),
        Roi("day", "classification", ["day"]),
        Roi("lane", "polyline", ["lane"], geometry=[[0, 0, 5, 5]]),
    ]
    with CatalogWriter(catalog, progress=False) as writer:
        writer.add(Frame(id="cam/42", sources=[Source("image", "/x/42.jpg", 8, 8)], rois=rois))
        writer.add(Frame(id="cam:x", sources=[Source("front", "/x/b.jpg", 8, 8)]))
    report = coco.export_files(catalog.view(), tmp_path / "o.json", progress=False)
    assert report.skipped == [
        "1 classification ROIs (COCO instances hold boxes, polygons and masks)",
        "1 polyline ROIs (COCO instances hold boxes, polygons and masks)",
    ]
    data = json.loads(report.dest.read_text())
    assert sorted(i["id"] for i in data["images"]) == [1, 2]
    names = {os.path.relpath(f"/x/{n}.jpg", report.dest.parent) for n in ("42", "b")}
    assert {i["file_name"] for i in data["images"]} == names
    assert {a["id"]: a["category_id"] for a in data["annotations"]} == {7: 9, 8: 10}
    assert {c["name"]: c["id"] for c in data["categories"]} == {"car": 10, "truck": 9}
    assert {a["id"]: a.get("score") for a in data["annotations"]} == {7: None, 8: 0.5}


def test_import_export_import_round_trips(catalog, tmp_path):
    coco.import_files(catalog, [INSTANCES], progress=False)
    coco.import_files(catalog, [RESULTS], progress=False)
    gt = coco.export_files(catalog.view(), tmp_path / "out" / "gt.json", progress=False)
    preds = coco.export_files(
        catalog.view(), tmp_path / "out" / "preds.json", field="predictions", progress=False
    )
    with workbench.open(tmp_path / "again.duckdb") as again:
        first = coco.import_files(again, [gt.dest], id_prefix="instances_tiny:", progress=False)
        second = coco.import_files(
            again,
            [preds.dest],
            id_prefix="instances_tiny:",
            field="predictions",
            labels_only=True,
            progress=False,
        )
        assert first.ok and second.ok
        assert _snapshot(again) == _snapshot(catalog)


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_export_loads_in_pycocotools(catalog, tmp_path):
    coco_api = pytest.importorskip("pycocotools.coco")
    coco.import_files(catalog, [INSTANCES], progress=False)
    dest = coco.export_files(catalog.view(), tmp_path / "gt.json", progress=False).dest
    loaded = coco_api.COCO(str(dest))
    assert sorted(loaded.getImgIds()) == [1, 2, 3]
    assert (loaded.annToMask(loaded.anns[12]) == _road()).all()
    polygon = loaded.annToMask(loaded.anns[11])
    assert polygon.shape == (30, 40) and polygon[10, 27] == 1 and polygon[0, 0] == 0


def test_labels_only_adds_one_field_to_frames_already_there(catalog, tmp_path):
    coco.import_files(catalog, [INSTANCES], progress=False)
    before = _snapshot(catalog)
    review = _write(
        tmp_path / "review.json",
        {
            "images": [
                {"id": 1, "file_name": "elsewhere.jpg", "width": 40, "height": 30},
                {"id": 8, "file_name": "new.jpg"},
            ],
            "annotations": [{"id": 1, "image_id": 1, "category_id": 5, "bbox": [1, 1, 2, 2]}],
            "categories": [{"id": 5, "name": "cone"}],
        },
    )
    report = coco.import_files(
        catalog,
        [review],
        field="review",
        id_prefix="instances_tiny:",
        labels_only=True,
        progress=False,
    )
    assert [(e.where, e.problem) for e in report.errors] == [
        (f"{review}, image 8", "frame 'instances_tiny:8' is not in the catalog")
    ]
    assert list(_rois(catalog, "review")) == [("instances_tiny:1", "1")]
    after = _snapshot(catalog)
    assert after["frames"] == before["frames"] and after["sources"] == before["sources"]
    assert [r for r in after["rois"] if r[1] != "review"] == before["rois"]


def test_results_categories_come_from_the_frames_of_their_prefix(catalog, tmp_path):
    coco.import_files(catalog, [INSTANCES], progress=False)
    other = _write(
        tmp_path / "other.json",
        {
            "images": [{"id": 1, "file_name": "o.jpg"}],
            "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [0, 0, 1, 1]}],
            "categories": [{"id": 1, "name": "tree"}],
        },
    )
    coco.import_files(catalog, [other], progress=False)
    results = _write(
        tmp_path / "r.json", [{"image_id": 1, "category_id": 1, "bbox": [0, 0, 2, 2], "score": 0.3}]
    )
    coco.import_files(catalog, [results], id_prefix="other:", progress=False)
    coco.import_files(catalog, [results], id_prefix="instances_tiny:", progress=False)
    rows = catalog.sql("SELECT frame_id, label FROM rois WHERE field = 'predictions'").fetchall()
    assert sorted(rows) == [("instances_tiny:1", "person"), ("other:1", "tree")]


def test_export_copies_or_links_images_from_outside_its_folder(catalog, tmp_path):
    src = tmp_path / "src"
    (src / "a").mkdir(parents=True)
    (src / "b").mkdir()
    for name in ("a/x.jpg", "b/x.jpg"):  # two images with one name
        (src / name).write_bytes(name.encode())
    images = [{"id": n, "file_name": name} for n, name in enumerate(["a/x.jpg", "b/x.jpg"], 1)]
    doc = _write(src / "i.json", {"images": images, "annotations": [], "categories": []})
    coco.import_files(catalog, [doc], progress=False, images_dir=src)
    for media in ("copy", "link"):
        dest = tmp_path / media / "gt.json"
        report = coco.export_files(catalog.view(), dest, progress=False, media=media)
        names = [i["file_name"] for i in json.loads(dest.read_text())["images"]]
        assert names == ["x.jpg", "x-1.jpg"] and report.skipped == []
        placed = [dest.parent / "images" / n for n in names]
        assert [p.is_symlink() for p in placed] == [media == "link"] * 2
        assert [p.read_bytes() for p in placed] == [b"a/x.jpg", b"b/x.jpg"]
        with workbench.open(tmp_path / f"{media}.duckdb") as again:
            assert coco.import_files(again, [dest], progress=False).ok
            uris = [r[0] for r in again.sql("SELECT uri FROM sources ORDER BY uri").fetchall()]
            assert uris == sorted(str(p) for p in placed)


def test_an_image_that_cannot_be_copied_is_named_and_counted(catalog, tmp_path):
    coco.import_files(catalog, [INSTANCES], progress=False)  # its pictures are not on disk
    dest = tmp_path / "out" / "gt.json"
    report = coco.export_files(catalog.view(), dest, progress=False, media="copy")
    names = [i["file_name"] for i in json.loads(dest.read_text())["images"]]
    assert names[0] == os.path.relpath(DATA / "000001.jpg", dest.parent / "images")
    assert report.skipped == ["3 images not copied (missing or unreadable), named where they are"]


def test_a_results_file_with_a_byte_order_mark_is_still_a_results_file(catalog, tmp_path):
    coco.import_files(catalog, [INSTANCES], progress=False)
    results = json.loads(RESULTS.read_text())
    path = tmp_path / "r.json"
    path.write_bytes(b"\xef\xbb\xbf" + json.dumps(results).encode())
    report = coco.import_files(catalog, [path], progress=False, id_prefix="instances_tiny:")
    assert report.rois > 0
    assert catalog.sql("SELECT count(*) FROM rois WHERE field = 'predictions'").fetchall()[0][0]
