"""Nucleus annotation payloads read by SQL store exactly what the per-record path stores: a
mixed file (common payloads, rare ones, malformed ones, values at the edges of what SQL may
take) imported both ways gives every ROI row, error, warning and count alike, as NDJSON and
as a JSON list, in one chunk or many."""

from __future__ import annotations

import json
import random
from collections import Counter
from pathlib import Path
from typing import Any

import pyarrow.compute as pc
import pytest

import workbench
from workbench.ingest import (
    CatalogWriter,
    Frame,
    Roi,
    Source,
    _nucleus_annotation_columnar,
    _nucleus_placing,
    box_ring,
    nucleus_annotations,
)
from workbench.model.records import ROI_SCHEMA

from .sdk_venv import run_in_sdk_venv

FRAMES = 12  # f0 .. f11, in the scenes `drive` (f0-f5) and `park` (f6-f11)
_COLUMNS = ", ".join(f.name for f in ROI_SCHEMA)


def _catalog(path: Path) -> workbench.Catalog:
    catalog = workbench.open(path)
    with CatalogWriter(catalog, progress=False) as writer:
        for n in range(FRAMES):
            rois = [Roi("old", "box", ["bus"], geometry=[box_ring(0, 0, 5, 5)])] if n % 3 else []
            writer.add(Frame(f"f{n}", [Source("image", f"/i/{n}.jpg", 100, 80)], rois,
                             context_id="drive" if n < 6 else "park", frame_index=n % 6))  # fmt: skip
    return catalog


_METADATA: list[Any] = [
    {"n": 1}, {"a": 0.5, "b": [1, 2.25, -3], "c": {"d": None, "e": True}}, {}, None,
    {"v": 1e20}, {"v": 0.000001}, {"v": 12345678901234567}, {"s": "é ü \n \u2028"},
    {"nucleus": 1}, "text", [1], {"k": "a\\b"}, {"x": 1.0, "y": 100000.0},
]  # fmt: skip


def _pick(rng: random.Random, good: Any, odd: list[Any]) -> Any:
    """`good` most of the time, else one of `odd`."""
    return good if rng.random() < 0.9 else rng.choice(odd)


def _common(rng: random.Random, n: int) -> dict[str, Any]:
    kind = rng.choice(["box", "box", "box", "polygon", "line", "category", "multicategory"])
    ref = _pick(rng, rng.choice(["f0", "f1", "f2", "f3", "f6", "f7", "f11", "drive", "park"]),
                ["nowhere", 3, "", None])  # fmt: skip
    payload: dict[str, Any] = {"type": kind, "reference_id": ref}
    if kind == "multicategory":
        payload["labels"] = _pick(rng, ["a", "b"], [["a"], [], ["a", 3], ["x\u202ey"]])
    else:
        payload["label"] = _pick(rng, "car", ["", 7, "x\u202ey", "N" * 1100, "ü"])
    if kind == "box":
        x, w = _pick(rng, (1, 30), [(2.5, 0.1), (0, 0), (-3, 4), (9_999_999, 2), (1, -1)])
        payload["geometry"] = {"x": x, "y": _pick(rng, 2, [True, 7.25]), "width": w,
                               "height": _pick(rng, 40, [0, 1.5])}  # fmt: skip
    elif kind in ("polygon", "line"):
        count = _pick(rng, 5, [1, 2, 3])
        vertices: list[Any] = [{"x": rng.randint(0, 50) / 4, "y": i} for i in range(count)]
        if rng.random() < 0.05:
            vertices[0] = {"x": "1", "y": 2}
        payload["geometry"] = {"vertices": vertices}
    if rng.random() < 0.6:
        payload["annotation_id"] = _pick(rng, f"a{n % 7}", [f"id{n}", "", 5, "bad\u202e"])
    if rng.random() < 0.5:
        payload["metadata"] = _pick(rng, {"n": n, "v": n / 4, "s": "x"}, _METADATA)
    if rng.random() < 0.3:
        payload["confidence"] = _pick(rng, 0.25, [1, 0, 1.5, "high", True, None])
    for key, values in (
        ("track_reference_id", ["t1", "t2", 4, "", None]),
        ("task_id", ["task", None]),
        ("taxonomy_name", ["tx", 2, None]),
        ("embedding_vector", [None, [0.5, 1]]),
        ("class_pdf", [None, {"car": 0.9}, "x"]),
    ):
        if rng.random() < 0.2:
            payload[key] = _pick(rng, values[0], values[1:])
    return payload


