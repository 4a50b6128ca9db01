"""Labelbox export in SQL: the view's ROIs of one field sorted into object lines, answers and
counts by the catalog's engine in one statement over the whole view, so that Python works per
line, never per ROI or keyframe (workbench.ingest._labelbox_export says the same in Python,
ROI by ROI, and writes the contexts this leaves to it).

`lines_query(rois)` wraps `rois`, a SELECT of the view's ROIs of the field with their order
`o` and the columns `ROI_COLUMNS` (workbench.ingest.narrow). Its rows, unsorted (written in
the order of part, context_id, track_index (nulls last), first, o), are told apart by
`part`:
0. `context_id`: a context holding what only the ROI-by-ROI path writes exactly;
1. `what`, `kind`, `n`: ROIs written or skipped, per reason and kind;
2. an object line: `context_id`, `uuid`, and `text`, the line after its uuid as json.dumps
   writes it, when its texts are plain (printable ASCII but `"` and `\\`), it has no track
   or keyframe classifications and its key is plain; else `label`, `confidence`, `attrs`,
   `segments` (its segments' JSON text, each keyframe's `classifications` written as NUL +
   the attributes text + NUL when not empty), which Python writes as json.dumps does;
3. an answer: `context_id`, `uuid`, `start` (its first frame number), and `text`, the line
   after its uuid, when every answer of the context is an object of plain texts (or a plain
   text over the whole video) under a plain label and key; else `label`, `answer`,
   `confidence`, `whole`, `numbers`, `positions` (its rows' frame numbers and positions in
   the context), for Python (`_labelbox_export_rois.answer_lines`, which merges checklists).
"""

from __future__ import annotations

ROI_COLUMNS = (
    "frame_key", "frame_id", "id", "kind", "label", "confidence", "track_index", "keyframe",
    "geometry", "attributes", "source_ids",
)  # fmt: skip

# What an attributes text `attrs` says: its uuid, whether it answers, whether it is odd.
ATTRIBUTES_SAY = """CASE WHEN json_type(attrs, '$.uuid') = 'VARCHAR' AND attrs->>'$.uuid' <> ''
            THEN attrs->>'$.uuid' END AS uuid,
        coalesce(json_exists(attrs, '$.answer'), false) AS answered,
        attrs IS NOT NULL AND (left(attrs, 1) <> '{' OR contains(attrs, chr(0))
            OR coalesce(json_type(attrs, '$.uuid') NOT IN ('VARCHAR', 'NULL'), false)
            OR coalesce(json_type(attrs, '$.global') NOT IN ('BOOLEAN', 'NULL'), false)) AS odd,
        CASE WHEN attrs IS NULL OR NOT json_exists(attrs, '$.classifications')
                OR json_extract(attrs, '$.classifications')::VARCHAR = '[]' THEN '[]'
            ELSE chr(0) || attrs || chr(0) END AS keyframe_classifications"""


def _clean(value: str) -> str:
    """SQL for `_labelbox_export._clean`: whole numbers of 12 digits at most as they are, others
    rounded to 12 significant digits (DuckDB prints a DOUBLE as Python's repr does)."""
    return (
        f"(CASE WHEN {value} = trunc({value}) AND abs({value}) < 1e12 THEN {value} "
        f"ELSE printf('%.12g', {value})::DOUBLE END)"
    )


def _uuid5(digest: str) -> str:
    """SQL for str(uuid.uuid5(uuid.NAMESPACE_URL, name)) from `digest`, the hex SHA-1 of the
    namespace's bytes and the name's (`_DIGEST`)."""
    h = digest
    return (
        f"{h}[1:8] || '-' || {h}[9:12] || '-5' || {h}[14:16] || '-' "
        f"|| ['8', '9', 'a', 'b'][(('0x' || {h}[17])::INT & 3) + 1] || {h}[18:20] || '-' "
        f"|| {h}[21:32]"
    )


_DIGEST = "sha1(unhex('6ba7b8119dad11d180b400c04fd430c8') || encode({name}))"


