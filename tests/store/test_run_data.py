"""What the catalog tells a backend about a run's frames, inputs and label schema."""

from __future__ import annotations

import pytest
from PIL import Image

import workbench
from workbench.backends import LocalBackend
from workbench.ingest import CatalogWriter, Frame, Source
from workbench.services import Workbench
from workbench.store.run_data import (
    SourceRef,
    frame_sources,
    run_input_frames,
    run_label_schema,
)


@pytest.fixture
def catalog(tmp_path):
    media = {}
    for name in ("rear", "front", "solo"):
        media[name] = str(tmp_path / f"{name}.jpg")
        Image.new("RGB", (10, 10)).save(media[name])
    with workbench.open(tmp_path / "run.duckdb") as cat:
        with CatalogWriter(cat, progress=False) as writer:
            writer.add(
                Frame(
                    "rig",
                    sources=[
                        Source("rear", media["rear"], 640, 480, "image/jpeg"),
                        Source("front", media["front"]),
                    ],
                    context_id="drive",
                    timestamp=5,
                    frame_index=2,
                )
            )
            writer.add(Frame("bare", context_id="empty", timestamp=6))
            writer.add(Frame("solo", sources=[Source("image", media["solo"], 10, 10)]))
        yield cat


def test_frames_come_with_their_sources_by_id(catalog, tmp_path):
    found = frame_sources(catalog.cursor(), ["rig", "bare", "nowhere", "rig"])
    assert sorted(found) == ["bare", "nowhere", "rig"]
    rig = found["rig"]
    assert (rig.context_id, rig.timestamp, rig.frame_index) == ("drive", 5, 2)
    assert found["bare"].context_id == "empty"
    assert rig.sources == (
        SourceRef("front", str(tmp_path / "front.jpg"), None, None, None),
        SourceRef("rear", str(tmp_path / "rear.jpg"), 640, 480, "image/jpeg"),
    )
    assert found["bare"].sources == ()
    assert found["nowhere"].context_id is None and found["nowhere"].sources == ()
    assert rig.sources[1].as_dict()["content_type"] == "image/jpeg"
    assert frame_sources(catalog.cursor(), []) == {}


def test_a_runs_inputs_and_label_schema(catalog):
    wb = Workbench(catalog, backends={"local": LocalBackend()})
    info = wb.annotate(
        ["rig", "solo"],
        "run",
        backend="local",
        label_field="gt",
        label_type="detections",
        classes=["car"],
    ).info
    con = catalog.cursor()
    held = run_input_frames(con, info.run_id)
    assert sorted(held) == ["rig", "solo"] and len(set(held.values())) == 2
    schema = run_label_schema(con, info.run_id)
    assert schema is not None and schema["fields"]["gt"]["classes"] == ["car"]
    assert run_label_schema(con, "no-such-run") is None
    assert run_input_frames(con, "no-such-run") == {}
