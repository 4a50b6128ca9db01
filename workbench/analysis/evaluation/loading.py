"""Reading the ROIs an evaluation compares: one query, then whole columns as numpy arrays.

Rows come back sorted by frame, source and stored order, so an "image" in COCO's sense (one
source of one frame) is a run of consecutive rows, and every later step groups by position
instead of by key.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from workbench.model.regions import (
    Regions,
    concat_regions,
    decode_rle_strings,
    empty_regions,
    rasterise_polygons,
)
from workbench.query import pages
from workbench.query._sql import Compiled, all_of, sql
from workbench.query.view import View

Ints = npt.NDArray[np.int64]
Floats = npt.NDArray[np.float64]
Bools = npt.NDArray[np.bool_]

# The kinds of ROI a detection evaluation compares; others (points, polylines, classifications)
# are left out.
EVALUATED_KINDS = ("box", "polygon", "mask")

# An ROI's source: the first it names, else its frame's first source, so ROIs naming no source
# are compared with those naming the frame's only one.
_SOURCE = (
    "coalesce(r.source_ids[1], (SELECT min(s.id) FROM sources s WHERE s.frame_id = r.frame_id), '')"
)
_ISCROWD = "json_extract_string(r.attributes, '$.iscrowd')"


@dataclass(frozen=True)
class Rois:
    """The ground truth and predictions of an evaluation, row-aligned arrays."""

    frame_ids: pa.Array
    roi_ids: pa.Array
    fields: pa.Array
    labels: pa.Array
    confidence: pa.Array
    is_pred: Bools
    label_codes: Ints
    classes: tuple[str, ...]
    image: Ints
    score: Floats
    boxes: Floats
    area: Floats
    crowd: Bools
    warnings: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.is_pred)


def rois_query(view: View, pred_field: str, gt_field: str, use_masks: bool) -> Compiled:
    plan = view.plan
    kinds = ", ".join(f"'{k}'" for k in EVALUATED_KINDS)
    conditions = [
        sql("r.field IN (?, ?)", pred_field, gt_field),
        Compiled("r.label IS NOT NULL"),
        Compiled(f"r.kind IN ({kinds})"),
    ]
    if not use_masks:
        conditions.append(Compiled("r.x_min IS NOT NULL"))
    frames = pages.frame_set(plan)
    if frames is not None:
        conditions.append("r.frame_id IN (" + frames + ")")
    conditions.append(plan.roi_predicate())
    columns = Compiled.join(
        [
            f"r.frame_id, {_SOURCE} AS source, r.id AS roi_id, r.field, r.label, r.confidence,",
            sql(" r.field = ? AS is_pred,", pred_field),
            " r.kind, r.x_min, r.y_min, r.x_max, r.y_max,"
            " TRY_CAST(json_extract_string(r.attributes, '$.area') AS DOUBLE) AS stated_area,",
            sql(" r.field = ? AND ", gt_field),
            f"coalesce(TRY_CAST({_ISCROWD} AS DOUBLE) <> 0, TRY_CAST({_ISCROWD} AS BOOLEAN), false)"
            " AS crowd, r.rowid AS _row",
        ],
        "",
    )
    if use_masks:
        columns = columns + (
            ", r.geometry, json_extract_string(r.mask, '$.rle.counts') AS rle_counts,"
            " TRY_CAST(json_extract(r.mask, '$.rle.size[0]') AS BIGINT) AS rle_height,"
            " TRY_CAST(json_extract(r.mask, '$.rle.size[1]') AS BIGINT) AS rle_width"
        )
    inner = Compiled.join(["SELECT ", columns, " FROM rois r WHERE ", all_of(conditions)], "")
    if not use_masks:
        return inner + " ORDER BY r.frame_id, source, r.rowid"
    return Compiled.join(
        [
            "WITH _r AS (",
            inner,
            ") SELECT _r.*, s.width AS source_width, s.height AS source_height FROM _r"
            " LEFT JOIN sources s ON s.frame_id = _r.frame_id AND s.id = _r.source"
            " ORDER BY _r.frame_id, _r.source, _r._row",
        ],
        "",
    )


def load_rois(
    view: View, pred_field: str, gt_field: str, use_masks: bool
) -> tuple[Rois, Regions | None]:
    """The view's ROIs of both fields, and their pixel regions when `use_masks`."""
    table = view.run(rois_query(view, pred_field, gt_field, use_masks))
    column = {name: table[name].combine_chunks() for name in table.column_names}
    n = table.num_rows
    new_image = np.ones(n, dtype=bool)
    if n > 1:
        moved = pc.or_(
            pc.not_equal(column["frame_id"][1:], column["frame_id"][:-1]),
            pc.not_equal(column["source"][1:], column["source"][:-1]),
        )
        new_image[1:] = _bools(moved)
    image = np.cumsum(new_image) - 1
    codes, classes = _label_codes(column["label"])
    boxes = np.stack([_floats(column[c]) for c in ("x_min", "y_min", "x_max", "y_max")], axis=1)
    boxes = np.nan_to_num(boxes, nan=0.0) if n else np.zeros((0, 4))
    is_pred = _bools(column["is_pred"])
    warnings: list[str] = []
    regions = None
    if use_masks:
        regions = _regions(column, image, new_image, warnings)
        fallback = regions.areas().astype(np.float64)
    else:
        fallback = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    stated = _floats(column["stated_area"])
    # Ground truth keeps the area it states (COCO's `area`); detections are measured, as
    # pycocotools' loadRes measures them.
    area = np.where(~is_pred & ~np.isnan(stated), stated, fallback)
    rois = Rois(
        frame_ids=column["frame_id"],
        roi_ids=column["roi_id"],
        fields=column["field"],
        labels=column["label"],
        confidence=column["confidence"],
        is_pred=is_pred,
        label_codes=codes,
        classes=classes,
        image=image.astype(np.int64),
        score=np.nan_to_num(_floats(column["confidence"]), nan=0.0),
        boxes=boxes,
        area=area,
        crowd=_bools(column["crowd"]) & ~is_pred,
        warnings=tuple(warnings),
    )
    return rois, regions


