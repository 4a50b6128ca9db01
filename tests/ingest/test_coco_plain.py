"""Which annotations the COCO conversion calls plain (every key one of those SQL reads, given
once, none null: their attributes are made without merging JSON), told by the length of the
engine's text of the record, is what the record's own keys say, however the file lays it out."""

from __future__ import annotations

import json
from typing import Any

import duckdb
import pytest

from workbench.ingest import _coco_sql as sql

_KEYS = {"id", "image_id", "category_id", "bbox", "segmentation", "score", "area", "iscrowd"}
_BOX = '"image_id": 1, "category_id": 1, "bbox": [1, 2, 3, 4]'
# As written in a file (text: keys given twice, spaces and escapes are the point).
_RECORDS = [
    '{"id":1,"image_id":1,"category_id":1,"bbox":[1,2,3,4],"area":5,"iscrowd":0}',
    '{"id": 2, ' + _BOX + ', "area": 5, "iscrowd": 0}',
    '{\n  "iscrowd": 1,\n  "id": 3,\n  ' + _BOX + ',\n  "area": 2.50\n}',
    '{"id": 4, ' + _BOX + ', "segmentation": [[1, 2, 4, 2, 3, 5]], "area": 1E2}',
    '{"id": 5, ' + _BOX + ', "score": 0.50, "area": -0, "iscrowd": 0}',
    '{"id": "a\\u00e9\\"b", ' + _BOX + ', "area": 1}',
    '{"\\u0069d": 7, ' + _BOX + "}",
    '{"id": 8, ' + _BOX + ', "area": {"a": [1, {"b": null}]}, "iscrowd": [0]}',
    '{"id": 9, ' + _BOX + ', "segmentation": {"counts": "a,\\"b", "size": [2, 2]}}',
    '{"id": 10, "image_id": 1, "category_id": 1, "bbox": [1e-7, 2, 3, 4]}',
    # not plain: another key, a null value, a key given twice, a supercategory
    '{"id": 11, ' + _BOX + ', "occluded": true}',
    '{"id": 12, ' + _BOX + ', "": 0}',
    '{"id": 13, ' + _BOX + ', "score": null}',
    '{"id": 14, ' + _BOX + ', "id": 14}',
    '{"id": 15, ' + _BOX + ', "area": 1, "area": 22}',
    '{"id": 16, ' + _BOX + ', "supercategory": "own"}',
    '{"id": 17, ' + _BOX + ', "keypoints": []}',
    "{}",
    "[1, 2]",
    '"id"',
]


def _plain(text: str) -> bool:
    """What the record's own keys say: an object whose keys are all read by SQL, each once,
    none of them null."""
    pairs = json.loads(text, object_pairs_hook=lambda p: p)
    if not isinstance(pairs, list) or not pairs or not all(isinstance(p, tuple) for p in pairs):
        return False
    keys = [key for key, _ in pairs]
    values: list[Any] = [value for _, value in pairs]
    return set(keys) <= _KEYS and len(set(keys)) == len(keys) and None not in values


@pytest.mark.parametrize("text", _RECORDS)
def test_plain_by_length_is_plain_by_keys(text: str) -> None:
    con = duckdb.connect()
    # The records' texts as the import stages them: a piece of the file parsed by the engine.
    con.execute(
        "CREATE TABLE t AS SELECT unnest(from_json(?, '[\"JSON\"]')) AS x", ["[" + text + "]"]
    )
    found = con.execute(
        f"SELECT {sql.PLAIN} FROM (SELECT x, try(from_json(x, '{sql.ANN}')) AS d FROM t)"
    ).fetchall()
    assert found == [(_plain(text),)]
