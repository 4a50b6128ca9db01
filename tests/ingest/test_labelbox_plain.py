"""Plain box objects placed a chunk at once are what the per-line path places, line by line;
what the chunk step refuses is left to that path (which then names the problem)."""

import json
import random
from pathlib import Path

import numpy as np
import pytest

import workbench
from workbench.errors import RecordError
from workbench.ingest import CatalogWriter, Frame, Source
from workbench.ingest._labelbox_contexts import Contexts
from workbench.ingest._labelbox_plain import _ranked, plain_lines
from workbench.ingest._labelbox_rows import Boxes
from workbench.ingest.labelbox import _annotation, _Collected


@pytest.fixture(scope="module")
def catalog(tmp_path_factory: pytest.TempPathFactory):
    """Three videos: 30 frames, every fifth frame of 100 (frame_step 5), 8 frames."""
    path = tmp_path_factory.mktemp("plain") / "c.duckdb"
    with workbench.open(path) as cat:
        with CatalogWriter(cat, progress=False) as writer:
            for context, indexes in (("a", range(30)), ("b", range(0, 100, 5)), ("c", range(8))):
                for i in indexes:
                    writer.add(
                        Frame(
                            id=f"{context}-{i:03d}",
                            context_id=context,
                            frame_index=i,
                            timestamp=40 * i,
                            sources=[Source("image", f"/v/{context}/{i}.jpg", 64, 64)],
                        )
                    )
        yield cat


def _box(rng: random.Random) -> dict:
    box = {"left": rng.uniform(0, 60), "top": rng.randint(0, 60), "width": 8, "height": 5.5}
    spoil = rng.random()
    if spoil < 0.04:
        box["width"] = -1
    elif spoil < 0.06:
        box["left"] = 9_999_999.0  # its corner is past the limit: left to the per-ROI checks
    elif spoil < 0.08:
        box["top"] = True
    elif spoil < 0.1:
        box.pop("height")
    elif spoil < 0.11:
        box["left"] = 1e308
    return box


def _keyframe(rng: random.Random) -> dict:
    keyframe: dict = {"frame": rng.randint(1, 34), "bbox": _box(rng)}
    spoil = rng.random()
    if spoil < 0.03:
        keyframe["frame"] = rng.choice([0, 2.0, "3", True, -4])
    elif spoil < 0.05:
        keyframe["classifications"] = [{"name": "occluded", "answer": "yes"}]
    elif spoil < 0.06:
        keyframe = {"frame": keyframe["frame"], "point": {"x": 1, "y": 2}}
    return keyframe


def _line(rng: random.Random) -> dict:
    segments = [
        {"keyframes": [_keyframe(rng) for _ in range(rng.randint(1, 5))]}
        for _ in range(rng.choice([1, 1, 2, 3]))
    ]
    line = {
        "uuid": rng.choice(["u1", "u2", "u3", "u4", 7, None]),
        "dataRow": {"globalKey": rng.choice(["a", "b", "c", "a", "missing"])},
        "name": rng.choice(["car", "car", "dog", "", "bad\u0007"]),
        "segments": segments,
    }
    if line["uuid"] is None:
        del line["uuid"]
    spoil = rng.random()
    if spoil < 0.05:
        line["confidence"] = rng.choice([0.25, 2, "high"])
    elif spoil < 0.08:
        line["classifications"] = [{"name": "colour", "answer": "red"}]
    elif spoil < 0.1:
        line["segments"] = []
    return line


