"""Rotated rectangles: centre form, corner form and rings, in pixel space (y down)."""

import pytest

from workbench.model.rotated import (
    CornerRect,
    RotatedRect,
    clockwise,
    corners,
    from_corners,
    is_axis_aligned,
    to_centre,
    to_corner,
)


def test_an_upright_rectangle_has_its_corners_clockwise_from_top_left():
    ring = corners(RotatedRect(50.0, 40.0, 20.0, 10.0))
    assert ring == (40.0, 35.0, 60.0, 35.0, 60.0, 45.0, 40.0, 45.0)
    assert is_axis_aligned(ring)


def test_a_positive_angle_turns_x_towards_y_on_screen():
    # A quarter turn clockwise as drawn: the top edge now points down the image.
    x0, y0, x1, y1, *_ = corners(RotatedRect(0.0, 0.0, 20.0, 10.0, 90.0))
    assert (x1 - x0, y1 - y0) == pytest.approx((0.0, 20.0), abs=1e-12)


@pytest.mark.parametrize("angle", [0.0, 15.0, 90.0, 200.0, 359.0])
def test_rings_round_trip_through_the_centre_form(angle):
    rect = RotatedRect(50.0, 40.0, 20.0, 10.0, angle)
    back = from_corners(corners(rect))
    assert (back.cx, back.cy, back.width, back.height) == pytest.approx((50.0, 40.0, 20.0, 10.0))
    assert back.angle == pytest.approx(angle % 360.0, abs=1e-9)


@pytest.mark.parametrize("angle", [0.0, 30.0, 135.0, 270.0])
def test_the_corner_form_turns_about_the_first_corner(angle):
    rect = RotatedRect(50.0, 40.0, 20.0, 10.0, angle)
    corner = to_corner(rect)
    ring = corners(rect)
    assert (corner.x, corner.y) == pytest.approx(ring[:2])  # the corner it turns about
    back = to_centre(corner)
    assert (back.cx, back.cy, back.angle) == pytest.approx((50.0, 40.0, angle))


def test_the_corner_form_of_a_known_rectangle():
    # 30 x 40 turned a quarter about (10, 20): it hangs to the left of that corner.
    rect = to_centre(CornerRect(10.0, 20.0, 30.0, 40.0, 90.0))
    assert (rect.cx, rect.cy) == pytest.approx((-10.0, 35.0))
    assert corners(rect) == pytest.approx((10.0, 20.0, 10.0, 50.0, -30.0, 50.0, -30.0, 20.0))


def test_counter_clockwise_rings_are_walked_the_other_way():
    ccw = (0.0, 0.0, 0.0, 10.0, 20.0, 10.0, 20.0, 0.0)  # down first: counter-clockwise as drawn
    assert clockwise(ccw) == (0.0, 0.0, 20.0, 0.0, 20.0, 10.0, 0.0, 10.0)
    assert clockwise(clockwise(ccw)) == clockwise(ccw)
    rect = from_corners(clockwise(ccw))
    assert (rect.width, rect.height, rect.angle) == (20.0, 10.0, 0.0)


def test_four_corners_are_required():
    with pytest.raises(ValueError, match="4 corners, got 3"):
        from_corners((0.0, 0.0, 1.0, 0.0, 1.0, 1.0))
    with pytest.raises(ValueError, match="4 corners, got 2"):
        clockwise((0.0, 0.0, 1.0, 1.0))
    assert not is_axis_aligned((0.0, 0.0, 1.0, 1.0))


def test_the_kernel_imports_nothing_of_the_project():
    import ast
    from pathlib import Path

    import workbench.model.rotated as module

    tree = ast.parse(Path(module.__file__).read_text())
    imported = [
        node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)
    ] + [
        alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.Import)
        for alias in node.names
    ]
    assert not [name for name in imported if name.startswith("workbench")]
