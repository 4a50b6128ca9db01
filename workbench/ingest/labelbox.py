"""Labelbox NDJSON annotations of videos: import onto frames already in the catalog, export a view.

Each line is one annotation of one data row (a video): an object with `segments` of
`keyframes` (bbox, point or line per keyframe, optionally nested classifications), or a
classification with an `answer` (radio: an object, checklist: a list, free text: a string;
`answers` is accepted for checklists) over `frames` ranges, or over the whole video when it has
none. A data row is a context of the catalog and Labelbox frame n (1-based) is the context's
n-th frame in frame_index/timestamp order. See docs/formats/labelbox.md for the mapping.

Import replaces the ROIs of one label field on every frame of the videos it touches. ROIs are
written every 200,000 rows (memory stays flat as the files grow): the first write of a video
empties the field on all its frames, later ones (lines of one video may be spread over files)
add to them; what is kept across writes is per ROI id the frames it is on, compactly.
The ROIs one line places (an object's segments, a classification's answers) are made in
workbench.ingest._labelbox_annotations; export is workbench.ingest._labelbox_export's.
"""

from __future__ import annotations

import gc
import itertools
import os
import uuid as uuidlib
from collections import defaultdict
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
from tqdm.auto import tqdm

from workbench.errors import IngestError, RecordError
from workbench.ingest import _labelbox_masks as masks
from workbench.ingest._labelbox_annotations import place_classification, place_object
from workbench.ingest._labelbox_contexts import Contexts
from workbench.ingest._labelbox_export import export_files
from workbench.ingest._labelbox_keyframes import is_number
from workbench.ingest._labelbox_plain import PlainLine, plain_lines
from workbench.ingest._labelbox_read import read_lines
from workbench.ingest._labelbox_rows import Base, Boxes, Part, Placed, VideoIndex, rows_of
from workbench.ingest.imports import current_run, recorded
from workbench.ingest.jsonread import Unreadable
from workbench.ingest.writer import CatalogWriter, IngestReport, RowWarnings
from workbench.media.files import MediaRootCheck
from workbench.model.limits import MAX_ROIS_PER_FRAME
from workbench.model.records import ROI_SCHEMA, Roi
from workbench.model.validation import WARN_ZERO_AREA, check_id, check_text

if TYPE_CHECKING:
    from workbench.store.catalog import Catalog

__all__ = ["export_files", "import_files"]


_LINES_PER_LOOKUP = 1_000  # lines read before the contexts they name are looked up at once
_ROWS_PER_WRITE = 200_000


@dataclass
class _Collected:
    """ROIs gathered since the last write, as rows per line; what must outlive a write:
    which frames of a context hold which ROI id (sorted positions), the track index of every
    object per context, the ROIs each frame has been given, and the contexts whose field
    has been emptied."""

    parts: dict[str, list[tuple[int, Part]]] = field(default_factory=lambda: defaultdict(list))
    lines: int = 0
    held: int = 0
    taken: dict[tuple[str, str], np.ndarray] = field(default_factory=dict)
    tracks: dict[str, dict[str, int]] = field(default_factory=lambda: defaultdict(dict))
    indexes: dict[str, VideoIndex] = field(default_factory=dict)
    counts: dict[str, np.ndarray] = field(default_factory=dict)
    refused: dict[str, set[int]] = field(default_factory=lambda: defaultdict(set))
    cleared: set[str] = field(default_factory=set)

    def index(self, contexts: Contexts, context_id: str) -> VideoIndex:
        if context_id not in self.indexes:
            self.indexes[context_id] = VideoIndex(contexts.video(context_id))
        return self.indexes[context_id]

    def keep_plain(self, line: PlainLine, field_name: str) -> None:
        """Store a plain box object placed with its chunk (`_labelbox_plain`), as `keep`
        stores the same line placed alone; its uuid is new to its video."""
        known = self.tracks[line.context_id]
        track = known.get(line.uuid, len(known))
        base = Base(line.uuid, field_name, line.name, line.confidence, track)
        text_at = np.zeros(len(line.numbers), dtype=np.int64)
        part = Boxes(
            base, line.numbers, line.values, [line.text], text_at, line.imported,
            line.positions, line.ends,
        )  # fmt: skip
        self.parts[line.context_id].append((self.lines, part))
        self.lines += 1
        self.held += len(line.positions)
        if len(line.positions):
            self.taken[line.context_id, line.uuid] = line.taken
            known.setdefault(line.uuid, track)

    def keep(self, context_id: str, roi_id: str, placed: Placed, where: str) -> None:
        """Store one line's ROIs, or none of them if one clashes with an earlier line or with
        another of its own (overlapping segments)."""
        positions = placed.positions
        mine = np.unique(positions)
        taken = self.taken.get((context_id, roi_id))
        clash = taken is not None and len(np.intersect1d(taken, mine, assume_unique=True))
        if clash or len(mine) != len(positions):
            ids = self.indexes[context_id].video.ids
            seen: set[int] = set()
            held = set() if taken is None else set(taken.tolist())
            for position in positions.tolist():
                if position in held:
                    raise RecordError(
                        where, f"uuid {roi_id!r} is already on frame {ids[position]!r}"
                    )
                if position in seen:
                    raise RecordError(where, f"segments overlap on frame {ids[position]!r}")
                seen.add(position)
        self.parts[context_id].extend((self.lines, part) for part in placed.parts)
        self.lines += 1
        self.held += len(positions)
        if len(positions):
            stored = mine.astype(np.int32)
            self.taken[context_id, roi_id] = (
                stored if taken is None else np.union1d(taken, stored).astype(np.int32)
            )
            if placed.track_index is not None:
                self.tracks[context_id].setdefault(roi_id, placed.track_index)


