"""The columnar ClearML path (NDJSON) stores exactly what the per-record path (a JSON array of
the same frames) stores, with the same errors and warnings, on frames of every shape."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import orjson
import pytest

import workbench
from workbench.ingest import CatalogWriter, clearml
from workbench.ingest._clearml_columnar import NdjsonImport

WEIRD = ["", "x\u202ey", "tab\there", "é", "a" * 1100, 5, 5.0, True, None, [], {}, "ok"]


def _value(rng: random.Random, *choices: Any) -> Any:
    """Mostly the first choice (a good value); now and then any of them."""
    return choices[0] if rng.random() < 0.93 else rng.choice(choices)


def _roi(rng: random.Random, n: int) -> dict[str, Any]:
    x, y = rng.randint(-50, 2000), rng.randint(-50, 1200)
    polys = [
        [x, y, x + 10, y, x + 10, y + 5, x, y + 5],
        [x, y, x + 10.5, y + 1, x + 3, y + 7],
        [x, y],
        [x, y, x, y, x, y, x, y],
        [x, y, x + 1, y + 1, -999999999, x + 5, y + 5, x + 6, y, x + 7, y + 9],
        [x, y, 3],
        [],
        None,
        [x, True, 3, 4],
        [x, "1", 3, 4],
        [1e12, 2, 3, 4],
        [x, y, x + 4, y, x + 4, y + 4],
    ]
    roi: dict[str, Any] = {}
    if rng.random() < 0.8:
        roi["id"] = _value(rng, f"r{n}", f"r{n}", f"r{n}", n, "", "r0", "bad\x85id")
    roi["label"] = _value(
        rng, "car", ["car", "red"], [], None, ["x" * 1100], [1], "c\u200fx", ["car", 2], [None]
    )
    if rng.random() < 0.05:
        roi["labels"] = ["other"]
    roi["poly"] = rng.choice(polys[:4]) if rng.random() < 0.8 else rng.choice(polys)
    if rng.random() < 0.7:
        roi["confidence"] = _value(rng, 0.5, 1, 0, 1.5, "0.5", True, None, 0.25)
    if rng.random() < 0.6:
        roi["sources"] = _value(rng, ["default"], ["cam"], ["cam", "missing"], [], [3], "cam")
    if rng.random() < 0.05:
        roi["mask"] = {"id": "m", "value": [1, 2, 3]}
    meta: dict[str, Any] = {}
    if rng.random() < 0.5:
        meta["occluded"] = rng.random() < 0.5
    if rng.random() < 0.3:
        meta["_kind"] = _value(rng, "box", "polygon", "point", "polyline", "mask", "blob", 3)
    if rng.random() < 0.2:
        meta["_field"] = _value(rng, "predictions", "", None, 0, "gt\x01")
    if rng.random() < 0.2:
        meta["_track_index"] = _value(rng, 3, -1, 2**40, "3", None, 2.0)
    if rng.random() < 0.2:
        meta["_keyframe"] = _value(rng, True, False, None, 1)
    if rng.random() < 0.05:
        meta["_bbox"] = [0, 0, 5, 5]
    if rng.random() < 0.05:
        meta["kind"] = _value(rng, "box", "other")
    if rng.random() < 0.1:
        meta["nested"] = {"_kind": "not reserved", "list": [1, 2.5, None]}
    if meta or rng.random() < 0.1:
        roi["meta"] = meta
    if rng.random() < 0.03:
        return rng.choice(["roi", 5, None, [1]])  # type: ignore[return-value]
    return roi


def _source(rng: random.Random, n: int) -> dict[str, Any]:
    source: dict[str, Any] = {}
    if rng.random() < 0.7 or n:
        source["id"] = _value(rng, "cam", "default", "cam2", "", 7, "cam\x07")
    source["uri"] = _value(
        rng,
        f"img/{n}.jpg",
        f"/abs/{n}.jpg",
        f"s3://bucket/{n}.jpg",
        f"../up/{n}.jpg",
        f"a//b/{n}.jpg",
        "",
        None,
        "bad\x01uri",
        f"./here/{n}.jpg",
    )
    if rng.random() < 0.7:
        source["width"] = _value(rng, 1920, 640, 0, -5, 1920.0, "1920", None)
        source["height"] = _value(rng, 1080, 480, 1080, None)
    if rng.random() < 0.2:
        source["timestamp"] = _value(rng, 5, -5, 2**60, 1.5)
    if rng.random() < 0.2:
        source["content_type"] = _value(rng, "image/jpeg", None, 5)
    if rng.random() < 0.1:
        source["preview"] = _value(rng, {"uri": "p.jpg"}, {"uri": ""}, {}, "p.jpg", {"uri": 5})
    if rng.random() < 0.05:
        source["masks"] = [{"id": "m", "uri": "mask.png"}]
    if rng.random() < 0.05:
        source["meta"] = {"lens": "wide"}
    return source


def _frame(rng: random.Random, n: int) -> Any:
    if rng.random() < 0.02:
        return rng.choice([[1, 2], "frame", 5, None])
    frame: dict[str, Any] = {"id": _value(rng, f"f{n}", f"f{n}", f"f{n}", f"f{n - 3}", n, "")}
    if rng.random() < 0.7:
        frame["context_id"] = _value(rng, f"c{n // 5}", "", 5, None, "c\x9b")
    if rng.random() < 0.7:
        frame["timestamp"] = _value(rng, n * 100, -5, 2**54, 1.0, "5", None)
    if rng.random() < 0.1:
        frame["num_frames"] = _value(rng, 10, 0, 2**33)
    if rng.random() < 0.1:
        frame["dataset"] = _value(
            rng, {"id": "ds", "version": "v1"}, {"id": "ds"}, {}, "ds", {"id": 5}, {"id": ""}
        )
    if rng.random() < 0.1:
        frame["saved"] = _value(rng, 1_700_000_000_000, -1, 10**16, 1.5)
    if rng.random() < 0.1:
        frame["saved_in_version"] = _value(rng, "v2", "", 3)
    meta: dict[str, Any] = {}
    for key in ("weather", "camera", "time_of_day", "location"):
        if rng.random() < 0.3:
            meta[key] = _value(rng, "rain", 5, 1.5, True, None, {"a": 1}, [1], "")
    if rng.random() < 0.3:
        meta["_frame_index"] = _value(rng, n, -1, 2**33, "3", None, 4.0)
    if rng.random() < 0.05:
        meta["_source_meta"] = {"cam": {"x": 1}}
    if rng.random() < 0.2:
        meta["speed"] = _value(rng, 1.25, 10**20, "fast", [1, {"b": None}], 1e-7)
    if meta or rng.random() < 0.3:
        frame["meta"] = _value(rng, meta, meta, meta, "meta", [1])
    if rng.random() < 0.9:
        count = _value(rng, 1, 0, 2, 3)
        frame["sources"] = [_source(rng, n * 10 + k) for k in range(count)]
        if rng.random() < 0.02:
            frame["sources"] = _value(rng, "cam", {"id": "cam"})
    if rng.random() < 0.9:
        frame["rois"] = [_roi(rng, k) for k in range(_value(rng, 0, 1, 3, 6))]
        if rng.random() < 0.02:
            frame["rois"] = _value(rng, "roi", {"id": "r"})
    if rng.random() < 0.05:
        frame["extra"] = {"ignored": True}
    return frame


def _frames(count: int, seed: int) -> list[Any]:
    rng = random.Random(seed)
    return [_frame(rng, n) for n in range(count)]


def _rows(catalog: workbench.Catalog, table: str) -> list[tuple[Any, ...]]:
    names = [d[0] for d in catalog.sql(f"SELECT * FROM {table} LIMIT 0").description]
    rows = catalog.sql(f"SELECT * FROM {table} ORDER BY rowid").fetchall()
    out = []
    for row in rows:
        values = dict(zip(names, row, strict=True))
        values.pop("ingested", None)
        for key in ("metadata", "attributes", "mask", "masks"):
            if values.get(key) is not None:
                values[key] = json.loads(values[key])
        out.append(tuple(sorted(values.items(), key=lambda kv: kv[0])))
    return out


def _problem(error: Any) -> str:
    """An error without its locator (`line 3` and `[index 2]` name the same frame)."""
    text = str(error)
    return text.split(": ", 1)[1] if ": " in text else text


def _errors(report: Any) -> list[tuple[str, str]]:
    found = []
    for error in report.errors:
        where = str(error.where)
        frame = where.split(", frame ", 1)[1] if ", frame " in where else ""
        found.append((frame, _problem(error)))
    return found


def _both_paths(folder: Path, ndjson: str, document: str) -> tuple[Any, Any]:
    """The reports of the same frames imported as NDJSON (the columnar path) and as one JSON
    document (the per-record path), once both are seen to store the same rows."""
    (folder / "f.ndjson").write_text(ndjson, encoding="utf-8")
    (folder / "f.json").write_text(document, encoding="utf-8")
    reports, tables = [], []
    for name in ("f.ndjson", "f.json"):
        with workbench.open(folder / f"{name}.duckdb") as catalog:
            reports.append(clearml.import_files(catalog, [folder / name], progress=False))
            tables.append([_rows(catalog, t) for t in ("frames", "sources", "rois")])
    for mine, theirs in zip(*tables, strict=True):
        assert mine == theirs
    columnar, per_record = reports
    assert columnar.warnings == per_record.warnings
    assert _errors(columnar) == _errors(per_record)
    return columnar, per_record


def _sql_lines(folder: Path) -> tuple[int, int]:
    """Lines of f.ndjson stored by SQL, and frames stored, read into a new catalog."""
    with (
        workbench.open(folder / "again.duckdb") as catalog,
        CatalogWriter(catalog, progress=False, unique_ids=True) as writer,
        NdjsonImport(writer, 1000) as reader,
    ):
        reader.read(folder / "f.ndjson", None)
        return reader.sql_lines, writer.report.frames


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_columnar_and_per_record_paths_store_the_same(tmp_path: Path, seed: int) -> None:
    frames = _frames(400, seed)
    folder = tmp_path / "in"
    folder.mkdir()
    ndjson = "".join(json.dumps(f) + "\n" for f in frames)
    columnar, per_record = _both_paths(folder, ndjson, json.dumps(frames))
    assert (columnar.frames, columnar.sources, columnar.rois) == (
        per_record.frames,
        per_record.sources,
        per_record.rois,
    )
    assert columnar.frames > 100
    assert all(" line " in str(e.where) for e in columnar.errors)


def _plain_frames(count: int) -> list[dict[str, Any]]:
    return [
        {
            "id": f"f{n}",
            "context_id": f"c{n // 10}",
            "timestamp": n,
            "meta": {"weather": "rain", "_frame_index": n % 10, "n": n},
            "sources": [{"id": "cam", "uri": f"s3://b/{n}.jpg", "width": 64, "height": 48}],
            "rois": [
                {
                    "id": f"r{k}",
                    "label": ["car"],
                    "poly": [k, k, k + 5, k, k + 5, k + 5, k, k + 5],
                    "confidence": 0.5,
                    "sources": ["cam"],
                    "meta": {"_kind": "box", "_field": "predictions", "_track_index": k},
                }
                for k in range(3)
            ],
        }
        for n in range(count)
    ]


def test_ordinary_frames_take_the_columnar_path(tmp_path: Path) -> None:
    path = tmp_path / "f.ndjson"
    path.write_bytes(b"".join(orjson.dumps(f) + b"\n" for f in _plain_frames(500)))
    with (
        workbench.open(tmp_path / "c.duckdb") as catalog,
        CatalogWriter(catalog, progress=False, unique_ids=True) as writer,
        NdjsonImport(writer, 200) as columnar,
    ):
        columnar.read(path, None)
        assert (columnar.sql_lines, columnar.record_lines) == (500, 0)
    assert writer.report.frames == 500 and writer.report.rois == 1500


def test_an_export_imports_back_through_the_columnar_path(tmp_path: Path) -> None:
    path = tmp_path / "f.ndjson"
    path.write_bytes(b"".join(orjson.dumps(f) + b"\n" for f in _plain_frames(50)))
    with workbench.open(tmp_path / "a.duckdb") as catalog:
        assert clearml.import_files(catalog, [path], progress=False).ok
        exported = clearml.export_files(catalog.view(), tmp_path / "out.ndjson", progress=False)
        before = [_rows(catalog, t) for t in ("frames", "sources", "rois")]
    assert exported.frames == 50
    with (
        workbench.open(tmp_path / "b.duckdb") as catalog,
        CatalogWriter(catalog, progress=False, unique_ids=True) as writer,
        NdjsonImport(writer, 1000) as columnar,
    ):
        columnar.read(tmp_path / "out.ndjson", None)
        assert columnar.record_lines == 0
    with workbench.open(tmp_path / "b.duckdb") as catalog:
        assert [_rows(catalog, t) for t in ("frames", "sources", "rois")] == before


def test_file_order_is_kept_across_both_paths(tmp_path: Path) -> None:
    frames: list[Any] = _plain_frames(30)
    for n in range(0, 30, 4):
        frames[n]["rois"][0]["poly"] = [1, 2, 3, 4, -999999999, 5, 6, 7, 8, 9, 10]  # per record
    path = tmp_path / "f.ndjson"
    path.write_bytes(b"".join(json.dumps(f).encode() + b"\n" for f in frames))
    with workbench.open(tmp_path / "c.duckdb") as catalog:
        assert clearml.import_files(catalog, [path], progress=False, batch_size=7).ok
        ids = [r[0] for r in catalog.sql("SELECT id FROM frames ORDER BY rowid").fetchall()]
        assert ids == [f["id"] for f in frames]


# Values of another JSON type at keys the SQL parses typed (which DuckDB would convert
# leniently), each in compact and spaced JSON, and keys spelled with escapes.
_RETYPED = [
    '{"id": 5, "sources": [{"uri": "s3://b/1.jpg"}]}',
    '{"id": "f1", "context_id": {"a": 1}}',
    '{"id": "f2", "timestamp": "12"}',
    '{"id": "f3", "timestamp": 1e3}',
    '{"id": "f4", "timestamp": 12.0}',
    '{"id": "f5", "sources": [{"uri": "a.jpg", "width": true, "height": 4}]}',
    '{"id": "f6", "sources": [{"uri": 7}]}',
    '{"id": "f7", "sources": [{"uri": "a.jpg", "content_type": ["x"]}]}',
    '{"id": "f8", "rois": [{"poly": [1, 2, "3", 4, 5, 6]}]}',
    '{"id": "f9", "rois": [{"poly": 5}]}',
    '{"id": "f10", "rois": [{"poly": [[1, 2, 3, 4, 5, 6]]}]}',
    '{"id": "f11", "rois": [{"poly": [1, 2], "confidence": "0.5"}]}',
    '{"id": "f12", "rois": [{"poly": [1, 2], "sources": "cam"}]}',
    '{"id": "f13", "rois": [{"poly": [1, 2], "sources": ["default", 3]}]}',
    '{"id": "f14", "rois": [{"poly": [1, 2], "sources": [{"id": "default"}]}]}',
    '{"id": "f15", "rois": [{"poly": [1, 2], "id": false}]}',
    '{"i\\u0064": 5, "id": "f16"}',
    '{"id": "f17", "rois": [{"p\\u006fly": [1, "2"]}]}',
    '{"id": "f18", "meta": {"width": "wide", "id": 3}, "rois": [{"poly": [1, 2]}]}',
    '{"id": "f19", "sources": [{"uri": "a.jpg", "width": 64, "height": 48}], '
    '"rois": [{"poly": [1, 2, 9, 2, 9, 7, 1, 7], "confidence": 1, "sources": ["default"]}]}',
    '{"id": "f20", "rois": [{"poly": [1, 2], "label": ["car", 2]}]}',
    '{"id": "f21", "rois": [{"poly": [1, 2], "label": [null]}]}',
    '{"id": "f22", "rois": [{"poly": [1, 2], "label": [["car"]]}]}',
    '{"id": "f23", "rois": [{"poly": [1, 2], "label": ["car", "r\\"ed"]}]}',
]


def test_values_of_another_type_at_typed_keys_take_the_per_record_path(tmp_path: Path) -> None:
    lines = _RETYPED + [json.dumps(json.loads(line), separators=(",", ":")) for line in _RETYPED]
    lines = [line.replace('"f', f'"g{n}-f', 1) for n, line in enumerate(lines)]
    ndjson = "".join(line + "\n" for line in lines)
    columnar, per_record = _both_paths(tmp_path, ndjson, "[" + ",\n".join(lines) + "]")
    assert columnar.frames == per_record.frames > 5
    assert len(columnar.errors) > 5
    # Only f19 and f23 twice and f16 compact (json.loads kept its last `id`); f18 is sent on
    # by its metadata's keys, the other f16 by its escaped key.
    assert _sql_lines(tmp_path)[0] == 5


_BAD_TEXTS = ["x\u202ey", "c\u200fx", "bad\x85id", "tab\there", "nul\x00", "bell\x07", "\u2066i"]


def _texts_frame(n: int, bad: str | None, where: str) -> dict[str, Any]:
    """A plain frame whose text at `where` is `bad` (None: every text is fine)."""
    texts = {k: f"{k}{n}" for k in ("id", "context", "source", "roi", "label", "field", "ds")}
    if bad is not None:
        texts[where] = bad
    return {
        "id": texts["id"],
        "context_id": texts["context"],
        "dataset": {"id": texts["ds"], "version": "v1"},
        "meta": {"note": "two\nlines, é and \u202e in metadata are fine"},
        "sources": [{"id": texts["source"], "uri": f"s3://b/{n}.jpg", "width": 64, "height": 48}],
        "rois": [
            {
                "id": texts["roi"],
                "label": [texts["label"]],
                "poly": [1, 2, 9, 2, 9, 7, 1, 7],
                "sources": [texts["source"]],
                "meta": {"_field": texts["field"]},
            }
        ],
    }


@pytest.mark.parametrize("ensure_ascii", [True, False])
def test_forbidden_characters_are_found_as_written_or_escaped(
    tmp_path: Path, ensure_ascii: bool
) -> None:
    """Ids and labels are checked for forbidden characters only on the lines that may hold
    one (raw, or escaped as json.dumps writes them): the others are stored by SQL, and both
    kinds give what the per-record path gives."""
    places = ["id", "context", "source", "roi", "label", "field", "ds"]
    frames = [_texts_frame(n, None, "id") for n in range(20)]
    frames += [
        _texts_frame(100 + n, bad, where)
        for n, (bad, where) in enumerate((b, w) for b in _BAD_TEXTS for w in places)
    ]
    ndjson = "".join(json.dumps(f, ensure_ascii=ensure_ascii) + "\n" for f in frames)
    document = json.dumps(frames, ensure_ascii=ensure_ascii)
    columnar, per_record = _both_paths(tmp_path, ndjson, document)
    assert columnar.frames == per_record.frames >= 20
    assert len(columnar.errors) >= len(_BAD_TEXTS) * 5
    # Every line but those with a forbidden character in an id or label is SQL's, the
    # lines with an escape or such a character in their metadata too.
    assert _sql_lines(tmp_path) == (20, 20)


_BAD_URIS = ["a\x7fb.jpg", "a\x01b.jpg", "a\nb.jpg", "a\tb.jpg", "a\x1fb.jpg", "a\x00b.jpg"]


@pytest.mark.parametrize("ensure_ascii", [True, False])
def test_control_characters_in_uris_are_found_as_written_or_escaped(
    tmp_path: Path, ensure_ascii: bool
) -> None:
    """A source's or preview's URI holding a control character (raw, or escaped as
    json.dumps writes it) is refused as the per-record path refuses it; the lines without
    one are SQL's."""
    frames = [_one_source_frame(n, {}) for n in range(10)]
    for n, bad in enumerate(_BAD_URIS):
        frames.append(_one_source_frame(100 + n, {"uri": f"s3://b/{bad}"}))
        frames.append(_one_source_frame(200 + n, {"preview": {"uri": f"s3://p/{bad}"}}))
    ndjson = "".join(json.dumps(f, ensure_ascii=ensure_ascii) + "\n" for f in frames)
    document = json.dumps(frames, ensure_ascii=ensure_ascii)
    columnar, _ = _both_paths(tmp_path, ndjson, document)
    assert (columnar.frames, len(columnar.errors)) == (10, 2 * len(_BAD_URIS))
    assert _sql_lines(tmp_path)[0] == 10