def _rare(rng: random.Random, n: int) -> Any:
    ref = rng.choice(["f0", "f4", "f8"])
    return rng.choice([
        _keypoints(rng, n, ref), _keypoints(rng, n, ref), _segmentation(rng, n, ref),
        _segmentation(rng, n, ref),
        {"item": {"reference_id": ref}, "box": [{"label": "car", "annotation_id": f"it{n}",
         "geometry": {"x": 1, "y": 2, "width": 3, "height": 4}}]},
        {"type": "cuboid", "reference_id": ref, "label": "car"},
        {"type": "ellipse", "reference_id": ref},
        [1, 2],
        "text",
    ])  # fmt: skip


def _keypoints(rng: random.Random, n: int, ref: str) -> dict[str, Any]:
    """Keypoints of two labels, their names in one order or another, at the edges of what
    SQL takes (points without coordinates, visible flags that are numbers, names given
    twice, skeletons out of range or of booleans)."""
    names = _pick(rng, ["a", "b", "c"], [["b", "a", "c"], ["a", "b"], ["a", "a", "c"], [],
                                         ["a", 2, "c"], ["a", "b", ""], "abc"])  # fmt: skip
    count = len(names) if isinstance(names, list) else 3
    points: list[Any] = []
    for k in range(count):
        point: Any = {"x": rng.randint(0, 60) / 2, "y": k + 0.5, "visible": rng.random() < 0.7}
        if rng.random() < 0.15:
            point = {"visible": False, "x": None} if rng.random() < 0.5 else {"visible": False}
        points.append(_pick(rng, point, [{"x": 1, "visible": True}, {"x": 1, "y": 2,
                                          "visible": 1}, {"x": True, "y": 1, "visible": True},
                                          {"x": 1, "y": 2}, None, {"visible": True},
                                          {"x": 2e7, "y": 1, "visible": False}]))  # fmt: skip
    geometry: dict[str, Any] = {"keypoints": points, "names": names}
    if rng.random() < 0.8:
        geometry["skeleton"] = _pick(rng, [[0, 1], [1, 2]], [[[0, 3]], [[True, 1]], [[0]],
                                     [[0, 1.0]], [], None, "x", [[-1, 0]], [5]])  # fmt: skip
    payload: dict[str, Any] = {"type": "keypoints", "label": rng.choice(["hand", "foot"]),
                               "reference_id": ref, "geometry": geometry}  # fmt: skip
    if rng.random() < 0.5:
        payload["annotation_id"] = f"k{n % 5}"
    if rng.random() < 0.3:
        payload["metadata"] = {"side": "left"}
    if rng.random() < 0.2:
        payload["confidence"] = 0.75
    return payload


def _segmentation(rng: random.Random, n: int, ref: str) -> dict[str, Any]:
    """A segmentation with local (relative, absolute, `file://`) or remote masks, indexes as
    numbers or text, at the edges of what SQL takes."""
    good = rng.choice(
        ["s3://b/m.png", "masks/m.png", "/abs/m.png", "file://masks/m.png", "file:///abs/m.png"]
    )
    url = _pick(rng, good, ["./m.png", "a//m.png", "m.png/", "ü/m.png", 'q"/m.png', "", 5, None])
    segments: list[Any] = []
    for k in range(rng.choice([1, 2, 3])):
        segment: Any = {"label": rng.choice(["road", "sky"]),
                        "index": _pick(rng, k, [str(k), "07", None, 1.0, True, "x", -2])}  # fmt: skip
        if rng.random() < 0.1:
            segment["metadata"] = rng.choice([{}, None, {"shade": "dark"}])
        segments.append(_pick(rng, segment, [{"index": 1}, {"label": "", "index": 1}, 3]))
    payload: dict[str, Any] = {"mask_url": url, "reference_id": ref,
                               "annotations": _pick(rng, segments, [[], {}, None])}  # fmt: skip
    kind = rng.choice(["segmentation", "mask", None, "absent"])
    if kind != "absent":
        payload["type"] = kind
    if rng.random() < 0.6:
        payload["annotation_id"] = _pick(rng, f"s{n % 4}", [7, ""])
    if rng.random() < 0.3:
        payload["metadata"] = _pick(rng, {"m": n}, [None, "x"])
    if rng.random() < 0.2:
        payload["confidence"] = _pick(rng, 0.5, ["x"])
    if rng.random() < 0.2:
        payload["track_reference_id"] = "t1"
    return payload