@recorded("labelbox")
def import_files(
    catalog: Catalog,
    paths: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
    *,
    progress: bool = True,
    field: str = "predictions",
    data_rows: Mapping[str, str] | None = None,
) -> IngestReport:
    """Import Labelbox NDJSON video annotations as ROIs of `field` on frames in the catalog.

    `data_rows` maps dataRow ids or global keys to context ids; without it a data row's
    globalKey, else its id, must be the context_id of frames in the catalog. Every frame of
    each video named in the files gets its `field` ROIs replaced (emptied when the files have
    none for it). A bad line is reported with its file and line number and skipped whole.
    """
    files = [Path(paths)] if isinstance(paths, str | os.PathLike) else [Path(p) for p in paths]
    contexts = Contexts(catalog, data_rows)
    collected = _Collected()
    names: set[str] | None = set() if _valid_field(field) else None
    run = current_run()  # the roots video masks' pictures must lie under
    roots = run.roots if run is not None else MediaRootCheck(catalog.media_roots())
    with CatalogWriter(catalog, progress=progress, desc="labelbox import") as writer:
        for path in files:
            place = (path.resolve().parent, roots)
            lines = iter(
                tqdm(_lines(path), desc=path.name, unit="line", disable=not progress, leave=False)
            )
            while True:
                with _collector_paused():
                    if not _convert_next(lines, writer, contexts, collected, names, field, place):
                        break
                if collected.held >= _ROWS_PER_WRITE:
                    _write(writer, collected, field)
                    contexts.forget()
        _write(writer, collected, field)
    return writer.report


def _valid_field(field_name: str) -> bool:
    """Whether ROIs of `field_name` can be stored (the per-line path names the problem)."""
    try:
        check_text(field_name, "field", "")
    except RecordError:
        return False
    return True


