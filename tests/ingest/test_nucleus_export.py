"""The Nucleus export built by the catalog's engine writes what the scene-by-scene Python
payload (`_scene_payload` over the view's frames) writes, scene for scene, in every case the
SQL handles and those it leaves to Python; and it writes a group of contexts at a time."""

import json
from pathlib import Path

import pytest

import workbench
from workbench.ingest import CatalogWriter, Frame, Source
from workbench.ingest import _nucleus_export as nucleus_export
from workbench.ingest._nucleus_export import _scene_payload, export_files
from workbench.ingest.views import view_frames


def _frames() -> list[Frame]:
    def frame(i: int, context: str | None, **extra) -> Frame:
        sources = extra.pop("sources", [Source("image", f"s3://b/{context}/{i}.jpg")])
        return Frame(f"{context}-{i}", sources, context_id=context, **extra)

    meta = {"scene": {"site": "A"}, "fps": 12.5, "speed": 3, "video": "v.mp4"}
    return [
        # A scene as imported, frames given out of order, one without an image.
        *(
            frame(i, "s1", frame_index=(7 - i), timestamp=80 * (7 - i), metadata=meta)
            for i in range(8)
        ),
        frame(9, "s1", frame_index=9, sources=[]),
        # Several sources: the one named "image" first, else the smallest id; other suffixes.
        frame(
            0,
            "s2",
            frame_index=0,
            timestamp=0,
            sources=[Source("b", "s3://b/x.png"), Source("a", "s3://b/y.webp?x=1.jpg")],
        ),
        frame(
            1,
            "s2",
            frame_index=1,
            timestamp=40,
            sources=[Source("z", "s3://b/z.jpg"), Source("image", "gs://c/noext")],
        ),
        # No frame rate imported: derived from the timestamps; frames without an index last.
        frame(0, "s3", frame_index=None, timestamp=5, metadata={"k": "\u2028 é"}),
        frame(1, "s3", frame_index=2, timestamp=1000),
        frame(2, "s3", frame_index=4, timestamp=1500, metadata={"nested": {"a": [1, 2.5]}}),
        # Values left to Python: a 20-digit integer.
        frame(0, "s4", frame_index=0, metadata={"big": 123456789012345678901234}),
        frame(1, "s4", frame_index=1),
        # No context id (the catalog gives it one), and a scene whose only frame has no image.
        frame(0, None, timestamp=3),
        frame(0, "s5", sources=[]),
    ]


@pytest.fixture
def catalog(tmp_path: Path):
    with workbench.open(tmp_path / "c.duckdb") as cat:
        with CatalogWriter(cat, progress=False) as writer:
            for f in _frames():
                writer.add(f)
        yield cat


def _expected(view, frame_rate=None) -> tuple[list[dict], list[str], int]:
    by_context: dict = {}
    for chunk in view_frames(view.catalog, view.frame_ids()):
        for f in chunk:
            by_context.setdefault(f.context_id, []).append(f)
    scenes, skipped, count = [], [], 0
    for context, frames in by_context.items():
        frames.sort(key=lambda f: (f.frame_index is None, f.frame_index or 0, f.timestamp or 0))
        scene, left = _scene_payload(context, frames, frame_rate)
        skipped += left
        if scene["frames"]:
            scenes.append(scene)
            count += len(scene["frames"])
    return scenes, skipped, count


@pytest.mark.parametrize("name", ["out.ndjson", "out.json"])
@pytest.mark.parametrize("frame_rate", [None, 7.5])
def test_export_writes_what_the_python_payload_writes(catalog, tmp_path, name, frame_rate):
    view = catalog.view()
    report = export_files(view, tmp_path / name, progress=False, frame_rate=frame_rate)
    text = (tmp_path / name).read_text()
    written = json.loads(text) if name.endswith(".json") else [
        json.loads(line) for line in text.splitlines()
    ]  # fmt: skip
    scenes, skipped, count = _expected(view, frame_rate)
    assert written == scenes
    assert report.skipped == skipped and report.frames == count
    assert {"s1", "s2", "s3", "s4"} < {s["reference_id"] for s in written} and len(written) == 5
    assert "\u2028" not in text  # NDJSON readers that split on it read whole lines


def test_export_writes_a_group_of_contexts_at_a_time(catalog, tmp_path, monkeypatch):
    whole = export_files(catalog.view(), tmp_path / "a.ndjson", progress=False)
    monkeypatch.setattr(nucleus_export, "_FRAMES_PER_GROUP", 1)
    again = export_files(catalog.view(), tmp_path / "b.ndjson", progress=False)
    assert (tmp_path / "a.ndjson").read_text() == (tmp_path / "b.ndjson").read_text()
    assert (whole.frames, whole.skipped) == (again.frames, again.skipped)


def test_a_narrowed_view_exports_its_frames_in_its_order(catalog, tmp_path):
    view = catalog.view().where("context_id IN ('s2', 's3')").sort_by("id", reverse=True)
    export_files(view, tmp_path / "o.ndjson", progress=False)
    lines = [json.loads(line) for line in (tmp_path / "o.ndjson").read_text().splitlines()]
    assert lines == _expected(view)[0]
    assert [s["reference_id"] for s in lines] == ["s3", "s2"]
