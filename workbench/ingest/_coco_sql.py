"""The SQL that turns a COCO instances file into catalog rows, set-based.

The file engine stages the records of the document's images, annotations and categories as
JSON texts numbered in file order (`_wb_image_items`, `_wb_items`, `_wb_cat_items`), read a
piece at a time (workbench.ingest._coco_pieces) or, for a document that cannot be cut, whole
(`_wb_doc`). As for ClearML (workbench.ingest._clearml_sql, whose macros these
statements use), an image or annotation is `ok` only when SQL can vouch that the per-record
path (workbench.ingest._coco_annotations) would store it exactly so; every other record goes
through that path, which stores it or rejects it with its usual error.
"""

from __future__ import annotations

from workbench.ingest._columnar import NOT_FINITE
from workbench.model.limits import (
    MAX_COORDINATE,
    MAX_ID_LENGTH,
    MAX_INT32,
    MAX_JSON_DEPTH,
    MAX_JSON_FIELD_BYTES,
    MAX_LABEL_LENGTH,
    MAX_POINTS_PER_ROI,
    MAX_RINGS_PER_ROI,
    MAX_ROIS_PER_FRAME,
    MAX_URI_LENGTH,
)
from workbench.model.records import PROMOTED_KEYS

READ = """
CREATE OR REPLACE TEMP TABLE _wb_doc AS SELECT * FROM read_json($file,
    columns = {images: 'JSON[]', annotations: 'JSON[]', categories: 'JSON[]'},
    maximum_object_size = $size)
"""
# The records of one array, numbered from 0 in file order (`{table}`, `{key}`: one of three),
# with `odd`: whether each record must be looked at closely (_ODD): its piece's bytes ($odd)
# hold what only the engine's JSON parser takes (_columnar.NOT_JSON), or the document nests
# deeper than the limit somewhere; every record of a document read whole (not cut: its
# nesting was not scanned; one holding NOT_JSON is read record by record instead).
ITEMS_TABLE = "CREATE OR REPLACE TEMP TABLE {table} (x JSON, i BIGINT, odd BOOLEAN)"
ITEMS_OF_DOC = """
CREATE OR REPLACE TEMP TABLE {table} AS
SELECT unnest({key}) AS x, generate_subscripts({key}, 1) - 1 AS i, true AS odd FROM _wb_doc
"""
# Pieces `[records]` of one array (workbench.ingest._coco_pieces), each the binary `x` of a
# row of `_wb_piece` (an Arrow batch each, so that the engine parses them on as many threads)
# with the number of its first record `first` and its `odd`: their records numbered on from
# there; the count of rows inserted. (The engine's own parser, as read_json's: the records'
# texts are the same.)
ITEMS_OF_PIECE = """
INSERT INTO {table} SELECT unnest(r) AS x, generate_subscripts(r, 1) - 1 + first AS i, odd
FROM (SELECT first, odd, from_json(decode(x), '["JSON"]') AS r FROM _wb_piece)
"""
URI_OK = f"""coalesce(length(uri) BETWEEN 1 AND {MAX_URI_LENGTH}
    AND NOT regexp_matches(uri, '[\\x00-\\x1f\\x7f]'), false)"""
# The records of a piece holding what only the engine's parser takes get their text as
# written (`_wb_raw`: i, x), so that the per-record path refuses them with its own words.
RAW_TEXTS = "UPDATE {table} SET x = r.x FROM _wb_raw r WHERE {table}.i = r.i"
# A record SQL leaves to the per-record path whatever it holds: one that may nest too deep (more
# brackets than the limit), or one holding what only the engine's JSON parser takes (NaN,
# infinities, huge numbers), looked for only in the records marked `odd` (a comma before a
# bracket, which the parser drops from the record's text, sends the whole file record by
# record: workbench.ingest._coco_columnar). A record not marked nests within the limit (the
# byte scan measured the document) and holds none: neither is looked for in its text, two
# passes over every record's text that found nothing in a plain file.
_ODD = (
    f"CASE WHEN odd THEN length(x) - length(replace(replace(x, '[', ''), '{{', ''))"
    f" > {MAX_JSON_DEPTH} OR regexp_matches(x, '{NOT_FINITE}') ELSE false END"
)
# The image's own keys and the metadata keys copied to columns, parsed once.
_IMAGE = (
    '{"id":"JSON","file_name":"JSON","width":"JSON","height":"JSON",'
    + ",".join(f'"{key}":"JSON"' for key in PROMOTED_KEYS)
    + "}"
)


