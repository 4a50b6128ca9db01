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

Which frames were counted is known by what the import stored, not by ranges of keys. Frame
keys are handed out in increasing order (store/layout.py, `next_frame_key`) and never
reused, and a frame keeps its key until it is replaced or removed: the keys each write of a
local catalog's import handed out (the catalog's next key as the write began to its next key
as it ends: writes take turns, so those are its own) and those of the frames it counted
without storing them are held, as a bitmap (_counted_keys.py), and a stored frame was
counted by the import if its key is held. A lake-backed catalog renumbers its frames when
it writes them back, so its imports hold the ids they counted instead. The ROIs of
label-only writes are held by frame key (or id) and field (_counted_labels.py). A frame
counted that another import's write replaces or removes loses the key held for it: that
write tells this import, which sets the frame aside by id, as it stored it, until it gives
it again (_counted_elsewhere.py).

A write finds the counted frames among those it replaces or finds unchanged (their keys,
which it reads anyway), and only when there are some reads how many sources and ROIs they
hold, before it deletes them: a first import, or an update of frames given once each,
reads nothing more.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc

from workbench.ingest import _counted_elsewhere as elsewhere
from workbench.ingest._counted_keys import KeyBits
from workbench.ingest._counted_labels import LabelCounts
from workbench.ingest.report import IngestReport
from workbench.store import key_ranges
from workbench.store.arrow import registered
from workbench.store.layout import next_frame_key


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
    key: int = -1  # one frame's key, as `_counted_elsewhere` reads it (local catalogs)

    def __bool__(self) -> bool:
        return bool(self.frames or self.sources or self.rois)


NOTHING = Again()


def summed(frames: list[Again]) -> Again:
    """Several frames' figures as one."""
    if not frames:
        return NOTHING
    uris = pa.concat_arrays([f.uris for f in frames]) if len(frames) > 1 else frames[0].uris
    return Again(
        sum(f.frames for f in frames),
        sum(f.sources for f in frames),
        sum(f.rois for f in frames),
        uris,
    )


