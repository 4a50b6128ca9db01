"""COCO export in SQL: the JSON text of the annotation of each box and polygon ROI, built by
the catalog's engine in the statement that reads the view's ROIs in their order
(workbench.ingest._coco_export_rois._export_annotation says the same in Python, and handles
the rows this does not: masks, keypoints, and polygons without a stored area).

`annotation_lines(rois, ids)` wraps `rois`, narrow.field_rois's read of the ROIs, joined to
the registered `_wb_image_ids` (frame id -> image number) and `_wb_category_ids` (label ->
category number). When every ROI id is its own annotation number (`ids`), the text holds it;
else the numbers are made beforehand in the view's order, the text holds 0 for the id, and the
writer puts each row's number in its place (`ID_PLACEHOLDER`).
"""

from __future__ import annotations

# Attributes written in their own places (_coco_export._EXPORT_OWN).
_OWN_KEYS = (
    "category_id",
    "supercategory",
    "area",
    "iscrowd",
    "category_keypoints",
    "category_skeleton",
)
_OWN = "{" + ",".join(f'"{key}":null' for key in _OWN_KEYS) + "}"
# And a kwcoco track's record (`track` naming the ROI's own `track_id`), written in `tracks`.
_OWN_TRACK = _OWN[:-1] + ',"track":null}'
# (The text test first: the paths' extraction costs on every annotation otherwise.)
_KEPT_TRACK = (
    "contains(attributes, '\"track\"') AND (attributes->'$.track.id') = (attributes->'$.track_id')"
)
# Whether a row the engine would write holds a kept track (a CASE: its branches take only the
# rows left, where an AND in a projection evaluates each side on every row).
_KEPT = f"""CASE WHEN NOT by_sql OR plain THEN false
            WHEN contains(attributes, '"track"') THEN coalesce({_KEPT_TRACK}, false)
            ELSE false END"""
_OWN_LIST = "[" + ", ".join(f"'{key}'" for key in _OWN_KEYS) + "]"
# Attributes named like the annotation's own keys would be written twice: Python's dict keeps one.
_CLASH = " OR ".join(
    f"(extra::JSON->'$.{key}') IS NOT NULL"
    for key in ("id", "image_id", "segmentation", "bbox", "score")
)


def _clean(value: str) -> str:
    """`value` as Python's `float(f"{value:.12g}")` (_coco_export._clean): a multiple of 1/4
    below 1e9 has at most 11 significant digits and is its own rounding, the rest is printed."""
    return (
        f"CASE WHEN {value} * 4 = round({value} * 4) AND abs({value}) < 1e9 THEN {value} "
        f"ELSE CAST(printf('%.12g', {value}) AS DOUBLE) END"
    )


# The head every annotation text of the engine's starts with: its id, 0 until numbered.
ID_PLACEHOLDER = '{"id":0'

# The ROI columns the annotations are made of, read in the view's order a batch at a time.
ROI_COLUMNS = (
    "label",
    "kind",
    "geometry",
    "confidence",
    "attributes",
    "mask",
    "x_min",
    "y_min",
    "x_max",
    "y_max",
    "visibility",
)
# The ROI columns a row written in Python is made of (NULL on the rows the engine writes).
PYTHON_COLUMNS = ("id", "image_id", *ROI_COLUMNS)


