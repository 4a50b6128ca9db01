"""CVAT for images / CVAT for video 1.1 XML, judged by datumaro (CVAT's format library, in its
own virtualenv): its files import as meant, ours load in it, and a round trip keeps the ROIs."""

from __future__ import annotations

from pathlib import Path

import pytest

import workbench
from workbench.errors import IngestError
from workbench.ingest import CatalogWriter, Frame, Roi, Source, box_ring, cvat_xml

from .sdk_venv import run_in_sdk_venv


def _catalog(tmp_path: Path, frames: int = 3) -> Path:
    path = tmp_path / "c.duckdb"
    with workbench.open(path) as catalog, CatalogWriter(catalog, progress=False) as writer:
        for n in range(frames):
            rois = [
                Roi("b", "box", ["car"], geometry=[box_ring(1 + n, 2, 5, 6)], track_index=0,
                    attributes={"occluded": False, "color": "red"}),
                Roi("p", "polygon", ["person"], geometry=[[1, 1, 9, 1, 5, 8]],
                    attributes={"occluded": True}),
                Roi("l", "polyline", ["lane"], geometry=[[0, 0, 4, 4]], track_index=1,
                    attributes={"occluded": False}),
                Roi("k", "point", ["nose"], geometry=[[3, 4, 5, 6]], attributes={"occluded": False}),
                Roi("t", "classification", ["day"]),
            ]  # fmt: skip
            source = Source("image", f"/data/clip/{n:04d}.jpg", 30, 20)
            writer.add(Frame(f"f{n}", sources=[source], rois=rois, context_id="clip",
                             frame_index=n * 5))  # fmt: skip
    return path


def _rois(catalog) -> list[tuple]:
    return catalog.sql(
        "SELECT frame_id, label, kind, geometry, attributes->>'$.occluded', track_index "
        "FROM rois ORDER BY frame_id, label"
    ).fetchall()


def test_images_round_trip(tmp_path):
    path = _catalog(tmp_path)
    with workbench.open(path) as catalog:
        before = _rois(catalog)
        report = cvat_xml.export_files(catalog.view(), tmp_path / "out.xml", progress=False)
        assert (report.frames, report.rois, report.skipped) == (3, 15, [])
        done = cvat_xml.import_files(catalog, [tmp_path / "out.xml"], progress=False)
        assert done.ok, done
        after = _rois(catalog)
    assert [r[:5] for r in after] == [r[:5] for r in before]


def test_video_round_trip_keeps_tracks_and_true_frame_numbers(tmp_path):
    path = _catalog(tmp_path)
    with workbench.open(path) as catalog:
        before = [r for r in _rois(catalog) if r[2] != "classification"]
        report = cvat_xml.export_files(catalog.view(), tmp_path / "v", progress=False,
                                       mode="video")  # fmt: skip
        text = (tmp_path / "v" / "clip.xml").read_text()
        assert 'frame="10"' in text and 'outside="1"' not in text.split("</track>")[0]
        assert report.rois == 12  # the tags of a video are not written
        assert cvat_xml.import_files(catalog, report.files, progress=False).ok
        after = _rois(catalog)
    assert [r[:4] for r in after] == [r[:4] for r in before]
    # A track per tracked object, one per untracked ROI (CVAT for video holds only tracks).
    assert len({r[5] for r in after if r[1] == "car"}) == 1
    assert len({r[5] for r in after}) == 2 + 2 * 3


def test_a_doctype_is_refused(tmp_path):
    bad = tmp_path / "bad.xml"
    bad.write_text('<?xml version="1.0"?><!DOCTYPE a [<!ENTITY x "y">]><annotations/>')
    with workbench.open(tmp_path / "c.duckdb") as catalog, pytest.raises(IngestError):
        cvat_xml.import_files(catalog, [bad], progress=False)


_DATUMARO_WRITE = """
import json, sys
import datumaro as dm, numpy as np
from datumaro.components.media import Image
anns = [dm.Bbox(1, 2, 5, 6, label=0, attributes={"occluded": True}),
        dm.Polygon([1, 1, 9, 1, 5, 8], label=1), dm.Points([3, 4, 5, 6], label=1),
        dm.PolyLine([1, 1, 4, 4], label=0), dm.Label(1)]
items = [dm.DatasetItem(id="0000", subset="default", annotations=anns,
                        media=Image.from_numpy(np.zeros((20, 30, 3), dtype=np.uint8)))]
dm.Dataset.from_iterable(items, categories=["car", "person"]).export(sys.argv[1], "cvat")
print(json.dumps("ok"))
"""
_DATUMARO_READ = """
import json, sys
import datumaro as dm
ds = dm.Dataset.import_from(sys.argv[1], "cvat")
labels = ds.categories()[dm.AnnotationType.label]
print(json.dumps(sorted([item.id, labels[a.label].name, a.type.name,
                         [round(p, 3) for p in getattr(a, "points", [])]]
                        for item in ds for a in item.annotations)))
"""