@contextmanager
def _collector_paused() -> Iterator[None]:
    """The cyclic garbage collector paused while a chunk of lines is read and converted:
    parsed JSON holds no cycles, and the tens of thousands of dicts and lists of a chunk,
    alive until it is converted, would otherwise be moved to the oldest generation and set
    off a full collection that frees nothing (0.04-0.05 s of a 1.1 s import of 800 video
    lines). They are freed by their reference counts when the chunk is let go, before the
    collector runs again. It is left on or off as it was found."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _convert_next(
    lines: Iterator[tuple[str, Any]],
    writer: CatalogWriter,
    contexts: Contexts,
    collected: _Collected,
    names: set[str] | None,
    field_name: str,
    place: tuple[Path, MediaRootCheck],
) -> bool:
    """Read the next chunk of lines and place them: the plain box objects at once, the
    others line by line (a bad one rejected with its file and line); False when there are
    none left."""
    chunk = list(itertools.islice(lines, _LINES_PER_LOOKUP))
    if not chunk:
        return False
    contexts.prefetch(
        c for _, line in chunk if isinstance(line, dict)
        for c in contexts.candidates(line.get("dataRow"))
    )  # fmt: skip
    plain = {} if names is None else plain_lines(chunk, contexts, collected.indexes, names)
    for at, (where, line) in enumerate(chunk):
        known = plain.get(at)
        if known is not None and (known.context_id, known.uuid) not in collected.taken:
            collected.keep_plain(known, field_name)  # placed and checked: nothing to reject
            continue
        with writer.record(where):
            if isinstance(line, dict) and "masks" in line:  # NDVideoMasks
                _keep_masks(line, where, contexts, collected, field_name, place)
                continue
            context_id, roi_id, placed = _annotation(line, where, contexts, collected, field_name)
            collected.keep(context_id, roi_id, placed, where)
    return True


def _keep_masks(
    line: dict[str, Any],
    where: str,
    contexts: Contexts,
    collected: _Collected,
    field_name: str,
    place: tuple[Path, MediaRootCheck],
) -> None:
    """Store a video masks line's ROIs (workbench.ingest._labelbox_masks), all or none."""
    context_id = contexts.resolve(line.get("dataRow"))
    if context_id is None:
        raise RecordError(where, f"unknown data row {line.get('dataRow')!r}")
    index = collected.index(contexts, context_id)
    named = masks.instances(line, where)
    pictures = masks.frames(line, where, index, *place)
    made = masks.placed(line, where, index, named, pictures, field_name,
                        collected.tracks[context_id])  # fmt: skip
    for roi_id, placed in made:  # an instance already on a frame costs the line before any keep
        taken = collected.taken.get((context_id, roi_id))
        if taken is not None and np.isin(placed.positions, taken).any():
            collected.keep(context_id, roi_id, placed, where)  # raises, naming the frame
    for roi_id, placed in made:
        collected.keep(context_id, roi_id, placed, where)


def _write(writer: CatalogWriter, collected: _Collected, field_name: str) -> None:
    """Store the ROIs gathered since the last write, video by video, the ROIs of a frame in
    the order of their lines, in one transaction. A video written for the first time has
    `field_name` emptied on every one of its frames first; the rows of a video written
    before are added to what its frames hold."""
    frame_ids: list[str] = []
    cleared: list[str] = []
    warnings: RowWarnings = []
    contexts = list(collected.parts)
    made = rows_of([collected.parts[c] for c in contexts])
    bounds = np.searchsorted(made.video, np.arange(len(contexts) + 1))
    keep = np.ones(made.rows.num_rows, dtype=bool)
    for number, context_id in enumerate(contexts):
        index = collected.indexes[context_id]
        where = f"context {context_id!r}"
        start, end = int(bounds[number]), int(bounds[number + 1])
        positions = made.positions[start:end]
        kept = _within_limit(writer, collected, context_id, positions, where)
        if kept is not None:
            keep[start:end] = kept
            positions = positions[kept]
        if context_id not in collected.cleared:  # every frame of the video, less those refused
            collected.cleared.add(context_id)
            refused = collected.refused[context_id]
            every = index.video.ids
            kept_ids = [f for n, f in enumerate(every) if n not in refused] if refused else every
            cleared.extend(kept_ids)
            frame_ids.extend(kept_ids)
        else:
            frame_ids.extend(index.ids.take(pa.array(np.unique(positions))).to_pylist())
        if made.zero_area[number]:
            warnings.append((WARN_ZERO_AREA, where, int(made.zero_area[number])))
    if frame_ids:
        indexes = [collected.indexes[c].ids for c in contexts]
        first = np.cumsum([0] + [len(ids) for ids in indexes[:-1]])
        at = (first[made.video] + made.positions)[keep]
        # each row's frame id as an index into the videos' ids (distinct), not a copy
        column = pa.DictionaryArray.from_arrays(pa.array(at, pa.int32()), pa.concat_arrays(indexes))
        rows = made.rows if keep.all() else made.rows.filter(pa.array(keep))
        rows = rows.set_column(rows.schema.get_field_index("frame_id"), "frame_id", column)
        # every frame named cleared (a write of videos all new to the import): said once
        whole = len(cleared) == len(frame_ids)
        writer.write_labels(
            frame_ids, field_name, _full(rows), warnings, cleared=None if whole else cleared
        )
    collected.parts.clear()
    collected.indexes.clear()
    collected.held = collected.lines = 0


