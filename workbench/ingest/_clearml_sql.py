"""The SQL that turns ClearML NDJSON lines into catalog rows, set-based.

Each statement runs on the in-memory engine over `_wb_lines(n, j, marked, t, l)` (line
number, text, whether it goes to the per-record path, whether its ids and labels may hold a
forbidden character: TEXT_PATTERN, whether its labels are parsed as JSON: LABEL_PATTERN;
FRAMES reads the lines without `l` as `_wb_typed`, those with it as `_wb_labelled`). A line
is `ok` only when SQL can vouch that the per-record path (workbench.ingest._clearml_convert
and workbench.model.validation) would store it exactly as SQL builds it, with the same
warnings; every other line (a type or value SQL does not take, an error, a rarer feature such
as multi-ring polygons, masks or source meta) goes to that per-record path, which stores it
or rejects it with its usual error. Both paths are checked
to agree in tests/ingest.

The usual fields (ids, URIs, sizes, timestamps, polygons, confidences, a ROI's sources) are
parsed typed, once. DuckDB's typed parse is lenient (`true` becomes 1, `"12"` becomes 12, `5`
becomes "5", a string where a list is expected becomes NULL), the per-record path is not: a
line where any of those keys holds a value of another JSON type is found by a regular
expression as the lines are read (RETYPED_PATTERN) and goes to the per-record path. The
other fields are parsed as JSON text and typed by their first character (a string starts with
a quote, an object with a brace...).
"""

from __future__ import annotations

from workbench.model.limits import (
    MAX_COORDINATE,
    MAX_ID_LENGTH,
    MAX_INT32,
    MAX_JSON_FIELD_BYTES,
    MAX_LABEL_LENGTH,
    MAX_LABELS_PER_ROI,
    MAX_POINTS_PER_ROI,
    MAX_ROIS_PER_FRAME,
    MAX_SAVED_MS,
    MAX_SOURCES_PER_FRAME,
    MAX_TIMESTAMP,
    MAX_URI_LENGTH,
    MIN_SAVED_MS,
)
from workbench.model.records import PROMOTED_KEYS, ROI_KINDS

# What no id or label may hold (model.validation.FORBIDDEN_CHARACTERS, in RE2's words).
_FORBIDDEN = r"[\x00-\x1f\x7f-\x9f\x{061c}\x{200e}\x{200f}\x{202a}-\x{202e}\x{2066}-\x{2069}]"
_KINDS = ", ".join(f"'{k}'" for k in ROI_KINDS)

# name_ok, opt_name and names_ok are text_ok, opt_text and texts_ok on a line whose `t` says
# whether it may hold a character no id or label may hold (TEXT_PATTERN): on the other lines
# only the length is checked, and a list of no text or one (the usual) without a lambda.
# uri_ok likewise: a control character in a URI, as it is or escaped, is one TEXT_PATTERN
# finds.
MACROS = rf"""
CREATE MACRO is_str(x) AS coalesce(left(x, 1) = '"', false);
CREATE MACRO is_int(x) AS coalesce(regexp_full_match(x, '-?[0-9]{{1,18}}'), false);
CREATE MACRO is_num(x) AS coalesce(
    regexp_full_match(x, '-?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?'), false);
CREATE MACRO is_null(x) AS x IS NULL OR x = 'null';
CREATE MACRO text_ok(s, lim) AS coalesce(
    length(s) BETWEEN 1 AND lim AND NOT regexp_matches(s, '{_FORBIDDEN}'), false);
CREATE MACRO opt_text(x) AS is_null(x) OR (is_str(x) AND text_ok(x->>'$', {MAX_ID_LENGTH}));
CREATE MACRO name_ok(s, lim, t) AS coalesce(length(s) BETWEEN 1 AND lim
    AND CASE WHEN t THEN NOT regexp_matches(s, '{_FORBIDDEN}') ELSE true END, false);
CREATE MACRO opt_name(x, t) AS is_null(x)
    OR (is_str(x) AND name_ok(x->>'$', {MAX_ID_LENGTH}, t));
CREATE MACRO names_ok(l, lim, t) AS l IS NOT NULL AND CASE
    WHEN t THEN coalesce(list_bool_and(list_transform(l, lambda v: text_ok(v, lim))), true)
    WHEN len(l) = 0 THEN true
    WHEN len(l) = 1 THEN coalesce(length(l[1]) BETWEEN 1 AND lim, false)
    ELSE coalesce(list_bool_and(list_transform(l,
        lambda v: coalesce(length(v) BETWEEN 1 AND lim, false))), true) END;
CREATE MACRO opt_int(x, lo, hi) AS is_null(x)
    OR (is_int(x) AND coalesce(TRY_CAST(x AS BIGINT) BETWEEN lo AND hi, false));
CREATE MACRO int_of(x) AS CASE WHEN is_int(x) THEN TRY_CAST(x AS BIGINT) END;
CREATE MACRO str_of(x) AS CASE WHEN is_str(x) THEN x->>'$' END;
CREATE MACRO uri_ok(u, t) AS coalesce(length(u) BETWEEN 1 AND {MAX_URI_LENGTH}
    AND CASE WHEN t THEN NOT regexp_matches(u, '[\x00-\x1f\x7f]') ELSE true END, false);
CREATE MACRO plain_uri(u, base) AS base IS NULL OR contains(u, '://') OR starts_with(u, '/')
    OR NOT regexp_matches(u, '(^|/)\.\.?(/|$)|//|/$');
CREATE MACRO resolved(u, base) AS CASE WHEN base IS NULL OR contains(u, '://')
    OR starts_with(u, '/') THEN u ELSE base || '/' || u END;
CREATE MACRO texts_ok(l, lim) AS l IS NOT NULL
    AND coalesce(list_bool_and(list_transform(l, lambda v: text_ok(v, lim))), true);
CREATE MACRO box_corners(size, a1, a2, a3, a4, a5, a6, a7, a8) AS size = 8
    AND ((a1 = a3) <> (a2 = a4)) AND ((a3 = a5) <> (a4 = a6))
    AND ((a5 = a7) <> (a6 = a8)) AND ((a7 = a1) <> (a8 = a2))
    AND NOT (a1 = a3 AND a3 = a5 AND a5 = a7) AND NOT (a2 = a4 AND a4 = a6 AND a6 = a8);
CREATE MACRO box_ring(v) AS box_corners(len(v), v[1], v[2], v[3], v[4], v[5], v[6], v[7], v[8]);
CREATE MACRO min_points(kind) AS CASE kind WHEN 'box' THEN 2 WHEN 'polygon' THEN 3
    WHEN 'polyline' THEN 2 WHEN 'point' THEN 1 END;
CREATE TEMP TABLE _wb_seen (id VARCHAR);
"""

