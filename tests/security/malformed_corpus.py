"""A corpus of malformed imports: every case a small file (or folder) of records, some bad.

`build(root)` writes the cases under `root` and returns them with what each must do: which
records are stored, which are refused (each error naming the file and the line, index or
record id), which warnings are counted, the exit code of `workbench ingest`. Run it alone to
write the corpus somewhere and list it:  python tests/security/malformed_corpus.py /tmp/corpus
"""

from __future__ import annotations

import io
import json
import struct
import sys
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DEEP = 100_000
SEP = -999999999


@dataclass
class Case:
    name: str
    fmt: str
    files: list[str]  # relative to the case's folder
    stored: set[str]  # frame ids, or ROI ids of `field` for label imports
    errors: list[tuple[str, str]] = field(default_factory=list)  # (locator, problem part)
    warnings: dict[str, int] = field(default_factory=dict)
    options: list[str] = field(default_factory=list)
    setup: list[tuple[str, list[str], list[str]]] = field(default_factory=list)
    exit: int | None = None  # default: 1 when records are refused, else 0
    cli: bool = False  # run through a `python -m workbench.cli` subprocess
    seconds: float = 10.0
    labels_field: str | None = None  # stored names ROI ids of this field

    @property
    def expected_exit(self) -> int:
        if self.exit is not None:
            return self.exit
        return 1 if self.errors else 0


class _Writer:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.cases: list[Case] = []

    def folder(self, name: str) -> Path:
        path = self.root / name
        path.mkdir(parents=True, exist_ok=True)
        return path

    def add(self, case: Case) -> None:
        assert case.name not in {c.name for c in self.cases}, case.name
        self.cases.append(case)


# -- ClearML ---------------------------------------------------------------------------------


def frame(fid: str, **extra: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": fid,
        "sources": [{"id": "default", "uri": f"/data/{fid}.jpg", "width": 64, "height": 48}],
        "rois": [{"id": "r", "label": ["car"], "poly": [1, 1, 10, 1, 10, 10, 1, 10]}],
    }
    data.update(extra)
    return data


def _line(record: Any) -> bytes:
    return record if isinstance(record, bytes) else json.dumps(record).encode()


def _deep(depth: int = DEEP) -> str:
    return '{"a":' * depth + "1" + "}" * depth


