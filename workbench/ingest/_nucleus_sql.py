"""The SQL that turns NDJSON lines of Nucleus scenes into catalog rows, set-based.

It runs on an in-memory engine over `_wb_lines(n, j, marked)` (line number, text, whether
the line holds what SQL cannot read exactly: _columnar.ndjson_batches). A scene is `ok` only
when SQL can vouch that the per-record path (workbench.ingest.nucleus) would store every one
of its frames exactly as SQL builds it: a scene of image frames with a string reference_id,
a numeric frame_rate, object metadata, and items that each have a string reference_id
(unique in the scene), a remote `image_location` and object metadata without the keys the
import adds. Any other scene goes whole to the per-record path, which stores it or rejects
its items with their usual errors.

JSON leaves are typed by their first character, as in _clearml_sql: DuckDB's casts are
lenient (`true` becomes 1), the per-record path is not.
"""

from __future__ import annotations

import functools
import re

from workbench.ingest._nucleus_export import FPS_KEY, SCENE_KEY
from workbench.model.limits import (
    MAX_ID_LENGTH,
    MAX_TIMESTAMP,
    MAX_URI_LENGTH,
)
from workbench.model.records import PROMOTED_KEYS

# What no id may hold (model.validation.FORBIDDEN_CHARACTERS, in RE2's words).
_FORBIDDEN = r"[\x00-\x1f\x7f-\x9f\x{061c}\x{200e}\x{200f}\x{202a}-\x{202e}\x{2066}-\x{2069}]"

MACROS = rf"""
CREATE MACRO nu_str(x) AS coalesce(left(x, 1) = '"', false);
CREATE MACRO nu_obj(x) AS x IS NULL OR left(x, 1) = '{{';
CREATE MACRO nu_num(x) AS coalesce(
    regexp_full_match(x, '-?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?'), false);
CREATE MACRO nu_int(x) AS coalesce(regexp_full_match(x, '-?[0-9]{{1,18}}'), false);
CREATE MACRO nu_id_ok(s, plain) AS coalesce(CASE WHEN plain THEN strlen(s) BETWEEN 1 AND {MAX_ID_LENGTH}
    ELSE length(s) BETWEEN 1 AND {MAX_ID_LENGTH} AND NOT regexp_matches(s, '{_FORBIDDEN}') END, false);
CREATE MACRO nu_dup(k) AS len(k) != len(list_distinct(k));
CREATE MACRO nu_dups(ks) AS coalesce(list_bool_or(list_transform(ks, lambda k: nu_dup(k))), false);
CREATE MACRO nu_ext(p) AS lower(regexp_extract(regexp_extract(p, '[^/]*$'),
    '^\.*[^.].*(\.[^.]*)$', 1));
CREATE MACRO nu_keys_unique(j) AS NOT nu_dups(list_distinct(json_keys('[' || j || ']', '$..*')));
CREATE MACRO nu_metadata_keys_unique(frames) AS NOT nu_dups(list_distinct(json_keys('[' ||
    array_to_string(list_transform(frames, lambda it: coalesce(it.metadata, 'null')), ',')
    || ']', '$..*')));
"""

