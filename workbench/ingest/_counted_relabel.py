"""How one import's label-only writes (`add_labels`, `write_labels`) count the ROIs they give
and take back those counted before that they replace, with the files their masks name
(workbench/ingest/_counting.py holds the rule; `Counted` holds this as a part of itself).

A label write replaces a field's ROIs on the frames it clears. Of those, the ROIs this import
counted before are taken back: the field's ROIs as stored on a frame it counted whole (as
it counted them, and the mask files it stored there, if another import labelled the field
since: `_fields`, `_files`), else those its label writes counted there (`labels`; set aside
by frame id, with their mask files as stored then, when another import replaced the frame
since: `_aside`). The mask files of the field's ROIs as stored are read only for frames this
import counted before: a first import of a field, or of frames it never gave, reads nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pyarrow as pa

from workbench.ingest import _counted_elsewhere as elsewhere
from workbench.ingest import _counted_rows as rows
from workbench.ingest._counted_labels import LabelCounts
from workbench.ingest._counted_rows import Again, field_rois


class Relabelling:
    """The label writes' counting of `Counted` (which defines what is declared here)."""

    _catalog: Any
    _ids: set[str] | None
    _told: list[tuple[Any, elsewhere.Notice]]
    labels: LabelCounts
    _aside: elsewhere.Labels
    _fields: elsewhere.Fields
    _files: elsewhere.Files
    _pair_files: elsewhere.Pairs

    def _counted(self, keys: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _changing(self) -> None:
        raise NotImplementedError

    def _labelling(self, con: Any, field: str, frames: Any) -> None:
        """Call before a label write changes the `field` ROIs of the stored frames `frames`
        (keys, distinct; ids on a lake-backed catalog): the other imports under way that
        counted some of them whole are told how many ROIs of `field` those hold."""
        if self._catalog is None or not len(frames):
            return
        for other in elsewhere.others(self._catalog, self):
            if other._ids is None and self._ids is None:
                mine = np.asarray(frames)[other._counted(frames)].tolist()
                column = "frame_key"
            elif other._ids is not None and self._ids is not None:
                mine, column = [i for i in frames if i in other._ids], "frame_id"
            else:
                continue
            notice = elsewhere.Notice(pairs=other._pairs_changed(con, field, frames, mine))
            if mine:
                stored = field_rois(con, field, column, mine)
                notice.fields = {
                    f: {field: int(n)} for f, n in zip(mine, stored.tolist(), strict=True)
                }
                notice.files = rows.field_files(con, column, mine, [field])
            if notice:
                self._told.append((other, notice))

    def _pairs_changed(
        self, con: Any, field: str, frames: Any, whole: list[Any]
    ) -> elsewhere.Pairs:
        """Of the stored `frames` (keys, or ids) whose `field` another import's label write
        changes, those this import's label writes counted ROIs on (not counted whole:
        `whole`), with the files their masks name as stored, this import's."""
        if not self.labels:
            return {}
        if self._ids is None:
            held = self.labels.get(field, np.asarray(frames, dtype=np.int64)) > 0
        else:
            held = np.asarray(self.labels.get_ids(field, list(frames))) > 0
        skip = set(whole)
        chosen = {
            (f, field)
            for f, h in zip(np.asarray(frames).tolist(), held, strict=True)
            if h and f not in skip
        }
        if not chosen:
            return {}
        return self._files_of_pairs(con, "frame_key" if self._ids is None else "frame_id", chosen)

    def _files_of_pairs(
        self, con: Any, column: str, pairs: set[tuple[Any, str]]
    ) -> dict[tuple[Any, str], list[str]]:
        """The files the masks of the ROIs this import's label writes counted on each (frame,
        field) of `pairs` (frames as `column` names them) name: as stored, or as another
        import's label write found them (`_pair_files`)."""
        rest = [pair for pair in pairs if pair not in self._pair_files]
        found = {pair: self._pair_files[pair] for pair in pairs if pair in self._pair_files}
        if rest:
            frames = sorted({frame for frame, _ in rest})
            stored = rows.field_files(con, column, frames, sorted({name for _, name in rest}))
            found.update({(f, n): stored.get(f, {}).get(n, []) for f, n in rest})
        return found

    def _forget_pairs(self, pairs: Any) -> None:
        """The files noted for `pairs` (their ROIs taken back) are forgotten."""
        gone = [pair for pair in pairs if pair in self._pair_files]
        if gone:
            self._changing()
            for pair in gone:
                del self._pair_files[pair]

    def relabel(
        self,
        con: Any,
        field: str,
        keys: np.ndarray,
        given: np.ndarray,
        cleared: np.ndarray,
        ids: Callable[[], list[str]],
    ) -> Again:
        """A label write gives `field` ROIs to the stored frames with `keys` (distinct; `ids`
        gives their ids), `given` rows each, replacing the field's ROIs of those `cleared`
        (the others' rows are added to what they hold): note what it counts, and return the
        ROIs counted before that it replaces and the files their masks name, read before it
        deletes them (the module says which)."""
        keys = np.asarray(keys, dtype=np.int64)
        given = np.asarray(given, dtype=np.int64)
        self._labelling(con, field, keys)
        held = self.labels.get(field, keys)
        counted = held > 0
        aside: list[str] = []
        if self._aside:  # its counts on frames another import replaced since
            held, aside = self._held_aside(field, ids(), held, cleared)
        inside = self._counted(keys)
        before, mine = held.copy(), inside & cleared
        if mine.any():
            before[mine] = field_rois(con, field, "frame_key", keys[mine].tolist())
        frames = keys.tolist()
        files = self._replaced_files(con, field, "frame_key", frames, mine, counted & cleared)
        before = self._own_fields(field, frames, inside, before, given, cleared)
        self.labels.set(field, keys, np.where(cleared, given, held + given))
        return Again(rois=int(before[cleared].sum()), uris=_uris(files + aside))

    def relabel_ids(
        self,
        con: Any,
        field: str,
        ids: list[str],
        given: np.ndarray,
        cleared: np.ndarray,
    ) -> Again:
        """`relabel` for a lake-backed catalog, by frame id (its label writes' counts are
        held by id: they outlast the frame's version, and nothing is set aside)."""
        assert self._ids is not None
        self._labelling(con, field, ids)
        held = np.asarray(self.labels.get_ids(field, ids), dtype=np.int64)
        inside = np.array([i in self._ids for i in ids], dtype=bool)
        before, mine = held.copy(), inside & cleared
        if mine.any():
            chosen = [i for i, x in zip(ids, mine, strict=True) if x]
            before[mine] = field_rois(con, field, "frame_id", chosen)
        files = self._replaced_files(con, field, "frame_id", ids, mine, (held > 0) & cleared)
        before = self._own_fields(field, ids, inside, before, given, cleared)
        counts = np.where(cleared, given, held + given)
        self.labels.set_ids(field, ids, [int(n) for n in counts])
        return Again(rois=int(before[cleared].sum()), uris=_uris(files))

    def _replaced_files(
        self,
        con: Any,
        field: str,
        column: str,
        frames: list[Any],
        whole: np.ndarray,
        labelled: np.ndarray,
    ) -> list[str]:
        """The mask files of the `field` ROIs counted before that a label write replaces on
        `frames` (keys or ids, as `column` names them): those of the frames cleared that this
        import counted whole (`whole`: as stored, or as it stored them if another import
        labelled the field since) or whose field its label writes counted (`labelled`), read
        before they are deleted."""
        if not whole.any() and not labelled.any():  # (a field's first ROIs: nothing read)
            return []
        chosen = [f for f, w in zip(frames, whole, strict=True) if w]
        pairs = {(f, field) for f, w, m in zip(frames, whole, labelled, strict=True) if m and not w}
        files: list[str] = []
        if pairs:
            files.extend(
                u for uris in self._files_of_pairs(con, column, pairs).values() for u in uris
            )
            self._forget_pairs(pairs)
        if not chosen:
            return files
        stored = rows.field_files(con, column, chosen, [field])
        for frame in chosen:
            if field in self._fields.get(frame, {}):  # (counted whole, labelled since)
                files.extend(self._files.get(frame, {}).get(field, []))
            else:
                files.extend(stored.get(frame, {}).get(field, []))
        return files

    def _held_aside(
        self, field: str, ids: list[str], held: np.ndarray, cleared: np.ndarray
    ) -> tuple[np.ndarray, list[str]]:
        """`held` (the `field` ROIs counted on the frames `ids`) with those set aside when
        another import replaced a frame taken, as counted then, and the files their masks
        named then on the frames `cleared`."""
        held, files = held.copy(), []
        for at, frame_id in enumerate(ids):
            if (frame_id, field) in self._aside:
                self._changing()
                _, held[at], uris = self._aside.pop((frame_id, field))
                if cleared[at]:
                    files.extend(uris)
        return held, files

    def _own_fields(
        self,
        field: str,
        frames: list[Any],
        inside: np.ndarray,
        before: np.ndarray,
        given: np.ndarray,
        cleared: np.ndarray,
    ) -> np.ndarray:
        """`before` with the `field` ROIs of the frames counted whole that another import
        labelled since as this import counted them, and what it counts there noted."""
        if not self._fields:
            return before
        before = before.copy()
        for at, frame in enumerate(frames):
            counts = self._fields.get(frame)
            if not inside[at] or counts is None or field not in counts:
                continue
            self._changing()
            before[at] = counts[field]
            if cleared[at]:  # the field's ROIs stored are this import's again
                del counts[field]
                self._files.get(frame, {}).pop(field, None)
                if not counts:
                    del self._fields[frame]
                    self._files.pop(frame, None)
            else:
                counts[field] += int(given[at])
        return before


_NONE = pa.array([], pa.string())


def _uris(files: list[str]) -> pa.Array:
    return pa.array(files, pa.string()) if files else _NONE
