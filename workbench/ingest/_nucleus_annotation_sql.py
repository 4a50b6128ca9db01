"""The SQL that reads NDJSON lines of Nucleus annotation payloads into ROI rows, set-based
(workbench.ingest._nucleus_annotation_columnar).

It runs on an in-memory engine over `_wb_lines(n, j, marked)` (line number, text, whether the
line holds what SQL cannot read exactly: _columnar.ndjson_batches). A line is `ok` only when
SQL can vouch that the per-record path (_nucleus_payloads.read_payload) reads it into the
very ROI SQL builds: a box, polygon, line, category or multicategory payload (an annotation
or a prediction) with a string reference_id, no key given twice anywhere in the line, a
label (labels) of plain text, numbers where numbers go, within the catalog's limits, and
metadata whose JSON text the engine writes as orjson does. Any other line (an item's row, a
keypoints or segmentation payload, a cuboid, an integer reference_id, a class_pdf, anything
malformed) goes to the per-record path, which reads it or names its problem as always.

JSON leaves are typed by their first character, as in _nucleus_sql: DuckDB's casts are
lenient (`true` becomes 1), the per-record path is not.
"""

from __future__ import annotations

from workbench.ingest._nucleus_payloads import EXTRA
from workbench.ingest._nucleus_sql import MACROS as SCENE_MACROS
from workbench.model.limits import (
    MAX_COORDINATE,
    MAX_ID_LENGTH,
    MAX_JSON_FIELD_BYTES,
    MAX_LABEL_LENGTH,
    MAX_LABELS_PER_ROI,
    MAX_POINTS_PER_ROI,
)

# What no label or id may hold (model.validation.FORBIDDEN_CHARACTERS, in RE2's words).
_FORBIDDEN = r"[\x00-\x1f\x7f-\x9f\x{061c}\x{200e}\x{200f}\x{202a}-\x{202e}\x{2066}-\x{2069}]"

MACROS = (
    SCENE_MACROS
    + rf"""
CREATE MACRO na_text_ok(s, plain, limit_) AS coalesce(CASE WHEN plain
    THEN strlen(s) BETWEEN 1 AND limit_
    ELSE length(s) BETWEEN 1 AND limit_ AND NOT regexp_matches(s, '{_FORBIDDEN}') END, false);
CREATE MACRO na_in_range(v) AS v BETWEEN -{MAX_COORDINATE} AND {MAX_COORDINATE};
CREATE MACRO na_count(text, part) AS (strlen(text) - strlen(replace(text, part, ''))) // strlen(part);
CREATE MACRO na_has(j, key) AS CASE WHEN contains(j, '"' || key || '"') OR contains(j, chr(92))
    THEN json_exists(j, '$.' || key) ELSE false END;
CREATE MACRO na_once(j) AS NOT nu_dup(json_keys(j));
CREATE MACRO na_keys_once(j, type, geometry, points, meta) AS na_once(j)
    AND CASE WHEN type = 'box' THEN na_once(geometry)
        WHEN type IN ('polygon', 'line') THEN na_once(geometry)
            AND na_count(geometry, '"x":') = points AND na_count(geometry, '"y":') = points
        ELSE true END
    AND CASE WHEN meta IS NULL OR meta = '{{}}' THEN true
        WHEN NOT contains(substr(meta, 2), '{{') THEN na_once(meta)
        ELSE nu_keys_unique(meta) END;
CREATE MACRO na_string(x) AS x IS NULL OR (nu_str(x) AND x != '""');
"""
)

# One parse of the whole line: the keys either path reads (a key of no payload is read by
# neither). A JSON null reads as NULL; `metadata` given as null is told from one not given by
# `json_exists`.
_PAYLOAD = (
    '{"type":"JSON","reference_id":"JSON","annotation_id":"JSON","label":"JSON",'
    '"labels":"JSON","geometry":"JSON","confidence":"JSON","metadata":"JSON",'
    '"track_reference_id":"JSON","task_id":"JSON","class_pdf":"JSON",'
    '"embedding_vector":"JSON","taxonomy_name":"JSON","item":"JSON"}'
)
_BOX = '{"x":"JSON","y":"JSON","width":"JSON","height":"JSON"}'
_VERTICES = '[{"x":"JSON","y":"JSON"}]'
_TYPES = "('\"box\"', '\"polygon\"', '\"line\"', '\"category\"', '\"multicategory\"')"
# Metadata whose text the engine may write otherwise than orjson: a number with an exponent or
# of 16 digits or more before its point, or below 0.0001 (either writes some of these in its
# own way); a match inside a string costs only speed.
_ODD_NUMBER = r"[0-9][eE]|[0-9]{16,}\.|0\.0000"

