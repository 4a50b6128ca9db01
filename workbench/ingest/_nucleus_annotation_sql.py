"""The SQL that reads NDJSON lines of Nucleus annotation payloads into ROI rows, set-based
(workbench.ingest._nucleus_annotation_columnar).

It runs on an in-memory engine over `_wb_lines(n, j, marked)` (line number, text, whether the
line holds what SQL cannot read exactly: _columnar.ndjson_batches). A line is `ok` only when
SQL can vouch that the per-record path (_nucleus_payloads.read_payload) reads it into the
very ROI SQL builds: a box, polygon, line, category or multicategory payload (an annotation
or a prediction) with a string reference_id, no key given twice anywhere in the line, a
label (labels) of plain text, numbers where numbers go, within the catalog's limits, and
metadata whose JSON text the engine writes as orjson does. A cuboid is refused by SQL (its
reference_id named, `OTHERS`) where SQL can vouch that the per-record path reads the line as
that cuboid. Any other line (an item's row, a keypoints or segmentation payload SQL cannot
vouch for, an integer reference_id, a class_pdf, anything malformed) goes to the per-record
path, which reads it or names its problem as always.

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

# An item's row (`{"item": {"reference_id": ...}, "box": [{...}]}`, as Nucleus exports
# them) read as the payload the per-record path reads of it (_nucleus_annotation_columnar.
# payloads_of: `{"type": <its list's type>, **payload, "reference_id": <the item's>}`), its
# text written so (`entry`: the list's place, `, box[0]`), where SQL can vouch for it: no
# backslash in the line, its keys `item` and one list of one object (a record of one
# annotation, so that a chunk ends after it as it ends after the per-record path's), the
# item an object whose keys are each given once and whose reference_id is a non-empty string.
# The payload's keys are checked as any line's, a `type` or `reference_id` of its own among
# them (given twice in the text written, so left to the per-record path). Any other line
# holding `"item"` is taken as it is.
_LISTS = "('box', 'polygon', 'line', 'keypoints', 'category', 'multicategory', 'segmentation')"
ITEM_MACROS = f"""
CREATE MACRO na_item_key(keys) AS CASE WHEN len(keys) = 2 AND keys[1] != keys[2]
    AND list_contains(keys, 'item') THEN list_filter(keys, lambda k: k != 'item')[1] END;
CREATE MACRO na_item_row(key, item, list, one, ref) AS CASE WHEN coalesce(left(item, 1) = '{{'
        AND NOT nu_dup(json_keys(item)) AND nu_str(ref) AND ref != '""' AND left(list, 1) = '['
        AND json_array_length(list) = 1 AND left(one, 1) = '{{' AND one != '{{}}', false)
    THEN {{'j': '{{"type":"' || CASE WHEN key = 'segmentation' THEN 'mask' ELSE key END
        || '",' || one[2:-2] || ',"reference_id":' || ref || '}}', 'entry': ', ' || key || '[0]'}}
    END;
CREATE MACRO na_item_list(j, key, list) AS na_item_row(key, json_extract(j, '$.item'), list,
    json_extract(list, '$[0]'), json_extract(j, '$.item.reference_id'));
CREATE MACRO na_item_of(j, key) AS CASE WHEN key IN {_LISTS}
    THEN na_item_list(j, key, json_extract(j, '$.' || key)) END;
CREATE MACRO na_item(j) AS na_item_of(j, na_item_key(try(json_keys(j))));
"""

# No key twice (`na_keys_once`): at the line's top level by its shape (`known`, below) or
# by its keys; in a geometry or metadata the engine wrote (no space, so each key ends in
# `":`, and a quote inside a string is escaped), as many `":` as the keys known to be there
# (a box's four, a polygon's `vertices` and each vertex's x and y) or at most one key leave
# no room for one given twice, and the rest is checked key by key.
MACROS = (
    SCENE_MACROS
    + ITEM_MACROS
    + rf"""
CREATE MACRO na_text_ok(s, plain, limit_) AS coalesce(CASE WHEN plain
    THEN strlen(s) BETWEEN 1 AND limit_
    ELSE length(s) BETWEEN 1 AND limit_ AND NOT regexp_matches(s, '{_FORBIDDEN}') END, false);
CREATE MACRO na_in_range(v) AS v BETWEEN -{MAX_COORDINATE} AND {MAX_COORDINATE};
CREATE MACRO na_count(text, part) AS (strlen(text) - strlen(replace(text, part, ''))) // strlen(part);
CREATE MACRO na_has(j, key) AS CASE WHEN contains(j, '"' || key || '"') OR contains(j, chr(92))
    THEN json_exists(j, '$.' || key) ELSE false END;
