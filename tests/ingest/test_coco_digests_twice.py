"""What an annotation whose text holds `"image_id"` twice costs an update: nothing when it is
a value or a nested key, its images when it is given twice as a key; and the images' sums,
folded by image as the batches come, find the batches an update must convert again."""

import json
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest

import workbench
from workbench.ingest import _coco_columnar, _coco_digests, _coco_sums, coco
from workbench.ingest._coco_digests import ImageDigests
from workbench.ingest._coco_sums import ImageSums


def _document(images: int = 8) -> dict[str, Any]:
    """Images 1..`images`, three annotations each but the last, spread over the file."""
    annotations = []
    for k in range(3 * (images - 1)):
        box = [1 + k % 5, 2, 10 + k % 3, 8]
        annotations.append(
            {"id": 100 + k, "image_id": 1 + k % (images - 1), "category_id": 1, "bbox": box,
             "area": box[2] * box[3], "iscrowd": 0}
        )  # fmt: skip
    return {
        "images": [
            {"id": i, "file_name": f"{i}.jpg", "width": 64, "height": 48}
            for i in range(1, images + 1)
        ],
        "annotations": annotations,
        "categories": [{"id": 1, "name": "car"}],
    }


def _outcome(catalog, report) -> tuple:
    rows = [
        catalog.sql(f"SELECT * EXCLUDE (frame_key{extra}) FROM {table} ORDER BY ALL").fetchall()
        for table, extra in (("frames", ", context_key, ingested"), ("sources", ""), ("rois", ""))
    ]
    return rows, [str(e) for e in report.errors], (report.frames, report.rois)


def _updated(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, first: str, second: str, small: bool
) -> list[tuple]:
    """Import `first`, then `second` into the same catalog, with lookup and without."""
    if small:  # pieces of a few records, a batch each, two images a write
        monkeypatch.setattr(_coco_columnar, "PIECE_BYTES", 200)
        monkeypatch.setattr(_coco_columnar, "ANNOTATION_BATCH_BYTES", 1)
    per_write = 2 if small else 1000
    path = tmp_path / "instances.json"
    results = []
    for look in (True, False):
        monkeypatch.setattr(_coco_digests, "LOOK_UP", look)
        path.write_text(first)
        with workbench.open(tmp_path / f"{look}.duckdb") as catalog:
            coco.import_files(catalog, [path], progress=False, batch_size=per_write)
            path.write_text(second)
            report = coco.import_files(catalog, [path], progress=False, batch_size=per_write)
            results.append(_outcome(catalog, report))
    return results


HEAD = '"id": 100, "image_id": 1, "category_id": 1, "bbox": [1, 2, 10, 8]'
EDITED = HEAD.replace("[1, 2,", "[3, 2,")
# What an annotation of image 1 is given, and the images an update then converts of 8.
GIVEN = [
    ('"note": "image_id", ', 1),  # a value of that text: only the image edited
    ('"note": "\\"image_id\\"", ', 1),  # a value holding it quoted: the same
    ('"extra": {"image_id": 5}, ', 1),  # a nested key: the same
    ('"image_id": 2, ', 2),  # given twice as a key (2, then 1): both images
    ('"image_id": 77, ', 1),  # twice, the first of no image: image 1 alone
    ('"image_id": [2], ', 8),  # twice, a value that is no id: every image
    ('"image\\u005fid": 2, ', 2),  # twice, the first key written with an escape
]