def _roi_frame(n: int, sizes: dict[str, int], rois: list[dict[str, Any]]) -> dict[str, Any]:
    """A frame with sources of the given ids and widths (all 48 high) and `rois`."""
    return {
        "id": f"f{n}",
        "sources": [
            {"id": name, "uri": f"s3://b/{n}-{name}.jpg", "width": width, "height": 48}
            for name, width in sizes.items()
        ],
        "rois": rois,
    }


def _box(roi_id: str, x: int, **rest: Any) -> dict[str, Any]:
    return {"id": roi_id, "label": ["car"], "poly": [x, 2, x + 9, 2, x + 9, 7, x, 7], **rest}


def test_roi_checks_and_warnings_agree_with_the_per_record_path(tmp_path: Path) -> None:
    """A ROI id twice in a frame, a polygon of two points, the SDK's type beside ours, and the
    warnings of ROIs outside their images or naming a source the frame lacks, on frames of
    one source and of two: SQL refuses or warns as the per-record path does."""
    one, two = {"cam": 64}, {"cam": 64, "side": 10}
    frames = [
        _roi_frame(0, one, [_box("r0", 1), _box("r0", 5)]),
        _roi_frame(1, two, [_box("r0", 1), _box("r0", 5)]),
        _roi_frame(2, one, [{"id": "r0", "poly": [1, 2, 3, 4]}]),
        _roi_frame(3, one, [{"id": "r0", "poly": [1, 2, 3, 4], "meta": {"_kind": "box"}}]),
        _roi_frame(
            4,
            two,
            [
                _box("a", 20, sources=["side"]),
                _box("b", 1, sources=["nope"]),
                _box("c", 20, sources=["cam", "side"]),
                _box("d", 100),
            ],
        ),
        _roi_frame(
            5,
            one,
            [_box("a", 1, sources=["nope"]), _box("b", 100), _box("c", 1, sources=["cam", "x"])],
        ),
        _roi_frame(6, one, [_box("r0", 1, meta={"_kind": "polygon", "_type": "p2d"})]),
        _roi_frame(7, one, [_box("r0", 1, meta={"_kind": "polygon", "_type": "b2d"})]),
    ]
    ndjson = "".join(json.dumps(f) + "\n" for f in frames)
    columnar, _ = _both_paths(tmp_path, ndjson, json.dumps(frames))
    assert len(columnar.errors) == 3  # f0, f1 (the ROI id twice), f2 (two points)
    assert len(columnar.warnings) >= 2
    # f3 to f6 are SQL's; f7's SDK type, not ours, is kept as an attribute by the other path.
    assert _sql_lines(tmp_path) == (4, 5)


