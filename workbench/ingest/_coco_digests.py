"""COCO images left unconverted when the catalog holds the frame they make as it was made.

Importing an instances file again (into a catalog that holds frames: the update path) would
otherwise convert every image and annotation, only for the writer to find most frames stored
as given. A frame is made from its image's record, from the annotations naming it wherever
they are in the file, and from the categories: its digest is DuckDB's `hash` of the image's
text (seeded with CONVERSION, the import's options and the hash of the categories' texts),
of the sum modulo 2^64 of its annotations' text hashes, of their count, and of their places
(`_PLACES`: reordered annotations give another digest, annotations moved together the same;
the annotations grouped by the JSON text of their `image_id`). It is kept in
store/line_digests.py's table at the image's place in the file (`line` the image's number in
the `images` array, `line_bytes` its text's length), and holds while its frame is stored as
it was written (line_digests says when).

On the update, the annotations' texts are hashed first (a pass of their own when they take
more than one batch; each annotation's image found by its number when the images' ids are
numbered on, and summed in numpy), every image's digest looked up, and the images found left
out of the images' statement and their annotations out of the annotations' statement:
neither is converted, sorted or written. Each write of the import counts one share of them (`Beside`,
at most a write's number of frames), checking them again in its transaction
(line_digests.changed_since): a frame changed since the lookup by another connection stops
that write with `_ImagesChanged`, rolled back, and the file is imported again without lookup
(its frames written before are found unchanged by the writer). An import without lookup (a
first one) sums the annotations as the annotations' statement converts them, from that
statement's own parse (sql.DIGESTED, each summed into the image it joined, in numpy): no
pass of their own.

The annotations' sums are folded image by image as each batch comes (workbench.ingest.
_coco_sums: arrays on disk, not a row per image and batch), with the batches holding each
image's annotations, so that an update converts again only the batches it needs.

A kwcoco file's video frames' digests take their videos' parts (with their records), and its
annotations' hashes their tracks' records: workbench.ingest._coco_videos says how, and why
some videos are left out whole.

A frame's digest is recorded in the transaction that stores it, only when its conversion was
clean: the image's id given once in its text and by no other image, not named by an
annotation giving `image_id` twice as a key (the per-record path keeps the last: every image
such an annotation names is converted; one whose values are no ids leaves the whole file
undigested), as many ROIs stored as annotations hashed for it, no warning. Anything else is
converted, and reported, on every import.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from workbench.ingest import _coco_sql as sql
from workbench.ingest import _coco_videos as videos
from workbench.ingest._coco_sums import BITS, ImageSums
from workbench.ingest._counting import Tally
from workbench.ingest.writer import RowBatch
from workbench.model.records import FRAME_SCHEMA, ROI_SCHEMA, SOURCE_SCHEMA
from workbench.store import layout_hashes, line_digests
from workbench.store.arrow import registered
from workbench.store.layout import next_frame_key

if TYPE_CHECKING:
    from workbench.ingest.coco import _Instances
    from workbench.store.catalog import Catalog

# Part of every digest: raise it when a change to the conversion may make another frame of
# the same records, so that digests kept before no longer match.
CONVERSION = 2
# Whether an update looks its images up (False: every image converted, digests still kept;
# what the tests compare with).
LOOK_UP = True
# Images looked up at a time (a stretch of the file's images each).
LOOKUP_ROWS = 1 << 20

DIGESTED_ROWS = line_digests.DIGESTED_ROWS

# The engine's tables: each image's hash, its key and whether it may be digested; the
# annotations' hash sums by image key (a row per key per batch); each image's digest; the
# images found unchanged (line_digests.LOOKUP_SCHEMA and `r`, their rank) and their keys.
_IMAGES = "_wb_dig_images"
_SUMS = "_wb_dig_sums"
_KEYS = "_wb_dig_keys"
_DIGESTS = "_wb_dig_digests"
_SAME = "_wb_dig_same"
_SAME_KEYS = "_wb_dig_same_keys"

_SAME_TABLE = f"""
CREATE OR REPLACE TEMP TABLE {_SAME} (n BIGINT, id VARCHAR, frame_key BIGINT, digest UBIGINT,
    line_bytes INTEGER, sources INTEGER, rois INTEGER, r BIGINT)
