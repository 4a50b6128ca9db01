"""Repeated ids in CVAT for video tracks and Label Studio results cost only the record that
repeats them (the track, the shape, the result), named by file and number, not the frame or
task with every other ROI on it."""

from __future__ import annotations

import json
from pathlib import Path

import workbench
from workbench.ingest import CatalogWriter, Frame, Source, cvat_xml, labelstudio_json


def _catalog(path: Path) -> None:
    with workbench.open(path) as catalog, CatalogWriter(catalog, progress=False) as writer:
        for n in range(2):
            writer.add(Frame(f"f{n}", sources=[Source("image", f"/d/{n}.jpg", 100, 100)],
                             context_id="clip", frame_index=n))  # fmt: skip


def _box(frame: int, x: int) -> str:
    return (f'<box frame="{frame}" xtl="{x}" ytl="1" xbr="{x + 3}" ybr="4" outside="0" '
            'keyframe="1"/>')  # fmt: skip


def test_a_repeated_or_bad_track_costs_only_that_track(tmp_path):
    _catalog(tmp_path / "c.duckdb")
    xml = (
        "<annotations><version>1.1</version><meta><task><name>clip</name></task></meta>"
        f'<track id="0" label="car">{_box(0, 1)}</track>'
        f'<track id="0" label="car">{_box(0, 2)}</track>'
        f'<track id="x" label="car">{_box(1, 3)}</track>'
        f'<track id="1" label="car">{_box(0, 4)}{_box(1, 4)}{_box(1, 5)}</track>'
        "</annotations>"
    )
    path = tmp_path / "v.xml"
    path.write_text(xml)
    with workbench.open(tmp_path / "c.duckdb") as catalog:
        report = cvat_xml.import_files(catalog, [path], progress=False)
        rows = catalog.sql("SELECT frame_id, id, x_min FROM rois ORDER BY ALL").fetchall()
    assert [(e.where, e.problem) for e in report.errors] == [
        (f"{path}, <track> #2", "track id 0 is an earlier track's"),
        (f"{path}, <track> #3", "id must be an integer, got 'x'"),
        (f"{path}, <track> #4, <box> #3", "a second shape of the track on frame 1"),
    ]
    assert rows == [("f0", "track0", 1.0), ("f0", "track1", 4.0), ("f1", "track1", 4.0)]


def test_a_repeated_result_id_costs_only_that_result(tmp_path):
    _catalog(tmp_path / "c.duckdb")

    def box(result_id: str, x: int) -> dict:
        value = {"x": x, "y": 1, "width": 5, "height": 5, "rectanglelabels": ["car"]}
        return {"id": result_id, "type": "rectanglelabels", "from_name": "label",
                "to_name": "image", "original_width": 100, "original_height": 100,
                "value": value}  # fmt: skip

    results = [box("a", 1), box("a", 2), box("b", 3)]
    path = tmp_path / "t.json"
    path.write_text(json.dumps([{"id": 1, "data": {"image": "/d/0.jpg"},
                                 "annotations": [{"result": results}]}]))  # fmt: skip
    with workbench.open(tmp_path / "c.duckdb") as catalog:
        report = labelstudio_json.import_files(catalog, [path], progress=False)
        rows = catalog.sql("SELECT frame_id, id, x_min FROM rois ORDER BY ALL").fetchall()
    assert [(e.where, e.problem) for e in report.errors] == [
        (f"{path}, task #1, result 2", "result id 'a' is an earlier result's")
    ]
    assert rows == [("f0", "a", 1.0), ("f0", "b", 3.0)]
