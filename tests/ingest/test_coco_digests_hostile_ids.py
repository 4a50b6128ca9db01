"""A COCO file whose image ids are hostile (huge, negative, zero, strings, sparse, an id
given to two images) and whose annotations come in more batches than the digests have bits
(`_coco_sums.BITS`), imported, changed here and there, imported again: the catalog and the
report end as the same imports without the digests' lookup leave them."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import workbench
from workbench.ingest import _coco_columnar, _coco_digests, coco

from .test_coco_digests import _outcome

_IDS: list[Any] = [2**62, -5, 0, "a", "b7", 7, 10**6, 2**53 + 1, -(2**62), 3, 3]


def _document() -> dict[str, Any]:
    images = [
        {"id": i, "file_name": f"{n}.jpg", "width": 64, "height": 48} for n, i in enumerate(_IDS)
    ]
    annotations = []
    for k in range(400):  # spread over the file, each image's in many batches
        image = _IDS[k % len(_IDS)]
        box = [1 + k % 5, 2, 10 + k % 3, 8]
        annotations.append(
            {"id": 1000 + k, "image_id": image, "category_id": 1 + k % 2, "bbox": box,
             "area": box[2] * box[3], "iscrowd": 0}
        )  # fmt: skip
    categories = [{"id": 1, "name": "car"}, {"id": 2, "name": "bus"}]
    return {"images": images, "annotations": annotations, "categories": categories}


def _late_box(doc: dict[str, Any]) -> None:  # an annotation past the 32nd batch
    doc["annotations"][380]["bbox"] = [2, 2, 3, 3]


def _huge_id_moved(doc: dict[str, Any]) -> None:  # from the huge id to the negative one
    for ann in doc["annotations"]:
        if ann["image_id"] == 2**62:
            ann["image_id"] = -5
            break


@pytest.mark.parametrize("change", [_late_box, _huge_id_moved], ids=lambda c: c.__name__)
def test_hostile_ids_update_as_a_fresh_reading_does(
    tmp_path: Path, change: Callable[[dict[str, Any]], None], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_coco_columnar, "PIECE_BYTES", 200)
    monkeypatch.setattr(_coco_columnar, "ANNOTATION_BATCH_BYTES", 1)
    path = tmp_path / "instances.json"
    results = []
    for look in (True, False):
        monkeypatch.setattr(_coco_digests, "LOOK_UP", look)
        doc = _document()
        path.write_text(json.dumps(doc))
        with workbench.open(tmp_path / f"{look}.duckdb") as catalog:
            first = coco.import_files(catalog, [path], progress=False, batch_size=3)
            results.append(_outcome(catalog, first))
            changed = copy.deepcopy(doc)
            change(changed)
            path.write_text(json.dumps(changed))
            report = coco.import_files(catalog, [path], progress=False, batch_size=3)
            results.append(_outcome(catalog, report))
            again = coco.import_files(catalog, [path], progress=False, batch_size=3)
            results.append(_outcome(catalog, again))
    assert results[0][0][0], results[0][1]  # frames stored
    assert results[:3] == results[3:]
