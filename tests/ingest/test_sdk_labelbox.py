"""Labelbox's own SDK as the judge: files its NDJsonConverter writes import as meant, and
every line of our exports parses as the SDK's NDJSON models with uuids Labelbox accepts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import workbench
from workbench.ingest import CatalogWriter, Frame, Source, labelbox

lb = pytest.importorskip("labelbox.types")
serialization = pytest.importorskip("labelbox.data.serialization")
classification = pytest.importorskip("labelbox.data.serialization.ndjson.classification")
objects = pytest.importorskip("labelbox.data.serialization.ndjson.objects")

VIDEO = "clip.mp4"


def _sdk_label():
    anns = []
    for frame in (1, 2, 3, 5):
        box = lb.Rectangle(start=lb.Point(x=10 * frame, y=5), end=lb.Point(x=10 * frame + 30, y=25))
        anns.append(lb.VideoObjectAnnotation(name="car", keyframe=True, frame=frame,
                                             segment_index=0 if frame < 4 else 1, value=box))  # fmt: skip
    for frame in (1, 2):
        rain = lb.Radio(answer=lb.ClassificationAnswer(name="rain"))
        anns.append(lb.VideoClassificationAnnotation(name="weather", frame=frame, segment_index=0,
                                                     value=rain))  # fmt: skip
    for frame in (2, 3):
        glare = lb.Checklist(answer=[lb.ClassificationAnswer(name="glare")])
        anns.append(lb.VideoClassificationAnnotation(name="hazards", frame=frame, segment_index=0,
                                                     value=glare))  # fmt: skip
    anns.append(lb.ClassificationAnnotation(name="notes", value=lb.Text(answer="shaky")))
    return lb.Label(data={"global_key": VIDEO}, annotations=anns)


@pytest.fixture
def catalog(tmp_path: Path):
    with workbench.open(tmp_path / "c.duckdb") as cat:
        with CatalogWriter(cat, progress=False) as writer:
            for n in range(6):
                writer.add(Frame(f"f{n + 1}", context_id=VIDEO, frame_index=n,
                                 sources=[Source("image", f"/v/{n}.jpg", 200, 100)]))  # fmt: skip
        yield cat


def _rois(catalog) -> list[tuple]:
    return catalog.sql(
        "SELECT frame_id, label, kind, keyframe, geometry, attributes->>'$.answer' FROM rois "
        "ORDER BY label, frame_id"
    ).fetchall()


def test_a_file_the_sdk_wrote_imports_as_meant(catalog, tmp_path):
    lines = list(serialization.NDJsonConverter.serialize([_sdk_label()]))
    path = tmp_path / "sdk.ndjson"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    report = labelbox.import_files(catalog, [path], progress=False)
    assert report.ok, report
    rois = _rois(catalog)
    car = [(f, k, g[0][:2]) for f, label, _, k, g, _ in rois if label == "car"]
    assert car == [("f1", True, [10, 5]), ("f2", True, [20, 5]), ("f3", True, [30, 5]),
                   ("f5", True, [50, 5])]  # fmt: skip
    assert [(f, a) for f, label, *_, a in rois if label == "weather"] == [
        ("f1", '{"name":"rain"}'),
        ("f2", '{"name":"rain"}'),
    ]
    assert [f for f, label, *_ in rois if label == "hazards"] == ["f2", "f3"]
    assert [f for f, label, *_ in rois if label == "notes"] == [f"f{n}" for n in range(1, 7)]


def _check_with_the_sdk(line: dict) -> None:
    if "segments" in line:
        objects.NDSegments.model_validate(line)
    elif isinstance(line["answer"], str):
        classification.NDText.model_validate(line)
    elif isinstance(line["answer"], list):
        classification.NDChecklist.model_validate(line)
    else:
        classification.NDRadio.model_validate(line)


def test_our_export_parses_as_the_sdk_models_and_round_trips(catalog, tmp_path):
    lines = list(serialization.NDJsonConverter.serialize([_sdk_label()]))
    path = tmp_path / "sdk.ndjson"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    assert labelbox.import_files(catalog, [path], progress=False).ok
    before = _rois(catalog)
    out = labelbox.export_files(catalog.view(), tmp_path / "out.ndjson", progress=False)
    exported = [json.loads(t) for t in out.dest.read_text().splitlines()]
    for line in exported:
        _check_with_the_sdk(line)
    uuids = [line["uuid"] for line in exported]
    assert len(uuids) == len(set(uuids)), "Labelbox refuses a file whose uuids repeat"
    assert labelbox.import_files(catalog, [out.dest], progress=False).ok
    after = _rois(catalog)
    assert [r[:5] for r in after] == [r[:5] for r in before]
    assert [r[5] for r in after] == [r[5] for r in before]