def annotation_lines(rois: str, ids: bool, tracks: bool = False) -> str:
    """One row per ROI of `rois`, in the view's order: `line`, the annotation's text (its id
    the ROI's id as a number if `ids`, else 0), or NULL for a row written in Python, which
    alone carries `PYTHON_COLUMNS`. Without `tracks`, a row holding a kwcoco track's record
    is written in Python, which gathers the record (with `tracks` they are read before). Only
    the text and those rows' columns are sorted, not every ROI's geometry and attributes.

    `own`: the attributes' area and iscrowd as JSON; `plain`: no attribute besides those
    written in their own places (then `extra` is '{}' without merging).

    `tracks`: `rois` holds `track_index`, and each ROI on a track without a `track_id` of its
    own is given its track's (workbench.ingest._coco_export_tracks: FRAMES and IDS)."""
    number = "CAST(id AS BIGINT)" if ids else "0::BIGINT"
    attributes, joins = "r.attributes", ""
    if tracks:
        attributes = """CASE WHEN t.track_id IS NULL
            OR (r.attributes->'$.track_id') IS NOT NULL THEN r.attributes
            ELSE json_merge_patch(coalesce(r.attributes, '{}'),
                json_object('track_id', t.track_id::JSON))::VARCHAR END"""
        joins = """
    LEFT JOIN _wb_track_frames tf ON tf.id = r.frame_id
    LEFT JOIN _wb_track_ids t ON t.context_id = tf.context_id
        AND t.track_index = r.track_index"""
    held = ", ".join(
        f"CASE WHEN line IS NULL THEN {column} END AS {column}" for column in PYTHON_COLUMNS
    )
    return f"""
WITH joined AS (
    SELECT r.o, r.id, i.image_id, c.category_id, r.label, r.kind, r.geometry, r.confidence,
        {attributes} AS attributes, r.mask, r.x_min, r.y_min, r.x_max, r.y_max, r.visibility,
        r.kind IN ('box', 'polygon') AND r.x_min IS NOT NULL AND c.category_id IS NOT NULL
            AS by_sql
    FROM ({rois}) r LEFT JOIN _wb_image_ids i ON i.id = r.frame_id
    LEFT JOIN _wb_category_ids c ON c.label = r.label{joins}),
rows AS (
    SELECT *,
        CASE WHEN by_sql THEN json_extract(attributes, ['$.area', '$.iscrowd']) END AS own,
        CASE WHEN by_sql
            THEN coalesce(list_has_all({_OWN_LIST}, json_keys(attributes)), true) END AS plain,
        CASE WHEN by_sql THEN {_clean("x_min")} END AS x,
        CASE WHEN by_sql THEN {_clean("y_min")} END AS y,
        CASE WHEN by_sql THEN {_clean("x_max - x_min")} END AS w,
        CASE WHEN by_sql THEN {_clean("y_max - y_min")} END AS h
    FROM joined),
texts AS (
    SELECT *, own[1] AS area_j, {_KEPT} AS kept,
        CASE WHEN NOT by_sql THEN NULL WHEN plain THEN '{{}}'
            WHEN {_KEPT_TRACK} THEN json_merge_patch(attributes, '{_OWN_TRACK}')::VARCHAR
            ELSE json_merge_patch(attributes, '{_OWN}')::VARCHAR END AS extra,
        CASE WHEN by_sql THEN to_json({{id: {number}, image_id: image_id,
            category_id: category_id,
            segmentation: CASE kind WHEN 'box' THEN []::DOUBLE[][] ELSE geometry END,
            area: CASE WHEN coalesce(own[1]::VARCHAR, 'null') = 'null' THEN to_json(w * h)
                ELSE own[1] END,
            bbox: [x, y, w, h], iscrowd: coalesce(own[2], '0'::JSON)}})::VARCHAR END AS head
    FROM rows),
lines AS (
    SELECT o, id, image_id, label, kind, geometry, confidence, attributes, mask, x_min, y_min,
        x_max, y_max, visibility,
        CASE WHEN NOT by_sql{"" if tracks else " OR kept"}
            OR (kind = 'polygon' AND coalesce(area_j::VARCHAR, 'null') = 'null')
            OR (NOT plain AND ({_CLASH})) THEN NULL
        WHEN confidence IS NULL AND extra = '{{}}' THEN head
        ELSE substr(head, 1, length(head) - 1)
        || CASE WHEN confidence IS NOT NULL THEN ',"score":' || to_json(confidence)::VARCHAR
            ELSE '' END
        || CASE WHEN extra = '{{}}' THEN '' ELSE ',' || substr(extra, 2, length(extra) - 2) END
        || '}}' END AS line
    FROM texts)
SELECT line, {held} FROM lines ORDER BY o
"""


# Printable ASCII but the quote and the backslash: written in JSON as it is, by any writer.
_PLAIN = r"[ !#-\[\]-~]*"
# An object of such keys with such strings, integers (as orjson writes them), booleans or nulls.
_PAIR = f'"{_PLAIN}":("{_PLAIN}"|0|-?[1-9][0-9]{{0,17}}|true|false|null)'
_FLAT = rf"\{{({_PAIR}(,{_PAIR})*)?\}}"
_PLAIN_METADATA = f"""(f.metadata IS NULL OR CASE WHEN regexp_full_match(f.metadata, '{_FLAT}')
        AND NOT regexp_matches(f.metadata, '[{{,]"(id|file_name|width|height)":')
    THEN NOT contains(f.metadata, ',"')
        OR len(json_keys(f.metadata)) = len(list_distinct(json_keys(f.metadata)))
    ELSE false END)"""

# One row per frame of `_wb_frames` (id, metadata, image_id, position q), in order: its image
# (source 'image', else its first source by id) and, when the file name is the URI itself (a
# URL) and the metadata a flat object of plain values without the image's own keys and without
# a key twice (only an object of two or more keys can hold one), the image's JSON text as
# _coco_export._export_image and orjson write it (NULL: written in Python).
IMAGES = f"""
WITH s AS (
    SELECT DISTINCT ON (frame_id) frame_id, uri, width, height FROM sources
    WHERE frame_id IN (SELECT id FROM _wb_frames) ORDER BY frame_id, id <> 'image', id)
SELECT f.q, s.uri, s.width, s.height,
    CASE WHEN contains(s.uri, '://') AND NOT starts_with(s.uri, 'file://')
        AND regexp_full_match(s.uri, '{_PLAIN}') AND {_PLAIN_METADATA}
    THEN '{{"id":' || f.image_id || ',"file_name":"' || s.uri
        || '","width":' || coalesce(CAST(s.width AS VARCHAR), 'null')
        || ',"height":' || coalesce(CAST(s.height AS VARCHAR), 'null')
        || CASE WHEN f.metadata IS NULL OR f.metadata = '{{}}' THEN ''
            ELSE ',' || substr(f.metadata, 2, length(f.metadata) - 2) END
        || '}}' END AS line
FROM _wb_frames f LEFT JOIN s ON s.frame_id = f.id
ORDER BY f.q
"""
