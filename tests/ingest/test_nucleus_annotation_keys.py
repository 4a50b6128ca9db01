"""Keys given twice in Nucleus annotation payloads read by SQL. SQL takes a line only when no
key of what it reads is given twice (the per-record path keeps a key's last value, DuckDB its
first); most lines are known to hold none without a check of their own (a line of a shape
the batch's first lines hold, a geometry or metadata whose text leaves no room for a key
given twice). The lines at the edges of those shortcuts store what the per-record path
stores, and SQL takes exactly those it should, in the batch's first lines and after them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from workbench.ingest import _nucleus_annotation_sql

from .test_nucleus_annotations_columnar import _import, counted_readers, import_each

_BOX = '"geometry": {"x": 1, "y": 2, "width": 3, "height": 4}'
_RING = '"geometry": {"vertices": [{"x": 1, "y": 2}, {"x": 5, "y": 2}, {"x": 0, "y": 9}]}'


def _head(n: int, kind: str = "box", label: str = "car") -> str:
    return f'{{"type": "{kind}", "reference_id": "f{n % 12}", "label": "{label}", "annotation_id": "k{n}"'


# (the line, whether SQL takes it), each given the line's number.
_EDGES: list[tuple[Any, bool]] = [
    # a key given twice at the top level, the line's keys otherwise those of the boxes
    (lambda n: _head(n) + f', {_BOX}, "metadata": {{"n": 1}}, "label": "bus"}}', False),
    # keys that join as a line with `label` twice joins: its text holds `label` twice
    (lambda n: _head(n).replace('"label"', '"label\\nlabel"') + f", {_BOX}}}", False),
    (
        lambda n: (
            f'{{"type": "box", "reference_id": "f{n % 12}", "label": "car", "label": "bus", '
            f'"annotation_id": "k{n}", {_BOX}}}'
        ),
        False,
    ),
    # a known key the boxes do not hold, once
    (lambda n: _head(n) + f', {_BOX}, "confidence": 0.5}}', True),
    # a box's geometry with a key more than its four: once, and x twice
    (lambda n: _head(n) + ', "geometry": {"x": 1, "y": 2, "width": 3, "height": 4, "z": 0}}', True),
    (
        lambda n: _head(n) + ', "geometry": {"x": 1, "y": 2, "width": 3, "height": 4, "x": 9}}',
        False,
    ),
    (
        lambda n: _head(n) + ', "geometry": {"x": 1, "y": 2, "width": 3, "height": 4, "x": 1}}',
        False,
    ),
    # a polygon's vertices with a key more (once), x twice, and as many keys as it should
    # hold with x twice and another vertex's x missing
    (
        lambda n: (
            _head(n, "polygon") + ', "geometry": {"vertices": [{"x": 1, "y": 2, "z": 3}, '
            '{"x": 5, "y": 2}, {"x": 0, "y": 9}]}}'
        ),
        True,
    ),
    (
        lambda n: (
            _head(n, "polygon") + ', "geometry": {"vertices": [{"x": 1, "x": 4, "y": 2}, '
            '{"x": 5, "y": 2}, {"x": 0, "y": 9}]}}'
        ),
        False,
    ),
    (
        lambda n: (
            _head(n, "line") + ', "geometry": {"vertices": [{"x": 1, "x": 4, "y": 2}, {"y": 2}]}}'
        ),
        False,
    ),
    (lambda n: _head(n, "polygon") + f', {_RING}, "metadata": {{"a": 1, "b": 2}}}}', True),
    # metadata of one key, nested, with a key twice at either level, a quote in a string
    (lambda n: _head(n) + f', {_BOX}, "metadata": {{"m": {{"a": 1}}}}}}', True),
    (lambda n: _head(n) + f', {_BOX}, "metadata": {{"a": 1, "a": 2}}}}', False),
    (lambda n: _head(n) + f', {_BOX}, "metadata": {{"m": {{"b": 1, "b": 2}}}}}}', False),
    (lambda n: _head(n) + f', {_BOX}, "metadata": {{"s": "x\\": 1", "t": {{}}}}}}', True),
    (lambda n: _head(n) + f', {_BOX}, "metadata": {{"s": "x\\": 1", "s": 2}}}}', False),
    # the keys SQL reads from the line's list of keys: an item's row, metadata given as null
    (lambda n: _head(n) + f', {_BOX}, "\\u0069tem": {{"reference_id": "f1"}}}}', False),
    (lambda n: _head(n) + f', {_BOX}, "metadata": null}}', True),
    (lambda n: _head(n) + f', {_BOX}, "m\\u0065tadata": null}}', True),
]


def _lines(boxes: int) -> tuple[list[str], int]:
    """The edges among the first lines, `boxes` boxes of one shape, the edges again; and how
    many lines SQL takes."""
    lines = [edge(n) for n, (edge, _) in enumerate(_EDGES)]
    for n in range(boxes):
        box = {"label": "car", "type": "box", "reference_id": f"f{n % 12}", "annotation_id": f"b{n}",
               "geometry": {"x": n % 50, "y": 2, "width": 3, "height": 4}, "metadata": {"n": n}}  # fmt: skip
        lines.append(json.dumps(box))
    lines += [edge(len(lines) + n) for n, (edge, _) in enumerate(_EDGES)]
    return lines, boxes + 2 * sum(taken for _, taken in _EDGES)


@pytest.mark.parametrize("boxes", [30, 600])
def test_lines_with_keys_given_twice_store_alike_by_sql_and_by_the_per_record_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, boxes: int
) -> None:
    """With the edges within the batch's first lines (the shapes taken as known) and past
    them (each line checked): every ROI row, error, count and warning as by the per-record
    path, and SQL takes the lines it should."""
    lines, taken = _lines(boxes)
    for line in lines:
        json.loads(line)  # each line is JSON
    # with 600 boxes, the second edges lie past the lines whose shapes are taken as known
    assert (len(_EDGES) + boxes > _nucleus_annotation_sql._SAMPLE) == (boxes == 600)
    path = tmp_path / "keys.ndjson"
    path.write_text("\n".join(lines) + "\n")
    readers = counted_readers(monkeypatch)
    rows, report, _ = _import(tmp_path, "sql", path)
    assert readers[0].sql_lines == taken
    rows_each, _ = import_each(tmp_path, monkeypatch, path, report)
    assert readers[1].sql_lines == 0
    assert rows == rows_each
    labels = {r[1]: r[3] for r in rows}  # the last of a label given twice, as orjson reads it
    assert labels["k0"] == "bus" and labels[f"k{len(lines) - len(_EDGES)}"] == "bus"
