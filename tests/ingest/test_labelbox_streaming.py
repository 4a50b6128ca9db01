"""Labelbox ROIs written every few rows (flat memory) store what one write at the end
stored: the field emptied once per video, lines of one video spread over writes and files,
a uuid's frames remembered across writes."""

import json
import random
from pathlib import Path

import pytest

import workbench
from workbench.ingest import CatalogWriter, Frame, Roi, Source, labelbox

VIDEOS = 5  # named in the files; one more is not


def _catalog(path: Path):
    catalog = workbench.open(path)
    with CatalogWriter(catalog, progress=False) as writer:
        for v in range(VIDEOS + 1):
            for i in range(20):
                rois = [Roi(id=f"old-{v}-{i}", kind="classification", labels=["old"],
                            field="predictions")] if i % 3 == 0 else []  # fmt: skip
                writer.add(
                    Frame(
                        id=f"v{v}-{20 - i:02d}",
                        context_id=f"video{v}",
                        frame_index=i,
                        timestamp=40 * i,
                        sources=[Source("image", f"/v/{v}/{i}.jpg", 200, 150)],
                        rois=rois,
                    )
                )
    return catalog


def _line(rng: random.Random, n: int) -> dict:
    video = f"video{rng.randrange(VIDEOS)}"
    uuid = f"00000000-0000-4000-8000-{rng.randrange(12):012d}"  # some uuids come back
    if rng.random() < 0.3:
        start = rng.randint(1, 20)
        return {"uuid": uuid, "dataRow": {"globalKey": video}, "name": "weather",
                "answer": {"name": rng.choice(["rain", "sun"])},
                "frames": [{"start": start, "end": rng.randint(start, 20)}]}  # fmt: skip
    first = rng.randint(1, 18)
    keyframes = [
        {"frame": f, "bbox": {"top": f * 2, "left": n, "height": 10, "width": rng.randint(0, 9)}}
        for f in sorted(rng.sample(range(first, 21), rng.randint(1, 3)))
    ]
    return {"uuid": uuid, "dataRow": {"globalKey": video}, "name": f"obj{n % 3}",
            "segments": [{"keyframes": keyframes}]}  # fmt: skip


def _import(tmp_path: Path, name: str, files: list[Path]):
    with _catalog(tmp_path / f"{name}.duckdb") as catalog:
        reports = [labelbox.import_files(catalog, files, progress=False) for _ in range(2)]
        rows = catalog.sql(
            "SELECT * EXCLUDE (label_key) FROM rois ORDER BY frame_id, field, rowid"
        ).fetchall()
        counts = catalog.sql(
            "SELECT f.context_id, r.label = 'old', count(*) FROM rois r "
            "JOIN frames f ON f.id = r.frame_id GROUP BY ALL ORDER BY ALL"
        ).fetchall()
    return rows, counts, [(r.rois, r.rejected, [str(e) for e in r.errors]) for r in reports]


@pytest.mark.parametrize("seed", [1, 2])
def test_writes_every_few_rows_store_what_one_write_stores(
    tmp_path: Path, seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    rng = random.Random(seed)
    files = []
    for part in range(2):  # lines of one video in both files
        path = tmp_path / f"part{part}.ndjson"
        path.write_text("".join(json.dumps(_line(rng, n)) + "\n" for n in range(40)))
        files.append(path)
    once = _import(tmp_path, "once", files)
    monkeypatch.setattr(labelbox, "_LINES_PER_LOOKUP", 3)
    monkeypatch.setattr(labelbox, "_ROWS_PER_WRITE", 1)
    streamed = _import(tmp_path, "streamed", files)
    assert streamed == once
    rows, counts, reports = once
    assert rows
    assert reports[0] == reports[1]
    assert any("is already on frame" in e for e in reports[0][2])  # uuids clash across writes
    # The field is emptied on every frame of the videos named, kept on the others.
    assert [(c, old) for c, old, _ in counts if old] == [(f"video{VIDEOS}", True)]
    assert {c for c, _, _ in counts} == {f"video{v}" for v in range(VIDEOS + 1)}