"""
# Each image's sums (`_coco_sums.ImageSums.rows`, made once every annotation is summed): a row
# per image with annotations. The keys of images an annotation naming `image_id` twice could
# belong to (never digested).
_SUMS_TABLE = (
    f"CREATE OR REPLACE TEMP TABLE {_SUMS} "
    "(i BIGINT, h UBIGINT, n BIGINT, w UBIGINT, bits UINTEGER, lo BIGINT)"
)
_TAINTED = "_wb_dig_tainted"

_M = "18446744073709551616::HUGEINT"  # 2^64: the sums are kept modulo it
# Where an image's annotations stand in the file, as a batch's sum of each one's hash times
# its number (`w`, modulo 2^64) and the first's number (`lo`): the digest takes their sum over
# every batch less the first number times the hashes' sum, the hashes weighted by their places
# from the image's first annotation. Annotations reordered give another digest (the ROIs are
# stored in the file's order); an image's annotations moved as a whole by the records before
# them give the same. (An annotation without an `id` is numbered by its place in the file: its
# hash takes that place, above.) Both are summed in numpy (ImageSums.add_each: uint64 wraps
# as these modulos do); these are the engine's form of the same sums, which tests check it by.
_PLACES = f"(sum(h::HUGEINT * i) % {_M})::UBIGINT AS w, min(i) AS lo"
_SUM = f"(sum(h) % {_M})::UBIGINT"  # a batch's sum of hashes, modulo 2^64

# An annotation's image, as the JSON text the conversion joins on, and its text when it may
# name `image_id` twice (a LIKE of two `"image_id"`: half the CPU of counting them by a
# `replace`), for `_twice` to tell whether it does as a key.
_ANN_KEYS = f"""
CREATE OR REPLACE TEMP TABLE {_KEYS} AS
SELECT i, key, h, CASE WHEN x LIKE '%"image_id"%"image_id"%' THEN x END AS twice FROM (
    SELECT i, x, k[1]::VARCHAR AS key,
        CASE WHEN is_null(k[2]) THEN hash(x, i) ELSE hash(x) END AS h
    FROM (SELECT i, x, try(json_extract(x, ['$.image_id', '$.id'])) AS k FROM _wb_items))
"""
# (A kwcoco file's: _coco_videos.hash_annotations, with its tracks.)
# A batch's annotations, each with the number of its image (`g`; NULL for a key of no
# image: the batch is then converted on every update), its hash and its number, summed by
# image in numpy (ImageSums.add_each): their image_id's JSON text joined to the images' keys;
# or, when image i's key is the text of the integer `$low` + i for every image (`_NUMBERED`),
# that integer read from the text less `$low`. (The join reads every image's key again for
# each batch: 19M keys 32 times at 10 GB. Grouped by the engine before, the 128-bit places'
# sums cost twice the grouping.)
_KEY_IMAGES = f"""
SELECT g.i AS g, k.h, k.i FROM {_KEYS} k LEFT JOIN (SELECT i, key FROM {_IMAGES}) g ON g.key = k.key
"""
_KEY_NUMBERS = f"""
SELECT CASE WHEN n BETWEEN $low AND $high AND n::VARCHAR = key THEN n - $low END AS g, h, i
FROM (SELECT try_cast(key AS BIGINT) AS n, key, h, i FROM {_KEYS})
"""
# The first image's id when image i's key is the text of that id plus i for every image (ids
# numbered on, as most tools write them), else NULL.
_NUMBERED = f"""
SELECT CASE WHEN count(*) = max(i) + 1 AND count(d) = count(*) AND min(d) = max(d)
    THEN min(d) END
FROM (SELECT i, CASE WHEN n::VARCHAR = key THEN try(n - i) END AS d
    FROM (SELECT i, key, try_cast(key AS BIGINT) AS n FROM {_IMAGES}))
