"""A COCO file whose staging runs out of the engine's memory, with a real engine held to a
real small budget (DuckDB's own out-of-memory error): the staging is tried again in smaller
pieces and batches on one thread, and either imports the file whole, as a staging with enough
memory would, or, when that runs out too, a file too big for the per-record path stops with
an error naming the file, the engine's message and the setting to raise; a small one still
goes record by record, its errors those of that path."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

import workbench
from workbench.cli import EXIT_ERROR, main
from workbench.errors import IngestError
from workbench.ingest import _coco_columnar, coco

AGAIN = _coco_columnar.WARN_STAGED_AGAIN
BY_RECORD = _coco_columnar.WARN_READ_BY_RECORD


def _instances(path: Path, images: int) -> Path:
    """An instances file of `images` images, four annotations each (about 500 bytes an
    image), with a bad image, a bad box and an annotation of an unknown image."""
    doc: dict[str, Any] = {
        "images": [
            {"id": n + 1, "file_name": f"s3://b/{n:06d}.jpg", "width": 640, "height": 480}
            for n in range(images)
        ],
        "annotations": [
            {
                "id": a + 1,
                "image_id": (a * 7919) % images + 1,
                "category_id": a % 3 + 1,
                "bbox": [a % 600, 10, 30.5, 20],
                "area": 610.0,
                "iscrowd": 0,
            }
            for a in range(images * 4)
        ],
        "categories": [{"id": n + 1, "name": f"c{n}", "supercategory": "s"} for n in range(3)],
    }
    doc["images"][5]["width"] = "wide"
    doc["annotations"][7]["bbox"] = [1, 2]
    doc["annotations"][11]["image_id"] = images + 10
    path.write_bytes(orjson.dumps(doc))
    return path


def _stored(catalog: workbench.Catalog) -> tuple[list[str], int]:
    con = catalog._con
    frames = [r[0] for r in con.execute("SELECT id FROM frames ORDER BY id").fetchall()]
    return frames, int(con.execute("SELECT count(*) FROM rois").fetchall()[0][0])


def _engines(monkeypatch: pytest.MonkeyPatch) -> list[int | None]:
    """The threads of each engine the importer makes (real engines, counted)."""
    made: list[int | None] = []

    class Counted(_coco_columnar.MemoryEngine):
        def __init__(self, *args: Any, threads: int | None = None, **kwargs: Any) -> None:
            made.append(threads)
            super().__init__(*args, threads=threads, **kwargs)

    monkeypatch.setattr(_coco_columnar, "MemoryEngine", Counted)
    return made


def test_out_of_memory_stages_again_in_smaller_batches_and_imports_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """At 64MB the first plan's 16 MB pieces of annotations do not parse (the engine asks for
    64 MiB); 1 MB pieces on one thread do, and what is stored and refused is what a staging
    with enough memory stores and refuses."""
    path = _instances(tmp_path / "i.json", 20_000)
    monkeypatch.setattr(_coco_columnar, "ANNOTATION_BATCH_BYTES", 2 << 20)
    with workbench.open(tmp_path / "a.duckdb") as catalog:
        enough = coco.import_files(catalog, [path], progress=False, batch_size=7_000)
        expected = _stored(catalog)
    made = _engines(monkeypatch)
    with workbench.open(tmp_path / "b.duckdb") as catalog:
        short = coco.import_files(
            catalog, [path], progress=False, batch_size=7_000, engine_memory="64MB"
        )
        assert _stored(catalog) == expected
    assert made == [None, 1]  # a second engine, on one thread
    assert enough.warnings == {} and list(short.warnings) == [AGAIN]
    told = short.warning_examples[AGAIN]
    assert told.startswith(f"{path}: Out of Memory Error: failed to allocate"), told
    assert (short.frames, short.rois) == (enough.frames, enough.rois) == (19_999, 79_994)
    assert [str(e) for e in short.errors] == [str(e) for e in enough.errors]
    assert short.rejected == enough.rejected == 7  # the image, its 4 annotations, 2 more


def test_a_file_too_big_for_the_per_record_path_stops_with_the_engines_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Out of memory in both plans, and the file's images past what the per-record path may
    hold: an error naming the file, the engine's message and the setting; nothing stored."""
    path = _instances(tmp_path / "i.json", 2_000)
    monkeypatch.setattr(_coco_columnar, "BY_RECORD_MAX_IMAGE_BYTES", 100_000)  # 2,000 images
    made = _engines(monkeypatch)
    with workbench.open(tmp_path / "c.duckdb") as catalog:
        with pytest.raises(IngestError) as raised:
            coco.import_files(catalog, [path], progress=False, engine_memory="2MB")
        assert _stored(catalog) == ([], 0)
    told = str(raised.value)
    assert made == [None, 1]
    assert told.startswith(f"{path}: the import's engine ran out of its 2MB of memory"), told
    assert "Out of Memory Error: failed to allocate" in told
    assert "engine_memory" in told and "Possible solutions" not in told
    assert isinstance(raised.value.__cause__, _coco_columnar.duckdb.OutOfMemoryException)


