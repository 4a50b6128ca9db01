"""The Labelbox export sorted by SQL and numpy writes byte for byte what the ROI-by-ROI path
writes, and reports the same counts, on ROIs of every kind the export meets; a group of
contexts at a time writes what one group writes."""

from __future__ import annotations

from pathlib import Path

import pytest

import workbench
from workbench.ingest import CatalogWriter, Frame, Roi, Source, box_ring, labelbox
from workbench.ingest import _labelbox_export as export


def _box(n: int, track: int, uuid: str | None, keyframe: bool | None, **extra) -> Roi:
    attributes = {"uuid": uuid} if uuid else {}
    attributes.update(extra.pop("attributes", {}))
    ring = box_ring(n * 1.1, 3.0 + track, n * 1.1 + 10.25, 20.0 / 3 + track)
    return Roi(f"b{track}-{n}", "box", [f"car{track}"], "predictions", [ring],
               track_index=track, keyframe=keyframe, attributes=attributes, **extra)  # fmt: skip


def _frame_rois(context: str, n: int) -> list[Roi]:
    rois = [
        # A track with keyframes, interpolated frames and gaps (runs), a confidence.
        _box(n, 0, f"{context}-t0", n % 4 == 0, confidence=0.5 if n < 6 else 0.75),
        # No uuid: the track is named from its index; a nested classification on keyframes.
        _box(n, 1, None, None if n % 3 else True,
             attributes={"classifications": [{"name": "q", "answer": {"name": str(n % 2)}}]}),
        # Twice on a frame (another id, the same uuid): the second is left out.
        _box(n, 2, f"{context}-t2", True, attributes={"track_classifications": [{"x": 1}]}),
        _box(n, 3, f"{context}-t2", True),
        Roi(f"p-{n}", "point", ["nose"], "predictions", [[n + 0.5, 2.0]], track_index=4,
            attributes={"uuid": f"{context}-p"}),
        Roi(f"l-{n}", "polyline", ["lane"], "predictions", [[0, 0, n, 1.0 / 3, 5, 5]],
            attributes={"uuid": f"{context}-l"}),
        # No uuid and no track: one track per ROI.
        Roi(f"s-{n}", "box", ["sign"], "predictions", [box_ring(1, 1, 2, 2)]),
        Roi(f"r-{n}", "classification", ["weather"], "predictions",
            attributes={"uuid": f"{context}-w", "type": "radio",
                        "answer": {"name": "rain" if n < 5 else "sun"}}),
        Roi(f"c-{n}", "classification", ["flags"], "predictions",
            attributes={"uuid": f"{context}-c", "type": "checklist",
                        "answer": [{"name": "a"}] + ([{"name": "b"}] if n % 2 else [])}),
        Roi(f"g-{n}", "classification", ["scene"], "predictions",
            attributes={"uuid": f"{context}-g", "type": "text", "answer": "x", "global": True}),
        Roi(f"e-{n}", "classification", ["empty"], "predictions", attributes={"uuid": "e"}),
        Roi(f"u-{n}", "box", [], "predictions", [box_ring(1, 1, 2, 2)]),
        Roi(f"q-{n}", "polygon", ["area"], "predictions", [[0, 0, 4, 0, 4, 4]]),
        Roi(f"o-{n}", "box", ["car"], "predictions", [box_ring(1, 1, 2, 2)],
            source_ids=["rear"], attributes={"uuid": f"{context}-o"}),
        Roi(f"gt-{n}", "box", ["car"], "ground_truth", [box_ring(1, 1, 2, 2)]),
    ]  # fmt: skip
    return rois


