"""Boxes interpolated at once by numpy are the boxes the per-ROI interpolation makes."""

import random

import pytest

from workbench.ingest._labelbox_keyframes import Keyframe, interpolated
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
