"""One import counts each frame it leaves stored once, with the sources and ROIs of its last
version, whichever write stored it and however many of its files or lines gave it: the
report's figures are what the catalog holds of the import, and its record keeps them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import workbench
from tests.ingest.counting_files import coco_file, counted
from workbench.ingest import coco, nucleus
from workbench.store.lake_write import open_for_lake


def _held(catalog: Any) -> tuple[int, int, int]:
    """The frames, sources and ROIs the catalog holds."""
    return tuple(  # type: ignore[return-value]
        catalog.sql(f"SELECT count(*) FROM {table}").fetchall()[0][0]
        for table in ("frames", "sources", "rois")
    )


@pytest.mark.parametrize("storage", ["local", "lake"])
@pytest.mark.parametrize("batch_size", [2, 1000])
def test_coco_files_sharing_a_prefix_count_a_frame_once(
    tmp_path: Path, batch_size: int, storage: str
) -> None:
    """Two instances files of one import give images 3 and 4 under the same prefix: the
    second file's version is stored, and counted, once (a lake-backed catalog's import
    knows its frames by id, a local one's by key)."""
    first = coco_file(tmp_path / "a.json", [1, 2, 3, 4], boxes=1)
    second = coco_file(tmp_path / "b.json", [3, 4, 5], boxes=2)
    path = tmp_path / "c.duckdb"
    workbench.open(path).close()
    if storage == "lake":
        open_for_lake(str(path), str(tmp_path / "lake"), attach=False, buckets=1, progress=False)
    with workbench.open(path) as catalog:
        for _ in range(2):  # a first import, then the same again (frames found unchanged)
            report = coco.import_files(
                catalog, [first, second], id_prefix="p:", progress=False, batch_size=batch_size
            )
            assert report.ok
            assert _held(catalog) == (5, 5, 2 + 3 * 2)
            assert counted(catalog, report) == _held(catalog)


def _scene(name: str, ids: list[str]) -> str:
    frames = [{"reference_id": i, "image_location": f"s3://b/{i}.jpg"} for i in ids]
    return json.dumps({"reference_id": name, "frame_rate": 10, "frames": frames}) + "\n"


@pytest.mark.parametrize("suffix", [".ndjson", ".json"])
def test_nucleus_frames_removed_by_their_own_import_are_not_counted(
    tmp_path: Path, suffix: str
) -> None:
    """Frames y0, y1 take the places of g0, g1 and are then replaced by them again in one
    import: stored by a write, removed by the next, they are not counted; g0 and g1 are
    counted once, although three writes stored them."""
    lines = [_scene("g", ["g0", "g1"]), _scene("g", ["y0", "y1"]), _scene("g", ["g0", "g1"])]
    path = tmp_path / f"scenes{suffix}"
    if suffix == ".ndjson":
        path.write_text("".join(lines))
    else:
        path.write_text(json.dumps([json.loads(line) for line in lines]))
    with workbench.open(tmp_path / "n.duckdb") as catalog:
        for _ in range(2):
            report = nucleus.import_files(catalog, [path], progress=False, update=True)
            assert report.ok
            assert _held(catalog) == (2, 2, 0)
            assert counted(catalog, report) == _held(catalog)


def test_a_write_retried_after_a_scene_changed_counts_its_unchanged_frames(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Scene a's line is written otherwise (its digest differs, its frames do not: the
    writer finds them unchanged), scene b's is found unchanged by its digest and changes
    before the write that counts it: that write is rolled back and made again, and counts
    a's frames once, not zero times."""
    from workbench.ingest._nucleus_digests import SceneDigests

    path = tmp_path / "scenes.ndjson"
    path.write_text(_scene("a", ["a0", "a1"]) + _scene("b", ["b0", "b1"]))
    unchanged = SceneDigests.unchanged

    def then_changed(self: SceneDigests, digests: Any) -> Any:
        scenes = unchanged(self, digests)
        with catalog.transaction() as con:  # another connection's write lands here
            con.execute("UPDATE frames SET metadata = '{\"n\": 9}' WHERE id = 'b1'")
        return scenes

    with workbench.open(tmp_path / "n.duckdb") as catalog:
        assert nucleus.import_files(catalog, [path], progress=False, update=True).ok
        again = json.dumps(json.loads(_scene("a", ["a0", "a1"])), indent=1).replace("\n", "")
        path.write_text(again + "\n" + _scene("b", ["b0", "b1"]))
        monkeypatch.setattr(SceneDigests, "unchanged", then_changed)
        report = nucleus.import_files(catalog, [path], progress=False, update=True)
        assert report.ok
        assert _held(catalog) == (4, 4, 0)
        assert counted(catalog, report) == _held(catalog)