# Bad ClearML frames: (name, line, problem). Each goes between two good frames of an NDJSON file.
def _clearml_bad(n: str) -> list[tuple[str, Any, str]]:
    def f(**extra: Any) -> dict[str, Any]:
        return frame(f"{n}:bad", **extra)

    box = [1, 1, 10, 1, 10, 10, 1, 10]
    return [
        (
            "timestamp-overflow",
            f'{json.dumps(frame(f"{n}:bad"))[:-1]}, "timestamp": {10**30}}}'.encode(),
            "timestamp",
        ),
        ("meta-100000-deep", f'{{"id": "{n}:bad", "meta": {_deep()}}}'.encode(), "nested deeper"),
        ("id-list", frame(["a", "b"]), "frame id must be a string"),
        ("id-object", frame({"x": 1}), "frame id must be a string"),
        ("id-bool", frame(True), "frame id must be a string"),
        ("id-float", frame(1.5), "frame id must be a string"),
        ("id-nul", frame("a\x00b"), "U+0000"),
        ("id-bidi-override", frame("abc\u202egpj.exe"), "U+202E"),
        ("id-bidi-isolate", frame("x\u2066y"), "U+2066"),
        ("id-too-long", frame("i" * 2000), "characters long"),
        ("context-nul", f(context_id="c\x00"), "U+0000"),
        (
            "label-too-long",
            f(rois=[{"id": "r", "label": ["L" * 5000], "poly": box}]),
            "5,000 characters long",
        ),
        ("label-20mb", f(rois=[{"id": "r", "label": ["L" * (20 << 20)]}]), "larger than"),
        ("num-frames-negative", f(num_frames=-5), "num_frames -5"),
        ("num-frames-zero", f(num_frames=0), "num_frames 0"),
        ("frame-index-negative", f(meta={"_frame_index": -1}), "frame_index -1"),
        (
            "coordinates-1e308",
            f(rois=[{"id": "r", "poly": [-1e308, 0, 1e308, 0, 1e308, 5]}]),
            "farther than",
        ),
        (
            "coordinate-1e400",
            f'{{"id": "{n}:bad", "rois": [{{"poly": [1e400, 1]}}]}}'.encode(),
            "invalid JSON",
        ),
        ("nan-literal", f'{{"id": "{n}:bad", "timestamp": NaN}}'.encode(), "invalid JSON"),
        ("not-utf8", b'{"id": "' + n.encode() + b':bad", "meta": {"k": "\xff\xfe"}}', "not UTF-8"),
        ("broken-json", f'{{"id": "{n}:bad", "sources": [}}'.encode(), "invalid JSON"),
        (
            "too-many-rings",
            f(rois=[{"id": "r", "poly": ([0, 0, 1, 0, 1, 1, SEP] * 10_001)[:-1]}]),
            "rings, more than",
        ),
        ("uri-nul", f(sources=[{"uri": "/d/a\x00.jpg"}]), "uri holds the character U+0000"),
        ("width-negative", f(sources=[{"uri": "/d/a.jpg", "width": -3, "height": 4}]), "width -3"),
        ("width-int64", f(sources=[{"uri": "/d/a.jpg", "width": 2**40, "height": 4}]), "width"),
        ("confidence-5", f(rois=[{"id": "r", "poly": box, "confidence": 5}]), "confidence 5"),
        (
            "confidence-text",
            f(rois=[{"id": "r", "poly": box, "confidence": "high"}]),
            "confidence must be a number",
        ),
        ("poly-text", f(rois=[{"id": "r", "poly": [1, "x"]}]), "not a number"),
        (
            "poly-odd",
            f(rois=[{"id": "r", "poly": [1, 2, 3], "meta": {"_kind": "polygon"}}]),
            "odd number",
        ),
        ("saved-overflow", f(saved=10**20), "saved"),
        ("sources-object", f(sources={"uri": "/d/a.jpg"}), "sources must be a list"),
        ("roi-string", f(rois=["box"]), "ROI 0 must be an object"),
        ("record-array", [1, 2, 3], "a frame must be a JSON object"),
        ("record-empty", {}, "frame has no id"),
        ("id-empty", frame(""), "frame has no id"),
        (
            "source-twice",
            f(sources=[{"id": "s", "uri": "/d/a"}, {"id": "s", "uri": "/d/b"}]),
            "appears twice",
        ),
        (
            "roi-twice",
            f(rois=[{"id": "r", "poly": box}, {"id": "r", "poly": box}]),
            "appears twice",
        ),
        ("meta-list", f(meta=[1, 2]), "meta must be an object"),
        ("labels-numbers", f(rois=[{"id": "r", "label": [1, 2]}]), "labels must be strings"),
        ("timestamp-text", f(timestamp="yesterday"), "timestamp must be an integer"),
        ("timestamp-fraction", f(timestamp=1.5), "timestamp must be an integer"),
        (
            "kind-unknown",
            f(rois=[{"id": "r", "poly": box, "meta": {"_kind": "circle"}}]),
            "unknown kind",
        ),
        ("meta-5mb-value", f(meta={"blob": "b" * (5 << 20)}), "bytes of JSON"),
    ]


# Frames stored with a warning: (name, frame, warning kind).
def _clearml_warned(n: str) -> list[tuple[str, dict[str, Any], str]]:
    far = [10_000, 10_000, 10_050, 10_000, 10_050, 10_050, 10_000, 10_050]
    return [
        (
            "box-far-outside",
            frame(f"{n}:w", rois=[{"id": "r", "poly": far}]),
            "ROIs outside their image",
        ),
        (
            "box-zero-area",
            frame(
                f"{n}:w",
                rois=[{"id": "r", "poly": [5, 5, 5, 5, 5, 9, 5, 9], "meta": {"_kind": "box"}}],
            ),
            "ROIs with zero area",
        ),
        (
            "no-sources",
            {"id": f"{n}:w", "rois": [{"id": "r", "label": ["day"]}]},
            "frames without sources",
        ),
    ]


def _clearml(w: _Writer) -> None:
    for name, bad, problem in _clearml_bad("x"):
        case = f"clearml-{name}"
        folder = w.folder(case)
        good = [frame(f"{case}:a"), frame(f"{case}:b")]
        raw = _line(bad).replace(b'"x:bad"', f'"{case}:bad"'.encode())
        (folder / "f.ndjson").write_bytes(b"\n".join([_line(good[0]), raw, _line(good[1])]))
        w.add(
            Case(case, "clearml", ["f.ndjson"], {f"{case}:a", f"{case}:b"}, [("line 2", problem)])
        )
    for name, record, kind in _clearml_warned("x"):
        case = f"clearml-warn-{name}"
        folder = w.folder(case)
        record = json.loads(json.dumps(record).replace('"x:w"', f'"{case}:w"'))
        lines = [frame(f"{case}:a"), record, frame(f"{case}:b")]
        (folder / "f.ndjson").write_text("\n".join(json.dumps(x) for x in lines))
        w.add(
            Case(
                case,
                "clearml",
                ["f.ndjson"],
                {f"{case}:a", f"{case}:w", f"{case}:b"},
                warnings={kind: 1},
            )
        )
    _clearml_files(w)