"""
# Annotations folded into their images' sums at a time (24 bytes each, fetched).
FOLD_ROWS = 1 << 20
# The annotations as converted (sql.DIGESTED), each with the number of the image the
# conversion joined it to (`g`: by the JSON text of `image_id`, as above, the engine's parse
# of the same record), its hash and its number, summed by image in numpy as an update's are
# (ImageSums.add_each). Annotations of no stored image (NULL `o`) count for nothing. The
# images stored are numbered `o` in file order among themselves: when every image of the
# file is stored, `o` is the image's number (_CONVERTED_EACH); else the join to the stored
# images gives it, a row an annotation (_CONVERTED_JOINED). (Grouped by the engine before, with 128-bit places' sums
# and a join of the groups: 29.5 s of a 3.8M-image import's CPU.)
_CONVERTED_EACH = """
SELECT a.o AS g, {h} AS h, a.i FROM {table} a {join} WHERE a.i >= $since AND a.o IS NOT NULL
"""
_CONVERTED_JOINED = """
SELECT m.i AS g, {h} AS h, a.i FROM {table} a JOIN (SELECT o, i FROM _wb_images) m ON m.o = a.o
{join} WHERE a.i >= $since
"""
# The converted annotations' texts that may name `image_id` twice (`x` is kept for the
# records left to the per-record path only: one SQL converts gives each key once).
_CONVERTED_TWICE = "SELECT x FROM {table} WHERE i >= $since AND twice AND x IS NOT NULL"
# Images stored under another key than the one their text gives (the id's text made by the
# per-record path): their annotations were joined by that key, which an update's pass does
# not give; they count none, and are not digested (as many ROIs as annotations hashed: none).
_OTHER_KEYS = f"""
DELETE FROM {_SUMS} WHERE i IN (
    SELECT w.i FROM _wb_images w JOIN {_IMAGES} m ON m.i = w.i WHERE w.key <> m.key)
"""
# An image's id given twice in its text (the per-record path keeps the last) or a text not
# JSON: never digested. A kwcoco file's images have more columns (_coco_videos.IMAGE_COLUMNS:
# their videos); others none.
_IMAGE_HASHES = f"""
CREATE OR REPLACE TEMP TABLE {_IMAGES} AS
SELECT i, {{key}} AS key, hash(x, $seed) AS h, strlen(x)::INTEGER AS line_bytes,
    NOT contains(x[strpos(x, '"id"') + 4:], '"id"') AS once{{more}}
FROM {{source}}
"""
_PLAIN_IMAGES = {
    "source": "_wb_image_items",
    "key": "try(json_extract(x, '$.id'))::VARCHAR",
    "more": ", NULL::VARCHAR AS video",
}
# An image's digest's terms: its text's hash and its annotations' sums.
_TERMS = "m.h, coalesce(s.h, 0::UBIGINT), coalesce(s.n, 0), coalesce(s.w, 0::UBIGINT)"
_DIGEST = f"""
CREATE OR REPLACE TEMP TABLE {_DIGESTS} AS {{parts}}
SELECT m.i, m.key, {{digest}} AS digest, m.line_bytes, coalesce(s.n, 0)::INTEGER AS anns,
    coalesce(m.once AND m.key IS NOT NULL AND count(*) OVER (PARTITION BY m.key) = 1
        AND t.key IS NULL, false) AS ok, m.video, {{whole}} AS whole