# Texts json.dumps writes as they are between quotes: printable ASCII but `"` and `\`.
_PLAIN_CHARS = r"[ !#-\[\]-~]*"
# The engine's text of a JSON object of such texts, and of such a text.
_PLAIN_OBJECT = r'\{("P":"P"(,"P":"P")*)?\}'.replace("P", _PLAIN_CHARS)
_PLAIN_TEXT = '"' + _PLAIN_CHARS + '"'
# A line's confidence as json.dumps writes it, when not 1.0 (a DOUBLE as text is its repr).
_CONFIDENCE = """CASE WHEN confidence IS NOT NULL AND confidence <> 1.0
            THEN concat(', "confidence": ', confidence::VARCHAR) ELSE '' END"""


def _plain(text: str) -> str:
    """SQL: whether `text` is written by json.dumps as it is, between quotes."""
    return f"regexp_full_match({text}, '{_PLAIN_CHARS}')"


def _point(x: str, y: str) -> str:
    return "concat('{\"x\": ', " + _clean(x) + ", ', \"y\": ', " + _clean(y) + ", '}')"


# A kept keyframe's JSON text, as `_labelbox_export._keyframe_json` writes it (`k`: the kind
# as `runs` numbers it), after its `joint`. One concat a keyframe, not a chain of `||` (each
# of which makes a string of its own); NULL (left out) where `||` would have made it NULL.
_KEYFRAME = (
    """CASE WHEN g IS NOT NULL AND len(g) % 2 = 0 THEN concat(joint, '{"frame": ', number, ', ',
    CASE k
    WHEN 0 THEN concat('"bbox": {"top": ', top, ', "left": ', "left", ', "height": ', """
    + _clean("cy1 - top")
    + """, ', "width": ', """
    + _clean('cx1 - "left"')
    + """, '}')
    WHEN 1 THEN concat('"point": ', """
    + _point("g[1]", "g[2]")
    + """)
    ELSE concat('"line": [', array_to_string(list_transform(range(1, len(g), 2), lambda i: """
    + _point("g[i]", "g[i + 1]")
    + """), ', '), ']') END, ', "classifications": ', keyframe_classifications, '}') END"""
)


