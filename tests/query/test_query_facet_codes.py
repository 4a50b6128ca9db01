"""The facets of a filtered view read the per-frame ROI codes (frame_codes), those of the whole
catalog their sum (code_counts): after every kind
of write (labels and confidences changed in place, ROIs and frames deleted, labels added to
old frames, new frames) they equal the answer computed from the ROIs directly."""

from __future__ import annotations

import math
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

import workbench
from workbench.ingest.writer import CatalogWriter
from workbench.model.geometry import box_ring
from workbench.model.records import Frame, Roi, Source
from workbench.query import facets
from workbench.store import layout

WHERE = "f.timestamp % 3 <> 1"
# Confidences away from bin edges, at the edges and missing (SQL writes others below).
CONFIDENCES = [0.05, 0.3, 0.5, 0.999, 1.0, None, 0.71, 0.0, 0.25, 0.62]
LABELS = ["car", "truck", "bus", None]


@pytest.fixture(autouse=True, params=["keys", "bitmap", "reread"])
def frame_sets(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    if request.param in ("bitmap", "reread"):
        monkeypatch.setattr(facets, "BITMAP_FROM", 0)
    # Reads of frames evaluate a view's conditions again instead of testing its bitmap.
    monkeypatch.setattr(facets, "BIT_TEST_SECONDS", 1.0 if request.param == "reread" else 0.0)
    return str(request.param)


def _frame(i: int) -> Frame:
    rois = [
        Roi(
            f"r{n}",
            "box",
            [label] if label is not None else [],
            geometry=[box_ring(n, n, 4, 4)],
            field="predictions" if n % 2 else "ground_truth",
            confidence=CONFIDENCES[(i + n) % len(CONFIDENCES)] if n % 2 else None,
        )
        for n, label in enumerate(LABELS[: 1 + i % 4] * (1 + i % 2))
    ]
    return Frame(
        id=f"f{i}",
        context_id=f"c{i // 4}",
        timestamp=i,
        sources=[Source("cam", f"/data/f{i}.jpg")],
        rois=rois,
        metadata={"weather": ["rain", "sun", "fog"][i % 3]},
    )


@pytest.fixture
def catalog(tmp_path: Path):
    with workbench.open(tmp_path / "codes.duckdb") as cat:
        with CatalogWriter(cat, progress=False) as writer:
            for i in range(40):
                writer.add(_frame(i))
        yield cat


def _rois(catalog: Any, where: str) -> list[tuple[Any, ...]]:
    """(field, label, confidence) of the ROIs of the frames `where` selects."""
    query = (
        "SELECT r.field, r.label, r.confidence FROM rois r JOIN frames f ON f.id = r.frame_id"
        f" WHERE {where}"
    )
    return catalog.cursor().execute(query).fetchall()


def _histogram(confidences: list[float | None], bins: int) -> list[int]:
    counts = [0] * bins
    for c in confidences:
        if c is not None and not math.isnan(c) and c >= 0:
            counts[min(math.floor(c * bins), bins - 1)] += 1
    return counts


def check_facets(catalog: Any) -> None:
    """A fresh filtered view's label counts, histograms, fields and frame counts equal what
    the ROIs and frames say."""
    rois = _rois(catalog, WHERE)
    view = catalog.view().where(WHERE)
    labels = Counter((f, label) for f, label, _ in rois)
    got = {(r["field"], r["label"]): r["count"] for r in view.label_counts().to_pylist()}
    assert got == dict(labels)
    predicted = {(f, label): n for (f, label), n in labels.items() if f == "predictions"}
    got = {
        (r["field"], r["label"]): r["count"] for r in view.label_counts("predictions").to_pylist()
    }
    assert got == predicted
    assert view.fields() == sorted({f for f, _, _ in rois})
    for bins in (10, 4, 3):  # 3 does not divide the codes' bins: read from the ROIs
        confidences = [c for f, _, c in rois if f == "predictions"]
        histogram = view.confidence_histogram("predictions", bins).to_pylist()
        assert [r["count"] for r in histogram] == _histogram(confidences, bins), bins
    cars = view.filter_rois("predictions", labels=["car"])
    kept = [(f, label, c) for f, label, c in rois if f != "predictions" or label == "car"]
    car_frames = _rois(
        catalog,
        f"{WHERE} AND f.id IN (SELECT frame_id FROM rois WHERE field = 'predictions'"
        " AND label = 'car')",
    )
    kept = [(f, label, c) for f, label, c in car_frames if f != "predictions" or label == "car"]
    got = {(r["field"], r["label"]): r["count"] for r in cars.label_counts().to_pylist()}
    assert got == dict(Counter((f, label) for f, label, _ in kept))
    hist = [r["count"] for r in cars.confidence_histogram(None, 10).to_pylist()]
    assert hist == _histogram([c for _, _, c in kept], 10)
    frames = (
        catalog.cursor()
        .execute(
            f"SELECT weather, count(*), count(DISTINCT context_id) FROM frames f WHERE {WHERE}"
            " GROUP BY ALL"
        )
        .fetchall()
    )
    weather = {r["value"]: r["count"] for r in view.metadata_values("weather").to_pylist()}
    assert weather == {w: n for w, n, _ in frames}
    contexts = (
        catalog.cursor()
        .execute(f"SELECT count(DISTINCT context_id) FROM frames f WHERE {WHERE}")
        .fetchall()[0][0]
    )
    assert view.count_contexts() == contexts
    assert view.count() == sum(n for _, n, _ in frames)
    check_whole_catalog(catalog)


def check_whole_catalog(catalog: Any) -> None:
    """The whole catalog's label counts and histograms (read from code_counts)."""
    rois = _rois(catalog, "TRUE")
    view = catalog.view()
    got = {(r["field"], r["label"]): r["count"] for r in view.label_counts().to_pylist()}
    assert got == dict(Counter((f, label) for f, label, _ in rois))
    for bins in (10, 4, 3):
        confidences = [c for f, _, c in rois if f == "predictions"]
        histogram = view.confidence_histogram("predictions", bins).to_pylist()
        assert [r["count"] for r in histogram] == _histogram(confidences, bins), bins


def test_written_frames(catalog):
    check_facets(catalog)
    assert catalog.cursor().execute("SELECT count(*) FROM frame_codes").fetchall() == [(40,)]


def test_labels_and_confidences_changed_in_place(catalog):
    view = catalog.view().where(WHERE)
    before = view.label_counts().to_pylist()
    with catalog.transaction() as con:
        layout.touch(con, "SELECT id FROM frames WHERE timestamp < 12")
        con.execute(
            "UPDATE rois SET label = 'tram', confidence = 0.45 WHERE field = 'predictions'"
            " AND frame_id IN (SELECT id FROM frames WHERE timestamp < 12)"
        )
    check_facets(catalog)
    with catalog.transaction() as con:  # what no importer writes, but SQL may
        layout.touch(con, "SELECT 'f3' UNION ALL SELECT 'f2'")
        con.execute("UPDATE rois SET confidence = 1.7 WHERE frame_id = 'f3' AND id = 'r1'")
        con.execute("UPDATE rois SET confidence = -0.2 WHERE frame_id = 'f3' AND id = 'r3'")
        con.execute("UPDATE rois SET confidence = 'NaN' WHERE frame_id = 'f2' AND id = 'r1'")
    check_facets(catalog)
    # The view made before the write counts again: what it kept is out of date.
    assert view.label_counts().to_pylist() != before
    assert view.label_counts().to_pylist() == catalog.view().where(WHERE).label_counts().to_pylist()


def test_rois_deleted(catalog):
    with catalog.transaction() as con:
        layout.touch(con, "SELECT id FROM frames WHERE timestamp IN (0, 2, 5, 9)")
        con.execute(
            "DELETE FROM rois WHERE frame_id IN ('f0', 'f2') OR (frame_id = 'f5' AND id = 'r1')"
        )
        con.execute("DELETE FROM rois WHERE frame_id = 'f9' AND field = 'predictions'")
    check_facets(catalog)


def test_frames_deleted(catalog):
    with CatalogWriter(catalog, progress=False) as writer:
        writer.add(_frame(3))  # stored again: its old rows go
    with catalog.transaction() as con:
        layout.touch(con, "SELECT id FROM frames WHERE timestamp IN (6, 7, 8)")
        con.execute("DELETE FROM rois WHERE frame_id IN ('f6', 'f7', 'f8')")
        con.execute("DELETE FROM frames WHERE id IN ('f6', 'f7', 'f8')")
    check_facets(catalog)


def test_labels_added_to_old_frames_and_new_frames(catalog):
    with CatalogWriter(catalog, progress=False) as writer:
        writer.add_labels(
            "f4",
            "predictions",
            [Roi("n", "box", ["bus"], geometry=[box_ring(0, 0, 2, 2)], confidence=0.35)],
        )
        for i in range(40, 46):
            writer.add(_frame(i))
    check_facets(catalog)


def test_optimize_keeps_the_codes(catalog):
    with catalog.transaction() as con:
        layout.touch(con, "SELECT 'f1'")
        con.execute("UPDATE rois SET confidence = 0.05 WHERE frame_id = 'f1'")
    catalog.optimize()
    check_facets(catalog)