def _clearml_files(w: _Writer) -> None:
    case = "clearml-duplicate-id"
    (w.folder(case) / "f.ndjson").write_text(
        "\n".join(json.dumps(frame(i)) for i in ("d:1", "d:2", "d:1", "d:3"))
    )
    w.add(
        Case(
            case,
            "clearml",
            ["f.ndjson"],
            {"d:1", "d:2", "d:3"},
            [("line 3", "came earlier in this import")],
            cli=True,
        )
    )

    case = "clearml-bom"
    (w.folder(case) / "f.ndjson").write_bytes(
        b"\xef\xbb\xbf" + json.dumps(frame("bom:1")).encode() + b"\n" + _line(frame("bom:2"))
    )
    w.add(Case(case, "clearml", ["f.ndjson"], {"bom:1", "bom:2"}))

    case = "clearml-30000-lines"
    with (w.folder(case) / "f.ndjson").open("w") as out:
        for i in range(1, 30_001):
            record = frame(f"big:{i}")
            if i == 25_000:
                record["timestamp"] = 10**30
            out.write(json.dumps(record) + "\n")
    stored = {f"big:{i}" for i in range(1, 30_001)} - {"big:25000"}
    w.add(
        Case(
            case,
            "clearml",
            ["f.ndjson"],
            stored,
            [("line 25000", "timestamp")],
            cli=True,
            seconds=60,
        )
    )

    case = "clearml-array-deep"
    (w.folder(case) / "f.json").write_text(
        f'[{json.dumps(frame("ad:1"))}, {{"id": "ad:2", "meta": {_deep()}}}, '
        f"{json.dumps(frame('ad:3'))}]"
    )
    w.add(
        Case(
            case,
            "clearml",
            ["f.json"],
            {"ad:1", "ad:3"},
            [("[index 1]", "nested deeper")],
            cli=True,
        )
    )

    case = "clearml-array-not-utf8"
    (w.folder(case) / "f.json").write_bytes(
        b"["
        + _line(frame("au:1"))
        + b', {"id": "au:2", "meta": {"k": "\xc3\x28"}}, '
        + _line(frame("au:3"))
        + b"]"
    )
    w.add(Case(case, "clearml", ["f.json"], {"au:1", "au:3"}, [("[index 1]", "not UTF-8")]))

    case = "clearml-array-syntax-in-item"
    (w.folder(case) / "f.json").write_text(
        f'[{json.dumps(frame("as:1"))}, {{"id": "as:2" "x": 1}}, {json.dumps(frame("as:3"))}]'
    )
    w.add(Case(case, "clearml", ["f.json"], {"as:1", "as:3"}, [("[index 1]", "invalid JSON")]))

    case = "clearml-array-scalar-item"
    (w.folder(case) / "f.json").write_text(f'[{json.dumps(frame("sc:1"))}, 5, "x"]')
    w.add(
        Case(
            case,
            "clearml",
            ["f.json"],
            {"sc:1"},
            [("[index 1]", "JSON object"), ("[index 2]", "JSON object")],
        )
    )

    case = "clearml-array-cut-short"
    text = json.dumps([frame("cs:1"), frame("cs:2"), frame("cs:3")])
    (w.folder(case) / "f.json").write_text(text[: text.rindex("{") + 20])
    w.add(
        Case(
            case,
            "clearml",
            ["f.json"],
            {"cs:1", "cs:2"},
            [("[index 2]", "the rest of the file is skipped")],
        )
    )

    case = "clearml-frames-object"
    (w.folder(case) / "f.json").write_text(
        json.dumps({"frames": [frame("fo:1"), frame("fo:2", num_frames=-5), frame("fo:3")]})
    )
    w.add(Case(case, "clearml", ["f.json"], {"fo:1", "fo:3"}, [("[index 1]", "num_frames")]))

    case = "clearml-frames-not-list"
    (w.folder(case) / "f.json").write_text('{"frames": 5}')
    w.add(Case(case, "clearml", ["f.json"], set(), [("f.json", "must be a list")]))

    case = "clearml-single-frame-bom"
    (w.folder(case) / "f.json").write_bytes(b"\xef\xbb\xbf" + _line(frame("sf:1")))
    w.add(Case(case, "clearml", ["f.json"], {"sf:1"}))

    case = "clearml-not-json"
    (w.folder(case) / "f.json").write_text("this is not json at all")
    (w.folder(case) / "g.ndjson").write_text(json.dumps(frame("nj:1")))
    w.add(Case(case, "clearml", ["f.json", "g.ndjson"], {"nj:1"}, [("f.json", "invalid JSON")]))

    case = "clearml-frame-group"
    group = frame("fg:1")
    group["sources"] = [
        {"id": "front", "uri": "/d/f.jpg", "width": 10, "height": 10},
        {"id": "rear", "uri": "/d/r.jpg", "width": 10, "height": 10},
    ]
    group["rois"] = [{"id": "r", "poly": [1, 1, 2, 1, 2, 2, 1, 2], "sources": ["front"]}]
    bad_group = json.loads(json.dumps(group).replace("fg:1", "fg:2").replace('"rear"', '"front"'))
    (w.folder(case) / "f.json").write_text(json.dumps({"frames": [group, bad_group]}))
    w.add(Case(case, "clearml", ["f.json"], {"fg:1"}, [("[index 1]", "appears twice")]))


