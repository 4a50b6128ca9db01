"""Writes that leave stored frames without ROIs (a label write that names frames and gives
them no row, one that empties a field, an import's update of a frame with no ROIs, queued
label updates with none), made alike on a local catalog and on a lake-backed one.

A local catalog keeps a frame_codes row for every frame (an empty list without ROIs); a
lake-backed one codes only the frames with ROIs (store/layout_codes.py, `every_frame`), so
the frames such a write empties keep no row there. Every reader takes a missing row for an
empty one (each unnests the codes): the facets, label counts and confidence histograms of
every view, its counts, frames and contexts, the frame groups' answers and the app's first
page (query/whole.py on the local catalog) are the same on both, and `optimize()`, or a
catalog attached to the lake afresh, codes every frame as the write left it."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import workbench
from tests.catalogs import LAKE_FORMAT
from tests.store.test_layout import check_layout
from workbench.ingest import CatalogWriter, Frame, Roi, Source, box_ring
from workbench.ingest._columnar import rows_table
from workbench.ingest._rows import roi_row
from workbench.model.records import ROI_SCHEMA
from workbench.query import whole
from workbench.store.lake_iceberg import default_catalog
from workbench.store.lake_write import open_for_lake

FRAMES = 18
WEATHER = ("rain", "clear", "fog")
# Frames the writes below leave without any ROI, and one left with its other field only.
EMPTIED = ("f00", "f03", "f06", "f09", "f12", "f15")
FIELD_EMPTIED = ("f10", "f13")


def _rois(i: int) -> list[Roi]:
    """Predictions on two frames of three, ground truth on one; none on the third."""
    rois = []
    if i % 3 != 2:
        for n, score in enumerate((0.05 * i, 0.9, None)[: 1 + i % 3]):
            rois.append(_roi(i, n, "predictions", ("car", "bus")[n % 2], score))
    if i % 3 == 1:
        rois.append(_roi(i, 5, "ground_truth", "car", None))
    return rois


def _roi(i: int, n: int, field: str, label: str, confidence: float | None) -> Roi:
    return Roi(
        f"{field[0]}{n}", "box", [label], geometry=[box_ring(i, n, 4, 3)], field=field,
        confidence=confidence,
    )  # fmt: skip


def _frame(i: int, rois: list[Roi]) -> Frame:
    return Frame(
        f"f{i:02d}",
        context_id=f"c{i // 6}",
        timestamp=i,
        metadata={"weather": WEATHER[i % 3], "road": f"r{i % 2}"},
        sources=[Source("cam", f"/d/{i}.jpg")],
        rois=rois,
    )


def _fill(path: Path) -> None:
    with workbench.open(path) as catalog, CatalogWriter(catalog, progress=False) as writer:
        for i in range(FRAMES):
            writer.add(_frame(i, _rois(i)))


def _write(path: Path) -> None:
    """The writes, in four transactions."""
    with workbench.open(path) as catalog, CatalogWriter(catalog, progress=False) as writer:
        named = [f"f{i:02d}" for i in range(9)]  # kept for f01 and f04, the rest emptied
        given = [
            roi_row(f"f{i:02d}", _roi(i, 7, "predictions", "truck", 0.31 * i)) for i in (1, 4, 4)
        ]
        writer.write_labels(named, "predictions", rows_table(given, ROI_SCHEMA), [], cleared=named)
        none = rows_table([], ROI_SCHEMA)
        writer.write_labels(["f09", "f10"], "predictions", none, [], cleared=["f09", "f10"])
        writer.add(_frame(12, []))  # an update: the frame stored again without ROIs
        writer.flush()
        writer.add_labels("f13", "predictions", [])
        writer.add_labels("f15", "predictions", [])
    assert writer.report.ok, writer.report


def _views(catalog: Any) -> dict[str, Any]:
    v = catalog.view()
    return {
        "all": v,
        "match": v.match(weather="rain"),
        "where": v.where("f.timestamp % 2 = 0"),
        "with ROIs": v.has_rois(),
        "without ROIs": v.lacks_rois(),
        "without predictions": v.lacks_rois("predictions"),
        "label filter": v.filter_rois("predictions", labels=["car"]),
        "frames": v.select([f"f{i:02d}" for i in range(0, FRAMES, 2)]),
    }


def _answers(view: Any, *, ordered: bool) -> dict[str, Any]:
    """What the view says; its first page in the view's order if `ordered`, else by id (a
    lake's compaction orders frames by context and time, docs/scale-out.md)."""
    page = view.page(0, 50).select(["id", "context_id", "timestamp"]).to_pylist()
    return {
        "count": view.count(),
        "contexts": view.count_contexts(),
        "context rows": view.contexts().to_pylist(),
        "frame ids": view.frame_ids() if ordered else sorted(view.frame_ids()),
        "page": page if ordered else sorted(page, key=lambda r: r["id"]),
        "labels": view.label_counts().to_pylist(),
        "predictions": view.label_counts("predictions").to_pylist(),
        "histogram": view.confidence_histogram("predictions").to_pylist(),
        "histogram 4": view.confidence_histogram("predictions", 4).to_pylist(),
        "histogram 7": view.confidence_histogram().to_pylist(),
        "weather": view.metadata_values("weather").to_pylist(),
        "fields": view.fields(),
    }


