"""A kwcoco file imported again after a change to one video's record or one track's record
converts only the videos (and still images) the record reaches: a video's record its own
video's images, and those of the videos whose validity it changes (a record giving an earlier
video's id or name is refused, and its images are then of no video); a track's record the
images whose annotations name it. A change to one frame of a video whose frames are not
numbered from one another (each with its frame index, its annotations on integer tracks)
converts that frame alone. The catalog then holds what a first import of the changed file
gives, table by table. Inputs made by kwcoco's own API (test_coco_kwcoco_digests)."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import workbench
from tests.ingest.test_coco_digests import _cut, _stored
from tests.ingest.test_coco_kwcoco_digests import DRIVE, IMAGES, PARK, STILL, _document
from workbench.ingest import _coco_digests, coco
from workbench.store import groups

pytest.importorskip("kwcoco")


def _renamed(doc: dict[str, Any], catalog: Any = None) -> None:
    doc["videos"][0]["name"] = "drive east"  # its frames' context


def _resized(doc: dict[str, Any], catalog: Any = None) -> None:
    doc["videos"][1]["width"] = 128


def _duplicate_id(doc: dict[str, Any], catalog: Any = None) -> None:
    """Park's record given drive's id: refused, and park's images are of no video."""
    doc["videos"][1]["id"] = doc["videos"][0]["id"]


def _duplicate_name(doc: dict[str, Any], catalog: Any = None) -> None:
    doc["videos"][1]["name"] = doc["videos"][0]["name"]


def _duplicate_first(doc: dict[str, Any], catalog: Any = None) -> None:
    """A record of park's id and drive's name first: drive's record refused (its name), and
    park's (its id); drive's images are of no video, park's of the new record's."""
    park = doc["videos"][1]["id"]
    doc["videos"].insert(0, {"id": park, "name": doc["videos"][0]["name"], "width": 10})


def _track_record(doc: dict[str, Any], catalog: Any = None) -> None:
    """Track 5's record (drive's car and the still image's annotation name it)."""
    doc["tracks"][0]["colour"] = "blue"


def _named_track_record(doc: dict[str, Any], catalog: Any = None) -> None:
    doc["tracks"][1]["name"] = "walker, slow"  # "walker": drive's annotations alone


def _track_record_added(doc: dict[str, Any], catalog: Any = None) -> None:
    doc["tracks"].append({"id": "bench", "name": "bench"})  # park's annotations


def _track_record_removed(doc: dict[str, Any], catalog: Any = None) -> None:
    del doc["tracks"][0]


# What each change leaves unconverted of the images.
CHANGES: list[tuple[Callable[..., None], int]] = [
    (_renamed, PARK + STILL),
    (_resized, DRIVE + STILL),
    (_duplicate_id, DRIVE + STILL),
    (_duplicate_name, DRIVE + STILL),
    (_duplicate_first, STILL),
    (_track_record, PARK),
    (_named_track_record, PARK + STILL),
    (_track_record_added, DRIVE + STILL),
    (_track_record_removed, PARK),
]


def _tables(catalog: Any) -> dict[str, Any]:
    """The frames, sources and ROIs (every column but keys and times) and the frame groups'
    rows, codes and contexts, by id (counted at the end of an import of few frames)."""
    con = catalog.cursor()
    frames, sources, rois = _stored(catalog)
    counted = {
        name: con.execute(f"SELECT * FROM {name} ORDER BY ALL").fetchall()
        for name in (groups.LOCAL.rows, groups.LOCAL.codes)
    }
    assert counted[groups.LOCAL.rows]
    contexts = con.execute(
        f"SELECT g._wb_group, k.context_id FROM {groups.LOCAL.contexts} g "
        "LEFT JOIN context_keys k ON k.context_key = g.context_no ORDER BY ALL"
    ).fetchall()
    return {"frames": frames, "sources": sources, "rois": rois, "contexts": contexts, **counted}


def _import(catalog: Any, path: Path, per_write: int) -> tuple[Any, ...]:
    report = coco.import_files(catalog, [path], progress=False, batch_size=per_write)
    return [str(e) for e in report.errors], report.frames, report.sources, report.rois


