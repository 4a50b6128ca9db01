"""The Labelbox export sorted by SQL and numpy writes byte for byte what the ROI-by-ROI path
writes, and reports the same counts, on ROIs of every kind the export meets; a group of
contexts at a time writes what one group writes."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

import workbench
from workbench.ingest import CatalogWriter, Frame, Roi, Source, box_ring, labelbox
from workbench.ingest import _labelbox_export as export
from workbench.ingest import _labelbox_export_rois as export_rois


def _box(n: int, track: int, uuid: str | None, keyframe: bool | None, **extra) -> Roi:
    attributes = {"uuid": uuid} if uuid else {}
    attributes.update(extra.pop("attributes", {}))
    ring = box_ring(n * 1.1, 3.0 + track, n * 1.1 + 10.25, 20.0 / 3 + track)
    return Roi(f"b{track}-{n}", "box", [f"car{track}"], "predictions", [ring],
               track_index=track, keyframe=keyframe, attributes=attributes, **extra)  # fmt: skip


def _made(context: str, track: int) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"{context}#{track}"))


def _frame_rois(context: str, n: int) -> list[Roi]:
    rois = [
        # A track with keyframes, interpolated frames and gaps (runs), a confidence.
        _box(n, 0, f"{context}-t0", n % 4 == 0, confidence=0.5 if n < 6 else 0.75),
        # No uuid: the track is named from its index; a nested classification on keyframes.
        _box(n, 1, None, None if n % 3 else True,
             attributes={"classifications": [{"name": "q", "answer": {"name": str(n % 2)}}]}),
        # Twice on a frame (another id, the same uuid) in vid-a: the second is left out.
        _box(n, 2, f"{context}-t2", True, attributes={"track_classifications": [{"x": 1}]}),
        _box(n, 3, f"{context}-t{2 if context == 'vid-a' else 3}", True),
        Roi(f"p-{n}", "point", ["nose"], "predictions", [[n + 0.5, 2.0]], track_index=4,
            attributes={"uuid": f"{context}-p"}),
        Roi(f"l-{n}", "polyline", ["lane"], "predictions", [[0, 0, n, 1.0 / 3, 5, 5]],
            attributes={"uuid": f"{context}-l"}),
        # Frames of one track: a uuid attribute on even frames, none on odd ones (the uuid
        # made from the context and track index is that attribute).
        _box(n, 5 if n % 2 else 6, None if n % 2 else _made(context, 5), True),
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
    left = []
    lines_query = export.sql.lines_query

    def counted(rois: str, *args, **kwargs) -> str:
        left.append(True)
        return lines_query(rois, *args, **kwargs)

    monkeypatch.setattr(export.sql, "lines_query", counted)
    text, report = _export(catalog.view(), tmp_path / "sql.ndjson")
    assert left
    monkeypatch.setattr(export, "_BY_SQL", False)  # every context ROI by ROI
    assert _export(catalog.view(), tmp_path / "python.ndjson") == (text, report)
    assert report[1] == 264 and len(report[2]) == 5, report
    assert text.count(_made("nt", 5)) == 1  # one track, with and without the attribute
    # Groups of one context each on the ROI-by-ROI path write the same again.
    monkeypatch.setattr(export_rois, "_FRAMES_PER_GROUP", 1)
    assert _export(catalog.view(), tmp_path / "groups.ndjson") == (text, report)
    # Statements of a group of contexts each write the same again.
    monkeypatch.setattr(export, "_BY_SQL", True)
    monkeypatch.setattr(export, "_ROIS_PER_STATEMENT", 30)
    assert _export(catalog.view(), tmp_path / "parts.ndjson") == (text, report)
    monkeypatch.setattr(export, "_ROIS_PER_STATEMENT", 250_000)
    # A view narrowed by a where() fragment (its ROIs read through the view's guard) and
    # by filter_rois: the SQL and the ROI-by-ROI path agree.
    narrowed = (
        catalog.view()
        .where("context_id <> 'zz'")
        .filter_rois(
            "predictions", labels=["car0", "car1", "weather", "flags", "scene", "nose", "lane"]
        )
    )
    monkeypatch.setattr(export, "_BY_SQL", True)
    whole = _export(narrowed, tmp_path / "whole.ndjson")
    monkeypatch.setattr(export, "_BY_SQL", False)
    assert _export(narrowed, tmp_path / "narrowed.ndjson") == whole
    assert 0 < whole[1][1] < report[1]


def test_contexts_left_to_the_roi_by_roi_path(catalog, tmp_path):
    """The contexts SQL leaves to the ROI-by-ROI path (odd attributes, a track twice on a
    frame) are named by the statement, and only those."""
    from workbench.ingest import _labelbox_export_sql as sql
    from workbench.ingest import narrow

    con = catalog.cursor()
    try:
        with narrow.field_rois(con, catalog.view(), "predictions", sql.ROI_COLUMNS) as found:
            rows = con.execute(sql.lines_query(found[0]), [*found[1], False]).fetchall()
    finally:
        con.close()
    left = sorted(row[1] for row in rows if row[0] == 0)
    # zz: a uuid attribute of another type; vid-a: track t2 twice on every frame.
    assert left == ["vid-a", "zz"]


def test_narrow_read_is_the_views_rois(catalog):
    """The query layer's narrow read holds the ROIs `View.rois()` gives, in its order."""
    import pyarrow.compute as pc

    from workbench.ingest import narrow

    view = catalog.view().where("frame_index < 7").sort_by("frame_index", reverse=True)
    view = view.filter_rois("predictions", labels=["car0", "weather", "sign"])
    con = catalog.cursor()
    try:
        with narrow.field_rois(con, view, "predictions", ["frame_id", "id"]) as (query, params):
            got = con.execute(f"SELECT frame_id, id FROM ({query}) ORDER BY o", params).fetchall()
    finally:
        con.close()
    rois = view.rois()
    rois = rois.filter(pc.equal(rois["field"], "predictions"))
    expected = list(zip(rois["frame_id"].to_pylist(), rois["id"].to_pylist(), strict=True))
    assert got == expected and len(got) > 10


