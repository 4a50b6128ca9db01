"""A write of what the catalog already holds leaves it as it is: frames stored exactly as
given (write_rows) and label fields holding exactly the rows given (write_labels) are not
deleted and written again, and whatever changed is, the layout staying exact."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

import workbench
from tests.store.test_layout import check_layout
from workbench.ingest import CatalogWriter, Frame, Roi, Source
from workbench.ingest.writer import RowBatch
from workbench.model.records import FRAME_SCHEMA, ROI_SCHEMA, SOURCE_SCHEMA


@pytest.fixture
def catalog(tmp_path: Path):
    with workbench.open(tmp_path / "c.duckdb") as cat:
        yield cat


def _frame(i: int) -> Frame:
    rois = [
        Roi(f"r{i}-{n}", "box", ["car" if n else "bus"], geometry=[[n, i, n + 2, i + 3]])
        for n in range(3)
    ]
    sources = [Source("front", f"s3://b/{i}.jpg"), Source("back", f"s3://b/{i}b.jpg")]
    return Frame(f"f{i}", context_id=f"c{i % 2}", metadata={"n": i}, sources=sources, rois=rois)


def _table(catalog: Any, schema: pa.Schema, table: str, order: str) -> pa.Table:
    fields = [f for f in schema if f.name != "ingested"]
    names = ", ".join(f'"{f.name}"' for f in fields)
    got = catalog.cursor().sql(f"SELECT {names} FROM {table} ORDER BY {order}").to_arrow_table()
    return pa.table([got[f.name].cast(f.type) for f in fields], schema=pa.schema(fields))


def _stored(catalog: Any) -> list[list[tuple[Any, ...]]]:
    """Every frame's rows in their stored order, and when each frame was written."""
    return [
        catalog.sql(query).fetchall()
        for query in (
            "SELECT * EXCLUDE (ingested, frame_key) FROM frames ORDER BY id",
            "SELECT * EXCLUDE (frame_key) FROM sources ORDER BY frame_id, rowid",
            "SELECT * EXCLUDE (frame_key, label_key) FROM rois ORDER BY frame_id, rowid",
        )
    ]


def _ingested(catalog: Any) -> dict[str, Any]:
    return dict(catalog.sql("SELECT id, ingested FROM frames").fetchall())


def _edit(table: pa.Table, row: int, column: str, value: Any) -> pa.Table:
    values = table[column].to_pylist()
    values[row] = value
    at = table.schema.get_field_index(column)
    return table.set_column(at, column, pa.array(values, table.schema.field(at).type))


def test_frames_stored_as_given_are_left_and_the_others_written(catalog, tmp_path):
    with CatalogWriter(catalog, progress=False) as writer:
        for i in range(6):
            writer.add(_frame(i))
    bus = Roi("p1", "point", ["bus"], field="predictions", geometry=[[1, 1]], confidence=0.5)
    with CatalogWriter(catalog, progress=False) as writer:  # stored after every other ROI
        writer.add_labels("f1", "predictions", [bus])
    frames = _table(catalog, FRAME_SCHEMA, "frames", "id")
    sources = _table(catalog, SOURCE_SCHEMA, "sources", "frame_id, rowid")
    rois = _table(catalog, ROI_SCHEMA, "rois", "frame_id, rowid")
    ids = rois["frame_id"].to_pylist()
    f2, f3 = ids.index("f2"), ids.index("f3")
    rois = rois.take([*range(f2), f2 + 1, f2, *range(f2 + 2, rois.num_rows)])  # f2's swapped
    rois = _edit(rois, f3, "x_max", 99.0)
    frames = _edit(frames, 4, "metadata", '{"n":-4}')
    sources = sources.filter(pa.array([n != 10 for n in range(sources.num_rows)]))  # f5's back
    before = _ingested(catalog)
    with CatalogWriter(catalog, progress=False) as writer:
        writer.write_rows(RowBatch(frames, sources, rois))
    assert writer.report.ok and writer.report.frames == 6
    assert writer.report.rois == rois.num_rows
    after = _ingested(catalog)
    # f1 holds the same rows in the same order, its prediction stored apart from the rest
    assert {i for i in before if after[i] == before[i]} == {"f0", "f1"}
    check_layout(catalog)
    got = _stored(catalog)
    with workbench.open(tmp_path / "fresh.duckdb") as fresh:
        with CatalogWriter(fresh, progress=False) as writer:
            writer.write_rows(RowBatch(frames, sources, rois))
        assert got == _stored(fresh)


def _predictions(catalog: Any, frames: list[str]) -> pa.Table:
    """Two predictions on the first of `frames`, one on each other."""
    rows = []
    for n, frame_id in enumerate(frames):
        for k in range(2 if n == 0 else 1):
            roi = Roi(f"p{n}-{k}", "point", ["bus"], geometry=[[k, n]], confidence=0.25 * k)
            rows.append((frame_id, roi))
    from workbench.ingest._rows import roi_row, with_field

    made = [roi_row(f, with_field(r, "predictions")) for f, r in rows]
    return pa.Table.from_pylist(
        [dict(zip(ROI_SCHEMA.names, row, strict=True)) for row in made], schema=ROI_SCHEMA
    )


def _rowids(catalog: Any) -> list[tuple[Any, ...]]:
    return catalog.sql("SELECT rowid, frame_id, field, id FROM rois ORDER BY rowid").fetchall()


def test_a_label_write_of_what_is_stored_leaves_the_rows(catalog):
    with CatalogWriter(catalog, progress=False) as writer:
        for i in range(4):
            writer.add(_frame(i))
    frames = ["f0", "f1", "f2"]
    rows = _predictions(catalog, ["f0", "f1"])
    with CatalogWriter(catalog, progress=False) as writer:
        writer.write_labels(frames, "predictions", rows, [])
    catalog.count_groups()
    stored = _rowids(catalog)
    with CatalogWriter(catalog, progress=False) as writer:  # the same again
        writer.write_labels(frames, "predictions", rows, [])
    assert writer.report.ok and writer.report.rois == 3
    assert _rowids(catalog) == stored  # nothing deleted nor inserted
    check_layout(catalog)
    con = catalog.cursor()
    from workbench.store import groups

    assert groups.current(con, groups.LOCAL, lambda: groups.local_stamp(con)) is not None

    swapped = rows.take([1, 0, 2])  # f0's two in another order
    changed = _edit(swapped, 2, "label", "car")  # then f1's relabelled
    for given, rewritten in ((swapped, {"f0"}), (changed, {"f1"})):
        before = _rowids(catalog)
        with CatalogWriter(catalog, progress=False) as writer:
            writer.write_labels(frames, "predictions", given, [])
        after = _rowids(catalog)
        moved = {r[1] for r in set(before) ^ set(after)}
        assert moved == rewritten
        got = _rows_of(catalog, "predictions")
        assert got == [(r["frame_id"], r["id"], r["label"]) for r in given.to_pylist()]
        check_layout(catalog)
    # rows given to a frame not cleared are added to what it holds, though they are the same
    with CatalogWriter(catalog, progress=False) as writer:
        writer.write_labels(frames, "predictions", changed, [], cleared=["f0"])
    assert _rows_of(catalog, "predictions").count(("f1", "p1-0", "car")) == 2
    check_layout(catalog)


def _rows_of(catalog: Any, field: str) -> list[tuple[Any, ...]]:
    return catalog.sql(
        "SELECT frame_id, id, label FROM rois WHERE field = ? ORDER BY frame_id, rowid", [field]
    ).fetchall()
