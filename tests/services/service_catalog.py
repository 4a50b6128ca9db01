"""A small catalog for the service tests, built with the CatalogWriter from files on disk.

- img-0 .. img-3: single images (each its own context), ground_truth boxes and a
  `scene` classification; img-0 also has a `quality` scalar in its metadata;
- seq-0 .. seq-4: one camera sequence (context `drive-1`, timestamps 0..400) with one car
  tracked across frames (track_index 1, keyframes on seq-0 and seq-4);
- rig-0, rig-1: a two-camera frame group sequence (context `rig-1`, sources front and rear).
"""

from __future__ import annotations

from pathlib import Path

import workbench
from workbench.ingest import CatalogWriter, Frame, Roi, Source, box_ring
from workbench.store.catalog import Catalog


def _image(folder: Path, name: str) -> str:
    path = folder / name
    path.write_bytes(b"\xff\xd8\xff\xd9")  # the file only has to exist
    return str(path)


def build_catalog(path: Path, media: Path) -> Catalog:
    media.mkdir(parents=True, exist_ok=True)
    catalog = workbench.open(path)
    with CatalogWriter(catalog, progress=False) as writer:
        for i in range(4):
            rois = [
                Roi(
                    f"b{i}",
                    "box",
                    ["car"],
                    geometry=[box_ring(10 + i, 10, 20, 10)],
                    attributes={"occluded": False, "color": "red"},
                ),
                Roi(f"c{i}", "classification", ["day"], field="scene"),
            ]
            metadata = {"quality": 3} if i == 0 else {}
            uri = _image(media, f"img-{i}.jpg")
            writer.add(
                Frame(
                    f"img-{i}",
                    sources=[Source("image", uri, 100, 50)],
                    rois=rois,
                    metadata=metadata,
                )
            )
        for i in range(5):
            rois = [
                Roi(
                    f"t{i}",
                    "box",
                    ["car"],
                    geometry=[box_ring(5 * i, 5, 10, 10)],
                    track_index=1,
                    keyframe=i in (0, 4),
                )
            ]
            uri = _image(media, f"seq-{i}.jpg")
            writer.add(
                Frame(
                    f"seq-{i}",
                    sources=[Source("front", uri, 100, 50)],
                    rois=rois,
                    context_id="drive-1",
                    timestamp=100 * i,
                )
            )
        for i in range(2):
            sources = [
                Source("front", _image(media, f"rig-{i}-front.jpg"), 100, 50),
                Source("rear", _image(media, f"rig-{i}-rear.jpg"), 100, 50),
            ]
            writer.add(Frame(f"rig-{i}", sources=sources, context_id="rig-1", timestamp=i))
    assert writer.report.ok, writer.report
    return catalog


# Tables an action may change; audit_log is left out on purpose (refusals and dry runs are
# recorded there too).
STATE_TABLES = (
    "frames",
    "sources",
    "rois",
    "scenes",
    "projects",
    "batches",
    "requests",
    "inputs",
    "annotation_runs",
    "annotation_ids",
    "annotation_snapshots",
    "local_tasks",
    "local_task_frames",
    "local_shapes",
    "tags",
    "saved_views",
)


def table_state(catalog: Catalog) -> dict[str, list[tuple[object, ...]]]:
    """Every row of every state table, sorted: compare before/after to prove nothing changed."""
    con = catalog.cursor()
    state = {}
    for table in STATE_TABLES:
        rows = con.execute(f"SELECT * FROM {table}").fetchall()
        state[table] = sorted(rows, key=repr)
    return state


def audit_rows(catalog: Catalog) -> list[tuple[object, ...]]:
    return (
        catalog.cursor()
        .execute("SELECT actor, action, count, dry_run, outcome FROM audit_log ORDER BY id")
        .fetchall()
    )