# -- COCO ------------------------------------------------------------------------------------


def _coco_doc(images: list[Any], annotations: list[Any], categories: Any = None) -> dict[str, Any]:
    return {
        "images": images,
        "annotations": annotations,
        "categories": categories if categories is not None else [{"id": 1, "name": "car"}],
    }


def _image(i: Any, **extra: Any) -> dict[str, Any]:
    return {"id": i, "file_name": f"{i}.jpg", "width": 100, "height": 80, **extra}


def _ann(i: Any, image_id: Any, **extra: Any) -> dict[str, Any]:
    return {"id": i, "image_id": image_id, "category_id": 1, "bbox": [1, 2, 10, 10], **extra}


def _coco(w: _Writer) -> None:
    cases: list[tuple[str, list[Any], list[Any], set[str], list[tuple[str, str]]]] = [
        (
            "image-id-object",
            [_image(1), _image({"a": 1}), _image(3)],
            [_ann(1, 1)],
            {"1", "3"},
            [("image #2", "integer or a string")],
        ),
        ("image-id-list", [_image(1), _image([2])], [], {"1"}, [("image #2", "integer")]),
        ("image-id-bool", [_image(1), _image(True)], [], {"1"}, [("image #2", "integer")]),
        (
            "image-twice",
            [_image(1), _image(1), _image(2)],
            [],
            {"1", "2"},
            [("image 1", "appears twice")],
        ),
        (
            "image-width-text",
            [_image(1), _image(2, width="wide")],
            [],
            {"1"},
            [("image 2", "width must be a positive integer")],
        ),
        (
            "image-file-name-nul",
            [_image(1), _image(2, file_name="a\x00.jpg")],
            [],
            {"1"},
            [("image 2", "U+0000")],
        ),
        (
            "annotation-image-object",
            [_image(1)],
            [_ann(1, 1), _ann(2, {"x": 1})],
            {"1"},
            [("annotation #2", "integers or strings")],
        ),
        (
            "annotation-id-list",
            [_image(1)],
            [_ann([1], 1), _ann(2, 1)],
            {"1"},
            [("annotation #1", "integers or strings")],
        ),
        (
            "annotation-unknown-image",
            [_image(1)],
            [_ann(1, 1), _ann(2, 99)],
            {"1"},
            [("annotation 2", "unknown image_id 99")],
        ),
        (
            "bbox-1e308",
            [_image(1)],
            [_ann(1, 1), _ann(2, 1, bbox=[-1e308, 0, 1e308, 5])],
            {"1"},
            [("annotation 2", "farther than")],
        ),
        (
            "polygon-text",
            [_image(1)],
            [_ann(1, 1), _ann(2, 1, segmentation=[[1, "a", 3]])],
            {"1"},
            [("annotation 2", "finite numbers")],
        ),
        (
            "rle-garbage",
            [_image(1)],
            [_ann(1, 1), _ann(2, 1, segmentation={"size": [80, 100], "counts": "###"})],
            {"1"},
            [("annotation 2", "RLE")],
        ),
        (
            "category-id-object",
            [_image(1)],
            [_ann(1, 1)],
            {"1"},
            [("category #2", "integer or a string")],
        ),
        (
            "score-nan-text",
            [_image(1)],
            [_ann(1, 1), _ann(2, 1, score="NaN")],
            {"1"},
            [("annotation 2", "score must be a number")],
        ),
    ]
    for name, images, anns, stored, errors in cases:
        case = f"coco-{name}"
        cats = [{"id": 1, "name": "car"}, {"id": {"o": 1}, "name": "x"}]
        doc = _coco_doc(images, anns, cats if name == "category-id-object" else None)
        (w.folder(case) / "f.json").write_text(json.dumps(doc))
        w.add(
            Case(
                case,
                "coco",
                ["f.json"],
                {f"f:{s}" for s in stored},
                errors,
                cli=name == "image-id-object",
            )
        )
    _coco_raw(w)


