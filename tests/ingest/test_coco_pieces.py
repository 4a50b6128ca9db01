"""A COCO document cut into pieces (workbench.ingest._coco_pieces): the pieces hold the records
of the whole document, in order, and an import read in pieces stores what the per-record path
stores; documents of any other shape are not cut."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from tests.benches import bench_module
from workbench.ingest import _coco_columnar, _coco_pieces

from .test_coco_columnar import _document, _same_on_both_paths


def _records(path: Path, piece_bytes: int) -> dict[str, list[Any]] | None:
    found = _coco_pieces.members(path, piece_bytes)
    if found is None:
        return None
    out: dict[str, list[Any]] = {}
    for key, member in found.items():
        out[key] = []
        texts = list(_coco_pieces.pieces(path, member))
        assert len(texts) == len(member.cuts) == len(member.firsts)
        for text, first in zip(texts, member.firsts.tolist(), strict=True):
            assert first == len(out[key])  # the number of the piece's first record
            out[key] += json.loads(text)
        # Each piece but the last ends at the first record ending piece_bytes past its start.
        for start, end in zip(member.cuts[:-1], member.cuts[1:], strict=True):
            assert end - start >= piece_bytes
    return out


def _text(rng: random.Random) -> str:
    return "".join(rng.choice('ab\\"[]{},:') for _ in range(rng.randint(0, 8)))


@pytest.mark.parametrize("seed", range(40))
def test_pieces_hold_the_records_of_the_document(
    tmp_path: Path, seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Blocks of a few bytes: strings, escapes and runs of backslashes cross block borders.
    monkeypatch.setattr(_coco_pieces, "_BLOCK", seed % 7 + 1)
    rng = random.Random(seed)
    doc = {
        "info": {"s": _text(rng), "l": [_text(rng), {"x": []}]},
        "categories": [{"id": n, "name": _text(rng)} for n in range(rng.randint(0, 5))],
        "images": [{"id": n, "f": _text(rng)} for n in range(rng.randint(0, 30))],
        "annotations": [
            [rng.random(), {"x": "\\" * rng.randint(0, 5)}, _text(rng)]
            for _ in range(rng.randint(0, 30))
        ],
    }
    path = tmp_path / "doc.json"
    path.write_text(json.dumps(doc, indent=seed % 3 or None))
    got = _records(path, rng.randint(1, 200))
    assert got == {k: doc[k] for k in _coco_pieces.KEYS}


def test_a_large_document_keeps_a_few_cuts_only(tmp_path: Path) -> None:
    """What the scan keeps grows with the pieces, not with the records."""
    doc = {
        "images": [{"id": n, "file_name": f"{n}.jpg"} for n in range(20_000)],
        "annotations": [
            {"id": n, "image_id": n % 100, "bbox": [1, 2, 3, 4]} for n in range(50_000)
        ],
        "categories": [],
    }
    path = tmp_path / "doc.json"
    path.write_text(json.dumps(doc))
    found = _coco_pieces.members(path, 1 << 20)
    assert found is not None
    assert [len(found[k].cuts) for k in _coco_pieces.KEYS] == [1, 3, 1]
    assert _records(path, 1 << 20) == doc


@pytest.mark.parametrize(
    "text",
    [
        b'\xef\xbb\xbf\xef\xbb\xbf{"images": [], "annotations": [1], "categories": []}',  # 2 BOMs
        b'x{"images": [], "annotations": [1], "categories": []}',  # before the document
        b'{"images": [], "annotations": [1], "categories": [], "images": []}',  # a key twice
        b'{"images": [], "annotations": [1], "categories": []} x',  # after the document
        b'{"images": [], "annotations": [1], "categories": [], "info": tru}',  # broken outside
        b'{"images": [], "annotations": [1], "categories": {}}',  # not an array
        b'{"images": [], "annotations": [1]}',  # a key missing
        b'{"images": [], "annotations": [1, "]], "categories": []}',  # ends in a string
        b'[{"image_id": 1}]',  # a results file
    ],
)
def test_documents_of_other_shapes_are_not_cut(tmp_path: Path, text: bytes) -> None:
    path = tmp_path / "doc.json"
    path.write_bytes(text)
    assert _coco_pieces.members(path, 1) is None


def test_a_byte_order_mark_is_not_part_of_the_document(tmp_path: Path) -> None:
    path = tmp_path / "doc.json"
    path.write_bytes(b'\xef\xbb\xbf {"images": [], "annotations": [1], "categories": [{}]}')
    assert _records(path, 1) == {"images": [], "annotations": [1], "categories": [{}]}


def test_an_empty_record_stays_an_error_in_its_piece(tmp_path: Path) -> None:
    """`[1, ]` is not JSON: a piece holding only the empty record must not read as `[]`."""
    path = tmp_path / "doc.json"
    path.write_bytes(b'{"images": [], "annotations": [1, 2, ], "categories": []}')
    found = _coco_pieces.members(path, 1)
    assert found is not None
    texts = list(_coco_pieces.pieces(path, found["annotations"]))
    with pytest.raises(json.JSONDecodeError):
        for text in texts:
            json.loads(text)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_an_import_read_in_small_pieces_stores_what_the_per_record_path_stores(
    tmp_path: Path, seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_coco_columnar, "PIECE_BYTES", 300 * seed)
    path = tmp_path / "instances.json"
    path.write_text(json.dumps(_document(seed), indent=1 if seed == 2 else None))
    assert _coco_pieces.members(path, 1) is not None
    columnar = _same_on_both_paths(tmp_path, path, 50)
    assert columnar.frames > 20 and columnar.rois > 50


def test_a_document_that_is_not_cut_is_read_whole(tmp_path: Path) -> None:
    path = tmp_path / "instances.json"
    path.write_bytes(b'{"info": {}, "info": [], ' + json.dumps(_document(4)).encode()[1:])
    assert _coco_pieces.members(path, 1) is None
    columnar = _same_on_both_paths(tmp_path, path, 50)
    assert columnar.frames > 20


def test_python_holds_only_the_images_its_annotations_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The annotations SQL does not take look their image up in Python: only theirs are
    fetched, not every image of the file."""
    doc = {
        "images": [{"id": n, "file_name": f"{n}.jpg", "width": 9, "height": 9} for n in range(50)],
        "annotations": [
            {"id": n, "image_id": n, "category_id": 1, "bbox": [1, 1, 2, 2]} for n in range(50)
        ],
        "categories": [{"id": 1, "name": "c"}],
    }
    doc["annotations"][7]["color"] = None  # a null extra key: the per-record path's
    doc["annotations"][9]["image_id"] = "9"  # an unknown image, for both paths
    path = tmp_path / "instances.json"
    path.write_text(json.dumps(doc))
    held: list[int] = []
    images_named = _coco_columnar._images_named

    def counted(con: Any, values: list[tuple[int, Any]]) -> Any:
        found = images_named(con, values)
        held.append(len(found))
        return found

    monkeypatch.setattr(_coco_columnar, "_images_named", counted)
    columnar = _same_on_both_paths(tmp_path, path, 20)
    assert held == [1]
    assert (columnar.frames, columnar.rois) == (50, 49)


