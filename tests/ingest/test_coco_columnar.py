"""The columnar COCO path stores exactly what the per-record (streaming) path stores, with the
same errors and warnings, on instances files with records of every shape."""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb
import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pytest

import workbench
from workbench.ingest import CatalogWriter, coco
from workbench.ingest.coco import _import_instances, _Instances

from .test_clearml_columnar import _rows


def _pick(rng: random.Random, *choices: Any) -> Any:
    return choices[0] if rng.random() < 0.93 else rng.choice(choices)


def _document(seed: int, images: int = 120) -> dict[str, Any]:
    rng = random.Random(seed)
    doc_images: list[Any] = []
    for n in range(images):
        image: dict[str, Any] = {
            "id": _pick(rng, n + 1, str(n + 1), n, None, 1.5, [1]),
            "file_name": _pick(
                rng,
                f"im{n}.jpg",
                f"sub/im{n}.png",
                f"/abs/{n}.jpg",
                f"s3://b/{n}.jpg",
                "",
                None,
                f"./x/{n}.jpg",
                f"a//{n}.gif",
                f"http://h/{n}.jpg?x=1",
                f"{n}.weird",
            ),
            "width": _pick(rng, 640, 0, None, "640", 10.5),
            "height": _pick(rng, 480, None),
        }
        if rng.random() < 0.2:
            image["license"] = _pick(rng, 1, None)
        if rng.random() < 0.1:
            image["weather"] = _pick(rng, "rain", 3, 1.5, True, {"a": 1})
        doc_images.append(_pick(rng, image, image, "image", 5))
    annotations: list[Any] = []
    for a in range(images * 4):
        x, y = rng.uniform(-20, 650), rng.uniform(-20, 500)
        ann: dict[str, Any] = {
            "id": _pick(rng, a + 1, str(a + 1), a // 2, None, 2.5),
            "image_id": _pick(
                rng, rng.randint(1, images), str(rng.randint(1, images)), images + 5, None, [1]
            ),
            "category_id": _pick(rng, rng.randint(1, 3), 9, "1", None),
        }
        if rng.random() < 0.9:
            ann["bbox"] = _pick(rng, [x, y, 30, 20], [x, y, 0, 5], [x, y, -1, 2], [x, y, 3],
                                [x, "y", 1, 1], None, [1e8, 0, 1, 1])  # fmt: skip
        if rng.random() < 0.3:
            ann["segmentation"] = _pick(
                rng,
                [[x, y, x + 10, y, x + 5, y + 8]],
                [[x, y, x + 10, y, x + 5, y + 8], [x, y, x + 1, y, x, y + 1]],
                [[x, y, x + 1, y + 1]],
                [],
                "x",
                [x, y, 1, 2, 3, 4],
                {"size": [480, 640], "counts": [307200]},
                [[x, True, 1, 2, 3, 4]],
            )
        if rng.random() < 0.8:
            ann["area"] = _pick(rng, 600.0, None, "big")
        if rng.random() < 0.8:
            ann["iscrowd"] = _pick(rng, 0, 1)
        if rng.random() < 0.2:
            ann["score"] = _pick(rng, 0.5, 1.5, "high", 1)
        if rng.random() < 0.1:
            ann["attributes"] = _pick(rng, {"occluded": False}, None, [1])
        if rng.random() < 0.03:
            ann["supercategory"] = "own"
        annotations.append(_pick(rng, ann, ann, ann, "ann", 3))
    categories: list[Any] = [
        {"id": 1, "name": "car", "supercategory": "vehicle"},
        {"id": 2, "name": "person"},
        {"id": 3, "name": _pick(rng, "dog", "", "d\u202eg")},
        {"id": "1", "name": "string one"},
        _pick(rng, {"id": 2, "name": "again"}, "cat"),
    ]
    return {"images": doc_images, "annotations": annotations, "categories": categories}


def _errors(report: Any) -> list[tuple[str, str]]:
    return sorted((str(e.where), e.problem) for e in report.errors)


def _with_keypoints(doc: dict[str, Any]) -> str:
    """The document with keypoints on some annotations, their key written plainly or escaped
    (`"key\\u0070oints"`, which a JSON reader reads as "keypoints")."""
    doc["categories"][1]["keypoints"] = ["a", "b"]
    for n, ann in enumerate(doc["annotations"]):
        if isinstance(ann, dict) and n % 7 == 0:
            ann["keypoints"] = [1, 2, 2, 3, 4, 1] if n % 14 else []
    return (
        json.dumps(doc)
        .replace('"keypoints": []', '"key\\u0070oints": []', 5)
        .replace('"keypoints": [1', '"key\\u0070oints": [1', 5)
    )


@pytest.mark.parametrize("seed", [1, 2, 3, 4, 5])
def test_columnar_and_per_record_paths_store_the_same(tmp_path: Path, seed: int) -> None:
    path = tmp_path / "instances.json"
    path.write_text(json.dumps(_document(seed)) if seed < 5 else _with_keypoints(_document(1)))
    columnar = _same_on_both_paths(tmp_path, path, 50)
    assert columnar.frames > 20 and columnar.rois > 50


def test_paths_agree_on_files_sql_takes_whole(tmp_path: Path) -> None:
    """Annotations all SQL's, not grouped by image (the ROIs of a write are sorted, and the
    columns the same for every row added after), in writes with and without a record left
    to the per-record path."""
    rng = random.Random(7)
    images = [
        {"id": n + 1, "file_name": f"{n}.jpg", "width": 640, "height": 480} for n in range(60)
    ]
    annotations: list[Any] = []
    for a in range(300):
        x, y = rng.uniform(0, 600), rng.uniform(0, 440)
        ann: dict[str, Any] = {"id": a + 1, "image_id": (a * 37) % 60 + 1, "category_id": a % 2 + 1}
        ann["bbox"] = [x, y, 30, 20]
        if a % 3 == 0:
            ann["segmentation"] = [[x, y, x + 10, y, x + 5, y + 8]]
            ann["area"] = 40.0
        if a % 5 == 0:
            ann["score"] = 0.5
        annotations.append(ann)
    # Image 50's one RLE annotation goes the per-record way: only its write mixes the paths.
    annotations[49] = {"id": 50, "image_id": 50, "category_id": 1,
                       "segmentation": {"size": [480, 640], "counts": [307200]}}  # fmt: skip
    doc = {
        "images": images,
        "annotations": annotations,
        "categories": _document(1)["categories"][:2],
    }
    path = tmp_path / "instances.json"
    path.write_text(json.dumps(doc))
    columnar = _same_on_both_paths(tmp_path, path, 20)
    assert (columnar.frames, columnar.rois, columnar.errors) == (60, 300, [])


_BOXES: list[Any] = [
    [1, 2, 3, 4],
    [1.5, -2e1, 3, 4e0],
    [True, 2, 3, 4],
    [1, False, 3, 4],
    [None, 2, 3, 4],
    [[1], 2, 3, 4],
    [{}, 2, 3, 4],
    ["1", 2, 3, 4],
    [1, 2, 3],
    [],
    1,
    {"x": 1},
    "1,2,3,4",
    True,
]
_RINGS: list[Any] = [
    [[1, 2, 11, 2, 6, 9]],
    [[1, 2, 11, 2, 6, 9], [0, 0, 1, 0, 0, 1]],
    [[1, None, 11, 2, 6, 9]],
    [[1, 2, 11, 2, 6, True]],
    [[False, 2, 11, 2, 6, 9]],
    [[1, 2, 11, 2, 6, 9], 7],
    [[1, 2, 11, 2, 6, 9], None],
    [[1, 2, 11, 2, 6, 9], []],
    [[[1], 2, 11, 2, 6, 9]],
    [[{}, 2, 11, 2, 6, 9]],
    [["1", 2, 11, 2, 6, 9]],
    [1, 2, 11, 2, 6, 9],
    [[]],
    [None],
    [],
    {"size": [20, 20], "counts": [400]},
]


def test_boxes_and_rings_sql_casts_are_those_the_per_record_path_takes(tmp_path: Path) -> None:
    """Boxes and rings holding booleans, nulls, strings, lists or objects where numbers
    should be, or numbers where lists should be: SQL takes only what the per-record path
    stores as it does (a lenient cast would read `true` as 1 and "1" as 1)."""
    images = [{"id": 1, "file_name": "a.jpg", "width": 40, "height": 40}]
    annotations: list[Any] = []
    for box in _BOXES:
        annotations.append({"image_id": 1, "category_id": 1, "bbox": box, "area": 4.0})
    for ring in _RINGS:
        annotations.append({"image_id": 1, "category_id": 1, "segmentation": ring, "area": 4.0})
    for n, ann in enumerate(annotations):
        ann["id"] = n + 1
    doc = {"images": images, "annotations": annotations, "categories": [{"id": 1, "name": "a"}]}
    path = tmp_path / "instances.json"
    path.write_text(json.dumps(doc))
    columnar = _same_on_both_paths(tmp_path, path, 20)
    assert (columnar.frames, columnar.rois) == (1, 4)


def test_ids_repeated_on_an_image_are_refused_in_every_write(tmp_path: Path) -> None:
    """An annotation id given twice on one image, by SQL's records and by the per-record
    path's (an RLE mask), in images of every write: each later one refused, as the per-record
    path refuses it, whichever write its image falls in."""
    images = [{"id": n + 1, "file_name": f"{n}.jpg", "width": 64, "height": 48} for n in range(40)]
    annotations: list[Any] = [
        {"id": a % 80 + 1, "image_id": (a * 7) % 40 + 1, "category_id": 1, "bbox": [1, 2, 3, 4]}
        for a in range(200)
    ]  # ids 1..80 again from the 81st, on the image they were on before
    for a in (3, 85, 170):  # masks: the per-record path's, two of them repeats
        annotations[a]["segmentation"] = {"size": [48, 64], "counts": [3072]}
        del annotations[a]["bbox"]
    doc = {"images": images, "annotations": annotations, "categories": [{"id": 1, "name": "c"}]}
    path = tmp_path / "instances.json"
    path.write_text(json.dumps(doc))
    seen: dict[tuple[int, int], int] = {}
    twice = []
    for a in annotations:
        key = (a["image_id"], a["id"])
        if key in seen:
            twice.append(key)
        seen[key] = 1
    writes = {(image - 1) // 7 for image, _ in twice}
    assert len(twice) > 5 and len(writes) > 3  # repeats in the images of several writes
    columnar = _same_on_both_paths(tmp_path, path, 7)
    refused = [e for e in columnar.errors if e.problem == "the id appears twice for this image"]
    assert len(refused) == len(twice)


def _same_on_both_paths(
    tmp_path: Path, path: Path, batch_size: int, errors: Callable[[Any], Any] = _errors
) -> Any:
    """Import `path` by the columnar and per-record paths; both store and report the same
    (their errors compared as `errors` gives them)."""
    with workbench.open(tmp_path / "a.duckdb") as catalog:
        columnar = coco.import_files(catalog, [path], progress=False, batch_size=batch_size)
        mine = [_rows(catalog, t) for t in ("frames", "sources", "rois")]
    with (
        workbench.open(tmp_path / "b.duckdb") as catalog,
        CatalogWriter(catalog, progress=False) as writer,
    ):
        options = _Instances("instances:", "ground_truth", tmp_path, False, None, None, 1 << 30)
        _import_instances(path, writer, options)
    with workbench.open(tmp_path / "b.duckdb") as catalog:
        theirs = [_rows(catalog, t) for t in ("frames", "sources", "rois")]
    per_record = writer.report
    assert (columnar.frames, columnar.rois) == (per_record.frames, per_record.rois)
    assert columnar.warnings == per_record.warnings
    assert errors(columnar) == errors(per_record)
    assert mine == theirs
    return columnar


def test_frames_keep_the_order_of_the_images_in_the_file(tmp_path: Path) -> None:
    images = [{"id": n, "file_name": f"{n}.jpg"} for n in (5, 3, 9, 1, 7)]
    annotations = [
        {"id": a, "image_id": images[a % 5]["id"], "category_id": 1, "bbox": [0, 0, 1, 1]}
        for a in range(20)
    ]
    doc = {"images": images, "annotations": annotations, "categories": [{"id": 1, "name": "c"}]}
    path = tmp_path / "i.json"
    path.write_text(json.dumps(doc))
    with workbench.open(tmp_path / "c.duckdb") as catalog:
        assert coco.import_files(catalog, [path], progress=False, batch_size=2).ok
        assert [f for f in catalog.view().frame_ids()] == [f"i:{n}" for n in (5, 3, 9, 1, 7)]


@pytest.mark.parametrize("per_write", [7, 1000])
def test_each_write_reads_its_own_annotations(tmp_path: Path, per_write: int) -> None:
    """Past one write, each write's annotations are kept in a file of its own, holding the
    rows of its range of images only (the file's annotations are not grouped by image), so
    that no sort of all of them is made and a write reads its own rows; the file goes once
    written. Within one write they stay in the engine, in the file's order, and the write
    sorts. Either way the record's text is kept for the per-record path's records only."""
    from workbench.ingest import _coco_columnar as columnar
    from workbench.ingest._clearml_sql import MACROS
    from workbench.ingest._coco_pieces import members
    from workbench.ingest._coco_rois import write_rois
    from workbench.ingest._columnar import MemoryEngine

    images = [{"id": n + 1, "file_name": f"{n}.jpg", "width": 64, "height": 48} for n in range(60)]
    annotations = [
        {"id": a + 1, "image_id": (a * 37) % 60 + 1, "category_id": 1, "bbox": [1, 2, 3, 4]}
        for a in range(300)
    ]
    annotations[5] = {"id": 6, "image_id": 9, "category_id": 1,  # the per-record path's
                      "segmentation": {"size": [48, 64], "counts": [3072]}}  # fmt: skip
    doc = {"images": images, "annotations": annotations, "categories": [{"id": 1, "name": "c"}]}
    path = tmp_path / "i.json"
    path.write_text(json.dumps(doc))
    options = _Instances("i:", "ground_truth", tmp_path, False, None, None, 1 << 30)
    folder = tmp_path / "writes"
    folder.mkdir()
    with (
        workbench.open(tmp_path / "c.duckdb") as catalog,
        CatalogWriter(catalog, progress=False) as writer,
        MemoryEngine(MACROS, files=[str(path.resolve())]) as con,
    ):
        found = members(path, 1 << 10)
        staged = columnar._stage(con, path, found, path.stat().st_size, writer, options,
                                 per_write, str(folder))  # fmt: skip
        assert staged is not None
        total, stored = staged
        tables = {t for (t,) in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
        files = sorted(p.name for p in folder.iterdir())
        held: list[list[tuple[int, int]]] = []
        for first in range(0, total, per_write):
            stored.staged.load(con, first, first + per_write - 1)
            held.append(con.execute("SELECT o, i FROM _wb_ann WHERE ok").fetchall())
            stored.staged.unload(con)
        ordinals = [o for (o,) in con.execute("SELECT o FROM _wb_images").fetchall()]
        texts = stored.staged.rest(con)
        mine = stored.rois_of(8, 8)
        write = 8 // per_write * per_write
        stored.staged.load(con, write, write + per_write - 1)
        made = write_rois(con, mine, options.field, {"first": 8, "last": 8}, set())
        stored.staged.release(con, write)
        gone = sorted(p.name for p in folder.iterdir())
    assert "_wb_items" not in tables
    assert [r[-1] for r in mine] == [5]
    assert [(i, json.loads(x)) for i, x in texts] == [(5, annotations[5])]
    if per_write < total:
        assert "_wb_ann" not in tables and ordinals == list(range(60))
        assert files == sorted(f"annotations-{w}.arrow" for w in range(len(held)))
        for w, rows in enumerate(held):  # each write's file: the rows of its range only
            assert rows and all(w * per_write <= o < (w + 1) * per_write for o, _ in rows)
        everything = sorted(r for rows in held for r in rows)
        assert everything == sorted(
            (a["image_id"] - 1, n) for n, a in enumerate(annotations) if n != 5
        )
        assert gone == [f for f in files if f != f"annotations-{write // per_write}.arrow"]
    else:
        assert "_wb_ann" in tables and files == [] and len(held) == 1
        assert held[0] == sorted(held[0], key=lambda r: r[1]) and held[0] != sorted(held[0])
        assert len(held[0]) == 299
    # The write's ROIs, SQL's and Python's, in the file's order of the image's annotations.
    assert made["id"].to_pylist() == [str(a["id"]) for a in annotations if a["image_id"] == 9]
    assert set(made["frame_id"].to_pylist()) == {"i:9"}
    boxes = [
        g
        for g, k in zip(made["geometry"].to_pylist(), made["kind"].to_pylist(), strict=True)
        if k == "box"
    ]
    assert len(boxes) == len(made) - 1  # and the mask
    assert all(g == [[1.0, 2.0, 4.0, 2.0, 4.0, 6.0, 1.0, 6.0]] for g in boxes)


@pytest.mark.parametrize("per_write", [9, 1000])
def test_annotations_are_converted_a_batch_at_a_time(
    tmp_path: Path, per_write: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The engine holds the texts of one batch of the annotations' pieces at a time, not the
    file's, and what is stored and reported is the per-record path's, in one write or many."""
    from workbench.ingest import _coco_columnar as columnar
    from workbench.ingest import _coco_staged

    monkeypatch.setattr(columnar, "PIECE_BYTES", 2_000)
    monkeypatch.setattr(columnar, "ANNOTATION_BATCH_BYTES", 5_000)
    held: list[int] = []
    for kind in (_coco_staged.InEngine, _coco_staged.ByWrite):
        add = kind.add

        def counted(self: Any, con: Any, *args: Any, add: Any = add) -> None:
            held.append(con.execute("SELECT count(*) FROM _wb_items").fetchall()[0][0])
            add(self, con, *args)

        monkeypatch.setattr(kind, "add", counted)
    doc = _document(3)
    path = tmp_path / "instances.json"
    path.write_text(json.dumps(doc))
    _same_on_both_paths(tmp_path, path, per_write)
    assert len(held) > 5 and sum(held) == len(doc["annotations"])
    assert max(held) < len(doc["annotations"]) / 4


def test_a_batch_not_for_the_engine_after_the_images_reports_each_error_once(
    tmp_path: Path,
) -> None:
    """Annotations the engine's parser refuses are met after the images were staged (and
    some refused): the file goes record by record, each error given once, by that path."""
    doc = _document(6)
    path = tmp_path / "instances.json"
    text = json.dumps(doc).encode()
    at = text.index(b'"annotations"') + text[text.index(b'"annotations"') :].index(b'"id"')
    path.write_bytes(text[:at] + b'"bad\xff": 1, ' + text[at:])  # not UTF-8
    columnar = _same_on_both_paths(tmp_path, path, 7)
    assert any(", image " in str(e.where) for e in columnar.errors)


@pytest.mark.parametrize("seed", [1, 2])
def test_export_in_sql_writes_what_the_per_row_export_writes(tmp_path: Path, seed: int) -> None:
    _export_matches_per_row_export(tmp_path, _document(seed), own_ids=False)


@pytest.mark.parametrize("seed", [1, 2])
def test_ids_that_are_their_numbers_are_written_by_the_engine(tmp_path: Path, seed: int) -> None:
    """Every annotation id a number of its own (out of order): the engine writes the ids,
    masks and the other ROIs written in Python take theirs from the ROI's id."""
    document = _document(seed)
    for n, annotation in enumerate(document["annotations"]):
        if isinstance(annotation, dict):
            annotation["id"] = 5000 - 3 * n
    _export_matches_per_row_export(tmp_path, document, own_ids=True)


def _export_matches_per_row_export(tmp_path: Path, document: Any, own_ids: bool) -> None:
    from workbench.ingest import narrow
    from workbench.ingest._coco_export import _export_image_ids
    from workbench.ingest._coco_export_rois import (
        _categories,
        _export_annotation,
        _export_annotation_ids,
        ids_their_numbers,
    )

    path = tmp_path / "instances.json"
    path.write_text(json.dumps(document))
    with workbench.open(tmp_path / "a.duckdb") as catalog:
        coco.import_files(catalog, [path], progress=False)
        view = catalog.view()
        con = catalog.cursor()
        with narrow.field_rois(con, view, "ground_truth", ("id",)) as (read, params):
            assert (ids_their_numbers(con, read, params) is not None) is own_ids
        con.close()
        dest = tmp_path / "out.json"
        coco.export_files(view, dest, progress=False)
        rois = view.rois()
        rois = rois.filter(pc.equal(rois["field"], "ground_truth"))
        numbers = _export_annotation_ids(rois)
        images = _export_image_ids(list(view.frame_ids()))
        categories = _categories(rois)
        expected = []
        for row in rois.to_pylist():
            ids = numbers[(row["frame_id"], row["id"])], images[row["frame_id"]]
            annotation = _export_annotation(row, ids, categories, "compressed")
            if not isinstance(annotation, str):
                expected.append(annotation)
    written = json.loads(dest.read_text())["annotations"]
    assert len(written) > 100
    assert written == expected


def test_annotation_numbers_on_columns_are_those_of_the_loop() -> None:
    """Repeated numbers, ids that are not numbers, leading zeros, ids past 18 digits and
    non-ASCII digits: the numbers computed on columns equal the per-row loop's."""
    from workbench.ingest._coco_export_rois import _export_annotation_ids, roi_numbers

    cases = [
        [("a", "3"), ("a", "03"), ("b", "3"), ("b", "x"), ("c", "10"), ("c", "")],
        [("a", "x"), ("a", "y")],
        [("a", "1"), ("a", "1"), ("b", "2")],  # a frame and id twice: the loop's dict wins
        [("a", "12345678901234567"), ("b", "5"), ("b", "5x")],
        [("a", "1234567890123456789"), ("b", "1")],
        [("a", "\u0663"), ("b", "4")],
        [("a", "5"), ("b", "2"), ("b", "7")],  # every id its own number
        [("a", "3"), ("b", "03")],  # all numbers, one taken: the frames and ids are read
        [("a", "3"), ("b", "03"), ("b", "03")],
        [],
    ]
    for rows in cases:
        table = pa.table(
            {
                "frame_id": pa.array([f for f, _ in rows], pa.string()),
                "id": pa.array([i for _, i in rows], pa.string()),
            }
        )
        expected = _export_annotation_ids(table)
        # as narrow.field_rois reads them: with their order `o`, stored backwards here
        read = table.append_column("o", pa.array(range(1, len(rows) + 1), pa.int64()))
        con = duckdb.connect()
        con.register("_t", read.take(pa.array(range(len(rows) - 1, -1, -1), pa.int64())))
        numbers = roi_numbers(con, "SELECT * FROM _t", ())
        con.close()
        assert numbers.tolist() == [expected[k] for k in rows], rows


def _images_document(seed: int) -> str:
    """Images of every shape of metadata and file name the export writes in SQL or Python."""
    rng = random.Random(seed)
    extras: list[str] = [
        "",
        ',"license":1',
        ',"license":1,"coco_url":"http://x/1.jpg","date_captured":"2013-11-14 11:18:45"',
        ',"flag":true,"none":null,"n":-12,"zero":0',
        ',"f":1.5',
        ',"big":1e20',
        ',"neg0":-0',
        ',"u":"caf\u00e9"',
        ',"esc":"a\\"b"',
        ',"ctl":"a\\u0001b"',
        ',"nested":{"a":[1,2]}',
        ',"a":1,"a":2',
        ',"x":"\u2028"',
        ',"long":12345678901234567890',
    ]
    names = [
        "http://h/{n}.jpg",
        "s3://b/{n}.jpg?a=1&b=2",
        "file:///abs/{n}.jpg",
        "/abs/{n}.jpg",
        "rel/{n}.jpg",
        'http://h/{n}"q.jpg',
        "http://h/caf\u00e9{n}.jpg",
        "http://h/\\{n}.jpg",
    ]
    images = []
    for n in range(300):
        name = json.dumps(rng.choice(names).format(n=n), ensure_ascii=False)
        size = rng.choice(['"width":640,"height":480', '"width":640', ""])
        head = f'{{"id":{n + 1},"file_name":{name}' + ("," + size if size else "")
        images.append(head + rng.choice(extras) + "}")
    cats = '[{"id":1,"name":"c"}]'
    return '{"images":[' + ",".join(images) + '],"annotations":[],"categories":' + cats + "}"


@pytest.mark.parametrize("seed", [1, 2])
def test_images_in_sql_are_those_of_the_per_frame_export(tmp_path: Path, seed: int) -> None:
    from workbench.ingest._coco_export import _export_image, _image_numbers, _MediaPlacer

    path = tmp_path / "instances.json"
    path.write_text(_images_document(seed), encoding="utf-8")
    with workbench.open(tmp_path / "a.duckdb") as catalog:
        assert coco.import_files(catalog, [path], progress=False).frames == 300
        view = catalog.view()
        dest = tmp_path / "out" / "out.json"
        coco.export_files(view, dest, progress=False)
        frames = view.frames(columns=["id", "metadata"])
        numbers = _image_numbers(frames["id"].combine_chunks()).tolist()
        placer = _MediaPlacer((dest.parent).resolve(), "refer")
        expected = []
        for frame, number in zip(frames.to_pylist(), numbers, strict=True):
            (source,) = (
                view.catalog.cursor()
                .execute("SELECT uri, width, height FROM sources WHERE frame_id = ?", [frame["id"]])
                .fetchall()
            )
            expected.append(_export_image(frame, number, source, placer))
    text = dest.read_text(encoding="utf-8")
    written = json.loads(text)["images"]
    assert written == expected
    lines = text.split("\n")[1:301]  # one image a line, each as orjson writes it
    assert lines == [
        orjson.dumps(image).decode() + ("," if n < 299 else "") for n, image in enumerate(expected)
    ]


def test_image_numbers_on_columns_are_those_of_the_loop() -> None:
    from workbench.ingest._coco_export import _export_image_ids, _image_numbers

    cases = [
        ["a:3", "b:3", "c:x", "10", "d:", "e:03", "f:1:2"],
        ["x", "y"],
        ["a:1234567890123456789", "b:1"],
        ["a:\u0663", "b:4"],
        [],
    ]
    for ids in cases:
        expected = _export_image_ids(ids)
        assert _image_numbers(pa.array(ids, pa.string())).tolist() == [expected[i] for i in ids]


@pytest.mark.parametrize("seed", [1, 2])
def test_categories_from_chosen_rows_are_those_of_every_row(tmp_path: Path, seed: int) -> None:
    from workbench.ingest import narrow
    from workbench.ingest._coco_export_rois import _categories, export_categories

    path = tmp_path / "instances.json"
    path.write_text(json.dumps(_document(seed)))
    with workbench.open(tmp_path / "a.duckdb") as catalog:
        coco.import_files(catalog, [path], progress=False)
        view = catalog.view()
        rois = view.rois()
        con = catalog.cursor()
        columns = ("label", "kind", "attributes")
        with narrow.field_rois(con, view, "ground_truth", columns) as (read, params):
            chosen = export_categories(con, read, params)
        con.close()
    rois = rois.filter(pc.equal(rois["field"], "ground_truth"))
    assert rois.num_rows > 100
    assert chosen == _categories(rois)
