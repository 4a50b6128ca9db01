"""Sequence QA: each kind of issue planted in a sequence of its own and found there alone; a
clean sequence gives none; the demo's planted sequence defects are found."""

from __future__ import annotations

import json
import shutil
import zlib
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import workbench
from workbench.analysis.sequence_qa import QA_KINDS
from workbench.errors import AnalysisError
from workbench.model.geometry import box_ring
from workbench.model.records import Frame, Roi, Source
from workbench.query.view import View
from workbench.store.catalog import Catalog

from .emb_data import write_frames

FRAMES = 30
WIDTH, HEIGHT = 64, 48


def _picture(path: Path, seed: int) -> None:
    rng = np.random.default_rng(seed)
    Image.fromarray(rng.integers(0, 255, (HEIGHT, WIDTH, 3), dtype=np.uint8)).save(path, quality=90)


def _car(i: int, track: int = 1, label: str = "car", x: float | None = None) -> Roi:
    """A box driving right 1 px a frame, well inside the picture."""
    left = 10 + i if x is None else x
    return Roi(
        f"t{track}-{i}", "box", [label], geometry=[box_ring(left, 15, 12, 10)], track_index=track
    )


def _leaving(i: int) -> Roi:
    """A box that drives out of the picture by the last frame (no vanishing)."""
    return Roi(
        f"t2-{i}", "box", ["pedestrian"], geometry=[box_ring(i * 2, 30, 8, 10)], track_index=2
    )


def _sequence(media: Path, context: str, plant: str | None) -> list[Frame]:
    rng = np.random.default_rng(zlib.crc32(context.encode()))
    folder = media / context
    folder.mkdir()
    frames = []
    for i in range(FRAMES):
        ts = 1_000_000 + i * 100 + int(rng.integers(-2, 3))
        if plant == "gap" and i >= 20:
            ts += 400
        if plant == "duplicate_timestamp" and i >= 12:  # frame 11 stored twice, as 11 and 12
            ts = frames[-1].timestamp if i == 12 else ts - 100
        if plant == "out_of_order" and i == 8:  # frames 7 and 8 swap timestamps
            ts, frames[-1] = frames[-1].timestamp, replace(frames[-1], timestamp=ts)
        if plant == "jitter":
            ts = 1_000_000 + i * 100 + int(rng.integers(-20, 21))
        sources = []
        for cam in ("cam_a", "cam_b"):
            if plant == "missing_source" and i == 7 and cam == "cam_b":
                continue
            path = folder / f"{i:02d}_{cam}.jpg"
            if plant == "frozen" and i == 10 and cam == "cam_a":
                shutil.copyfile(folder / f"{i - 1:02d}_{cam}.jpg", path)
            else:
                _picture(path, seed=zlib.crc32(f"{context}/{i}/{cam}".encode()))
            sources.append(Source(cam, str(path), WIDTH, HEIGHT, "image/jpeg"))
        rois = [_car(i, label="truck" if plant == "id_switch" and i >= 15 else "car"), _leaving(i)]
        if plant == "jump" and i == 12:
            rois[0] = _car(i, x=40)
        if plant == "short_track" and i in (4, 5):
            rois.append(_car(i, track=3))
        if plant == "vanish" and i <= 20:
            rois.append(
                Roi(f"t4-{i}", "box", ["car"], geometry=[box_ring(20, 5, 34, 34)], track_index=4)
            )
        frames.append(Frame(f"{context}/{i:02d}", sources, rois, context, ts, frame_index=i))
    return frames


