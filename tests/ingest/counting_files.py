"""What the counting tests share: a catalog, local or lake-backed; a COCO file; an import's
figures checked against its record; frames and label rows given through a writer, and
another import run in a thread of its own."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pyarrow as pa

import workbench
from workbench.ingest import box_ring
from workbench.ingest._columnar import rows_table
from workbench.ingest._rows import frame_rows, roi_row
from workbench.ingest.imports import recorded_import
from workbench.ingest.report import IngestReport
from workbench.ingest.writer import CatalogWriter, RowBatch
from workbench.model.records import FRAME_SCHEMA, ROI_SCHEMA, SOURCE_SCHEMA, Frame, Roi, Source
from workbench.store.imports import get_import
from workbench.store.lake_write import open_for_lake


def catalog_path(tmp_path: Path, storage: str) -> Path:
    """A new catalog's file; with `storage` "lake", its tables in a lake beside it."""
    path = tmp_path / "c.duckdb"
    workbench.open(path).close()
    if storage == "lake":
        open_for_lake(str(path), str(tmp_path / "lake"), attach=False, buckets=1, progress=False)
    return path


def coco_file(path: Path, ids: Sequence[int], boxes: int) -> Path:
    """Instances whose images `ids` carry `boxes` boxes each."""
    images = [{"id": i, "file_name": f"{i}.jpg", "width": 64, "height": 48} for i in ids]
    annotations = [
        {"id": 1000 * i + k, "image_id": i, "category_id": 1, "bbox": [k, k, 4, 4], "area": 16}
        for i in ids
        for k in range(boxes)
    ]
    categories = [{"id": 1, "name": "car"}]
    path.write_text(
        json.dumps({"images": images, "annotations": annotations, "categories": categories})
    )
    return path


def counted(catalog: Any, report: IngestReport) -> tuple[int, int, int]:
    """The report's frames, sources and ROIs, checked against those its import's record
    keeps."""
    record = get_import(catalog, report.import_id).counts
    figures = (report.frames, report.sources, report.rois)
    assert (record.frames, record.sources, record.rois) == figures
    return figures


_FRAMES = pa.schema([f for f in FRAME_SCHEMA if f.name != "ingested"])
_ROIS = pa.schema([f for f in ROI_SCHEMA if f.name != "visibility"])


def whole_frame(frame_id: str, rois: int, sources: int = 1, field: str = "gt") -> Frame:
    return Frame(
        id=frame_id,
        sources=[Source(id=f"cam{s}", uri=f"s3://b/{frame_id}/{s}.jpg") for s in range(sources)],
        rois=[
            Roi(f"{field}{n}", "box", ["car"], geometry=[box_ring(n, n, 4, 3)], field=field)
            for n in range(rois)
        ],
    )


def row_batch(frames: list[Frame]) -> RowBatch:
    made = [frame_rows(f, f.id) for f in frames]
    return RowBatch(
        rows_table([m[0] for m in made], _FRAMES),
        rows_table([row for m in made for row in m[1]], SOURCE_SCHEMA),
        rows_table([row for m in made for row in m[2]], _ROIS),
    )


def stored_first(catalog: Any, frames: list[Frame]) -> None:
    """`frames` stored by an import before the test's (their empty frames, say)."""
    with CatalogWriter(catalog, progress=False) as first:
        give(first, "add", frames)


def give(writer: CatalogWriter, way: str, frames: list[Frame]) -> None:
    """One write of `frames`, queued one by one or as checked rows."""
    if way == "add":
        for frame in frames:
            writer.add(frame)
        writer.flush()
    else:
        writer.write_rows(row_batch(frames))


def counts(catalog: Any, writer: CatalogWriter) -> tuple[int, int, int]:
    """The writer's figures, checked against those its import's record keeps."""
    report = writer.report
    record = get_import(catalog, report.import_id).counts
    assert (record.frames, record.sources, record.rois) == (
        report.frames,
        report.sources,
        report.rois,
    )
    return report.frames, report.sources, report.rois


@contextmanager
def recorded_writer(catalog: Any) -> Iterator[CatalogWriter]:
    """An import's writer, recorded (store/imports.py): its report is the import's."""
    with (
        recorded_import(catalog, "api", []) as run,
        CatalogWriter(catalog, progress=False) as writer,
    ):
        yield writer
        run.report = writer.report


def at_once(works: list[Callable[[], None]]) -> None:
    """Run each of `works` as an import would, in a thread of its own, all at once, to
    their ends; the first failure is raised."""
    failed: list[BaseException] = []

    def run(work: Callable[[], None]) -> None:
        try:
            work()
        except BaseException as exc:  # handed back to the test
            failed.append(exc)

    threads = [threading.Thread(target=run, args=(work,)) for work in works]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if failed:
        raise failed[0]


def in_thread(work: Callable[[], None]) -> None:
    """Run `work` as another import would, in a thread of its own, to its end."""
    at_once([work])


def other_import(catalog: Any, way: str, frames: list[Frame], removed: list[str]) -> None:
    """Import B, recorded, in another thread: stores `frames`, removes `removed`."""

    def work() -> None:
        with recorded_writer(catalog) as other:
            if frames:
                give(other, way, frames)
            if removed:
                other.remove(removed)

    in_thread(work)


def label_rows(frame_ids: list[str], boxes: int, field: str = "pred") -> pa.Table:
    rows = [
        roi_row(f, Roi(f"p{n}", "box", ["car"], geometry=[box_ring(n, n, 4, 3)], field=field))
        for f in frame_ids
        for n in range(boxes)
    ]
    return rows_table(rows, ROI_SCHEMA)


def give_labels(writer: CatalogWriter, way: str, frame_ids: list[str], boxes: int) -> None:
    """One label write of `boxes` `pred` boxes on each of `frame_ids`, by `way`."""
    if way == "write_labels":
        writer.write_labels(frame_ids, "pred", label_rows(frame_ids, boxes), [])
        return
    for f in frame_ids:
        rois = [Roi(f"p{n}", "box", ["car"], geometry=[box_ring(n, n, 4, 3)]) for n in range(boxes)]
        writer.add_labels(f, "pred", rois)
    writer.flush()


def stored_rois(catalog: Any) -> int:
    """How many ROIs the catalog holds."""
    return int(catalog.sql("SELECT count(*) FROM rois").fetchall()[0][0])


def labelled(frame_id: str, gt: int, pred: int) -> Frame:
    """A frame with `gt` boxes in field `gt` and `pred` in field `pred`."""
    plain = whole_frame(frame_id, gt)
    return Frame(
        id=frame_id,
        sources=plain.sources,
        rois=[*plain.rois, *whole_frame(frame_id, pred, field="pred").rois],
    )


def labels_elsewhere(catalog: Any, way: str, frame_ids: list[str], boxes: int) -> None:
    """Import B, recorded, in another thread: gives the `pred` field of `frame_ids`."""

    def work() -> None:
        with recorded_writer(catalog) as other:
            give_labels(other, way, frame_ids, boxes)

    in_thread(work)


def deleted_by_sql(catalog: Any, frame_ids: list[str]) -> None:
    """A person's SQL on the catalog's own connection, in another thread, outside any writer
    or service: the frames `frame_ids` deleted with their sources and ROIs."""

    def work() -> None:
        with catalog.transaction() as con:
            for table in ("rois", "sources"):
                con.execute(f"DELETE FROM {table} WHERE frame_id IN ?", [frame_ids])
            con.execute("DELETE FROM frames WHERE id IN ?", [frame_ids])

    in_thread(work)