def _promoted(v: str) -> tuple[str, str]:
    """(check, value) of a metadata key copied to its own column, `v` its JSON text: what SQL
    copies as the writer would (strings, integers, null, objects and lists, as for ClearML)."""
    check = f"(is_null({v}) OR left({v}, 1) IN ('\"', '{{', '[') OR is_int({v}))"
    value = (
        f"CASE WHEN is_null({v}) OR left({v}, 1) IN ('{{', '[') THEN NULL "
        f"WHEN is_str({v}) THEN {v}->>'$' ELSE CAST(int_of({v}) AS VARCHAR) END"
    )
    return check, value


_PROMOTED = ", ".join(f"{_promoted(f'd.{key}')[1]} AS {key}" for key in PROMOTED_KEYS)
_PROMOTED_OK = " AND ".join(_promoted(f"d.{key}")[0] for key in PROMOTED_KEYS)
_IMAGE_KEYS = '{"id":null,"file_name":null,"width":null,"height":null}'

# Local names Path would normalise (the per-record path makes their URI); URLs stay as given.
_PLAIN_NAME = r"(^|/)\.\.?(/|$)|//|/$|[?#;]"
# What mimetypes.guess_type is asked about an image SQL takes: its extension (its name holds no
# '?', '#' or ';', which a URL parses: _PLAIN_NAME sends those to the per-record path).
PROBE = "'x' || regexp_extract(file_name, '\\.[^./]*$')"

# Whether a record of `{table}` gives a key twice (those are then looked for one by one): the
# per-record path's reader keeps the last value, the engine's the first. Asked of each distinct
# list of keys, few in a file (one for every image of most).
_TWICE = (
    "SELECT coalesce(bool_or(len(list_distinct(k)) < len(k)), false)"
    " FROM (SELECT DISTINCT try(json_keys(x)) AS k FROM {table})"
)
_IMAGE_TWICE = _TWICE.format(table="_wb_image_items")
# One row per image, in file order: `key` is its id as JSON text (1 and "1" differ, as in a
# dict of the parsed values), `ok` whether SQL takes it: not when its promoted metadata keys
# hold values SQL does not copy, or a local name the per-record path would normalise. The
# record's text `x` only for the others (the per-record path's): a copy of every image's
# text, written out and read back, cost more than the rest of the table past the engine's
# memory. (The CTE is not materialised: its columns are computed once either way.) The
# images SQL takes get their URI (`file_name` under $folder unless it is a URL or absolute)
# and their `probe` (PROBE) here, in the one pass over them.
IMAGES = f"""
CREATE OR REPLACE TEMP TABLE _wb_img AS
WITH parsed AS (
    SELECT i, x, try(from_json(x, '{_IMAGE}')) AS d, {_ODD} AS odd FROM _wb_image_items),
checked AS (
SELECT i, x, d.id AS key,
    CASE WHEN is_str(d.id) THEN d.id->>'$' ELSE CAST(int_of(d.id) AS VARCHAR) END AS id,
    str_of(d.file_name) AS file_name,
    TRY_CAST(int_of(d.width) AS INTEGER) AS width, TRY_CAST(int_of(d.height) AS INTEGER) AS height,
    nullif(json_merge_patch(x, '{_IMAGE_KEYS}')::VARCHAR, '{{}}') AS metadata,
    {_PROMOTED},
    coalesce(NOT odd AND left(x, 1) = '{{' AND d IS NOT NULL
        AND (is_str(d.id) OR is_int(d.id)) AND str_of(d.file_name) <> ''
        AND opt_int(d.width, 1, {MAX_INT32}) AND opt_int(d.height, 1, {MAX_INT32})
        AND strlen(x) <= {MAX_JSON_FIELD_BYTES // 2} AND {_PROMOTED_OK}
        AND CASE WHEN ({_IMAGE_TWICE})
            THEN len(list_distinct(json_keys(x))) = len(json_keys(x)) ELSE true END
        AND CASE WHEN contains(str_of(d.file_name), '://') THEN true
            ELSE NOT regexp_matches(str_of(d.file_name), '{_PLAIN_NAME}') END, false) AS ok
FROM parsed)
SELECT * EXCLUDE (x), CASE WHEN ok THEN NULL ELSE x END AS x,
    CASE WHEN NOT ok THEN NULL
        WHEN contains(file_name, '://') OR starts_with(file_name, '/') THEN file_name
        ELSE $folder || '/' || file_name END AS uri,
    CASE WHEN ok THEN {PROBE} END AS probe
FROM checked
"""

