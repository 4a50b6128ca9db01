"""Boxes interpolated at once by numpy are the boxes the per-ROI interpolation makes."""

import random

import numpy as np
import pytest

from workbench.ingest._labelbox_keyframes import (
    Keyframe,
    interpolated,
    parsed_keyframes,
    plain_boxes,
)
from workbench.ingest._labelbox_rows import Answers, Base, Boxes, Part, box_steps, rows_of


@pytest.mark.parametrize("seed", range(20))
def test_box_steps_match_the_per_frame_interpolation(seed: int) -> None:
    rng = random.Random(seed)
    numbers = sorted(rng.sample(range(1, 400), rng.randint(1, 12)))
    keyframes = [
        Keyframe(
            n,
            "box",
            [
                rng.choice([0.0, -0.0, rng.uniform(-50, 2000), float(rng.randint(0, 9))]),
                rng.uniform(0, 1000) / 3,
                rng.choice([0.0, rng.uniform(0, 300)]),
                rng.uniform(0, 300) / 7,
            ],
            [{"n": n}],
        )
        for n in numbers
    ]
    expected = list(interpolated(keyframes))
    steps, values, held, is_key = box_steps(numbers, [k.values for k in keyframes])
    assert steps.tolist() == [k.number for k, _ in expected]
    assert is_key.tolist() == [flag for _, flag in expected]
    assert [keyframes[i].classifications for i in held.tolist()] == [
        k.classifications for k, _ in expected
    ]
    got = values.tolist()
    for (step, _), row in zip(expected, got, strict=True):
        assert [repr(v) for v in row] == [
            repr(v) for v in step.values
        ]  # the same floats, signs too


@pytest.mark.parametrize("seed", range(20))
def test_plain_boxes_are_the_parsed_keyframes(seed: int) -> None:
    """A segment of plain boxes read on arrays gives the numbers and boxes, in the order,
    that parsing keyframe by keyframe and sorting gives; any other segment is left to it."""
    rng = random.Random(seed)
    keyframes = []
    for _ in range(rng.randint(1, 8)):
        box = {"left": rng.choice([1, 2.5, -0.0]), "top": rng.uniform(0, 9), "width": 3,
               "height": rng.choice([0, 4.25])}  # fmt: skip
        keyframes.append({"frame": rng.randint(1, 6), "bbox": box})
    spoiled = rng.choice([None, "bool", "key", "float frame", "negative", "nested", "big"])
    if spoiled is not None:
        target = rng.choice(keyframes)
        if spoiled == "bool":
            target["bbox"]["left"] = True
        elif spoiled == "key":
            target["bbox"]["depth"] = 1
        elif spoiled == "float frame":
            target["frame"] = 2.0
        elif spoiled == "negative":
            target["bbox"]["width"] = -1
        elif spoiled == "nested":
            target["classifications"] = [{"name": "q", "answer": "a"}]
        else:
            target["frame"] = 10**30
    found = plain_boxes(keyframes)
    if spoiled is not None:
        assert found is None
        return
    assert found is not None
    parsed = sorted(parsed_keyframes(keyframes, "f:1"), key=lambda k: k.number)
    numbers, values = found
    assert numbers.tolist() == [k.number for k in parsed]
    assert [[repr(v) for v in row] for row in values.tolist()] == [
        [repr(v) for v in k.values] for k in parsed
    ]


def _segment(rng: random.Random, first: int) -> list[Keyframe]:
    numbers = sorted(rng.sample(range(first, first + 40), rng.randint(1, 5)))
    return [
        Keyframe(
            n,
            "box",
            [
                rng.choice([0.0, -0.0, rng.uniform(-50, 900)]),
                rng.choice([float(rng.randint(0, 9)), rng.uniform(0, 500) / 3]),
                rng.choice([0.0, -0.0, rng.uniform(-30, 300)]),  # no width, or a negative one
                rng.choice([0.0, rng.uniform(0, 300) / 7, -rng.uniform(0, 40)]),
            ],
            [],
        )
        for n in numbers
    ]


@pytest.mark.parametrize("seed", range(12))
def test_rows_made_at_once_are_each_frames_box(seed: int) -> None:
    """The rows of box parts (segments, frames not imported) among classification parts, in
    the write's order: each box row's ring, sides, area and keyframe flag are those of the
    box `interpolated` gives its frame (the same floats), an answer's are null, and the boxes
    of no area are counted per video."""
    rng = random.Random(seed)
    videos: list[list[tuple[int, Part]]] = []
    expected: dict[tuple[int, int, int], tuple[list[float], bool] | None] = {}
    line = 0
    for v in range(rng.randint(1, 3)):
        parts: list[tuple[int, Part]] = []
        for _ in range(rng.randint(1, 4)):
            base = Base(f"u{line}", "f", f"label{line % 3}", 0.5, line)
            if rng.random() < 0.3:
                positions = np.array(sorted(rng.sample(range(200), 5)), dtype=np.int64)
                parts.append((line, Answers(base, positions, ["{}"], np.zeros(5, np.int64))))
                expected.update(((v, int(p), line), None) for p in positions)
            else:
                segments = [_segment(rng, 1), _segment(rng, 60)][: rng.randint(1, 2)]
                frames = [(k, flag) for s in segments for k, flag in interpolated(s)]
                imported = np.array([rng.random() < 0.9 for _ in frames])
                keys = [k for s in segments for k in s]
                sizes = np.cumsum([len(s) for s in segments]) - 1
                positions = np.array([k.number for k, _ in frames], dtype=np.int64)[imported]
                parts.append((line, Boxes(
                    base, np.array([k.number for k in keys]), np.array([k.values for k in keys]),
                    ["{}"], np.zeros(len(keys), np.int64), imported, positions, sizes,
                )))  # fmt: skip
                for (k, flag), kept in zip(frames, imported.tolist(), strict=True):
                    if kept:
                        expected[v, k.number, line] = (k.values, flag)
            line += 1
        videos.append(parts)
    made = rows_of(videos)
    keys = list(zip(made.video.tolist(), made.positions.tolist(), strict=True))
    assert keys == sorted(keys) and len(keys) == len(expected)
    rows = made.rows.to_pylist()
    zero = [0] * len(videos)
    for row, v, position in zip(rows, made.video.tolist(), made.positions.tolist(), strict=True):
        box = expected[v, position, int(row["id"][1:])]
        if box is None:
            assert row["kind"] == "classification"
            assert row["geometry"] == []
            assert [row[k] for k in ("x_min", "y_max", "area", "keyframe")] == [None] * 4
            continue
        (x, y, w, h), flag = box
        x1, y1 = x + w, y + h
        assert row["kind"] == "box" and row["keyframe"] is flag
        assert repr(row["geometry"]) == repr([[x, y, x1, y, x1, y1, x, y1]])
        sides = [min(x, x1), min(y, y1), max(x, x1), max(y, y1)]
        got = [row[k] for k in ("x_min", "y_min", "x_max", "y_max")]
        assert [abs(a - b) for a, b in zip(got, sides, strict=True)] == [0.0] * 4
        assert row["area"] == (got[2] - got[0]) * (got[3] - got[1])
        zero[v] += got[2] <= got[0] or got[3] <= got[1]
    assert made.zero_area.tolist() == zero
