"""Frames one import counted that another import's write replaces, removes or labels.

Import A stores frame X; import B (another writer on the same catalog, in another thread or
between A's writes) replaces X; A then gives X again. A's count of X must be taken back, as
A's version held it, but X's stored row is B's now, under a key A never handed out, and
A's version is gone. So the write that replaces or removes stored frames tells the other
imports under way on the catalog which of their counted frames it takes away (their ids,
and each one's sources, ROIs and files as stored, read before it deletes them: that import's
version); each keeps them aside until it gives one of them again, or removes it, and takes
its figures back then. Every writer of a catalog opened read-write is in this process (the
catalog is opened read-write by one process at a time), and its writes take turns, so the
imports under way are those registered here. What a write tells is noted once it has
committed: a write rolled back took nothing away.

Two more things a write tells (a `Notice`). A label write that replaces or adds to a field's
ROIs on frames another import counted whole tells it how many ROIs of that field those
frames held, as that import stored them (`Notice.fields`): what it takes back of the field,
or of the frame, is then its own ROIs, not the label write's. A write that replaces or removes
frames whose fields another import's label writes counted, on a local catalog (whose pairs
are held by frame key, and the key goes with the frame), tells it those counts by frame id
(`Notice.labels`), to be taken back when it labels or gives the frame again. A service's
edit of a frame's ROIs (annotations merged back: no service deletes frames) tells the same as
a label write does (`edited`). A label write or a merge also tells the files the masks of
the field's ROIs named (`Notice.files`): what that import takes back of the frame's files is
then its own. An import's checkpoint (`Counted.state`) is among the imports under way here
and is told of that import's own writes too. The common case, one import at a time with no
checkpoint held, reads and holds nothing.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa

from workbench.ingest._counted_rows import Again, ids_by_key, uris_of_rows
from workbench.store.arrow import registered

if TYPE_CHECKING:
    from workbench.ingest._counting import Counted

# The catalog -> the imports under way on it (their Counted), dropped with them.
_UNDER_WAY: weakref.WeakKeyDictionary[Any, weakref.WeakSet[Counted]] = weakref.WeakKeyDictionary()

Gone = dict[str, Again]  # frame id -> the frame as the import that counted it stored it
# A frame counted whole (its key, or id on a lake-backed catalog) -> field -> the ROIs of
# that field the import counted on it, where another import's label write changed them
Fields = dict[Any, dict[str, int]]
# Of those fields, the files the masks of its ROIs named as the import stored them (if any)
Files = dict[Any, dict[str, list[str]]]
# (frame id, field) -> (the frame's key then, the ROIs an import's label writes counted there,
# the files their masks named as stored then)
Labels = dict[tuple[str, str], tuple[int, int, list[str]]]
# (frame key, or id on a lake-backed catalog; field) -> the files the masks of the ROIs an
# import's label writes counted there named, where another import's label write changed them
Pairs = dict[tuple[Any, str], list[str]]


@dataclass(slots=True)
class Notice:
    """What one write tells another import under way about the frames it counted."""

    gone: Gone = field(default_factory=dict)
    fields: Fields = field(default_factory=dict)
    files: Files = field(default_factory=dict)
    labels: Labels = field(default_factory=dict)
    pairs: Pairs = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.gone or self.fields or self.labels or self.pairs)


def copied(fields: Fields, files: Files) -> tuple[Fields, Files]:
    """Copies of `fields` and `files` (their inner dicts change in place)."""
    return {f: dict(n) for f, n in fields.items()}, {f: dict(u) for f, u in files.items()}


_LOCK = threading.Lock()  # imports start and end in threads of their own


def join(catalog: Any, counted: Counted) -> None:
    with _LOCK:
        _UNDER_WAY.setdefault(catalog, weakref.WeakSet()).add(counted)


def leave(catalog: Any, counted: Counted) -> None:
    with _LOCK:
        under_way = _UNDER_WAY.get(catalog)
        if under_way is not None:
            under_way.discard(counted)


# The catalogs (by id) this thread is inside an import's write on (it tells what it deletes)
_WRITING = threading.local()


@contextmanager
def writing(catalog: Any) -> Iterator[None]:
    """Around an import's write (its transaction): it tells the imports under way what it
    deletes of theirs itself, so the check of a person's deletes skips it."""
    held: set[int] | None = getattr(_WRITING, "catalogs", None)
    if held is None:
        held = _WRITING.catalogs = set()
    outer = id(catalog) in held
    held.add(id(catalog))
    try:
        yield
    finally:
        if not outer:
            held.discard(id(catalog))