def _within_limit(
    writer: CatalogWriter,
    collected: _Collected,
    context_id: str,
    positions: np.ndarray,
    where: str,
) -> np.ndarray | None:
    """Which rows of a video (at `positions`) to keep, None for all: not those of frames
    given more ROIs than a frame holds over the whole import (their update is refused,
    naming the video, as a frame's update always was; rows such a frame got in an earlier
    write stay)."""
    size = len(collected.indexes[context_id].video.ids)
    counts = collected.counts.setdefault(context_id, np.zeros(size, dtype=np.int64))
    counts += np.bincount(positions, minlength=size)
    over = np.flatnonzero(counts > MAX_ROIS_PER_FRAME)
    if not len(over):
        return None
    refused = collected.refused[context_id]
    for position in over.tolist():
        if position not in refused:
            problem = f"the frame has {counts[position]:,} ROIs, more than {MAX_ROIS_PER_FRAME:,}"
            writer.reject(RecordError(where, problem))
            refused.add(position)
    return ~np.isin(positions, over)


def _full(rows: pa.Table) -> pa.Table:
    column = pa.nulls(rows.num_rows, ROI_SCHEMA.field("visibility").type)
    return rows.append_column(ROI_SCHEMA.field("visibility"), column)


def _lines(path: Path) -> Iterator[tuple[str, Any]]:
    """(where, parsed line) for every non-blank line; a RecordError in place of a bad one."""
    if not path.is_file():
        raise IngestError(f"{path}: cannot be read (no such file)")
    try:
        for number, value in read_lines(path):
            where = f"{path}:{number}"
            if isinstance(value, Unreadable):
                problem = value.problem
                if value.syntax is not None:
                    problem = f"not valid JSON ({value.syntax.msg})"
                yield where, RecordError(where, problem)
            else:
                yield where, value
    except OSError as exc:
        raise IngestError(f"{path}: cannot be read ({exc.strerror})") from exc


def _annotation(
    line: Any, where: str, contexts: Contexts, collected: _Collected, field_name: str
) -> tuple[str, str, Placed]:
    """The context of one NDJSON line, the id of its ROIs and their rows."""
    if isinstance(line, RecordError):
        raise line
    if not isinstance(line, dict):
        raise RecordError(where, "a line must be a JSON object")
    name = line.get("name") or line.get("schemaId")
    if not isinstance(name, str):
        _unheld(line, where)
        raise RecordError(where, "an annotation needs a name (or a schemaId)")
    context_id = contexts.resolve(line.get("dataRow"))
    if context_id is None:
        raise RecordError(where, f"unknown data row {line.get('dataRow')!r}")
    index = collected.index(contexts, context_id)
    uuid = line.get("uuid") or str(uuidlib.uuid5(uuidlib.NAMESPACE_URL, where))
    uuid = check_id(uuid, "uuid", where)
    base = Roi(
        id=str(uuid),
        kind="classification",
        labels=[name],
        field=field_name,
        confidence=_confidence(line.get("confidence"), line.get("answer"), where),
        attributes={"uuid": uuid},
    )
    if "segments" in line:
        # Tracks are numbered per video in the order their objects first appear.
        known = collected.tracks[context_id]
        track = known.get(str(uuid), len(known))
        placed = place_object(line, where, index, replace(base, track_index=track))
    elif "answer" in line or "answers" in line:
        placed = place_classification(line, where, index, base)
    else:
        _unheld(line, where)
        raise RecordError(where, "an annotation needs segments (an object) or an answer")
    return context_id, str(uuid), placed


def _unheld(line: Mapping[str, Any], where: str) -> None:
    """A RecordError naming what a line the SDK writes is, when the catalog cannot hold it."""
    if "relationship" in line:  # NDRelationship: two objects' uuids and a type
        raise RecordError(
            where, "a relationship between objects is not imported (the catalog holds none)"
        )


def _confidence(value: Any, answer: Any, where: str) -> float:
    # A radio answer may carry the model's confidence itself; none at all means certain.
    if value is None and isinstance(answer, dict):
        value = answer.get("confidence")
    if value is None:
        return 1.0
    if not is_number(value) or not 0.0 <= value <= 1.0:
        raise RecordError(where, f"confidence must be a number in [0, 1], got {value!r}")
    return float(value)