_SOURCE = (
    '[{"id":"VARCHAR","uri":"VARCHAR","width":"BIGINT","height":"BIGINT",'
    '"content_type":"VARCHAR","timestamp":"BIGINT","preview":"JSON","masks":"JSON",'
    '"meta":"JSON"}]'
)


# A ROI's label is parsed as a list of text where the line gives every `label` as a list or
# null (the usual; RETYPED_PATTERN sends a list holding anything but strings to the per-record
# path), as JSON text on the lines LABEL_PATTERN finds (`_wb_lines.l`): a string, or a value
# the per-record path refuses, parses as NULL in a list, like none.
def _roi(label: str) -> str:
    return (
        f'[{{"id":"VARCHAR","label":"{label}","labels":"JSON","poly":"DOUBLE[]",'
        '"confidence":"DOUBLE","sources":"VARCHAR[]","mask":"JSON","meta":"JSON"}]'
    )


def _frame(label: str) -> str:
    """One parse of the whole line. A `sources` or `rois` that is there but not a list parses
    as NULL, like one that is missing: a line naming either key whose list did not parse goes
    to the per-record path (so does, rarely, a line whose ROIs name sources but which has
    none)."""
    return (
        '{"id":"VARCHAR","context_id":"VARCHAR","timestamp":"BIGINT","num_frames":"JSON",'
        '"dataset":"JSON","saved":"JSON","saved_in_version":"JSON","meta":"JSON",'
        f'"sources":{_SOURCE},"rois":{_roi(label)}}}'
    )


_FRAME = _frame("VARCHAR[]")
# The lines' own columns FRAMES reads beside the parse (the text `j` is searched for a
# `sources` or `rois` key only on the lines whose list did not parse). A line is trimmed
# only when it does not start with its brace (a CASE: the trim of every line was 5% of
# FRAMES).
_LINE = """CASE WHEN starts_with(j, '{') THEN true
    ELSE starts_with(ltrim(j, E' \\t\\r'), '{') END AND NOT marked AS plain, t, j"""


def _parse(structure: str, guarded: bool) -> str:
    """The parse of a line `j` into `structure`: `guarded`, a line that is not JSON parses as
    NULL (`try`); else it stops the statement, which is then run guarded (`try` cost 5-10% of
    FRAMES on lines that all parse, as nearly every batch's do)."""
    parse = f"from_json(j, '{structure}')"
    return f"try({parse})" if guarded else parse


def _typed(guarded: bool) -> str:
    return f"SELECT n, {_parse(_FRAME, guarded)} AS d, {_LINE} FROM _wb_typed"