class Counted:
    """The frames one import has counted so far (see the module's rule)."""

    def __init__(self, *, lake: bool, catalog: Any = None) -> None:
        self._first: int | None = None  # the catalog's next key as the write under way began
        self._keys = KeyBits()  # the keys of the frames counted (local catalogs)
        self._ids: set[str] | None = set() if lake else None
        self.labels = LabelCounts(lake=lake)  # the ROIs counted by label-only writes
        # Frames counted that another import's write replaced or removed since, as this
        # import stored them (_counted_elsewhere.py), and those this write told others of
        self._gone: elsewhere.Gone = {}
        self._told: list[tuple[Counted, elsewhere.Gone]] = []
        self._said: list[tuple[Counted, list[str], dict[str, Again | None]]] = []
        self._catalog = catalog
        if catalog is not None:
            elsewhere.join(catalog, self)
        # What `rollback` restores: the ranges, the ids noted and dropped, the label counts
        # and the frames set aside taken, since `start`
        self._undo: tuple[list[np.ndarray], list[str], list[str]] = ([], [], [])
        self._undo_labels = self.labels
        self._taken: elsewhere.Gone = {}

    def close(self) -> None:
        """The import has ended: other imports' writes tell it nothing more."""
        if self._catalog is not None:
            elsewhere.leave(self._catalog, self)

    def state(self) -> tuple[Any, ...]:
        """What has been counted so far, for `restore` (an importer that sets its report back
        to an earlier copy and reads a file again sets this back with it)."""
        ids = frozenset(self._ids) if self._ids is not None else None
        return self._keys.copy(), ids, self.labels.copy(), dict(self._gone)

    def restore(self, state: tuple[Any, ...]) -> None:
        """Count from `state` (an earlier `state()`) on: the frames counted since are not.
        Of the frames another import took away since, those counted by then stay aside."""
        gone = self._gone
        keys, ids, labels, kept = state
        self._keys = keys.copy()
        self._ids = set(ids) if ids is not None else None
        self.labels = labels.copy()
        self._gone = dict(kept)
        for frame_id, frame in gone.items():
            if frame_id in kept:
                continue
            if self._ids is not None and frame_id in self._ids:  # counted by then
                self._ids.discard(frame_id)
                self._gone[frame_id] = frame
            elif self._ids is None and frame.key >= 0 and self._counted(np.array([frame.key]))[0]:
                self._gone[frame_id] = frame
        self.start()

    def start(self) -> None:
        """Call before each write: what `rollback` undoes is noted from here."""
        self._undo = ([], [], [])
        self._undo_labels = self.labels.copy()
        self._taken = {}
        self._told = []
        self._said = []

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
                self._undo[0].append(self._keys.add_range(self._first, last))
        self._tell()

    def _tell(self) -> None:
        """The other imports' frames this write takes away, set aside by them now, while the
        write holds the catalog (writes take turns: none of theirs runs before it ends)."""
        for other, frames in self._told:
            ids = [i for i in frames if other._ids is not None and i in other._ids]
            if other._ids is not None:
                other._ids.difference_update(ids)
            before = {i: other._gone.get(i) for i in frames}
            other._gone.update(frames)
            self._said.append((other, ids, before))
        self._told = []

    def unsay(self) -> None:
        """The write did not commit: what it told the other imports is undone."""
        for other, ids, before in reversed(self._said):
            if other._ids is not None:
                other._ids.update(ids)
            for i, frame in before.items():
                if frame is None:
                    other._gone.pop(i, None)
                else:
                    other._gone[i] = frame
        self._said = []

    def committed(self) -> None:
        """Call once the write has committed."""
        self._said = []

    def rollback(self) -> None:
        """Forget what was noted since `start` (the write's transaction was rolled back, and
        the report's figures with it)."""
        self.unsay()
        noted, added, dropped = self._undo
        for keys in noted:
            self._keys.remove(keys)
        if self._ids is not None:
            self._ids.difference_update(added)
            self._ids.update(dropped)
        self.labels = self._undo_labels
        self._gone.update(self._taken)
        self.start()

    # -- frames another import took away ----------------------------------------------------
    def replacing(self, con: Any, keys: np.ndarray) -> None:
        """Call before a write deletes the stored frames with `keys` (sorted, distinct) of a
        local catalog: those other imports under way counted are told of once it commits."""
        if self._catalog is None or not len(keys):
            return
        for other in elsewhere.others(self._catalog, self):
            if other._ids is None:
                mine = keys[other._counted(keys)]
                if len(mine):
                    self._told.append((other, elsewhere.frames_by_key(con, mine)))

    def _replacing_ids(self, con: Any, ids: list[str]) -> None:
        """`replacing` for a lake-backed catalog, by id (the frames `ids` may be stored)."""
        if self._catalog is None or not ids:
            return
        for other in elsewhere.others(self._catalog, self):
            if other._ids is not None:
                mine = [i for i in ids if i in other._ids]
                if mine:
                    self._told.append((other, elsewhere.frames_by_id(con, mine)))

    def returned(self, ids: Any) -> Again:
        """Of the frames `ids` this import gives again or removes, those another import
        took away after this one counted them: as this import had stored them."""
        if not self._gone:
            return NOTHING
        values = ids.to_pylist() if isinstance(ids, pa.Array | pa.ChunkedArray) else ids
        back = {i: self._gone.pop(i) for i in values if i in self._gone}
        if not back:
            return NOTHING
        self._taken.update(back)
        return summed(list(back.values()))

    # -- local catalogs: by key -------------------------------------------------------------
    def _counted(self, keys: np.ndarray) -> np.ndarray:
        """Which of `keys` this import has counted."""
        keys = np.asarray(keys, dtype=np.int64)
        return self._keys.contains(keys)

    def again(self, con: Any, keys: np.ndarray) -> Again:
        """Of the stored frames with `keys` (any order, once each) that a write replaces or
        finds unchanged, those counted before, as they are stored (read before the write
        deletes them). Only those are sorted: a sort of a write's every key showed in its
        CPU."""
        if not len(keys):
            return NOTHING
        keys = np.asarray(keys, dtype=np.int64)
        inside = self._counted(keys)
        labelled = self._labels_of(keys, inside)
        found = keys[inside]
        if not len(found):
            return Again(rois=labelled) if labelled else NOTHING
        found = np.unique(found)
        again = _rows_of_keys(con, found)
        return replace(again, rois=again.rois + labelled) if labelled else again

    def _labels_of(self, keys: np.ndarray, inside: np.ndarray) -> int:
        """The frames `keys` are written whole or found unchanged: their ROIs counted by
        label writes are forgotten, and those on frames this import did not count whole
        (whose stored ROIs are not taken back with them) returned to be taken back."""
        if not self.labels:
            return 0
        self.labels.drop(keys[inside])
        return self.labels.drop(keys[~inside])

    def keep(self, keys: np.ndarray) -> None:
        """Note the frames with `keys` (once each) as counted without being stored by this
        import (the keys its writes handed out are noted by `end`)."""
        if self._ids is not None or not len(keys):
            return
        self._undo[0].append(self._keys.add(keys))

    # -- lake-backed catalogs: by id ----------------------------------------------------------
    @property
    def by_id(self) -> bool:
        return self._ids is not None

    @property
    def has_aside(self) -> bool:
        """Whether another import took away frames this one counted (`returned`)."""
        return bool(self._gone)

    def again_ids(self, con: Any, ids: pa.Array) -> Again:
        """`again` for a lake-backed catalog: the frames `ids` (once each) counted before
        and still stored, as they are stored; all of them noted as counted now."""
        assert self._ids is not None
        values = ids.to_pylist()
        self._replacing_ids(con, values)
        found = [i for i in values if i in self._ids]
        labelled = 0
        if self.labels:  # (see `_labels_of`)
            self.labels.drop_ids(found)
            labelled = self.labels.drop_ids([i for i in values if i not in self._ids])
        added = set(values).difference(self._ids)
        self._undo[1].extend(added)
        self._ids.update(added)
        if not found:
            return Again(rois=labelled) if labelled else NOTHING
        again = _rows_of_ids(con, found)
        return replace(again, rois=again.rois + labelled) if labelled else again

    # -- frames removed -----------------------------------------------------------------------
    def removed(self, con: Any, ids: list[str]) -> Again:
        """Of the stored frames `ids` about to be deleted by the import, those it counted,
        as they are stored (they are counted no more)."""
        aside = self.returned(ids)
        if self._ids is not None:
            self._replacing_ids(con, ids)
            found = [i for i in ids if i in self._ids]
            self._undo[2].extend(found)
            self._ids.difference_update(found)
            labelled = self.labels.drop_ids(ids) if self.labels else 0
            mine = _rows_of_ids(con, found) if found else NOTHING
            return summed([mine, aside, Again(rois=labelled)])
        keys = con.execute(
            "SELECT frame_key FROM frames WHERE id IN (SELECT unnest(?::VARCHAR[]))"
            " AND frame_key IS NOT NULL ORDER BY frame_key",
            [ids],
        ).fetchnumpy()["frame_key"]
        keys = np.asarray(keys, dtype=np.int64)
        self.replacing(con, keys)
        return summed([self.again(con, keys), aside])

    # -- label-only writes ----------------------------------------------------------------------
    def relabel(
        self, con: Any, field: str, keys: np.ndarray, given: np.ndarray, cleared: np.ndarray
    ) -> int:
        """A label write gives `field` ROIs to the stored frames with `keys` (distinct), `given`
        rows each, replacing the field's ROIs of those `cleared` (the others' rows are added
        to what they hold): note what it counts, and return the ROIs counted before that it
        replaces, read before it deletes them. Those are the field's ROIs as stored on a
        frame this import counted whole, else those its label writes counted."""
        keys = np.asarray(keys, dtype=np.int64)
        given = np.asarray(given, dtype=np.int64)
        held = self.labels.get(field, keys)
        inside = self._counted(keys) & cleared
        before = held.copy()
        if inside.any():
            before[inside] = _field_rois(con, field, "frame_key", keys[inside].tolist())
        self.labels.set(field, keys, np.where(cleared, given, held + given))
        return int(before[cleared].sum())

    def relabel_ids(
        self, con: Any, field: str, ids: list[str], given: np.ndarray, cleared: np.ndarray
    ) -> int:
        """`relabel` for a lake-backed catalog, by frame id."""
        assert self._ids is not None
        held = np.asarray(self.labels.get_ids(field, ids), dtype=np.int64)
        inside = np.array([i in self._ids for i in ids], dtype=bool) & cleared
        before = held.copy()
        if inside.any():
            chosen = [i for i, x in zip(ids, inside, strict=True) if x]
            before[inside] = _field_rois(con, field, "frame_id", chosen)
        counts = np.where(cleared, given, held + given)
        self.labels.set_ids(field, ids, [int(n) for n in counts])
        return int(before[cleared].sum())


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
        if self._counted.has_aside:  # (their ids read only then)
            again = summed([again, self._counted.returned(_ids_of_keys(self._con, found))])
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


def _ids_of_keys(con: Any, keys: np.ndarray) -> list[str]:
    """The ids of the stored frames with `keys`."""
    keys = np.unique(keys)
    within = key_ranges.within("frame_key", keys)
    with registered(con, "_wb_counted", pa.table({"frame_key": keys})):
        found = con.execute(
            f"SELECT id FROM frames WHERE {within}"
            " AND frame_key IN (SELECT frame_key FROM _wb_counted)"
        ).fetchall()
    return [i for (i,) in found]


def _field_rois(con: Any, field: str, column: str, frames: list[Any]) -> np.ndarray:
    """How many `field` ROIs each of `frames` (keys or ids, as `column` names them) holds."""
    rows = con.execute(
        f"SELECT n.i, count(r.{column}) FROM (SELECT unnest(?) AS f, generate_subscripts(?, 1)"
        f" AS i) n LEFT JOIN rois r ON r.{column} = n.f AND r.field = ? GROUP BY n.i ORDER BY n.i",
        [frames, frames, field],
    ).fetchall()
    return np.array([n for _, n in rows], dtype=np.int64)