# Rings of eight values (four points): boxes from each corner and either way round, and
# those that are not, or only by the per-record path's rule (`box_ring`).
_RINGS_OF_EIGHT = [
    [1, 2, 9, 2, 9, 7, 1, 7],
    [9, 7, 9, 2, 1, 2, 1, 7],
    [1, 7, 1, 2, 9, 2, 9, 7],
    [5, 1, 9, 5, 5, 9, 1, 5],  # a diamond
    [0, 0, 1, 0, 0, 0, 0, 1],  # a point twice, edges along the axes: a box by the rule
    [1, 0, 1, 1, 1, 2, 1, 3],  # every x the same
    [0, 0, 0, 0, 5, 0, 5, 5],  # a point repeated
    [0, 0, 8, 0, 6, 4, 2, 4],  # a trapezoid
    [2, 0, 8, 0, 6, 4, 0, 4],  # its least x last
    [0, 0, 4, 0, 4, 3, 1, 3],  # three edges along the axes, the last not
    [-3, -2, 4, -2, 4, 6, -3, 6],
    [1.5, 2.25, 9.5, 2.25, 9.5, 7.75, 1.5, 7.75],
]


def test_rings_of_eight_values_agree_with_the_per_record_path(tmp_path: Path) -> None:
    """A ROI of eight values is a box or a polygon, and its bounds, as the per-record path
    finds them; beside ROIs of other sizes (a point, a polygon, none: a classification)
    and with reserved meta keys; in a batch with a line that is not JSON, whose good lines
    SQL still takes."""
    kinds = [{}, {"meta": {"_kind": "polygon"}}, {"meta": {"_kind": "box", "_id": 7}}]
    rings = [*_RINGS_OF_EIGHT, [3, 4], [0, 0, 8, 0, 8, 8, 4, 12, 0, 8]]
    frames = [
        _roi_frame(
            n,
            {"cam": 64},
            [{"label": ["car"], "poly": ring, **kind} for kind in kinds]
            + [{"id": "whole", "label": ["day"]}],
        )
        for n, ring in enumerate(rings)
    ]
    frames.append(_roi_frame(len(rings), {"cam": 64}, [{"label": ["day"]}]))
    ndjson = "".join(json.dumps(f) + "\n" for f in frames)
    columnar, _ = _both_paths(tmp_path, ndjson, json.dumps(frames))
    # f12's point, given as a polygon, is refused; every other line is stored by SQL
    assert [str(e.where).rsplit(" line ", 1)[1] for e in columnar.errors] == [
        "13, frame 'f12', ROI 'f12:1'"
    ]
    stored = len(frames) - 1
    assert _sql_lines(tmp_path) == (stored, stored)
    with workbench.open(tmp_path / "f.ndjson.duckdb") as catalog:
        kind = dict(
            catalog.cursor()
            .execute("SELECT frame_id, kind FROM rois WHERE id = frame_id || ':0'")
            .fetchall()
        )
    box, polygon = "box", "polygon"
    expected = [box, box, box, polygon, box, polygon, polygon, polygon, polygon, polygon, box, box]
    assert [kind[f"f{n}"] for n in range(len(_RINGS_OF_EIGHT))] == expected
    broken = ndjson.replace("\n", '\n{"id": "x", "rois": [\n', 1)
    (tmp_path / "f.ndjson").write_text(broken, encoding="utf-8")
    (tmp_path / "again.duckdb").unlink()
    assert _sql_lines(tmp_path)[0] == stored
    with workbench.open(tmp_path / "broken.duckdb") as catalog:
        report = clearml.import_files(catalog, [tmp_path / "f.ndjson"], progress=False)
    assert report.frames == stored
    assert [str(e.where).rsplit(" line ", 1)[1] for e in report.errors] == [
        "2",
        "14, frame 'f12', ROI 'f12:1'",
    ]