def _lines(seed: int, count: int) -> list[str]:
    rng = random.Random(seed)
    lines = []
    for n in range(count):
        pick = rng.random()
        if pick < 0.8:
            lines.append(json.dumps(_common(rng, n), ensure_ascii=rng.random() < 0.5))
        elif pick < 0.93:
            lines.append(json.dumps(_rare(rng, n), ensure_ascii=rng.random() < 0.5))
        else:
            lines.append(rng.choice([
                "{not json",
                '{"type": "box", "type": "polygon", "reference_id": "f0", "label": "car", '
                '"geometry": {"x": 1, "y": 2, "width": 3, "height": 4}}',
                '{"type": "box", "reference_id": "f1", "label": "car", '
                '"geometry": {"x": 1, "y": 2, "width": 3, "height": 4, "x": 9}}',
                '{"type": "box", "reference_id": "f2", "label": "car", "metadata": {"a": 1, "a": 2}, '
                '"geometry": {"x": 1, "y": 2, "width": 3, "height": 4}}',
                '{"type": "box", "reference_id": "f3", "label": "car", "confidence": NaN, '
                '"geometry": {"x": 1, "y": 2, "width": 3, "height": 4}}',
                '{"type": "box", "reference_id": "f4", "label": "car", "metadata": {"big": 1e999}, '
                '"geometry": {"x": 1, "y": 2, "width": 3, "height": 4}}',
                '{"type": "box", "reference_id": "f5", "label": "car", "annotation_id": '
                '12345678901234567890123, "geometry": {"x": 1, "y": 2, "width": 3, "height": 4}}',
                '{"type": "polygon", "reference_id": "f6", "label": "road", "geometry": '
                '{"vertices": [{"x": 1, "y": 2}, {"x": 3, "x": 5, "y": 4}, {"x": 0, "y": 9}]}}',
                '{"type": "polygon", "reference_id": "f7", "label": "road", "geometry": '
                '{"vertices": [{"x": 1, "y": 2}, {"x": 3, "y": 4}, {"x": 0, "y": 9, "y": 1}]}}',
                '{"type": "box", "reference_id": "f8", "label": "car", "l\\u0061bel": "bus", '
                '"geometry": {"x": 1, "y": 2, "width": 3, "height": 4}}',
                '{"type": "box", "reference_id": "f9", "label": "car", "metadata": '
                '{"m": {"a": 1, "a": 2}, "x": 5}, "geometry": {"x": 1, "y": 2, "width": 3, "height": 4}}',
                '{"type": "box", "reference_id": "f10", "label": "car", "\\u0069tem": {}, '
                '"geometry": {"x": 1, "y": 2, "width": 3, "height": 4}}',
                '{"type": "category", "reference_id": "f11", "label": "day", "metadata": '
                '{"s": "a\\"b", "nucleus": 1}}',
            ]))  # fmt: skip
    return lines


def _import(tmp_path: Path, name: str, path: Path) -> tuple[list[Any], Any, list[Any]]:
    with _catalog(tmp_path / f"{name}.duckdb") as catalog:
        report = nucleus_annotations.import_files(
            catalog, [path], progress=False, field="predictions"
        )
        rows = catalog.sql(f"SELECT {_COLUMNS} FROM rois ORDER BY ALL").fetchall()
        keypoints = catalog.sql(
            "SELECT label, names, skeleton FROM keypoint_labels ORDER BY ALL"
        ).fetchall()
    return rows, report, keypoints