CREATE MACRO na_once(j) AS NOT nu_dup(json_keys(j));
CREATE MACRO na_keys_once(keys, known, type, geometry, points, meta) AS
    CASE WHEN known THEN true ELSE NOT nu_dup(keys) END
    AND CASE WHEN type = 'box' AND na_count(geometry, '":') = 4 THEN true
        WHEN type IN ('box', 'keypoints') THEN na_once(geometry)
        WHEN type IN ('polygon', 'line') AND na_count(geometry, '":') = 1 + 2 * points
            THEN true
        WHEN type IN ('polygon', 'line') THEN na_once(geometry)
            AND na_count(geometry, '"x":') = points AND na_count(geometry, '"y":') = points
        ELSE true END
    AND CASE WHEN meta IS NULL OR na_count(meta, '":') <= 1 THEN true
        WHEN NOT contains(substr(meta, 2), '{{') THEN na_once(meta)
        ELSE nu_keys_unique(meta) END;
CREATE MACRO na_string(x) AS x IS NULL OR (nu_str(x) AND x != '""');
CREATE MACRO na_objects(js) AS coalesce(len(js) = 0 OR list_bool_and(list_transform(js,
    lambda o: coalesce(left(o, 1) = '{{' AND na_once(o), false))), false);
CREATE MACRO na_skeleton(s, count) AS coalesce(list_bool_and(list_transform(
    try(from_json(s, '[["JSON"]]')), lambda pair: len(pair) = 2 AND list_bool_and(
        list_transform(pair, lambda x: coalesce(regexp_full_match(x, '[0-9]{{1,9}}')
            AND TRY_CAST(x AS INTEGER) < count, false))))), s = '[]');
CREATE MACRO na_attributes(meta, extra) AS CASE WHEN meta IS NOT NULL AND left(meta, 1) != '{{'
        THEN NULL
    WHEN extra = '' THEN nullif(meta, '{{}}')
    WHEN meta IS NULL OR meta = '{{}}' THEN '{{"{EXTRA}":{{' || extra || '}}}}'
    ELSE left(meta, length(meta) - 1) || ',"{EXTRA}":{{' || extra || '}}}}' END;
"""
)

# One parse of the whole line: the keys either path reads (a key of no payload is read by
# neither). A JSON null reads as NULL; `metadata` given as null is told from one not given by
# `json_exists`.
_PAYLOAD = (
    '{"type":"JSON","reference_id":"JSON","annotation_id":"JSON","label":"JSON",'
    '"labels":"JSON","geometry":"JSON","confidence":"JSON","metadata":"JSON",'
    '"track_reference_id":"JSON","task_id":"JSON","class_pdf":"JSON",'
    '"embedding_vector":"JSON","taxonomy_name":"JSON","item":"JSON","mask_url":"JSON",'
    '"annotations":"JSON"}'
)
_BOX = '{"x":"JSON","y":"JSON","width":"JSON","height":"JSON"}'
_VERTICES = '[{"x":"JSON","y":"JSON"}]'
_KEYPOINTS = '{"keypoints":"JSON","names":"JSON","skeleton":"JSON"}'
_POINT = '{"x":"JSON","y":"JSON","visible":"JSON"}'
_SEGMENT = '{"label":"JSON","index":"JSON","metadata":"JSON"}'
# A mask_url taken: characters JSON writes as they are, and a local path without empty or
# `.` parts (pathlib would drop them).
_URI_CHARACTERS = "[A-Za-z0-9_.~%+=&@,:/?#-]+"
_PLAIN_PATH = "/?[^/]+(/[^/]+)*"
_INDEX = '0|-?[1-9][0-9]{0,14}|"[0-9]{1,15}"'
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
        """CASE WHEN d.annotation_id IS NULL AND type IN ('box', 'polygon', 'line', 'keypoints')
            THEN '"annotation_id":null'
            WHEN type = 'mask' THEN '"annotation_id":' || coalesce(d.annotation_id, 'null') END""",
        """CASE WHEN d.metadata IS NULL AND list_contains(keys, 'metadata')
            THEN '"metadata":null' END""",
        """CASE WHEN type = 'multicategory' THEN '"type":"multicategory"' END""",
    ]
)

# A line whose keys, joined by newlines, are those of one of the batch's first lines
# (`good`: the texts whose parts split at newlines hold no key twice, so no list of keys that
# joins into one of them does) is known to hold no key twice without a check of its own: most
# files hold one shape of payload, or a few.
_SAMPLE = 512

# One row per line that may hold a payload SQL takes, its values and `ok`; a segmentation's
# values per segment in lists (`segments`: label, mask, attributes).
PAYLOADS = f"""
CREATE OR REPLACE TEMP TABLE _na_p AS
WITH lines AS (
    SELECT n, j, CASE WHEN contains(j, '"item"') AND NOT contains(j, '\\') THEN na_item(j) END
        AS item
    FROM _wb_lines WHERE NOT marked AND left(ltrim(j), 1) = '{{'),
