"""Polygons, keypoints and polylines through CVAT; shared files; label names that collide."""

from __future__ import annotations

from pathlib import Path

from workbench.backends.cvat import CvatBackend, CvatConfig
from workbench.services import Workbench
from workbench.store.catalog import Catalog

from .cvat_catalog import IMAGES, rois
from .fake_cvat import Clock, FakeCvat

SCHEMA = {
    "gt": {"type": "detections", "classes": ["car"]},
    "outline": {"type": "polygons", "classes": ["car"]},
    "kp": {"type": "keypoints", "classes": ["wheel"]},
    "lane": {"type": "polylines", "classes": ["lane"]},
}


def test_shapes_of_every_kind_round_trip(
    fake: FakeCvat, catalog: Catalog, clock: Clock, catalog_template: tuple[Path, Path]
) -> None:
    media = catalog_template[1]
    config = CvatConfig(url=fake.url, token=fake.token, share_root=str(media.parent))
    backend = CvatBackend(
        config, transport=fake.transport, sleep=clock.sleep, clock=clock, progress=False
    )
    wb = Workbench(catalog, actor="tester", backends={"cvat": backend})
    wb.annotate(IMAGES, "kinds", backend="cvat", label_schema=SCHEMA)
    task = fake.task_named("#1")
    # Files under the share go by their path relative to it, in the run's order.
    assert task.data["server_files"] == ["media/img-0.jpg", "media/img-1.jpg", "media/img-2.jpg"]
    assert task.names == ["media/img-0.jpg", "media/img-1.jpg", "media/img-2.jpg"]
    labels = {lab["name"]: lab["type"] for lab in fake.labels.values()}
    assert labels == {
        "gt:car": "rectangle",
        "outline:car": "polygon",
        "wheel": "points",
        "lane": "polyline",
    }
    shapes = {s["type"]: s for s in fake.items(task.id, "shapes")}
    assert shapes["polygon"]["points"] == [0, 0, 10, 0, 10, 10, 0, 10]
    assert (shapes["points"]["frame"], shapes["points"]["points"]) == (1, [3, 4, 7, 4])
    assert (
        shapes["polyline"]["points"] == [0, 40, 30, 30, 60, 20]
        and shapes["polyline"]["rotation"] == 0
    )
    untouched = wb.load_annotations("kinds")
    assert (untouched.changed, untouched.unchanged) == ((), 6)

    shapes["polygon"]["points"] = [0, 0, 12, 0, 12, 12, 0, 12, 0, 6]
    shapes["points"]["points"] = [3, 4, 7, 4, 5, 9]
    fake.add_shape(task.id, 2, "outline:car", "polygon", [1, 1, 5, 1, 3, 4])
    report = wb.load_annotations("kinds")
    assert sorted(r.roi_id for r in report.changed) == ["k1", "o0"]
    assert [(r.frame_id, r.field) for r in report.added] == [("img-2", "outline")]
    outline = rois(catalog, "outline")
    assert outline[("img-0", "o0")]["geometry"] == [[0, 0, 12, 0, 12, 12, 0, 12, 0, 6]]
    (added,) = [v for (f, _), v in outline.items() if f == "img-2"]
    assert (added["label"], added["geometry"]) == ("car", [[1, 1, 5, 1, 3, 4]])
    assert rois(catalog, "kp")[("img-1", "k1")]["geometry"] == [[3, 4, 7, 4, 5, 9]]
    assert rois(catalog, "lane")[("img-2", "l2")]["geometry"] == [[0, 40, 30, 30, 60, 20]]
    assert fake.rejections == []
