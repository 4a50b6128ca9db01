"""The URIs an import counts outside the media roots follow the counting rule: a frame the
import stores twice (two files, two writes) names its files once in the report, as the
catalog holds them, by the columnar way in and by the per-record one alike; and the ROIs of
a field that label-only writes give a frame twice are counted once, as stored."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

import workbench
from tests.ingest.counting_files import catalog_path, give, in_thread, recorded_writer
from workbench.ingest import box_ring, coco
from workbench.ingest._columnar import rows_table
from workbench.ingest._rows import roi_row
from workbench.ingest.writer import CatalogWriter
from workbench.model.records import ROI_SCHEMA, Frame, Roi, Source
from workbench.store.imports import get_import


def _coco_file(path: Path, folder: Path, ids: list[int]) -> Path:
    """Instances whose images `ids` are files of `folder`, one box each."""
    images = [
        {"id": i, "file_name": str(folder / f"{i}.jpg"), "width": 64, "height": 48} for i in ids
    ]
    annotations = [
        {"id": i, "image_id": i, "category_id": 1, "bbox": [1, 1, 4, 4], "area": 16} for i in ids
    ]
    categories = [{"id": 1, "name": "car"}]
    path.write_text(
        json.dumps({"images": images, "annotations": annotations, "categories": categories})
    )
    return path


def _outside(catalog: Any, folder: Path) -> int:
    """How many stored URIs (sources, previews, mask files) name files of `folder`."""
    prefix = f"{folder}/%"
    sources = catalog.sql(
        "SELECT count(*) FILTER (WHERE uri LIKE $p) + count(*) FILTER (WHERE preview_uri LIKE $p)"
        " FROM sources",
        params={"p": prefix},
    ).fetchall()[0][0]
    masks = catalog.sql(
        "SELECT count(*) FROM rois WHERE mask->>'uri' LIKE $p", params={"p": prefix}
    ).fetchall()[0][0]
    return int(sources) + int(masks)


@pytest.mark.parametrize("storage", ["local", "lake"])
@pytest.mark.parametrize("batch_size", [2, 1000])
def test_coco_files_sharing_images_count_their_outside_files_once(
    tmp_path: Path, batch_size: int, storage: str
) -> None:
    """Two instances files of one import give images 3 and 4, which name files outside every
    media root: each is counted once, as stored, on a first import and on the same import
    again (frames found unchanged), and the import's record keeps the same figure."""
    elsewhere = tmp_path / "elsewhere"
    files = tmp_path / "files"
    files.mkdir()
    first = _coco_file(files / "a.json", elsewhere, [1, 2, 3, 4])
    second = _coco_file(files / "b.json", elsewhere, [3, 4, 5])
    path = catalog_path(tmp_path, storage)
    with workbench.open(path) as catalog:
        for _ in range(2):
            report = coco.import_files(
                catalog, [first, second], id_prefix="p:", progress=False, batch_size=batch_size
            )
            assert report.ok and report.frames == 5
            assert report.outside_media_roots == _outside(catalog, elsewhere) == 5
            record = get_import(catalog, report.import_id)
            assert record.counts.outside_media_roots == 5


@pytest.mark.parametrize("storage", ["local", "lake"])
def test_frames_added_twice_count_their_outside_files_once(tmp_path: Path, storage: str) -> None:
    """The per-record way in: frames queued one by one, each write one frame, frame `f1`
    given twice (its second version naming a preview and an ROI mask file more): the report
    counts the files of each frame's last version once, what the catalog holds."""
    elsewhere = tmp_path / "elsewhere"

    def frame(n: int, more: bool) -> Frame:
        source = Source(
            id="image",
            uri=str(elsewhere / f"{n}.jpg"),
            preview_uri=str(elsewhere / f"{n}.small.jpg") if more else None,
        )
        mask = {"uri": str(elsewhere / f"{n}.png"), "value": 1}
        rois = [Roi(f"r{n}", "mask", ["car"], mask=mask, bbox=(1, 1, 4, 4))] if more else []
        return Frame(id=f"f{n}", sources=[source], rois=rois)

    path = catalog_path(tmp_path, storage)
    with workbench.open(path) as catalog:
        with CatalogWriter(catalog, batch_size=1, progress=False) as writer:
            for n, more in [(1, False), (2, True), (1, True), (3, False)]:
                writer.add(frame(n, more))
        report = writer.report
        assert (report.frames, report.rois) == (3, 2)
        assert report.outside_media_roots == _outside(catalog, elsewhere) == 7


def _label_rows(frame_ids: list[str], boxes: int) -> pa.Table:
    rows = [
        roi_row(f, Roi(f"p{n}", "box", ["car"], geometry=[box_ring(n, n, 4, 3)], field="pred"))
        for f in frame_ids
        for n in range(boxes)
    ]
    return rows_table(rows, ROI_SCHEMA)


