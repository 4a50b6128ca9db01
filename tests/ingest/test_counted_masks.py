"""The mask files outside the media roots that label-only writes (`write_labels`,
`add_labels`) give follow the counting rule: each is counted once, as stored, and a label
write that replaces ROIs the import counted before takes back the files their masks named
with them (workbench/ingest/_counted_relabel.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import workbench
from tests.ingest.counting_files import catalog_path, in_thread, recorded_writer, stored_first
from workbench.ingest._columnar import rows_table
from workbench.ingest._rows import roi_row
from workbench.ingest.writer import CatalogWriter
from workbench.model.records import ROI_SCHEMA, Frame, Roi, Source
from workbench.store.imports import get_import


def _masked(folder: Path, name: str, field: str = "pred") -> Roi:
    mask = {"uri": str(folder / f"{name}.png"), "value": 1}
    return Roi(name, "mask", ["car"], mask=mask, bbox=(1, 1, 4, 4), field=field)


def _labels(writer: CatalogWriter, way: str, frame_id: str, rois: list[Roi]) -> None:
    """One label write of `rois` as the `pred` field of `frame_id`, by `way`."""
    if way == "add_labels":
        writer.add_labels(frame_id, "pred", rois)
        writer.flush()
    else:
        table = rows_table([roi_row(frame_id, r) for r in rois], ROI_SCHEMA)
        writer.write_labels([frame_id], "pred", table, [])


def _frame(folder: Path, name: str, rois: list[Roi]) -> Frame:
    return Frame(id=name, sources=[Source(id="image", uri=str(folder / f"{name}.jpg"))], rois=rois)


def _outside(catalog: Any, writer: CatalogWriter, folder: Path) -> int:
    """The writer's files outside the roots, checked against its record's, and against what
    the catalog holds of `folder`."""
    held = catalog.sql(
        "SELECT (SELECT count(*) FROM sources WHERE uri LIKE $p)"
        " + (SELECT count(*) FROM rois WHERE mask->>'uri' LIKE $p)",
        params={"p": f"{folder}/%"},
    ).fetchall()[0][0]
    record = get_import(catalog, writer.report.import_id).counts
    assert record.outside_media_roots == writer.report.outside_media_roots
    assert writer.report.outside_media_roots == held
    return held


@pytest.mark.parametrize("storage", ["local", "lake"])
@pytest.mark.parametrize("way", ["write_labels", "add_labels"])
def test_a_field_given_twice_counts_its_last_mask_files(
    tmp_path: Path, storage: str, way: str
) -> None:
    """X and Y are stored (their images remote); A gives X's `pred` 2 ROIs whose mask files
    lie outside the roots, then 1 other (before: `write_labels` counted none, 0; `add_labels`
    3), then Y's `pred` 1: A counts 2 files, what the catalog holds."""
    folder = tmp_path / "elsewhere"
    with workbench.open(catalog_path(tmp_path, storage)) as catalog:
        stored_first(
            catalog, [Frame(id=f, sources=[Source(id="image", uri=f"s3://b/{f}")]) for f in "xy"]
        )
        with recorded_writer(catalog) as writer:
            _labels(writer, way, "x", [_masked(folder, "a"), _masked(folder, "b")])
            _labels(writer, way, "x", [_masked(folder, "c")])
            _labels(writer, way, "y", [_masked(folder, "d")])
        assert _outside(catalog, writer, folder) == 2


@pytest.mark.parametrize("storage", ["local", "lake"])
@pytest.mark.parametrize("way", ["write_labels", "add_labels"])
def test_a_label_write_on_a_frame_counted_whole(tmp_path: Path, storage: str, way: str) -> None:
    """A writes X whole (its image and a `pred` ROI's mask file outside the roots), then
    gives X's `pred` 2 other masked ROIs: A counts 3 files (before: 4, or 2 by
    `write_labels`)."""
    folder = tmp_path / "elsewhere"
    with workbench.open(catalog_path(tmp_path, storage)) as catalog:
        with recorded_writer(catalog) as writer:
            writer.add(_frame(folder, "x", [_masked(folder, "a")]))
            writer.flush()
            _labels(writer, way, "x", [_masked(folder, "b"), _masked(folder, "c")])
        assert _outside(catalog, writer, folder) == 3