# A line of LABEL_PATTERN (`l`) has its labels parsed as JSON, then made the lists the others
# parse to (a string: a list of it; null: NULL). A label of another type, which the
# per-record path refuses, gives its ROI a `labels`, which no ROI that SQL takes has. Those
# lines are parsed apart (`_wb_labelled`, the others `_wb_typed`, split before: no table to
# split, usually; FRAMES_LABELLED, `_labelled`): a CASE choosing either parse copied every line's
# parsed values, a filter on `l` copied the lines, and a UNION ALL of the two cost as much
# where one side was empty (0.02 s a batch).
def _labelled(guarded: bool) -> str:
    return f"""
    SELECT n, struct_update(x, rois := list_transform(x.rois, lambda r: struct_update(r,
            label := CASE WHEN left(r.label, 1) = '[' THEN r.label::VARCHAR[]
                WHEN is_str(r.label) THEN [r.label->>'$'] END,
            labels := CASE WHEN is_null(r.label) OR left(r.label, 1) IN ('[', '"')
                THEN r.labels ELSE 'null'::JSON END))) AS d, {_LINE}
    FROM (SELECT *, {_parse(_frame("JSON"), guarded)} AS x FROM _wb_labelled)"""


def _promoted(at: int) -> tuple[str, str]:
    """(check, value) of a metadata key copied to its own column (`at`: its place in
    PROMOTED_KEYS): strings, integers, null, objects and lists are taken here (floats and
    booleans print differently in Python). The integer's pattern is matched only on what is
    none of the others (a CASE: see _frames)."""
    v = f"(promoted[{at + 1}])"
    check = f"CASE WHEN is_null({v}) OR left({v}, 1) IN ('\"', '{{', '[') THEN true ELSE is_int({v}) END"
    value = (
        f"CASE WHEN is_null({v}) OR left({v}, 1) IN ('{{', '[') THEN NULL "
        f"WHEN is_str({v}) THEN {v}->>'$' ELSE TRY_CAST(int_of({v}) AS VARCHAR) END"
    )
    return check, value


_CHECKS = [_promoted(at) for at in range(len(PROMOTED_KEYS))]
# The promoted keys' values as JSON texts, and then the frame index's, read from the metadata
# in one pass.
_PROMOTED = (
    "json_extract(d.meta, ["
    + ", ".join(f"'$.{k}'" for k in (*PROMOTED_KEYS, "_frame_index"))
    + "])"
)

# What sends a line to the per-record path besides _columnar.PER_RECORD_PATTERN, found by a
# second scan (one pattern with that one and the depth scan's costs twice as much): a key the SQL parses typed holding a value of another JSON type (at any depth: a
# key of the same name in metadata counts too), or a key spelled with an escape.
_TEXT = r'"(?:[^"\\]|\\.)*"'  # a JSON string
RETYPED_PATTERN = "|".join(
    [
        r'"(?:id|context_id|uri|content_type)"\s*:\s*[^"\sn]',  # strings (or null)
        r'"(?:timestamp|width|height|confidence)"\s*:\s*[^-0-9\sn]',  # numbers
        r'"(?:timestamp|width|height)"\s*:\s*-?[0-9]+[.eE]',  # integers, not 1.0 or 1e3
        r'"(?:poly|sources)"\s*:\s*[^\[\sn]',  # lists
        r'"poly"\s*:\s*\[[^\]]*[^-0-9.eE+,\s\]]',  # of numbers
        # A ROI's sources: strings (a frame's are objects: a ROI's first source given as one
        # is refused in SQL, a later one of any other type here)
        r'"sources"\s*:\s*\[\s*[^\s{"\]]',
        rf'"sources"\s*:\s*\[\s*{_TEXT}\s*(?:,\s*{_TEXT}\s*)*,\s*[^\s"]',
        # A ROI's label given as a list: strings only (a cast to a list of text takes any value)
        r'"label"\s*:\s*\[\s*[^\s"\]]',
        rf'"label"\s*:\s*\[\s*{_TEXT}\s*(?:,\s*{_TEXT}\s*)*,\s*[^\s"]',
        r'\\u[0-9a-fA-F]{4}(?:[^"\\]|\\.)*"\s*:',  # an escape in a key
    ]
)

# A line where a `label` holds neither a list nor null (a key of that name in metadata
# counts too): its labels are parsed as JSON (`_labelled`).
LABEL_PATTERN = r'"label"\s*:\s*[^\[\sn]'

# What a line holds when one of its texts may hold a character no id or label may hold
# (model.validation.FORBIDDEN_CHARACTERS, as it is or escaped): found by the same scan as
# RETYPED_PATTERN, it marks the lines (`_wb_lines.t`) whose ids and labels are checked for
# those characters; on the others only their length is.
TEXT_PATTERN = _FORBIDDEN + r"|\\[bfnrtu]"