FROM {_IMAGES} m LEFT JOIN {_SUMS} s ON s.i = m.i
LEFT JOIN {_TAINTED} t ON t.key = m.key {{join}}
ORDER BY m.i
"""
# The frames a write stores, with their images' digests (`$lo`..`$hi`: the range of their
# images' numbers, so that the digests' row groups of the write's own images are read).
_WRITTEN = f"""
SELECT f.id, d.i AS line, d.digest, d.line_bytes, f._line AS o, f.rois, d.anns
FROM _wb_frames f JOIN _wb_images m ON m.o = f._line JOIN {_DIGESTS} d ON d.i = m.i
WHERE m.o BETWEEN $first AND $last AND d.i BETWEEN $lo AND $hi AND d.ok
ORDER BY d.i
"""


class _ImagesChanged(Exception):
    """Frames of images an import left unconverted changed after they were looked up: the
    write counting them is rolled back, and the file is to be imported without lookup."""

    def __init__(self, lines: pa.Array) -> None:
        super().__init__(f"{len(lines)} frames changed since their images were looked up")
        self.lines = lines


@dataclass(frozen=True)
class Beside:
    """What a write keeps and counts beside its rows: frames of images left unconverted
    (line_digests.LOOKUP_SCHEMA), and the digests of the frames it stores (DIGESTED_ROWS);
    `since`, the catalog's next frame key before the write."""

    file: int
    unchanged: pa.Table
    digested: pa.Table
    since: int

    def __call__(self, con: Any, tally: Tally) -> pa.Array:
        """Count the unchanged frames as the writer counts frames it finds unchanged, keep
        the digests; returns the unchanged frames' URIs. Raises _ImagesChanged when some of
        them changed since they were looked up."""
        lost = line_digests.changed_since(con, self.file, self.unchanged)
        if len(lost):
            raise _ImagesChanged(lost)
        sources, rois = (int(pc.sum(self.unchanged[c]).as_py() or 0) for c in ("sources", "rois"))
        tally.unchanged(self.unchanged["frame_key"], sources, rois)  # once per import
        found = partial(layout_hashes.candidates, con, layout_hashes.FRAMES)
        line_digests.record(con, self.file, self.digested, self.since, found)
        return line_digests.unchanged_uris(con, self.unchanged["frame_key"].combine_chunks())

    def batch(self) -> RowBatch:
        """A write of no rows that counts and keeps this."""
        frames = pa.schema([f for f in FRAME_SCHEMA if f.name != "ingested"])
        empty = (frames.empty_table(), SOURCE_SCHEMA.empty_table(), ROI_SCHEMA.empty_table())
        return RowBatch(*empty, beside=self)


