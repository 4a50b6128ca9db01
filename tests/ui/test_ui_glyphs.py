"""ROIs to glyph columns, colours, masks and tile shapes: pure functions over records."""

import zlib

import numpy as np
import pytest

from workbench.errors import MediaError
from workbench.model import rle
from workbench.model.geometry import polygon_parts
from workbench.ui.glyphs import DASHED, SOLID, format_attributes, frame_glyphs
from workbench.ui.masks import MaskPainter, decode_rle
from workbench.ui.palette import PALETTE, UNLABELLED, label_color
from workbench.ui.tiles import format_span, thin_ring, tile_rois


def roi(rid, kind, label="car", field="ground_truth", geometry=(), **extra):
    return {
        "id": rid,
        "kind": kind,
        "label": label,
        "field": field,
        "geometry": list(geometry),
        **extra,
    }


def frame(rois, sources=(("cam", 100, 50),)):
    return {
        "id": "f",
        "sources": [
            {"id": s, "uri": f"/img/{s}.jpg", "width": w, "height": h} for s, w, h in sources
        ],
        "rois": rois,
    }


def test_label_colours_are_stable_and_distinct_from_unlabelled():
    assert label_color("car") == label_color("car")
    assert label_color("car") in PALETTE
    assert label_color(None) == UNLABELLED
    assert len({label_color(f"label-{i}") for i in range(200)}) == len(PALETTE)
    # crc32 picks the same entry in every process (hash() of a str would not).
    assert label_color("car") == PALETTE[zlib.crc32(b"car") % len(PALETTE)]


def test_boxes_and_polygons_become_multi_polygons_with_holes():
    glyphs = frame_glyphs(
        frame(
            [
                roi("b", "box", geometry=[[0, 0, 10, 0, 10, 5, 0, 5]], confidence=0.25),
                roi(
                    "p",
                    "polygon",
                    "person",
                    geometry=[
                        [0, 0, 40, 0, 40, 40, 0, 40],
                        [10, 10, 20, 10, 20, 20],
                        [60, 0, 70, 0, 70, 9],
                    ],
                ),
            ]
        )
    )["cam"]
    shapes = glyphs.shapes
    assert shapes["id"] == ["b", "p"]
    assert shapes["xs"][0] == [[[0.0, 10.0, 10.0, 0.0]]]
    assert shapes["ys"][0] == [[[0.0, 0.0, 5.0, 5.0]]]
    # second ring lies inside the first: a hole; the third is another part
    assert shapes["xs"][1] == [[[0.0, 40.0, 40.0, 0.0], [10.0, 20.0, 20.0]], [[60.0, 70.0, 70.0]]]
    assert shapes["confidence"] == ["0.250", ""]
    assert shapes["color"] == [label_color("car"), label_color("person")]
    assert shapes["line_dash"] == [SOLID, SOLID]


def test_keypoints_show_their_labelled_points_by_name_and_the_skeleton_between_them():
    from workbench.model.keypoints import KeypointLabel

    names = KeypointLabel("person", ("nose", "<b>eye</b>", "ear"), ((1, 2), (2, 3)))
    kp = roi("p", "keypoints", "person", geometry=[[3, 4, 5, 6, 0, 0]], visibility=[2, 1, 0])
    glyphs = frame_glyphs(frame([kp]), keypoints={"person": names})["cam"]
    assert list(zip(glyphs.points["x"], glyphs.points["y"], strict=True)) == [(3, 4), (5, 6)]
    # names are data: the hover shows them as text (Bokeh's @column tooltips escape them)
    assert glyphs.points["point"] == ["nose", "<b>eye</b> (not visible)"]
    assert glyphs.lines["xs"] == [[3.0, 5.0]]  # the ear is not labelled: no line to it
    assert glyphs.lines["ys"] == [[4.0, 6.0]] and glyphs.lines["point"] == [""]
    unnamed = frame_glyphs(frame([kp]))["cam"]  # the label's names unknown: numbered
    assert unnamed.points["point"] == ["point 1", "point 2 (not visible)"]
    assert unnamed.lines["xs"] == []