# One parse of the whole line. An item that is not an object parses as a struct of NULLs (no
# string reference_id: its scene goes to the per-record path), a `frames` that is not a list
# as NULL.
# (The client's other location keys are not read: an item whose `image_location` is not a
# non-empty string sends its scene to the per-record path, which reads them.)
_ITEM = '{"reference_id":"JSON","image_location":"JSON","metadata":"JSON"}'
_SCENE = (
    '{"reference_id":"JSON","frame_rate":"JSON","metadata":"JSON",'
    f'"frames":[{_ITEM}],"video_location":"JSON","video_url":"JSON"}}'
)
# The keys a scene of image frames gives, each once, its items' too: the engine's strict parse
# (`from_json_strict`) refuses an object of the schema that lacks one of its keys or gives one
# twice (a key of no schema is ignored, as both paths ignore it), so one parse reads the line
# and vouches for the keys SQL reads at the scene's and the items' level.
_STRICT = f'{{"reference_id":"JSON","frame_rate":"JSON","metadata":"JSON","frames":[{_ITEM}]}}'
# What sends a line to the per-record path whatever it parses as (`_SIZED`), and with the video
# keys, what a line the strict parse takes may not hold (`_ODD`).
_SIZED = '"(?:width"|height"|pointcloud)'
_ODD = '"(?:video_|width"|height"|pointcloud)'
# `_ODD` run only on the lines holding one of its words: a scan for a word is a few times
# cheaper than the expression's (whose every `"` starts a match), and JSON lines rarely hold one.
_ODD_WORDS = " OR ".join(
    f"contains(j, '{word}')" for word in ("video_", 'width"', 'height"', "pointcloud")
)


# What is read of an item's metadata, in one parse: the keys copied to their own columns, then
# the keys the import adds (a JSON null reads as 'null', a key not there as NULL).
_READ_KEYS = (*PROMOTED_KEYS, SCENE_KEY, FPS_KEY)
_READ = ", ".join(f"'$.{key}'" for key in _READ_KEYS)
_ADDED = len(PROMOTED_KEYS)


def _promoted(key: str) -> tuple[str, str]:
    """(check, value) of a metadata key copied to its own column (`p_<key>`, NULL for JSON
    null): strings, integers, null, objects and lists are taken here (floats and booleans
    print differently in Python)."""
    v = f"p_{key}"
    # (the integer pattern only on the values that need it)
    check = (
        f"CASE WHEN {v} IS NULL OR left({v}, 1) IN ('\"', '{{', '[') THEN true ELSE nu_int({v}) END"
    )
    value = (
        f"CASE WHEN {v} IS NULL OR left({v}, 1) IN ('{{', '[') THEN NULL "
        f"WHEN nu_str({v}) THEN {v}->>'$' ELSE TRY_CAST(TRY_CAST({v} AS BIGINT) AS VARCHAR) END"
    )
    return check, value


_CHECKS = [_promoted(k) for k in PROMOTED_KEYS]