def _one_source_frame(n: int, source: dict[str, Any]) -> dict[str, Any]:
    """A plain frame of one source, `source` over a good one."""
    good = {"id": "cam", "uri": f"img/{n}.jpg", "width": 64, "height": 48}
    return {
        "id": f"f{n}",
        "sources": [{**good, **source}],
        "rois": [{"id": "r", "label": ["car"], "poly": [1, 2, 9, 2, 9, 7, 1, 7]}],
    }


# A frame's one source: every field, every value its checks refuse, and relative URIs.
_ONE_SOURCE = [
    {},
    {"id": ""},
    {"content_type": "image/png", "timestamp": 7, "preview": {"uri": "p/small.jpg"}},
    {"preview": {"uri": ""}},
    {"preview": {}},
    {"uri": "s3://b/x.jpg", "preview": {"uri": "/abs/p.jpg"}},
    {"width": None, "height": None},
    {"width": 0},
    {"height": 2**31},
    {"timestamp": 2**62},
    {"uri": ""},
    {"uri": "../up.jpg"},
    {"uri": "a//b.jpg"},
    {"uri": "bad\x01.jpg"},
    {"preview": {"uri": "../p.jpg"}},
    {"preview": "p.jpg"},
    {"masks": []},
    {"masks": [{"id": "m", "uri": "m.png"}]},
    {"meta": {}},
    {"meta": {"lens": "wide"}},
    {"id": "x" * 1100},
    {"id": "cam\x07"},
]


