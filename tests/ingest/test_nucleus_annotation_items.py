"""Items' rows among Nucleus annotation payloads (`{"item": {"reference_id": ...}, "box":
[{...}]}`): SQL reads a row of one annotation it can vouch for as the payload the per-record
path reads of it (the list's type, the item's reference_id), errors naming `, box[0]` as the
per-record path names them; any other (several annotations, an `annotations` object, keys
given twice or escaped, an item that is not an object or whose reference_id is not a
non-empty string, a payload with a type or reference_id of its own) is left to the
per-record path."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from workbench.ingest import _nucleus_placing

from .test_nucleus_annotations_columnar import _import, counted_readers, import_each

_GEOMETRY = {"x": 1, "y": 2, "width": 3, "height": 4}
_VERTICES = {"vertices": [{"x": 1, "y": 2}, {"x": 5, "y": 2}, {"x": 0, "y": 9}]}
_POINTS = {"keypoints": [{"x": 1, "y": 2, "visible": True}], "names": ["a"]}


def _row(ref: Any, key: str, payloads: Any) -> str:
    return json.dumps({"item": {"reference_id": ref}, key: payloads}, ensure_ascii=False)


# (the line, whether SQL reads it), each given the line's number.
_ROWS: list[tuple[Any, bool]] = [
    (
        lambda n: _row(
            f"f{n % 12}",
            "box",
            [{"label": "bus", "annotation_id": f"i{n % 3}", "geometry": _GEOMETRY}],
        ),
        True,
    ),
    (lambda n: _row(f"f{n % 12}", "polygon", [{"label": "road", "geometry": _VERTICES}]), True),
    (
        lambda n: _row(
            f"f{n % 12}", "line", [{"label": "lane", "geometry": _VERTICES, "metadata": {"m": n}}]
        ),
        True,
    ),
    (lambda n: _row("f3", "category", [{"label": "day", "taxonomy_name": "t"}]), True),
    (lambda n: _row("f4", "multicategory", [{"labels": ["a", "b"]}]), True),
    # a scene's category (read again by the per-record path for the scene's frames)
    (lambda n: _row("drive", "category", [{"label": "night"}]), True),
    (lambda n: _row("f5", "keypoints", [{"label": "hand", "geometry": _POINTS}]), True),
    (
        lambda n: _row(
            "f6",
            "segmentation",
            [
                {
                    "mask_url": "s3://b/m.png",
                    "annotation_id": f"s{n}",
                    "annotations": [{"label": "sky", "index": 1}],
                }
            ],
        ),
        True,
    ),
    # a frame the catalog does not hold, an item of more keys, a label of odd characters
    (lambda n: _row("nowhere", "box", [{"label": "car", "geometry": _GEOMETRY}]), True),
    (
        lambda n: json.dumps(
            {
                "item": {"reference_id": "f7", "image_location": "s3://x.jpg"},
                "box": [{"label": "cü", "geometry": _GEOMETRY}],
            },
            ensure_ascii=False,
        ),
        True,
    ),
    # a box the per-record path refuses, naming `, box[0]`
    (lambda n: _row("f8", "box", [{"label": "car", "geometry": {"x": 1}}]), False),
    # several annotations, several lists, an `annotations` object, none
    (lambda n: _row("f1", "box", [{"label": "a", "geometry": _GEOMETRY}] * 2), False),
    (
        lambda n: json.dumps(
            {
                "item": {"reference_id": "f1"},
                "box": [{"label": "a", "geometry": _GEOMETRY}],
                "category": [{"label": "day"}],
            }
        ),
        False,
    ),
    (
        lambda n: json.dumps(
            {
                "item": {"reference_id": "f2"},
                "annotations": {"box": [{"label": "a", "geometry": _GEOMETRY}]},
            }
        ),
        False,
    ),
    (lambda n: _row("f1", "box", []), False),
    (lambda n: _row("f1", "box", None), False),
    (lambda n: _row("f1", "box", {"label": "a", "geometry": _GEOMETRY}), False),
    (lambda n: _row("f1", "box", [{}]), False),
    (lambda n: _row("f1", "box", [3]), False),
    (lambda n: _row("f1", "cuboid", [{"label": "car"}]), False),
    # keys given twice: at the top, in the item, the payload's type or reference_id its own
    (
        lambda n: (
            '{"item": {"reference_id": "f1"}, "item": {"reference_id": "f2"}, '
            '"box": [{"label": "a", "geometry": {"x": 1, "y": 2, "width": 3, "height": 4}}]}'
        ),
        False,
    ),
    (
        lambda n: (
            '{"item": {"reference_id": "f1", "reference_id": "f9"}, '
            '"box": [{"label": "a", "geometry": {"x": 1, "y": 2, "width": 3, "height": 4}}]}'
        ),
        False,
    ),
    (
        lambda n: _row("f1", "box", [{"label": "a", "type": "polygon", "geometry": _VERTICES}]),
        False,
    ),
    (
        lambda n: _row("f1", "box", [{"label": "a", "reference_id": "f2", "geometry": _GEOMETRY}]),
        False,
    ),
    # escaped keys
    (
        lambda n: (
            '{"\\u0069tem": {"reference_id": "f1"}, '
            '"box": [{"label": "a", "geometry": {"x": 1, "y": 2, "width": 3, "height": 4}}]}'
        ),
        False,
    ),
    (
        lambda n: (
            '{"item": {"reference_id": "f1"}, '
            '"b\\u006fx": [{"label": "a", "geometry": {"x": 1, "y": 2, "width": 3, "height": 4}}]}'
        ),
        False,
    ),
    # an item that is not an object, a reference_id that is not a non-empty string
    (lambda n: json.dumps({"item": "f1", "box": [{"label": "a", "geometry": _GEOMETRY}]}), False),
    (lambda n: _row(7, "box", [{"label": "a", "geometry": _GEOMETRY}]), False),
    (lambda n: _row("", "box", [{"label": "a", "geometry": _GEOMETRY}]), False),
    (lambda n: _row(None, "box", [{"label": "a", "geometry": _GEOMETRY}]), False),
    # a payload whose text holds "item", not an item's row
    (
        lambda n: json.dumps(
            {"type": "box", "reference_id": "f2", "label": "item", "geometry": _GEOMETRY}
        ),
        True,
    ),
]


def _lines(boxes: int) -> tuple[list[str], int]:
    """Boxes with the items' rows among them, every seventh line; and how many SQL reads."""
    lines: list[str] = []
    taken = 0
    for n in range(boxes):
        if n % 7 == 3:
            edge, by_sql = _ROWS[(n // 7) % len(_ROWS)]
            lines.append(edge(n))
            taken += by_sql
        box = {"label": "car", "type": "box", "reference_id": f"f{n % 13}",
               "annotation_id": f"i{n % 5}", "geometry": _GEOMETRY}  # fmt: skip
        lines.append(json.dumps(box))
    return lines, boxes + taken


@pytest.mark.parametrize(("form", "chunk"), [("ndjson", 6), ("ndjson", 1000), ("json", 9)])
def test_items_rows_store_alike_by_sql_and_by_the_per_record_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, form: str, chunk: int
) -> None:
    """Items' rows among boxes, over chunks: every ROI row, error (in order), count and
    warning as by the per-record path; SQL reads the rows it can vouch for."""
    lines, taken = _lines(7 * len(_ROWS) + 10)
    path = tmp_path / f"i.{form}"
    if form == "ndjson":
        path.write_text("\n".join(lines) + "\n")
    else:
        path.write_text(json.dumps([json.loads(line) for line in lines], ensure_ascii=False))
    monkeypatch.setattr(_nucleus_placing, "CHUNK", chunk)
    readers = counted_readers(monkeypatch)
    rows, report, keypoints = _import(tmp_path, "sql", path)
    counts = (readers[0].sql_lines, readers[0].record_lines)
    if form == "json":  # a JSON list, written again: keys given twice are gone, escaped ones read
        assert counts[0] > taken and sum(counts) == len(lines), (counts, taken)
    else:
        assert counts == (taken, len(lines) - taken)
    rows_each, keypoints_each = import_each(tmp_path, monkeypatch, path, report)
    assert (readers[1].sql_lines, readers[1].record_lines) == (0, len(lines))
    assert (rows, keypoints) == (rows_each, keypoints_each)
    text = "\n".join(str(e) for e in report.errors)
    assert "box[0], item 'nowhere': no frame (or scene) has reference_id 'nowhere'" in text
    assert re.search(r"box\[0\], item 'f[0-9]+': annotation_id 'i[0-2]' came earlier", text)
    assert "box[0], item 'f8': the box has no number 'y'" in text
    ids = {(r[0], r[1]) for r in rows}
    assert {("f5", "keypoints-0"), ("f2", "scene-category-0")} <= ids, sorted(ids)
    assert any(f == "f6" and i.startswith("s") and i.endswith("/0") for f, i in ids), sorted(ids)
