"""A COCO instances file imported again leaves the images whose frames the catalog holds as
they made them unconverted, and converts the others: either way the catalog and the report
end as the same import without lookup leaves them."""

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import workbench
from workbench.ingest import _coco_columnar, _coco_digests, coco
from workbench.ingest._coco_digests import ImageDigests
from workbench.ingest.writer import CatalogWriter
from workbench.model.records import Frame, Roi


def _document(images: int = 8) -> dict[str, Any]:
    """Images 1..`images`, each with three annotations but the last (none), two categories."""
    annotations = []
    for k in range(3 * (images - 1)):
        image = 1 + k % (images - 1)  # spread over the file, not grouped by image
        box = [1 + k % 5, 2, 10 + k % 3, 8]
        annotations.append(
            {"id": 100 + k, "image_id": image, "category_id": 1 + k % 2, "bbox": box,
             "area": box[2] * box[3], "iscrowd": 0}
        )  # fmt: skip
    return {
        "images": [
            {"id": i, "file_name": f"{i}.jpg", "width": 64, "height": 48, "flickr": f"f{i}"}
            for i in range(1, images + 1)
        ],
        "annotations": annotations,
        "categories": [{"id": 1, "name": "car"}, {"id": 2, "name": "bus", "supercategory": "v"}],
    }


def _stored(catalog) -> tuple[list, list, list]:
    frames = catalog.sql(
        "SELECT * EXCLUDE (frame_key, context_key, ingested) FROM frames ORDER BY id"
    ).fetchall()
    sources = catalog.sql("SELECT * EXCLUDE (frame_key) FROM sources ORDER BY frame_id").fetchall()
    rois = catalog.sql(
        "SELECT * EXCLUDE (frame_key) FROM rois ORDER BY frame_id, field, id"
    ).fetchall()
    return frames, sources, rois


def _outcome(catalog, report) -> tuple:
    reported = (report.frames, report.sources, report.rois, report.warnings)
    return _stored(catalog), [str(e) for e in report.errors], reported


def _write(path: Path, doc: dict[str, Any]) -> None:
    path.write_text(json.dumps(doc))


