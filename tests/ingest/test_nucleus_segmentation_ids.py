"""A Nucleus segmentation's ROI ids (`<its id>/<n>`) against the ids its frame holds, however
the import's files fall into chunks: a made id skips a base a segmentation took, an
annotation_id a segmentation (or one of its segments) took is refused as given twice, and a
frame's ROI ids stay unique in the catalog; alike by SQL and by the loop."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import workbench
from workbench.ingest import (
    CatalogWriter,
    Frame,
    Source,
    _nucleus_annotation_columnar,
    _nucleus_placing,
    nucleus_annotations,
)


def _catalog(path: Path) -> workbench.Catalog:
    catalog = workbench.open(path)
    with CatalogWriter(catalog, progress=False) as writer:
        for n in range(3):
            writer.add(Frame(f"f{n}", [Source("image", f"/i/{n}.jpg", 100, 80)]))
    return catalog


def _mask(ref: str, segments: int, **given: Any) -> dict[str, Any]:
    return {"type": "segmentation", "reference_id": ref, "mask_url": "s3://b/m.png",
            "annotations": [{"label": "road", "index": k} for k in range(segments)], **given}  # fmt: skip


def _box(ref: str, **given: Any) -> dict[str, Any]:
    return {"type": "box", "reference_id": ref, "label": "car",
            "geometry": {"x": 1, "y": 2, "width": 3, "height": 4}, **given}  # fmt: skip


# (payloads of the first file, of the second), each placed alike however they are chunked
_FIRST = [
    _mask("f0", 2),
    _mask("f0", 1),
    _mask("f0", 2, annotation_id="A"),
    _box("f0", annotation_id="A"),  # the segmentation's id: refused
    _box("f0", annotation_id="A/1"),  # one of its segments' ids: refused
    _box("f0", annotation_id="A/2"),  # no segment's id
    _mask("f1", 1, annotation_id="box-0"),
    _box("f1"),  # box-0 a segmentation's base: box-1
    _box("f2", annotation_id="s/1"),
]
_SECOND = [
    _mask("f0", 1),
    _mask("f0", 1, annotation_id="A"),  # refused
    _mask("f1", 3, annotation_id="B"),
    _box("f1", annotation_id="B"),  # refused
    _mask("f2", 2, annotation_id="s"),  # its segment s/1 the box's: refused
    _mask("f2", 1),
]
_EXPECTED = [
    ("f0", "A/0"), ("f0", "A/1"), ("f0", "A/2"),
    ("f0", "mask-0/0"), ("f0", "mask-0/1"), ("f0", "mask-1/0"), ("f0", "mask-2/0"),
    ("f1", "B/0"), ("f1", "B/1"), ("f1", "B/2"), ("f1", "box-0/0"), ("f1", "box-1"),
    ("f2", "mask-0/0"), ("f2", "s/1"),
]  # fmt: skip
_REFUSED = [
    ("a.ndjson:4", "A"), ("a.ndjson:5", "A/1"),
    ("b.ndjson:2", "A"), ("b.ndjson:4", "B"), ("b.ndjson:5", "s"),
]  # fmt: skip


def _files(tmp_path: Path) -> list[Path]:
    paths = []
    for name, payloads in (("a.ndjson", _FIRST), ("b.ndjson", _SECOND)):
        path = tmp_path / name
        path.write_text("".join(json.dumps(p) + "\n" for p in payloads))
        paths.append(path)
    return paths


@pytest.mark.parametrize("way", ["sql", "loop", "each"])
@pytest.mark.parametrize("chunk", [1, 2, 4, 1000])
def test_segmentations_ids_stay_unique_on_their_frames_over_chunks_and_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, way: str, chunk: int
) -> None:
    """Two files in one import, cut into chunks of `chunk` annotations, placed by SQL, by
    the loop over rows SQL read, or read and placed one by one."""
    monkeypatch.setattr(_nucleus_placing, "CHUNK", chunk)
    if way != "sql":
        monkeypatch.setattr(_nucleus_placing.Placing, "_by_sql", lambda *_: False)
    if way == "each":
        monkeypatch.setattr(_nucleus_annotation_columnar, "PER_RECORD_PATTERN", "^")
    first, second = _files(tmp_path)
    with _catalog(tmp_path / "c.duckdb") as catalog:
        report = nucleus_annotations.import_files(catalog, [first, second], progress=False)
        repeated = catalog.sql(
            "SELECT frame_id, id, count(*) FROM rois GROUP BY frame_id, id HAVING count(*) > 1"
        ).fetchall()
        ids = catalog.sql("SELECT frame_id, id FROM rois ORDER BY ALL").fetchall()
    assert repeated == []
    assert ids == _EXPECTED
    refused = [(Path(e.where.split(",")[0]).name, e.problem) for e in report.errors]
    assert refused == [
        (where, f"annotation_id {given!r} came earlier for this item") for where, given in _REFUSED
    ]