def _source_ok(s: str, source_id: str, preview: str) -> str:
    """The checks of one source (`s`, its struct), whose id is `source_id` and whose
    preview's URI (JSON) `preview`, against `$base`: SOURCES' and FRAMES' alike."""
    return f"""name_ok({source_id}, {MAX_ID_LENGTH}, t)
    AND uri_ok({s}.uri, t) AND plain_uri({s}.uri, $base)
    AND ({s}.width IS NULL OR {s}.width BETWEEN 1 AND {MAX_INT32})
    AND ({s}.height IS NULL OR {s}.height BETWEEN 1 AND {MAX_INT32})
    AND ({s}.timestamp IS NULL OR {s}.timestamp BETWEEN -{MAX_TIMESTAMP} AND {MAX_TIMESTAMP})
    AND (is_null({s}.preview) OR (left({s}.preview, 1) = '{{' AND (is_null({preview})
         OR str_of({preview}) = '' OR (uri_ok(str_of({preview}), t)
         AND plain_uri(str_of({preview}), $base)))))
    AND (is_null({s}.masks) OR {s}.masks = '[]')
    AND (is_null({s}.meta) OR {s}.meta = '{{}}')"""


# One row per line: the frame's own values, its sources and ROIs still as lists, and `ok`.
# A frame with no context id takes its first source's URI as one (resolved against `$base`,
# as SOURCES does), or its own id.
# A frame of one source (the usual) has that source's row here (`id1`, `uri1`, ...; NULL for
# the others) and its checks in `ok`: only the sources of frames of several (`several`) are
# unnested (by SOURCES), so most frames' sources are neither fetched, written to a table nor
# read again.
# Both sides of an OR (and every part of an AND) in the SELECT list are evaluated on every
# line; a CASE evaluates its ELSE only on the lines no WHEN took. So where a check's costly
# side is needed on few lines (the `sources` and `rois` keys looked for in the text of a
# line whose list did not parse: two scans of every line's text, 0.1 s an import), it is
# the ELSE of a CASE.
# Its rows stay in the engine, a table of its own that the statements below read as `_wb_f`:
# only the columns the catalog's rows are made of come out as Arrow (FRAME_ROWS), not the
# sources' and ROIs' lists that SOURCES and ROIS unnest (fetched, they were a third of the
# import's page faults in Arrow's result buffers; kept here, the CPU is level and a tenth
# of the faults goes).
def _frames(parsed: str) -> str:
    """FRAMES over the lines' parse `parsed` (n, d, plain, t, j)."""
    return f"""
WITH parsed AS ({parsed}),
typed AS (
    SELECT n, d, t, j, plain AND d IS NOT NULL AS parsed_ok,
        coalesce(contains(d.meta, '"_frame_index"'), false) AS has_index,
        (d.dataset->'$.id') AS ds_id, (d.dataset->'$.version') AS ds_version,
        d.sources AS sources, d.rois AS rois, {_PROMOTED} AS promoted
    FROM parsed),
indexed AS (SELECT *, promoted[{len(PROMOTED_KEYS) + 1}] AS index_j,
    CASE WHEN len(sources) = 1 THEN sources[1] END AS s1 FROM typed),
one AS (SELECT *, CASE WHEN s1.id IS NULL OR s1.id = '' THEN 'default' ELSE s1.id END AS sid1,
    (s1.preview->'$.uri') AS preview1_j FROM indexed)
SELECT n, d.id AS id,
    coalesce(d.context_id, resolved(d.sources[1].uri, $base), d.id) AS context_id,
    d.timestamp AS timestamp,
    TRY_CAST(int_of(index_j) AS INTEGER) AS frame_index,
    TRY_CAST(int_of(d.num_frames) AS INTEGER) AS num_frames,
    CASE WHEN str_of(ds_id) <> '' THEN str_of(ds_id) END AS dataset,
    CASE WHEN str_of(ds_version) <> '' THEN str_of(ds_version) END AS version,
    CASE WHEN opt_int(d.saved, {MIN_SAVED_MS}, {MAX_SAVED_MS}) AND NOT is_null(d.saved)
        THEN TIMESTAMP '1970-01-01' + to_milliseconds(int_of(d.saved)) END AS saved,
    str_of(d.saved_in_version) AS saved_in_version,
    nullif(CASE WHEN has_index THEN json_merge_patch(d.meta, '{{"_frame_index":null}}')
        ELSE d.meta END::VARCHAR, '{{}}') AS metadata,
    {", ".join(f"{value} AS {key}" for key, (_, value) in zip(PROMOTED_KEYS, _CHECKS, strict=True))},
    CASE WHEN len(sources) > 1 THEN sources END AS several, rois, t,
    coalesce(len(sources), 0) AS m,
    CASE WHEN len(sources) = 1 THEN sid1 END AS id1,
    CASE WHEN len(sources) = 1 THEN coalesce(TRY_CAST(s1.width AS INTEGER), 0) END AS w1,
    CASE WHEN len(sources) = 1 THEN coalesce(TRY_CAST(s1.height AS INTEGER), 0) END AS h1,
    CASE WHEN len(sources) = 1 THEN resolved(s1.uri, $base) END AS uri1,
    CASE WHEN len(sources) = 1 THEN TRY_CAST(s1.width AS INTEGER) END AS width1,
    CASE WHEN len(sources) = 1 THEN TRY_CAST(s1.height AS INTEGER) END AS height1,
    s1.content_type AS content_type1, s1.timestamp AS timestamp1,
    CASE WHEN str_of(preview1_j) <> '' THEN resolved(str_of(preview1_j), $base) END AS preview1,
    coalesce(parsed_ok
    AND name_ok(d.id, {MAX_ID_LENGTH}, t)
    AND (d.context_id IS NULL OR name_ok(d.context_id, {MAX_ID_LENGTH}, t))
    AND (d.timestamp IS NULL OR d.timestamp BETWEEN -{MAX_TIMESTAMP} AND {MAX_TIMESTAMP})
    AND opt_int(d.num_frames, 1, {MAX_INT32})
    AND (is_null(d.dataset) OR (left(d.dataset, 1) = '{{' AND opt_name(ds_id, t)
         AND opt_name(ds_version, t)) OR d.dataset IN ('{{}}'))
    AND opt_int(d.saved, {MIN_SAVED_MS}, {MAX_SAVED_MS})
    AND opt_name(d.saved_in_version, t)
    AND (is_null(d.meta) OR (left(d.meta, 1) = '{{'
         AND length(d.meta) <= {MAX_JSON_FIELD_BYTES // 2}
         AND NOT contains(d.meta, '"_source_meta"')
         AND (NOT has_index OR opt_int(index_j, 0, {MAX_INT32}))
         AND {" AND ".join(check for check, _ in _CHECKS)}))
    AND CASE WHEN sources IS NOT NULL THEN true ELSE NOT contains(j, '"sources"') END
    AND CASE WHEN rois IS NOT NULL THEN true ELSE NOT contains(j, '"rois"') END
    AND (len(sources) IS DISTINCT FROM 1 OR ({_source_ok("s1", "sid1", "preview1_j")})),
    false) AS ok
FROM one
"""