# One row per line that may hold a scene SQL takes (text starting with `{`, not marked): the
# scene's own values and whether they are ones SQL takes. The parse is inside `try`: a line
# that is not JSON (or that the parse refuses) parses as NULL, and its scene goes to the
# per-record path, which names the problem (one parse, where `json_valid` first was two).
# A key given twice in an object whose keys the conversion reads, or whose text it copies,
# sends the scene to the per-record path (which keeps the last of them). A line the strict
# parse takes (`strict`: every key of _STRICT given once at the scene's and each item's level,
# no `"video_` anywhere, so neither video key is given) needs only its items' metadata checked,
# nested objects and all, which is done with the items (`items`' `vouched`, then
# METADATA_KEYS for the scenes some item of which it could not vouch for): the scene's
# metadata is read by orjson (`_nucleus_convert._tails`), which keeps the last of a key as the
# per-record path does, and the items' other keys are read by neither path. Any other line is
# parsed as before, every object of it checked (`nu_keys_unique`: one `json_keys` of the line
# inside a list, each distinct list of keys checked once); a CASE runs that parse and check
# only on the lines the strict parse refused. A line naming `"width"`, `"height"` or
# `"pointcloud` (an item's size as the Nucleus client writes it, a pointcloud item) is not
# strict either, and goes to the per-record path, which reads the size and refuses
# pointclouds: one regular expression (`_ODD`) finds these keys and the video keys, run only on
# the lines that hold one of its words (`_ODD_WORDS`). `plain`: the line holds only ASCII, no
# backslash and no DEL, so none of its strings can hold a character an id or URI may not (the
# parse refuses raw control characters in strings; any other one is non-ASCII or escaped),
# and the items' regular expressions are left out.
_SCENE_COLUMNS = f"""
SELECT n, d.reference_id->>'$' AS context_id, d.frame_rate AS rate,
    d.metadata AS scene_meta, d.frames AS frames, strict,
    NOT contains(j, '\\') AND NOT contains(j, chr(127)) AND strlen(j) = length(j) AS plain,
    CASE WHEN d IS NULL THEN false ELSE nu_str(d.reference_id)
        AND nu_id_ok(d.reference_id->>'$', false)
        AND d.video_location IS NULL AND d.video_url IS NULL
        AND CASE WHEN strict THEN true ELSE NOT regexp_matches(j, '{_SIZED}') END
        AND len(d.frames) > 0 AND nu_num(d.frame_rate) AND nu_obj(d.metadata)
        AND CASE WHEN strict THEN true ELSE nu_keys_unique(j) END END AS ok
FROM parsed
"""
SCENES = f"""
CREATE OR REPLACE TEMP TABLE _nu_s AS
WITH strict AS (
    SELECT n, j, try(from_json_strict(j, '{_STRICT}')) AS s,
        CASE WHEN {_ODD_WORDS} THEN regexp_matches(j, '{_ODD}') ELSE false END AS odd
    FROM _wb_lines
    WHERE NOT marked AND left(ltrim(j), 1) = '{{'),
parsed AS (
    SELECT n, j, s IS NOT NULL AND NOT odd AS strict,
        CASE WHEN s IS NOT NULL AND NOT odd THEN {{
            'reference_id': s.reference_id, 'frame_rate': s.frame_rate,
            'metadata': s.metadata, 'frames': s.frames,
            'video_location': NULL::JSON, 'video_url': NULL::JSON}}
        ELSE try(from_json(j, '{_SCENE}')) END AS d
    FROM strict){_SCENE_COLUMNS}"""
# The same without the strict parse: every line parsed by `from_json` and checked whole. A
# line the strict parse refuses costs both parses, so a batch takes this form when most lines
# of the batch before it were refused (a file whose items carry no metadata, say:
# `_nucleus_convert.Strict`).
SCENES_WHOLE = f"""
CREATE OR REPLACE TEMP TABLE _nu_s AS
WITH parsed AS (
    SELECT n, j, false AS strict, try(from_json(j, '{_SCENE}')) AS d FROM _wb_lines
    WHERE NOT marked AND left(ltrim(j), 1) = '{{'){_SCENE_COLUMNS}"""

# An item's file extension, lower case, as mimetypes reads it (`nu_ext`): the most common ones
# found by the name's end alone when a character other than `/` and `.` comes before them
# (the regular expressions cost twice as much).
_EXT = (
    "CASE "
    + " ".join(
        f"WHEN ends_with(path, '{e}') AND strlen(path) > {len(e)} "
        f"AND NOT ends_with(path, '/{e}') AND NOT ends_with(path, '.{e}') THEN '{e}'"
        for e in (".jpg", ".png", ".jpeg")
    )
    + " ELSE nu_ext(path) END"
)