@pytest.mark.parametrize("storage", ["local", "lake"])
@pytest.mark.parametrize("way", ["write_labels", "add_labels"])
def test_labels_then_the_frame_written_whole(tmp_path: Path, storage: str, way: str) -> None:
    """X is stored (its image remote); A gives X's `pred` 2 masked ROIs, then writes X whole
    with its image outside the roots and no ROI: A counts 2 files, then 1 (before: 2 then
    3, or 0 by `write_labels`, which counted none)."""
    folder = tmp_path / "elsewhere"
    with workbench.open(catalog_path(tmp_path, storage)) as catalog:
        stored_first(catalog, [Frame(id="x", sources=[Source(id="image", uri="s3://b/x")])])
        with recorded_writer(catalog) as writer:
            _labels(writer, way, "x", [_masked(folder, "a"), _masked(folder, "b")])
            assert _outside(catalog, writer, folder) == 2
            writer.add(_frame(folder, "x", []))
            writer.flush()
        assert _outside(catalog, writer, folder) == 1


@pytest.mark.parametrize("way", ["write_labels", "add_labels"])
def test_labels_on_a_frame_another_import_replaced(tmp_path: Path, way: str) -> None:
    """X is stored (its image remote); A gives X's `pred` 2 masked ROIs; B writes X whole
    (its image remote, no ROI); A gives X's `pred` 1 masked ROI: A takes back its 2 files
    as it stored them, and counts 1 (before: 3)."""
    folder = tmp_path / "elsewhere"
    remote = Frame(id="x", sources=[Source(id="image", uri="s3://b/x")])

    def b_writes() -> None:
        with CatalogWriter(catalog, progress=False) as other:
            other.add(remote)

    with workbench.open(catalog_path(tmp_path, "local")) as catalog:
        stored_first(catalog, [remote])
        with recorded_writer(catalog) as writer:
            _labels(writer, way, "x", [_masked(folder, "a"), _masked(folder, "b")])
            in_thread(b_writes)
            _labels(writer, way, "x", [_masked(folder, "c")])
        assert _outside(catalog, writer, folder) == 1


@pytest.mark.parametrize("storage", ["local", "lake"])
@pytest.mark.parametrize("way", ["write_labels", "add_labels"])
@pytest.mark.parametrize("then", ["labels", "whole"])
def test_labels_another_import_changed_since(
    tmp_path: Path, storage: str, way: str, then: str
) -> None:
    """X is stored (its image remote); A gives X's `pred` 2 masked ROIs; B's label write
    gives X's `pred` 1 masked ROI of its own (files in another folder); A then gives X's
    `pred` 1 masked ROI (A counts 1 file), or writes X whole, its image outside the roots
    (1): A takes back its own 2 files, not B's (before: 2, taking B's 1 back for its 2)."""
    folder, theirs = tmp_path / "elsewhere", tmp_path / "theirs"

    def b_labels() -> None:
        with CatalogWriter(catalog, progress=False) as other:
            _labels(other, way, "x", [_masked(theirs, "b1")])

    with workbench.open(catalog_path(tmp_path, storage)) as catalog:
        stored_first(catalog, [Frame(id="x", sources=[Source(id="image", uri="s3://b/x")])])
        with recorded_writer(catalog) as writer:
            _labels(writer, way, "x", [_masked(folder, "a"), _masked(folder, "b")])
            in_thread(b_labels)
            if then == "labels":
                _labels(writer, way, "x", [_masked(folder, "c")])
            else:
                writer.add(_frame(folder, "x", []))
                writer.flush()
        assert _outside(catalog, writer, folder) == 1