# The lines of a batch without `l` (the usual), and those of one with some; a line that is not
# JSON stops the _UNGUARDED ones (the caller then runs these, where it parses as NULL).
FRAMES = _frames(_typed(True))
FRAMES_LABELLED = _frames(f"{_typed(True)} UNION ALL {_labelled(True)}")
FRAMES_UNGUARDED = _frames(_typed(False))
FRAMES_LABELLED_UNGUARDED = _frames(f"{_typed(False)} UNION ALL {_labelled(False)}")

# One row per source of the lines still ok whose frame has several (those of one are FRAMES').
SOURCES = f"""
CREATE OR REPLACE TEMP TABLE _wb_s AS
WITH items AS (
    SELECT n, id AS frame_id, unnest(several) AS s,
        generate_subscripts(several, 1) - 1 AS k, m, t
    FROM _wb_f WHERE ok AND m > 1),
valued AS (
    SELECT n, frame_id, k, m, s, t,
        CASE WHEN s.id IS NULL OR s.id = '' THEN
            CASE WHEN k = 0 THEN 'default' ELSE CAST(k AS VARCHAR) END
            ELSE s.id END AS id,
        s.uri AS uri,
        (s.preview->'$.uri') AS preview_j
    FROM items)
SELECT n, frame_id, k, m, id, resolved(uri, $base) AS uri,
    TRY_CAST(s.width AS INTEGER) AS width, TRY_CAST(s.height AS INTEGER) AS height,
    s.content_type AS content_type, s.timestamp AS timestamp,
    CASE WHEN str_of(preview_j) <> '' THEN resolved(str_of(preview_j), $base) END AS preview_uri,
    coalesce({_source_ok("s", "id", "preview_j")}, false) AS ok
FROM valued
"""

# Per frame of several sources: whether all its sources are ok, their ids and sizes (a frame
# of one has its checks in FRAMES, its ROIs' warnings from ROIS).
SOURCES_BY_FRAME = f"""
CREATE OR REPLACE TEMP TABLE _wb_sf AS
SELECT n, bool_and(ok) AND count(DISTINCT id) = count(*)
        AND count(*) <= {MAX_SOURCES_PER_FRAME} AS ok,
    list(id ORDER BY k) AS ids,
    list({{'id': id, 'w': coalesce(width, 0), 'h': coalesce(height, 0)}}) AS sizes
FROM _wb_s GROUP BY n
"""

