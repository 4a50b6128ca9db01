"""Text answers held on frames, judged by Labelbox's own SDK: it writes them as NDVideoText
(`"answer": [{"value": text, "frames": [...]}]`), which imports as text answers on those
frames, and our export writes them so; the SDK's NDText would read a text with a top-level
`frames` as an answer of the whole video."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import workbench
from workbench.ingest import CatalogWriter, Frame, Source, labelbox

lb = pytest.importorskip("labelbox.types")
serialization = pytest.importorskip("labelbox.data.serialization")
classification = pytest.importorskip("labelbox.data.serialization.ndjson.classification")

VIDEO = "clip.mp4"


@pytest.fixture
def catalog(tmp_path: Path):
    with workbench.open(tmp_path / "c.duckdb") as cat:
        with CatalogWriter(cat, progress=False) as writer:
            for n in range(6):
                writer.add(Frame(f"f{n + 1}", context_id=VIDEO, frame_index=n,
                                 sources=[Source("image", f"/v/{n}.jpg", 200, 100)]))  # fmt: skip
        yield cat


def _sdk_file(path: Path) -> Path:
    anns = [
        lb.VideoClassificationAnnotation(
            name="notes", frame=frame, segment_index=0, value=lb.Text(answer=text)
        )
        for frame, text in ((1, "hi"), (2, "hi"), (4, "bye"))
    ]
    anns.append(lb.ClassificationAnnotation(name="summary", value=lb.Text(answer="all")))
    label = lb.Label(data={"global_key": VIDEO}, annotations=anns)
    lines = list(serialization.NDJsonConverter.serialize([label]))
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return path


def _answers(catalog, label: str) -> list[tuple]:
    return catalog.sql(
        "SELECT frame_id, attributes->>'$.type', attributes->>'$.answer' FROM rois "
        "WHERE label = ? ORDER BY frame_id",
        params=[label],
    ).fetchall()


def test_texts_on_frames_the_sdk_wrote_import_as_texts(catalog, tmp_path):
    report = labelbox.import_files(catalog, [_sdk_file(tmp_path / "sdk.ndjson")], progress=False)
    assert report.ok, report
    assert _answers(catalog, "notes") == [("f1", "text", "hi"), ("f2", "text", "hi"),
                                          ("f4", "text", "bye")]  # fmt: skip
    assert [a[1:] for a in _answers(catalog, "summary")] == [("text", "all")] * 6


def test_our_export_of_texts_on_frames_keeps_their_frames_in_the_sdk(catalog, tmp_path):
    path = _sdk_file(tmp_path / "sdk.ndjson")
    # A text with top-level frames, as older files give it, is a text on those frames too.
    old = {"uuid": "old", "name": "old", "dataRow": {"globalKey": VIDEO}, "answer": "x",
           "frames": [{"start": 5, "end": 6}]}  # fmt: skip
    path.write_text(path.read_text() + json.dumps(old) + "\n")
    assert labelbox.import_files(catalog, [path], progress=False).ok
    before = {label: _answers(catalog, label) for label in ("notes", "summary", "old")}
    out = labelbox.export_files(catalog.view(), tmp_path / "out.ndjson", progress=False)
    lines = {line["name"]: line for line in map(json.loads, out.dest.read_text().splitlines())}
    read = {
        name: classification.NDVideoText.model_validate(lines[name]).model_dump(by_alias=True)
        for name in ("notes", "old")
    }
    assert read["notes"]["answer"] == [
        {"value": "hi", "frames": [{"start": 1, "end": 2}]},
        {"value": "bye", "frames": [{"start": 4, "end": 4}]},
    ]
    assert read["old"]["answer"] == [{"value": "x", "frames": [{"start": 5, "end": 6}]}]
    assert classification.NDText.model_validate(lines["summary"]).answer == "all"
    uuids = [line["uuid"] for line in lines.values()]
    assert len(uuids) == len(set(uuids)) == 3
    assert labelbox.import_files(catalog, [out.dest], progress=False).ok
    assert {label: _answers(catalog, label) for label in before} == before
