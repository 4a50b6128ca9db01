"""Cuboids among Nucleus annotation payloads: SQL refuses a cuboid line it can vouch for (the
per-record path would read it as a cuboid of that reference_id) without reading it again,
with the per-record path's error at the same place in the import's order of errors; a
hostile cuboid line (a key given twice, an escaped key, a reference_id that is not a string,
an item's row) is left to the per-record path."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from workbench.ingest import _nucleus_placing

from .test_nucleus_annotations_columnar import _import, counted_readers, import_each

_ODD = "ü x\u202e"  # a reference_id of characters repr escapes
# (the line, whether SQL refuses it as a cuboid), each given the line's number.
_CUBOIDS: list[tuple[Any, bool]] = [
    (lambda n: json.dumps({"type": "cuboid", "reference_id": f"f{n % 12}", "label": "car"}), True),
    # a frame the catalog does not hold: refused as a cuboid all the same
    (lambda n: json.dumps({"label": "car", "type": "cuboid", "reference_id": "nowhere"}), True),
    # a reference_id of text the catalog could not hold, and one of other characters
    (lambda n: json.dumps({"type": "cuboid", "reference_id": "a'b\"c"}), False),
    (lambda n: json.dumps({"type": "cuboid", "reference_id": _ODD}, ensure_ascii=False), True),
    # a key given twice: the last is read
    (lambda n: f'{{"type": "box", "reference_id": "f{n % 12}", "type": "cuboid"}}', False),
    (lambda n: f'{{"type": "cuboid", "reference_id": "f{n % 12}", "type": "box"}}', False),
    (lambda n: f'{{"type": "cuboid", "reference_id": "f1", "reference_id": "f{n % 12}"}}', False),
    # an escaped key, and an escaped `item`
    (lambda n: f'{{"typ\\u0065": "cuboid", "reference_id": "f{n % 12}"}}', False),
    (lambda n: f'{{"type": "cuboid", "reference_id": "f{n % 12}", "\\u0069tem": {{}}}}', False),
    # a reference_id that is not a string, or empty
    (lambda n: f'{{"type": "cuboid", "reference_id": {n}}}', False),
    (lambda n: '{"type": "cuboid", "reference_id": 1.5}', False),
    (lambda n: '{"type": "cuboid", "reference_id": ""}', False),
    (lambda n: '{"type": "cuboid", "reference_id": null}', False),
    # an item's row of cuboids, and a cuboid's type given otherwise
    (lambda n: json.dumps({"item": {"reference_id": "f2"}, "cuboid": [{"label": "car"}]}), False),
    (lambda n: f'{{"type": "Cuboid", "reference_id": "f{n % 12}"}}', False),
    (lambda n: f'{{"type": ["cuboid"], "reference_id": "f{n % 12}"}}', False),
]


def _lines(boxes: int) -> tuple[list[str], int]:
    """Boxes with the cuboid lines among them, every eleventh line; and how many SQL refuses."""
    lines: list[str] = []
    refused = 0
    for n in range(boxes):
        if n % 11 == 5:
            edge, by_sql = _CUBOIDS[(n // 11) % len(_CUBOIDS)]
            lines.append(edge(n))
            refused += by_sql
        box = {"label": "car", "type": "box", "reference_id": f"f{n % 13}", "annotation_id": f"b{n % 4}",
               "geometry": {"x": n % 50, "y": 2, "width": 3, "height": 4}}  # fmt: skip
        lines.append(json.dumps(box))
    return lines, refused


@pytest.mark.parametrize(("form", "chunk"), [("ndjson", 7), ("ndjson", 1000), ("json", 5)])
def test_cuboids_are_refused_by_sql_as_by_the_per_record_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, form: str, chunk: int
) -> None:
    """Cuboids among boxes (some of no frame, some with ids given twice), over chunks: every
    ROI row, error (in order), count and warning as by the per-record path; SQL refuses the
    cuboids it can vouch for and leaves the others to the per-record path."""
    lines, refused = _lines(400)
    assert refused >= 8
    path = tmp_path / f"c.{form}"
    if form == "ndjson":
        path.write_text("\n".join(lines) + "\n")
    else:
        path.write_text(json.dumps([json.loads(line) for line in lines]))
    monkeypatch.setattr(_nucleus_placing, "CHUNK", chunk)
    readers = counted_readers(monkeypatch)
    rows, report, _ = _import(tmp_path, "sql", path)
    others = len(lines) - 400  # the cuboid lines
    counts = (readers[0].sql_lines, readers[0].record_lines, readers[0].cuboid_lines)
    if form == "json":  # a JSON list, written again: a key given twice is gone, one escaped read
        assert counts[0] == 400 and counts[2] > refused and sum(counts) == len(lines), counts
    else:
        assert counts == (400, others - refused, refused)
    rows_each, _ = import_each(tmp_path, monkeypatch, path, report)
    assert (readers[1].sql_lines, readers[1].record_lines) == (0, len(lines))
    assert rows == rows_each
    text = "\n".join(str(e) for e in report.errors)
    assert "item 'nowhere': a cuboid is a 3D annotation" in text
    assert f"item {_ODD!r}: a cuboid is a 3D annotation" in text  # as repr writes it
    assert "came earlier for this item" in text