def lines_query(rois: str, data_row_key: str = "globalKey", keyed: bool = False) -> str:
    """The statement of the module docstring over `rois`; its one parameter is True to leave
    every context to the ROI-by-ROI path. `data_row_key` names the data rows' key (globalKey
    or id); with `keyed`, a context's key is the `key` of its row in `_wb_lb_keys`
    (context_id, key), if any, else the context id."""
    if data_row_key not in ("globalKey", "id"):
        raise ValueError(f"data_row_key must be 'globalKey' or 'id', got {data_row_key!r}")
    key_name = '"' + data_row_key + '"'
    key = "coalesce(d.key, s.context_id)" if keyed else "s.context_id"
    join = " LEFT JOIN _wb_lb_keys d ON d.context_id = s.context_id" if keyed else ""
    return (
        """
WITH r AS NOT MATERIALIZED (SELECT *, coalesce(attributes::VARCHAR, '') AS text FROM ("""
        + rois
        + """)),
-- The contexts of the ROIs' frames, numbered (`ci`): tracks are sorted on integers.
ctx AS MATERIALIZED (
    SELECT context_id, row_number() OVER (ORDER BY context_id) AS ci
    FROM (SELECT DISTINCT f.context_id FROM frames f
        WHERE f.frame_key IN (SELECT frame_key FROM r))),
-- Each context's frames numbered as `_labelbox_contexts.Video` numbers them: by frame_index
-- when every frame has one, else by position (`pos`, from 1). A frame_index given twice in
-- a context numbers two frames the same (`same`).
num AS (
    SELECT frame_key, context_id, ci, rank AS pos,
        CASE WHEN indexed THEN frame_index + 1 ELSE rank END AS number,
        indexed AND (frame_index = before OR frame_index = after) AS same
    FROM (SELECT frame_key, context_id, ci, frame_index, row_number() OVER w AS rank,
            lag(frame_index) OVER w AS before, lead(frame_index) OVER w AS after,
            bool_and(frame_index IS NOT NULL) OVER (PARTITION BY context_id) AS indexed
        FROM frames JOIN ctx USING (context_id)
        WINDOW w AS (PARTITION BY context_id
            ORDER BY frame_index NULLS LAST, timestamp NULLS LAST, id))),
-- The source a data row's video shows: its frame's first source.
src AS (
    SELECT frame_id, arg_min(id, rowid) AS source FROM sources
    WHERE frame_id IN (SELECT frame_id FROM r WHERE len(source_ids) > 0) GROUP BY frame_id),
-- What the attributes say, once per distinct text (the ROIs of a track or answer share it).
a AS MATERIALIZED (
    SELECT text, ti, attrs, """
        + ATTRIBUTES_SAY
        + """,
        attrs->'$.answer' AS answer,
        coalesce(json_extract_string(attrs, '$.global') = 'true', false) AS whole
    FROM (SELECT text, nullif(text, '') AS attrs, row_number() OVER () AS ti
        FROM (SELECT DISTINCT text FROM r))),
-- The uuids attributes give, numbered (`ui`).
uids AS MATERIALIZED (
    SELECT uuid, row_number() OVER (ORDER BY uuid) AS ui
    FROM (SELECT DISTINCT uuid FROM a WHERE uuid IS NOT NULL)),
-- Each ROI's context, number, position, uuid (an object without a uuid attribute gets its
-- track's as `_track_uuid` makes it; an answer without one its ROI id) and what becomes of
-- it: an object row, an answer row or why it is skipped. Narrow: what a line writes is read
-- from `r` by `o` for the rows that write it.
rows AS MATERIALIZED (
    SELECT o, frame_key, kind, keyframe, ci, number, pos, what, odd, ti, ui,
        CASE WHEN what = 'answer' THEN label END AS label,
        CASE WHEN what = 'answer' THEN confidence END AS confidence,
        CASE WHEN what = 'answer' THEN coalesce(uuid, id)
            WHEN what = 'object' AND ui IS NULL THEN coalesce(uuid, """
        + _uuid5("digest")
        + """) END AS uuid
    FROM (SELECT *, CASE WHEN what = 'object' AND uuid IS NULL THEN """
        + _DIGEST.format(
            name="CASE WHEN track_index IS NOT NULL THEN context_id || '#' || track_index "
            "ELSE frame_id || '#' || id END"
        )
        + """ END AS digest
    FROM (SELECT r.o, r.frame_key, r.frame_id, r.id, r.kind, r.keyframe, r.track_index, r.text,
            r.label, r.confidence,
            n.context_id, n.ci, n.number, n.pos, a.uuid, a.ti, u.ui,
            CASE
                WHEN len(r.source_ids) > 0
                    AND NOT coalesce(list_contains(r.source_ids, s.source), false) THEN 'source'
                WHEN r.label IS NULL THEN 'label'
                WHEN r.kind = 'classification'
                    THEN CASE WHEN a.answered THEN 'answer' ELSE 'no answer' END
                WHEN r.kind IN ('box', 'point', 'polyline') THEN 'object'
                ELSE 'other' END AS what,
            -- What only the ROI-by-ROI path says exactly: keypoints (a point object per
            -- point), masks (video masks, their pictures copied), attributes that are no
            -- object, a uuid or `global` of another type, a number twice.
            r.kind IN ('keypoints', 'mask') OR n.same OR a.odd AS odd
        FROM r JOIN num n ON n.frame_key = r.frame_key JOIN a ON a.text = r.text
        LEFT JOIN uids u ON u.uuid = a.uuid LEFT JOIN src s ON s.frame_id = r.frame_id))),
odd AS (SELECT DISTINCT ci FROM rows WHERE odd OR ?),
-- The uuids made for objects without a uuid attribute, numbered after those (the same
-- number for the same text).
made AS (
    SELECT d.uuid, coalesce(u.ui, (SELECT count(*) FROM uids) + row_number() OVER ()) AS ui
    FROM (SELECT DISTINCT uuid FROM rows WHERE what = 'object' AND ui IS NULL) d
    LEFT JOIN uids u USING (uuid)),
-- Object rows by track (context, uuid, kind `k`: 0 box, 1 point, 2 polyline, as integers) in
-- frame order; runs of frames that follow each other in the context are segments. Two rows
-- of a track on one frame tie: their context goes to the ROI-by-ROI path (`left_out`).
runs AS MATERIALIZED (
    SELECT o, ci, ui, k, number, pos, frame_key, keyframe, ti,
        lag(pos) OVER t AS before, lead(pos) OVER t AS after
    FROM (SELECT o, ci, ui, CASE kind WHEN 'box' THEN 0 WHEN 'point' THEN 1 ELSE 2 END AS k,
            number, pos, frame_key, keyframe, ti
        FROM rows WHERE what = 'object' AND ui IS NOT NULL
        UNION ALL
        SELECT r.o, r.ci, m.ui, CASE r.kind WHEN 'box' THEN 0 WHEN 'point' THEN 1 ELSE 2 END,
            r.number, r.pos, r.frame_key, r.keyframe, r.ti
        FROM rows r JOIN made m USING (uuid) WHERE r.what = 'object' AND r.ui IS NULL)
    WHERE ci NOT IN (SELECT ci FROM odd)
    WINDOW t AS (PARTITION BY ci, ui, k ORDER BY number)),
-- A track twice on a frame (the ROI-by-ROI path keeps the first): the context is left to it.
left_out AS (SELECT ci FROM odd UNION SELECT DISTINCT ci FROM runs WHERE before = pos),
mine AS NOT MATERIALIZED (SELECT * FROM rows WHERE ci NOT IN (SELECT ci FROM left_out)),
firsts AS NOT MATERIALIZED (SELECT * FROM runs WHERE ci NOT IN (SELECT ci FROM left_out)),
-- The rows a segment keeps: its keyframes and its ends, a box's sides cleaned. Materialised:
-- each value is read several times by the texts.
boxes AS MATERIALIZED (
    SELECT *, """
        + _clean("x0")
        + ' AS "left", '
        + _clean("y0")
        + " AS top, "
        + _clean("x1")
        + " AS cx1, "
        + _clean("y1")
        + """ AS cy1
    FROM (SELECT k.ci, k.ui, k.k, k.number, k.o,
        a.keyframe_classifications,
        m.label, m.confidence, a.attrs, m.track_index, m.geometry[1] AS g,
        CASE WHEN k.before IS NULL THEN '' WHEN k.before <> k.pos - 1
            THEN ']}, {"keyframes": [' ELSE ', ' END AS joint,
        CASE WHEN k.k = 0 THEN list_min(g[1:-1:2]) END AS x0,
        CASE WHEN k.k = 0 THEN list_min(g[2:-1:2]) END AS y0,
        CASE WHEN k.k = 0 THEN list_max(g[1:-1:2]) END AS x1,
        CASE WHEN k.k = 0 THEN list_max(g[2:-1:2]) END AS y1
    FROM (SELECT * FROM firsts WHERE keyframe IS NOT false OR before IS DISTINCT FROM pos - 1
        OR after IS DISTINCT FROM pos + 1) k
    JOIN r m ON m.o = k.o JOIN a ON a.ti = k.ti)),
-- Each track's segments; its context and uuid are joined to the tracks, not to their rows.
tracks AS (
    SELECT ci, ui, k,
        '[{"keyframes": [' || string_agg("""
        + _KEYFRAME
        + """, '' ORDER BY number) || ']}]' AS segments,
        arg_min({label: label, confidence: confidence, attrs: attrs, track_index: track_index},
            number) AS h
    FROM boxes GROUP BY ci, ui, k),
segments AS (
    SELECT c.context_id, u.uuid, t.* FROM tracks t JOIN ctx c USING (ci)
    JOIN (SELECT uuid, ui FROM uids
        UNION ALL SELECT uuid, ui FROM made WHERE ui > (SELECT count(*) FROM uids)) u USING (ui)),
heads AS (SELECT ci, ui, k, min(number) AS first, min(o) AS o FROM firsts GROUP BY ALL),
-- Every object row of a context SQL writes is in `firsts`: its objects are counted as kept.
counts AS (
    SELECT CASE WHEN what = 'object' THEN 'kept' ELSE what END AS what,
        CASE WHEN what <> 'object' THEN kind END AS kind, count(*) AS n FROM mine GROUP BY ALL
    UNION ALL SELECT 'frames', NULL, count(DISTINCT frame_key) FROM mine
        WHERE what IN ('object', 'answer')),
-- Each object line's text after its uuid, where the texts are plain (else Python writes it).
objects AS (
    SELECT *, CASE WHEN """
        + _plain("label")
        + " AND "
        + _plain("key")
        + """ AND isfinite(coalesce(confidence, 1.0))
            AND NOT contains(segments, chr(0)) AND NOT coalesce(
                contains(attrs, '"track_classifications"') OR contains(attrs, chr(92)), false)
        THEN concat(', "dataRow": {"""
        + key_name
        + """: "', key, '"}, "name": "', label, '"', """
        + _CONFIDENCE
        + """, ', "classifications": [], "segments": ', segments, '}') END AS text
    FROM (SELECT s.context_id, """
        + key
        + """ AS key, s.uuid, s.h.label, s.h.confidence, s.h.attrs,
            s.h.track_index, h.first, h.o, s.segments
        FROM heads h JOIN segments s USING (ci, ui, k)"""
        + join
        + """)),
-- The answers by line: their frames' numbers and positions, the first and last of each, and
-- how many rows (the frames follow each other when as many as the positions they span, and
-- distinct). Grouped on the key's columns alone: another column hashed per row costs more.
answers AS (
    SELECT c.context_id, any_value("""
        + key.replace("s.", "c.")
        + """) AS key, w.uuid, w.label, a.answer, w.confidence, a.whole,
        list(w.number) AS numbers, list(w.pos) AS positions, min(w.o) AS o,
        min(w.number) AS start, max(w.number) AS last, min(w.pos) AS p0, max(w.pos) AS p1,
        count(*) AS held
    FROM mine w JOIN a USING (ti) JOIN ctx c USING (ci)"""
        + join.replace("s.", "c.")
        + """
    WHERE w.what = 'answer'
    GROUP BY c.context_id, w.uuid, w.label, a.answer, w.confidence, a.whole),
-- Each answer line's text after its uuid where every answer of its context is an object of
-- plain texts (or a plain text over the whole video) with a plain label: the others, their
-- checklists merged, are Python's (`_labelbox_export_rois.answer_lines`).
said AS (
    SELECT *, bool_and(simple) OVER (PARTITION BY context_id) AS written
    FROM (SELECT *, coalesce("""
        + _plain("label")
        + " AND "
        + _plain("key")
        + """ AND isfinite(coalesce(confidence, 1.0)) AND (
            json_type(answer) = 'OBJECT' AND regexp_full_match(answer::VARCHAR, '"""
        + _PLAIN_OBJECT
        + """')
                AND len(json_keys(answer)) = len(list_distinct(json_keys(answer)))
            OR whole AND regexp_full_match(answer::VARCHAR, '"""
        + _PLAIN_TEXT
        + """')), false) AS simple,
        NOT whole AND (held <> p1 - p0 + 1 OR len(list_distinct(positions)) <> held) AS gaps
    FROM answers)),
-- The runs of frames of answers with gaps: numbers and positions distinct and sorted (one
-- number per position in a context SQL writes: they sort alike), where each run starts and
-- ends.
runs_of AS (
    SELECT *,
        list_filter(range(1, len(ps) + 1), lambda i: i = 1 OR ps[i] <> ps[i - 1] + 1) AS starts,
        list_filter(range(1, len(ps) + 1), lambda i: i = len(ps) OR ps[i + 1] <> ps[i] + 1)
            AS ends
    FROM (SELECT *, CASE WHEN gaps THEN list_sort(list_distinct(numbers)) END AS ns,
            CASE WHEN gaps THEN list_sort(list_distinct(positions)) END AS ps
        FROM said))
SELECT * FROM (
    SELECT 0 AS part, context_id FROM left_out JOIN ctx USING (ci)
    UNION ALL BY NAME SELECT 1 AS part, what, kind, n FROM counts
    UNION ALL BY NAME
    SELECT 2 AS part, context_id, uuid, label, confidence, attrs, track_index, first, o,
        CASE WHEN text IS NULL THEN segments END AS segments, text
    FROM objects
    UNION ALL BY NAME
    SELECT 3 AS part, context_id, uuid, label, answer, confidence, whole,
        CASE WHEN NOT written THEN numbers END AS numbers,
        CASE WHEN NOT written THEN positions END AS positions, o, start,
        CASE WHEN written THEN concat(', "dataRow": {"""
        + key_name
        + """: "', key, '"}, "name": "', label,
            '", "answer": ', replace(replace(answer::VARCHAR, '":"', '": "'), '","', '", "'),
            -- the frames after the confidence, as answer_lines puts them
            """
        + _CONFIDENCE
        + """,
            CASE WHEN whole THEN ''
                WHEN NOT gaps THEN concat(', "frames": [{"start": ', start, ', "end": ', last,
                    '}]')
                ELSE concat(', "frames": [', array_to_string(list_transform(starts,
                    lambda s, j: concat('{"start": ', ns[s], ', "end": ', ns[ends[j]], '}')),
                    ', '), ']') END, '}') END AS text
    FROM runs_of)
"""
    )