@pytest.mark.parametrize("seed", range(25))
def test_lines_placed_at_once_are_placed_as_one_by_one(catalog, seed: int) -> None:
    rng = random.Random(seed)
    chunk = [(f"f.ndjson:{n + 1}", json.loads(json.dumps(_line(rng)))) for n in range(40)]
    contexts = Contexts(catalog, None)
    placed = plain_lines(chunk, contexts, {}, set())
    alone = _Collected()
    taken_alone = 0
    for at, (where, line) in enumerate(chunk):
        try:
            context_id, roi_id, one = _annotation(line, where, contexts, alone, "predictions")
            if len(np.unique(one.positions)) != len(one.positions):
                raise RecordError(where, "segments overlap")
        except RecordError:
            assert at not in placed, where  # refused alone: never placed at once
            continue
        part = one.parts[0]
        if at not in placed:
            # Only the shapes the chunk step does not take (or boxes near the limit).
            taken_alone += isinstance(part, Boxes)
            continue
        got = placed[at]
        assert len(one.parts) == 1 and isinstance(part, Boxes), where
        assert (got.context_id, got.uuid) == (context_id, roi_id)
        assert (got.name, got.confidence) == (part.base.label, part.base.confidence)
        assert [got.text] * len(got.numbers) == [part.texts[i] for i in part.text_at.tolist()]
        for mine, theirs in (
            (got.numbers, part.numbers),
            (got.values, part.values),
            (got.ends, part.ends),
            (got.imported, part.imported),
            (got.positions, part.positions),
            (got.taken, np.unique(one.positions)),
        ):
            assert mine.tolist() == theirs.tolist(), where
    assert placed  # the usual line is taken by the chunk step
    assert taken_alone <= len(chunk) // 4


def test_a_chunk_with_a_frame_number_past_int64_is_left_to_the_lines(catalog) -> None:
    good = {"uuid": "x", "dataRow": {"globalKey": "a"}, "name": "car",
            "segments": [{"keyframes": [{"frame": 1, "bbox": {"left": 1, "top": 1,
                                                               "width": 2, "height": 2}}]}]}  # fmt: skip
    huge = json.loads(json.dumps(good).replace('"frame": 1', f'"frame": {10**30}'))
    contexts = Contexts(catalog, None)
    assert list(plain_lines([("f:1", good)], contexts, {}, set())) == [0]
    assert plain_lines([("f:1", good), ("f:2", huge)], contexts, {}, set()) == {}


def test_overlapping_segments_and_repeated_uuids_are_reported_as_before(catalog, tmp_path: Path):
    """The chunk step leaves both to the per-line path: the later line is refused whole,
    naming its file and line, and the earlier one's ROIs stay."""
    box = {"left": 1, "top": 1, "width": 4, "height": 4}
    first = {"uuid": "car", "dataRow": {"globalKey": "a"}, "name": "car",
             "segments": [{"keyframes": [{"frame": 1, "bbox": box}, {"frame": 5, "bbox": box}]}]}  # fmt: skip
    again = {**first, "segments": [{"keyframes": [{"frame": 5, "bbox": box}]}]}
    overlap = {**first, "uuid": "dog", "segments": [
        {"keyframes": [{"frame": 1, "bbox": box}, {"frame": 3, "bbox": box}]},
        {"keyframes": [{"frame": 3, "bbox": box}]}]}  # fmt: skip
    path = tmp_path / "lines.ndjson"
    path.write_text("".join(json.dumps(line) + "\n" for line in (first, again, overlap)))
    report = workbench.ingest.labelbox.import_files(catalog, path, progress=False)
    assert [str(e) for e in report.errors] == [
        f"{path}:2: uuid 'car' is already on frame 'a-004'",
        f"{path}:3: segments overlap on frame 'a-002'",
    ]
    assert report.rois == 5


@pytest.mark.parametrize("seed", range(30))
def test_positions_ranked_per_line_as_sorted(seed: int) -> None:
    """Each line's positions sorted (as int32), how many each line has and whether one has a
    position twice: the same whether they rise already (one segment a line, the usual file)
    or not (segments out of frame order, overlapping)."""
    rng = np.random.default_rng(seed)
    lines = int(rng.integers(1, 6))
    sizes = rng.integers(0, 8, lines)
    line = np.repeat(np.arange(lines), sizes)
    starts = rng.integers(0, 50, lines)
    positions = np.concatenate([s + np.arange(n) for s, n in zip(starts, sizes, strict=True)])
    if seed % 3 and len(positions) > 1:  # out of order within a line, or given twice
        at = int(rng.integers(0, len(positions) - 1))
        positions[at + 1] = positions[at] - int(rng.integers(0, 3))
    positions = positions.astype(np.int64)
    ranked, counts, overlapping = _ranked(positions, line, lines)
    order = np.lexsort((positions, line))
    assert ranked.dtype == np.int32
    assert ranked.tolist() == positions[order].tolist()
    assert counts.tolist() == sizes.tolist()
    assert overlapping.tolist() == [
        len(set(positions[line == n].tolist())) < sizes[n] for n in range(lines)
    ]
