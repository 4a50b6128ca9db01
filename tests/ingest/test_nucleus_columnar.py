"""Nucleus NDJSON scenes taken by SQL store exactly what the per-record path stores, and the
scenes SQL leaves to it are rejected with the same errors (file, line, scene, index, item)."""

import json
import random
import re
from pathlib import Path

import pytest

import workbench
from workbench.ingest._nucleus_columnar import NdjsonScenes
from workbench.ingest.nucleus import _SceneImport, import_files

BOM = b"\xef\xbb\xbf"


def _item(rng: random.Random, s: int, f: int) -> object:
    ref = f"s{s}-{f}"
    item: dict = {"reference_id": ref, "image_location": f"s3://b/{s}/{f}.jpg"}
    pick = rng.random()
    if pick < 0.03:
        item["reference_id"] = f  # an integer reference_id
    elif pick < 0.05:
        del item["image_location"]
        item["url"] = f"https://h/{s}/{f}.PNG?x=1"
    elif pick < 0.07:
        item["metadata"] = {"scene": "own", "camera": "left"}
    elif pick < 0.09:
        item["metadata"] = {"weather": rng.choice(["rain", 3, 2.5, True, None, [1], {"a": 1}])}
    elif pick < 0.10:
        item["image_location"] = f"s3://b/{s}/{f}.tar.gz"
    elif pick < 0.11:
        item["reference_id"] = "bad\u202eid"
    elif pick < 0.12:
        item["reference_id"] = f"s{s}-0"  # twice in its scene (or taken by another scene)
    elif pick < 0.13:
        return rng.choice([3, "text", None, [1]])
    elif pick < 0.14:
        item["image_location"] = ""
    else:
        item["metadata"] = {"camera": rng.choice(["front", "rear", 7]), "n": f, "v": f / 3}
    return item


def _scene(rng: random.Random, s: int) -> object:
    frames = [_item(rng, s, f) for f in range(rng.randint(1, 12))]
    scene: dict = {"reference_id": f"scene-{s % 9}", "frame_rate": rng.choice([10, 29.97, 3])}
    scene["frames"] = frames
    pick = rng.random()
    if pick < 0.05:
        scene["frame_rate"] = rng.choice([0, -1, "10", None, True])
    elif pick < 0.1:
        scene["metadata"] = rng.choice([{"site": "a", "n": [1, {"b": None}]}, {}, None, "x"])
    elif pick < 0.13:
        scene["reference_id"] = rng.choice([s, "", None])
    elif pick < 0.15:
        scene["items"] = scene.pop("frames")
    elif pick < 0.17:
        scene["frames"] = []
    return scene


def _files(tmp_path: Path, seed: int) -> tuple[Path, Path, int]:
    rng = random.Random(seed)
    scenes = [_scene(rng, s) for s in range(40)]
    lines = [json.dumps(s) for s in scenes]
    lines[5] = '{"reference_id": "broken", "frames": ['  # not JSON
    ndjson = tmp_path / f"scenes-{seed}.ndjson"
    ndjson.write_bytes(
        BOM + "\n".join(lines[:20]).encode() + b"\n\n" + "\n".join(lines[20:]).encode()
    )
    document = tmp_path / f"scenes-{seed}.json"
    document.write_text("[" + ",\n".join([*lines[:5], "null", *lines[6:]]) + "]")
    return ndjson, document, len(lines)


def _stored(catalog) -> tuple[list, list]:
    frames = catalog.sql(
        "SELECT * EXCLUDE (ingested) FROM frames ORDER BY context_id, frame_index, id"
    ).fetchall()
    sources = catalog.sql("SELECT * FROM sources ORDER BY frame_id").fetchall()
    return frames, sources


def _errors(report, ndjson: Path, document: Path) -> list[str]:
    """Errors with each scene named `#<index>` (line n of the NDJSON file holds scene n - 1
    up to line 20, then scene n - 2 after the blank line; item n of the document scene n)."""

    def scene(match: re.Match) -> str:
        n = int(match[1])
        return f"#{n - 1 if n <= 20 else n - 2}"

    out = []
    for error in report.errors:
        text = re.sub(rf"^{re.escape(str(ndjson))}:(\d+)", scene, str(error))
        out.append(re.sub(rf"^{re.escape(str(document))}\[(\d+)\]", r"#\1", text))
    return out


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("update", [False, True])
def test_sql_and_per_record_paths_agree(tmp_path: Path, seed: int, update: bool) -> None:
    ndjson, document, _ = _files(tmp_path, seed)
    results = []
    for name, path in (("a", ndjson), ("b", document)):
        with workbench.open(tmp_path / f"{name}-{seed}-{update}.duckdb") as catalog:
            first = import_files(catalog, [path], progress=False, update=update)
            again = import_files(catalog, [path], progress=False, update=update)
            results.append((_stored(catalog), first, again))
    (stored_a, first_a, again_a), (stored_b, first_b, again_b) = results
    assert stored_a == stored_b
    assert stored_a[0], "some frames are stored"
    for a, b in ((first_a, first_b), (again_a, again_b)):
        assert (a.frames, a.sources, a.rejected) == (b.frames, b.sources, b.rejected)
        errors_a = _errors(a, ndjson, document)
        errors_b = _errors(b, ndjson, document)
        # The broken line is "not valid JSON" in one file and "null" in the other.
        assert [e for e in errors_a if not e.startswith("#5:")] == [
            e for e in errors_b if not e.startswith("#5:")
        ]


def test_plain_scenes_are_taken_by_sql(tmp_path: Path) -> None:
    ndjson, _, count = _files(tmp_path, 4)
    with workbench.open(tmp_path / "c.duckdb") as catalog:
        job = _SceneImport(catalog, update=True, progress=False, frames_dir=None, dataset="d1")
        with job.writer:
            scenes = NdjsonScenes(job)
            try:
                scenes.read(ndjson)
            finally:
                scenes.close()
        assert scenes.sql_scenes > count // 3
        assert scenes.sql_scenes + scenes.record_scenes == count
        assert catalog.sql("SELECT DISTINCT dataset FROM frames").fetchall() == [("d1",)]