def _coco_raw(w: _Writer) -> None:
    case = "coco-200kb-deep-attribute"
    anns = ",".join(json.dumps(_ann(i, 1 + i % 50)) for i in range(1, 1500))
    deep = (
        f'{{"id": 9999, "image_id": 1, "category_id": 1, "bbox": [1, 1, 2, 2], "attr": {_deep()}}}'
    )
    images = json.dumps([_image(i) for i in range(1, 51)])
    text = f'{{"images": {images}, "annotations": [{anns}, {deep}], "categories": [{{"id": 1, "name": "car"}}]}}'
    (w.folder(case) / "f.json").write_text(text)
    w.add(
        Case(
            case,
            "coco",
            ["f.json"],
            {f"f:{i}" for i in range(1, 51)},
            [("annotation #1500", "nested deeper")],
            cli=True,
        )
    )

    case = "coco-annotation-not-utf8"
    doc = json.dumps(_coco_doc([_image(1)], [_ann(1, 1), _ann(2, 1, note="QQ")]))
    (w.folder(case) / "f.json").write_bytes(doc.encode().replace(b'"QQ"', b'"\xff"'))
    w.add(Case(case, "coco", ["f.json"], {"f:1"}, [("annotation #2", "not UTF-8")]))

    case = "coco-deep-info-not-read"
    text = json.dumps(_coco_doc([_image(1)], [_ann(1, 1)]))
    (w.folder(case) / "f.json").write_text(f'{{"info": {_deep()}, ' + text[1:])
    w.add(Case(case, "coco", ["f.json"], {"f:1"}))

    case = "coco-warnings"
    anns = [_ann(1, 1), _ann(2, 1, bbox=[500, 500, 10, 10]), _ann(3, 1, bbox=[5, 5, 0, 10])]
    (w.folder(case) / "f.json").write_text(json.dumps(_coco_doc([_image(1)], anns)))
    w.add(
        Case(
            case,
            "coco",
            ["f.json"],
            {"f:1"},
            warnings={"ROIs outside their image": 1, "ROIs with zero area": 1},
        )
    )

    case = "coco-results"
    folder = w.folder(case)
    (folder / "inst.json").write_text(json.dumps(_coco_doc([_image(1), _image(2)], [])))
    results = [
        {"image_id": 1, "category_id": 1, "bbox": [1, 1, 5, 5], "score": 0.5},
        {"image_id": {"o": 1}, "category_id": 1, "bbox": [1, 1, 5, 5], "score": 0.5},
        {"image_id": 2, "category_id": 1, "bbox": [1, 1, 5, 5], "score": 7},
        {"image_id": 2, "category_id": 1, "bbox": [1e308, 1, 5, 5], "score": 0.2},
        {"image_id": 2, "category_id": 1, "bbox": [2, 2, 5, 5], "score": 0.9},
    ]
    (folder / "res.json").write_text(json.dumps(results))
    w.add(
        Case(
            case,
            "coco",
            ["res.json"],
            {"1", "5"},
            [
                ("annotation #2", "integers or strings"),
                ("annotation 3", "score"),
                ("annotation 4", "farther than"),
            ],
            options=["id_prefix=inst:", f"categories={folder / 'inst.json'}"],
            setup=[("coco", ["inst.json"], [])],
            labels_field="predictions",
            cli=True,
        )
    )


# -- Nucleus ---------------------------------------------------------------------------------


def _scene(ref: str, items: list[Any], **extra: Any) -> dict[str, Any]:
    return {"reference_id": ref, "frame_rate": 10, "frames": items, **extra}


def _item(ref: Any) -> dict[str, Any]:
    return {"reference_id": ref, "image_location": f"s3://bucket/{ref}.jpg"}


def _nucleus(w: _Writer) -> None:
    ok = _scene("n-ok", [_item("nok:0"), _item("nok:1")])
    lines: list[tuple[str, Any, set[str], str]] = [
        (
            "frame-rate-zero",
            _scene("nz", [_item("nz:0")], frame_rate=0),
            set(),
            "frame_rate must be positive",
        ),
        (
            "frame-rate-tiny",
            _scene("nt", [_item("nt:0"), _item("nt:1")], frame_rate=1e-300),
            {"nt:0"},
            "index 1",
        ),
        (
            "item-id-list",
            _scene("nl", [_item("nl:0"), _item(["x"])]),
            {"nl:0"},
            "item has no reference_id",
        ),
        ("item-id-nul", _scene("nn", [_item("nn:0"), _item("nn\x00:1")]), {"nn:0"}, "U+0000"),
        (
            "item-location-number",
            _scene("nm", [_item("nm:0"), {"reference_id": "nm:1", "image_location": 5}]),
            {"nm:0"},
            "item has no image_location",
        ),
        (
            "scene-meta-deep",
            f'{{"reference_id": "nd", "metadata": {_deep()}}}'.encode(),
            set(),
            "nested deeper",
        ),
        (
            "scene-not-utf8",
            b'{"reference_id": "nu\xff", "frame_rate": 1, "frames": []}',
            set(),
            "not UTF-8",
        ),
    ]
    for name, bad, stored, problem in lines:
        case = f"nucleus-{name}"
        good = json.loads(json.dumps(ok).replace("n-ok", f"{case}").replace("nok", case))
        text = b"\n".join([_line(good), _line(bad)])
        (w.folder(case) / "s.ndjson").write_bytes(text)
        w.add(
            Case(
                case,
                "nucleus",
                ["s.ndjson"],
                {f"{case}:0", f"{case}:1"} | stored,
                [("s.ndjson:2", problem)],
                cli=name == "scene-meta-deep",
            )
        )

    case = "nucleus-scenes-object"
    scenes = {"scenes": [_scene("so", [_item("so:0")]), _scene("so2", "nope"), 7]}
    (w.folder(case) / "s.json").write_text(json.dumps(scenes))
    w.add(
        Case(
            case,
            "nucleus",
            ["s.json"],
            {"so:0"},
            [("scenes[1]", "frames"), ("scenes[2]", "JSON object")],
        )
    )

    case = "nucleus-list-deep-scene"
    (w.folder(case) / "s.json").write_text(
        f'[{json.dumps(_scene("ld", [_item("ld:0")]))}, {{"reference_id": "x", "m": {_deep()}}}]'
    )
    w.add(Case(case, "nucleus", ["s.json"], {"ld:0"}, [("s.json[1]", "nested deeper")]))