ANN = (
    '{"id":"JSON","image_id":"JSON","category_id":"JSON","bbox":"JSON",'
    '"segmentation":"JSON","score":"JSON","iscrowd":"JSON","area":"JSON",'
    '"supercategory":"JSON"}'
)
# With kwcoco's videos: the track id too (its JSON text `track`, for _coco_videos).
_ANN_TRACKED = ANN[:-1] + ',"track_id":"JSON"}'

_ANN_KEYS = (
    '{"id":null,"image_id":null,"category_id":null,"bbox":null,"segmentation":null,"score":null}'
)
# An annotation is `plain` when its text is as long as the texts of these keys and their
# values, none of them null, laid out compactly: then each of its keys is one of them, given
# once (the engine writes a record's text compactly, and each value's text as within it, so
# any other key, a null value, or a key given twice, whose first value alone is parsed, makes
# the record longer). Measured without a parse of its keys (`json_keys`, asked only of the
# other records). Its attributes are then made from its `area`
# and `iscrowd` alone, in the order the record gives them, with no merge of JSON (by one
# `concat` of the parts, not a chain of `||` that makes each step's text): of the two,
# the first whose `"area":` or `"iscrowd":` appears in its text is the first key (in a record
# SQL takes, only their own values may hold an object, whose keys come after their own, and a
# string's quotes are escaped). When neither value holds a quote, neither text is anywhere
# else in the record, and one LIKE tells the order (two `strpos`, which count characters,
# cost a seventh of the statement); else the first of each is looked for. It holds no null
# extra value, no keypoints and no supercategory of its own, nothing the other records are
# searched for. A key given twice is left to the per-record path: its reader keeps the last
# value, the engine's the first, so a record (annotation or image) giving a key twice goes
# that way.
_PLAIN = ("id", "image_id", "category_id", "bbox", "segmentation", "score", "area", "iscrowd")
# `{"id":1,"bbox":[...]}`: the braces, less the last comma, and `"key":value,` for each.
_PLAIN_LENGTH = "1 + " + " + ".join(
    f"coalesce(strlen(d.{key}) + {len(key) + 4}, 0)" for key in _PLAIN
)
# Whether the record `x` (the engine's text), `d` its keys parsed as ANN, is plain.
PLAIN = f"coalesce(left(x, 1) = '{{' AND strlen(x) = {_PLAIN_LENGTH}, false)"
_PLAIN_ATTRIBUTES = """CASE
        WHEN d.iscrowd IS NULL THEN concat(opened, ',"area":' || d.area, ',"iscrowd":0}')
        WHEN d.area IS NULL THEN concat(opened, ',"iscrowd":', d.iscrowd, '}')
        WHEN CASE WHEN contains(d.area, '"') OR contains(d.iscrowd, '"')
            THEN strpos(x, '"area":') < strpos(x, '"iscrowd":')
            ELSE x LIKE '%"area":%"iscrowd":%' END
            THEN concat(opened, ',"area":', d.area, ',"iscrowd":', d.iscrowd, '}')
        ELSE concat(opened, ',"iscrowd":', d.iscrowd, ',"area":', d.area, '}') END"""

# A box's numbers and a polygon's rings, cast from the engine's text of them without a
# regular expression first (one cost a tenth of the statement): a cast of JSON to a list
# of numbers is lenient, so what it would take that the per-record path refuses is looked for
# before it: a string (its quotes) or a boolean (`true` holds a `u`, `false` an `a`: no
# number's text holds either). Any other value (null, an object, a list where a number
# should be, a number where a list should be) casts to NULL, in the list or as the list:
# `ok` takes no box with a NULL (its four numbers are compared), no ring that is NULL or
# holds one (the points are counted), as before. A polygon's bounds are those of every
# other one of its points: its rings are of even length when SQL takes it.
_NOT_NUMBERS = "contains({v}, '\"') OR contains({v}, 'u') OR contains({v}, 'a')"
_BOX = f"""CASE WHEN is_null(d.bbox) OR {_NOT_NUMBERS.format(v="d.bbox")} THEN NULL
            ELSE TRY_CAST(d.bbox AS DOUBLE[]) END"""