@pytest.fixture
def catalog(tmp_path: Path):
    with workbench.open(tmp_path / "c.duckdb") as cat, CatalogWriter(cat, progress=False) as w:
        for context, numbers in (("vid-b", range(0, 40, 5)), ("vid-a", range(12))):
            for n in numbers:  # vid-b: every fifth frame, as frame_step=5 imports it
                sources = [Source("front", f"/f/{context}/{n}.jpg"), Source("rear", f"/r/{n}.jpg")]
                w.add(Frame(f"{context}-{n:03d}", sources, _frame_rois(context, n),
                            context_id=context, frame_index=n))  # fmt: skip
        for n in range(5):  # no frame_index: numbered by timestamp
            w.add(Frame(f"nt-{n}", [Source("image", f"/n/{n}.jpg")], _frame_rois("nt", n),
                        context_id="nt", timestamp=1000 - n))  # fmt: skip
        # An ROI that only the ROI-by-ROI path writes (odd attributes) in its own context.
        w.add(Frame("z-0", [Source("image", "/z.jpg")], [
            Roi("z", "box", ["car"], "predictions", [box_ring(1, 1, 2, 2)],
                attributes={"uuid": 7})], context_id="zz", frame_index=0))  # fmt: skip
    with workbench.open(tmp_path / "c.duckdb") as cat:
        yield cat


def _export(view, path: Path) -> tuple[str, tuple]:
    report = labelbox.export_files(view, path, progress=False)
    return path.read_text(), (report.frames, report.rois, report.skipped)


def test_sql_writes_what_the_roi_by_roi_path_writes(catalog, tmp_path, monkeypatch):
    calls = []
    sql_lines = export.sql_lines

    def counted(*args):
        found = sql_lines(*args)
        calls.append(found is not None)
        return found

    monkeypatch.setattr(export, "sql_lines", counted)
    monkeypatch.setattr(export, "_FRAMES_PER_GROUP", 1)  # a context per group
    text, report = _export(catalog.view(), tmp_path / "sql.ndjson")
    assert calls.count(True) >= 3 and calls.count(False) == 1  # the odd context's group
    monkeypatch.setattr(export, "sql_lines", lambda *args: None)
    assert _export(catalog.view(), tmp_path / "python.ndjson") == (text, report)
    assert report[1] == 226 and len(report[2]) == 5, report
    # One group for the whole view writes the same again.
    monkeypatch.setattr(export, "sql_lines", sql_lines)
    monkeypatch.setattr(export, "_FRAMES_PER_GROUP", 100_000)
    narrowed = catalog.view().where("context_id <> 'zz'")
    whole = _export(narrowed, tmp_path / "whole.ndjson")
    monkeypatch.setattr(export, "_FRAMES_PER_GROUP", 1)
    assert _export(narrowed, tmp_path / "groups.ndjson") == whole


def test_arrow_rows_are_the_sql_rows(catalog):
    """The rows Arrow and numpy make for a group are those `_labelbox_export_sql.ROWS`
    states in SQL: numbers, positions, frames numbered twice, sources, attributes' uuids and
    what becomes of every ROI."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    from workbench.ingest import _labelbox_export_sql as sql
    from workbench.ingest._labelbox_export_rows import group_rows
    from workbench.store.arrow import registered

    with CatalogWriter(catalog, progress=False) as w:  # two frames with one frame_index
        for k, n in enumerate((3, 3, 7)):
            roi = Roi(f"d{k}", "box", ["car"], "predictions", [box_ring(1, 1, 2, 2)])
            w.add(Frame(f"dup-{k}", [Source("image", "/d.jpg")], [roi], context_id="dup",
                        frame_index=n))  # fmt: skip
    rois = catalog.view().rois()
    rois = rois.filter(pc.equal(rois["field"], "predictions"))
    rois = rois.append_column("o", pa.array(np.arange(rois.num_rows, dtype=np.int64)))
    contexts = ["vid-a", "vid-b", "nt", "zz", "dup"]
    con = catalog.cursor()
    group = pa.table({"context_id": pa.array(contexts[1:], pa.string())})  # not every context
    with registered(con, "_wb_lb_group", group), registered(con, "_wb_lb_rois", rois):
        expected = con.sql(sql.ROWS).to_arrow_table().sort_by("o")
        got = group_rows(con, rois).sort_by("o")
    assert got.num_rows == expected.num_rows > 0
    dup = pc.equal(expected["context_id"], "dup")
    assert expected.filter(dup)["odd"].to_pylist() == [True, True, False]  # numbers 4, 4, 8
    assert pc.any(expected["odd"]).as_py() and pc.any(pc.equal(expected["what"], "source")).as_py()
    for name in expected.column_names:
        assert got[name].to_pylist() == expected[name].to_pylist(), name