parsed AS (
    SELECT n, j, entry, try(from_json(j, '{_PAYLOAD}')) AS d,
        NOT contains(j, '\\') AND NOT contains(j, chr(127)) AND strlen(j) = length(j) AS plain
    FROM (SELECT n, CASE WHEN item IS NULL THEN j ELSE item.j END AS j, item.entry FROM lines)),
good AS (
    SELECT coalesce(list(s), []) AS shapes FROM (
        SELECT DISTINCT array_to_string(try(json_keys(j)), chr(10)) AS s
        FROM (SELECT j FROM _wb_lines WHERE NOT marked AND left(ltrim(j), 1) = '{{' LIMIT {_SAMPLE}))
    WHERE NOT nu_dup(string_split(s, chr(10)))),
typed AS (
    SELECT n, j, entry, d, plain, CASE WHEN d IS NOT NULL THEN json_keys(j) END AS keys,
        CASE WHEN d.type IN {_TYPES} THEN d.type->>'$'
        WHEN d.type = '"keypoints"' THEN 'keypoints'
        WHEN (d.type IS NULL OR d.type IN ('"mask"', '"segmentation"'))
            AND d.mask_url IS NOT NULL THEN 'mask' END AS type
    FROM parsed),
shaped AS (
    SELECT n, j, entry, d, plain, type, keys,
        list_contains(g.shapes, array_to_string(keys, chr(10))) AS known,
        CASE WHEN type = 'box' THEN try(from_json(d.geometry, '{_BOX}')) END AS b,
        CASE WHEN type IN ('polygon', 'line')
            THEN try(from_json(json_extract(d.geometry, '$.vertices'), '{_VERTICES}')) END AS v,
        CASE WHEN type = 'multicategory' THEN try(from_json(d.labels, '["JSON"]')) END AS ls,
        CASE WHEN type = 'keypoints' AND left(d.geometry, 1) = '{{'
            THEN try(from_json(d.geometry, '{_KEYPOINTS}')) END AS kg,
        CASE WHEN type = 'mask' THEN try(from_json(d.annotations, '["JSON"]')) END AS segs,
        concat_ws(',', {_EXTRA_PARTS}) AS extra
    FROM typed, good g WHERE type IS NOT NULL AND NOT list_contains(keys, 'item')),
numbers AS (
    SELECT *, TRY_CAST(b.x AS DOUBLE) AS x, TRY_CAST(b.y AS DOUBLE) AS y,
        TRY_CAST(b.width AS DOUBLE) AS w, TRY_CAST(b.height AS DOUBLE) AS h,
        CASE WHEN type = 'keypoints' THEN try(from_json(kg.keypoints, '["JSON"]')) END AS pts,
        CASE WHEN type = 'keypoints' THEN try(from_json(kg.names, '["JSON"]')) END AS nl,
        CASE WHEN type = 'mask'
            THEN list_transform(segs, lambda e: try(from_json(e, '{_SEGMENT}'))) END AS sp,
        CASE WHEN type = 'mask' AND nu_str(d.mask_url) THEN d.mask_url->>'$' END AS url
    FROM shaped),
points AS (
    SELECT *, CASE WHEN type = 'keypoints'
            THEN list_transform(pts, lambda p: try(from_json(p, '{_POINT}'))) END AS ps,
        CASE WHEN type = 'mask' THEN CASE WHEN starts_with(url, 'file://') THEN substr(url, 8)
            ELSE url END END AS local
    FROM numbers),
