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
it again (_counted_elsewhere.py). So does a write that replaces a frame this import's label
writes counted ROIs on (their pairs are held by key), and a label write (or annotations
merged back) that changes a field of a frame this import counted whole tells it how many
ROIs of that field it held, and the files their masks named: what this import takes back
of that frame or field is then what it counted there. A checkpoint (`state`, for an importer
that reads a file again after a failure of its own) is a copy of what was counted, told as
another import under way is, of this import's own writes too: `restore` then counts from
it, what the writes since took of it set aside as it was counted; the copy is taken in the
writers' turn, so a write under way has told what it copies, or tells the copy. A person's
SQL that deletes frames in `catalog.transaction()` tells, just before its COMMIT, what an
import's write that removes them would (_counted_deletes.py). The label writes' counting,
with the mask files of the ROIs they replace, is _counted_relabel.py.

A write finds the counted frames among those it replaces or finds unchanged (their keys,
which it reads anyway), and only when there are some reads how many sources and ROIs they
hold, before it deletes them: a first import, or an update of frames given once each,
reads nothing more.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import replace
from typing import Any

import numpy as np
import pyarrow as pa

from workbench.ingest import _counted_elsewhere as elsewhere
from workbench.ingest import _counted_rows as rows
from workbench.ingest._counted_deletes import check as check_deletes
from workbench.ingest._counted_keys import KeyBits
from workbench.ingest._counted_labels import LabelCounts
from workbench.ingest._counted_relabel import Relabelling
from workbench.ingest._counted_rows import (
    NOTHING,
    Again,
    ids_of_keys,
    rows_of_ids,
    rows_of_keys,
    summed,
    take_back,
    uris_of_rows,
)
from workbench.ingest.report import IngestReport
from workbench.store import before_commit
from workbench.store.layout import next_frame_key

__all__ = ["NOTHING", "Again", "Counted", "Tally", "summed", "take_back", "uris_of_rows"]

before_commit.add(check_deletes)  # a person's deletes noted by the imports under way

# What `rollback` restores (`Counted._undo`): the keys noted, the ids noted, the ids dropped,
# the keys dropped (their frames' earlier versions counted again)
_Undo = tuple[list[np.ndarray], list[str], list[str], list[np.ndarray]]
# and what other imports' writes did as it was (`_changing`)
_Aside = tuple[elsewhere.Fields, elsewhere.Files, elsewhere.Labels, elsewhere.Pairs]


