"""A kwcoco file of videos imported again leaves the images whose frames the catalog holds as
they made them unconverted, a video's images all or none (a video frame is made from its
video's other images too: their count, their order, their annotations' named tracks), and
converts the others: the catalog then holds what a first import of the file gives. Inputs
made by kwcoco's own API."""

from __future__ import annotations

import copy
import json
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import workbench
from tests.ingest.test_coco_digests import _cut, _stored
from workbench.ingest import _coco_digests, coco

kwcoco = pytest.importorskip("kwcoco")

# The file's images: drive's five, then park's three, then a still image.
DRIVE, PARK, STILL = 5, 3, 1
IMAGES = DRIVE + PARK + STILL


def _document() -> dict[str, Any]:
    """Two videos and a still image, made by kwcoco: drive's frames 0, 2 and 4 carry no
    frame index (numbered after its highest, 7, in the file's order: 8, 9, 10), its
    annotations on integer tracks and on named ones (numbered after the video's highest
    integer id, in the order the file first gives each); `tracks` records for some."""
    data = kwcoco.CocoDataset()
    car = data.add_category("car")
    person = data.add_category("person")
    drive = data.add_video(name="drive", width=64, height=48, caption="ring road")
    park = data.add_video(name="park", width=64, height=48)
    data.add_track(name="red car", id=5, colour="red")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # kwcoco warns of tracks not in its `tracks` table
        for number in range(DRIVE):
            image = data.add_image(file_name=f"drive/{number}.jpg", video_id=drive,
                                   frame_index=3 + number, width=64, height=48,
                                   timestamp=1_700_000_000 + number)  # fmt: skip
            data.add_annotation(image_id=image, category_id=car, bbox=[1 + number, 2, 10, 10],
                                track_id=5)  # fmt: skip
            named = "cyclist" if number % 2 else "walker"
            data.add_annotation(image_id=image, category_id=person, bbox=[30, 2, 5, 5],
                                track_id=named)  # fmt: skip
        for number in range(PARK):
            image = data.add_image(file_name=f"park/{number}.jpg", video_id=park,
                                   frame_index=number, width=64, height=48)  # fmt: skip
            data.add_annotation(image_id=image, category_id=car, bbox=[5, 5, 8, 8],
                                track_id="bench")  # fmt: skip
        still = data.add_image(file_name="still.jpg", width=64, height=48)
        data.add_annotation(image_id=still, category_id=car, bbox=[1, 1, 4, 4], track_id=5)
    doc = copy.deepcopy(data.dataset)
    doc["tracks"].append({"id": "walker", "name": "walker"})  # kwcoco's API takes integers
    for image in doc["images"][:DRIVE:2]:
        del image["frame_index"]
    return doc


def _report(report: Any) -> tuple[Any, ...]:
    return [str(e) for e in report.errors], report.frames, report.sources, report.rois


def _import(catalog: Any, path: Path, per_write: int) -> Any:
    report = coco.import_files(catalog, [path], progress=False, batch_size=per_write)
    assert report.ok, report.errors[:3]
    return report


