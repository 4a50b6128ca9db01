"""Labelbox export in SQL: a group of contexts' ROIs sorted into tracks and answers by the
catalog's engine, so that Python works per line and per kept keyframe, never per ROI
(workbench.ingest._labelbox_export says the same in Python, ROI by ROI, and handles the
groups this leaves to it).

`_wb_lb_group(context_id)` holds the group's contexts; `_wb_lb_rois` the view's ROIs of the
exported field on the group's frames (as the view's filters leave them) with their order `o`.
"""

from __future__ import annotations

# Each ROI with its frame's context, Labelbox number and position among the context's frames,
# and what becomes of it: `what` is an object row, an answer row or why it is skipped. A
# context is numbered as `_labelbox_contexts.Video` numbers it: by frame_index when every
# frame has one, else by position.
# What an attributes text `attrs` says: its uuid, whether it answers, whether it is odd.
ATTRIBUTES_SAY = """CASE WHEN json_type(attrs, '$.uuid') = 'VARCHAR' AND attrs->>'$.uuid' <> ''
            THEN attrs->>'$.uuid' END AS uuid,
        coalesce(json_exists(attrs, '$.answer'), false) AS answered,
        attrs IS NOT NULL AND (left(attrs, 1) <> '{'
            OR coalesce(json_type(attrs, '$.uuid') NOT IN ('VARCHAR', 'NULL'), false)
            OR coalesce(json_type(attrs, '$.global') NOT IN ('BOOLEAN', 'NULL'), false)) AS odd"""
ROWS = (
    """
WITH ctx AS (
    SELECT context_id, id, frame_index,
        row_number() OVER (PARTITION BY context_id
            ORDER BY frame_index NULLS LAST, timestamp NULLS LAST, id) AS rn,
        bool_and(frame_index IS NOT NULL) OVER (PARTITION BY context_id) AS indexed
    FROM frames WHERE context_id IN (SELECT context_id FROM _wb_lb_group)),
num AS (
    SELECT context_id, id, CASE WHEN indexed THEN frame_index + 1 ELSE rn END AS number
    FROM ctx),
pos AS (
    SELECT *, row_number() OVER (PARTITION BY context_id ORDER BY number) AS pos,
        count(*) OVER (PARTITION BY context_id, number) AS same FROM num),
src AS (
    SELECT frame_id, arg_min(id, rowid) AS source FROM sources
    WHERE frame_id IN (SELECT DISTINCT frame_id FROM _wb_lb_rois) GROUP BY frame_id),
r AS (
    SELECT r.o, r.frame_id, r.id, r.kind, r.label, r.confidence, r.track_index, r.keyframe,
        r.geometry, coalesce(r.attributes::VARCHAR, '') AS text, p.context_id, p.number,
        p.pos, p.same, s.source, r.source_ids
    FROM _wb_lb_rois r JOIN pos p ON p.id = r.frame_id LEFT JOIN src s ON s.frame_id = r.frame_id),
-- What the attributes say, once per distinct text (the ROIs of a track or answer share it).
a AS (
    SELECT text, nullif(text, '') AS attrs,
        """
    + ATTRIBUTES_SAY
    + """
    FROM (SELECT DISTINCT text FROM r))
SELECT o, frame_id, id, kind, label, confidence, track_index, keyframe, geometry, a.attrs,
    context_id, number, pos, a.uuid,
    CASE
        WHEN len(source_ids) > 0 AND NOT coalesce(list_contains(source_ids, source), false)
            THEN 'source'
        WHEN label IS NULL THEN 'label'
        WHEN kind = 'classification' THEN CASE WHEN answered THEN 'answer' ELSE 'no answer' END
        WHEN kind IN ('box', 'point', 'polyline') THEN 'object'
        ELSE 'other' END AS what,
    -- What only the ROI-by-ROI path says exactly: keypoints (a point object per point),
    -- attributes that are no object, a uuid or `global` of another type, a number twice.
    kind = 'keypoints' OR same > 1 OR a.odd AS odd
FROM r JOIN a ON a.text = r.text
"""
)

# Answer rows by what makes an answer line (context, uuid, name, answer, confidence, whole
# video), with their frame numbers, in the order of their first row.
ANSWERS = """
SELECT context_id, coalesce(uuid, id) AS uuid, label, attrs->'$.answer' AS answer,
    confidence, coalesce(json_extract_string(attrs, '$.global') = 'true', false) AS whole,
    list(number) AS numbers, list(pos) AS positions, min(o) AS o
FROM _wb_lb_rows WHERE what = 'answer'
GROUP BY ALL ORDER BY o
"""
