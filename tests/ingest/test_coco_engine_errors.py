"""What the COCO import does when its engine fails while staging a file: a document that is
not for the engine's parser goes record by record without a word (each refused record names
itself), but running out of memory is told in the report, naming the file and the engine's
message, and the file is still imported whole by the per-record path."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

import workbench
from workbench.ingest import _coco_columnar, coco

KIND = "files read record by record: the engine ran out of memory"


def _instances(path: Path, images: int) -> Path:
    doc = {
        "images": [
            {"id": n + 1, "file_name": f"s3://b/{n:05d}.jpg", "width": 640, "height": 480}
            for n in range(images)
        ],
        "annotations": [
            {
                "id": a + 1,
                "image_id": a % images + 1,
                "category_id": 1,
                "bbox": [a % 600, 10, 30.5, 20],
                "area": 610.0,
                "iscrowd": 0,
            }
            for a in range(images * 4)
        ],
        "categories": [{"id": 1, "name": "car", "supercategory": "thing"}],
    }
    path.write_bytes(orjson.dumps(doc))
    return path


def _stored(catalog: workbench.Catalog) -> tuple[int, int]:
    con = catalog._con
    frames = con.execute("SELECT count(*) FROM frames").fetchall()[0][0]
    rois = con.execute("SELECT count(*) FROM rois").fetchall()[0][0]
    return int(frames), int(rois)


@pytest.mark.parametrize("whole", [False, True], ids=["pieces", "whole document"])
def test_out_of_memory_is_told_and_the_file_read_record_by_record(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, whole: bool
) -> None:
    path = _instances(tmp_path / "big.json", 3_000)
    if whole:  # a document that is not cut into pieces is read whole by the engine
        monkeypatch.setattr(_coco_columnar, "members", lambda *_: None)
    # The engine the importer makes, with a budget too small for the file's records.
    monkeypatch.setattr(_coco_columnar, "ENGINE_MEMORY", "2MB")
    with workbench.open(tmp_path / "c.duckdb") as catalog:
        report = coco.import_files(catalog, [path], progress=False)
        assert (report.frames, report.rois, report.rejected) == (3_000, 12_000, 0)
        assert _stored(catalog) == (3_000, 12_000)
    kind = KIND
    assert report.warnings == {kind: 1}
    told = report.warning_examples[kind]
    assert told.startswith(f"{path}: Out of Memory Error: failed to allocate"), told
    assert "Possible solutions" not in told
    assert f"warning: 1 {kind} (first: {path}: Out of Memory Error" in str(report)


def test_errors_of_a_file_read_record_by_record_are_counted_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Out of memory after the staging refused some records (at this budget, in the
    annotations' statement, after the images' was done): their errors come from the
    per-record path alone, not twice."""
    doc = orjson.loads(_instances(tmp_path / "f.json", 1_000).read_bytes())
    doc["images"][5]["width"] = "wide"
    doc["annotations"][7]["bbox"] = [1, 2]
    path = tmp_path / "bad.json"
    path.write_bytes(orjson.dumps(doc))
    with workbench.open(tmp_path / "a.duckdb") as catalog:
        enough = coco.import_files(catalog, [path], progress=False)
    monkeypatch.setattr(_coco_columnar, "ENGINE_MEMORY", "12MB")
    with workbench.open(tmp_path / "b.duckdb") as catalog:
        short = coco.import_files(catalog, [path], progress=False)
    assert enough.warnings == {}
    assert list(short.warnings) == [KIND]
    assert enough.rejected == short.rejected == 6  # the image, its 4 annotations, the box
    assert sorted(map(str, short.errors)) == sorted(map(str, enough.errors))
    assert (short.frames, short.rois) == (enough.frames, enough.rois)


def test_a_file_not_json_goes_record_by_record_without_a_warning(tmp_path: Path) -> None:
    path = _instances(tmp_path / "f.json", 50)
    text = path.read_bytes()
    path.write_bytes(text.replace(b'"iscrowd":0}', b'"iscrowd":0 x}', 1))
    with workbench.open(tmp_path / "c.duckdb") as catalog:
        report = coco.import_files(catalog, [path], progress=False)
    assert report.warnings == {}
    assert report.rejected >= 1
    assert str(path) in str(report.errors[0])
