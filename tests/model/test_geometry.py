"""The kernel's rings, boxes and polygons: one definition each, used by every layer."""

from __future__ import annotations

import pytest

from workbench.model.geometry import (
    bounds,
    box_ring,
    corner_ring,
    is_box_ring,
    point_in_ring,
    polygon_area,
    polygon_parts,
    polygon_ring,
    split_ring,
)


def test_a_box_is_four_corners_clockwise_from_the_top_left() -> None:
    assert box_ring(10, 20, 30, 40) == [10, 20, 40, 20, 40, 60, 10, 60]
    assert corner_ring(10, 20, 40, 60) == (10, 20, 40, 20, 40, 60, 10, 60)
    assert is_box_ring(box_ring(10, 20, 30, 40))


@pytest.mark.parametrize(
    "ring",
    [
        [0, 0, 2, 2, 2, 0, 0, 2],  # a bow tie
        [0, 0, 0, 0, 2, 2, 2, 2],  # repeated corners
        [0, 0, 2, 0, 2, 2],  # three corners
        [0, 0, 3, 1, 2, 4, -1, 3],  # turned
    ],
)
def test_only_an_upright_box_going_round_is_a_box(ring: list[float]) -> None:
    assert not is_box_ring(ring)


def test_bounds_cover_every_ring_and_nothing_has_none() -> None:
    assert bounds([[5, 1, 2, 8], [9, -3]]) == (2, -3, 9, 8)
    assert bounds([]) is None
    assert bounds([[]]) is None


def test_polygon_area_adds_the_parts() -> None:
    square = [0, 0, 4, 0, 4, 4, 0, 4]
    triangle = [10, 10, 16, 10, 10, 13]
    assert polygon_area([square]) == 16.0
    assert polygon_area([square, triangle]) == 16.0 + 9.0
    assert polygon_area([list(reversed(square))]) == 16.0  # either way round


def test_a_drawn_polygon_loses_its_repeated_vertices() -> None:
    xs, ys = [1, 1, 5, 5, 1 + 1e-9], [1, 1, 1, 4, 1]
    assert polygon_ring(xs, ys) == (1.0, 1.0, 5.0, 1.0, 5.0, 4.0)
    assert polygon_ring([1, 2], [3, 4]) == (1.0, 3.0, 2.0, 4.0)


def test_a_ring_inside_an_earlier_one_is_its_hole() -> None:
    outer, hole, other = [0, 0, 10, 0, 10, 10, 0, 10], [4, 4, 6, 4, 6, 6], [20, 0, 30, 0, 30, 5]
    xs, ys = polygon_parts([outer, hole, other, []])
    assert xs == [[split_ring(outer)[0], split_ring(hole)[0]], [split_ring(other)[0]]]
    assert ys == [[split_ring(outer)[1], split_ring(hole)[1]], [split_ring(other)[1]]]
    assert point_in_ring(5, 5, *split_ring(outer)) and not point_in_ring(15, 5, *split_ring(outer))