@pytest.mark.parametrize(("change", "left"), CHANGES, ids=lambda c: getattr(c, "__name__", c))
@pytest.mark.parametrize("small", [True, False], ids=["cut", "whole"])
def test_a_records_change_converts_the_videos_it_reaches(
    tmp_path: Path,
    change: Callable[..., None],
    left: int,
    small: bool,
    coco_unchanged: list[int],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A video's name or size, its id or name made an earlier video's (refused: its images
    then of no video), a record put first taking both videos' ids and names; a track's record
    changed, added or removed: the update converts exactly the videos and still images the
    record reaches (told by the count of images left unconverted), the catalog's tables end
    as a first import of the changed file makes them, the report as the update without
    lookup says, and the next import finds every image unchanged."""
    _check(
        tmp_path, _document(), change, left, _cut(monkeypatch, small), coco_unchanged, monkeypatch
    )


def _integer_park() -> dict[str, Any]:
    """Park's annotations on integer track 7: its frames, each with its frame index, are
    numbered from none of the others."""
    doc = _document()
    for annotation in doc["annotations"]:
        if annotation.get("track_id") == "bench":
            annotation["track_id"] = 7
    return doc


def _park_box(doc: dict[str, Any], catalog: Any = None) -> None:
    doc["annotations"][2 * DRIVE + 1]["bbox"][0] += 1  # park's second frame


def _park_frame_record(doc: dict[str, Any], catalog: Any = None) -> None:
    doc["images"][DRIVE + 2]["caption"] = "a dog"  # park's third frame


def _park_frame_added(doc: dict[str, Any], catalog: Any = None) -> None:
    """A frame added to park: its count of frames, every frame's `num_frames`."""
    doc["images"].append({**doc["images"][DRIVE], "id": 99, "file_name": "park/9.jpg",
                          "frame_index": 9})  # fmt: skip


def _park_frame_row(doc: dict[str, Any], catalog: Any) -> None:
    """One of park's frames changed in the catalog: that frame alone converted."""
    with catalog.transaction() as con:
        con.execute(f"UPDATE frames SET num_frames = 1 WHERE id = 'v.kwcoco:{DRIVE + 2}'")


def _drive_box(doc: dict[str, Any], catalog: Any = None) -> None:
    """Drive's frames are numbered from one another (frames without a frame index, named
    tracks): a change to one converts the video."""
    doc["annotations"][0]["bbox"][0] += 1


FRAMES: list[tuple[Callable[..., None], int]] = [
    (_park_box, IMAGES - 1),
    (_park_frame_record, IMAGES - 1),
    (_park_frame_row, IMAGES - 1),
    (_park_frame_added, DRIVE + STILL),
    (_drive_box, PARK + STILL),
    (_track_record_added, IMAGES),  # no annotation names "bench" now
]


@pytest.mark.parametrize(("change", "left"), FRAMES, ids=lambda c: getattr(c, "__name__", c))
@pytest.mark.parametrize("small", [True, False], ids=["cut", "whole"])
def test_a_frames_change_converts_the_frame_when_its_video_is_not_numbered_from_it(
    tmp_path: Path,
    change: Callable[..., None],
    left: int,
    small: bool,
    coco_unchanged: list[int],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Park's frames each carry a frame index and their annotations are on an integer track:
    a change to one of park's frames (an annotation's box, its own record, its row in the
    catalog) converts that frame alone, with its video's count of frames as in the file; an
    added frame converts the video (every frame's count), and so does a change to a frame of
    drive, whose frames are numbered from one another. As a first import, as above."""
    per_write = _cut(monkeypatch, small)
    _check(tmp_path, _integer_park(), change, left, per_write, coco_unchanged, monkeypatch)


def _refused(doc: dict[str, Any], catalog: Any = None) -> None:
    """Park's second image refused (its width not a number): park holds two frames."""
    doc["images"][DRIVE + 1]["width"] = "wide"


def _park_refused() -> dict[str, Any]:
    doc = _integer_park()
    _refused(doc)
    return doc


def _accepted(doc: dict[str, Any], catalog: Any = None) -> None:
    doc["images"][DRIVE + 1]["width"] = 64


@pytest.mark.parametrize("small", [True, False], ids=["cut", "whole"])
def test_a_frame_no_longer_refused_gives_its_videos_other_frames_their_count(
    tmp_path: Path, small: bool, coco_unchanged: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Park's second image refused, then given a width: park's other frames, found unchanged,
    were made with a count of two frames, now three. The update finds it once the images are
    staged and imports the file again without lookup (nothing left unconverted)."""
    per_write = _cut(monkeypatch, small)
    _check(tmp_path, _park_refused(), _accepted, 0, per_write, coco_unchanged, monkeypatch)


def test_a_frame_refused_gives_its_videos_other_frames_their_count(
    tmp_path: Path, coco_unchanged: list[int]
) -> None:
    """Park's second image refused by the update: park's other frames are stored with a
    count of two frames, as a first import of the changed file stores them (the refused
    image's frame stays as it was, as an update leaves any frame its file no longer makes)."""
    path = tmp_path / "v.kwcoco.json"
    path.write_text(json.dumps(_integer_park()))
    query = "SELECT id, num_frames FROM frames ORDER BY id"
    with workbench.open(tmp_path / "c.duckdb") as catalog:
        _import(catalog, path, 1000)
        path.write_text(json.dumps(_park_refused()))
        report = _import(catalog, path, 1000)
        assert coco_unchanged[-1] == 0  # imported again without lookup
        updated = catalog.sql(query).fetchall()
    with workbench.open(tmp_path / "fresh.duckdb") as fresh:
        assert _import(fresh, path, 1000) == report
        first = fresh.sql(query).fetchall()
    stale = f"v.kwcoco:{DRIVE + 2}"
    assert [row for row in updated if row[0] != stale] == first
    assert (f"v.kwcoco:{DRIVE + 1}", 2) in first


def _check(
    tmp_path: Path,
    doc: dict[str, Any],
    change: Callable[..., None],
    left: int,
    per_write: int,
    coco_unchanged: list[int],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The update after `change` (of the document, or of the catalog given too) leaves
    `left` images unconverted and the catalog's tables as a first import of the changed file
    makes them, its report as the update without lookup; the next import finds every image
    unchanged."""
    path = tmp_path / "v.kwcoco.json"
    reports = []
    for look in (True, False):
        monkeypatch.setattr(_coco_digests, "LOOK_UP", look)
        path.write_text(json.dumps(doc))
        with workbench.open(tmp_path / f"{look}.duckdb") as catalog:
            _import(catalog, path, per_write)
            changed = copy.deepcopy(doc)
            change(changed, catalog)
            path.write_text(json.dumps(changed))
            reports.append(_import(catalog, path, per_write))
            assert coco_unchanged[-1] == (left if look else 0)
            updated = _tables(catalog)
            assert _import(catalog, path, per_write) == reports[-1]
            assert coco_unchanged[-1] == (len(changed["images"]) if look else 0)
            assert _tables(catalog) == updated
        with workbench.open(tmp_path / f"fresh-{look}.duckdb") as fresh:
            assert _import(fresh, path, per_write) == reports[-1]
            assert _tables(fresh) == updated
    assert reports[0] == reports[1]


def test_an_annotation_giving_its_track_twice_takes_every_tracks_record(
    tmp_path: Path, coco_unchanged: list[int]
) -> None:
    """Park's annotation gives `track_id` twice, "bench" then 5 (the per-record path keeps
    the last, 5, and its record; the engine's parse reads the first): a change to track 5's
    record converts park too, and the catalog ends as a first import makes it."""
    doc = _document()
    text = json.dumps(doc)
    given = '"track_id": "bench"'
    assert text.count(given) == PARK
    path = tmp_path / "v.kwcoco.json"
    path.write_text(text.replace(given, given + ', "track_id": 5', 1))
    with workbench.open(tmp_path / "c.duckdb") as catalog:
        _import(catalog, path, 1000)
        changed = json.loads(text)
        _track_record(changed)
        path.write_text(json.dumps(changed).replace(given, given + ', "track_id": 5', 1))
        _import(catalog, path, 1000)
        assert coco_unchanged[-1] == 0  # park now reached, with drive and the still image
        updated = _tables(catalog)
    with workbench.open(tmp_path / "fresh.duckdb") as fresh:
        _import(fresh, path, 1000)
        assert _tables(fresh) == updated
    record = [r for r in updated["rois"] if r[0] == "v.kwcoco:6" and '"blue"' in str(r)]
    assert len(record) == 1