@pytest.mark.parametrize("way", ["write_labels", "add_labels"])
def test_a_field_given_twice_by_label_writes_counts_its_last_rois(tmp_path: Path, way: str) -> None:
    """A label-only import gives frame f1's `pred` field twice, in two writes: the second
    replaces the first, and the catalog holds its ROIs only: the report counts those."""
    path = catalog_path(tmp_path, "local")
    with workbench.open(path) as catalog:
        with CatalogWriter(catalog, progress=False) as writer:
            for n in (1, 2):
                writer.add(Frame(id=f"f{n}", sources=[Source(id="image", uri=f"s3://b/{n}.jpg")]))
        with CatalogWriter(catalog, batch_size=1, progress=False) as writer:
            for frames, boxes in [(["f1", "f2"], 3), (["f1"], 2)]:
                if way == "write_labels":
                    writer.write_labels(frames, "pred", _label_rows(frames, boxes), [])
                else:
                    for f in frames:
                        rois = [
                            Roi(f"p{n}", "box", ["car"], geometry=[box_ring(n, n, 4, 3)])
                            for n in range(boxes)
                        ]
                        writer.add_labels(f, "pred", rois)
        stored = catalog.sql("SELECT count(*) FROM rois").fetchall()[0][0]
        assert stored == 3 + 2
        assert writer.report.rois == stored


@pytest.mark.parametrize("batch_size", [1, 1000])
def test_warnings_are_counted_per_record_read(tmp_path: Path, batch_size: int) -> None:
    """Warnings stay per record, on purpose (the writer's docstring says why): image 2, given
    by both files with a box of zero area, warns twice, though the catalog holds it once, and
    the report's figures count it once."""

    def instances(path: Path, ids: list[int]) -> Path:
        images = [{"id": i, "file_name": f"{i}.jpg", "width": 64, "height": 48} for i in ids]
        boxes = [
            {"id": i, "image_id": i, "category_id": 1, "bbox": [1, 1, 0, 4], "area": 0} for i in ids
        ]
        categories = [{"id": 1, "name": "car"}]
        path.write_text(
            json.dumps({"images": images, "annotations": boxes, "categories": categories})
        )
        return path

    first, second = instances(tmp_path / "a.json", [1, 2]), instances(tmp_path / "b.json", [2, 3])
    with workbench.open(tmp_path / "c.duckdb") as catalog:
        report = coco.import_files(
            catalog, [first, second], id_prefix="p:", progress=False, batch_size=batch_size
        )
        held = catalog.sql("SELECT count(*) FROM rois").fetchall()[0][0]
    assert (report.frames, report.rois, held) == (3, 3, 3)
    assert report.warnings == {"ROIs with zero area": 4}


@pytest.mark.parametrize("storage", ["local", "lake"])
@pytest.mark.parametrize("way", ["add", "write_rows"])
def test_mask_files_another_import_put_on_a_frame_counted_whole(
    tmp_path: Path, storage: str, way: str
) -> None:
    """A stores X naming an image and a `pred` ROI's mask file outside the media roots, and
    Y naming an image; B (another import's label write) gives X's `pred` two ROIs whose mask
    files lie outside too; A writes X again naming its image only. A counts the files of
    its own last versions, 2: X's first version's files taken back as A stored them (its
    mask file, which the catalog no longer holds, among them), not B's two."""
    elsewhere = tmp_path / "elsewhere"

    def masked(name: str, field: str) -> Roi:
        mask = {"uri": str(elsewhere / f"{name}.png"), "value": 1}
        return Roi(name, "mask", ["car"], mask=mask, bbox=(1, 1, 4, 4), field=field)

    def frame(name: str, rois: list[Roi]) -> Frame:
        return Frame(
            id=name, sources=[Source(id="image", uri=str(elsewhere / f"{name}.jpg"))], rois=rois
        )

    def b_labels() -> None:
        with CatalogWriter(catalog, progress=False) as other:
            other.add_labels("x", "pred", [masked("b1", "pred"), masked("b2", "pred")])

    path = catalog_path(tmp_path, storage)
    with workbench.open(path) as catalog:
        with recorded_writer(catalog) as writer:
            give(writer, way, [frame("x", [masked("a", "pred")]), frame("y", [])])
            assert writer.report.outside_media_roots == 3
            in_thread(b_labels)
            give(writer, way, [frame("x", [])])
        assert writer.report.outside_media_roots == 2 == _outside(catalog, elsewhere)
        record = get_import(catalog, writer.report.import_id).counts
        assert record.outside_media_roots == 2
