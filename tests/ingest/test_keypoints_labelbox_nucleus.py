"""Keypoints ROIs in the Labelbox and Nucleus exports: Labelbox gets one point object per
labelled point (parsed by Labelbox's own SDK models), Nucleus scenes carry no ROIs and the
report counts every ROI left out; what cannot be written is counted as skipped."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import workbench
from workbench.ingest import CatalogWriter, Frame, Roi, Source, box_ring, labelbox, nucleus
from workbench.model.keypoints import KeypointLabel

objects = pytest.importorskip("labelbox.data.serialization.ndjson.objects")

VIDEO = "clip.mp4"
HAND = KeypointLabel("hand", ("thumb", "index", "little"), ((1, 2), (2, 3)))


def _catalog(tmp_path: Path) -> workbench.Catalog:
    """A video of three frames: a hand tracked over frames 1-2 (its index finger unlabelled
    on frame 2, its little finger labelled but hidden on frame 1), a box, and keypoints that
    cannot be written (a label without point names, a hand with no labelled point)."""
    catalog = workbench.open(tmp_path / "c.duckdb")
    with CatalogWriter(catalog, progress=False) as writer:
        writer.add_keypoint_labels([HAND])
        for n in range(3):
            rois = []
            if n < 2:
                visibility = [2, 2, 1] if n == 0 else [2, 0, 2]
                ring = [10 + n, 20, 30, 40 + n, 50, 60] if n == 0 else [11, 20, 0, 0, 52, 62]
                rois.append(Roi("h", "keypoints", ["hand"], "predictions", [ring], 0.9,
                                track_index=0, keyframe=True, visibility=visibility))  # fmt: skip
            if n == 2:
                rois += [
                    Roi("b", "box", ["car"], "predictions", [box_ring(5, 5, 10, 10)]),
                    Roi("p", "keypoints", ["paw"], "predictions", [[1, 2]], visibility=[2]),
                    Roi("e", "keypoints", ["hand"], "predictions", [[0, 0] * 3],
                        visibility=[0, 0, 0], bbox=(1, 1, 4, 4)),
                ]  # fmt: skip
            source = Source("image", f"/v/{n}.jpg", 200, 100)
            writer.add(Frame(f"f{n + 1}", context_id=VIDEO, frame_index=n, sources=[source],
                             rois=rois))  # fmt: skip
    return catalog


def test_labelbox_export_writes_keypoints_as_point_objects(tmp_path: Path) -> None:
    with _catalog(tmp_path) as catalog:
        report = labelbox.export_files(catalog.view(), tmp_path / "out.ndjson", progress=False)
        assert report.rois == 3  # the hand on two frames and the box
        assert sorted(report.skipped) == [
            "1 keypoints ROIs whose label has no point names",
            "1 keypoints ROIs without a labelled point",
        ]
        lines = [json.loads(t) for t in report.dest.read_text().splitlines()]
        for line in lines:
            objects.NDSegments.model_validate(line)  # Labelbox's own model of an object line
        assert len({line["uuid"] for line in lines}) == len(lines)
        points = {
            line["name"]: [
                (k["frame"], k["point"]) for s in line["segments"] for k in s["keyframes"]
            ]
            for line in lines
            if "point" in line["segments"][0]["keyframes"][0]
        }
        assert points == {
            "thumb": [(1, {"x": 10, "y": 20}), (2, {"x": 11, "y": 20})],
            "index": [(1, {"x": 30, "y": 40})],
            "little": [(1, {"x": 50, "y": 60}), (2, {"x": 52, "y": 62})],
        }
        # Read back, each is a point ROI named by its point.
        done = labelbox.import_files(catalog, [report.dest], progress=False, field="again")
        assert done.ok, done
        rows = catalog.sql(
            "SELECT frame_id, label, kind, geometry FROM rois WHERE field = 'again'"
            " AND kind = 'point' ORDER BY label, frame_id"
        ).fetchall()
        assert rows == [
            ("f1", "index", "point", [[30, 40]]),
            ("f1", "little", "point", [[50, 60]]),
            ("f2", "little", "point", [[52, 62]]),
            ("f1", "thumb", "point", [[10, 20]]),
            ("f2", "thumb", "point", [[11, 20]]),
        ]


def test_nucleus_scene_export_counts_the_rois_it_leaves_out(tmp_path: Path) -> None:
    with _catalog(tmp_path) as catalog:
        report = nucleus.export_files(catalog.view(), tmp_path / "scenes.json", progress=False)
        assert report.frames == 3
        assert report.skipped == [
            "1 box ROIs (a Nucleus scene carries no annotations: export them as nucleus_annotations)",
            "4 keypoints ROIs (a Nucleus scene carries no annotations: export them as nucleus_annotations)",
        ]
        narrowed = catalog.view().filter_rois("predictions", labels=["car"])
        report = nucleus.export_files(narrowed, tmp_path / "cars.json", progress=False)
        assert report.skipped == [
            "1 box ROIs (a Nucleus scene carries no annotations: export them as nucleus_annotations)"
        ]
