"""A COCO file read again without lookup (a frame it found unchanged changed before the write
that counted it) counts what it stores once, also when it is not the import's first file:
the frames the import's earlier files stored stay counted, those of the first reading of
this file are counted by the second, once."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import workbench
from workbench.ingest import coco
from workbench.ingest._coco_digests import ImageDigests
from workbench.store.imports import get_import


def _instances(path: Path, ids: list[int], shift: int = 0) -> Path:
    """Images `ids`, one box each; the first image's box `shift` pixels to the right."""
    images = [{"id": i, "file_name": f"{i}.jpg", "width": 64, "height": 48} for i in ids]
    annotations = [
        {"id": 1000 + i, "image_id": i, "category_id": 1, "area": 16,
         "bbox": [1 + (shift if i == ids[0] else 0), 1, 4, 4]}
        for i in ids
    ]  # fmt: skip
    categories = [{"id": 1, "name": "car"}]
    path.write_text(
        json.dumps({"images": images, "annotations": annotations, "categories": categories})
    )
    return path


def _held(catalog: Any) -> tuple[int, ...]:
    return tuple(
        catalog.sql(f"SELECT count(*) FROM {table}").fetchall()[0][0]
        for table in ("frames", "sources", "rois")
    )


@pytest.mark.parametrize(
    "order",
    ["changed file first", "changed file second"],
)
def test_a_file_read_again_after_a_frame_changed_counts_its_frames_once(
    tmp_path: Path, order: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """b.json's image 11 changed in the file (converted and stored by the first reading);
    its image 16 is found unchanged, then changed by another write before the write that
    counts it: b.json is read again without lookup. The import of a.json and b.json leaves
    8 frames stored, and counts 8."""
    first = _instances(tmp_path / "a.json", [1, 2])
    changed = tmp_path / "b.json"
    _instances(changed, [11, 12, 13, 14, 15, 16])
    paths = [first, changed] if order == "changed file second" else [changed, first]
    with workbench.open(tmp_path / "c.duckdb") as catalog:
        assert coco.import_files(catalog, paths, progress=False, batch_size=2).ok
        _instances(changed, [11, 12, 13, 14, 15, 16], shift=1)
        look_up = ImageDigests.look_up
        seen: list[int] = []

        def then_changed(self: ImageDigests, con: Any) -> None:
            look_up(self, con)
            if self.unchanged and self._path == changed:  # another write lands here
                seen.append(self.unchanged)
                with catalog.transaction() as write:
                    write.execute("UPDATE frames SET metadata = '{\"n\": 9}' WHERE id = 'b:16'")

        monkeypatch.setattr(ImageDigests, "look_up", then_changed)
        report = coco.import_files(catalog, paths, progress=False, batch_size=2)
        assert report.ok
        assert seen == [5]  # 12..16 found unchanged, then 16 changed
        assert _held(catalog) == (8, 8, 8)
        record = get_import(catalog, report.import_id).counts
        assert (record.frames, record.sources, record.rois) == (8, 8, 8)
        assert (report.frames, report.sources, report.rois) == (8, 8, 8)