@pytest.mark.parametrize(("given", "converted"), GIVEN)
@pytest.mark.parametrize("small", [True, False], ids=["cut", "whole"])
def test_image_id_twice_costs_only_the_images_it_names(
    tmp_path: Path,
    given: str,
    converted: int,
    small: bool,
    coco_unchanged: list[int],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An update after an edit to an annotation of image 1 whose text holds `"image_id"`
    twice converts image 1, the images a key given twice names, and no other; the catalog
    and report end as the import converting every image leaves them (the per-record path's
    reading of a key given twice: the last)."""
    text = json.dumps(_document())
    assert HEAD in text
    first = text.replace(HEAD, HEAD.replace('"image_id"', given + '"image_id"', 1), 1)
    second = text.replace(HEAD, EDITED.replace('"image_id"', given + '"image_id"', 1), 1)
    results = _updated(tmp_path, monkeypatch, first, second, small)
    assert coco_unchanged == [0, 8 - converted, 0, 0]
    assert results[0] == results[1]
    edited = [(r[0], r[8]) for r in results[0][0][2] if r[1] == "100"]
    assert edited == [("instances:1", 3.0)]


def test_an_unchanged_file_with_image_id_in_a_value_is_left_whole(
    tmp_path: Path, coco_unchanged: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`"image_id"` in a value or a nested key keeps every image digested: an update of
    the same file converts none."""
    text = json.dumps(_document())
    text = text.replace(HEAD, '"note": "image_id", "x": {"image_id": 3}, ' + HEAD, 1)
    results = _updated(tmp_path, monkeypatch, text, text, small=True)
    assert coco_unchanged == [0, 8, 0, 0]
    assert results[0] == results[1]


def _grouped(images: int = 12) -> dict[str, Any]:
    """Annotations listed image by image (three each): each batch of a few records holds
    the annotations of an image or two."""
    doc = _document(images)
    doc["annotations"].sort(key=lambda a: a["image_id"])
    return doc


@pytest.mark.parametrize("bits", [32, 3])
def test_an_update_converts_the_batches_of_the_changed_images(
    tmp_path: Path, bits: int, coco_unchanged: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    """With an image's annotations together, an update after one image's annotation changed
    converts the batches holding its annotations (and, past `BITS` batches, those sharing
    their bit), not the others; the catalog ends as the import converting all leaves it."""
    monkeypatch.setattr(_coco_sums, "BITS", bits)
    monkeypatch.setattr(_coco_digests, "BITS", bits)
    needed: list[list[int]] = []
    look_up = ImageDigests.look_up

    def looked_up(self: ImageDigests, con: Any) -> None:
        look_up(self, con)
        needed.append((list(self._needed), self._batches))

    monkeypatch.setattr(ImageDigests, "look_up", looked_up)
    doc = _grouped()
    first = json.dumps(doc)
    doc["annotations"][19]["bbox"][0] += 1  # image 7's second annotation
    second = json.dumps(doc)
    results = _updated(tmp_path, monkeypatch, first, second, small=True)
    assert coco_unchanged[:2] == [0, 11]
    assert results[0] == results[1]
    (batches, count), *_ = [n for n in needed if n[0] != list(range(n[1]))] or [(None, 0)]
    assert batches is not None and count > 3  # some batches left out; more than 3 bits
    # the batches holding image 7's annotations, found by their records
    held = _batches_of(tmp_path, first, 7)
    assert set(held) <= set(batches)
    assert all(b % bits in {h % bits for h in held} for b in batches)


def _batches_of(tmp_path: Path, text: str, image: int) -> list[int]:
    """The batches (of the test's cut) holding the annotations of `image`."""
    from workbench.ingest._coco_pieces import members

    path = tmp_path / "cut.json"
    path.write_text(text)
    found = members(path, 200)
    assert found is not None
    member = found["annotations"]
    numbers = [n for n, a in enumerate(json.loads(text)["annotations"]) if a["image_id"] == image]
    starts = member.firsts.tolist()
    # annotation_batches: AT_ONCE pieces a statement, a batch as soon as it holds a byte
    from workbench.ingest._coco_texts import AT_ONCE

    groups = starts[::AT_ONCE]
    return sorted({int(np.searchsorted(groups, n, side="right")) - 1 for n in numbers})


def test_the_sums_folded_by_image_are_the_rows_summed(monkeypatch: pytest.MonkeyPatch) -> None:
    """ImageSums over stretches of a few images: each image's hashes and weighted hashes
    summed modulo 2^64, its count, its first number, its batches' bits, as summing every
    batch's rows at once gives them."""
    monkeypatch.setattr(_coco_sums, "CHUNK", 7)
    rng = np.random.default_rng(5)
    images, full = 30, (1 << 64) - 1
    sums = ImageSums(images)
    expected: dict[int, list[int]] = {}
    try:
        for batch in range(40):
            index = np.sort(rng.choice(images, size=rng.integers(0, 12), replace=False))
            h = rng.integers(0, full, size=len(index), dtype=np.uint64, endpoint=True)
            w = rng.integers(0, full, size=len(index), dtype=np.uint64, endpoint=True)
            n = rng.integers(1, 4, size=len(index))
            lo = rng.integers(0, 1000, size=len(index))
            table = pa.table({"i": index, "h": h, "n": n, "w": w, "lo": lo})
            sums.add(table, batch)
            for k, i in enumerate(index.tolist()):
                e = expected.setdefault(i, [0, 0, 0, 1 << 62, 0])
                e[0] = (e[0] + int(h[k])) % (1 << 64)
                e[1] += int(n[k])
                e[2] = (e[2] + int(w[k])) % (1 << 64)
                e[3] = min(e[3], int(lo[k]))
                e[4] |= 1 << (batch % _coco_sums.BITS)
        got = pa.concat_tables(sums.rows()).to_pylist()
    finally:
        sums.close()
    want = [
        {"i": i, "h": h, "n": n, "w": (w - lo * h) % (1 << 64), "bits": bits}
        for i, (h, n, w, lo, bits) in sorted(expected.items())
    ]
    assert got == want