# A ROI of a frame of one source (`one`: the usual) gets its warnings here, from that source's
# id and size carried with it (`id1`, `w1`, `h1` of FRAMES), not from a join in ROIS_BY_FRAME.
_OUTSIDE_ONE = """(r.x_min IS NOT NULL AND r.kind IN ('box', 'polygon', 'mask', 'point', 'polyline')
        AND r.w1 > 0 AND r.h1 > 0
        AND (len(r.source_ids) = 0 OR list_contains(r.source_ids, r.id1))
        AND NOT (r.x_min <= r.w1 AND r.x_max >= 0 AND r.y_min <= r.h1 AND r.y_max >= 0))"""
# A ROI naming one source (the usual) compares it; a lambda only for a longer list.
_UNKNOWN_ONE = """(CASE WHEN len(r.source_ids) = 0 THEN false
        WHEN len(r.source_ids) = 1 THEN r.source_ids[1] <> r.id1
        ELSE NOT list_has_all([r.id1], r.source_ids) END)"""

_RESERVED = (
    '{"_kind":null,"_field":null,"_track_index":null,"_keyframe":null,"_bbox":null,"_type":null}'
)
# The reserved meta keys a ROI's meta may hold, read in one pass of it (`j`, by position).
_RESERVED_KEYS = ("_kind", "_field", "_track_index", "_keyframe", "_bbox", "kind", "_type", "_id")
_RESERVED_PATHS = "[" + ", ".join(f"'$.{k}'" for k in _RESERVED_KEYS) + "]"

# The checks of a ROI whose meta holds a reserved key (`reserved`: rarer, but every ROI of our
# own exports has `_kind`). On the others, kind_j and the rest are NULL and the kind is
# inferred from the poly: a classification without one, a box of 8 values, a point of 2, a
# polygon else; a polygon of 2 points (4 values) is the only one with too few points.
_RESERVED_OK = f"""coalesce((is_null(kind_j) OR kind_s IN ({_KINDS}))
        AND (is_null(field_j) OR field_j = '""' OR name_ok(field_s, {MAX_ID_LENGTH}, r.t))
        AND opt_int(track_j, -{MAX_INT32}, {MAX_INT32})
        AND (is_null(keyframe_j) OR keyframe_j IN ('true', 'false'))
        AND is_null(bbox_j)
        AND (sdk_type_j IS NULL OR (kind_j IS NOT NULL AND kind_s = CASE str_of(sdk_type_j)
             WHEN 'b2d' THEN 'box' WHEN 'p2d' THEN 'polygon' WHEN 'k2d' THEN 'point' END))
        AND (is_null(kind_attribute_j) OR kind_j IS NOT NULL
             OR str_of(kind_attribute_j) NOT IN ({_KINDS}))
        AND (given OR is_null(sdk_id_j) OR is_str(sdk_id_j) OR is_int(sdk_id_j))
        AND (min_points(r.kind) IS NULL OR len(r.v) >= 2 * min_points(r.kind))
        AND (len(r.v) > 0 OR r.kind = 'classification' OR kind_j IS NOT NULL), false)"""

# The values read from a ROI's reserved meta keys (`j`), NULL without them (the usual: not
# read from its NULL list, about 3% of ROIS).
_RESERVED_VALUES = ", ".join(
    f"CASE WHEN reserved THEN j[{at}] END AS {name}"
    for at, name in enumerate(
        ("kind_j", "field_j", "track_j", "keyframe_j", "bbox_j", "kind_attribute_j",
         "sdk_type_j", "sdk_id_j"),
        start=1,
    )
)  # fmt: skip
# A ROI of 8 values (a box, usually) has them read once (`a1`-`a8`), for its kind and bounds;
# the others' xs and ys are sliced from their values. (`box_ring` over the values and the
# slices for every ROI were 15% of ROIS.)
_CORNERS = (
    "CASE WHEN len(v) <> 8 THEN list_slice(v, 1, len(v), 2) END AS xs, "
    "CASE WHEN len(v) <> 8 THEN list_slice(v, 2, len(v), 2) END AS ys, "
    + ", ".join(f"v[{at}] AS a{at}" for at in range(1, 9))
)
_BOUNDS = ",\n        ".join(
    f"CASE WHEN len(v) = 8 THEN {pick}({', '.join(f'a{at}' for at in range(first, 9, 2))}) "
    f"WHEN len(v) > 0 THEN {listed}({axis}) END AS {name}"
    for name, pick, listed, axis, first in (
        ("x_min", "least", "list_min", "xs", 1),
        ("y_min", "least", "list_min", "ys", 2),
        ("x_max", "greatest", "list_max", "xs", 1),
        ("y_max", "greatest", "list_max", "ys", 2),
    )
)