@pytest.mark.parametrize("small", [True, False], ids=["cut", "whole"])
def test_an_unchanged_kwcoco_file_is_not_converted_again(
    tmp_path: Path, small: bool, coco_unchanged: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every image is left unconverted (told by the digests' count of images found unchanged,
    `ImageDigests.unchanged`), each frame kept as stored (its key and time of import), and
    counted as the writer counts frames it finds unchanged."""
    per_write = _cut(monkeypatch, small)
    path = tmp_path / "v.kwcoco.json"
    path.write_text(json.dumps(_document()))
    query = "SELECT id, frame_key, ingested FROM frames ORDER BY id"
    with workbench.open(tmp_path / "c.duckdb") as catalog:
        _import(catalog, path, per_write)
        before = catalog.sql(query).fetchall()
        report = _import(catalog, path, per_write)
        assert coco_unchanged[-1] == IMAGES
        assert catalog.sql(query).fetchall() == before
    assert (report.frames, report.sources, report.rois) == (IMAGES, IMAGES, 2 * DRIVE + PARK + 1)


def _moved(doc: dict[str, Any], catalog: Any) -> None:
    """Drive's frame without a frame index moved after the next two (renumbering them)."""
    images = doc["images"]
    images[0:3] = [images[1], images[2], images[0]]


def _frame_index(doc: dict[str, Any], catalog: Any) -> None:
    """Drive's highest frame index raised: its frames without one numbered after it."""
    doc["images"][3]["frame_index"] = 20


def _video_field(doc: dict[str, Any], catalog: Any) -> None:
    doc["videos"][0]["caption"] = "ring road, east"


def _track_record(doc: dict[str, Any], catalog: Any) -> None:
    doc["tracks"][0]["colour"] = "blue"


def _track_id(doc: dict[str, Any], catalog: Any) -> None:
    """Drive's first named track now "cyclist": the named tracks numbered the other way."""
    doc["annotations"][1]["track_id"] = "cyclist"


def _annotations_reordered(doc: dict[str, Any], catalog: Any) -> None:
    """Drive's second frame's annotations moved before its first's, each frame's own in
    their order: "cyclist" now comes first, so the named tracks are numbered the other way
    (each image's annotations stand as before from its first: only their video's part tells)."""
    annotations = doc["annotations"]
    annotations[0:4] = annotations[2:4] + annotations[0:2]


def _annotation(doc: dict[str, Any], catalog: Any) -> None:
    doc["annotations"][2 * DRIVE + 1]["bbox"][0] += 1  # park's second frame


def _image_added(doc: dict[str, Any], catalog: Any) -> None:
    """A frame added to park (its count of frames), after the still image."""
    doc["images"].append({**doc["images"][DRIVE], "id": 99, "file_name": "park/9.jpg",
                          "frame_index": 9})  # fmt: skip


def _frame_row(doc: dict[str, Any], catalog: Any) -> None:
    """One of drive's frames changed in the catalog: its video converted whole."""
    with catalog.transaction() as con:
        con.execute("UPDATE frames SET num_frames = 1 WHERE id = 'v.kwcoco:2'")


# What each change leaves unconverted of the images.
CHANGES: list[tuple[Callable[[dict[str, Any], Any], None], int]] = [
    (_moved, PARK + STILL),
    (_frame_index, PARK + STILL),
    (_video_field, PARK + STILL),
    (_track_record, PARK),
    (_track_id, PARK + STILL),
    (_annotations_reordered, PARK + STILL),
    (_annotation, DRIVE + STILL),
    (_image_added, DRIVE + STILL),
    (_frame_row, PARK + STILL),
]


@pytest.mark.parametrize(("change", "left"), CHANGES, ids=lambda c: getattr(c, "__name__", c))
@pytest.mark.parametrize("small", [True, False], ids=["cut", "whole"])
def test_what_changed_in_a_kwcoco_file_is_converted_as_a_first_import_makes_it(
    tmp_path: Path,
    change: Callable[[dict[str, Any], Any], None],
    left: int,
    small: bool,
    coco_unchanged: list[int],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An image moved, a frame index, a video's or a track's record, an annotation's track
    or box changed, an image added to a video, a frame changed in the catalog: the update
    converts the videos they touch whole (and every image when a video's or track's record
    changed) and leaves the others; the catalog holds what a first import of the changed
    file gives, the report says what the same update without lookup says, and the digests
    the update kept find every image unchanged on the next import."""
    per_write = _cut(monkeypatch, small)
    path = tmp_path / "v.kwcoco.json"
    reports = []
    for look in (True, False):
        monkeypatch.setattr(_coco_digests, "LOOK_UP", look)
        doc = _document()
        path.write_text(json.dumps(doc))
        with workbench.open(tmp_path / f"{look}.duckdb") as catalog:
            _import(catalog, path, per_write)
            changed = copy.deepcopy(doc)
            change(changed, catalog)
            path.write_text(json.dumps(changed))
            reports.append(_report(_import(catalog, path, per_write)))
            assert coco_unchanged[-1] == (left if look else 0)
            updated = _stored(catalog)
            _import(catalog, path, per_write)
            assert coco_unchanged[-1] == (len(changed["images"]) if look else 0)
            assert _stored(catalog) == updated
        with workbench.open(tmp_path / f"fresh-{look}.duckdb") as fresh:
            _import(fresh, path, per_write)
            assert _stored(fresh) == updated
    assert reports[0] == reports[1]


def test_a_file_whose_video_the_engine_could_read_otherwise_keeps_no_digests(
    tmp_path: Path, coco_unchanged: list[int]
) -> None:
    """An image giving `video_id` twice (the engine's parse keeps the first, the per-record
    path the last): the file keeps no digests, and is converted whole on every import, as
    before. (A guard: it passed before too.)"""
    doc = _document()
    text = json.dumps(doc)
    head = '"file_name": "drive/4.jpg"'
    assert head in text
    path = tmp_path / "v.kwcoco.json"
    path.write_text(text.replace(head, '"video_id": 2, ' + head, 1))
    with workbench.open(tmp_path / "c.duckdb") as catalog:
        _import(catalog, path, 1000)
        first = _stored(catalog)
        _import(catalog, path, 1000)
        assert coco_unchanged == [0, 0]
        assert _stored(catalog) == first
        count = catalog.cursor().execute("SELECT count(*) FROM _line_digests").fetchall()
    assert count == [(0,)]
