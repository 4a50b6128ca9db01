"""A ClearML ROI's id as ClearML's SDK gives it (`add_annotation(id=...)` writes `meta._id`,
`get_annotations(id=...)` looks there): the ROI's id when it has no `id` of its own, on both
import paths, and given back where the SDK looks for it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import workbench
from workbench.ingest import clearml

hyper = pytest.importorskip("clearml.hyperdatasets")


def _frame(n: int) -> dict:
    entry = hyper.DataEntryImage(data_entry_id=f"f{n}")
    front = hyper.DataSubEntryImage(name="front", source=f"s3://b/f{n}.jpg", width=640, height=480)
    entry.add_sub_entries([front])
    front.add_annotation(box2d_xywh=(10, 20, 30, 40), labels=["car"], id=f"car-{n}")
    front.add_annotation(poly2d_xy=[(1, 2), (10, 2), (10, 9)], labels=["sign"])
    # Two shapes of one call share its id: the first takes it, the other a stable one.
    front.add_annotation(box2d_xywh=(1, 1, 5, 5), poly2d_xy=[(1, 1), (6, 1), (6, 6)],
                         labels=["pair"], id=7)  # fmt: skip
    return entry.to_api_object()


def _write(path: Path, frames: list[dict]) -> Path:
    if path.suffix == ".json":
        path.write_text(json.dumps(frames))
    else:
        path.write_text("".join(json.dumps(f) + "\n" for f in frames))
    return path


@pytest.mark.parametrize("suffix", [".ndjson", ".json"])
def test_the_sdks_id_is_the_rois_id_and_comes_back(tmp_path, suffix):
    # The SDK's frames go to the per-record path (its `_type` without our `_kind`); one
    # without `_type` is converted by SQL on the NDJSON path.
    plain = {
        "id": "f2",
        "sources": [{"id": "front", "uri": "s3://b/f2.jpg"}],
        "rois": [
            {"label": ["car"], "poly": [10, 20, 40, 20, 40, 60, 10, 60], "meta": {"_id": "car-2"}},
            {"label": ["sign"], "poly": [1, 2, 9, 2, 5, 5]},
        ],
    }
    frames = [_frame(0), _frame(1), plain]
    assert frames[0]["rois"][0]["meta"]["_id"] == "car-0" and "id" not in frames[0]["rois"][0]
    path = _write(tmp_path / f"sdk{suffix}", frames)
    with workbench.open(tmp_path / "c.duckdb") as catalog:
        report = clearml.import_files(catalog, [path], progress=False)
        assert report.ok and report.warnings == {}, report
        rois = catalog.sql(
            "SELECT id, label, kind FROM rois WHERE frame_id = 'f1' ORDER BY id"
        ).fetchall()
        assert rois == [("7", "pair", "polygon"), ("car-1", "car", "box"),
                        ("f1:1", "sign", "polygon"), ("f1:3", "pair", "box")]  # fmt: skip
        assert catalog.sql("SELECT id FROM rois WHERE frame_id = 'f2' ORDER BY id").fetchall() == [
            ("car-2",), ("f2:1",)]  # fmt: skip
        out = tmp_path / "out.ndjson"
        clearml.export_files(catalog.view(), out, progress=False)
    exported = [json.loads(t) for t in out.read_text().splitlines()]
    front = hyper.DataEntryImage.from_api_object(exported[1]).sub_data_entries[0]
    assert [a["label"] for a in front.get_annotations(id="car-1")] == [["car"]]
    assert [a["label"] for a in front.get_annotations(id=7)] == [["pair"], ["pair"]]
    # The SDK's frames, read back from our export and written again, import as the same ROIs.
    again = _write(tmp_path / "again.ndjson", [
        hyper.DataEntryImage.from_api_object(f).to_api_object() for f in exported
    ])  # fmt: skip
    with workbench.open(tmp_path / "b.duckdb") as catalog:
        assert clearml.import_files(catalog, [again], progress=False).ok
        assert (
            catalog.sql(
                "SELECT id, label, kind FROM rois WHERE frame_id = 'f1' ORDER BY id"
            ).fetchall()
            == rois
        )


@pytest.mark.parametrize("suffix", [".ndjson", ".json"])
def test_an_sdk_id_that_is_no_id_costs_its_frame_only(tmp_path, suffix):
    frames = [
        {"id": f"f{n}", "sources": [{"id": "s", "uri": f"s3://b/{n}.jpg"}],
         "rois": [{"label": ["a"], "poly": [1, 2, 3, 4, 5, 6], "meta": {"_id": value}}]}
        for n, value in enumerate(["x", [1], 2.5, "y"])
    ]  # fmt: skip
    path = _write(tmp_path / f"t{suffix}", frames)
    with workbench.open(tmp_path / "c.duckdb") as catalog:
        report = clearml.import_files(catalog, [path], progress=False)
        assert [(e.where.rpartition(", ")[2], e.problem.startswith("meta._id must be a string"))
                for e in report.errors] == [("ROI 'f1:0'", True), ("ROI 'f2:0'", True)]  # fmt: skip
        assert catalog.sql("SELECT frame_id, id FROM rois ORDER BY 1").fetchall() == [
            ("f0", "x"), ("f3", "y")]  # fmt: skip
