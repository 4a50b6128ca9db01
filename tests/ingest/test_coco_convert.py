"""The annotations SQL converts without merging JSON (those whose every key is one SQL reads,
each given once) store what the per-record path stores: the same ROIs, their attributes' keys
in the same order, and the records SQL leaves to that path refused or stored in its words."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import workbench

from .test_coco_columnar import _same_on_both_paths

_BOX = '"image_id":1,"category_id":1,"bbox":[1,2,3,4]'
_RING = '"segmentation":[[1,2,4,2,3,5]]'
# Annotations as written (text, not dicts: keys given twice and their order are the point).
_ANNOTATIONS = [
    '{"id":1,' + _BOX + ',"area":5,"iscrowd":1}',
    '{"id":2,' + _BOX + ',"iscrowd":1,"area":5}',
    '{"iscrowd":0,"id":3,' + _BOX + ',"area":7.5}',
    '{"id":4,' + _BOX + ',"area":5}',
    '{"id":5,' + _BOX + ',"iscrowd":1}',
    '{"id":6,' + _BOX + "}",
    '{"id":7,' + _BOX + "," + _RING + ',"iscrowd":0,"area":4.0}',
    '{"id":8,' + _BOX + ',"score":0.5,"area":5,"iscrowd":0}',
    # values holding the keys' names: in strings, in an object, in a list
    '{"id":"a\\"area\\":","image_id":1,"category_id":1,"bbox":[1,2,3,4],"iscrowd":0,"area":1}',
    '{"id":10,' + _BOX + ',"iscrowd":{"area":3},"area":2}',
    '{"id":11,' + _BOX + ',"iscrowd":[{"area":3}],"area":{"iscrowd":1}}',
    '{"id":12,' + _BOX + ',"iscrowd":"\\"area\\":","area":2}',
    # a key escaped, a key holding the name of another, other keys, nulls, a supercategory
    '{"id":13,' + _BOX + ',"\\u0061rea":3,"iscrowd":0}',
    '{"id":14,' + _BOX + ',"x\\"area":3,"iscrowd":0,"area":2}',
    '{"id":15,' + _BOX + ',"occluded":true,"area":2,"iscrowd":0}',
    '{"id":16,' + _BOX + ',"area":null,"iscrowd":0}',
    '{"id":17,' + _BOX + ',"area":2,"iscrowd":null}',
    '{"id":18,' + _BOX + ',"supercategory":"own","area":2}',
    '{"id":19,' + _BOX + ',"score":null}',
    '{"id":null,' + _BOX + "}",
    "{" + _BOX + ',"area":2}',
    # keys given twice: the per-record path's reader keeps the last value
    '{"id":30,' + _BOX + ',"area":5,"area":6}',
    '{"id":31,' + _BOX + ',"id":32}',
    '{"id":33,' + _BOX + ',"iscrowd":1,"iscrowd":0}',
    '{"id":34,' + _BOX + ',"bbox":[2,2,3,4]}',
    '{"id":35,' + _BOX + ',"category_id":2}',
    '{"id":36,' + _BOX + "," + _RING + ',"segmentation":[[1,1,5,1,3,6]],"area":4}',
    '{"id":37,' + _BOX + ',"score":0.5,"score":2}',
    '{"id":38,' + _BOX + ',"image_id":2}',
    '{"id":39,' + _BOX + ',"occluded":true,"occluded":false}',
]
_IMAGES = [
    '{"id":1,"file_name":"a.jpg","width":64,"height":48}',
    '{"id":2,"file_name":"b.jpg","width":64,"height":48,"license":1}',
]
_CATEGORIES = '[{"id":1,"name":"a"},{"id":2,"name":"b","supercategory":"s"}]'


def _document(images: list[str], annotations: list[str]) -> str:
    return (
        '{"images":[' + ",".join(images) + '],"annotations":[' + ",".join(annotations)
        + '],"categories":' + _CATEGORIES + "}"
    )  # fmt: skip


def _attributes(db: Path) -> list[tuple[str, str, list[tuple[str, Any]]]]:
    """Each ROI's frame, id and attributes' keys and values in their stored order."""
    with workbench.open(db) as catalog:
        rows = catalog.sql("SELECT frame_id, id, attributes FROM rois ORDER BY rowid").fetchall()
    return [(f, i, json.loads(a, object_pairs_hook=list)) for f, i, a in rows]


@pytest.mark.parametrize("per_write", [1, 50])  # each image a write of its own, or one write
def test_annotations_of_every_shape_are_stored_as_the_per_record_path_stores_them(
    tmp_path: Path, per_write: int
) -> None:
    path = tmp_path / "instances.json"
    path.write_text(_document(_IMAGES, _ANNOTATIONS))
    columnar = _same_on_both_paths(tmp_path, path, per_write)
    assert columnar.rois > 20
    assert _attributes(tmp_path / "a.duckdb") == _attributes(tmp_path / "b.duckdb")


def test_keys_given_twice_keep_the_last_value(tmp_path: Path) -> None:
    """An annotation or image giving a key twice: SQL's parser would keep the first value,
    the per-record path's the last; such a record is left to that path."""
    images = [*_IMAGES, '{"id":3,"file_name":"c.jpg","id":4}', '{"id":5,"file_name":"x","file_name":"e.jpg"}']  # fmt: skip
    annotations = [a for a in _ANNOTATIONS if '"id":3' in a] + [
        '{"id":40,"image_id":4,"category_id":1,"bbox":[1,2,3,4],"category_id":2}',
        '{"id":41,"image_id":5,"category_id":1,"bbox":[1,2,3,4]}',
    ]
    path = tmp_path / "instances.json"
    path.write_text(_document(images, annotations))
    columnar = _same_on_both_paths(tmp_path, path, 50)
    with workbench.open(tmp_path / "a.duckdb") as catalog:
        rois = dict(catalog.sql("SELECT id, label FROM rois").fetchall())
        sources = dict(catalog.sql("SELECT frame_id, uri FROM sources").fetchall())
    assert rois["32"] == "a" and rois["34"] == "a" and rois["35"] == "b" and rois["40"] == "b"
    assert "31" not in rois and "instances:4" in sources and "instances:3" not in sources
    assert sources["instances:5"].endswith("e.jpg")
    assert columnar.rois == len(rois)