_RINGS = f"""CASE WHEN is_null(d.segmentation) OR d.segmentation = '[]'
            OR {_NOT_NUMBERS.format(v="d.segmentation")} THEN NULL
            ELSE TRY_CAST(d.segmentation AS DOUBLE[][]) END"""

# The start of a category's annotations' attributes: the keys of the annotation's own text
# (`extra`, written compactly by json_merge_patch) are appended to it as a merge would append
# them, by concatenation, when none of them is a key the merge would replace (`opened`: the
# head without its closing brace, made once per category).
_HEAD = """CASE WHEN supercategory IS NULL THEN json_object('category_id', id::JSON)
    ELSE json_object('category_id', id::JSON, 'supercategory', supercategory) END::VARCHAR"""


# One row per annotation, joined to its image (`_wb_images`: the images stored, with their
# ordinal `o`) and category (`_wb_cats`, keyed by the id's JSON text). The CTEs are not
# materialised: the engine computes each column of theirs once either way, and writing them
# out cost a tenth of the statement. A box's geometry is NULL here: its one ring is made from
# its bounds by the write's ROIS, so that the rows staged and sorted hold no list for three
# ROIs in four. The record's text `x` is
# kept for the per-record path's records only (NULL when `ok`): they are then found without
# reading every record's text again. The records are those of one batch of pieces
# (`_wb_items`, emptied for the next batch). Neither the kind (a box when the geometry is
# NULL) nor the image's size (FRAMES joins the images) is carried: past one write every row
# here is fetched and kept in its write's file (workbench.ingest._coco_staged).
# An integer id's text is the engine's, which writes an integer as Python's str() does (-0 as 0,
# no leading zero): it is the ROI's id as it is, not cast to a number and back.
# The image and category ids are not checked for type: the joins find only the keys of the
# images and categories stored, which are strings or integers, as JSON text (1 and "1" differ).
def annotation_rows(tracks: bool = False) -> str:
    """ANNOTATION_ROWS, with each row's `track` (its `track_id`'s JSON text) for `tracks`."""
    spec, track = (_ANN_TRACKED, " d.track_id AS track,") if tracks else (ANN, "")
    # (a record naming `track` goes the per-record way: its own key keeps its track's record
    # off its attributes, and a nested one does not)
    track_ok = """ AND NOT contains(x, '"track"')""" if tracks else ""
    return f"""
WITH read AS (
    SELECT i, x, try(from_json(x, '{spec}')) AS d, {_ODD} AS odd,
        left(x, 1) = '{{' AS object, strlen(x) <= {MAX_JSON_FIELD_BYTES // 2} AS small
    FROM _wb_items),
keyed AS (SELECT *, {PLAIN} AS plain FROM read),
parsed AS (
    SELECT *,
        CASE WHEN plain THEN true WHEN contains(x, '"keypoints"') OR contains(x, '\\')
            THEN coalesce((x->'$.keypoints')::VARCHAR, '[]') = '[]' ELSE true END AS no_points,
        CASE WHEN NOT plain THEN nullif(json_merge_patch(x, '{_ANN_KEYS}')::VARCHAR, '{{}}')
            END AS extra,
        CASE WHEN NOT plain THEN try(json_keys(x)) END AS keys
    FROM keyed),
valued AS (
    SELECT p.*, img.o, c.name, c.name_ok,
        c.supercategory, c.category_json, c.keypoints AS category_keypoints, c.head, c.opened,
        CASE WHEN is_null(d.id) THEN CAST(i + 1 AS VARCHAR) WHEN is_str(d.id) THEN d.id->>'$'
            WHEN is_int(d.id) THEN d.id::VARCHAR END AS id,
        {_BOX} AS box,
        {_RINGS} AS rings
    FROM parsed p
    LEFT JOIN (SELECT key AS image_key, o FROM _wb_images) img
        ON img.image_key = p.d.image_id
    LEFT JOIN (SELECT key AS category_key, id AS category_json, name, supercategory, keypoints,
        text_ok(name, {MAX_LABEL_LENGTH}) AS name_ok, {_HEAD} AS head, left(head, -1) AS opened
        FROM _wb_cats) c ON c.category_key = p.d.category_id),
shaped AS (
    SELECT *, rings AS geometry, flatten(rings) AS points FROM valued)
SELECT * EXCLUDE (x), CASE WHEN ok THEN NULL ELSE x END AS x FROM (
SELECT o, i, x, id, name AS label,{track}
    CASE WHEN is_null(d.id) THEN hash(x, i) ELSE hash(x) END AS h,
    NOT plain AND x LIKE '%"image_id"%"image_id"%' AS twice,
    TRY_CAST(d.score AS DOUBLE) AS confidence, geometry,
    CASE WHEN box IS NOT NULL THEN box[1]
        ELSE list_min(list_slice(points, 1, len(points), 2)) END
        AS x_min,
    CASE WHEN box IS NOT NULL THEN box[2]
        ELSE list_min(list_slice(points, 2, len(points), 2)) END
        AS y_min,
    CASE WHEN box IS NOT NULL THEN box[1] + box[3]
        ELSE list_max(list_slice(points, 1, len(points), 2)) END
        AS x_max,
    CASE WHEN box IS NOT NULL THEN box[2] + box[4]
        ELSE list_max(list_slice(points, 2, len(points), 2)) END
        AS y_max,
    CASE WHEN plain THEN {_PLAIN_ATTRIBUTES}
        WHEN extra IS NULL OR NOT (contains(extra, '"category_id"')
            OR contains(extra, '"supercategory"')
            OR (d.iscrowd IS NULL AND contains(extra, '"iscrowd"')))
        THEN opened || coalesce(',' || substr(extra, 2, length(extra) - 2), '')
            || CASE WHEN d.iscrowd IS NULL THEN ',"iscrowd":0}}' ELSE '}}' END
        ELSE json_merge_patch(json_merge_patch(head, coalesce(extra, '{{}}')),
            CASE WHEN d.iscrowd IS NULL THEN '{{"iscrowd":0}}' ELSE '{{}}' END)::VARCHAR
        END AS attributes0,
    CASE WHEN d.area IS NULL THEN box[3] * box[4] END AS box_area,
    coalesce(NOT odd AND object AND d IS NOT NULL
        AND CASE WHEN d.id IS NULL THEN NOT contains(x, '"id":null')
            WHEN is_str(d.id) THEN text_ok(id, {MAX_ID_LENGTH}) ELSE id IS NOT NULL END
        AND o IS NOT NULL AND name IS NOT NULL AND name_ok
        AND (is_null(d.bbox) OR (box IS NOT NULL AND len(box) = 4
             AND box[3] BETWEEN 0 AND {MAX_COORDINATE} AND box[4] BETWEEN 0 AND {MAX_COORDINATE}
             AND box[1] BETWEEN -{MAX_COORDINATE} AND {MAX_COORDINATE}
             AND box[2] BETWEEN -{MAX_COORDINATE} AND {MAX_COORDINATE}
             AND box[1] + box[3] <= {MAX_COORDINATE} AND box[2] + box[4] <= {MAX_COORDINATE}))
        AND (is_null(d.segmentation) OR d.segmentation = '[]' OR (rings IS NOT NULL
             AND len(rings) > 0 AND len(rings) <= {MAX_RINGS_PER_ROI}
             AND list_bool_and(list_transform(rings, lambda r: r IS NOT NULL
                 AND len(r) % 2 = 0 AND len(r) >= 6))
             AND list_count(points) = len(points) AND len(points) <= {2 * MAX_POINTS_PER_ROI}
             AND list_min(points) >= -{MAX_COORDINATE} AND list_max(points) <= {MAX_COORDINATE}
             AND NOT is_null(d.area)))
        AND (rings IS NOT NULL OR box IS NOT NULL)
        AND (is_null(d.score) OR (is_num(d.score)
             AND TRY_CAST(d.score AS DOUBLE) BETWEEN 0 AND 1))
        AND CASE WHEN plain THEN true ELSE d.supercategory IS NULL AND no_points
             AND NOT contains(coalesce(extra, ''), ':null')
             AND len(list_distinct(keys)) = len(keys) END
        AND small{track_ok}, false) AS ok
FROM shaped)
"""