# The ROI's own JSON (`r`) is read once, in `valued`: later steps carry its values only.
# Its rows come out as Arrow (the caller registers them as `_wb_r` for ROIS_BY_FRAME):
# a temp table of them, scanned again to fetch them, cost a third more. A ROI's geometry, its
# one ring (`ring`: its values; none for a classification), is made a list of it from the
# Arrow rows (_clearml_rows.kept_rois): a list of lists made here cost 4% of ROIS.
ROIS = f"""
WITH items AS (
    SELECT n, id AS frame_id, unnest(rois) AS r, generate_subscripts(rois, 1) - 1 AS k, t,
        id1, w1, h1
    FROM _wb_f WHERE ok AND len(rois) > 0),
valued AS (
    SELECT n, frame_id, k, t, id1, w1, h1,
        CASE WHEN r.id IS NULL OR r.id = '' THEN frame_id || ':' || k ELSE r.id END AS id,
        coalesce(r.id <> '', false) AS given,
        coalesce(r.label, []::VARCHAR[]) AS labels,
        coalesce(r.poly, []::DOUBLE[]) AS v,
        coalesce(r.sources, []::VARCHAR[]) AS source_ids,
        r.confidence AS confidence,
        coalesce(contains(r.meta, '"_') OR contains(r.meta, '"kind"'), false) AS reserved,
        r.meta AS meta,
        coalesce(r IS NOT NULL AND NOT (r.id IS NULL AND r.label IS NULL AND r.labels IS NULL
            AND r.poly IS NULL AND r.confidence IS NULL AND r.sources IS NULL
            AND r.mask IS NULL AND r.meta IS NULL)
        AND r.labels IS NULL
        AND (r.confidence IS NULL OR r.confidence BETWEEN 0 AND 1)
        AND NOT coalesce(starts_with(r.sources[1], '{{'), false)
        AND is_null(r.mask)
        AND (is_null(r.meta) OR (left(r.meta, 1) = '{{'
             AND length(r.meta) <= {MAX_JSON_FIELD_BYTES // 2})), false) AS raw_ok
    FROM items),
meta AS (
    SELECT * EXCLUDE (j, id), {_RESERVED_VALUES},
        -- A ROI without an id takes the SDK's (`_id`, kept in its attributes) when it has one.
        CASE WHEN given OR NOT reserved OR is_null(j[8]) OR j[8] = '""' THEN id
            ELSE coalesce(str_of(j[8]), int_of(j[8])::VARCHAR, id) END AS id,
        CASE WHEN reserved THEN str_of(j[1]) END AS kind_s,
        CASE WHEN reserved THEN str_of(j[2]) END AS field_s
    FROM (SELECT *, CASE WHEN reserved THEN json_extract(meta, {_RESERVED_PATHS}) END AS j,
        {_CORNERS}
    FROM valued)),
shaped AS (
    SELECT *,
        coalesce(kind_s, CASE WHEN len(v) = 0 THEN 'classification'
            WHEN box_corners(len(v), a1, a2, a3, a4, a5, a6, a7, a8) THEN 'box'
            WHEN len(v) = 2 THEN 'point' ELSE 'polygon' END) AS kind,
        {_BOUNDS},
        nullif(CASE WHEN reserved THEN json_merge_patch(meta, '{_RESERVED}')
            ELSE meta END::VARCHAR, '{{}}') AS attributes
    FROM meta)
SELECT r.n, r.frame_id, r.k, r.id,
    CASE WHEN is_null(field_j) OR field_j = '""' THEN 'ground_truth' ELSE field_s END AS field,
    r.labels[1] AS label, r.labels, r.confidence, r.kind,
    r.v AS ring,
    r.x_min, r.y_min, r.x_max, r.y_max, (r.x_max - r.x_min) * (r.y_max - r.y_min) AS area,
    r.source_ids, NULL::VARCHAR AS mask, r.attributes,
    TRY_CAST(int_of(track_j) AS INTEGER) AS track_index,
    CASE keyframe_j WHEN 'true' THEN true WHEN 'false' THEN false END AS keyframe,
    r.kind IN ('box', 'polygon', 'mask') AND r.x_min IS NOT NULL
        AND (r.x_max <= r.x_min OR r.y_max <= r.y_min) AS zero_area,
    r.id1 IS NOT NULL AS one, {_OUTSIDE_ONE} AS outside, {_UNKNOWN_ONE} AS unknown_source,
    coalesce(r.raw_ok AND name_ok(r.id, {MAX_ID_LENGTH}, r.t)
    AND names_ok(r.labels, {MAX_LABEL_LENGTH}, r.t)
    AND len(r.labels) <= {MAX_LABELS_PER_ROI}
    AND r.v IS NOT NULL AND len(r.v) % 2 = 0 AND len(r.v) <= {2 * MAX_POINTS_PER_ROI}
    AND NOT list_contains(r.v, -999999999.0)
    AND (len(r.v) = 0 OR (least(r.x_min, r.y_min) >= -{MAX_COORDINATE}
         AND greatest(r.x_max, r.y_max) <= {MAX_COORDINATE}))
    AND names_ok(r.source_ids, {MAX_ID_LENGTH}, r.t)
    AND CASE WHEN r.reserved THEN {_RESERVED_OK} ELSE len(r.v) <> 4 END, false) AS ok
FROM shaped r
"""