def test_a_small_file_still_goes_record_by_record_with_that_paths_errors(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _instances(tmp_path / "i.json", 2_000)
    with monkeypatch.context() as patched:
        patched.setattr(_coco_columnar, "MAX_DOCUMENT_BYTES", 0)  # every file record by record
        with workbench.open(tmp_path / "a.duckdb") as catalog:
            by_record = coco.import_files(catalog, [path], progress=False)
            expected = _stored(catalog)
    made = _engines(monkeypatch)
    with workbench.open(tmp_path / "b.duckdb") as catalog:
        short = coco.import_files(catalog, [path], progress=False, engine_memory="2MB")
        assert _stored(catalog) == expected
    assert made == [None, 1]
    assert list(short.warnings) == [BY_RECORD]
    assert short.warning_examples[BY_RECORD].startswith(f"{path}: Out of Memory Error")
    assert [str(e) for e in short.errors] == [str(e) for e in by_record.errors]
    assert (short.frames, short.rois, short.rejected) == (1_999, 7_994, 7)


def test_an_engine_memory_not_a_size_is_refused(tmp_path: Path) -> None:
    path = _instances(tmp_path / "i.json", 10)
    with (
        workbench.open(tmp_path / "c.duckdb") as catalog,
        pytest.raises(ValueError, match="engine_memory"),
    ):
        coco.import_files(catalog, [path], progress=False, engine_memory="lots")


def test_out_of_memory_in_a_write_names_the_file_and_the_images(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A write runs out of its budget (once staged, the engine is held to WRITES_MEMORY):
    not tried again, as writes before it are stored, but told with the file and the images."""
    path = _instances(tmp_path / "i.json", 2_000)
    monkeypatch.setattr(_coco_columnar, "WRITES_MEMORY", "1MB")
    with workbench.open(tmp_path / "c.duckdb") as catalog:
        with pytest.raises(IngestError) as raised:
            coco.import_files(catalog, [path], progress=False, batch_size=500)
        assert _stored(catalog) == ([], 0)
    told = str(raised.value)
    assert told.startswith(f"{path}: the import's engine ran out of memory writing images #1 ")
    assert "Out of Memory Error" in told and "of 1,999" in told


def test_the_command_line_takes_the_engines_memory_and_shows_its_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`workbench ingest coco ... -o engine_memory=2MB`: the budget reaches the staging, and
    the stop is printed as an error (exit 2, after the progress bar), the option to raise named."""
    path = _instances(tmp_path / "i.json", 2_000)
    monkeypatch.setattr(_coco_columnar, "BY_RECORD_MAX_IMAGE_BYTES", 100_000)
    catalog = str(tmp_path / "c.duckdb")
    argv = ["ingest", "coco", str(path), "--catalog", catalog, "-o", "engine_memory=2MB"]
    assert main(argv) == EXIT_ERROR
    told = capsys.readouterr().err
    assert f"error: {path}: the import's engine ran out of its 2MB" in told, told
    assert "-o engine_memory=4GB" in told