def counted_readers(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """The annotation readers the imports make from now on, in order (their counts of lines
    read by SQL and by the per-record path)."""
    readers: list[Any] = []

    class Counted(_nucleus_annotation_columnar.Reader):
        def __init__(self, *args: Any) -> None:
            super().__init__(*args)
            readers.append(self)

    monkeypatch.setattr(nucleus_annotations, "Reader", Counted)
    return readers


def import_each(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, path: Path, report: Any
) -> tuple[list[Any], list[Any]]:
    """Import `path` again by the per-record path alone: its ROI rows and keypoint labels,
    once its errors (in order), counts and warnings are found as `report`'s."""
    monkeypatch.setattr(_nucleus_annotation_columnar, "PER_RECORD_PATTERN", "^")
    rows, each, keypoints = _import(tmp_path, "each", path)
    assert [str(e) for e in report.errors] == [str(e) for e in each.errors]
    assert (report.rois, report.warnings, report.warning_examples) == (
        each.rois,
        each.warnings,
        each.warning_examples,
    )
    return rows, keypoints


@pytest.mark.parametrize(("seed", "chunk", "form"), [(1, None, "ndjson"), (2, 7, "ndjson"),
                                                     (3, None, "json"), (4, 5, "json")])  # fmt: skip
def test_a_mixed_file_stores_alike_by_sql_and_by_the_per_record_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, seed: int, chunk: int | None, form: str
) -> None:
    lines = _lines(seed, 600)
    path = tmp_path / f"a.{form}"
    if form == "ndjson":
        path.write_text("\n".join(lines) + "\n")
    else:  # a JSON list of the lines that are JSON
        records = []
        for line in lines:
            try:
                records.append(json.loads(line))
            except ValueError:
                continue
        path.write_text(json.dumps(records, allow_nan=True))
    if chunk is not None:
        monkeypatch.setattr(_nucleus_placing, "CHUNK", chunk)
    readers: list[Any] = []

    class Counted(_nucleus_annotation_columnar.Reader):
        def __init__(self, *args: Any) -> None:
            super().__init__(*args)
            self.kinds: Counter[str] = Counter()
            readers.append(self)

        def _convert(self, lines: Any, folder: Path) -> Any:
            rows, others = super()._convert(lines, folder)
            self.kinds.update(rows.filter(pc.equal(rows["part"], 0))["type"].to_pylist())
            return rows, others

    monkeypatch.setattr(nucleus_annotations, "Reader", Counted)
    rows, report, keypoints = _import(tmp_path, "sql", path)
    assert readers[0].sql_lines > len(lines) // 3  # SQL read most of the common payloads
    assert readers[0].record_lines > len(lines) // 10
    # keypoints and segmentations among them (a segmentation's segments counted once)
    assert readers[0].kinds["keypoints"] >= 4 and readers[0].kinds["mask"] >= 4, readers[0].kinds
    # every line marked: each one read by the per-record path
    monkeypatch.setattr(_nucleus_annotation_columnar, "PER_RECORD_PATTERN", "^")
    rows_each, report_each, keypoints_each = _import(tmp_path, "each", path)
    assert readers[1].sql_lines == 0
    assert len(rows) > 100
    assert rows == rows_each
    assert [str(e) for e in report.errors] == [str(e) for e in report_each.errors]
    assert len(report.errors) > 20
    assert (report.rois, report.warnings, report.warning_examples) == (
        report_each.rois,
        report_each.warnings,
        report_each.warning_examples,
    )
    assert keypoints == keypoints_each


_SDK_PAYLOADS = """
import json
from nucleus import (BoxAnnotation, KeypointsAnnotation, Keypoint, KeypointsPrediction,
    SegmentationAnnotation, SegmentationPrediction, Segment, CategoryAnnotation)
face = dict(names=["left", "right", "nose"], skeleton=[[0, 1], [1, 2]])
out = []
for n in range(12):
    ref = f"f{n}"
    out.append(KeypointsAnnotation(label="face", keypoints=[Keypoint(10 + n, 10),
        Keypoint(20, 21, visible=False), Keypoint(visible=False)], reference_id=ref,
        annotation_id=f"face-{n}", metadata={"n": n}, **face))
    out.append(KeypointsPrediction(label="hand", keypoints=[Keypoint(1, 2), Keypoint(3.5, n)],
        names=["thumb", "index"] if n % 3 else ["index", "thumb"], skeleton=[[0, 1]],
        reference_id=ref, confidence=0.25))
    url = ["s3://b/m.png", "masks/m.png", "/abs/m.png", "file://masks/m.png"][n % 4]
    out.append(SegmentationAnnotation(mask_url=url, reference_id=ref, annotation_id=f"seg-{n}",
        annotations=[Segment("road", 1), Segment("sky", "2"), Segment("car", n + 3)]))
    out.append(SegmentationPrediction(mask_url=url, reference_id=ref,
        annotations=[Segment("road", 3, {"a": 1} if n % 2 else None)]))
    out.append(BoxAnnotation(label="car", x=n, y=2, width=3, height=4, reference_id=ref))
out.append(CategoryAnnotation(label="day", reference_id="f0"))
print(json.dumps([json.loads(p.to_json()) for p in out]))
"""


