"""Nucleus export in SQL: the scenes of a group of contexts built by the catalog's engine, each
as its frames' item texts joined in scene order plus what the scene's header needs
(workbench.ingest._nucleus_export writes the header and says the same in Python for the
scenes this leaves to it).

`_wb_export_ids(id, o)` holds the view's frame ids and their order in the view;
`_wb_nu_group(context_id, g)` the contexts of one group and their order in the export.
"""

from __future__ import annotations

# Values SQL does not write back exactly: an integer of 19 digits or more, an escaped UTF-16
# surrogate (as in workbench.ingest._columnar.PER_RECORD_PATTERN).
_ODD_VALUES = r"[0-9]{19}|\\[uU][dD][89a-fA-F]"

# The contexts of the view's frames in the order of their first frame, with their sizes.
CONTEXTS = """
SELECT f.context_id, count(*) AS frames, min(w.o) AS first
FROM frames f JOIN _wb_export_ids w ON w.id = f.id
GROUP BY f.context_id ORDER BY first
"""

# Keys the importer adds to a frame's metadata (and its video keys): left out of an item's.
_DROPPED = '{"scene":null,"fps":null,"video":null,"codec":null}'

# A scene goes to Python when a frame's metadata is not an object or holds what DuckDB's JSON
# might not write back exactly (integers of 19 digits or more, escaped surrogates).
SCENES = f"""
WITH fr AS (
    SELECT f.id, f.context_id, f.frame_index, f.timestamp, f.metadata::VARCHAR AS meta,
        w.o, c.g
    FROM frames f JOIN _wb_export_ids w ON w.id = f.id
    JOIN _wb_nu_group c ON c.context_id = f.context_id),
src AS (
    SELECT frame_id, uri, split_part(uri, '?', 1) AS path FROM (
        SELECT s.frame_id, arg_min(s.uri, struct_pack(other := s.id <> 'image', id := s.id))
            AS uri
        FROM sources s WHERE s.frame_id IN (SELECT id FROM fr) GROUP BY s.frame_id)),
items AS (
    SELECT fr.*, struct_pack(unindexed := fr.frame_index IS NULL,
            i := coalesce(fr.frame_index, 0), t := coalesce(fr.timestamp, 0), o := fr.o) AS k,
        CASE WHEN fr.meta IS NULL OR fr.meta = '' THEN false
            ELSE left(fr.meta, 1) <> '{{' OR regexp_matches(fr.meta, '{_ODD_VALUES}') END AS odd,
        CASE WHEN src.uri IS NOT NULL THEN replace(replace(concat(
            '{{"reference_id":', to_json(fr.id), ',"url":', to_json(src.uri),
            ',"type":"image"',
            CASE WHEN ends_with(src.path, '.jpg') OR ends_with(src.path, '.png')
                OR src.path IN ('jpg', 'png') THEN '' ELSE ',"image_url":' || to_json(src.uri) END,
            ',"metadata":', CASE WHEN fr.meta IS NULL OR fr.meta = '' THEN '{{}}'
                ELSE json_merge_patch(fr.meta, '{_DROPPED}')::VARCHAR END, '}}'),
            chr(8232), '\\u2028'), chr(8233), '\\u2029') END AS item
    FROM fr LEFT JOIN src ON src.frame_id = fr.id)
SELECT g, context_id, bool_or(odd) AS by_python, arg_min(meta, k) AS first_meta,
    string_agg(item, ',' ORDER BY k) AS items, count(item) AS item_count,
    list(id ORDER BY k) FILTER (WHERE item IS NULL) AS no_image,
    count(timestamp) AS timed,
    coalesce(bool_and(frame_index IS NOT NULL) FILTER (WHERE timestamp IS NOT NULL), true)
        AS indexed,
    arg_min(frame_index, k) FILTER (WHERE timestamp IS NOT NULL) AS i0,
    arg_min(timestamp, k) FILTER (WHERE timestamp IS NOT NULL) AS t0,
    arg_max(frame_index, k) FILTER (WHERE timestamp IS NOT NULL) AS i1,
    arg_max(timestamp, k) FILTER (WHERE timestamp IS NOT NULL) AS t1
FROM items GROUP BY g, context_id ORDER BY g
"""

# The ids of one context's frames in the view's order (a scene left to Python).
CONTEXT_IDS = """
SELECT f.id FROM frames f JOIN _wb_export_ids w ON w.id = f.id
WHERE f.context_id IS NOT DISTINCT FROM ? ORDER BY w.o
"""

# Whether any of the view's frames has an ROI.
ANY_ROI = "SELECT 1 FROM rois r JOIN _wb_export_ids w ON w.id = r.frame_id LIMIT 1"