def test_datumaro_files_import_and_our_files_load_in_datumaro(tmp_path):
    path = _catalog(tmp_path, frames=1)
    run_in_sdk_venv(_DATUMARO_WRITE, str(tmp_path / "dm"))
    with workbench.open(path) as catalog:
        report = cvat_xml.import_files(catalog, [tmp_path / "dm" / "default.xml"],
                                       progress=False, field="cvat")  # fmt: skip
        assert report.ok, report
        rois = catalog.sql(
            "SELECT label, kind, geometry, attributes->>'$.occluded' FROM rois "
            "WHERE field = 'cvat' ORDER BY kind"
        ).fetchall()
        assert rois == [
            ("car", "box", [[1.0, 2.0, 6.0, 2.0, 6.0, 8.0, 1.0, 8.0]], "true"),
            ("person", "classification", [], None),
            ("person", "point", [[3.0, 4.0, 5.0, 6.0]], "false"),
            ("person", "polygon", [[1.0, 1.0, 9.0, 1.0, 5.0, 8.0]], "false"),
            ("car", "polyline", [[1.0, 1.0, 4.0, 4.0]], "false"),
        ]
        (tmp_path / "ours" / "images").mkdir(parents=True)  # datumaro wants the pictures
        (tmp_path / "ours" / "images" / "0000.jpg").write_bytes(b"")
        cvat_xml.export_files(catalog.view(), tmp_path / "ours" / "default.xml",
                              progress=False)  # fmt: skip
    loaded = run_in_sdk_venv(_DATUMARO_READ, str(tmp_path / "ours"))
    assert loaded == [
        ["0000", "car", "bbox", [1.0, 2.0, 6.0, 8.0]],
        ["0000", "day", "label", []],
        ["0000", "lane", "polyline", [0.0, 0.0, 4.0, 4.0]],
        ["0000", "nose", "points", [3.0, 4.0, 5.0, 6.0]],
        ["0000", "person", "polygon", [1.0, 1.0, 9.0, 1.0, 5.0, 8.0]],
    ]


_DATUMARO_TRACKS = """
import json, sys
import datumaro as dm
ds = dm.Dataset.import_from(sys.argv[1], "cvat")
labels = ds.categories()[dm.AnnotationType.label]
print(json.dumps(sorted([item.id, labels[a.label].name, a.attributes.get("track_id"),
                         a.attributes.get("keyframe")]
                        for item in ds for a in item.annotations if a.type.name == "bbox")))
"""


def test_datumaro_loads_our_video_tracks_on_their_true_frame_numbers(tmp_path):
    path = _catalog(tmp_path)
    with workbench.open(path) as catalog:
        cvat_xml.export_files(catalog.view(), tmp_path / "v", progress=False, mode="video")
    loaded = run_in_sdk_venv(_DATUMARO_TRACKS, str(tmp_path / "v" / "clip.xml"))
    assert loaded == [
        ["frame_000000", "car", 0, True],
        ["frame_000005", "car", 0, True],
        ["frame_000010", "car", 0, True],
    ]


def test_frames_with_and_without_a_source_export_with_their_names(tmp_path):
    """A frame without a source is named by its id (a relative name) beside frames whose
    sources are absolute paths: each keeps its own name instead of the export failing."""
    path = tmp_path / "c.duckdb"
    with workbench.open(path) as catalog, CatalogWriter(catalog, progress=False) as writer:
        for n in range(2):
            source = Source("image", f"/data/clip/{n:04d}.jpg", 30, 20)
            writer.add(Frame(f"f{n}", sources=[source], rois=[Roi("t", "classification", ["day"])]))
        writer.add(Frame("bare", rois=[Roi("t", "classification", ["night"])]))
    with workbench.open(path) as catalog:
        report = cvat_xml.export_files(catalog.view(), tmp_path / "out.xml", progress=False)
    assert report.frames == 3
    text = (tmp_path / "out.xml").read_text()
    for name in ("/data/clip/0000.jpg", "/data/clip/0001.jpg", '"bare"'):
        assert name in text