def test_polylines_points_and_predictions_are_styled_per_roi():
    glyphs = frame_glyphs(
        frame(
            [
                roi("l", "polyline", "lane", geometry=[[0, 0, 5, 5, 9, 0], [1, 1, 2, 2]]),
                roi("k", "point", "nose", geometry=[[3, 4, 5, 6]], attributes={"visible": True}),
                roi("pr", "box", field="predictions", geometry=[[0, 0, 1, 0, 1, 1, 0, 1]]),
            ]
        )
    )["cam"]
    assert glyphs.lines["xs"] == [[0.0, 5.0, 9.0], [1.0, 2.0]]
    assert glyphs.lines["id"] == ["l", "l"]
    assert list(zip(glyphs.points["x"], glyphs.points["y"], strict=True)) == [
        (3.0, 4.0),
        (5.0, 6.0),
    ]
    assert glyphs.points["attributes"] == ["visible=true", "visible=true"]
    assert glyphs.shapes["line_dash"] == [DASHED]
    assert glyphs.roi_count == 5


def test_fields_filter_and_sources_assignment():
    record = frame(
        [
            roi("a", "box", geometry=[[0, 0, 1, 0, 1, 1, 0, 1]]),
            roi("b", "box", geometry=[[0, 0, 1, 0, 1, 1, 0, 1]], source_ids=["rear"]),
            roi("c", "box", field="predictions", geometry=[[0, 0, 1, 0, 1, 1, 0, 1]]),
            roi("d", "classification", "night", field="predictions", confidence=0.5),
        ],
        sources=(("front", 100, 50), ("rear", 30, 20)),
    )
    every = frame_glyphs(record)
    assert every["front"].shapes["id"] == ["a", "c"]
    assert every["rear"].shapes["id"] == ["b"]
    assert [b.text for b in every["front"].badges] == ["night 0.50"]
    only_truth = frame_glyphs(record, fields=["ground_truth"])
    assert only_truth["front"].shapes["id"] == ["a"]
    assert only_truth["front"].badges == []
    assert frame_glyphs({"id": "x", "sources": [], "rois": []}) == {}


def test_attributes_are_readable_text():
    assert format_attributes('{"occluded": true, "color": "red"}') == "color=red, occluded=true"
    assert format_attributes(None) == ""
    assert format_attributes({"long": "x" * 100}).endswith("...")


def test_polygon_parts_single_ring():
    xs, ys = polygon_parts([[0, 0, 2, 0, 2, 2]])
    assert xs == [[[0.0, 2.0, 2.0]]] and ys == [[[0.0, 0.0, 2.0]]]


def test_rle_mask_is_painted_in_the_label_colour():
    mask = np.zeros((6, 8), dtype=np.uint8)
    mask[1:3, 2:5] = 1
    counts = rle.encode(mask)
    np.testing.assert_array_equal(decode_rle({"size": [6, 8], "counts": counts}), mask.astype(bool))
    compressed = rle.to_string(counts)
    np.testing.assert_array_equal(
        decode_rle({"size": [6, 8], "counts": compressed}), mask.astype(bool)
    )
    with pytest.raises(MediaError):
        decode_rle({"size": [6, 8], "counts": [1, 2]})

    paint = MaskPainter()
    record = frame(
        [
            roi(
                "m",
                "mask",
                "road",
                mask={"rle": {"size": [6, 8], "counts": counts}},
                x_min=2.0,
                y_min=1.0,
                x_max=5.0,
                y_max=3.0,
            )
        ],
        sources=(("cam", 8, 6),),
    )
    glyphs = frame_glyphs(record, paint_mask=paint)["cam"]
    assert glyphs.masks["url"][0].startswith("data:image/png;base64,")
    assert (glyphs.masks["w"], glyphs.masks["h"]) == ([8], [6])
    # the outline of the mask's box carries the hover columns
    assert glyphs.shapes["xs"] == [[[[2.0, 5.0, 5.0, 2.0]]]]
    assert glyphs.shapes["line_dash"] == [DASHED]

    import base64
    import io

    from PIL import Image

    png = base64.b64decode(glyphs.masks["url"][0].split(",", 1)[1])
    pixels = np.asarray(Image.open(io.BytesIO(png)))
    assert pixels.shape == (6, 8, 4)
    assert (pixels[..., 3] > 0).sum() == mask.sum()
    r, g, b = (int(label_color("road")[i : i + 2], 16) for i in (1, 3, 5))
    assert tuple(pixels[1, 2, :3]) == (r, g, b)