ANNOTATION_ROWS = annotation_rows()
# The columns of ANNOTATION_ROWS for the frames' digests (workbench.ingest._coco_digests),
# beside the image the conversion joined (`o`, by the JSON text of `image_id`): the record's
# text's hash (with its place in the file when it has no `id`: its ROI is numbered by it),
# and whether it may name `image_id` twice (looked for as the digests' own pass
# looks, but only in the records not plain: a plain record gives each key once). Not kept
# past the batch when the annotations are kept by write.
DIGESTED = ("h", "twice")
# One write's annotations, kept in the engine: the first batch's rows, then the others'.
ANNOTATIONS = "CREATE OR REPLACE TEMP TABLE _wb_ann AS "
MORE_ANNOTATIONS = "INSERT INTO _wb_ann "
# Appended to ANNOTATION_ROWS when the images take more than one write: a batch's rows in the
# order of the images (`o`, then the file's), so that they are cut into the writes' ranges by
# bisection. (The annotations are not grouped by image: one sort of all of them into image
# order wrote several times the file's size to the engine's spill folder at 10 GB.)
IN_IMAGE_ORDER = "ORDER BY o, i"

# The annotations of images $first..$last whose id came before on their image, among those SQL
# took (`_wb_ann`) and those Python made (`_wb_t`: o, i, id): the pairs given twice are found
# by an aggregate, and only their rows ordered by a window.
AGAIN = """
WITH a AS (SELECT o, i, id FROM _wb_ann WHERE ok AND o BETWEEN $first AND $last
    UNION ALL SELECT * FROM _wb_t WHERE o BETWEEN $first AND $last),
twice AS (SELECT o, id FROM a GROUP BY o, id HAVING count(*) > 1)
SELECT i, id FROM (SELECT a.i, a.id, row_number() OVER (PARTITION BY a.o, a.id
    ORDER BY a.i) AS r FROM a SEMI JOIN twice ON twice.o = a.o AND twice.id = a.id)
WHERE r > 1
"""