# One row per item of the scenes SQL takes, in the columns of the catalog's rows (but the
# content type, looked up by `ext`), with `ok` and `vouched`, fetched at once: the checks of a
# scene as a whole (every item ok, ids once each) are made on the fetched rows
# (_nucleus_convert), where a table of the items, a statement grouping them by scene and one
# joining the scenes taken back to the items cost more. `_nu_tails(n, rate, tail)` holds the
# frame rate of each scene as Python reads it and the end of its frames' metadata text
# (`"scene":...,"fps":...}`), made per scene in Python. `num_frames` is the scene's number of
# items: what the import's last step (video.count_context_frames) finds when the scene is
# stored whole, as a scene usually is; it sets the frames whose count differs.
_ITEMS = f"""
WITH items AS (
    SELECT s.n, s.context_id, s.plain, s.strict, t.rate, t.tail, unnest(s.frames) AS it,
        generate_subscripts(s.frames, 1) - 1 AS frame_index, len(s.frames) AS num_frames
    FROM _nu_s s JOIN _nu_tails t ON t.n = s.n WHERE s.ok),
valued AS (
    SELECT n, context_id, plain, strict, tail, frame_index, num_frames, it,
        it.reference_id->>'$' AS id, it.image_location->>'$' AS uri, it.metadata AS meta,
        CASE WHEN left(it.metadata, 1) = '{{' THEN json_extract(it.metadata, [__READ__]) END AS p,
        TRY_CAST(roundbankers(frame_index * 1000 / rate, 0) AS BIGINT) AS timestamp
    FROM items),
keyed AS (
    SELECT *, split_part(uri, '?', 1) AS path,
        {", ".join(f"nullif(p[{i + 1}], 'null') AS p_{key}" for i, key in enumerate(PROMOTED_KEYS))},
        p[{_ADDED + 1}] IS NOT NULL OR p[{_ADDED + 2}] IS NOT NULL AS added
    FROM valued)
SELECT n AS _line, id, context_id, frame_index, num_frames, timestamp, uri,
    {_EXT} AS ext,
    CASE WHEN meta IS NULL OR meta = '{{}}' THEN '{{' || tail
        ELSE concat(left(meta, -1), ',', tail) END AS metadata,
    {", ".join(f"{value} AS {key}" for key, (_, value) in zip(PROMOTED_KEYS, _CHECKS, strict=True))},
    it IS NOT NULL AND nu_str(it.reference_id) AND nu_id_ok(id, plain)
    AND nu_str(it.image_location) AND coalesce(CASE WHEN plain
        THEN strlen(uri) BETWEEN 1 AND {MAX_URI_LENGTH}
        ELSE length(uri) BETWEEN 1 AND {MAX_URI_LENGTH}
            AND NOT regexp_matches(uri, '[\\x00-\\x1f\\x7f]') END, false)
    AND contains(uri, '://') AND NOT starts_with(uri, 'file://')
    AND lower(left(uri, 5)) <> 'data:'
    AND nu_obj(meta)
    AND NOT coalesce(added, false)
    AND coalesce(abs(timestamp) <= {MAX_TIMESTAMP}, false)
    AND {" AND ".join(check for check, _ in _CHECKS)} AS ok,
    __VOUCHED__ AS vouched
FROM keyed
"""

# The metadata keys of an item of a strict line (whose other keys the strict parse vouched
# for) are its own to check, nested objects and all. `vouched`: they are given once each,
# known without a second parse when its metadata is flat and has exactly the keys of the
# batch's first such item (`KEYS`: plain names `_KEY_NAME` takes, at most _MAX_KEYS): each of
# them found by `json_extract`, whose texts then make up the whole of the metadata's. The text
# is the engine's, minified, each value's as `json_extract` gives it: `{"k":v,...}` with those
# keys once each is `_LENGTH` bytes plus their values', and any other key, or one given
# twice, would add its own. Flat: no `[` and no `:{` (an object value follows its colon), so
# no nested object hides a key given twice; no backslash, so every key reads as written. A
# scene some item of which is not vouched for is checked whole by METADATA_KEYS (one
# `json_keys` of its items' metadata texts joined in a list).
_FLAT_WITH = (
    "CASE WHEN NOT strict OR meta IS NULL THEN true "
    "WHEN left(meta, 1) = '{{' AND NOT contains(meta, '\\') AND NOT contains(meta, '[') "
    "AND NOT contains(meta, ':{{') AND {given} AND strlen(meta) = {length} THEN true "
    "ELSE false END"
)
_KEY_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}\Z")
_MAX_KEYS = 32
KEYS = """
SELECT json_keys(frames[1].metadata) FROM _nu_s
WHERE ok AND strict AND left(frames[1].metadata, 1) = '{' LIMIT 1
"""