# -- Labelbox --------------------------------------------------------------------------------


def _lb_line(uuid: Any, **extra: Any) -> dict[str, Any]:
    box = {"top": 1, "left": 1, "height": 5, "width": 5}
    line = {
        "uuid": uuid,
        "dataRow": {"globalKey": "video-1"},
        "name": "car",
        "segments": [{"keyframes": [{"frame": 1, "bbox": box}, {"frame": 3, "bbox": box}]}],
    }
    line.update(extra)
    return line


def _labelbox(w: _Writer) -> None:
    video = [frame(f"lbf:{i}", context_id="video-1", meta={"_frame_index": i}) for i in range(5)]
    bad: list[tuple[str, Any, str]] = [
        (
            "not-utf8",
            b'{"uuid": "u-bad", "name": "\xff\xfe", "dataRow": {"globalKey": "video-1"}}',
            "not UTF-8",
        ),
        (
            "frames-range-huge",
            {
                "uuid": "u-bad",
                "dataRow": {"globalKey": "video-1"},
                "name": "day",
                "answer": "yes",
                "frames": [{"start": 1, "end": 10**12}],
            },
            "out of range",
        ),
        (
            "keyframe-huge",
            _lb_line(
                "u-bad",
                segments=[
                    {
                        "keyframes": [
                            {"frame": 1, "point": {"x": 1, "y": 1}},
                            {"frame": 10**12, "point": {"x": 1, "y": 1}},
                        ]
                    }
                ],
            ),
            "out of range",
        ),
        (
            "bbox-1e308",
            _lb_line(
                "u-bad",
                segments=[
                    {
                        "keyframes": [
                            {
                                "frame": 1,
                                "bbox": {"top": 1e308, "left": -1e308, "height": 1, "width": 1},
                            }
                        ]
                    }
                ],
            ),
            "farther than",
        ),
        ("uuid-object", _lb_line({"x": 1}), "uuid must be a string"),
        (
            "classifications-deep",
            f'{{"uuid": "u-bad", "classifications": {_deep()}}}'.encode(),
            "nested deeper",
        ),
        ("name-too-long", _lb_line("u-bad", name="N" * 5000), "5,000 characters"),
    ]
    for name, line, problem in bad:
        case = f"labelbox-{name}"
        folder = w.folder(case)
        (folder / "video.ndjson").write_text("\n".join(json.dumps(f) for f in video))
        text = b"\n".join([_line(_lb_line("u-good")), _line(line)])
        if name == "not-utf8":
            text = b"\xef\xbb\xbf" + text  # a byte order mark must not cost the first line
        (folder / "labels.ndjson").write_bytes(text)
        w.add(
            Case(
                case,
                "labelbox",
                ["labels.ndjson"],
                {"u-good"},
                [("labels.ndjson:2", problem)],
                setup=[("clearml", ["video.ndjson"], [])],
                labels_field="predictions",
                cli=name == "not-utf8",
            )
        )


# -- Nucleus annotations ---------------------------------------------------------------------


def _nu_box(annotation_id: str, **more: Any) -> dict[str, Any]:
    box = {"type": "box", "label": "car", "reference_id": "nuf:0", "annotation_id": annotation_id,
           "geometry": {"x": 1, "y": 2, "width": 3, "height": 4}}  # fmt: skip
    return {**box, **more}


