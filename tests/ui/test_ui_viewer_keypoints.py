"""The viewer draws a keypoints ROI as its labelled points, named on hover, with its label's
skeleton between them (names and skeleton read from the catalog's keypoint_labels)."""

from __future__ import annotations

import json
from pathlib import Path

from PIL import Image

import workbench
from workbench.backends import LocalBackend
from workbench.ingest import CatalogWriter, Frame, Roi, Source
from workbench.model.keypoints import KeypointLabel
from workbench.services import Workbench
from workbench.ui.media import ServedMediaUrls
from workbench.ui.state import WorkbenchState
from workbench.ui.viewer import TOOLTIPS, FrameViewer


def test_the_viewer_names_keypoints_and_joins_them(tmp_path: Path) -> None:
    picture = tmp_path / "p.jpg"
    Image.new("RGB", (64, 48)).save(picture)
    person = Roi("p1", "keypoints", ["person"], geometry=[[10, 12, 20, 22, 0, 0]],
                 visibility=[2, 2, 0])  # fmt: skip
    with workbench.open(tmp_path / "c.duckdb") as catalog:
        with CatalogWriter(catalog, progress=False) as writer:
            source = Source("image", str(picture), 64, 48)
            writer.add(Frame("f", sources=[source], rois=[person], context_id="ctx"))
            names = ("nose", "<i>eye</i>", "ear")
            writer.add_keypoint_labels([KeypointLabel("person", names, ((1, 2), (2, 3)))])
        service = Workbench(catalog, actor="ana", backends={"local": LocalBackend()})
        state = WorkbenchState(catalog, ServedMediaUrls(), service=service)
        viewer = FrameViewer(state)
        state.open_tile("ctx")
        (plot,) = viewer.plots
        assert plot.points["point"] == ["nose", "<i>eye</i>"]
        assert plot.points["label"] == ["person", "person"]
        assert plot.lines["xs"] == [[10.0, 20.0]]
        assert ("point", "@point") in TOOLTIPS
        # the hover rows go to the browser as strings, drawn as text, never as HTML
        sent = json.loads(viewer.canvas.frame_json)["sources"][0]["points"]
        assert [dict(p["hv"])["point"] for p in sent] == ["nose", "<i>eye</i>"]
