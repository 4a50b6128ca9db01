"""COCO export in SQL: the JSON text of the annotation of each box and polygon ROI, built by
the catalog's engine (workbench.ingest._coco_export._export_annotation says the same in
Python, and handles the rows this does not: masks, and polygons without a stored area).

Registered on the cursor: `_wb_rois` (the view's ROIs of the field, with their position `p`),
`_wb_numbers` (p -> annotation id), `_wb_images` (frame id -> image id) and `_wb_categories`
(label -> category id).
"""

from __future__ import annotations

# Attributes written in their own places (_coco_export._EXPORT_OWN).
_OWN = (
    '{"category_id":null,"supercategory":null,"area":null,"iscrowd":null,'
    '"category_keypoints":null,"category_skeleton":null}'
)

# Attributes named like the annotation's own keys would be written twice: Python's dict keeps one.
_CLASH = " OR ".join(
    f"(extra::JSON->'$.{key}') IS NOT NULL"
    for key in ("id", "image_id", "segmentation", "bbox", "score")
)

ANNOTATIONS = f"""
WITH rows AS MATERIALIZED (
    SELECT r.p, r.kind, r.geometry, r.confidence, r.x_min, r.y_min, r.x_max, r.y_max,
        r.attributes::JSON AS attributes, n.number, i.image_id, c.category_id,
        CAST(printf('%.12g', r.x_min) AS DOUBLE) AS x,
        CAST(printf('%.12g', r.y_min) AS DOUBLE) AS y,
        CAST(printf('%.12g', r.x_max - r.x_min) AS DOUBLE) AS w,
        CAST(printf('%.12g', r.y_max - r.y_min) AS DOUBLE) AS h
    FROM _wb_rois r JOIN _wb_numbers n USING (p) JOIN _wb_images i USING (frame_id)
    JOIN _wb_categories c USING (label)
    WHERE r.kind IN ('box', 'polygon') AND r.x_min IS NOT NULL),
texts AS (
    SELECT *, (attributes->'$.area') AS area_j, (attributes->'$.iscrowd') AS crowd_j,
        CASE WHEN attributes IS NULL THEN '{{}}'
            ELSE json_merge_patch(attributes, '{_OWN}')::VARCHAR END AS extra
    FROM rows)
SELECT p, (kind = 'polygon' AND coalesce(area_j::VARCHAR, 'null') = 'null')
        OR {_CLASH} AS by_python,
    '{{"id":' || number || ',"image_id":' || image_id || ',"category_id":' || category_id
    || ',"segmentation":' || CASE kind WHEN 'box' THEN '[]' ELSE to_json(geometry)::VARCHAR END
    || ',"area":' || CASE WHEN coalesce(area_j::VARCHAR, 'null') = 'null'
        THEN to_json(w * h)::VARCHAR ELSE area_j::VARCHAR END
    || ',"bbox":' || to_json([x, y, w, h])::VARCHAR
    || ',"iscrowd":' || coalesce(crowd_j::VARCHAR, '0')
    || CASE WHEN confidence IS NOT NULL THEN ',"score":' || to_json(confidence)::VARCHAR
        ELSE '' END
    || CASE WHEN extra = '{{}}' THEN '' ELSE ',' || substr(extra, 2, length(extra) - 2) END
    || '}}' AS line
FROM texts ORDER BY p
"""