@pytest.fixture(scope="module")
def sequences(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("sequences")
    media = folder / "media"
    media.mkdir()
    frames = [f for plant in (None, *QA_KINDS) for f in _sequence(media, plant or "clean", plant)]
    write_frames(folder / "qa.duckdb", frames, media).close()
    return folder / "qa.duckdb"


@pytest.fixture
def catalog(sequences: Path, tmp_path: Path) -> Catalog:
    path = tmp_path / "qa.duckdb"
    shutil.copyfile(sequences, path)
    with workbench.open(path) as cat:
        yield cat


def test_each_planted_issue_is_found_in_its_sequence_alone(catalog: Catalog):
    report = catalog.sequence_qa(progress=False)
    found = {(r["kind"], r["context_id"]) for r in report.issues.to_pylist()}
    expected = {(kind, kind) for kind in QA_KINDS}
    # The short track and the vanishing track are tracks like any other.
    assert found == expected | {("short_track", "short_track")}, found ^ expected
    assert not [r for r in report.issues.to_pylist() if r["context_id"] == "clean"]
    rows = {r["kind"]: r for r in report.issues.to_pylist()}
    assert rows["gap"]["frame_id"] == "gap/20"
    assert json.loads(rows["gap"]["details"])["dropped"] == 4
    assert rows["duplicate_timestamp"]["frame_id"] in (
        "duplicate_timestamp/11",
        "duplicate_timestamp/12",
    )
    assert rows["out_of_order"]["frame_id"] == "out_of_order/08"
    assert rows["jitter"]["frame_id"] is None
    assert (rows["missing_source"]["frame_id"], rows["missing_source"]["source_id"]) == (
        "missing_source/07",
        "cam_b",
    )
    assert (rows["frozen"]["frame_id"], rows["frozen"]["source_id"]) == ("frozen/10", "cam_a")
    assert (rows["short_track"]["track"], rows["short_track"]["frame_id"]) == (3, "short_track/04")
    assert rows["id_switch"]["frame_id"] == "id_switch/15"
    assert json.loads(rows["id_switch"]["details"]) == {
        "from": "car",
        "to": "truck",
        "previous_frame": "id_switch/14",
    }
    assert {r["frame_id"] for r in report.issues.to_pylist() if r["kind"] == "jump"} == {
        "jump/12",
        "jump/13",
    }
    assert (rows["vanish"]["frame_id"], rows["vanish"]["track"]) == ("vanish/20", 4)
    assert (
        report.counts()["gap"] == 1
        and len(report) == catalog.sql("SELECT count(*) FROM qa_issues").fetchall()[0][0]
    )


def test_thresholds_are_parameters(catalog: Catalog):
    loose = catalog.sequence_qa(["gap", "short_track"], gap_factor=10.0, min_track_frames=2)
    assert loose.counts() == {"gap": 0, "short_track": 0}
    assert catalog.sequence_qa("jitter", jitter=0.5).counts() == {"jitter": 0}
    strict = catalog.sequence_qa("short_track", min_track_frames=31, fields=["ground_truth"])
    assert strict.counts()["short_track"] > len(QA_KINDS)  # every track is short now
    for bad in ({"gap_factor": "x"}, {"nonsense": 1}, {"frozen_perceptual": 1}, {"fields": [1]}):
        with pytest.raises(AnalysisError):
            catalog.sequence_qa(**bad)
    with pytest.raises(AnalysisError, match="QA kinds"):
        catalog.sequence_qa("gaps")


def test_a_run_replaces_the_issues_of_its_kinds_only(catalog: Catalog):
    catalog.sequence_qa(progress=False)
    total = catalog.sql("SELECT count(*) FROM qa_issues").fetchall()[0][0]
    catalog.sequence_qa("gap", gap_factor=100.0)
    assert catalog.sql("SELECT count(*) FROM qa_issues").fetchall()[0][0] == total - 1
    audit = catalog.sql(
        "SELECT details FROM audit_log WHERE action = 'sequence_qa' ORDER BY id DESC LIMIT 1"
    )
    assert json.loads(audit.fetchall()[0][0])["thresholds"]["gap_factor"] == 100.0


def test_match_qa_is_a_view_stage(catalog: Catalog):
    catalog.sequence_qa(progress=False)
    view = catalog.view().match_qa("gap")
    assert view.frame_ids() == ["gap/20"]
    assert catalog.view().match_qa("jitter").count() == FRAMES  # a context's issue: its frames
    errors = catalog.view().match_qa(min_severity="error")
    assert set(errors.frame_ids()) >= {"id_switch/15", "out_of_order/08"}
    spec = catalog.view().match_qa(["gap", "frozen"], min_severity="warning").to_dict()
    assert spec["stages"] == [
        {"stage": "match_qa", "kinds": ["gap", "frozen"], "min_severity": "warning"}
    ]
    assert sorted(View.from_dict(catalog, spec).frame_ids()) == ["frozen/10", "gap/20"]
    issues = catalog.view().select_contexts(["frozen"]).qa_issues()
    assert issues.column("kind").to_pylist() == ["frozen"]


def test_demo_sequence_defects_are_found(tmp_path: Path):
    from workbench.demo import build_demo

    with workbench.open(tmp_path / "demo.duckdb") as catalog:
        summary = build_demo(
            catalog,
            tmp_path / "media",
            progress=False,
            contexts=["munich-0003", "lyon-0006", "milan-0007", "amsterdam-0008"],
        )
        defects = {d.kind: d for d in summary.defects}
        report = catalog.sequence_qa(progress=False)
        issues = report.issues.to_pylist()
        gaps = [(r["context_id"], r["frame_id"]) for r in issues if r["kind"] == "gap"]
        assert gaps == [("milan-0007", defects["dropped_frames"].frame_ids[0])]
        assert json.loads(next(r for r in issues if r["kind"] == "gap")["details"])["dropped"] == 6
        frozen = [(r["frame_id"], r["source_id"]) for r in issues if r["kind"] == "frozen"]
        assert frozen == [(defects["frozen_frame"].frame_ids[0], "front_left")]
        switches = {r["frame_id"] for r in issues if r["kind"] == "id_switch"}
        wrong = defects["wrong_label"].frame_ids
        assert switches == {wrong[0], f"munich-0003/{int(wrong[-1][-4:]) + 1:04d}"}
        assert not [
            r
            for r in issues
            if r["kind"]
            in ("jitter", "duplicate_timestamp", "out_of_order", "missing_source", "jump")
        ]
        assert catalog.sql(defects["dropped_frames"].sql).fetchall()[0][:2] == tuple(gaps[0])
        duplicates = catalog.find_duplicates(kinds="exact", scope="across_contexts", progress=False)
        pairs = {g.frame_ids for g in duplicates.of("exact")}
        assert len(pairs) == 60 and all(a.replace("-0008/", "-0009/") == b for a, b in pairs), pairs
        copies = catalog.view().match_duplicates("exact", which="extra")
        assert copies.count_contexts() == 1 and copies.count() == 60
        assert catalog.find_similar("amsterdam-0008/0010", k=2).frame_ids == (
            "amsterdam-0008/0010",
            "amsterdam-0009/0010",
        ) or catalog.find_similar("amsterdam-0008/0010", k=2).scores[1] == pytest.approx(
            1.0, abs=1e-5
        )