def test_contexts_left_out_keep_their_place(tmp_path, monkeypatch):
    """Lines of contexts left to the ROI-by-ROI path come in context order among the others,
    also after a group of such contexts that writes no line."""
    path = tmp_path / "order.duckdb"
    with workbench.open(path) as cat, CatalogWriter(cat, progress=False) as w:
        odd = {"uuid": 7}  # a uuid of another type: ROI by ROI
        for context, attributes, kind in (
            ("aa", odd, "polygon"),  # left out, and nothing of it written
            ("ab", odd, "box"),  # left out, written
            ("ac", {}, "box"),  # written by SQL
        ):
            ring = box_ring(1, 1, 2, 2) if kind == "box" else [0, 0, 4, 0, 4, 4]
            roi = Roi(f"{context}-r", kind, ["car"], "predictions", [ring],
                      attributes=attributes)  # fmt: skip
            w.add(Frame(f"{context}-0", [Source("image", f"/{context}.jpg")], [roi],
                        context_id=context, frame_index=0))  # fmt: skip
    monkeypatch.setattr(export_rois, "_FRAMES_PER_GROUP", 1)
    with workbench.open(path) as cat:
        text, _ = _export(cat.view(), tmp_path / "sql.ndjson")
        monkeypatch.setattr(export, "_BY_SQL", False)
        assert _export(cat.view(), tmp_path / "python.ndjson")[0] == text
    keys = [line.split('"globalKey": "')[1][:2] for line in text.splitlines()]
    assert keys == ["ab", "ac"]


def test_the_engine_prints_numbers_as_python_does(tmp_path):
    """The statement writes coordinates as text: a DOUBLE cast to VARCHAR must be Python's
    repr, and `_clean` in SQL (`%.12g` read back) Python's `_clean`, for any finite value."""
    import math
    import random
    import struct

    from workbench.ingest import _labelbox_export_sql as sql

    rnd = random.Random(7)
    values = [1.0, -0.0, 0.0, 1e16, 1e-05, 0.1, 1 / 3, 20 / 3, 1e12, 123456789012.5, 5e-324]
    values += [rnd.uniform(-4000, 4000) for _ in range(5000)]
    values += [rnd.randint(0, 10**6) / 7 for _ in range(5000)]
    values += [struct.unpack("d", struct.pack("Q", rnd.getrandbits(64)))[0] for _ in range(5000)]
    values = [v for v in values if math.isfinite(v)]
    with workbench.open(tmp_path / "n.duckdb") as cat:
        con = cat.cursor()
        try:
            rows = con.execute(
                f"SELECT v::VARCHAR, {sql._clean('v')}::VARCHAR "
                "FROM (SELECT unnest(?::DOUBLE[]) AS v, generate_subscripts(?::DOUBLE[], 1) AS i) "
                "ORDER BY i",
                [values, values],
            ).fetchall()
        finally:
            con.close()
    assert [r[0] for r in rows] == [repr(v) for v in values]
    assert [r[1] for r in rows] == [repr(export_rois._clean(v)) for v in values]


def test_a_view_the_query_layer_does_not_know_is_read_through_rois(catalog, tmp_path):
    """`ingest.narrow` reads another ViewLike through its `rois()`: the same file."""

    class Delegating:  # a ViewLike that is not a query-layer View, over a real one
        def __init__(self, view) -> None:
            self.view = view
            self.catalog = view.catalog

        def __getattr__(self, name: str):
            return getattr(self.view, name)

    view = catalog.view().where("context_id <> 'zz'")
    assert _export(Delegating(view), tmp_path / "other.ndjson") == _export(
        view, tmp_path / "view.ndjson"
    )