valued AS (
    SELECT n, j, entry, d, plain, type, keys, known, b, ls, extra, w, h, len(v) AS points, kg, pts, nl, ps, segs, sp,
        d.reference_id->>'$' AS ref, d.annotation_id->>'$' AS annotation_id,
        d.track_reference_id->>'$' AS track,
        CASE WHEN type = 'box' THEN [x, y, x + w, y, x + w, y + h, x, y + h]
            WHEN v IS NOT NULL THEN flatten(list_transform(v,
                lambda p: [TRY_CAST(p.x AS DOUBLE), TRY_CAST(p.y AS DOUBLE)]))
            WHEN ps IS NOT NULL THEN flatten(list_transform(ps, lambda p:
                [coalesce(TRY_CAST(p.x AS DOUBLE), 0), coalesce(TRY_CAST(p.y AS DOUBLE), 0)]))
        END AS ring,
        coalesce(list_bool_and(list_transform(v, lambda p: nu_num(p.x) AND nu_num(p.y))), false)
            AS vertices_ok,
        CASE WHEN type = 'multicategory' THEN list_transform(ls, lambda x: x->>'$')
            WHEN type = 'mask' THEN list_transform(sp, lambda s: s.label->>'$')
            ELSE [d.label->>'$'] END AS labels,
        CASE WHEN type = 'keypoints' THEN list_transform(ps, lambda p: CASE WHEN p.x IS NULL
            THEN 0 WHEN p.visible = 'true' THEN 2 ELSE 1 END)::TINYINT[] END AS visibility,
        CASE WHEN type != 'mask' THEN NULL WHEN contains(local, '://') THEN url
            WHEN starts_with(local, '/') THEN local
            ELSE getvariable('na_folder') || '/' || local END AS uri,
        type = 'mask' AND url IS NOT NULL AND regexp_full_match(url, '{_URI_CHARACTERS}')
            AND (contains(local, '://') OR (regexp_full_match(local, '{_PLAIN_PATH}')
                AND NOT regexp_matches(local, '(^|/)\\.(/|$)')
                AND (starts_with(local, '/')
                    OR regexp_full_match(getvariable('na_folder'), '{_URI_CHARACTERS}')))) AS uri_ok,
        d.metadata::VARCHAR AS meta
    FROM points),
checked AS (
    SELECT n, j, entry, ref, type, annotation_id, track, labels, ring, visibility,
        CASE WHEN type = 'keypoints' THEN list_transform(nl, lambda x: x->>'$') END AS names,
        TRY_CAST(d.confidence AS DOUBLE) AS confidence,
        na_attributes(meta, extra) AS attributes, meta, extra,
        CASE WHEN type = 'mask' THEN list_transform(sp, lambda s:
            '{{"uri":"' || uri || '"' || CASE WHEN s.index IS NULL THEN ''
                ELSE ',"value":' || TRY_CAST(trim(s.index, '"') AS BIGINT)::VARCHAR END
            || '}}') END
            AS masks,
        CASE WHEN type = 'mask' THEN list_transform(sp, lambda s: na_attributes(meta,
            extra || CASE WHEN nu_str(s.index) THEN ',"index":' || s.index ELSE '' END)) END
            AS segment_attributes,
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
            WHEN type = 'mask' THEN coalesce(left(d.annotations, 1) = '[' AND len(segs) > 0
                AND uri_ok AND na_objects(segs)
                AND list_bool_and(list_transform(sp, lambda s: coalesce(nu_str(s.label)
                    AND na_text_ok(s.label->>'$', plain, {MAX_LABEL_LENGTH})
                    AND (s.index IS NULL OR regexp_full_match(s.index, '{_INDEX}'))
                    AND (s.metadata IS NULL OR s.metadata = '{{}}'), false))), false)
            ELSE nu_str(d.label) AND na_text_ok(labels[1], plain, {MAX_LABEL_LENGTH}) END
        AND CASE type
            WHEN 'box' THEN coalesce(nu_num(b.x) AND nu_num(b.y) AND nu_num(b.width)
                AND nu_num(b.height) AND w >= 0 AND h >= 0, false)
            WHEN 'polygon' THEN vertices_ok AND len(ring) BETWEEN 6 AND {2 * MAX_POINTS_PER_ROI}
            WHEN 'line' THEN vertices_ok AND len(ring) BETWEEN 4 AND {2 * MAX_POINTS_PER_ROI}
            WHEN 'keypoints' THEN coalesce(left(kg.keypoints, 1) = '['
                AND left(kg.names, 1) = '[' AND len(nl) BETWEEN 1 AND {MAX_POINTS_PER_ROI}
                AND len(pts) = len(nl) AND na_objects(pts)
                AND list_bool_and(list_transform(ps, lambda p: coalesce(
                    p.visible IN ('true', 'false') AND ((nu_num(p.x) AND nu_num(p.y))
                        OR (p.x IS NULL AND p.y IS NULL AND p.visible = 'false')), false)))
                AND list_bool_and(list_transform(nl, lambda x: nu_str(x)
                    AND na_text_ok(x->>'$', plain, {MAX_LABEL_LENGTH})))
                AND len(list_distinct(list_transform(nl, lambda x: x->>'$'))) = len(nl)
                AND (kg.skeleton IS NULL OR na_skeleton(kg.skeleton, len(nl))), false)
            ELSE true END
        AND (type IN ('category', 'multicategory', 'mask')
            OR coalesce(list_bool_and(list_transform(ring, lambda c: na_in_range(c))), false))
        AND (meta IS NULL OR (left(meta, 1) = '{{'
            AND NOT regexp_matches(meta, '{_ODD_NUMBER}')
            AND NOT na_has(meta, '{EXTRA}')))
        AND coalesce(na_keys_once(keys, known, type, d.geometry, points, meta), false) AS ok
    FROM valued)