# The fields kept under `nucleus` (_nucleus_payloads._KEPT that SQL takes: class_pdf and
# embedding_vector given send the line to the per-record path), in their order there.
_KEPT = ("track_reference_id", "task_id", "taxonomy_name")

_EXTRA_PARTS = ", ".join(
    [f"""CASE WHEN d.{key} IS NOT NULL THEN '"{key}":' || d.{key} END""" for key in _KEPT]
    + [
        """CASE WHEN d.annotation_id IS NULL AND type IN ('box', 'polygon', 'line')
            THEN '"annotation_id":null' END""",
        """CASE WHEN d.metadata IS NULL AND na_has(j, 'metadata')
            THEN '"metadata":null' END""",
        """CASE WHEN type = 'multicategory' THEN '"type":"multicategory"' END""",
    ]
)

# One row per line that may hold a payload SQL takes, its values and `ok`.
PAYLOADS = f"""
CREATE OR REPLACE TEMP TABLE _na_p AS
WITH parsed AS (
    SELECT n, j, try(from_json(j, '{_PAYLOAD}')) AS d,
        NOT contains(j, '\\') AND NOT contains(j, chr(127)) AND strlen(j) = length(j) AS plain
    FROM _wb_lines WHERE NOT marked AND left(ltrim(j), 1) = '{{'),
typed AS (
    SELECT n, j, d, plain, CASE WHEN d.type IN {_TYPES} THEN d.type->>'$' END AS type
    FROM parsed),
shaped AS (
    SELECT n, j, d, plain, type,
        CASE WHEN type = 'box' THEN try(from_json(d.geometry, '{_BOX}')) END AS b,
        CASE WHEN type IN ('polygon', 'line')
            THEN try(from_json(json_extract(d.geometry, '$.vertices'), '{_VERTICES}')) END AS v,
        CASE WHEN type = 'multicategory' THEN try(from_json(d.labels, '["JSON"]')) END AS ls,
        array_to_string(list_filter([{_EXTRA_PARTS}], lambda x: x IS NOT NULL), ',') AS extra
    FROM typed WHERE type IS NOT NULL AND NOT na_has(j, 'item')),
numbers AS (
    SELECT *, TRY_CAST(b.x AS DOUBLE) AS x, TRY_CAST(b.y AS DOUBLE) AS y,
        TRY_CAST(b.width AS DOUBLE) AS w, TRY_CAST(b.height AS DOUBLE) AS h
    FROM shaped),
valued AS (
    SELECT n, j, d, plain, type, b, ls, extra, w, h, len(v) AS points,
        d.reference_id->>'$' AS ref, d.annotation_id->>'$' AS annotation_id,
        d.track_reference_id->>'$' AS track,
        CASE WHEN type = 'box' THEN [x, y, x + w, y, x + w, y + h, x, y + h]
            WHEN v IS NOT NULL THEN flatten(list_transform(v,
                lambda p: [TRY_CAST(p.x AS DOUBLE), TRY_CAST(p.y AS DOUBLE)]))
        END AS ring,
        coalesce(list_bool_and(list_transform(v, lambda p: nu_num(p.x) AND nu_num(p.y))), false)
            AS vertices_ok,
        CASE WHEN type = 'multicategory' THEN list_transform(ls, lambda x: x->>'$')
            ELSE [d.label->>'$'] END AS labels,
        d.metadata::VARCHAR AS meta
    FROM numbers),
checked AS (
    SELECT n, j, ref, type, annotation_id, track, labels, ring,
        TRY_CAST(d.confidence AS DOUBLE) AS confidence,
        CASE WHEN meta IS NOT NULL AND left(meta, 1) != '{{' THEN NULL
            WHEN extra = '' THEN nullif(meta, '{{}}')
            WHEN meta IS NULL OR meta = '{{}}' THEN '{{"{EXTRA}":{{' || extra || '}}}}'
            ELSE left(meta, length(meta) - 1) || ',"{EXTRA}":{{' || extra || '}}}}'
        END AS attributes,
        nu_str(d.reference_id) AND d.reference_id != '""'
        AND (d.annotation_id IS NULL OR (nu_str(d.annotation_id)
            AND na_text_ok(annotation_id, plain, {MAX_ID_LENGTH})))
        AND na_string(d.track_reference_id) AND na_string(d.task_id)
        AND na_string(d.taxonomy_name)
        AND d.class_pdf IS NULL AND d.embedding_vector IS NULL
        AND (d.confidence IS NULL OR (nu_num(d.confidence)
            AND TRY_CAST(d.confidence AS DOUBLE) BETWEEN 0 AND 1))
        AND CASE WHEN type = 'multicategory'
            THEN coalesce(len(ls) BETWEEN 1 AND {MAX_LABELS_PER_ROI}
                AND list_bool_and(list_transform(ls, lambda x: nu_str(x)
                    AND na_text_ok(x->>'$', plain, {MAX_LABEL_LENGTH}))), false)
            ELSE nu_str(d.label) AND na_text_ok(labels[1], plain, {MAX_LABEL_LENGTH}) END
        AND CASE type
            WHEN 'box' THEN coalesce(nu_num(b.x) AND nu_num(b.y) AND nu_num(b.width)
                AND nu_num(b.height) AND w >= 0 AND h >= 0, false)
            WHEN 'polygon' THEN vertices_ok AND len(ring) BETWEEN 6 AND {2 * MAX_POINTS_PER_ROI}
            WHEN 'line' THEN vertices_ok AND len(ring) BETWEEN 4 AND {2 * MAX_POINTS_PER_ROI}
            ELSE true END
        AND (type IN ('category', 'multicategory')
            OR coalesce(list_bool_and(list_transform(ring, lambda c: na_in_range(c))), false))
        AND (meta IS NULL OR (left(meta, 1) = '{{'
            AND NOT regexp_matches(meta, '{_ODD_NUMBER}')
            AND NOT na_has(meta, '{EXTRA}')))
        AND coalesce(na_keys_once(j, type, d.geometry, points, meta), false) AS ok
    FROM valued)
SELECT n, j, ref, type, annotation_id, track, labels, ring, confidence, attributes,
    ok AND coalesce(strlen(attributes) <= {MAX_JSON_FIELD_BYTES}, true) AS ok
FROM checked
"""