def test_frames_of_one_source_agree_with_the_per_record_path(tmp_path: Path) -> None:
    """A frame's one source is checked and stored by FRAMES, not by SOURCES: its row, its
    errors and the lines SQL takes are those of the per-record path."""
    frames = [_one_source_frame(n, source) for n, source in enumerate(_ONE_SOURCE)]
    frames += [_one_source_frame(100, {}) | {"sources": []}]  # none: warned, SQL's
    ndjson = "".join(json.dumps(f) + "\n" for f in frames)
    columnar, per_record = _both_paths(tmp_path, ndjson, json.dumps(frames))
    assert (columnar.frames, len(columnar.errors)) == (16, 7)
    assert columnar.warnings == per_record.warnings and columnar.warnings
    # The refused lines, and the relative URI and the masks and meta that the per-record
    # path normalises or keeps, are not SQL's; the other 13 are.
    assert _sql_lines(tmp_path) == (13, 16)


def test_the_conversion_engine_runs_on_one_thread(tmp_path: Path) -> None:
    """Its statements scan one Arrow chunk each, which one thread reads: a second thread
    would only cost CPU."""
    with (
        workbench.open(tmp_path / "c.duckdb") as catalog,
        CatalogWriter(catalog, progress=False, unique_ids=True) as writer,
        NdjsonImport(writer) as columnar,
    ):
        threads = columnar.con.execute("SELECT current_setting('threads')").fetchall()
    assert threads == [(1,)]


