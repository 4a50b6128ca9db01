"""How one import counts what it stores: the report's frames, sources and ROIs.

The rule, for every importer and both of its ways in (frames queued one by one, `add`, and
checked rows, `write_rows`): **each frame the import leaves stored is counted once, with the
sources and ROIs of its last version**, whether one of its writes stored it or found it
stored as given (the unchanged check, and the frames an importer's digests leave
unconverted, counted beside a write's rows). A frame given again later in the same import
(by another file, another line, another scene) is counted by the write that stores it last,
the earlier count taken back in the same transaction; a frame the import itself removes
(Nucleus, `update=True`: its place in a scene taken by another frame) is no longer counted.
So, an import's figures are those of the frames it stored or vouched for that the catalog
holds when it ends, and the import's record (store/imports.py), updated in each write's
transaction, keeps the same figures at every commit.

Which frames were counted is known without holding their ids. Frame keys are handed out in
increasing order (store/layout.py, `next_frame_key`), so the frames each write of a local
catalog's import stored hold the keys from the catalog's next key as the write began to its
next key as it ends: one range a write (another import's writes, between two of this one's,
hand out keys of their own, which are not this import's); the frames counted without being
stored keep their older keys, held as ranges too (a file's frames were mostly stored
together: a few ranges). A lake-backed catalog renumbers its
frames when it writes them back, so its imports hold the ids they counted instead.

A write finds the counted frames among those it replaces or finds unchanged (their keys,
which it reads anyway), and only when there are some reads how many sources and ROIs they
hold, before it deletes them: a first import, or an update of frames given once each,
reads nothing more.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc

from workbench.ingest.report import IngestReport
from workbench.store import key_ranges
from workbench.store.arrow import registered
from workbench.store.layout import next_frame_key

_NONE = np.array([], dtype=np.int64)


@dataclass(frozen=True, slots=True)
class Again:
    """Frames counted before by this import, their sources and ROIs as stored, and the files
    they name (`uris_of_rows`, each once per stored row that names it): what a write that
    counts them again takes back (the URIs among them outside the media roots, from the
    report's `outside_media_roots`)."""

    frames: int = 0
    sources: int = 0
    rois: int = 0
    uris: pa.Array = field(default_factory=lambda: pa.array([], pa.string()))

    def __bool__(self) -> bool:
        return bool(self.frames or self.sources or self.rois)


NOTHING = Again()


class Counted:
    """The frames one import has counted so far (see the module's rule)."""

    def __init__(self, *, lake: bool) -> None:
        self._first: int | None = None  # the catalog's next key as the write under way began
        self._lows = _NONE  # ranges of the keys counted but not stored by this import
        self._highs = _NONE
        self._ids: set[str] | None = set() if lake else None
        # What `rollback` restores: the ranges, and the ids noted and dropped, since `begin`
        self._undo: tuple[np.ndarray, np.ndarray, list[str], list[str]] = (_NONE, _NONE, [], [])

    def state(self) -> tuple[np.ndarray, np.ndarray, frozenset[str] | None]:
        """What has been counted so far, for `restore` (an importer that sets its report back
        to an earlier copy and reads a file again sets this back with it)."""
        ids = frozenset(self._ids) if self._ids is not None else None
        return self._lows, self._highs, ids

    def restore(self, state: tuple[np.ndarray, np.ndarray, frozenset[str] | None]) -> None:
        """Count from `state` (an earlier `state()`) on: the frames counted since are not."""
        self._lows, self._highs, ids = state
        self._ids = set(ids) if ids is not None else None
        self.start()

    def start(self) -> None:
        """Call before each write: what `rollback` undoes is noted from here."""
        self._undo = (self._lows, self._highs, [], [])

    def begin(self, con: Any) -> None:
        """Call in each write's transaction before it stores anything."""
        if self._ids is None:
            self._first = next_frame_key(con)

    def end(self, con: Any) -> None:
        """Call in each write's transaction once it has stored its rows: the keys it handed
        out are this import's (other imports' writes may come between two of its writes)."""
        if self._ids is None and self._first is not None:
            last = next_frame_key(con) - 1
            if last >= self._first:
                self._add(np.array([self._first]), np.array([last]))

    def rollback(self) -> None:
        """Forget what was noted since `start` (the write's transaction was rolled back, and
        the report's figures with it)."""
        self._lows, self._highs, added, dropped = self._undo
        if self._ids is not None:
            self._ids.difference_update(added)
            self._ids.update(dropped)
        self._undo = (self._lows, self._highs, [], [])

    # -- local catalogs: by key -------------------------------------------------------------
    def _counted(self, keys: np.ndarray) -> np.ndarray:
        """Which of `keys` this import has counted."""
        keys = np.asarray(keys, dtype=np.int64)
        if not len(self._lows):
            return np.zeros(len(keys), dtype=bool)
        at = np.searchsorted(self._lows, keys, side="right") - 1
        inside = at >= 0
        inside[inside] = keys[inside] <= self._highs[at[inside]]
        return inside

    def again(self, con: Any, keys: np.ndarray) -> Again:
        """Of the stored frames with `keys` (any order, once each) that a write replaces or
        finds unchanged, those counted before, as they are stored (read before the write
        deletes them). Only those are sorted: a sort of a write's every key showed in its
        CPU."""
        if not len(keys):
            return NOTHING
        keys = np.asarray(keys, dtype=np.int64)
        found = keys[self._counted(keys)]
        if not len(found):
            return NOTHING
        found = np.unique(found)
        return _rows_of_keys(con, found)

    def keep(self, keys: np.ndarray) -> None:
        """Note the frames with `keys` (once each) as counted without being stored by this
        import (the keys its writes handed out are noted by `end`)."""
        if self._ids is not None or not len(keys):
            return
        keys = np.asarray(keys, dtype=np.int64)
        if np.any(keys[1:] <= keys[:-1]):  # (mostly sorted already: a file's frames in order)
            keys = np.unique(keys)
        cuts = np.flatnonzero(np.diff(keys) != 1)
        self._add(np.r_[keys[0], keys[cuts + 1]], np.r_[keys[cuts], keys[-1]])

    def _add(self, lows: np.ndarray, highs: np.ndarray) -> None:
        """Add the ranges `lows`..`highs` (inclusive) to those counted."""
        lows = np.r_[self._lows, lows]
        highs = np.r_[self._highs, highs]
        order = np.argsort(lows, kind="stable")
        lows, highs = lows[order], highs[order]
        reach = np.maximum.accumulate(highs)  # ranges that overlap or touch are merged
        starts = np.flatnonzero(np.r_[True, lows[1:] > reach[:-1] + 1])
        self._lows = lows[starts]
        self._highs = np.maximum.reduceat(highs, starts)

    # -- lake-backed catalogs: by id ----------------------------------------------------------
    @property
    def by_id(self) -> bool:
        return self._ids is not None

    def again_ids(self, con: Any, ids: pa.Array) -> Again:
        """`again` for a lake-backed catalog: the frames `ids` (once each) counted before
        and still stored, as they are stored; all of them noted as counted now."""
        assert self._ids is not None
        values = ids.to_pylist()
        found = [i for i in values if i in self._ids]
        added = set(values).difference(self._ids)
        self._undo[2].extend(added)
        self._ids.update(added)
        if not found:
            return NOTHING
        return _rows_of_ids(con, found)

    # -- frames removed -----------------------------------------------------------------------
    def removed(self, con: Any, ids: list[str]) -> Again:
        """Of the stored frames `ids` about to be deleted by the import, those it counted,
        as they are stored (they are counted no more)."""
        if self._ids is not None:
            found = [i for i in ids if i in self._ids]
            self._undo[3].extend(found)
            self._ids.difference_update(found)
            return _rows_of_ids(con, found) if found else NOTHING
        if not len(self._lows):
            return NOTHING
        keys = con.execute(
            "SELECT frame_key FROM frames WHERE id IN (SELECT unnest(?::VARCHAR[]))"
            " AND frame_key IS NOT NULL ORDER BY frame_key",
            [ids],
        ).fetchnumpy()["frame_key"]
        return self.again(con, np.asarray(keys, dtype=np.int64))


class Tally:
    """What a write counts, handed to what it keeps beside its rows (RowBatch.beside): the
    writer's report, and `unchanged` for the frames left unconverted it counts."""

    def __init__(self, report: IngestReport, counted: Counted, con: Any) -> None:
        self.report = report
        self._counted = counted
        self._con = con
        self.taken: list[pa.Array] = []  # the files the frames counted again name

    def unchanged(self, keys: Any, sources: int, rois: int) -> None:
        """Count the stored frames with `keys` (an array of frame keys, once each) as found
        unchanged, with their `sources` and `rois`, once per import."""
        array = keys.to_numpy() if isinstance(keys, pa.Array | pa.ChunkedArray) else keys
        found = np.asarray(array, dtype=np.int64)
        again = NOTHING if self._counted.by_id else self._counted.again(self._con, found)
        self.report.frames += len(found) - again.frames
        self.report.sources += sources - again.sources
        self.report.rois += rois - again.rois
        self.taken.append(again.uris)
        self._counted.keep(found)


def take_back(report: IngestReport, again: Again) -> None:
    """Take the figures of frames counted before off `report` (their URIs outside the media
    roots are taken back by the writer, which holds the roots)."""
    report.frames -= again.frames
    report.sources -= again.sources
    report.rois -= again.rois


def uris_of_rows(sources: pa.Table, rois: pa.Table) -> pa.Array:
    """The files rows name, as the writer checks them against the media roots: the sources'
    URIs, previews and mask files, and the ROIs' mask files (`sources` with the columns
    uri, preview_uri and masks, `rois` with mask)."""
    found = [*sources["uri"].chunks, *sources["preview_uri"].chunks]
    masks: list[Any] = []
    for text in pc.drop_null(sources["masks"]).to_pylist():
        masks.extend(m.get("uri") for m in orjson.loads(text) if isinstance(m, dict))
    for text in pc.drop_null(rois["mask"]).to_pylist():
        mask = orjson.loads(text)
        masks.append(mask.get("uri") if isinstance(mask, dict) else None)
    strings = [m for m in masks if isinstance(m, str)]
    found.append(pa.array(strings, pa.string()))
    return pa.chunked_array(found, pa.string()).combine_chunks()


_SOURCE_FILES = "SELECT uri, preview_uri, masks FROM sources WHERE "
_ROI_FILES = "SELECT mask FROM rois WHERE mask IS NOT NULL AND "


def _rows_of_keys(con: Any, keys: np.ndarray) -> Again:
    """The frames with `keys` (sorted, all stored): how many sources and ROIs they hold, read
    by key, and the files those name."""
    within = key_ranges.within("frame_key", keys)
    chosen = f"{within} AND frame_key IN (SELECT frame_key FROM _wb_counted)"
    with registered(con, "_wb_counted", pa.table({"frame_key": keys})):
        sources = con.sql(_SOURCE_FILES + chosen).to_arrow_table()
        rois = con.execute(f"SELECT count(*) FROM rois WHERE {chosen}").fetchall()[0][0]
        masks = con.sql(_ROI_FILES + chosen).to_arrow_table()
    return Again(len(keys), sources.num_rows, int(rois), uris_of_rows(sources, masks))


def _rows_of_ids(con: Any, ids: list[str]) -> Again:
    """The stored frames among `ids`, how many sources and ROIs they hold, and the files
    those name."""
    chosen = "frame_id IN (SELECT id FROM _wb_counted)"
    with registered(con, "_wb_counted", pa.table({"id": pa.array(ids, pa.string())})):
        frames = con.execute(
            "SELECT count(*) FROM frames WHERE id IN (SELECT id FROM _wb_counted)"
        ).fetchall()[0][0]
        sources = con.sql(_SOURCE_FILES + chosen).to_arrow_table()
        rois = con.execute(f"SELECT count(*) FROM rois WHERE {chosen}").fetchall()[0][0]
        masks = con.sql(_ROI_FILES + chosen).to_arrow_table()
    return Again(int(frames), sources.num_rows, int(rois), uris_of_rows(sources, masks))
