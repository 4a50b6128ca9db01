"""Reading the ROIs an evaluation compares: one query, then whole columns as numpy arrays.

Rows come back in stored order (no ORDER BY: sorting millions of rows in the database cost
more time and memory than everything after it). Frames are then dictionary-encoded: an "image"
in COCO's sense (one source of one frame) is a code, and every later step groups by code, with
ties broken by stored order.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from workbench.analysis.evaluation.keypoints import Keypoints, keypoints_from_columns
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
# are left out. Keypoints are compared by their box (a COCO person's `bbox`), and as regions by
# the segmentation COCO gave beside them (`attributes.segmentation`), else their box.
EVALUATED_KINDS = ("box", "polygon", "mask", "keypoints")
_SEGMENTATION = "json_extract(r.attributes, '$.segmentation')"
_KEYPOINT_KIND = f"""CASE WHEN r.kind = 'keypoints' AND json_type({_SEGMENTATION}) = 'OBJECT'
    THEN 'mask' ELSE r.kind END AS kind"""
_KEYPOINT_RINGS = f"""CASE WHEN r.kind <> 'keypoints' THEN r.geometry
    ELSE coalesce(TRY_CAST({_SEGMENTATION} AS DOUBLE[][]), [[r.x_min, r.y_min, r.x_max, r.y_min,
        r.x_max, r.y_max, r.x_min, r.y_max]]) END AS geometry"""
_RLE = f"CASE WHEN r.kind = 'keypoints' THEN {_SEGMENTATION} ELSE json_extract(r.mask, '$.rle') END"
_ISCROWD = "json_extract_string(r.attributes, '$.iscrowd')"
# Frames with more than one source, and the source their ROIs naming none belong to. On every
# other frame all ROIs are compared with each other, whatever source they name.
MULTI_SOURCE = (
    "SELECT frame_id, min(id) AS first_source FROM sources GROUP BY frame_id HAVING count(*) > 1"
)


@dataclass(frozen=True)
class Rois:
    """The ground truth and predictions of an evaluation, row-aligned arrays.

    `frames` holds each distinct frame id once and `frame_code` indexes it; `image` numbers the
    (frame, source) pairs; labels are codes into the sorted `classes`.
    """

    frames: pa.Array
    frame_code: Ints
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
    keypoints: Keypoints | None = None  # when compared by OKS (keypoints.py)

    def __len__(self) -> int:
        return len(self.is_pred)


def rois_query(
    view: View,
    pred_field: str,
    gt_field: str,
    use_masks: bool,
    sources: bool = True,
    keypoints: bool = False,
) -> Compiled:
    """The SELECT of the ROIs to compare; `sources` adds each ROI's first named source;
    `keypoints` selects keypoints ROIs only, with their points and visibility."""
    plan = view.plan
    kinds = ", ".join(f"'{k}'" for k in (("keypoints",) if keypoints else EVALUATED_KINDS))
    conditions = [
        sql("r.field IN (?, ?)", pred_field, gt_field),
        Compiled("r.label IS NOT NULL"),
        Compiled(f"r.kind IN ({kinds})"),
    ]
    if not use_masks and not keypoints:
        conditions.append(Compiled("r.x_min IS NOT NULL"))
    frames = pages.frame_set(plan)
    if frames is not None:
        conditions.append("r.frame_id IN (" + frames + ")")
    conditions.append(plan.roi_predicate())
    columns = Compiled.join(
        [
            "r.frame_id, r.id AS roi_id, r.label, r.confidence,",
            " r.source_ids[1] AS source," if sources else "",
            sql(" r.field = ? AS is_pred,", pred_field),
            " r.x_min, r.y_min, r.x_max, r.y_max,",
            sql(" CASE WHEN r.field = ? THEN ", gt_field),
            "TRY_CAST(json_extract_string(r.attributes, '$.area') AS DOUBLE) END AS stated_area,",
            sql(" r.field = ? AND ", gt_field),
            f"coalesce(TRY_CAST({_ISCROWD} AS DOUBLE) <> 0, TRY_CAST({_ISCROWD} AS BOOLEAN), false)"
            " AS crowd, r.rowid AS _row",
        ],
        "",
    )
    if keypoints:
        columns = columns + ", r.geometry[1] AS points, r.visibility"
    if use_masks:
        columns = columns + (
            f", {_KEYPOINT_KIND}, {_KEYPOINT_RINGS},"
            f" json_extract_string({_RLE}, '$.counts') AS rle_counts,"
            f" TRY_CAST(json_extract({_RLE}, '$.size[0]') AS BIGINT) AS rle_height,"
            f" TRY_CAST(json_extract({_RLE}, '$.size[1]') AS BIGINT) AS rle_width,"
            " (SELECT s.height FROM sources s WHERE s.frame_id = r.frame_id"
            " AND s.id = coalesce(r.source_ids[1], s.id) ORDER BY s.rowid LIMIT 1) AS source_height,"
            " (SELECT s.width FROM sources s WHERE s.frame_id = r.frame_id"
            " AND s.id = coalesce(r.source_ids[1], s.id) ORDER BY s.rowid LIMIT 1) AS source_width"
        )
    return Compiled.join(["SELECT ", columns, " FROM rois r WHERE ", all_of(conditions)], "")


def load_rois(
    view: View, pred_field: str, gt_field: str, use_masks: bool, keypoints: bool = False
) -> tuple[Rois, Regions | None]:
    """The view's ROIs of both fields, and their pixel regions when `use_masks`, or only the
    keypoints ROIs with their points when `keypoints`."""
    multi = view.run(Compiled(MULTI_SOURCE))
    query = rois_query(view, pred_field, gt_field, use_masks, multi.num_rows > 0, keypoints)
    table = view.run(query)
    return rois_from_table(table, multi, pred_field, gt_field, use_masks)


def rois_from_table(
    table: pa.Table, multi: pa.Table, pred_field: str, gt_field: str, use_masks: bool
) -> tuple[Rois, Regions | None]:
    """The ROIs of `rois_query`'s rows (any order: they are put in stored order), with the
    frames of several sources `multi` (MULTI_SOURCE's rows)."""
    column = _columns(table)
    del table
    n = len(column["roi_id"])
    encoded = pc.dictionary_encode(column.pop("frame_id"))
    frame_code = _codes(encoded)
    image = _images(encoded, frame_code, column.pop("source", None), multi)
    codes, classes, labels = _label_codes(column.pop("label"))
    boxes = np.empty((n, 4), dtype=np.float64)
    for i, name in enumerate(("x_min", "y_min", "x_max", "y_max")):
        boxes[:, i] = _floats(column.pop(name))
    np.nan_to_num(boxes, copy=False, nan=0.0)
    is_pred = _bools(column.pop("is_pred"))
    warnings: list[str] = []
    regions = None
    if use_masks:
        regions = _regions(column, image, boxes, warnings)
        fallback = regions.areas().astype(np.float64)
    else:
        fallback = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    keypoints = None
    if "points" in column:
        keypoints, extent = keypoints_from_columns(
            column.pop("points"), column.pop("visibility"), is_pred, warnings
        )
        # pycocotools measures a keypoint detection by its points' extent.
        fallback = np.where(is_pred, extent, fallback)
    stated = _floats(column.pop("stated_area"))
    # Ground truth keeps the area it states (COCO's `area`); detections are measured, as
    # pycocotools' loadRes measures them.
    area = np.where(np.isnan(stated), fallback, stated)
    fields = pa.DictionaryArray.from_arrays(
        pa.array(is_pred.astype(np.int8)), pa.array([gt_field, pred_field])
    )
    rois = Rois(
        frames=encoded.dictionary,
        frame_code=frame_code,
        roi_ids=column["roi_id"],
        fields=fields,
        labels=labels,
        confidence=column["confidence"],
        is_pred=is_pred,
        label_codes=codes,
        classes=classes,
        image=image,
        score=np.nan_to_num(_floats(column["confidence"]), nan=0.0),
        boxes=boxes,
        area=area,
        crowd=_bools(column["crowd"]) & ~is_pred,
        warnings=tuple(warnings),
        keypoints=keypoints,
    )
    return rois, regions


def _columns(table: pa.Table) -> dict[str, pa.Array]:
    """The table's columns as single arrays in stored order (`_row`, the rowid), dropping each
    from the table as it is combined, so memory holds the table plus one column at most.

    Ties (equal confidences, equal IoUs) are broken by stored order, so it must not depend on
    how the query ran: a scan returns rows in stored order, but a view's joins may not.
    """
    rowid = np.asarray(table["_row"].to_numpy(), dtype=np.int64)
    table = table.drop_columns(["_row"])
    order = None if np.all(rowid[1:] > rowid[:-1]) else pa.array(np.argsort(rowid, kind="stable"))
    column: dict[str, pa.Array] = {}
    for name in table.column_names:
        array = table[name].combine_chunks()
        column[name] = array if order is None else array.take(order)
        table = table.drop_columns([name])
    return column


def _codes(encoded: pa.DictionaryArray) -> Ints:
    return np.asarray(encoded.indices.to_numpy(zero_copy_only=False), dtype=np.int64)


def _images(
    frames: pa.DictionaryArray, frame_code: Ints, source: pa.Array | None, multi: pa.Table
) -> Ints:
    """A code per (frame, source): the frame's code, unless the frame has several sources."""
    if source is None or not multi.num_rows:
        return frame_code
    where = pc.index_in(frames.dictionary, value_set=multi["frame_id"].combine_chunks())
    first = multi["first_source"].combine_chunks().take(where)  # per distinct frame
    in_multi = np.asarray(pc.is_valid(where).to_numpy(zero_copy_only=False), dtype=bool)[frame_code]
    named = pc.coalesce(source, first.take(pa.array(frame_code)))
    keyed = pc.if_else(pa.array(in_multi), named, pa.scalar("", pa.string()))
    source_code = _codes(pc.dictionary_encode(keyed))
    _, image = np.unique(
        frame_code * (int(source_code.max(initial=0)) + 1) + source_code, return_inverse=True
    )
    return image.astype(np.int64)


def _floats(array: pa.Array) -> Floats:
    return np.asarray(array.to_numpy(zero_copy_only=False), dtype=np.float64)


def _bools(array: pa.Array) -> Bools:
    return np.asarray(array.fill_null(False).to_numpy(zero_copy_only=False), dtype=bool)


def _label_codes(labels: pa.Array) -> tuple[Ints, tuple[str, ...], pa.Array]:
    """Labels as codes into the sorted list of labels (and as a dictionary array)."""
    encoded = pc.dictionary_encode(labels)
    names = [str(v) for v in encoded.dictionary.to_pylist()]
    order = np.argsort(np.array(names, dtype=object), kind="stable")
    rank = np.empty(len(names), dtype=np.int64)
    rank[order] = np.arange(len(names))
    codes = rank[_codes(encoded)] if names else np.zeros(len(labels), dtype=np.int64)
    return codes, tuple(names[i] for i in order), encoded


def _ints(array: pa.Array) -> Ints:
    return np.asarray(array.fill_null(0).to_numpy(zero_copy_only=False), dtype=np.int64)


def _regions(
    column: dict[str, pa.Array], image: Ints, boxes: Floats, warnings: list[str]
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
    height, width, guessed = _image_sizes(column, image, boxes)
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
    column: dict[str, pa.Array], image: Ints, boxes: Floats
) -> tuple[Ints, Ints, Bools]:
    """Each row's image size: its source's, else just large enough for the image's ROIs."""
    height, width = _ints(column["source_height"]), _ints(column["source_width"])
    guessed = (height <= 0) | (width <= 0)
    if np.any(guessed):
        for values, extent in ((height, boxes[:, 3]), (width, boxes[:, 2])):
            per_image = np.zeros(int(image.max(initial=-1)) + 1)
            np.maximum.at(per_image, image, extent)
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
