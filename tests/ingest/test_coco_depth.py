"""Records nested near the depth limit in a COCO instances file: SQL looks at a record's
brackets only when the document nests deeper than the limit somewhere or was read whole, and
stores and refuses exactly what the per-record path does in every case."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from workbench.ingest import IngestReport, _coco_columnar, _coco_pieces
from workbench.model.limits import MAX_JSON_DEPTH

from .test_coco_columnar import _same_on_both_paths


def _nested(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = [value]
    return value


def _document(deepest: int) -> dict[str, Any]:
    """Annotations with an extra attribute nested so that the record's depth runs up to
    `deepest`, and boxes with many rings (more brackets than the limit, shallow)."""
    images = [{"id": n, "file_name": f"{n}.jpg", "width": 99, "height": 99} for n in range(6)]
    annotations: list[dict[str, Any]] = []
    for n, depth in enumerate(range(deepest - 3, deepest + 1)):
        # The record is an object (1), its "attr" holds the rest.
        annotations.append(
            {"id": n + 1, "image_id": n, "category_id": 1, "bbox": [1, 1, 2, 2],
             "attr": _nested(depth - 1)}
        )  # fmt: skip
    rings = [[1, 1, 5, 1, 5, 5] for _ in range(MAX_JSON_DEPTH + 5)]
    annotations.append(
        {"id": 10, "image_id": 4, "category_id": 1, "segmentation": rings, "area": 8.0,
         "bbox": [1, 1, 4, 4]}
    )  # fmt: skip
    annotations += [
        {"id": 11 + n, "image_id": 5, "category_id": 1, "bbox": [n, 1, 2, 2]} for n in range(5)
    ]
    return {"images": images, "annotations": annotations, "categories": [{"id": 1, "name": "c"}]}


@pytest.mark.parametrize("whole", [False, True], ids=["pieces", "whole"])
@pytest.mark.parametrize("deepest", [MAX_JSON_DEPTH, MAX_JSON_DEPTH + 1, MAX_JSON_DEPTH + 2])
def test_records_near_the_depth_limit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, whole: bool, deepest: int
) -> None:
    path = tmp_path / "instances.json"
    path.write_text(json.dumps(_document(deepest)))
    if whole:
        monkeypatch.setattr(_coco_columnar, "members", lambda *_: None)
    else:
        monkeypatch.setattr(_coco_columnar, "PIECE_BYTES", 200)
        assert _coco_pieces.members(path, 200) is not None
    report = _same_on_both_paths(tmp_path, path, 4, _errors)
    refused = [e for e in _errors(report) if "nested deeper" in str(e)]
    assert len(refused) == deepest - MAX_JSON_DEPTH
    assert report.rois == 10 - len(refused)


def _errors(report: IngestReport) -> list[tuple[str, str]]:
    # The per-record path says where in the record it went too deep; SQL's refusal does not.
    return sorted(
        (str(e.where), re.sub(r" \(at byte \d+\)$", "", e.problem)) for e in report.errors
    )
