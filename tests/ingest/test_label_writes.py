"""A field's first ROIs on stored frames (`CatalogWriter.write_labels`, every frame named
cleared and holding none of the field): stored and summarised from the rows given
(workbench/ingest/_label_writes.py), exactly as the general way (delete, insert, summarise the
frames again from their stored ROIs) leaves the catalog."""

from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pytest

import workbench
from tests.store.test_layout import check_layout
from workbench.ingest import CatalogWriter, Frame, Roi, Source, box_ring
from workbench.ingest import _label_writes as label_writes
from workbench.ingest import _writer_labels as writer_labels
from workbench.ingest._columnar import rows_table
from workbench.ingest._rows import roi_row
from workbench.model.records import ROI_SCHEMA
from workbench.store import groups

# The frames (i: its context, weather) and the ground truth some already hold.
_FRAMES = 12


def _fill(catalog: Any) -> None:
    with CatalogWriter(catalog, progress=False) as writer:
        for i in range(_FRAMES):
            truth = [Roi(f"g{i}", "point", ["car"], geometry=[[1, 1]], confidence=0.5)]
            writer.add(
                Frame(
                    f"f{i:02d}",
                    context_id=f"c{i // 4}",
                    metadata={"weather": "sunny" if i % 3 else "rain"},
                    sources=[Source("s", f"/d/{i}.jpg")],
                    rois=truth if i % 2 else [],  # the odd frames hold a ROI of another field
                )
            )
    catalog.count_groups()


def _predictions() -> pa.Table:
    """Rows of `predictions` for frames 0-8 but 4 (several per frame, three labels, a
    confidence missing), frame by frame, with the frame and ROI ids as dictionaries (as the
    Labelbox import hands them)."""
    rows = []
    for i in (0, 1, 2, 3, 5, 6, 7, 8):
        for n, (label, confidence) in enumerate([("car", 0.9), ("bus", None), ("car", 0.25)]):
            if n == 2 and i % 3 == 0:
                continue
            roi = Roi(
                f"p{n}", "box", [label], geometry=[box_ring(i, n, 4, 3)], field="predictions",
                confidence=confidence, track_index=n, keyframe=n == 0,
                attributes={"uuid": f"p{n}"},
            )  # fmt: skip
            rows.append(roi_row(f"f{i:02d}", roi))
    table = rows_table(rows, ROI_SCHEMA)
    for name in ("frame_id", "id", "label"):
        at = table.schema.get_field_index(name)
        table = table.set_column(at, name, pc.dictionary_encode(table[name]))
    return table


def _write(catalog: Any) -> None:
    named = [f"f{i:02d}" for i in range(_FRAMES)]
    with CatalogWriter(catalog, progress=False) as writer:
        writer.write_labels(named, "predictions", _predictions(), [], cleared=named)
    assert writer.report.ok and writer.report.rois == 21, writer.report


def _state(catalog: Any) -> dict[str, list[tuple[Any, ...]]]:
    """What the write leaves: the ROIs with their keys, the frames' summaries (each frame's
    codes sorted), the code counts and the groups' counts."""
    con = catalog.cursor()
    queries = {
        "rois": "SELECT * FROM rois ORDER BY frame_key, field, id",
        "frame_labels": "SELECT * FROM frame_labels ORDER BY ALL",
        "frame_codes": "SELECT frame_key, list_sort(codes) FROM frame_codes ORDER BY ALL",
        "code_counts": "SELECT * FROM code_counts ORDER BY ALL",
        "groups": f"SELECT * FROM {groups.LOCAL.codes} ORDER BY ALL",
        "label_keys": "SELECT * FROM label_keys ORDER BY ALL",
    }
    return {name: con.execute(query).fetchall() for name, query in queries.items()}


def test_a_fields_first_rois_are_summarised_from_the_rows_given(tmp_path: Path, monkeypatch):
    """Nothing is read back, deleted or summarised again: the frames' summaries, the code
    counts and the frame groups' counts (which stay counted) come out as the ROIs say, on
    frames that held ROIs of another field and frames that held none; a frame named but
    given no row keeps its row of frame_codes."""

    def refused(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("a first write of a field summarised its frames again")

    with workbench.open(tmp_path / "first.duckdb") as catalog:
        _fill(catalog)
        monkeypatch.setattr(writer_labels, "rois_replaced", refused)
        _write(catalog)
        monkeypatch.undo()
        check_layout(catalog)
        con = catalog.cursor()
        assert groups.current(con, groups.LOCAL, lambda: groups.local_stamp(con)) is not None
        counted = _state(catalog)["groups"]
        catalog.count_groups()
        assert _state(catalog)["groups"] == counted
        assert catalog.sql("SELECT count(*) FROM rois WHERE field = 'predictions'").fetchall() == [
            (21,)
        ]


def test_a_fields_first_rois_leave_what_the_general_way_leaves(tmp_path: Path, monkeypatch):
    """The same write, once as a field's first ROIs and once the general way (made to run by
    refusing the first way), leaves the same rows, keys, summaries and counts."""
    states = []
    for name, first in (("first", True), ("general", False)):
        with workbench.open(tmp_path / f"{name}.duckdb") as catalog:
            _fill(catalog)
            if not first:
                monkeypatch.setattr(label_writes, "_first_keys", lambda *args: None)
            _write(catalog)
            monkeypatch.undo()
            check_layout(catalog)
            states.append(_state(catalog))
    assert states[0] == states[1]


@pytest.mark.parametrize("cleared", ["some", "none"])
def test_a_write_adding_to_what_frames_hold_goes_the_general_way(tmp_path: Path, cleared: str):
    """Rows added to frames not cleared, or to a field the frames already hold, are written
    as before: deleted where cleared, added, summarised again."""
    with workbench.open(tmp_path / "c.duckdb") as catalog:
        _fill(catalog)
        _write(catalog)
        named = [f"f{i:02d}" for i in range(_FRAMES)]
        rows = _predictions().filter(pc.equal(_predictions()["frame_id"], "f01"))
        with CatalogWriter(catalog, progress=False) as writer:
            keep = ["f01"] if cleared == "some" else []
            writer.write_labels(named, "predictions", rows, [], cleared=keep)
        check_layout(catalog)
        count = "SELECT count(*) FROM rois WHERE field = 'predictions' AND frame_id = 'f01'"
        assert catalog.sql(count).fetchall() == [(3 if cleared == "some" else 6,)]
