"""Boxes interpolated at once by numpy are the boxes the per-ROI interpolation makes."""

import random

import pytest

from workbench.ingest._labelbox_keyframes import (
    Keyframe,
    interpolated,
    parsed_keyframes,
    plain_boxes,
)
from workbench.ingest._labelbox_rows import box_steps


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