# What SQL stores of the annotations (ok, of a stored image, not a repeated id on it) of the
# images first..last, in no order: the caller sorts the rows by (_line, _i) when the table is
# not already so (IN_IMAGE_ORDER), which Arrow does for less than the engine. Only the
# columns that differ between rows: the caller adds the others (the field, the labels as
# [label], no sources, mask, track or visibility, and the frame ids, taken from the images by
# ordinal rather than carried on every annotation's row) after sorting. A box's one ring is
# made here from its bounds (a NULL geometry in `_wb_ann`: a box). The attributes stay text:
# a CASE between json_merge_patch's JSON and the text `attributes0` would cast every row's text
# to JSON, which parses it (a fifth of this statement), to cast it back.
_ROIS = """
SELECT id, label, confidence, CASE WHEN geometry IS NULL THEN 'box' ELSE 'polygon' END AS kind,
    coalesce(geometry, [[x_min, y_min, x_max, y_min, x_max, y_max, x_min, y_max]]) AS geometry,
    x_min, y_min, x_max, y_max, (x_max - x_min) * (y_max - y_min) AS area,
    {attributes} AS attributes,
    o AS _line, i AS _i{track}
FROM {rows} WHERE ok AND o BETWEEN $first AND $last
"""
_ATTRIBUTES = """CASE WHEN box_area IS NOT NULL THEN json_merge_patch(attributes0,
        json_object('area', box_area))::VARCHAR ELSE attributes0 END"""
ROIS = _ROIS.format(attributes=_ATTRIBUTES, track="", rows="_wb_ann")
# With kwcoco's videos (workbench.ingest._coco_videos): each ROI of a video frame on its track,
# an integer track id within 32 bits its own index, a named one numbered by `_wb_tracks`, and
# any ROI's track record (`_wb_track_records`, a still image's too) appended as `track` (the last key,
# as Python appends it; the records SQL takes hold no key `track`).
_TRACK_INDEX = f"""CASE WHEN v.video IS NULL THEN NULL
        WHEN is_int(a.track) AND int_of(a.track) BETWEEN {-MAX_INT32 - 1} AND {MAX_INT32}
        THEN int_of(a.track)::INTEGER ELSE t.number END"""
