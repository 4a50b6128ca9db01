"""Lines Labelbox's SDK writes that the catalog cannot hold, refused by what they are: a
relationship between objects (NDRelationship) and video masks (NDVideoMasks) of remote
pictures each cost their own line, named, and the other lines of the file are imported. A data row is named by one key
in our export, as the SDK's DataRow requires, whichever key is asked for."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import workbench
from workbench.ingest import CatalogWriter, Frame, Source, labelbox

lb = pytest.importorskip("labelbox.types")
serialization = pytest.importorskip("labelbox.data.serialization")
objects = pytest.importorskip("labelbox.data.serialization.ndjson.objects")

VIDEO = "clip.mp4"


def _lines() -> list[dict]:
    boxes = [lb.Rectangle(start=lb.Point(x=x, y=2), end=lb.Point(x=x + 5, y=6)) for x in (1, 3)]
    car = lb.ObjectAnnotation(name="car", value=boxes[0])
    person = lb.ObjectAnnotation(name="person", value=boxes[1])
    drives = lb.RelationshipAnnotation(name="drives", value=lb.Relationship(
        source=person, target=car, type=lb.Relationship.Type.UNIDIRECTIONAL))  # fmt: skip
    masks = lb.VideoMaskAnnotation(
        frames=[lb.MaskFrame(index=n, instance_uri=f"https://x/m{n}.png") for n in (1, 2)],
        instances=[lb.MaskInstance(color_rgb=(255, 0, 0), name="road")],
    )
    tracked = [lb.VideoObjectAnnotation(name="bus", keyframe=True, frame=n, segment_index=0,
                                        value=boxes[0]) for n in (1, 2)]  # fmt: skip
    label = lb.Label(data={"global_key": VIDEO}, annotations=[drives, masks, *tracked])
    return list(serialization.NDJsonConverter.serialize([label]))


@pytest.fixture
def catalog(tmp_path: Path):
    with workbench.open(tmp_path / "c.duckdb") as cat:
        with CatalogWriter(cat, progress=False) as writer:
            for n in range(3):
                writer.add(Frame(f"f{n + 1}", context_id=VIDEO, frame_index=n,
                                 sources=[Source("image", f"/v/{n}.jpg", 200, 100)]))  # fmt: skip
        yield cat


def test_relationships_and_remote_video_masks_are_refused_by_name(catalog, tmp_path):
    lines = _lines()
    kinds = ["relationship" if "relationship" in x else "masks" if "masks" in x else "segments"
             for x in lines]  # fmt: skip
    path = tmp_path / "sdk.ndjson"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    report = labelbox.import_files(catalog, [path], progress=False)
    problems = {
        "relationship": "a relationship between objects is not imported (the catalog holds none)",
        # video masks are imported (test_sdk_labelbox_video_masks.py), from local pictures
        "masks": "mask picture 'https://x/m1.png' is not a local file (nothing is fetched)",
    }
    assert [(e.where, e.problem) for e in report.errors] == [
        (f"{path}:{n + 1}", problems[kind]) for n, kind in enumerate(kinds) if kind in problems
    ]
    assert catalog.sql("SELECT frame_id, label FROM rois ORDER BY 1").fetchall() == [
        ("f1", "bus"), ("f2", "bus")]  # fmt: skip


@pytest.mark.parametrize("key", ["globalKey", "id"])
def test_our_export_names_a_data_row_by_one_key(catalog, tmp_path, key):
    lines = [x for x in _lines() if "segments" in x]
    path = tmp_path / "sdk.ndjson"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    assert labelbox.import_files(catalog, [path], progress=False).ok
    rows = {VIDEO: "ckrb1sf1i1g7i0ybcdc6oc8ct"} if key == "id" else None
    out = labelbox.export_files(catalog.view(), tmp_path / "out.ndjson", progress=False,
                                data_rows=rows, data_row_key=key)  # fmt: skip
    for line in (json.loads(t) for t in out.dest.read_text().splitlines()):
        assert list(line["dataRow"]) == [key]
        objects.NDSegments.model_validate(line)  # the SDK's DataRow: exactly one key