class Counted(Relabelling):
    """The frames one import has counted so far (see the module's rule)."""

    def __init__(self, *, lake: bool, catalog: Any = None) -> None:
        self._first: int | None = None  # the catalog's next key as the write under way began
        self._keys = KeyBits()  # the keys of the frames counted (local catalogs)
        self._ids: set[str] | None = set() if lake else None
        self.labels = LabelCounts(lake=lake)  # the ROIs counted by label-only writes
        # What other imports' writes did to what this one counted (_counted_elsewhere.py):
        # frames they replaced or removed, as this import stored them; fields of frames it
        # counted whole that they labelled; its label writes' ROIs on frames they replaced
        self._gone: elsewhere.Gone = {}
        self._fields: elsewhere.Fields = {}
        self._files: elsewhere.Files = {}  # those fields' mask files as it stored them
        self._aside: elsewhere.Labels = {}
        self._pair_files: elsewhere.Pairs = {}  # its label writes' files, where others changed them
        self._told: list[tuple[Counted, elsewhere.Notice]] = []  # by the write under way
        self._said: list[Callable[[], None]] = []  # what undoes what it told
        self._catalog = catalog
        self._points: weakref.WeakSet[Counted] = weakref.WeakSet()  # its `state()`s held
        if catalog is not None:
            elsewhere.join(catalog, self)
        # What `rollback` restores: the keys noted and dropped, the ids noted and dropped, the
        # label counts, what other imports' writes did as it was, since `start`
        self._undo: _Undo = ([], [], [], [])
        self._undo_labels = self.labels
        self._taken: elsewhere.Gone = {}
        self._undo_aside: _Aside | None = None

    def close(self) -> None:
        """The import has ended: other imports' writes tell it nothing more."""
        if self._catalog is not None:
            elsewhere.leave(self._catalog, self)
            for point in list(self._points):
                elsewhere.leave(self._catalog, point)

    def state(self) -> Counted:
        """What has been counted so far, for `restore` (an importer that sets its report back
        to an earlier copy and reads a file again sets this back with it): a copy, told from
        now on what every later write takes away of what it counted, this import's own as
        another import's (`_counted_elsewhere`), until it is dropped or the import ends. Taken
        between writes (their turn held): a write under way tells it, or has told this."""
        with self._turn():
            point = Counted(lake=self._ids is not None, catalog=self._catalog)
            point._copied(self)
        self._points.add(point)
        return point

    def restore(self, point: Counted) -> None:
        """Count from `point` (an earlier `state()`) on: the frames counted since are not.
        What the writes since took away of what it had counted (this import's own writes
        as another import's: frames replaced or removed, fields labelled, frames its label
        writes counted ROIs on written whole) is set aside as it was counted then, and taken
        back once when this import gives it again."""
        with self._turn():
            self._copied(point)
        self.start()

    def _turn(self) -> Any:
        """Held while no write runs: what writes tell (`_noticed`) is noted in their turns."""
        return self._catalog.turn() if self._catalog is not None else nullcontext()

    def _copied(self, other: Counted) -> None:
        """Hold what `other` has counted, as a copy."""
        self._keys = other._keys.copy()
        self._ids = set(other._ids) if other._ids is not None else None
        self.labels = other.labels.copy()
        self._gone = dict(other._gone)
        self._fields, self._files = elsewhere.copied(other._fields, other._files)
        self._aside = dict(other._aside)
        self._pair_files = dict(other._pair_files)

    def start(self) -> None:
        """Call before each write: what `rollback` undoes is noted from here."""
        self._undo = ([], [], [], [])
        self._undo_labels = self.labels.copy()
        self._taken = {}
        self._undo_aside = None
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
        """What this write does to the other imports' frames, noted by them now, while the
        write holds the catalog (writes take turns: none of theirs runs before it ends)."""
        for other, notice in self._told:
            self._said.append(other._noticed(notice))
        self._told = []

    def _noticed(self, notice: elsewhere.Notice) -> Callable[[], None]:
        """Note what another import's write did (`notice`), in that write's turn (`state`
        and `restore` wait for it); returns what undoes it."""
        ids = [i for i in notice.gone if self._ids is not None and i in self._ids]
        if self._ids is not None:
            self._ids.difference_update(ids)
        before = {i: self._gone.get(i) for i in notice.gone}
        self._gone.update(notice.gone)
        fields, files = elsewhere.copied(self._fields, self._files)
        aside, pair_files = dict(self._aside), dict(self._pair_files)
        for frame_id, frame in notice.gone.items():  # (their fields were read into it)
            self._fields.pop(frame.key if self._ids is None else frame_id, None)
            self._files.pop(frame.key if self._ids is None else frame_id, None)
        for frame, counts in notice.fields.items():
            held = self._fields.setdefault(frame, {})
            for name, n in counts.items():
                if name not in held:  # a field changed before keeps what it held then
                    held[name] = n
                    uris = notice.files.get(frame, {}).get(name)
                    if uris:
                        self._files.setdefault(frame, {})[name] = uris
        self._aside.update(notice.labels)
        for pair, uris in notice.pairs.items():  # (a pair changed before keeps its files then)
            self._pair_files.setdefault(pair, uris)

        def undo() -> None:
            if self._ids is not None:
                self._ids.update(ids)
            for i, frame in before.items():
                if frame is None:
                    self._gone.pop(i, None)
                else:
                    self._gone[i] = frame
            self._fields, self._files, self._aside = fields, files, aside
            self._pair_files = pair_files

        return undo

    def unsay(self) -> None:
        """The write did not commit: what it told the other imports is undone."""
        for undo in reversed(self._said):
            undo()
        self._said = []

    def committed(self) -> None:
        """Call once the write has committed."""
        self._said = []

    def rollback(self) -> None:
        """Forget what was noted since `start` (the write's transaction was rolled back, and
        the report's figures with it)."""
        self.unsay()
        noted, added, dropped, gone = self._undo
        for keys in noted:
            self._keys.remove(keys)
        for keys in gone:
            self._keys.add(keys)
        if self._ids is not None:
            self._ids.difference_update(added)
            self._ids.update(dropped)
        self.labels = self._undo_labels
        self._gone.update(self._taken)
        if self._undo_aside is not None:
            self._fields, self._files, self._aside, self._pair_files = self._undo_aside
        self.start()

    def _changing(self) -> None:
        """This write is about to change `_fields` or `_aside`: as they are, for `rollback`."""
        if self._undo_aside is None:
            fields, files = elsewhere.copied(self._fields, self._files)
            self._undo_aside = (fields, files, dict(self._aside), dict(self._pair_files))

    # -- what a write does to other imports' frames -----------------------------------------
    def replacing(self, con: Any, keys: np.ndarray) -> None:
        """Call before a write deletes the stored frames with `keys` (sorted, distinct) of a
        local catalog: those other imports under way counted, whole or by label writes, are
        told of once it commits."""
        if self._catalog is None or not len(keys):
            return
        for other in elsewhere.others(self._catalog, self):
            if other._ids is None:
                notice = other._taken_away(con, keys)
                if notice:
                    self._told.append((other, notice))

    def _taken_away(self, con: Any, keys: np.ndarray) -> elsewhere.Notice:
        """What this import (a local catalog's) is told when the stored frames with `keys`
        (sorted, distinct; read on `con`) are deleted: those it counted whole, as it stored
        them, and its label writes' ROIs on them, by frame id."""
        notice = elsewhere.Notice()
        mine = keys[self._counted(keys)]
        if len(mine):
            notice.gone = self._as_stored(con, elsewhere.frames_by_key(con, mine))
        labelled = self.labels.held(keys)
        if labelled:
            frames = np.unique(np.concatenate([k for _, k, _ in labelled]))
            ids = rows.ids_by_key(con, frames)
            pairs = {(k, name) for name, at, _ in labelled for k in at.tolist()}
            files = self._files_of_pairs(con, "frame_key", pairs)
            for name, at, counts in labelled:
                for key, n in zip(at.tolist(), counts.tolist(), strict=True):
                    notice.labels[(ids[key], name)] = (key, n, files[(key, name)])
        return notice

    def deleted(self, con: Any, keys: np.ndarray) -> Callable[[], None] | None:
        """The stored frames with `keys` (sorted, distinct; `con` reads them as they were)
        are deleted by a write that told no import (a person's SQL): of those this import
        counted, not told of already, note what another import's write would have told
        (`_counted_deletes.py`); returns what undoes it, or None."""
        if self._ids is not None:
            return None
        notice = self._taken_away(con, keys)
        notice.gone = {i: f for i, f in notice.gone.items() if i not in self._gone}
        notice.labels = {p: n for p, n in notice.labels.items() if p not in self._aside}
        return self._noticed(notice) if notice else None

    def span(self) -> tuple[int, int] | None:
        """The lowest and highest keys counted (a local catalog's), whole or by label
        writes, if any."""
        if self._ids is not None:
            return None
        spans = [s for s in (self._keys.span(), self.labels.span()) if s is not None]
        return (min(s[0] for s in spans), max(s[1] for s in spans)) if spans else None

    def _replacing_ids(self, con: Any, ids: list[str]) -> None:
        """`replacing` for a lake-backed catalog, by id (the frames `ids` may be stored);
        its label writes' pairs are held by id, and outlast the frame's version."""
        if self._catalog is None or not ids:
            return
        for other in elsewhere.others(self._catalog, self):
            if other._ids is not None:
                mine = [i for i in ids if i in other._ids]
                if mine:
                    gone = other._as_stored(con, elsewhere.frames_by_id(con, mine))
                    self._told.append((other, elsewhere.Notice(gone=gone)))

    def edited(self, con: Any, ids: list[str], fields: list[str]) -> None:
        """Another way than an import's writer is about to change the ROIs of the stored
        frames `ids` (`fields` among those it gives ROIs): of those this import counted
        whole, what it counted in each field is noted (_counted_elsewhere.py, `edited`)."""
        if self._ids is not None:
            mine, column = [i for i in ids if i in self._ids], "frame_id"
        else:
            keys = rows.keys_of_ids(con, ids)
            mine, column = keys[self._counted(keys)].tolist(), "frame_key"
        if mine:  # (a fact about this import's count: it stands if the edit rolls back)
            told = rows.fields_of(con, column, mine, fields)
            names = sorted({name for counts in told.values() for name in counts})
            files = rows.field_files(con, column, mine, names)
            self._noticed(elsewhere.Notice(fields=told, files=files))

    def _as_stored(self, con: Any, frames: elsewhere.Gone) -> elsewhere.Gone:
        """`frames` (this import's, as stored now) with the ROIs of their fields that other
        imports' label writes changed as this import counted them."""
        if not self._fields:
            return frames
        by = {i: (f.key if self._ids is None else i) for i, f in frames.items()}
        mine = {by[i]: self._fields[by[i]] for i in frames if by[i] in self._fields}
        if not mine:
            return frames
        column = "frame_key" if self._ids is None else "frame_id"
        delta = rows.fields_delta(con, column, mine)
        files = rows.own_files(con, column, mine, self._files)
        return {
            i: replace(
                f, rois=f.rois + delta.get(by[i], 0), uris=rows.swapped(f.uris, files, [by[i]])
            )
            for i, f in frames.items()
        }

    def returned(self, ids: Any) -> Again:
        """Of the frames `ids` this import gives again or removes, those another import
        took away after this one counted them (whole, or its label writes' ROIs on them):
        as this import had stored them."""
        if not self._gone and not self._aside:
            return NOTHING
        values = ids.to_pylist() if isinstance(ids, pa.Array | pa.ChunkedArray) else ids
        back = {i: self._gone.pop(i) for i in values if i in self._gone}
        labelled, files = 0, []
        if self._aside:
            wanted = set(values)
            pairs = [pair for pair in self._aside if pair[0] in wanted]
            if pairs:
                self._changing()
                for pair in pairs:
                    _, n, uris = self._aside.pop(pair)
                    labelled += n
                    files.extend(uris)
        if not back and not labelled:
            return NOTHING
        self._taken.update(back)
        return summed([*back.values(), Again(rois=labelled, uris=pa.array(files, pa.string()))])

    # -- local catalogs: by key -------------------------------------------------------------
    def _counted(self, keys: np.ndarray) -> np.ndarray:
        """Which of `keys` this import has counted."""
        keys = np.asarray(keys, dtype=np.int64)
        return self._keys.contains(keys)

    def again(self, con: Any, keys: np.ndarray) -> Again:
        """Of the stored frames with `keys` (any order, once each) that a write replaces or
        finds unchanged, those counted before, as they are stored (read before the write
        deletes them), the fields other imports labelled since as counted. Only those are
        sorted: a sort of a write's every key showed in its CPU."""
        if not len(keys):
            return NOTHING
        keys = np.asarray(keys, dtype=np.int64)
        inside = self._counted(keys)
        labelled = self._labels_of(con, keys, inside)
        found = keys[inside]
        if not len(found):
            self._forget_fields(keys)
            return labelled
        found = np.unique(found)
        again = self._corrected(con, rows_of_keys(con, found), found.tolist())
        self._keys.remove(found)  # (those still stored are noted again: `keep`, `end`)
        self._undo[3].append(found)
        self._forget_fields(keys)
        return summed([again, labelled]) if labelled else again

    def _corrected(self, con: Any, again: Again, frames: list[Any]) -> Again:
        """`again`, the stored `frames` (keys, or ids), with the ROIs of the fields other
        imports labelled since this import counted them as it counted them."""
        if not self._fields:
            return again
        mine = {f: self._fields[f] for f in frames if f in self._fields}
        if not mine:
            return again
        column = "frame_key" if self._ids is None else "frame_id"
        delta = rows.fields_delta(con, column, mine)
        uris = rows.swapped(again.uris, rows.own_files(con, column, mine, self._files), list(mine))
        return replace(again, rois=again.rois + sum(delta.values()), uris=uris)

    def _forget_fields(self, frames: Any) -> None:
        """The frames (keys, or ids) are written whole or found as stored: what other
        imports' label writes changed on their earlier versions is no longer theirs."""
        if self._fields:
            gone = [f for f in np.asarray(frames).tolist() if f in self._fields]
            if gone:
                self._changing()
                for f in gone:
                    del self._fields[f]
                    self._files.pop(f, None)

    def _labels_of(self, con: Any, keys: np.ndarray, inside: np.ndarray) -> Again:
        """The frames `keys` are written whole or found unchanged: their ROIs counted by
        label writes are forgotten, and those on frames this import did not count whole
        (whose stored ROIs are not taken back with them) returned to be taken back, with
        the files their masks name as stored."""
        if not self.labels:
            return NOTHING
        self.labels.drop(keys[inside])
        held = self.labels.held(keys[~inside])
        if not held:
            return NOTHING
        pairs = {(k, name) for name, at, _ in held for k in at.tolist()}
        files = self._files_of_pairs(con, "frame_key", pairs)
        self._forget_pairs(pairs)
        uris = pa.array([u for f in files.values() for u in f], pa.string())
        return Again(rois=self.labels.drop(keys[~inside]), uris=uris)

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
        return bool(self._gone or self._aside)

    def again_ids(self, con: Any, ids: pa.Array) -> Again:
        """`again` for a lake-backed catalog: the frames `ids` (once each) counted before
        and still stored, as they are stored; all of them noted as counted now."""
        assert self._ids is not None
        values = ids.to_pylist()
        self._replacing_ids(con, values)
        found = [i for i in values if i in self._ids]
        labelled = self._labels_of_ids(con, found, [i for i in values if i not in self._ids])
        added = set(values).difference(self._ids)
        self._undo[1].extend(added)
        self._ids.update(added)
        if not found:
            self._forget_fields(values)
            return labelled
        again = self._corrected(con, rows_of_ids(con, found), found)
        self._forget_fields(values)
        return summed([again, labelled]) if labelled else again

    def _labels_of_ids(self, con: Any, whole: list[str], others: list[str]) -> Again:
        """`_labels_of` for a lake-backed catalog: the frames `whole` counted whole, the
        frames `others` not."""
        if not self.labels:
            return NOTHING
        self.labels.drop_ids(whole)
        pairs = self.labels.drop_pairs_ids(others)
        if not pairs:
            return NOTHING
        files = self._files_of_pairs(con, "frame_id", set(pairs))
        self._forget_pairs(pairs)
        uris = pa.array([u for f in files.values() for u in f], pa.string())
        return Again(rois=sum(pairs.values()), uris=uris)

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
            labelled = self._labels_of_ids(con, found, [i for i in ids if i not in found])
            mine = self._corrected(con, rows_of_ids(con, found), found) if found else NOTHING
            self._forget_fields(ids)
            return summed([mine, aside, labelled])
        keys = rows.keys_of_ids(con, ids)
        self.replacing(con, keys)
        return summed([self.again(con, keys), aside])


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
            again = summed([again, self._counted.returned(ids_of_keys(self._con, found))])
        self.report.frames += len(found) - again.frames
        self.report.sources += sources - again.sources
        self.report.rois += rois - again.rois
        self.taken.append(again.uris)
        self._counted.keep(found)