def test_lines_sql_writes_whole_are_the_roi_by_roi_path_s(tmp_path, monkeypatch):
    """Object and answer lines SQL writes whole (their texts plain) are byte for byte those
    of the ROI-by-ROI path, beside lines of texts json.dumps escapes (non-ASCII, quotes,
    backslashes), answers with numbers or nested values, confidences of many digits, answers
    over runs with gaps, data rows keyed by `data_rows` and by id."""
    path = tmp_path / "plain.duckdb"
    labels = {"p1": "car", "p2": "caf\u00e9", "p3": 'a"b', "p4": "a\\b", "p5": "truck/bus"}
    answers = {
        "p1": {"name": "rain"}, "p2": {"name": "rain"}, "p3": {"name": "x", "score": 1.0},
        "p4": {"name": "x", "sub": {"name": "y"}}, "p5": {},
    }  # fmt: skip
    with workbench.open(path) as cat, CatalogWriter(cat, progress=False) as w:
        for context, label in labels.items():
            for n in range(10):
                rois = [
                    Roi(f"b-{n}", "box", [label], "predictions", [box_ring(n, 1, n + 4, 5)],
                        confidence=[0.1, 1e-05, 0.30000000000000004, 2 / 3, 1.0][n % 5],
                        track_index=0, keyframe=n % 3 == 0),
                    Roi(f"c-{n}", "classification", [label], "predictions",
                        attributes={"uuid": f"{context}-w", "type": "radio",
                                    "answer": answers[context] if n not in (4, 5) else {"name": "sun"}}),
                    Roi(f"g-{n}", "classification", ["scene"], "predictions",
                        attributes={"uuid": f"{context}-g", "type": "text", "answer": label,
                                    "global": True}),
                ]  # fmt: skip
                if context == "p1" and n in (0, 2):  # twice on frame 1: frames 1 and 3
                    rois += [
                        Roi(f"d{i}-{n}", "classification", ["dup"], "predictions",
                            attributes={"uuid": "p1-d", "answer": {"name": "x"}})
                        for i in range(2 if n == 0 else 1)
                    ]  # fmt: skip
                if context == "p5":
                    rois[1] = Roi(f"c-{n}", "classification", ["t"], "predictions",
                                  confidence=0.5, attributes={"uuid": "p5-w", "answer": {}})  # fmt: skip
                w.add(Frame(f"{context}-{n}", [Source("image", f"/{context}/{n}.jpg")], rois,
                            context_id=context, frame_index=n))  # fmt: skip
    built = {"objects": 0, "answers": 0}
    object_line, answer = export._Lines.object_line, export._Lines.answer

    def object_counted(self, row):
        built["objects"] += 1
        return object_line(self, row)

    def answer_counted(self, row):
        built["answers"] += 1
        return answer(self, row)

    monkeypatch.setattr(export._Lines, "object_line", object_counted)
    monkeypatch.setattr(export._Lines, "answer", answer_counted)
    with workbench.open(path) as cat:
        for options, by_python in (
            ({}, {"objects": 3, "answers": 9}),
            ({"data_row_key": "id"}, {"objects": 3, "answers": 9}),
            (
                {"data_rows": {"K-1": "p1", "k\u00e9y": "p5", "k2": "p2"}},
                {"objects": 4, "answers": 11},
            ),
        ):
            monkeypatch.setattr(export, "_BY_SQL", True)
            built.update(objects=0, answers=0)
            report = labelbox.export_files(cat.view(), tmp_path / "sql.ndjson", progress=False,
                                           **options)  # fmt: skip
            text = (tmp_path / "sql.ndjson").read_text()
            # SQL wrote p1 and p5 (unless keyed by a text json.dumps escapes) whole; Python
            # the others.
            assert built == by_python, (options, built)
            monkeypatch.setattr(export, "_BY_SQL", False)
            again = labelbox.export_files(cat.view(), tmp_path / "python.ndjson", progress=False,
                                          **options)  # fmt: skip
            assert (tmp_path / "python.ndjson").read_text() == text, options
            assert (again.frames, again.rois, again.skipped) == (
                report.frames, report.rois, report.skipped)  # fmt: skip
    lines = text.splitlines()
    assert len(lines) == 5 + 4 * 3 + 2 + 1
    assert '"frames": [{"start": 1, "end": 4}, {"start": 7, "end": 10}]' in lines[5]
    assert any('"frames": [{"start": 1, "end": 1}, {"start": 3, "end": 3}]' in x for x in lines)
