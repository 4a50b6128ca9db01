"""A COCO update whose look-up of its images' digests runs the catalog's engine out of the
import's memory (a real engine held to a real small budget: DuckDB's own out-of-memory
error). The look-up is the catalog's, not the staging engine's: it must not send the file
to a second plan or to the per-record path (which writes every frame again), nor be read
as "no image unchanged". Looked up in smaller stretches, the update leaves the unchanged
frames as they are and writes the changed ones only; when even the smallest stretch does
not fit, the images are converted and compared with the stored frames (the changed ones
still the only ones written), and the report says so and why.

The frames' ids are long (a prefix of PREFIX characters), so that the look-up of a whole
stretch of images holds several times the memory of one write's frames."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import duckdb
import pytest

import workbench
from workbench.errors import IngestError
from workbench.ingest import _coco_columnar, coco
from workbench.store import line_digests

IMAGES = 20_000
PER_WRITE = 2_000
PREFIX = "p" * 1_000 + ":"
BUDGET = "32MB"
EVERY = 100  # every EVERYth image changed


def _write(path: Path, changed: bool, images: int = IMAGES) -> None:
    """`images` images, one annotation each; `changed`: every EVERYth image's box is wider."""
    doc: dict[str, Any] = {
        "images": [
            {"id": n, "file_name": f"s3://b/{n:06d}.jpg", "width": 640, "height": 480}
            for n in range(1, images + 1)
        ],
        "annotations": [
            {
                "id": n,
                "image_id": n,
                "category_id": 1,
                "bbox": [n % 600, 10, 31.5 if changed and n % EVERY == 0 else 30.5, 20],
                "area": 610.0,
                "iscrowd": 0,
            }
            for n in range(1, images + 1)
        ],
        "categories": [{"id": 1, "name": "car", "supercategory": "thing"}],
    }
    path.write_text(json.dumps(doc))


def _keys(catalog: workbench.Catalog) -> tuple[int, int]:
    """The frames' count and their next key."""
    count, top = catalog._con.execute("SELECT count(*), max(frame_key) + 1 FROM frames").fetchall()[
        0
    ]
    return int(count), int(top)


def _update(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Any, int, int, int]:
    """Import the file, change it, import it again held to BUDGET: the update's report, the
    frames' key before it, and the frames' count and next key after."""
    path = tmp_path / "instances.json"
    _write(path, changed=False)
    with workbench.open(tmp_path / "c.duckdb") as catalog:
        first = coco.import_files(
            catalog, [path], id_prefix=PREFIX, batch_size=PER_WRITE, progress=False
        )
        assert first.ok and first.frames == IMAGES
        _, before = _keys(catalog)
    _write(path, changed=True)
    monkeypatch.setenv("WORKBENCH_IMPORT_MEMORY_LIMIT", BUDGET)
    with workbench.open(tmp_path / "c.duckdb") as catalog:
        report = coco.import_files(
            catalog, [path], id_prefix=PREFIX, batch_size=PER_WRITE, progress=False
        )
        count, after = _keys(catalog)
    return report, before, count, after


def test_a_lookup_too_big_for_the_catalogs_budget_goes_in_halves(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, coco_unchanged: list[int]
) -> None:
    """The whole file's images looked up at once do not fit in BUDGET (the catalog's
    engine's error); in halves they do: only the changed images' frames are written."""
    monkeypatch.setattr(line_digests, "LOOKUP_LINES", 1 << 20, raising=False)
    report, before, count, after = _update(tmp_path, monkeypatch)
    assert report.ok and not report.warnings, str(report)
    assert coco_unchanged[-1] == IMAGES - IMAGES // EVERY
    assert count == IMAGES
    assert after - before == IMAGES // EVERY  # the changed frames only, written again


def test_a_lookup_that_does_not_fit_at_all_is_said_and_compares_the_frames(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, coco_unchanged: list[int]
) -> None:
    """Not even the smallest stretch fits: every image is converted, the writer leaves the
    frames stored as given as they are, and the report's warning names the catalog's engine
    and the setting to raise; nothing was sent record by record or staged again."""
    monkeypatch.setattr(line_digests, "LOOKUP_LINES", 1 << 20, raising=False)
    monkeypatch.setattr(line_digests, "LOOKUP_LINES_AT_LEAST", 1 << 20, raising=False)
    report, before, count, after = _update(tmp_path, monkeypatch)
    assert report.ok, str(report)
    assert coco_unchanged[-1] == 0
    warned = getattr(_coco_columnar, "WARN_NOT_LOOKED_UP", "not looked up")
    assert report.warnings == {warned: 1}, str(report)
    example = report.warning_examples[warned]
    assert "Out of Memory" in example and "WORKBENCH_IMPORT_MEMORY_LIMIT" in example
    assert f"images #1 to #{IMAGES} of {IMAGES:,}" in example
    assert count == IMAGES
    assert after - before == IMAGES // EVERY


def test_an_update_sent_record_by_record_says_its_frames_are_written_whole(
    tmp_path: Path,
) -> None:
    """The staging's own engine out of memory in both plans (held to 2MB): a small file goes
    record by record, which replaces every frame it reads, changed or not; the warning says
    so on an update."""
    path = tmp_path / "instances.json"
    _write(path, changed=False, images=2_000)
    with workbench.open(tmp_path / "c.duckdb") as catalog:
        assert coco.import_files(catalog, [path], progress=False).ok
        _, before = _keys(catalog)
        _write(path, changed=True, images=2_000)
        report = coco.import_files(catalog, [path], progress=False, engine_memory="2MB")
        count, after = _keys(catalog)
    kind = _coco_columnar.WARN_READ_BY_RECORD
    assert list(report.warnings) == [kind]
    assert report.warning_examples[kind].endswith(
        "; its frames written whole, each replacing the stored one with its id"
    )
    assert (count, after - before) == (2_000, 2_000)


def test_a_write_the_catalogs_budget_cannot_store_names_that_engine_and_its_setting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The catalog's engine out of the import's memory (4MB) storing a write's rows: the
    error names the catalog's engine and the setting to raise, not the staging's engine."""
    path = tmp_path / "instances.json"
    _write(path, changed=False, images=2_000)
    monkeypatch.setenv("WORKBENCH_IMPORT_MEMORY_LIMIT", "4MB")
    with workbench.open(tmp_path / "c.duckdb") as catalog, pytest.raises(IngestError) as raised:
        coco.import_files(catalog, [path], progress=False, batch_size=500)
    told = str(raised.value)
    assert told.startswith(
        f"{path}: the catalog's engine ran out of the import's memory storing images #1 to "
    ), told
    assert "Out of Memory Error" in told and "WORKBENCH_IMPORT_MEMORY_LIMIT" in told
    assert isinstance(raised.value.__cause__, duckdb.OutOfMemoryException)