# The rows of the lines SQL takes, in line order, as the catalog's ROI columns (the frame,
# id and track are given when placed); a category's line text is kept (a scene's category is
# read again by the per-record path when it is placed).
ROWS = """
SELECT n AS _line, ref, type, annotation_id, track, labels[1] AS label, labels, confidence,
    CASE type WHEN 'line' THEN 'polyline' WHEN 'category' THEN 'classification'
        WHEN 'multicategory' THEN 'classification' ELSE type END AS kind,
    CASE WHEN ring IS NULL THEN [] ELSE [ring] END::DOUBLE[][] AS geometry,
    list_min(list_filter(ring, lambda c, i: i % 2 = 1)) AS x_min,
    list_min(list_filter(ring, lambda c, i: i % 2 = 0)) AS y_min,
    list_max(list_filter(ring, lambda c, i: i % 2 = 1)) AS x_max,
    list_max(list_filter(ring, lambda c, i: i % 2 = 0)) AS y_max,
    attributes, CASE WHEN type IN ('category', 'multicategory') THEN j END AS j
FROM _na_p WHERE ok ORDER BY n
"""
# The lines SQL does not take (for the per-record path), in line order.
OTHERS = """
SELECT n, j FROM _wb_lines WHERE n NOT IN (SELECT n FROM _na_p WHERE ok) ORDER BY n
"""