@pytest.mark.parametrize("per_write", [3, 1000])
@pytest.mark.parametrize("batch_bytes", [1, 1 << 28])
def test_an_unchanged_file_is_not_converted_again(
    tmp_path: Path,
    per_write: int,
    batch_bytes: int,
    coco_unchanged: list[int],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Every image of a file imported again unchanged is left unconverted (in one write or
    several, the annotations in one batch or many), its frame left as stored (its key and
    time of import) and counted as the writer counts frames it finds unchanged."""
    monkeypatch.setattr(_coco_columnar, "PIECE_BYTES", 200)
    monkeypatch.setattr(_coco_columnar, "ANNOTATION_BATCH_BYTES", batch_bytes)
    path = tmp_path / "instances.json"
    _write(path, _document())
    query = "SELECT id, frame_key, ingested FROM frames ORDER BY id"
    results = []
    for look in (True, False):
        monkeypatch.setattr(_coco_digests, "LOOK_UP", look)
        with workbench.open(tmp_path / f"{look}.duckdb") as catalog:
            first = coco.import_files(catalog, [path], progress=False, batch_size=per_write)
            assert first.ok and (first.frames, first.rois) == (8, 21)
            before = catalog.sql(query).fetchall()
            report = coco.import_files(catalog, [path], progress=False, batch_size=per_write)
            assert coco_unchanged[-1] == (8 if look else 0)
            assert catalog.sql(query).fetchall() == before
            results.append(_outcome(catalog, report))
    assert results[0] == results[1]
    assert results[0][2][:3] == (8, 8, 21)


def _image_field(doc: dict[str, Any], catalog) -> None:
    doc["images"][2]["flickr"] = "g3"  # as long as before


def _annotation(doc: dict[str, Any], catalog) -> None:
    doc["annotations"][4]["bbox"][0] += 1


def _moved(doc: dict[str, Any], catalog) -> None:  # from image 5 to image 6
    doc["annotations"][4]["image_id"] = 6


def _renamed(doc: dict[str, Any], catalog) -> None:
    doc["categories"][1]["name"] = "coach"


def _frame_row(doc: dict[str, Any], catalog) -> None:
    with catalog.transaction() as con:
        con.execute("UPDATE frames SET metadata = '{\"flickr\": \"x\"}' WHERE id = 'instances:3'")


def _deleted(doc: dict[str, Any], catalog) -> None:
    with catalog.transaction() as con:
        for table in ("rois", "sources", "frames"):
            column = "id" if table == "frames" else "frame_id"
            con.execute(f"DELETE FROM {table} WHERE {column} = 'instances:4'")


def _labelled(doc: dict[str, Any], catalog) -> None:
    roi = Roi("r", "box", ["car"], geometry=[[0, 0, 1, 1]])
    with CatalogWriter(catalog, progress=False) as writer:
        writer.add_labels("instances:2", "predictions", [roi])


def _rewritten(doc: dict[str, Any], catalog) -> None:  # by another importer
    with CatalogWriter(catalog, progress=False) as writer:
        writer.add(Frame(id="instances:7"))


# What each change leaves found unchanged of the 8 images.
CHANGES: list[tuple[Callable[[dict[str, Any], Any], None], int]] = [
    (_image_field, 7),
    (_annotation, 7),
    (_moved, 6),
    (_renamed, 0),
    (_frame_row, 7),
    (_deleted, 7),
    (_labelled, 7),
    (_rewritten, 7),
]


def _cut(monkeypatch: pytest.MonkeyPatch, small: bool) -> int:
    """Small: the file read in pieces of a few records, the annotations in batches of one
    piece, two images a write; else one piece, one batch, one write. The images a write."""
    if small:
        monkeypatch.setattr(_coco_columnar, "PIECE_BYTES", 200)
        monkeypatch.setattr(_coco_columnar, "ANNOTATION_BATCH_BYTES", 1)
    return 2 if small else 1000


@pytest.mark.parametrize(("change", "left"), CHANGES, ids=lambda c: getattr(c, "__name__", c))
@pytest.mark.parametrize("small", [True, False], ids=["cut", "whole"])
def test_what_changed_since_the_digest_is_converted(
    tmp_path: Path,
    change: Callable,
    left: int,
    small: bool,
    coco_unchanged: list[int],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An image whose record, one of whose annotations (edited, or moved from or to it),
    whose category, or whose frame (its row, deleted, labelled by another write, written by
    another importer) changed since its digest was kept is converted again: the catalog and
    the report end as the import without lookup leaves them."""
    per_write = _cut(monkeypatch, small)
    path = tmp_path / "instances.json"
    results = []
    for look in (True, False):
        monkeypatch.setattr(_coco_digests, "LOOK_UP", look)
        doc = _document()
        _write(path, doc)
        with workbench.open(tmp_path / f"{look}.duckdb") as catalog:
            assert coco.import_files(catalog, [path], progress=False, batch_size=per_write).ok
            changed = copy.deepcopy(doc)
            change(changed, catalog)
            _write(path, changed)
            report = coco.import_files(catalog, [path], progress=False, batch_size=per_write)
            assert coco_unchanged[-1] == (left if look else 0)
            results.append(_outcome(catalog, report))
            # and the digests kept by that import hold: nothing is left to convert
            again = coco.import_files(catalog, [path], progress=False, batch_size=per_write)
            assert coco_unchanged[-1] == (8 if look else 0)
            results.append(_outcome(catalog, again))
    assert results[:2] == results[2:]


@pytest.mark.parametrize(
    "change", [_frame_row, _deleted, _labelled, _rewritten], ids=lambda c: c.__name__
)
@pytest.mark.parametrize("small", [True, False], ids=["cut", "whole"])
def test_a_frame_changed_between_the_lookup_and_the_write_is_converted(
    tmp_path: Path, change: Callable, small: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A frame that changes after its image was found unchanged and before the write that
    counts it (another connection's write landing in between) is not left as it is: the
    catalog and the report end as the import without lookup leaves them with the change
    made first."""
    per_write = _cut(monkeypatch, small)
    path = tmp_path / "instances.json"
    _write(path, _document())
    look_up = ImageDigests.look_up
    found: list[int] = []

    def then_changed(self: ImageDigests, con: Any) -> None:  # the change lands after it
        look_up(self, con)
        found.append(self.unchanged)
        if self.unchanged:
            change({}, catalog)

    monkeypatch.setattr(ImageDigests, "look_up", then_changed)
    results = []
    for look in (True, False):
        monkeypatch.setattr(_coco_digests, "LOOK_UP", look)
        with workbench.open(tmp_path / f"{look}.duckdb") as catalog:
            assert coco.import_files(catalog, [path], progress=False, batch_size=per_write).ok
            if not look:
                change({}, catalog)
            report = coco.import_files(catalog, [path], progress=False, batch_size=per_write)
            results.append(_outcome(catalog, report))
    assert found[:1] == [8]  # all found unchanged, then one changed
    assert results[0] == results[1]


def test_records_refused_or_warned_about_are_reported_again(
    tmp_path: Path, coco_unchanged: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    """An image with an annotation refused (unknown category, id repeated on its image) or
    warned about (a box of zero area), an image whose id another image repeats, and an
    annotation naming no image keep no digest: they are converted, and reported, on every
    import, as the import without lookup reports them."""
    doc = _document()
    doc["annotations"][0]["category_id"] = 99  # image 1
    doc["annotations"][1]["bbox"] = [1, 1, 0, 0]  # image 2: zero area
    doc["annotations"].append({**doc["annotations"][2], "bbox": [3, 3, 3, 3]})  # image 3
    doc["annotations"].append({**doc["annotations"][3], "id": 999, "image_id": 77})
    doc["images"].append({**doc["images"][4], "file_name": "other.jpg"})  # image 5 twice
    path = tmp_path / "instances.json"
    _write(path, doc)
    results = []
    for look in (True, False):
        monkeypatch.setattr(_coco_digests, "LOOK_UP", look)
        with workbench.open(tmp_path / f"{look}.duckdb") as catalog:
            first = coco.import_files(catalog, [path], progress=False)
            assert len(first.errors) == 4 and first.warnings
            report = coco.import_files(catalog, [path], progress=False)
            assert coco_unchanged[-1] == (4 if look else 0)  # images 4, 6, 7, 8
            results.append(_outcome(catalog, report))
    assert results[0] == results[1]
    assert len(results[0][1]) == 4


@pytest.mark.parametrize("small", [True, False], ids=["cut", "whole"])
def test_an_annotation_naming_its_image_twice_keeps_those_images_undigested(
    tmp_path: Path, small: bool, coco_unchanged: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    """An annotation giving `image_id` twice belongs to the last (as the per-record path
    reads it): the images it names (2, then 1) are converted on every import, so that a
    change to it reaches the image it belongs to; the file's other six are left unconverted."""
    per_write = _cut(monkeypatch, small)
    text = json.dumps(_document())
    head = '"image_id": 1, "category_id": 1, "bbox": [1, 2, 10, 8]'
    assert head in text
    path = tmp_path / "instances.json"
    results = []
    for look in (True, False):
        monkeypatch.setattr(_coco_digests, "LOOK_UP", look)
        path.write_text(text.replace(head, '"image_id": 2, ' + head, 1))
        with workbench.open(tmp_path / f"{look}.duckdb") as catalog:
            assert coco.import_files(catalog, [path], progress=False, batch_size=per_write).ok
            edited = head.replace("[1, 2,", "[3, 2,")
            path.write_text(text.replace(head, '"image_id": 2, ' + edited, 1))
            report = coco.import_files(catalog, [path], progress=False, batch_size=per_write)
            assert coco_unchanged[-1] == (6 if look else 0)
            results.append(_outcome(catalog, report))
            digests = (
                catalog.cursor().execute("SELECT line FROM _line_digests ORDER BY line").fetchall()
            )
            assert digests == [(n,) for n in range(2, 8)]  # images 3..8
    assert results[0] == results[1]
    # the per-record path's reading: the last `image_id`, the edited box
    edited_roi = [(r[0], r[8]) for r in results[0][0][2] if r[1] == "100"]
    assert edited_roi == [("instances:1", 3.0)]