def test_keypoints_and_segmentations_the_sdk_wrote_store_alike_both_ways(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The SDK's keypoints (points without coordinates, a label's names in another order)
    and segmentations (remote, relative, absolute and file:// masks; indexes as text)."""
    payloads = run_in_sdk_venv(_SDK_PAYLOADS)
    path = tmp_path / "sdk.ndjson"
    path.write_text("".join(json.dumps(p) + "\n" for p in payloads))
    kinds: Counter[str] = Counter()

    class Counted(_nucleus_annotation_columnar.Reader):
        def _convert(self, lines: Any, folder: Path) -> Any:
            rows, others = super()._convert(lines, folder)
            kinds.update(rows.filter(pc.equal(rows["part"], 0))["type"].to_pylist())
            return rows, others

    monkeypatch.setattr(nucleus_annotations, "Reader", Counted)
    rows, report, keypoints = _import(tmp_path, "sql", path)
    # SQL read every keypoints payload, and the segmentations whose segments have no metadata
    assert (kinds["keypoints"], kinds["mask"], kinds["box"]) == (24, 18, 12)
    monkeypatch.setattr(_nucleus_annotation_columnar, "PER_RECORD_PATTERN", "^")
    assert (rows, keypoints) == _import(tmp_path, "each", path)[::2]
    assert report.ok, report
    masks = {r[1]: r[14] for r in rows if r[0] == "f1" and r[6] == "mask"}
    assert masks["seg-1/1"] == f'{{"uri":"{tmp_path.resolve()}/masks/m.png","value":2}}'
    assert keypoints == [("face", ["left", "right", "nose"], [[1, 2], [2, 3]]),
                         ("hand", ["index", "thumb"], [[1, 2]])]  # fmt: skip


def _placed_lines(seed: int, count: int, scenes: bool) -> list[str]:
    """Payloads SQL reads, for the placing: frames named in any order (and spread over
    chunks), a frame or scene that is not there, annotation_ids given twice on a frame and
    ids like those made (`box-1`) or a segment's (`a1/0`, `mask-0/1`), tracks met again in later chunks, segmentations of
    several segments, keypoints of a label met before, boxes of no area, payloads the
    per-record path reads among them (items' rows, segment metadata); with `scenes`,
    categories of a scene too (a chunk holding one is placed by the loop)."""
    rng = random.Random(seed)
    lines = []
    refs = ["f0", "f1", "f2", "f4", "f7", "f9", "f11", "nowhere"] + (["drive"] if scenes else [])
    for n in range(count):
        ref = rng.choice(refs)
        kind = rng.choice(["box", "box", "box", "polygon", "line", "category", "multicategory",
                           "mask", "keypoints"])  # fmt: skip
        payload: dict[str, Any] = {"type": kind, "reference_id": ref, "label": "car"}
        if kind == "box":
            payload["geometry"] = {"x": n % 9, "y": 2, "width": rng.choice([0, 3]), "height": 4}
        elif kind in ("polygon", "line"):
            payload["geometry"] = {"vertices": [{"x": k, "y": k * 2 + n % 3} for k in range(3)]}
        elif kind == "multicategory":
            payload = {"type": kind, "reference_id": ref, "labels": ["rain", "fog"]}
        elif kind == "mask":
            segments = [{"label": "road", "index": k} for k in range(rng.choice([1, 2, 3]))]
            payload = {"type": "segmentation", "reference_id": ref, "mask_url": "s3://b/m.png",
                       "annotations": segments}  # fmt: skip
        elif kind == "keypoints":
            points = [{"x": k, "y": 1, "visible": True} for k in range(3)]
            payload["geometry"] = {"keypoints": points, "names": ["a", "b", "c"]}
            payload["label"] = "hand"
        given = rng.random()
        if given < 0.3:
            payload["annotation_id"] = rng.choice(["a0", "a1", "a2"])
        elif given < 0.4:
            payload["annotation_id"] = rng.choice(["box-0", "box-1", "polygon-0", "mask-1"])
        elif given < 0.5:
            payload["annotation_id"] = f"u{n}"
        if n % 9 == 4:  # a segment's id, given or made
            payload["annotation_id"] = ["a1/0", "a2/1", "mask-0/1"][n % 3]
        if rng.random() < 0.5:
            payload["track_reference_id"] = rng.choice(["t1", "t2", "t3", f"t{n % 11}"])
        if rng.random() < 0.1:  # read by the per-record path: an item's row, segment metadata
            payload = rng.choice([
                {"item": {"reference_id": ref}, "box": [dict(payload, type="box")]},
                {"type": "segmentation", "reference_id": ref, "mask_url": "s3://b/m.png",
                 "annotations": [{"label": "sky", "index": 0, "metadata": {"a": 1}},
                                 {"label": "road", "index": 1}],
                 **{k: v for k, v in payload.items() if k in ("annotation_id", "track_reference_id")}},
            ])  # fmt: skip
        lines.append(json.dumps(payload))
    return lines


def _import_twice(
    tmp_path: Path, name: str, first: Path, second: Path
) -> tuple[list[Any], list[Any]]:
    """Two imports into one catalog (the second onto the field the first filled): every ROI
    row, and each import's errors, counts and warnings."""
    reports = []
    with _catalog(tmp_path / f"{name}.duckdb") as catalog:
        for path in (first, second):
            report = nucleus_annotations.import_files(
                catalog, [path], progress=False, field="predictions"
            )
            reports.append(([str(e) for e in report.errors], report.rois, report.warnings,
                            report.warning_examples))  # fmt: skip
            repeated = catalog.sql(
                "SELECT frame_id, id FROM rois GROUP BY ALL HAVING count(*) > 1"
            ).fetchall()
            assert repeated == [], repeated
        rows = catalog.sql(f"SELECT {_COLUMNS} FROM rois ORDER BY ALL").fetchall()
    return rows, reports


@pytest.mark.parametrize(("seed", "chunk"), [(11, 6), (12, 11), (13, 1000)])
def test_rows_sql_read_are_placed_by_sql_as_one_by_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, seed: int, chunk: int
) -> None:
    """A chunk of rows SQL read alone is placed by SQL (ids, tracks, the errors of a frame
    that is not there and of an annotation_id given twice, in line order), as the loop over
    them places them: in chunks, and onto a field an earlier import filled; a frame's ROI ids
    stay unique (made ids and segmentations' spread over chunks among them)."""
    first, second = tmp_path / "first.ndjson", tmp_path / "second.ndjson"
    first.write_text("".join(line + "\n" for line in _placed_lines(seed, 120, chunk < 100)))
    second.write_text("".join(line + "\n" for line in _placed_lines(seed + 100, 120, chunk < 100)))
    monkeypatch.setattr(_nucleus_placing, "CHUNK", chunk)
    placed: list[int] = []
    by_sql = _nucleus_placing.place_rows

    def counted(*args: Any) -> Any:
        placed.append(1)
        return by_sql(*args)

    monkeypatch.setattr(_nucleus_placing, "place_rows", counted)
    rows, reports = _import_twice(tmp_path, "sql", first, second)
    # most chunks by SQL (the keypoints label's names met first taken as the loop takes them)
    assert len(placed) >= (240 // chunk) // 2 if chunk < 100 else len(placed) == 2, len(placed)
    calls = len(placed)
    monkeypatch.setattr(_nucleus_placing.Placing, "_by_sql", lambda *_: False)
    rows_each, reports_each = _import_twice(tmp_path, "each", first, second)
    assert len(placed) == calls  # none by SQL
    assert rows == rows_each
    assert reports == reports_each
    errors = "\n".join(e for report in reports for e in report[0])
    assert "no frame (or scene) has reference_id 'nowhere'" in errors
    assert "annotation_id 'a1' came earlier for this item" in errors
    ids = {r[1] for r in rows}
    assert {"box-2", "mask-0/1"} <= ids, sorted(ids)  # made ids, a segment's
    assert max(r[16] for r in rows if r[16] is not None) >= 10  # tracks numbered over chunks