SELECT n, entry, CASE WHEN type IN ('category', 'multicategory', 'keypoints') THEN j END AS j, ref,
    type, annotation_id, track, labels, ring, visibility, names, confidence, attributes, masks,
    segment_attributes, ok AND CASE WHEN type = 'mask'
        THEN coalesce(list_bool_and(list_transform(segment_attributes || masks,
            lambda a: coalesce(strlen(a) <= {MAX_JSON_FIELD_BYTES}, true))), true)
        ELSE coalesce(strlen(attributes) <= {MAX_JSON_FIELD_BYTES}, true) END AS ok
FROM checked
"""

# The rows of the lines SQL takes, in line order, as the catalog's ROI columns (the frame,
# id and track are given when placed), a segmentation's one per segment (`part`, of
# `parts`); the line's text is kept where it may be read again by the per-record path (a
# scene's category, and keypoints whose label's names the import has not met in this order).
ROWS = """
WITH taken AS (
    SELECT n, ref, type, annotation_id, track, labels, confidence, attributes, visibility,
        names, 0 AS part, 1 AS parts, NULL::VARCHAR AS mask,
        CASE WHEN type = 'keypoints' THEN list_filter(ring, lambda c, i:
            visibility[(i + 1) // 2] != 0) ELSE ring END AS bounded, ring,
        j, entry
    FROM _na_p WHERE ok AND type != 'mask'
    UNION ALL
    SELECT n, ref, type, annotation_id, track, [labels[s.part + 1]], confidence,
        segment_attributes[s.part + 1], NULL, NULL, s.part, len(labels), masks[s.part + 1],
        NULL, NULL, NULL, entry
    FROM _na_p, unnest(range(len(labels))) AS s(part) WHERE ok AND type = 'mask')
SELECT n AS _line, ref, type, annotation_id, track, labels[1] AS label, labels, confidence,
    CASE type WHEN 'line' THEN 'polyline' WHEN 'category' THEN 'classification'
        WHEN 'multicategory' THEN 'classification' ELSE type END AS kind,
    CASE WHEN ring IS NULL THEN [] ELSE [ring] END::DOUBLE[][] AS geometry,
    list_min(list_filter(bounded, lambda c, i: i % 2 = 1)) AS x_min,
    list_min(list_filter(bounded, lambda c, i: i % 2 = 0)) AS y_min,
    list_max(list_filter(bounded, lambda c, i: i % 2 = 1)) AS x_max,
    list_max(list_filter(bounded, lambda c, i: i % 2 = 0)) AS y_max,
    mask, attributes, visibility, names, part::INTEGER AS part, parts::INTEGER AS parts, j, entry
FROM taken ORDER BY n, part
"""
# The lines SQL does not take, in line order: for the per-record path (`j`), or a cuboid's
# refusal (`cuboid`: its reference_id) where SQL can vouch that the per-record path reads the
# line as a cuboid of that reference_id: an object without a backslash (no key or value
# escaped), with no key given twice (the per-record path keeps a key's last value), no
# `item` (an item's row), a `type` of "cuboid" and a string reference_id.
OTHERS = """
WITH other AS (
    SELECT n, j, NOT marked AND left(ltrim(j), 1) = '{' AND contains(j, '"cuboid"')
        AND NOT contains(j, '\\') AS maybe
    FROM _wb_lines WHERE n NOT IN (SELECT n FROM _na_p WHERE ok)),
parsed AS (
    SELECT n, j, CASE WHEN maybe
        THEN try(from_json(j, '{"type":"JSON","reference_id":"JSON"}')) END AS d
    FROM other),
cuboids AS (
    SELECT n, j, CASE WHEN d.type = '"cuboid"' AND nu_str(d.reference_id)
            AND d.reference_id != '""' THEN try(json_keys(j)) END AS keys,
        d.reference_id->>'$' AS ref
    FROM parsed)
SELECT n, CASE WHEN cuboid IS NULL THEN j END AS j, cuboid FROM (
    SELECT n, j, CASE WHEN coalesce(NOT nu_dup(keys) AND NOT list_contains(keys, 'item'), false)
        THEN ref END AS cuboid
    FROM cuboids)
ORDER BY n
"""
