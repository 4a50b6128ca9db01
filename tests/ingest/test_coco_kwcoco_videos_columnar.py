"""kwcoco video files read by the columnar statements store exactly what the per-record path
stores: seeded files mixing good and bad videos, frames, times and track ids give every frame
and ROI column, every error in order and every warning alike, in one write or many."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pytest

import workbench
from workbench.ingest import _coco_columnar, _coco_videos
from workbench.ingest import coco as coco_import
from workbench.model.records import FRAME_SCHEMA, ROI_SCHEMA

_FRAMES = ", ".join(f.name for f in FRAME_SCHEMA if f.name != "ingested")
_ROIS = ", ".join(f.name for f in ROI_SCHEMA)


def _pick(rng: random.Random, good: Any, odd: list[Any]) -> Any:
    return good if rng.random() < 0.85 else rng.choice(odd)


def _document(seed: int) -> dict[str, Any]:
    rng = random.Random(seed)
    videos: list[Any] = [{"id": 1, "name": "drive", "width": 64, "caption": "é \u2028"},
                         {"id": "v2", "name": "park"}, {"id": 3, "name": "yard"},
                         {"id": 4}, {"id": 1, "name": "again"}, {"id": 5, "name": "drive"},
                         {"id": 6, "name": "bad\u202ename"}, "text", {"id": True, "name": "t"},
                         {"id": 7, "name": "big", "blob": "x" * 40_000}]  # fmt: skip
    rng.shuffle(videos)
    video_ids = [1, "v2", 3, 4, 5, 6, 7, 99, "1", True, None]
    images, annotations = [], []
    for n in range(160):
        image: dict[str, Any] = {"id": _pick(rng, n + 1, [n, "x", None, 2.5]),
                                 "file_name": _pick(rng, f"f{n}.jpg", ["", 3, "a/../b.jpg"]),
                                 "width": 64, "height": _pick(rng, 48, [0, "48", None])}  # fmt: skip
        if rng.random() < 0.8:
            image["video_id"] = _pick(rng, rng.choice([1, "v2", 3, 1, "v2", 6]), video_ids)
            image["frame_index"] = _pick(rng, n % 40, [-1, 2.0, True, 2**31, "3", None])
            image["timestamp"] = _pick(
                rng, 1.7e9 + n / 30,
                [1_700_000_000, "2024-05-01T10:00:00", "2024-05-01T10:00:00+02:00", "soon",
                 True, 1e300, None, 0.0005, 0.0015, -5],
            )  # fmt: skip
            if rng.random() < 0.05:
                image["video"] = {"mine": 1}
        if rng.random() < 0.1:
            image["weather"] = "rain"
        images.append(image)
        for _ in range(rng.randint(0, 4)):
            annotation: dict[str, Any] = {
                "id": _pick(rng, len(annotations) + 1, [1, "a", None]),
                "image_id": _pick(rng, n + 1, [n + 500, "1", None]),
                "category_id": _pick(rng, 1, [9]),
                "bbox": _pick(rng, [1, 2, 10, 10], [[1, 2], "box", [1, 2, -3, 4]]),
            }
            if rng.random() < 0.9:
                annotation["track_id"] = _pick(
                    rng, rng.choice([0, 3, 7, "cyclist", "walker", "c-uuid"]),
                    [-4, 2**31, 2**40, 1.5, True, [1], None, "", 12],
                )  # fmt: skip
            if rng.random() < 0.3:
                annotation["area"] = 100.0
            if rng.random() < 0.05:
                annotation["track"] = rng.choice([1, {"track": 2}, "x"])
            if rng.random() < 0.05:
                annotation["note"] = {"track": 2}
            annotations.append(annotation)
    categories = [{"id": 1, "name": "car"}]
    tracks: list[Any] = [{"id": 0, "name": "t0"}, {"id": 3, "name": "t3", "color": [1, 0.5]},
                         {"id": "cyclist", "name": "c", "note": "é \u2028 \"q\""},
                         {"name": "no id"}, {"id": 3, "name": "again"}, [1],
                         {"id": 7, "name": "long", "blob": "x" * 600_000}]  # fmt: skip
    rng.shuffle(tracks)
    return {"categories": categories, "videos": videos, "tracks": tracks, "images": images,
            "annotations": annotations}  # fmt: skip


def _import(tmp_path: Path, name: str, path: Path, **options: Any) -> tuple[Any, ...]:
    with workbench.open(tmp_path / f"{name}.duckdb") as catalog:
        report = coco_import.import_files(catalog, [path], progress=False, **options)
        frames = catalog.sql(f"SELECT {_FRAMES} FROM frames ORDER BY id").fetchall()
        rois = catalog.sql(f"SELECT {_ROIS} FROM rois ORDER BY frame_id, id").fetchall()
    errors = [str(e) for e in report.errors]
    return frames, rois, errors, report.warnings, report.warning_examples


def _before_annotations(errors: list[str]) -> list[str]:
    return [e for e in errors if ", annotation " not in e]


@pytest.mark.parametrize(("seed", "batch_size"), [(1, 10_000), (2, 10_000), (3, 7), (4, 30)])
def test_a_mixed_video_file_stores_alike_by_sql_and_by_the_per_record_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, seed: int, batch_size: int
) -> None:
    path = tmp_path / "v.kwcoco.json"
    path.write_text(json.dumps(_document(seed), ensure_ascii=seed % 2 == 0))
    staged: list[Any] = []
    stage = _coco_videos.stage_videos

    def counted(*args: Any) -> Any:
        staged.append(stage(*args))
        return staged[-1]

    monkeypatch.setattr(_coco_columnar, "stage_videos", counted)
    by_sql = _import(tmp_path, "sql", path, batch_size=batch_size)
    assert staged and staged[0] is not None  # the columnar statements read it
    monkeypatch.setattr(_coco_columnar, "MAX_DOCUMENT_BYTES", 0)
    by_record = _import(tmp_path, "each", path, batch_size=batch_size)
    assert len(staged) == 1
    frames, rois, errors, warnings, examples = by_sql
    assert sum(f[3] is not None and ":" in f[3] and f[5] is not None for f in frames) > 20
    assert sum(r[16] is not None for r in rois) > 40  # ROIs on tracks
    assert frames == by_record[0]
    assert rois == by_record[1]
    # The images' and videos' errors in order; the annotations' (which each path gives in an
    # order of its own, as for plain COCO: tests/ingest/test_coco_columnar.py) alike.
    assert _before_annotations(errors) == _before_annotations(by_record[2])
    assert sorted(errors) == sorted(by_record[2])
    assert len(errors) > 20
    assert any("video #" in e for e in errors)
    assert any("track #" in e for e in errors)
    assert sum(r[15] is not None and '"track":{' in r[15] for r in rois) > 10
    assert (warnings, examples) == by_record[3:]


@pytest.mark.parametrize("seed", [5, 6])
def test_a_file_of_tracks_and_no_video_stores_alike(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, seed: int
) -> None:
    """kwcoco's `tracks` used by still images alone: each ROI naming a track keeps its record,
    by SQL as record by record; the bad records refused alike."""
    doc = _document(seed)
    del doc["videos"]
    path = tmp_path / "t.kwcoco.json"
    path.write_text(json.dumps(doc, ensure_ascii=seed % 2 == 0))
    by_sql = _import(tmp_path, "sql", path)
    monkeypatch.setattr(_coco_columnar, "MAX_DOCUMENT_BYTES", 0)
    by_record = _import(tmp_path, "each", path)
    frames, rois, errors, warnings, examples = by_sql
    assert frames == by_record[0]
    assert rois == by_record[1]
    assert sorted(errors) == sorted(by_record[2])
    assert any("track #" in e for e in errors)
    assert all(r[16] is None for r in rois)  # no video: no track index
    assert sum(r[15] is not None and '"track":{' in r[15] for r in rois) > 10
    assert (warnings, examples) == by_record[3:]
