"""ClearML export in SQL: each frame of a chunk of a view's ids as the JSON text of one ClearML
frame, built by the catalog's engine (workbench.ingest._clearml_convert.frame_to_clearml says
the same in Python, and handles the frames this does not: those whose sources had meta).

`_wb_export_ids(id, o)` holds the chunk's frame ids and their order in the view. Members
without a value are written as null (the importer and ClearML's SDK read null as missing);
JSON objects are joined as text, which is far cheaper than merging them as JSON.
"""

from __future__ import annotations

from workbench.ingest._clearml_convert import RING_SEPARATOR

# An ROI's meta: its attributes and our reserved keys (workbench.ingest._clearml_convert).
_RESERVED = """concat_ws(',',
    '"_kind":' || to_json(kind),
    CASE WHEN field <> 'ground_truth' THEN '"_field":' || to_json(field) END,
    CASE WHEN track_index IS NOT NULL THEN '"_track_index":' || track_index END,
    CASE WHEN keyframe IS NOT NULL THEN '"_keyframe":' || to_json(keyframe) END,
    CASE WHEN x_min IS NOT NULL AND (len(xs) = 0 OR x_min <> list_min(xs)
        OR y_min <> list_min(ys) OR x_max <> list_max(xs) OR y_max <> list_max(ys))
        THEN '"_bbox":' || to_json([x_min, y_min, x_max, y_max]) END,
    CASE WHEN NOT coalesce(contains(attributes::VARCHAR, '"_type"'), false) THEN
        CASE kind WHEN 'box' THEN '"_type":"b2d"' WHEN 'polygon' THEN '"_type":"p2d"'
            WHEN 'point' THEN '"_type":"k2d"' END END)"""

FRAMES = f"""
WITH wanted AS (SELECT f.*, w.o FROM frames f JOIN _wb_export_ids w ON w.id = f.id),
src AS (
    SELECT s.frame_id, list(to_json(struct_pack(id := s.id, uri := s.uri,
        content_type := s.content_type, width := s.width, height := s.height,
        timestamp := s.timestamp,
        preview := CASE WHEN s.preview_uri <> '' THEN struct_pack(uri := s.preview_uri) END,
        masks := s.masks::JSON)) ORDER BY s.rowid) AS sources
    FROM sources s JOIN _wb_export_ids w ON w.id = s.frame_id GROUP BY s.frame_id),
shaped AS MATERIALIZED (
    SELECT r.*, r.rowid AS roi_order, flatten(list_transform(r.geometry, lambda ring, i:
        CASE WHEN i > 1 THEN [{RING_SEPARATOR}.0] || ring ELSE ring END)) AS poly,
        flatten(list_transform(r.geometry, lambda ring: list_slice(ring, 1, len(ring), 2)))
            AS xs,
        flatten(list_transform(r.geometry, lambda ring: list_slice(ring, 2, len(ring), 2)))
            AS ys
    FROM rois r JOIN _wb_export_ids w ON w.id = r.frame_id),
roi AS (
    SELECT frame_id, list(concat('{{"id":', to_json(id),
        ',"label":', to_json(coalesce(labels, []::VARCHAR[])),
        CASE WHEN len(poly) > 0 THEN ',"poly":' || to_json(poly) ELSE '' END,
        CASE WHEN confidence IS NOT NULL THEN ',"confidence":' || to_json(confidence)
            ELSE '' END,
        ',"sources":', to_json(coalesce(source_ids, []::VARCHAR[])),
        CASE WHEN mask IS NOT NULL THEN ',"mask":' || mask::VARCHAR ELSE '' END,
        ',"meta":{{', {_RESERVED},
        CASE WHEN attributes IS NULL OR attributes::VARCHAR = '{{}}' THEN '}}'
            ELSE ',' || substr(attributes::VARCHAR, 2) END, '}}')
        ORDER BY roi_order) AS rois
    FROM shaped GROUP BY frame_id)
SELECT w.o, w.id, coalesce(contains(w.metadata::VARCHAR, '"_source_meta"'), false) AS by_python,
    concat(left(to_json(struct_pack(id := w.id, context_id := w.context_id,
        timestamp := w.timestamp, num_frames := w.num_frames,
        meta := CASE
            WHEN w.frame_index IS NULL THEN nullif(w.metadata::VARCHAR, '{{}}')
            WHEN w.metadata IS NULL OR w.metadata::VARCHAR = '{{}}'
                THEN '{{"_frame_index":' || w.frame_index || '}}'
            ELSE left(w.metadata::VARCHAR, -1) || ',"_frame_index":' || w.frame_index || '}}'
            END::JSON,
        sources := coalesce(src.sources, []::JSON[]),
        dataset := CASE WHEN w.dataset IS NOT NULL
            THEN struct_pack(id := w.dataset, version := w.version) END,
        saved := epoch_ms(w.saved), saved_in_version := w.saved_in_version))::VARCHAR, -1),
        ',"rois":[', coalesce(array_to_string(roi.rois, ','), ''), ']}}') AS line,
    coalesce(len(roi.rois), 0) AS roi_count
FROM wanted w LEFT JOIN src ON src.frame_id = w.id LEFT JOIN roi ON roi.frame_id = w.id
ORDER BY w.o
"""