def test_only_a_document_that_cannot_be_cut_is_bounded_in_size(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No size bound for a document that can be cut; one that cannot is read whole only up
    to MAX_WHOLE_BYTES, then streamed."""
    assert _coco_columnar.MAX_DOCUMENT_BYTES is None
    calls: list[str] = []
    read = _coco_columnar._read

    def recorded(con: Any, path: Path, found: Any, size: int) -> None:
        calls.append("whole" if found is None else "pieces")
        read(con, path, found, size)

    monkeypatch.setattr(_coco_columnar, "_read", recorded)
    text = json.dumps(_document(5)).encode()
    twice = b'{"info": {}, "info": [], ' + text[1:]  # a key twice: not cut
    cases = [("a", text, 0), ("b", twice, len(twice)), ("c", twice, len(twice) - 1)]
    for folder, content, bound in cases:
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "instances.json").write_bytes(content)
        monkeypatch.setattr(_coco_columnar, "MAX_WHOLE_BYTES", bound)
        _same_on_both_paths(tmp_path / folder, tmp_path / folder / "instances.json", 50)
    assert calls == ["pieces", "whole"]


def _as_cut(path: Path, member: _coco_pieces.Member) -> list[bytes]:
    """Each piece as the file's bytes between its cuts, in brackets."""
    data = path.read_bytes()
    ends = [*member.cuts[1:].tolist(), member.end]
    return [b"[" + data[a + 1 : b] + b"]" for a, b in zip(member.cuts.tolist(), ends, strict=True)]


@pytest.mark.parametrize("indent", [None, 2])
def test_pieces_are_read_into_arrow_as_the_file_holds_them(
    tmp_path: Path, indent: int | None
) -> None:
    """Each piece is one binary value holding the bytes between its cuts, in brackets."""
    doc = _document(5)
    path = tmp_path / "instances.json"
    path.write_text(json.dumps(doc, indent=indent))
    found = _coco_pieces.members(path, 200)
    assert found is not None
    for member in found.values():
        arrays = list(_coco_pieces.piece_arrays(path, member))
        assert all(a.type == pa.binary() and len(a) == 1 for a in arrays)
        assert [a[0].as_py() for a in arrays] == _as_cut(path, member)
        assert [json.loads(a[0].as_py()) for a in arrays] == _pieces_of(doc[member.key], arrays)
    assert len(list(_coco_pieces.piece_arrays(path, found["annotations"]))) > 3


def _pieces_of(records: list[Any], arrays: list[pa.Array]) -> list[list[Any]]:
    """`records` split as `arrays` split them (by their own counts)."""
    out, at = [], 0
    for a in arrays:
        count = len(json.loads(a[0].as_py()))
        out.append(records[at : at + count])
        at += count
    assert at == len(records)
    return out


def test_an_empty_record_and_a_shortened_file_read_as_before(tmp_path: Path) -> None:
    """A piece of blanks only is `[,]` (not JSON, as the document); a file shortened after
    its scan gives what is left of each piece."""
    path = tmp_path / "doc.json"
    path.write_bytes(b'{"images": [], "annotations": [1, 2,  \n ], "categories": []}')
    found = _coco_pieces.members(path, 1)
    assert found is not None
    got = [a[0].as_py() for a in _coco_pieces.piece_arrays(path, found["annotations"])]
    assert got == [b"[1]", b"[ 2]", b"[,]"]
    path.write_bytes(b'{"images": [], "annotations": [11, 2222, 3], "categories": []}')
    found = _coco_pieces.members(path, 1)
    assert found is not None
    path.write_bytes(b'{"images": [], "annotations": [11, 22')
    got = [a[0].as_py() for a in _coco_pieces.piece_arrays(path, found["annotations"])]
    assert got == [b"[11]", b"[ 22]", b"[,]"]


def test_the_bench_file_read_in_pieces_stores_what_the_per_record_path_stores(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The formats bench's file (annotations not grouped by image), cut into many pieces and
    read two at a time: every table as the per-record path stores it."""
    write_coco = bench_module("formats_bench").write_coco
    monkeypatch.setattr(_coco_columnar, "PIECE_BYTES", 4096)
    path = tmp_path / "instances.json"
    write_coco(path, 300)
    found = _coco_pieces.members(path, 4096)
    assert found is not None and len(found["annotations"].cuts) > 10
    columnar = _same_on_both_paths(tmp_path, path, 100)
    assert (columnar.frames, columnar.rois, columnar.errors) == (300, 1200, [])