# Per frame: whether all its ROIs are ok, and its warnings. A frame of one source (the usual)
# has its ROIs' warnings from ROIS (`one`); for the others (ROIS_BY_FRAME_MANY), the sizes and
# ids of the frame's sources are joined, to the narrow ROI rows, rather than to the lines' ROI
# lists.
_ON_IMAGES = "lambda s: s.w > 0 AND s.h > 0 AND (len(r.source_ids) = 0 OR list_contains(r.source_ids, s.id))"  # fmt: skip
_OUTSIDE = f"""r.x_min IS NOT NULL AND r.kind IN ('box', 'polygon', 'mask', 'point', 'polyline')
        AND len(list_filter(sf.sizes, {_ON_IMAGES})) > 0
        AND len(list_filter(list_filter(sf.sizes, {_ON_IMAGES}), lambda s: r.x_min <= s.w
            AND r.x_max >= 0 AND r.y_min <= s.h AND r.y_max >= 0)) = 0"""
# A ROI naming no source, or exactly the frame's, names none the frame lacks.
_UNKNOWN = """CASE WHEN len(r.source_ids) = 0 OR r.source_ids = sf.ids THEN false
        ELSE len(list_filter(r.source_ids,
            lambda s: NOT list_contains(coalesce(sf.ids, []), s))) > 0 END"""
ROIS_BY_FRAME = f"""
CREATE OR REPLACE TEMP TABLE _wb_rf AS
WITH frames AS (
    SELECT r.n, bool_and(r.ok) AND count(*) <= {MAX_ROIS_PER_FRAME} AS ok,
        count(*) FILTER (WHERE r.zero_area) AS zero_area,
        count(*) FILTER (WHERE r.outside) AS outside,
        count(*) FILTER (WHERE r.unknown_source) AS unknown_source
    FROM _wb_r r WHERE r.one GROUP BY r.n),
-- A ROI id twice in a frame, found apart: a count(DISTINCT) per frame beside the other
-- aggregates cost twice as much.
twice AS (SELECT DISTINCT n FROM _wb_r WHERE one GROUP BY n, id HAVING count(*) > 1)
SELECT n, ok AND n NOT IN (SELECT n FROM twice) AS ok, zero_area, outside, unknown_source
FROM frames
"""
# The frames of none or several sources, when the batch has any (their ROIs are not `one`).
ROIS_BY_FRAME_MANY = f"""
INSERT INTO _wb_rf
SELECT r.n, bool_and(r.ok) AND count(DISTINCT r.id) = count(*)
        AND count(*) <= {MAX_ROIS_PER_FRAME} AS ok,
    count(*) FILTER (WHERE r.zero_area) AS zero_area,
    count(*) FILTER (WHERE {_OUTSIDE}) AS outside,
    count(*) FILTER (WHERE {_UNKNOWN}) AS unknown_source
FROM _wb_r r LEFT JOIN _wb_sf sf USING (n) WHERE NOT r.one GROUP BY r.n
"""

# The lines SQL stores: every check passed for the frame, its sources and its ROIs.
GOOD = """
CREATE OR REPLACE TEMP TABLE _wb_good AS
SELECT f.n, f.id, coalesce(s.ok, true) AND coalesce(r.ok, true) AS ok,
    f.m = 0 AS no_sources,
    coalesce(r.zero_area, 0) AS zero_area, coalesce(r.outside, 0) AS outside,
    coalesce(r.unknown_source, 0) AS unknown_source
FROM _wb_f f LEFT JOIN _wb_sf s USING (n) LEFT JOIN _wb_rf r USING (n)
WHERE f.ok AND coalesce(s.ok, true) AND coalesce(r.ok, true)
"""

# The sources of the lines kept (`{keep}`: a WHERE clause, or none when they are all kept),
# with their position in the line, `_k`; ordered by the caller.
SOURCE_ROWS = """
SELECT frame_id, id, uri, width, height, content_type, timestamp, preview_uri,
    NULL::VARCHAR AS masks, n AS _line, k AS _k
FROM _wb_s {keep}
"""

# The rows of FRAMES (`_wb_f`) the catalog's frames and sources are made of (_clearml_rows:
# kept_frames, kept_sources): its lists and checks stay in the engine.
FRAME_ROWS = """
SELECT n, id, context_id, timestamp, frame_index, num_frames, dataset, version, saved,
    saved_in_version, metadata, {promoted}, id1, uri1, width1, height1, content_type1,
    timestamp1, preview1
FROM _wb_f
""".format(promoted=", ".join(PROMOTED_KEYS))