class ImageDigests:
    """One COCO file's use of the digests, in the engine that stages it (`start` for each
    engine: a second plan's engine begins again)."""

    def __init__(self, catalog: Catalog, path: Path, options: _Instances) -> None:
        self._catalog = catalog.cursor()
        self.keeps = catalog.lake is None  # lake-backed catalogs keep no digests
        self.looks = self.keeps and LOOK_UP and catalog.has_frames()
        self._path = path
        self._options = options
        self.file = 0
        self._batches = 0
        self._clean = True  # no annotation names `image_id` twice in a way not told apart
        self._tainted: set[str] = set()  # what images an annotation naming it twice names
        self._orphans: set[int] = set()  # the batches holding annotations of no image
        self._sums: ImageSums | None = None
        # (first, last): image i's key is the text of first + i, last the last's (_NUMBERED)
        self._numbered: tuple[int, int] | None = None
        self._needed: list[int] = []  # the batches to convert, when read again (look_up)
        self._summing = False  # the annotations converted are summed (not hashed before)
        # Whether every image of the file is stored (its `o` is then its number), once known
        self._all_stored: bool | None = None
        self.unchanged = 0  # images found unchanged (for tests and benchmarks)
        # A kwcoco file's `videos` and `tracks` records (None: not such a file), the hash of
        # an annotation with its track's record (_coco_videos.tracked_hash: the expression
        # and its join), and the images of each video left out by the lookup (whole videos).
        self._kwcoco: dict[str, list[tuple[int, Any]]] | None = None
        self._tracked = ("a.h", "")
        self.left_out_videos: Counter[Any] = Counter()
        # When the catalog's engine ran out of memory looking them up: the first image not
        # looked up, the images' count and the engine's message.
        self.not_looked_up: tuple[int, int, str] | None = None

    def close(self) -> None:
        self._drop_sums()
        self._catalog.close()

    def _drop_sums(self) -> None:
        if self._sums is not None:
            self._sums.close()
            self._sums = None

    def forgo(self) -> None:
        """Neither look up nor keep the digests."""
        self.keeps = self.looks = False

    def kwcoco(self, members: dict[str, list[tuple[int, Any]]]) -> None:
        """The file is kwcoco's (`members`: its `videos` and `tracks` records, as read): a
        video frame's digest takes its video's part, with its video's record, and an
        annotation's hash the record of its track (_coco_videos)."""
        self._kwcoco = members

    def stop_looking(self) -> None:
        """Convert every image from now on (the digests are still kept)."""
        self.looks = False

    def start(self, con: Any) -> None:
        """Hash the staged images (`_wb_image_items`) and the categories (`_wb_cat_items`),
        before the images' statement drops their texts."""
        self._batches, self._clean, self.unchanged, self.not_looked_up = 0, True, 0, None
        self._tainted, self._orphans = set(), set()
        self._all_stored = None
        self.left_out_videos = Counter()
        self._drop_sums()
        self._tracked = ("a.h", "")
        if not self.keeps:
            return
        cats = con.execute(
            "SELECT coalesce(hash(string_agg(x, ',' ORDER BY i)), 0) FROM _wb_cat_items"
        ).fetchall()[0][0]
        o = self._options
        # As JSON: no option (None) and the text "None" differ, and no value runs into the next.
        values = ("coco", CONVERSION, cats, o.prefix, o.field, str(o.images_dir), o.dataset)
        kwcoco = [] if self._kwcoco is None else ["kwcoco"]
        seed = json.dumps([*values, o.version, *kwcoco])
        columns = _PLAIN_IMAGES if self._kwcoco is None else videos.IMAGE_COLUMNS
        con.execute(_IMAGE_HASHES.format(**columns), {"seed": seed})
        if self._kwcoco is not None and not self._kwcoco_records(con):
            return
        self.file = line_digests.file_key(con, str(self._path.resolve()))
        images = con.execute(f"SELECT coalesce(max(i) + 1, 0) FROM {_IMAGES}").fetchall()
        self._sums = ImageSums(int(images[0][0]))
        first = con.execute(_NUMBERED).fetchall()[0][0]
        self._numbered = None if first is None else (int(first), int(first) + self._sums.images - 1)
        con.execute(f"CREATE OR REPLACE TEMP TABLE {_SAME_KEYS} (key VARCHAR)")

    def _kwcoco_records(self, con: Any) -> bool:
        """Stage a kwcoco file's records (_coco_videos.stage_records); False, the digests
        forgone, when an image's video or a record's id could be read otherwise by the engine
        than by Python."""
        assert self._kwcoco is not None
        ambiguous = con.execute(f"SELECT bool_or(ambiguous) FROM {_IMAGES}").fetchall()[0][0]
        if ambiguous or not videos.stage_records(con, self._path, self._kwcoco):
            self.forgo()
            con.execute(f"DROP TABLE {_IMAGES}")
            videos.drop_records(con)
            return False
        self._tracked = videos.tracked_hash(con, "a.h", "a.x", "a.track")
        return True

    def before_images(self, con: Any, batches: Callable[[], Iterable[None]]) -> None:
        """Before the images' statement: hash the images and categories and, when looking
        up, every annotation (`batches` fills `_wb_items` with each batch in turn), then
        leave the unchanged images out."""
        self.start(con)
        if self.looks and self.keeps:
            for _ in batches():
                self.hash_annotations(con)
            self.digest(con)
            self.look_up(con)

    def batches(self, con: Any, batches: Callable[[], Iterable[None]]) -> Iterator[None]:
        """The annotations' batches to convert (from `batches`; the one hashed first when
        it was the only one), their unchanged images' annotations left out, or hashed."""
        if not (self.looks and self.keeps):
            self._summing = self.keeps
            for _ in batches():
                yield  # converted, then summed (`converted`)
            self._summing = False
            self.digest(con, stored=True)
            con.execute(f"DROP TABLE IF EXISTS {_SUMS}")
            return
        if self.unchanged and self._kwcoco is not None:  # the images staged by now
            stale = videos.counts_changed(con, self._catalog, _DIGESTS, _SAME)
            if stale:  # a video's count of frames changed: its frames left out with it
                raise _ImagesChanged(pa.array(stale, pa.int64()))
        if not self.again:
            self.leave_out(con)
            yield
            return
        if not self._needed:  # one batch of none, for the writes' tables
            con.execute(sql.ITEMS_TABLE.format(table="_wb_items"))
            yield
            return
        # Read again up to the last batch holding an annotation to convert; the others
        # are parsed on the way but not converted.
        needed = set(self._needed)
        for batch, _ in enumerate(batches()):
            if batch in needed:
                self.leave_out(con)
                yield
            if batch >= self._needed[-1]:
                return

    def converted(self, con: Any, table: str, since: int) -> None:
        """Add the annotations just converted (`table`'s rows numbered from `since`: those of
        sql.ANNOTATION_ROWS for one batch) to their images' sums, from the `image_id`, hash
        and check of `image_id` given twice the conversion made (sql.DIGESTED), when they
        were not hashed before the images."""
        if not self._summing:
            return
        assert self._sums is not None
        if self._all_stored is None:  # `_wb_images` staged by now
            stored = con.execute("SELECT count(*) FROM _wb_images").fetchall()[0][0]
            self._all_stored = stored == self._sums.images
        params = {"since": since}
        each = _CONVERTED_EACH if self._all_stored else _CONVERTED_JOINED
        h, join = self._tracked
        self._add_each(con.sql(each.format(table=table, h=h, join=join), params=params))
        if self._kwcoco is not None:
            videos.named_converted(con, table, since)
        self._twice(con.execute(_CONVERTED_TWICE.format(table=table), params).fetchall())
        self._batches += 1

    def hash_annotations(self, con: Any) -> None:
        """Add the annotations of `_wb_items` (one batch) to their images' sums."""
        if not self.keeps:
            return
        if self._kwcoco is None:
            con.execute(_ANN_KEYS)
        else:
            videos.hash_annotations(con, _KEYS, self._tracked)
        self._add_each(self._keyed(con))
        self._twice(con.execute(f"SELECT twice FROM {_KEYS} WHERE twice IS NOT NULL").fetchall())
        self._batches += 1

    def _keyed(self, con: Any) -> Any:
        """The annotations of `_KEYS` (one batch): image number or NULL, hash, number."""
        if self._numbered is None:
            return con.sql(_KEY_IMAGES)
        low, high = self._numbered
        return con.sql(_KEY_NUMBERS, params={"low": low, "high": high})

    def _add_each(self, result: Any) -> None:
        """Fold the annotations of `result` (image number or NULL, hash, annotation number;
        one batch) into their images' sums."""
        assert self._sums is not None
        # Folded FOLD_ROWS at a time: the engine's chunks hold about 120,000 rows, of images
        # all over the file, and each fold maps every stretch its images fall in (folded a
        # chunk at a time, 12.7 s of the update's 58.5 s at 3.8M images); a whole batch at
        # once held 180 MB more.
        held: list[pa.RecordBatch] = []
        count = 0
        for rows in result.to_arrow_reader(FOLD_ROWS):
            held.append(rows)
            count += len(rows)
            if count >= FOLD_ROWS:
                self._fold(held)
                held, count = [], 0
        self._fold(held)

    def _fold(self, held: list[pa.RecordBatch]) -> None:
        """Fold the rows `held` (image number or NULL, hash, annotation number)."""
        assert self._sums is not None
        if not held:
            return
        rows = pa.Table.from_batches(held).combine_chunks()
        image = rows.column(0)
        if image.null_count:
            self._orphans.add(self._batches)
            rows = rows.filter(image.is_valid())
        image, h, i = (rows.column(c).to_numpy() for c in (0, 1, 2))
        self._sums.add_each(image, h, i, self._batches)

    def _twice(self, texts: list[tuple[str]]) -> None:
        """Of the annotations' texts holding `"image_id"` twice, those giving it twice as a
        key (the per-record path keeps the last, the engine's parse another): the images of
        every value given are never digested (converted on every import, so that a change to
        the annotation reaches the image it belongs to), nor is any image when a value is not
        an id (an integer or a string) or the text not JSON. A value or a nested key holding
        `"image_id"` costs nothing."""
        for (text,) in texts:
            if not text.lstrip().startswith("{"):
                continue
            try:
                pairs = json.loads(text, object_pairs_hook=list)
            except (ValueError, RecursionError):
                self._clean = False
                continue
            given = [value for key, value in pairs if key == "image_id"]
            if len(given) < 2:
                continue
            if not all(isinstance(v, str | int) and not isinstance(v, bool) for v in given):
                self._clean = False
            self._tainted.update(json.dumps(v) for v in given)

    def digest(self, con: Any, stored: bool = False) -> None:
        """Each image's digest, once every annotation is hashed (`stored`: after the images'
        statement, `_wb_images` staged)."""
        if not self.keeps:
            return
        assert self._sums is not None
        con.execute(_SUMS_TABLE)
        for rows in self._sums.rows(first=self._kwcoco is not None):
            with registered(con, "_wb_t", rows):
                con.execute(f"INSERT INTO {_SUMS} BY NAME SELECT * FROM _wb_t")
        self._drop_sums()
        if stored:
            con.execute(_OTHER_KEYS)
        # The tainted ids' texts as the engine writes them (as the images' keys are).
        keys = pa.table({"k": pa.array(sorted(self._tainted), pa.string())})
        with registered(con, "_wb_t", keys):
            con.execute(
                f"CREATE OR REPLACE TEMP TABLE {_TAINTED} AS "
                "SELECT DISTINCT json(k)::VARCHAR AS key FROM _wb_t"
            )
        plain = {"parts": "", "digest": f"hash({_TERMS})", "join": "", "whole": "false"}
        of_videos = videos.video_digests(_IMAGES, _SUMS, _TERMS)
        con.execute(_DIGEST.format(**(plain if self._kwcoco is None else of_videos)))
        con.execute(f"DROP TABLE {_IMAGES}")
        con.execute(f"DROP TABLE {_TAINTED}")
        videos.drop_records(con)

    @property
    def again(self) -> bool:
        """Whether the annotations are to be read again for their conversion (they took
        more than one batch to hash); else `_wb_items` still holds them."""
        return self._batches != 1

    def look_up(self, con: Any) -> None:
        """Find the images whose frames are stored as they make them, and leave them out of
        the images' texts (`_wb_image_items`)."""
        con.execute(_SAME_TABLE)
        if not self.looks or not self._clean:
            self._needed = list(range(self._batches))
            con.execute(f"DROP TABLE {_SUMS}")
            return
        last = con.execute(f"SELECT max(i) FROM {_DIGESTS}").fetchall()[0][0]
        for start in range(0, -1 if last is None else last + 1, LOOKUP_ROWS):
            digests = con.sql(
                f"SELECT i AS n, digest, line_bytes FROM {_DIGESTS} WHERE ok "
                "AND i BETWEEN ? AND ? ORDER BY i",
                params=[start, start + LOOKUP_ROWS - 1],
            ).to_arrow_table()
            try:
                found = line_digests.lookup(self._catalog, self.file, digests)
            except duckdb.OutOfMemoryException as exc:
                # The catalog's engine, not the staging's: the images not looked up are
                # converted, and the writer leaves those it finds stored as given as they
                # are (comparing their rows); the report says why it took longer.
                self.not_looked_up = (start, last + 1, str(exc).strip().splitlines()[0])
                break
            if found.num_rows:
                with registered(con, "_wb_t", found):
                    con.execute(f"INSERT INTO {_SAME} SELECT *, 0 FROM _wb_t")
        if self._kwcoco is not None:
            self.left_out_videos = videos.whole_videos(con, _DIGESTS, _SAME)
        self.unchanged = con.execute(f"SELECT count(*) FROM {_SAME}").fetchall()[0][0]
        if self.unchanged:
            con.execute(
                f"CREATE OR REPLACE TEMP TABLE {_SAME} AS SELECT * EXCLUDE (r), "
                f"row_number() OVER (ORDER BY n) - 1 AS r FROM {_SAME} ORDER BY n"
            )
            con.execute(
                f"INSERT INTO {_SAME_KEYS} SELECT d.key FROM {_DIGESTS} d "
                f"SEMI JOIN {_SAME} s ON s.n = d.i"
            )
            con.execute(f"DELETE FROM _wb_image_items WHERE i IN (SELECT n FROM {_SAME})")
        # The batches holding an annotation not of an image found unchanged (of a changed
        # image, of none, not JSON): only those are converted (past BITS batches, those
        # sharing a bit with one of them too).
        bits = con.execute(
            f"SELECT coalesce(bit_or(bits), 0) FROM {_SUMS} s ANTI JOIN {_SAME} k ON k.n = s.i"
        ).fetchall()[0][0]
        held = {b for b in range(self._batches) if int(bits) >> (b % BITS) & 1}
        self._needed = sorted(held | self._orphans)
        con.execute(f"DROP TABLE {_SUMS}")

    def leave_out(self, con: Any) -> None:
        """Drop from `_wb_items` (one batch) the annotations of the images found unchanged."""
        if not self.unchanged:
            return
        if self.again:
            con.execute(_ANN_KEYS)
        con.execute(
            f"DELETE FROM _wb_items WHERE i IN (SELECT k.i FROM {_KEYS} k "
            f"SEMI JOIN {_SAME_KEYS} s ON s.key = k.key)"
        )

    def beside(
        self, con: Any, first: int, last: int, warned: set[int], extra: dict[int, int]
    ) -> Beside | None:
        """What the write of images first..last keeps beside its rows (`_wb_frames` staged,
        refused frames gone): the digests of its frames that are clean (not `warned`, as
        many ROIs as annotations: those of SQL and `extra` made in Python), and one share of
        the unchanged images (the write's number, at most its count of frames)."""
        if not self.keeps:
            return None
        digested = self._digested(con, first, last, warned, extra)
        share = self.share(con, first // (last - first + 1), last - first + 1)
        if share.num_rows == 0 and digested.num_rows == 0:
            return None
        return Beside(self.file, share, digested, next_frame_key(self._catalog))

    def share(self, con: Any, write: int, per_write: int) -> pa.Table:
        """The unchanged images the `write`th write counts (LOOKUP_SCHEMA)."""
        if not self.unchanged:
            return line_digests.LOOKUP_SCHEMA.empty_table()
        rows = con.sql(
            f"SELECT * EXCLUDE (r) FROM {_SAME} WHERE r BETWEEN ? AND ? ORDER BY r",
            params=[write * per_write, (write + 1) * per_write - 1],
        ).to_arrow_table()
        return rows.cast(line_digests.LOOKUP_SCHEMA)

    def rest(self, con: Any, writes: int, per_write: int) -> Iterator[Beside]:
        """The shares of the unchanged images past the `writes` writes made, each for a
        write of its own, made as they are written (all at once, the 19M images of an
        unchanged 10 GB file took 1 GB)."""
        for w in range(writes, -(-self.unchanged // per_write)):
            share = self.share(con, w, per_write)
            yield Beside(
                self.file, share, DIGESTED_ROWS.empty_table(), next_frame_key(self._catalog)
            )

    def _digested(
        self, con: Any, first: int, last: int, warned: set[int], extra: dict[int, int]
    ) -> pa.Table:
        if not self._clean:
            return DIGESTED_ROWS.empty_table()
        lo, hi = con.execute(
            "SELECT min(i), max(i) FROM _wb_images WHERE o BETWEEN ? AND ?", [first, last]
        ).fetchall()[0]
        if lo is None:
            return DIGESTED_ROWS.empty_table()
        params = {"first": first, "last": last, "lo": lo, "hi": hi}
        rows = con.sql(_WRITTEN, params=params).to_arrow_table()
        ordinals = line_digests.int64s(rows["o"])
        made = line_digests.int64s(rows["rois"])
        if extra:
            made = made + np.array([extra.get(int(o), 0) for o in ordinals], np.int64)
        keep = made == line_digests.int64s(rows["anns"])
        if warned:
            keep &= ~np.isin(ordinals, np.fromiter(warned, np.int64, len(warned)))
        rows = rows.filter(pa.array(keep))
        return pa.table(
            {
                "id": rows["id"],
                "line": rows["line"],
                "digest": rows["digest"],
                "line_bytes": rows["line_bytes"],
                "sources": pa.repeat(pa.scalar(1, pa.int32()), rows.num_rows),
                "rois": rows["anns"],
            }
        ).cast(DIGESTED_ROWS)
