"""A Nucleus item whose only location is a `url` naming a `.json` file is a pointcloud to
Scale's SDK (`DatasetItem.from_json`, the form `Scene.from_json` reads back), whatever its
`type` says or omits: the import refuses it as one, by itself, instead of storing the JSON
file as an image."""

from __future__ import annotations

import json

import pytest

import workbench
from workbench.ingest import nucleus

from .sdk_venv import run_in_sdk_venv

_ITEMS = [
    {"reference_id": "a", "url": "s3://b/a.jpg"},
    {"reference_id": "p1", "url": "s3://b/p1.json"},
    {"reference_id": "p2", "url": "https://b/scans/p2.v1.json"},
    {"reference_id": "c", "url": "s3://b/c.json", "image_url": "s3://b/c.png"},
    {"reference_id": "d", "url": "s3://b/d.json?sig=1"},
    {"reference_id": "e", "url": "s3://b/e.JSON"},
]
_JUDGED = """
import json, sys
from nucleus import DatasetItem
judged = []
for item in json.loads(sys.argv[1]):
    try:
        i = DatasetItem.from_json(dict(item))
    except AssertionError:  # neither an image nor a pointcloud to the SDK
        judged.append([item["reference_id"], None, None, None])
        continue
    judged.append([i.reference_id, i.type.value, i.image_location, i.pointcloud_location])
print(json.dumps(judged))
"""


@pytest.mark.parametrize("suffix", [".ndjson", ".json"])
def test_a_json_url_is_a_pointcloud_as_the_sdk_reads_it(tmp_path, suffix):
    judged = run_in_sdk_venv(_JUDGED, json.dumps(_ITEMS))
    kinds = {ref: kind for ref, kind, _, _ in judged}
    # The SDK's own rule (the url's last dotted part); a JSON file's url that the SDK takes
    # for neither (a query after it, upper case) is no image either.
    assert kinds == {"a": "image", "p1": "pointcloud", "p2": "pointcloud", "c": "image",
                     "d": None, "e": None}  # fmt: skip
    scene = {"reference_id": "v", "frame_rate": 1, "frames": _ITEMS}
    path = tmp_path / f"s{suffix}"
    path.write_text(json.dumps(scene) + "\n" if suffix == ".ndjson" else json.dumps([scene]))
    where = f"{path}:1" if suffix == ".ndjson" else f"{path}[0]"
    with workbench.open(tmp_path / "c.duckdb") as catalog:
        report = nucleus.import_files(catalog, [path], progress=False)
        problem = "item is a pointcloud, which the catalog cannot hold (images only)"
        assert [(e.where, e.problem) for e in report.errors] == [
            (f"{where}, scene 'v', index {n}, item '{ref}'", problem)
            for n, ref in ((1, "p1"), (2, "p2"), (4, "d"), (5, "e"))
        ]
        stored = catalog.sql("SELECT frame_id, uri FROM sources ORDER BY 1").fetchall()
    images = [(ref, image) for ref, _, image, _ in judged if image is not None]
    assert stored == images == [("a", "s3://b/a.jpg"), ("c", "s3://b/c.png")]