def _floats(array: pa.Array) -> Floats:
    return np.asarray(array.to_numpy(zero_copy_only=False), dtype=np.float64)


def _bools(array: pa.Array) -> Bools:
    return np.asarray(array.fill_null(False).to_numpy(zero_copy_only=False), dtype=bool)


def _label_codes(labels: pa.Array) -> tuple[Ints, tuple[str, ...]]:
    """Labels as codes into the sorted list of labels."""
    if not len(labels):
        return np.zeros(0, dtype=np.int64), ()
    encoded = pc.dictionary_encode(labels)
    names = [str(v) for v in encoded.dictionary.to_pylist()]
    order = np.argsort(np.array(names, dtype=object), kind="stable")
    rank = np.empty(len(names), dtype=np.int64)
    rank[order] = np.arange(len(names))
    codes = rank[np.asarray(encoded.indices.to_numpy(zero_copy_only=False), dtype=np.int64)]
    return codes, tuple(names[i] for i in order)


def _ints(array: pa.Array) -> Ints:
    return np.asarray(array.fill_null(0).to_numpy(zero_copy_only=False), dtype=np.int64)


def _regions(
    column: dict[str, pa.Array], image: Ints, new_image: Bools, warnings: list[str]
) -> Regions:
    """Pixel regions of every row: masks from their RLE, boxes and polygons rasterised."""
    n = len(image)
    is_mask = _bools(pc.equal(column["kind"], "mask"))
    rle_h, rle_w = _ints(column["rle_height"]), _ints(column["rle_width"])
    readable = is_mask & _bools(pc.is_valid(column["rle_counts"])) & (rle_h > 0) & (rle_w > 0)
    mask_rows = np.flatnonzero(readable)
    masks = _decode(
        column["rle_counts"].take(pa.array(mask_rows)), rle_h[mask_rows], rle_w[mask_rows]
    )
    unreadable = int(np.count_nonzero(is_mask)) - int(np.count_nonzero(masks.valid))
    if unreadable:
        warnings.append(f"{unreadable} masks are not readable COCO RLE: evaluated as empty regions")
    poly_rows = np.flatnonzero(~is_mask)
    height, width, guessed = _image_sizes(column, image, new_image)
    if np.any(guessed[poly_rows]):
        warnings.append(
            "some frames have no source size: their boxes and polygons were rasterised in an "
            "image just large enough to hold them"
        )
    polygons = _rasterise(
        column["geometry"].take(pa.array(poly_rows)), height[poly_rows], width[poly_rows]
    )
    others = np.flatnonzero(is_mask & ~readable)
    rows = np.concatenate((mask_rows, poly_rows, others))
    merged = concat_regions([masks, polygons, _unreadable(len(others))])
    inverse = np.empty(n, dtype=np.int64)
    inverse[rows] = np.arange(n)
    return merged.take(inverse)


def _unreadable(count: int) -> Regions:
    empty = empty_regions(np.zeros(count, np.int64), np.zeros(count, np.int64))
    return Regions(empty.offsets, empty.bounds, empty.heights, empty.widths, np.zeros(count, bool))


def _decode(strings: pa.Array, heights: Ints, widths: Ints) -> Regions:
    """Decode RLE strings straight from the Arrow buffers (no Python string per mask)."""
    strings = pa.concat_arrays([strings.cast(pa.large_string())]) if len(strings) else strings
    if not len(strings):
        return empty_regions(heights, widths)
    buffers = strings.buffers()
    offsets = np.frombuffer(buffers[1], dtype=np.int64)[
        strings.offset : strings.offset + len(strings) + 1
    ]
    data = (
        np.frombuffer(buffers[2], dtype=np.uint8)
        if buffers[2] is not None
        else np.zeros(0, np.uint8)
    )
    data = data[offsets[0] : offsets[-1]]
    return decode_rle_strings(data, offsets - offsets[0], heights, widths)


def _image_sizes(
    column: dict[str, pa.Array], image: Ints, new_image: Bools
) -> tuple[Ints, Ints, Bools]:
    """Each row's image size: its source's, else just large enough for the image's ROIs."""
    height, width = _ints(column["source_height"]), _ints(column["source_width"])
    guessed = (height <= 0) | (width <= 0)
    if np.any(guessed):
        starts = np.flatnonzero(new_image)
        for values, ends in ((height, "y_max"), (width, "x_max")):
            extent = np.nan_to_num(_floats(column[ends]), nan=0.0)
            per_image = np.maximum.reduceat(extent, starts) if len(starts) else extent
            values[guessed] = np.ceil(per_image[image[guessed]]).astype(np.int64) + 1
    return height, width, guessed


def _rasterise(geometry: pa.Array, heights: Ints, widths: Ints) -> Regions:
    if not len(geometry):
        return empty_regions(heights, widths)
    rings_per_roi = _ints(pc.list_value_length(geometry))
    rings = pc.list_flatten(geometry)
    ring_lengths = _ints(pc.list_value_length(rings))
    coords = _floats(pc.list_flatten(rings))
    ring_offsets = np.concatenate(([0], np.cumsum(ring_lengths))).astype(np.int64)
    owner = np.repeat(np.arange(len(geometry), dtype=np.int64), rings_per_roi)
    return rasterise_polygons(coords, ring_offsets, owner, heights, widths)