@functools.lru_cache(maxsize=16)
def items(keys: tuple[str, ...] | None) -> str:
    """The items' statement with the metadata keys `keys` (KEYS' answer) vouched for as
    above; None: no key set (every item of a strict line with metadata left to METADATA_KEYS)."""
    if keys is None:
        return _items(_READ, "NOT strict OR meta IS NULL")
    others = [key for key in keys if key not in _READ_KEYS]
    paths = [*_READ_KEYS, *others]
    read = ", ".join(f"'$.{key}'" for key in paths)
    at = [paths.index(key) + 1 for key in keys]
    given = " AND ".join(f"p[{i}] IS NOT NULL" for i in at) or "true"
    length = " + ".join([str(_length(keys)), *(f"strlen(p[{i}])" for i in at)])
    vouched = _FLAT_WITH.format(given=given, length=length)
    return _items(read, vouched)


def _items(read: str, vouched: str) -> str:
    return _ITEMS.replace("__READ__", read).replace("__VOUCHED__", vouched)


def _length(keys: tuple[str, ...]) -> int:
    """The bytes of `{"k":,...}` with `keys` once each, values left out."""
    return 2 + sum(len(key) + 3 for key in keys) + max(len(keys) - 1, 0)


def usable_keys(keys: list[str] | None) -> tuple[str, ...] | None:
    """KEYS' answer as `items` takes it: None unless its names are plain and given once."""
    if keys is None or len(keys) > _MAX_KEYS or len(set(keys)) != len(keys):
        return None
    return tuple(keys) if all(_KEY_NAME.match(key) for key in keys) else None


# Of the lines `?` (strict lines some item of which `items` did not vouch for), those some
# object of whose items' metadata gives a key twice.
METADATA_KEYS = """
SELECT n FROM _nu_s WHERE list_contains(?::BIGINT[], n) AND NOT nu_metadata_keys_unique(frames)
"""

# Run on the catalog, over `_nu_placed(_line, id, context_id, frame_index)` (the rows of a
# batch's good scenes; ids distinct within a scene): per line, how many of its ids are
# stored, how many at the scene and index they take now, and its scene (its number of
# frames, its rows there, is counted by the caller: a line's ids are distinct). A scene whose every id is stored there and nowhere else is stored as it stands
# unless another frame shares one of its places (`CONTEXT_FRAMES`, then `CROWDED` for the
# scenes that hold more frames): an update then finds it unchanged without reading its
# slots into Python. A scene none of whose ids is stored has no places to read.
STORED = """
SELECT r._line, count(f.id) AS stored,
    count(f.id) FILTER (WHERE f.context_id = r.context_id AND f.frame_index = r.frame_index)
        AS here,
    min(r.context_id) AS context_id
FROM _nu_placed r LEFT JOIN frames f ON f.id = r.id
GROUP BY r._line
"""
# How many frames the catalog holds of each of the scenes `?`: a scene whose frames are all
# stored at their places and that holds no more frames than that shares none of its places
# with another frame (no need of `CROWDED`, a join on two keys, for it).
CONTEXT_FRAMES = """
SELECT context_id, count(*) FROM frames
WHERE context_id IN (SELECT unnest(?::VARCHAR[])) GROUP BY context_id
"""
CROWDED = """
SELECT DISTINCT r._line FROM _nu_placed r
JOIN frames f ON f.context_id = r.context_id AND f.frame_index = r.frame_index
WHERE f.id != r.id AND r._line IN (SELECT unnest(?::BIGINT[]))
"""
# Of the lines `?` (none of whose ids is stored), those whose scene holds stored frames.
SCENES_HELD = """
SELECT DISTINCT r._line FROM (
    SELECT DISTINCT _line, context_id FROM _nu_placed WHERE _line IN (SELECT unnest(?::BIGINT[]))
) r JOIN frames f ON f.context_id = r.context_id
"""