def _coded(catalog: Any) -> dict[str, list[list[str | None]]]:
    """Each frame's codes as (field, label, bin), sorted, by frame id."""
    rows = (
        catalog.cursor()
        .execute(
            "SELECT f.id, list_sort(list(CASE WHEN x IS NOT NULL THEN"
            " [k.field, k.label, (x % 2000)::VARCHAR] END)) FROM frames f"
            " LEFT JOIN frame_codes c ON c.frame_key = f.frame_key"
            " LEFT JOIN (SELECT frame_key, unnest(codes) AS x FROM frame_codes) u"
            " ON u.frame_key = f.frame_key"
            " LEFT JOIN label_keys k ON k.label_key = u.x // 2000 GROUP BY f.id ORDER BY 1"
        )
        .fetchall()
    )
    return {i: [c for c in codes if c is not None] for i, codes in rows}


def _rowless(catalog: Any) -> list[str]:
    """The frames without a frame_codes row."""
    rows = catalog.cursor().execute(
        "SELECT id FROM frames WHERE frame_key NOT IN (SELECT frame_key FROM frame_codes)"
        " ORDER BY 1"
    )
    return [i for (i,) in rows.fetchall()]


def _compare(local: Any, lake: Any, *, ordered: bool = True) -> None:
    for (name, a), b in zip(_views(local).items(), _views(lake).values(), strict=True):
        assert _answers(b, ordered=ordered) == _answers(a, ordered=ordered), name


def test_frames_left_without_rois_read_alike_on_a_lake_and_local(tmp_path: Path) -> None:
    local, lake = tmp_path / "local.duckdb", tmp_path / "lake.duckdb"
    _fill(local)
    shutil.copyfile(local, lake)
    open_for_lake(
        str(lake), str(tmp_path / "lake"), attach=False, buckets=1, progress=False, fmt=LAKE_FORMAT
    )
    for path in (local, lake):
        with workbench.open(path) as catalog:
            catalog.count_groups()
        _write(path)
    with workbench.open(local) as a, workbench.open(lake) as b:
        assert b.lake is not None
        emptied = sorted(i for i in a.view().lacks_rois().frame_ids() if int(i[1:]) % 3 != 2)
        assert emptied == list(EMPTIED)
        assert a.view().lacks_rois("predictions").select(list(FIELD_EMPTIED)).count() == 2
        check_layout(a)  # a row per frame, the emptied ones' empty
        check_layout(b)  # the frames with ROIs
        assert _rowless(a) == []
        assert set(EMPTIED) <= set(_rowless(b))  # the lake's write keeps no row for them
        written = _coded(a)
        assert _coded(b) == written
        _compare(a, b)
        # the app's first page: the local catalog's kept summaries, the lake's frames
        assert whole.contexts(a, 0, 50).to_pylist() == b.view().contexts().to_pylist()
        assert whole.context_count(a) == b.view().count_contexts()
        # the frame groups counted again answer as the frames do
        a.count_groups()
        b.count_groups()
        assert a.view().match(weather="rain").groups() is not None
        assert b.view().match(weather="rain").groups() is not None
        _compare(a, b)
        # a rebuild codes every frame as the write left it
        a.optimize()
        b.optimize()
        check_layout(a)
        check_layout(b)
        assert _rowless(a) == []
        assert _coded(a) == _coded(b) == written
        _compare(a, b, ordered=False)
    # a catalog attached to the lake afresh codes its frames from the lake's ROIs
    attached = tmp_path / "attached.duckdb"
    tables = default_catalog(str(lake)) if LAKE_FORMAT == "iceberg" else None
    open_for_lake(
        str(attached),
        str(tmp_path / "lake"),
        attach=True,
        buckets=1,
        progress=False,
        fmt=LAKE_FORMAT,
        catalog=tables,
    )
    with workbench.open(local) as a, workbench.open(attached) as c:
        check_layout(c)
        assert _coded(c) == written
        _compare(a, c, ordered=False)