ROIS_TRACKED = _ROIS.format(
    attributes=f"""CASE WHEN record IS NULL THEN {_ATTRIBUTES}
        ELSE left({_ATTRIBUTES}, -1) || ',"track":' || record || '}}' END""",
    track=", track_index",
    rows=f"""(SELECT a.*, {_TRACK_INDEX} AS track_index, r.record
    FROM _wb_ann a LEFT JOIN _wb_vframes v ON v.o = a.o
    LEFT JOIN _wb_tracks t ON t.video = v.video AND t.name = str_of(a.track)
    LEFT JOIN _wb_track_records r ON r.key = CASE WHEN is_int(a.track)
        THEN 'i' || int_of(a.track) WHEN is_str(a.track) THEN 's' || str_of(a.track) END
    WHERE a.ok AND a.o BETWEEN $first AND $last)""",
)
# Per frame written with a warning: the warnings of its ROIs made by SQL (counted with its
# ROIs by FRAMES), and the frames `$warned` (whose ROIs made in Python add theirs).
ROI_WARNINGS = """
SELECT _line, image_id, zero, outside FROM _wb_frames
WHERE zero > 0 OR outside > 0 OR list_contains($warned, _line)
ORDER BY _line
"""

# The frames of images first..last, checked as validate_frame checks them, with the counts
# of their ROIs made by SQL, of those with zero area and of those outside the image, in one
# pass over the annotations (the range is repeated on `_wb_ann` so that, in image order, only
# its row groups are read).
_FRAMES = f"""
CREATE OR REPLACE TEMP TABLE _wb_frames AS
SELECT i.frame_id AS id, $dataset AS dataset, $version AS version, {{context}} AS context_id,
    {{placed}}, {{metadata}} AS metadata, i.weather, i.time_of_day, i.camera, i.location,
    NULL::TIMESTAMP AS saved, NULL::VARCHAR AS saved_in_version, i.o AS _line,
    i.id AS image_id, i.width, i.height, i.uri, {{video}} AS video,
    i.ctype, coalesce(a.rois, 0) AS rois, coalesce(a.zero, 0) AS zero,
    coalesce(a.outside, 0) AS outside,
    text_ok(i.frame_id, {MAX_ID_LENGTH}) AND {URI_OK.replace("uri", "i.uri")}
        AND coalesce(a.rois, 0) <= {MAX_ROIS_PER_FRAME}{{ok}} AS ok
FROM _wb_images i
LEFT JOIN (SELECT a.o, count(*) AS rois,
    count(*) FILTER (WHERE x_max <= x_min OR y_max <= y_min) AS zero,
    count(*) FILTER (WHERE coalesce(m.width, 0) > 0 AND coalesce(m.height, 0) > 0
        AND NOT (x_min <= m.width AND x_max >= 0 AND y_min <= m.height AND y_max >= 0))
        AS outside
    FROM _wb_ann a JOIN _wb_images m ON m.o = a.o
    WHERE a.ok AND a.o BETWEEN $first AND $last AND m.o BETWEEN $first AND $last
    GROUP BY a.o) a ON a.o = i.o{{join}}
WHERE i.o BETWEEN $first AND $last
"""
FRAMES = _FRAMES.format(
    context="i.uri",
    placed="NULL::BIGINT AS timestamp, NULL::INTEGER AS frame_index, NULL::INTEGER AS num_frames",
    metadata="i.metadata",
    video="NULL::INTEGER",
    ok="",
    join="",
)
# With kwcoco's videos (workbench.ingest._coco_videos): each video frame's context, frame index,
# time, count of frames and metadata from `_wb_vframes`.
VIDEO_FRAMES = _FRAMES.format(
    context="coalesce(v.context_id, i.uri)",
    placed="v.timestamp, v.frame_index, v.num_frames",
    metadata="CASE WHEN v.o IS NULL THEN i.metadata ELSE v.metadata END",
    video="v.video",
    ok=" AND coalesce(v.ok, true)",
    join="\nLEFT JOIN (SELECT * FROM _wb_vframes WHERE o BETWEEN $first AND $last) v ON v.o = i.o",
)
FRAME_ROWS = """
SELECT id, dataset, version, context_id, timestamp, frame_index, num_frames, metadata,
    weather, time_of_day, camera, location, saved, saved_in_version FROM _wb_frames
ORDER BY _line
"""
SOURCE_ROWS = """
SELECT id AS frame_id, 'image' AS id, uri, width, height, ctype AS content_type,
    NULL::BIGINT AS timestamp, NULL::VARCHAR AS preview_uri, NULL::VARCHAR AS masks
FROM _wb_frames ORDER BY _line
"""