def test_unreadable_mask_keeps_the_outline_only(tmp_path):
    record = frame(
        [
            roi(
                "m",
                "mask",
                mask={"uri": str(tmp_path / "missing.png"), "value": 3},
                x_min=0.0,
                y_min=0.0,
                x_max=4.0,
                y_max=4.0,
            )
        ],
    )
    glyphs = frame_glyphs(record, paint_mask=MaskPainter())["cam"]
    assert glyphs.masks["url"] == []
    assert glyphs.shapes["id"] == ["m"]


def test_mask_file_with_value(tmp_path):
    from PIL import Image

    pixels = np.zeros((4, 6), dtype=np.uint8)
    pixels[0, :3] = 7
    pixels[3, 5] = 2
    Image.fromarray(pixels).save(tmp_path / "m.png")
    record = frame(
        [roi("m", "mask", mask={"uri": str(tmp_path / "m.png"), "value": 7})], (("cam", 6, 4),)
    )
    url = frame_glyphs(record, paint_mask=MaskPainter())["cam"].masks["url"][0]

    import base64
    import io

    painted = np.asarray(Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1]))))
    assert (painted[..., 3] > 0).sum() == 3


@pytest.mark.parametrize("colour", [["a", "b", "c"], [[1, 2], [3]], [None, 1, 2], [True, 0, 0]])
def test_a_mask_colour_that_is_not_numbers_keeps_the_outline_only(tmp_path, colour):
    from PIL import Image

    Image.fromarray(np.zeros((4, 6, 3), dtype=np.uint8)).save(tmp_path / "m.png")
    mask = {"uri": str(tmp_path / "m.png"), "value": colour}
    box = {"x_min": 0.0, "y_min": 0.0, "x_max": 4.0, "y_max": 4.0}
    record = frame([roi("m", "mask", mask=mask, **box)], (("cam", 6, 4),))
    glyphs = frame_glyphs(record, paint_mask=MaskPainter())["cam"]
    assert glyphs.masks["url"] == []
    assert glyphs.shapes["id"] == ["m"]


def test_a_mask_colour_paints_the_pixels_of_that_colour(tmp_path):
    from PIL import Image

    pixels = np.zeros((4, 6, 3), dtype=np.uint8)
    pixels[1, :4] = (10, 20, 30)
    pixels[2, 0] = (10, 20, 31)
    Image.fromarray(pixels).save(tmp_path / "m.png")
    mask = {"uri": str(tmp_path / "m.png"), "value": [10, 20, 30]}
    record = frame([roi("m", "mask", mask=mask)], (("cam", 6, 4),))
    url = frame_glyphs(record, paint_mask=MaskPainter())["cam"].masks["url"][0]

    import base64
    import io

    painted = np.asarray(Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1]))))
    assert (painted[..., 3] > 0).sum() == 4


def test_tile_shapes_are_thinned_and_rounded():
    ring = [float(v) + 0.4 for v in range(400)]  # 200 points
    thinned = thin_ring(ring, max_points=50)
    assert len(thinned) // 2 == 50  # every 4th point
    assert thinned[:4] == [0, 1, 8, 9]
    shapes, badges = tile_rois(
        frame(
            [
                roi("b", "box", geometry=[[0.4, 0.6, 10, 0, 10, 5, 0, 5]]),
                roi("l", "polyline", geometry=[[0, 0, 5, 5]]),
                roi("k", "point", geometry=[[1, 1]]),
                roi("x", "box", geometry=[[0, 0, 1, 0, 1, 1, 0, 1]], source_ids=["other"]),
                roi("c", "classification", "night"),
            ]
        )
    )
    assert [s["k"] for s in shapes] == ["poly", "line", "pt"]
    assert shapes[0]["p"] == [[0, 1, 10, 0, 10, 5, 0, 5]]
    assert badges == [{"t": "night", "c": label_color("night")}]


def test_time_spans_read_as_dates_for_epoch_milliseconds():
    assert format_span(None, None) == "no timestamps"
    assert format_span(0, 400) == "t 0 – 400"
    assert format_span(7, 7) == "t 7"
    assert format_span(1716321821628, 1716321827528) == "2024-05-21 20:03:41 · 5.9 s"
    assert format_span(1716321821628, None) == "2024-05-21 20:03:41"