def _nucleus_annotations(w: _Writer) -> None:
    scene = {"reference_id": "nu-scene", "frame_rate": 10,
             "frames": [{"reference_id": f"nuf:{i}", "image_location": f"/data/nuf{i}.jpg"}
                        for i in range(3)]}  # fmt: skip
    points = [{"x": 1, "y": 1, "visible": True}, {"x": 2, "y": 2, "visible": True}]
    bad: list[tuple[str, Any, str]] = [
        ("not-json", b'{"type": "box", "label": ', "not valid JSON"),
        ("cuboid", _nu_box("b", type="cuboid"), "a 3D annotation"),
        ("no-frame", _nu_box("b", reference_id="nowhere"), "no frame (or scene)"),
        (
            "box-1e308",
            _nu_box("b", geometry={"x": 1e308, "y": 1, "width": 1, "height": 1}),
            "farther than",
        ),
        (
            "metadata-deep",
            f'{{"type": "box", "reference_id": "nuf:0", "metadata": {_deep()}}}'.encode(),
            "nested deeper",
        ),
        ("label-too-long", _nu_box("b", label="N" * 5000), "5,000 characters"),
        (
            "skeleton-out-of-range",
            {
                "type": "keypoints",
                "label": "hand",
                "reference_id": "nuf:1",
                "geometry": {"keypoints": points, "names": ["a", "b"], "skeleton": [[0, 9]]},
            },
            "skeleton must be",
        ),
        ("confidence-text", _nu_box("b", confidence="high"), "confidence must be a number"),
        (
            "segment-index-float",
            {
                "type": "mask",
                "mask_url": "s3://m.png",
                "reference_id": "nuf:2",
                "annotations": [{"label": "road", "index": 1.5}],
            },
            "index must be an integer",
        ),
    ]
    for name, line, problem in bad:
        case = f"nucleus-annotations-{name}"
        folder = w.folder(case)
        (folder / "scene.json").write_text(json.dumps(scene))
        (folder / "labels.ndjson").write_bytes(b"\n".join([_line(_nu_box("a-good")), _line(line)]))
        w.add(
            Case(
                case,
                "nucleus_annotations",
                ["labels.ndjson"],
                {"a-good"},
                [("labels.ndjson:2", problem)],
                options=["field=predictions"],
                setup=[("nucleus", ["scene.json"], [])],
                labels_field="predictions",
                cli=name == "cuboid",
            )
        )


# -- images ----------------------------------------------------------------------------------


