"""Scale's own Nucleus SDK as the judge (scale-nucleus, in its own virtualenv): scenes it writes
import as meant, and our exports load with VideoScene.from_json."""

from __future__ import annotations

import json
from pathlib import Path

import workbench
from workbench.ingest import nucleus

from .sdk_venv import run_in_sdk_venv

_SDK_SCENE = """
import json, sys
from nucleus import DatasetItem, VideoScene
items = [DatasetItem(image_location=f"s3://b/{n}.jpg", reference_id=f"f{n}",
                     metadata={"n": n}) for n in range(3)]
items.append(DatasetItem(image_location="s3://b/x.webp", reference_id="f3"))
scene = VideoScene(reference_id="drive", frame_rate=5, items=items, metadata={"site": "A"})
print(json.dumps(json.loads(scene.to_json())))
"""
_LOAD = """
import json, sys
from nucleus import VideoScene
scenes = [VideoScene.from_json(json.loads(line)) for line in open(sys.argv[1])]
print(json.dumps([{"reference_id": s.reference_id, "frame_rate": s.frame_rate,
                   "metadata": s.metadata,
                   "items": [[i.reference_id, i.image_location, i.metadata] for i in s.items]}
                  for s in scenes]))
"""


def test_scenes_the_sdk_wrote_import_and_our_export_loads_in_the_sdk(tmp_path: Path) -> None:
    payload = run_in_sdk_venv(_SDK_SCENE)
    path = tmp_path / "scene.json"
    path.write_text(json.dumps(payload))
    with workbench.open(tmp_path / "c.duckdb") as catalog:
        assert nucleus.import_files(catalog, [path], progress=False).ok
        rows = catalog.sql(
            "SELECT f.id, f.frame_index, f.timestamp, s.uri FROM frames f "
            "JOIN sources s ON s.frame_id = f.id ORDER BY f.frame_index"
        ).fetchall()
        assert rows == [("f0", 0, 0, "s3://b/0.jpg"), ("f1", 1, 200, "s3://b/1.jpg"),
                        ("f2", 2, 400, "s3://b/2.jpg"), ("f3", 3, 600, "s3://b/x.webp")]  # fmt: skip
        out = tmp_path / "out.ndjson"
        nucleus.export_files(catalog.view(), out, progress=False)
    loaded = run_in_sdk_venv(_LOAD, str(out))
    assert loaded == [
        {
            "reference_id": "drive",
            "frame_rate": 5,
            "metadata": {"site": "A"},
            "items": [["f0", "s3://b/0.jpg", {"n": 0}], ["f1", "s3://b/1.jpg", {"n": 1}],
                      ["f2", "s3://b/2.jpg", {"n": 2}], ["f3", "s3://b/x.webp", {}]],
        }
    ]  # fmt: skip


def test_integer_reference_ids_are_taken_as_text(tmp_path: Path) -> None:
    scene = {"reference_id": 7, "frame_rate": 10,
             "frames": [{"reference_id": 70, "image_location": "s3://b/70.jpg"}]}  # fmt: skip
    path = tmp_path / "s.json"
    path.write_text(json.dumps(scene))
    with workbench.open(tmp_path / "c.duckdb") as catalog:
        report = nucleus.import_files(catalog, [path], progress=False)
        assert report.ok, report
        assert catalog.sql("SELECT id, context_id FROM frames").fetchall() == [("70", "7")]