def is_writing(catalog: Any) -> bool:
    """Whether this thread is inside an import's write on `catalog`."""
    return id(catalog) in getattr(_WRITING, "catalogs", ())


def others(catalog: Any, counted: object) -> list[Counted]:
    """The other imports under way on `catalog` (all of them, with None)."""
    with _LOCK:
        under_way = _UNDER_WAY.get(catalog)
        return [c for c in list(under_way) if c is not counted] if under_way else []


def edited(catalog: Any, con: Any, frame_ids: Sequence[str], fields: Iterable[str]) -> None:
    """Call in the transaction of a write other than an import's writer (a service's edit:
    annotations merged back) before it changes the ROIs of the stored frames `frame_ids`,
    giving some of them ROIs in `fields`: each import under way that counted some of those
    frames whole notes how many ROIs each of their fields holds, as it stored them, and takes
    those back when it gives the frame again, not the edit's. Nothing is read when no import
    is under way."""
    imports = others(catalog, None)
    if imports and frame_ids:
        names = sorted(set(fields))
        for counted in imports:
            counted.edited(con, list(frame_ids), names)


def frames_by_key(con: Any, keys: np.ndarray) -> Gone:
    """The stored frames with `keys` (sorted, distinct), each as it is stored."""
    found = ids_by_key(con, keys)
    frames = frames_by_id(con, list(found.values()))
    return {i: replace(frames[i], key=key) for key, i in found.items() if i in frames}


def frames_by_id(con: Any, ids: list[str]) -> Gone:
    """The stored frames among `ids`, each as it is stored: its sources, ROIs and files."""
    if not ids:
        return {}
    chosen = "frame_id IN (SELECT id FROM _wb_gone)"
    with registered(con, "_wb_gone", pa.table({"id": pa.array(ids, pa.string())})):
        stored = con.execute("SELECT id FROM frames WHERE id IN (SELECT id FROM _wb_gone)")
        held = [i for (i,) in stored.fetchall()]
        sources = con.sql(
            f"SELECT frame_id, uri, preview_uri, masks FROM sources WHERE {chosen}"
            " ORDER BY frame_id"
        ).to_arrow_table()
        rois = dict(
            con.execute(
                f"SELECT frame_id, count(*) FROM rois WHERE {chosen} GROUP BY frame_id"
            ).fetchall()
        )
        masks = con.sql(
            f"SELECT frame_id, mask FROM rois WHERE mask IS NOT NULL AND {chosen} ORDER BY frame_id"
        ).to_arrow_table()
    sources_of, masks_of = _by_frame(sources), _by_frame(masks)
    found = {}
    for i in held:
        its_sources = sources_of.get(i, sources.slice(0, 0))
        files = uris_of_rows(its_sources, masks_of.get(i, masks.slice(0, 0)))
        found[i] = Again(1, its_sources.num_rows, int(rois.get(i, 0)), files)
    return found


def _by_frame(rows: pa.Table) -> dict[str, pa.Table]:
    """`rows` (ordered by frame_id) cut into each frame's rows."""
    ids = rows["frame_id"].to_pylist()
    cuts = [k for k in range(1, len(ids)) if ids[k] != ids[k - 1]]
    bounds = zip([0, *cuts], [*cuts, len(ids)], strict=True)
    return {ids[a]: rows.slice(a, b - a) for a, b in bounds if b > a}