# A ROI's `label` of every kind: a list, a string, null, none, an empty list, an escaped
# quote, and values the per-record path refuses (an object, a number, a boolean).
_LABELS: list[Any] = [["car", "red"], "car", None, ..., [], ['a"b'], {"a": 1}, 5, True]


def _labelled(n: int, label: Any, meta: dict[str, Any] | None = None) -> dict[str, Any]:
    roi: dict[str, Any] = {"id": "r0", "poly": [1, 2, 9, 2, 9, 7, 1, 7]}
    if label is not ...:
        roi["label"] = label
    frame = _roi_frame(n, {"cam": 64}, [roi, _box("r1", 3)])
    return frame | ({"meta": meta} if meta is not None else {})


def test_labels_of_every_type_agree_with_the_per_record_path(tmp_path: Path) -> None:
    """Labels are parsed as lists of text, except on the lines where a `label` holds a
    string or another value (then as JSON): both kinds of line store what the per-record
    path stores, and SQL takes all but those it refuses."""
    frames = [_labelled(n, label) for n, label in enumerate(_LABELS)]
    # A `label` key in a frame's metadata makes its line's labels JSON's too.
    frames.append(_labelled(50, ["car"], meta={"label": "night"}))
    frames.append(_labelled(51, "bus", meta={"label": ["x"]}))
    ndjson = "".join(json.dumps(f) + "\n" for f in frames)
    columnar, _ = _both_paths(tmp_path, ndjson, json.dumps(frames))
    assert len(columnar.errors) == 3  # the object, the number and the boolean
    with workbench.open(tmp_path / "f.ndjson.duckdb") as catalog:
        labels = dict(catalog.sql("SELECT frame_id, labels FROM rois WHERE id = 'r0'").fetchall())
    assert labels["f0"] == ["car", "red"] and labels["f1"] == ["car"]
    assert labels["f2"] == labels["f3"] == labels["f4"] == []
    assert labels["f5"] == ['a"b'] and labels["f51"] == ["bus"]
    assert _sql_lines(tmp_path) == (8, 8)