def _png_header(width: int, height: int) -> bytes:
    """A PNG whose header claims width x height (and holds no pixel data)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IEND", b"")


def _png(width: int = 8, height: int = 6) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (200, 10, 10)).save(buffer, "PNG")
    return buffer.getvalue()


def _gif_header(width: int, height: int) -> bytes:
    return b"GIF89a" + struct.pack("<HH", width, height) + b"\x00\x00\x00" + b";"


def _images(w: _Writer) -> None:
    bad: list[tuple[str, bytes | None, str, str]] = [
        ("png-100000x100000", _png_header(100_000, 100_000), "bomb.png", "100000x100000"),
        ("gif-header-only", _gif_header(65_535, 65_535), "bomb.gif", "cannot read"),
        ("garbage", b"this is not a picture" * 10, "garbage.jpg", "cannot read"),
        ("empty", b"", "empty.png", "cannot read"),
        ("cut-in-header", _png()[:12], "cut.png", "cannot read"),
        ("newline-name", None, "new\nline.png", "U+000A"),  # shown as new\nline.png
        ("bidi-name", None, "\u202egnp.exe.png", "U+202E"),
    ]
    for name, data, file_name, problem in bad:
        case = f"images-{name}"
        folder = w.folder(case) / "pics"
        folder.mkdir(exist_ok=True)
        (folder / "good-1.png").write_bytes(_png())
        (folder / "good-2.png").write_bytes(_png(4, 4))
        (folder / file_name).write_bytes(_png() if data is None else data)
        w.add(
            Case(
                case,
                "images",
                ["pics"],
                {"pics/good-1.png", "pics/good-2.png"},
                [(file_name.replace("\n", "\\n").replace("\u202e", "\\u202e"), problem)],
                cli=name == "png-100000x100000",
            )
        )

    case = "images-not-utf8-name"
    folder = w.folder(case) / "pics"
    folder.mkdir(exist_ok=True)
    (folder / "good-1.png").write_bytes(_png())
    with open(bytes(folder) + b"/bad-\xff.png", "wb") as out:
        out.write(_png())
    w.add(Case(case, "images", ["pics"], {"pics/good-1.png"}, [("bad-", "U+DCFF")]))

    case = "images-cut-after-header"
    folder = w.folder(case) / "pics"
    folder.mkdir(exist_ok=True)
    (folder / "good-1.png").write_bytes(_png())
    (folder / "cut.png").write_bytes(_png(64, 64)[:60])  # cut inside the pixel data
    w.add(Case(case, "images", ["pics"], {"pics/good-1.png"}, [("cut.png", "cannot read")]))


# -- video -----------------------------------------------------------------------------------


def _video_bytes(frames: int = 6) -> bytes:
    import tempfile

    from PIL import Image

    from workbench.media.video import VideoEncoder

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "v.mp4"
        encoder = VideoEncoder(path, width=32, height=32, fps=5)
        for i in range(frames):
            encoder.write(Image.new("RGB", (32, 32), (i * 40, 0, 0)), None)
        encoder.close()
        return path.read_bytes()


def _video(w: _Writer) -> None:
    good = _video_bytes()
    bad = [
        ("garbage", b"\x00\x01not a video" * 100, "cannot"),
        ("empty", b"", ""),
        ("truncated", good[: len(good) // 3], ""),
    ]
    for name, data, problem in bad:
        case = f"video-{name}"
        folder = w.folder(case) / "clips"
        folder.mkdir(exist_ok=True)
        (folder / "good.mp4").write_bytes(good)
        (folder / "bad.mp4").write_bytes(data)
        stored = {f"{folder.resolve()}/good.mp4#{i:06d}" for i in range(6)}
        w.add(
            Case(
                case,
                "video",
                ["clips"],
                stored,
                [("bad.mp4", problem)],
                options=[f"frames_dir={folder.parent / 'frames'}"],
                cli=name == "truncated",
                seconds=30,
            )
        )


# -- Parquet ---------------------------------------------------------------------------------


def _parquet(w: _Writer) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    def frames(rows: list[dict[str, Any]]) -> pa.Table:
        return pa.Table.from_pylist(rows)

    def row(fid: str, **extra: Any) -> dict[str, Any]:
        return {"id": fid, "context_id": "ctx", "timestamp": 1, "num_frames": 1, **extra}

    cases: list[tuple[str, Callable[[], dict[str, pa.Table]], set[str], str, int | None]] = [
        (
            "timestamp-2-63",
            lambda: {"frames": frames([row("p:1"), row("p:2", timestamp=2**62)])},
            {"p:1"},
            "timestamp",
            None,
        ),
        (
            "timestamp-text",
            lambda: {"frames": frames([row("p:1", timestamp="1"), row("p:2", timestamp="soon")])},
            {"p:1"},
            "is not BIGINT",
            None,
        ),
        (
            "num-frames-negative",
            lambda: {"frames": frames([row("p:1"), row("p:2", num_frames=-5)])},
            {"p:1"},
            "num_frames",
            None,
        ),
        (
            "id-bidi",
            lambda: {"frames": frames([row("p:1"), row("p\u202e:2")])},
            {"p:1"},
            "bidirectional",
            None,
        ),
        (
            "id-nul",
            lambda: {"frames": frames([row("p:1"), row("p\x00:2")])},
            {"p:1"},
            "control",
            None,
        ),
        (
            "missing-context",
            lambda: {"frames": pa.table({"id": ["p:1", "p:2"]})},
            set(),
            "no context_id",
            None,
        ),
        (
            "roi-infinite",
            lambda: {
                "frames": frames([row("p:1"), row("p:2")]),
                "rois": pa.Table.from_pylist(
                    [
                        {
                            "frame_id": "p:1",
                            "id": "r1",
                            "kind": "box",
                            "geometry": [[0.0, 0.0, 1.0, 0.0, 1.0, 1.0, 0.0, 1.0]],
                        },
                        {
                            "frame_id": "p:2",
                            "id": "r2",
                            "kind": "box",
                            "geometry": [[0.0, 0.0, float("inf"), 0.0, 1.0, 1.0, 0.0, 1.0]],
                        },
                    ]
                ),
            },
            {"p:1", "p:2"},
            "geometry",
            None,
        ),
        (
            "unknown-column",
            lambda: {"frames": frames([row("p:1", colour="red")])},
            set(),
            "unknown columns",
            2,
        ),
    ]
    for name, tables, stored, problem, exit_code in cases:
        case = f"parquet-{name}"
        folder = w.folder(case) / "export"
        folder.mkdir(exist_ok=True)
        for table, data in tables().items():
            pq.write_table(data, folder / f"{table}.parquet")
        errors = [("parquet", problem)]
        w.add(
            Case(
                case,
                "parquet",
                ["export"],
                stored,
                errors,
                exit=exit_code,
                cli=name == "timestamp-2-63",
            )
        )


def build(root: Path) -> list[Case]:
    """Write every case under `root`; the cases, in a stable order."""
    w = _Writer(root)
    parts = (_clearml, _coco, _nucleus, _nucleus_annotations, _labelbox, _images, _video, _parquet)
    for part in parts:
        part(w)
    return w.cases


if __name__ == "__main__":
    target = Path(sys.argv[1] if len(sys.argv) > 1 else "malformed-corpus")
    for case in build(target):
        print(f"{case.fmt:9} {case.name:40} stored={len(case.stored):6} refused={len(case.errors)}")
