"""CVAT for video with keypoints and masks, judged by datumaro (CVAT's format library, in its
own virtualenv): a track of keypoints is a track of skeletons as CVAT writes it, its points
also naming their frame, which datumaro needs to read each point as a points shape of the
track (with its outside and occluded flags); it comes back whole through our import. Masks,
which datumaro cannot read in a track, are left out and counted with that reason."""

from __future__ import annotations

from pathlib import Path

import numpy as np

import workbench
from workbench.ingest import CatalogWriter, Frame, Roi, Source, _cvat_shapes, box_ring, cvat_xml
from workbench.model import rle
from workbench.model.keypoints import KeypointLabel

from .sdk_venv import run_in_sdk_venv

_READ = """
import json, sys
import datumaro as dm
ds = dm.Dataset.import_from(sys.argv[1], "cvat")
labels = ds.categories()[dm.AnnotationType.label]
print(json.dumps(sorted(
    [item.id, a.type.name, labels[a.label].name, [round(v, 2) for v in a.points],
     a.attributes.get("track_id"), a.attributes.get("outside"), a.attributes.get("occluded")]
    for item in ds for a in item.annotations)))
"""


def _catalog(path: Path) -> None:
    pixels = np.zeros((20, 30), dtype=np.uint8)
    with workbench.open(path) as catalog, CatalogWriter(catalog, progress=False) as writer:
        writer.add_keypoint_labels([KeypointLabel("person", ("nose", "tail"), ((1, 2),))])
        for n in range(3):
            pixels[2 + n : 6 + n, 3:9] = 1
            mask = {"rle": {"size": [20, 30], "counts": rle.to_string(rle.encode(pixels))}}
            rois = [
                Roi("b", "box", ["car"], geometry=[box_ring(1 + n, 2, 5, 6)], track_index=0),
                Roi("m", "mask", ["blob"], mask=mask, track_index=1),
            ]
            if n < 2:  # the person leaves after two frames; its tail unseen, then occluded
                rois.append(Roi("k", "keypoints", ["person"], geometry=[[1 + n, 2, 3, 4 + n]],
                                visibility=[2, n], track_index=2, keyframe=n == 0))  # fmt: skip
            writer.add(Frame(f"f{n}", sources=[Source("image", f"/v/{n}.jpg", 30, 20)],
                             rois=rois, context_id="clip", frame_index=n * 5))  # fmt: skip


def test_a_track_of_keypoints_is_a_track_of_skeletons_datumaro_reads(tmp_path):
    path = tmp_path / "c.duckdb"
    _catalog(path)
    with workbench.open(path) as catalog:
        report = cvat_xml.export_files(catalog.view(), tmp_path / "v", progress=False,
                                       mode="video")  # fmt: skip
        assert (report.rois, report.skipped) == (5, [f"3 {_cvat_shapes.MASKS_IN_TRACKS}"])
        loaded = run_in_sdk_venv(_READ, str(tmp_path / "v" / "clip.xml"))
        again = cvat_xml.import_files(catalog, report.files, progress=False, field="again")
        assert again.ok, again.errors
        back = catalog.sql(
            "SELECT field, frame_id, geometry, visibility, track_index, keyframe FROM rois "
            "WHERE kind = 'keypoints' ORDER BY ALL"
        ).fetchall()
    track = 2  # the third track (the masks', the second, is left out)
    assert [a for a in loaded if a[1] == "points"] == [
        ["frame_000000", "points", "person", [1.0, 2.0], track, False, False],
        ["frame_000000", "points", "person", [3.0, 4.0], track, True, False],
        ["frame_000005", "points", "person", [2.0, 2.0], track, False, False],
        ["frame_000005", "points", "person", [3.0, 5.0], track, False, True],
        # the track's end, as CVAT marks it: every point outside on the next frame
        ["frame_000006", "points", "person", [2.0, 2.0], track, True, False],
        ["frame_000006", "points", "person", [3.0, 5.0], track, True, True],
    ]
    assert [a[:3] for a in loaded if a[1] == "bbox"] == [
        ["frame_000000", "bbox", "car"], ["frame_000005", "bbox", "car"],
        ["frame_000010", "bbox", "car"],
    ]  # fmt: skip
    ours = [row[1:] for row in back if row[0] == "ground_truth"]
    assert [(f, g, v, k) for f, g, v, _, k in ours] == [
        ("f0", [[1.0, 2.0, 3.0, 4.0]], [2, 0], True),
        ("f1", [[2.0, 2.0, 3.0, 5.0]], [2, 1], False),
    ]
    assert [row[1:] for row in back if row[0] == "again"] == [
        (f, g, v, track, k) for f, g, v, _, k in ours
    ]
