"""Scale Nucleus video scenes: import scenes of image frames or of a video file, export a view.

A scene is `{"reference_id", "frame_rate", "metadata", "frames": [item, ...]}` where each item
is a Nucleus DatasetItem `{"reference_id", "image_location", "metadata"}`, or
`{"reference_id", "video_location", "metadata"}` for a scene stored as one video file. The
keys of the Nucleus client's JSON (`items`, `image_url`, `url`, `video_url`) are read too.

Mapping (see docs/formats/nucleus.md):
- context_id = scene reference_id; frame id = item reference_id (`<scene>#<index>` for the
  frames of a video); frame_index = position in the scene (plus `index` when given);
- timestamp = round(frame_index * 1000 / frame_rate) milliseconds from the scene's start
  (frames decoded from a video take their own pts instead);
- metadata = the item's metadata, plus the scene's metadata under "scene" and the frame rate
  under "fps".

Nucleus ignores a scene whose frames change on re-upload and caps scenes at 3,000 frames; here
`update=True` replaces frames (upsert on reference_id, overwrite of taken indexes), and scenes
have no size limit. Export is workbench.ingest._nucleus_export's.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.compute as pc

from workbench.errors import RecordError
from workbench.ingest import _nucleus_items as scene_values
from workbench.ingest._nucleus_columnar import ColumnarScenes, ids_of
from workbench.ingest._nucleus_export import SCENE_KEY, export_files
from workbench.ingest.imports import given_files, option_folders, recorded
from workbench.ingest.jsonread import BOM, Unreadable, read_document, read_lines
from workbench.ingest.video import count_context_frames, default_frames_root, frames_folder
from workbench.ingest.video import video_frames as decode_video_frames
from workbench.ingest.writer import CatalogWriter, IngestReport, is_record_failure, record_error
from workbench.model.records import Frame

if TYPE_CHECKING:
    from workbench.store.catalog import Catalog

__all__ = ["add_scene", "export_files", "import_files", "read_scenes"]

_SCENE_FILES = frozenset({".json", ".ndjson", ".jsonl"})


@dataclass(frozen=True, slots=True)
class _Candidate:
    frame: Frame
    index: int
    where: str


class _SceneImport:
    """Places the frames of scenes into the catalog through one writer (`with job.writer:`).

    Afterwards `contexts` names the scenes whose frame counts must be refreshed."""

    def __init__(
        self,
        catalog: Catalog,
        *,
        update: bool,
        progress: bool,
        frames_dir: str | os.PathLike[str] | None,
        dataset: str | None,
    ) -> None:
        self.catalog = catalog
        self.update = update
        self.dataset = dataset
        self.frames_root = Path(frames_dir) if frames_dir is not None else None
        self.writer = CatalogWriter(catalog, progress=progress, desc="nucleus")
        # What the catalog plus the frames queued so far hold: index -> frame id per scene,
        # and frame id -> (scene, index). Loaded once per scene and item, then kept current.
        self.by_context: dict[str, dict[int, str]] = {}
        self.by_id: dict[str, tuple[str, int | None]] = {}
        # Frames of new scenes placed a batch at a time (`place_new`: nothing of theirs to
        # check against what is known) and not yet in by_id and by_context: recorded there
        # only when something asks (`known`), so that an import of new scenes alone records
        # no frame in Python. `_bulk_contexts` are their scenes.
        self._bulk: list[pa.Table] = []
        self._bulk_contexts: set[str] = set()
        self.contexts: set[str] = set()
        # Frame id -> the scene it left (update=True), while the catalog may still show it
        # there: kept known past `forget` while the frame is placed and not stored.
        self.vacated: dict[str, str] = {}
        # Relative local paths in scenes are read from here: the scene file's folder.
        self.base = Path.cwd()
        self._empty = not catalog.has_frames()

    # -- what is stored -----------------------------------------------------------------------
    def forget(self, keep: pa.Array | None = None) -> None:
        """Store what is queued and drop what is known of stored frames (read again from the
        catalog when a scene names them): memory stays flat however large the files. The
        frames `keep` (ids placed, not stored yet) stay known, with their scenes' slots (of
        those placed in bulk, their scenes' rows), and the slots of the scenes they left
        (the catalog still shows them there)."""
        self.writer.flush()
        bulk, self._bulk, self._bulk_contexts = self._bulk, [], set()
        given = keep if keep is not None else pa.array([], pa.string())
        held: dict[str, tuple[str, int | None]] = {}
        if self.by_id and len(given):
            held = {f: place for f in given.to_pylist() if (place := self.by_id.get(f)) is not None}
        self.vacated = {f: c for f, c in self.vacated.items() if f in held}
        scenes = {context for context, _ in held.values()} | set(self.vacated.values())
        slots = {c: self.by_context[c] for c in scenes if c in self.by_context}
        self.by_context.clear()
        self.by_id.clear()
        self.by_context.update(slots)
        self.by_id.update(held)
        for rows in bulk:
            names = pc.filter(rows["context_id"], pc.is_in(rows["id"], value_set=given))
            self.place_new(rows.filter(pc.is_in(rows["context_id"], value_set=pc.unique(names))))
        con = self.catalog.cursor()
        try:  # asked of the table: the catalog's own answer may predate this import's writes
            self._empty = not con.execute("SELECT 1 FROM frames LIMIT 1").fetchall()
        finally:
            con.close()

    # -- frames placed in bulk ----------------------------------------------------------------
    def place_new(self, rows: pa.Table) -> None:
        """Place frames (`id`, `context_id`, `frame_index`, each scene's rows together) of
        scenes `unknown` vouches for: recorded in by_id and by_context only when asked."""
        if rows.num_rows:
            self._bulk.append(rows.select(["id", "context_id", "frame_index"]))
            self._bulk_contexts.update(pc.unique(rows["context_id"]).to_pylist())

    def known(self) -> None:
        """Record the frames placed in bulk in by_id and by_context (a scene at a time, at C
        speed): whatever reads either calls this first."""
        if not self._bulk:
            return
        rows = pa.concat_tables(self._bulk)
        self._bulk, self._bulk_contexts = [], set()
        names: list[str] = rows["context_id"].to_pylist()
        indexes: list[int] = rows["frame_index"].to_pylist()
        ids: list[str] = rows["id"].to_pylist()
        for name in dict.fromkeys(names):
            self.by_context.setdefault(name, {})
        self._record(names, indexes, ids)

    def known_frames(self) -> int:
        """How many frames' places are held in memory."""
        return len(self.by_id) + sum(t.num_rows for t in self._bulk)

    def unknown(self, contexts: Sequence[str], ids: pa.Array) -> bool:
        """Whether nothing placed in this import or read from the catalog so far names one of
        the scenes `contexts` or frames `ids`."""
        if self._bulk_contexts.intersection(contexts) or not self.by_context.keys().isdisjoint(
            contexts
        ):
            return False
        if self._bulk and pc.any(pc.is_in(ids, value_set=ids_of(self._bulk))).as_py():
            return False
        return not self.by_id or self.by_id.keys().isdisjoint(ids.to_pylist())

    def _record(self, names: list[str], indexes: list[int], ids: list[str]) -> None:
        """Record frames `ids` at `indexes` of scenes `names` (each scene's rows together)."""
        self.by_id.update(zip(ids, zip(names, indexes, strict=True), strict=True))
        start = 0
        for end in range(1, len(names) + 1):
            if end == len(names) or names[end] != names[start]:
                slots = self.by_context[names[start]]
                slots.update(zip(indexes[start:end], ids[start:end], strict=True))
                start = end

    # -- what is stored, read -----------------------------------------------------------------
    def _load_contexts(self, contexts: Iterable[str]) -> None:
        self.known()
        wanted = sorted({c for c in contexts if c not in self.by_context})
        for context in wanted:
            self.by_context[context] = {}
        if not wanted or self._empty:
            return
        con = self.catalog.cursor()
        try:  # a scene's rows together, recorded a scene at a time at C speed
            rows = con.sql(
                "SELECT context_id, frame_index, id FROM frames WHERE context_id IN "
                "(SELECT unnest(?::VARCHAR[])) AND frame_index IS NOT NULL ORDER BY context_id",
                params=[wanted],
            ).to_arrow_table()
        finally:
            con.close()
        self._record(
            rows["context_id"].to_pylist(), rows["frame_index"].to_pylist(), rows["id"].to_pylist()
        )

    def load_ids(self, ids: Iterable[str] | pa.Array) -> None:
        """Know where the stored frames among `ids` are: those not known yet are looked up
        by a join on them as an Arrow column (a list parameter of Python strings cost more;
        the ids already known are left out after the join, not picked out one by one)."""
        self.known()
        if self._empty:
            return
        column = ids if isinstance(ids, pa.Array) else pa.array(list(ids), pa.string())
        if not len(column):
            return
        con = self.catalog.cursor()
        try:
            con.register("_nu_ids", pa.table({"id": column}))
            rows = con.execute(
                "SELECT id, context_id, frame_index FROM frames "
                "WHERE id IN (SELECT id FROM _nu_ids)"
            ).fetchall()
            con.unregister("_nu_ids")
        finally:
            con.close()
        known = self.by_id
        for frame_id, context, index in rows:
            known.setdefault(frame_id, (context, index))

    # -- adding scenes ------------------------------------------------------------------------
    def add(self, scene: Any, where: str, index: int | None = None) -> None:
        """Validate one scene and place its frames; bad scenes and items become RecordErrors."""
        try:
            context = scene_values.scene_id(scene, where or "scene")
            where = f"{where}, scene {context!r}" if where else f"scene {context!r}"
            offset = scene_values.offset(index, where)
            candidates = self._candidates(scene, context, where, offset)
        except Exception as exc:
            if not is_record_failure(exc):
                raise
            self.writer.reject(record_error(exc, where or "scene"))
            return
        self.contexts.add(context)
        self._load_contexts([context])
        self.load_ids(c.frame.id for c in candidates)
        self._place(context, candidates)

    def _candidates(
        self, scene: Mapping[str, Any], context: str, where: str, offset: int
    ) -> list[_Candidate]:
        video = scene_values.first(scene, scene_values.VIDEO_KEYS)
        items = scene_values.items(scene)
        if video is not None and not items:
            return self._video_candidates(scene, str(video), context, where, offset)
        if not isinstance(items, list) or not items:
            raise RecordError(where, "needs a non-empty 'frames' list or a 'video_location'")
        scene_values.check_not_lidar(items, where)
        rate = scene_values.frame_rate(scene.get("frame_rate"), where)
        scene_meta = scene_values.metadata(scene.get("metadata"), where)
        candidates: list[_Candidate] = []
        seen: dict[str, int] = {}
        for position, item in enumerate(items):
            frame_index = offset + position
            item_where = f"{where}, index {frame_index}"
            try:
                frame = scene_values.item_frame(item, context, frame_index, rate, scene_meta, item_where,
                                    self.base)  # fmt: skip
                if self.dataset is not None:
                    frame = replace(frame, dataset=self.dataset)
                item_where = f"{item_where}, item {frame.id!r}"
                if frame.id in seen:
                    raise RecordError(
                        item_where, f"reference_id already used at index {seen[frame.id]}"
                    )
            except Exception as exc:
                if not is_record_failure(exc):
                    raise
                self.writer.reject(record_error(exc, item_where))
                continue
            seen[frame.id] = frame_index
            candidates.append(_Candidate(frame, frame_index, item_where))
        return candidates

    def _video_candidates(
        self, scene: Mapping[str, Any], location: str, context: str, where: str, offset: int
    ) -> list[_Candidate]:
        path = scene_values.local_file(location, where, self.base)
        if self.writer.is_outside_media_roots(str(path)):
            # Its frames would be written under a served root: decoding it would serve it.
            raise RecordError(
                where,
                f"video {str(path)!r} lies outside the media roots: declare its folder "
                "with --media-root (media_roots=[...]) to import it",
            )
        scene_meta = scene_values.metadata(scene.get("metadata"), where)
        root = self.frames_root or default_frames_root(self.catalog)
        try:
            out_dir = frames_folder(
                root, scene_values.safe_folder_name(context), f"nucleus:{context}"
            )
        except OSError as exc:
            raise RecordError(where, f"cannot create a folder for its frames: {exc}") from exc
        candidates: list[_Candidate] = []
        frames = decode_video_frames(
            path,
            out_dir,
            context_id=context,
            id_prefix=context,
            metadata={SCENE_KEY: scene_meta} if scene_meta else None,
            dataset=self.dataset,
            index_offset=offset,
        )
        try:
            for frame in frames:
                index = frame.frame_index or 0  # always set for the frames of a video
                frame_where = f"{where}, index {index}, frame {frame.id!r}"
                candidates.append(_Candidate(frame, index, frame_where))
        except Exception as exc:
            if not is_record_failure(exc):
                raise
            # Keep the frames decoded before the failure, as the video importer does.
            err = record_error(exc, str(path))
            self.writer.reject(RecordError(f"{where}, video {err.where}", err.problem))
        return candidates

    def _place(self, context: str, candidates: list[_Candidate]) -> None:
        """Check every frame against what is stored, replace what update=True allows, queue."""
        keep = self.place_ids(
            context,
            [c.frame.id for c in candidates],
            [c.index for c in candidates],
            lambda i: candidates[i].where,
            self.writer.flush,
        )
        for cand, kept in zip(candidates, keep, strict=True):
            if kept:
                self.writer.add(cand.frame, where=cand.where)

    def place_ids(
        self,
        context: str,
        ids: Sequence[str],
        indexes: Sequence[int],
        where: Callable[[int], str],
        flush: Callable[[], None],
    ) -> list[bool]:
        """Give frames `ids` the `indexes` of scene `context` (reading what is stored first):
        which ones may be stored. Conflicts are rejected (naming `where(i)`) unless
        update=True, which deletes the frames they replace (after `flush` stores those
        waiting)."""
        self.known()
        slots = self.by_context[context]
        if self._unchanged(context, slots, ids, indexes):
            return [True] * len(ids)
        incoming = set(ids)
        doomed: set[str] = set()
        keep: list[bool] = []
        for i, (frame_id, index) in enumerate(zip(ids, indexes, strict=True)):
            occupant = slots.get(index)
            elsewhere = self.by_id.get(frame_id)
            if not self.update:
                problem = _conflict(occupant, elsewhere, frame_id, index, context)
                if problem:
                    self.writer.reject(RecordError(where(i), problem))
                    keep.append(False)
                    continue
            elif occupant is not None and occupant != frame_id and occupant not in incoming:
                doomed.add(occupant)
            if elsewhere is not None and elsewhere != (context, index):
                self._vacate(frame_id, *elsewhere)
            slots[index] = frame_id
            self.by_id[frame_id] = (context, index)
            keep.append(True)
        if doomed:
            flush()
            self._delete(doomed)
        return keep

    def _unchanged(
        self, context: str, slots: dict[int, str], ids: Sequence[str], indexes: Sequence[int]
    ) -> bool:
        """Whether frames with distinct `ids` take `indexes` without a conflict or a
        replacement: a new scene of new frames, or (update=True) the frames already there
        (the slots are then recorded, at C speed)."""
        if len(set(ids)) != len(ids):
            return False
        places = zip(itertools.repeat(context), indexes)  # (context, index) of each id
        if not slots and self.by_id.keys().isdisjoint(ids):
            slots.update(zip(indexes, ids, strict=True))
            self.by_id.update(zip(ids, places, strict=True))
            return True
        return (
            self.update
            and list(map(slots.get, indexes)) == list(ids)
            and list(map(self.by_id.get, ids)) == list(places)
        )

    def _vacate(self, frame_id: str, context: str, index: int | None) -> None:
        self.vacated[frame_id] = context
        self._load_contexts([context])
        if index is not None and self.by_context[context].get(index) == frame_id:
            del self.by_context[context][index]
        self.contexts.add(context)  # its frame count changes

    def _delete(self, frame_ids: set[str]) -> None:
        """Remove frames overwritten by frames with other ids (update=True only)."""
        ids = sorted(frame_ids)
        self.writer.remove(ids)
        for frame_id in ids:
            self.by_id.pop(frame_id, None)


def _conflict(
    occupant: str | None,
    elsewhere: tuple[str, int | None] | None,
    frame_id: str,
    index: int,
    context: str,
) -> str | None:
    if occupant is not None:
        return (
            f"index {index} of scene {context!r} already holds frame {occupant!r}; "
            "pass update=True to replace it"
        )
    if elsewhere is not None:
        other_context, other_index = elsewhere
        return (
            f"frame {frame_id!r} already exists (scene {other_context!r}, index {other_index}); "
            "pass update=True to replace it"
        )
    return None


# -- public API ---------------------------------------------------------------------------


def add_scene(
    catalog: Catalog,
    scene: Mapping[str, Any],
    *,
    update: bool = False,
    index: int | None = None,
    progress: bool = True,
    frames_dir: str | os.PathLike[str] | None = None,
    dataset: str | None = None,
) -> IngestReport:
    """Add one Nucleus VideoScene (a dict, as in the Nucleus JSON) to the catalog.

    Its frames take indexes `index`, `index + 1`, ... (from 0 when `index` is None). A frame
    whose index is taken, or whose reference_id is stored already, is rejected with a
    RecordError naming scene, index and reference_id unless `update=True`, which replaces
    the stored frame. The scene's other frames are stored either way.
    """
    job = _SceneImport(
        catalog, update=update, progress=progress, frames_dir=frames_dir, dataset=dataset
    )
    with job.writer:
        job.add(scene, "", index=index)
    count_context_frames(catalog, job.contexts)
    return job.writer.report


@recorded("nucleus", roots=option_folders("frames_dir", default=default_frames_root))
def import_files(
    catalog: Catalog,
    paths: str | os.PathLike[str] | Iterable[str | os.PathLike[str]],
    *,
    progress: bool = True,
    update: bool = False,
    frames_dir: str | os.PathLike[str] | None = None,
    dataset: str | None = None,
) -> IngestReport:
    """Import JSON files (one scene, a list of scenes or {"scenes": [...]}) and NDJSON files
    (one scene per line) of Nucleus VideoScenes. See `add_scene` for `update`."""
    job = _SceneImport(
        catalog, update=update, progress=progress, frames_dir=frames_dir, dataset=dataset
    )
    with job.writer:
        columnar = ColumnarScenes(job)
        try:
            for path in given_files(paths, _SCENE_FILES):
                job.base = path.resolve().parent
                if path.suffix.lower() in (".ndjson", ".jsonl") and path.is_file():
                    columnar.read(path)
                else:
                    columnar.read_entries(read_scenes(path))
        finally:
            columnar.close()
    count_context_frames(catalog, job.contexts)
    return job.writer.report


def read_scenes(path: Path) -> Iterator[tuple[str, Any]]:
    """(where, scene) for each scene of a JSON or NDJSON file, a record at a time.

    A scene that cannot be read (not JSON, too deep, too large) is yielded as a `BadJson`,
    which `add` rejects, so the scenes after it are still read; a file that cannot be opened
    raises RecordError.
    """
    try:
        with path.open("rb"):
            pass
    except OSError as exc:
        raise RecordError(str(path), f"cannot read the file: {exc.strerror or exc}") from exc
    if path.suffix.lower() in (".ndjson", ".jsonl"):
        for number, scene in read_lines(path):
            yield f"{path}:{number}", _scene_or_bad(scene)
        return
    for index, scene in read_document(path, "scenes"):
        if index is None:
            yield str(path), _scene_or_bad(scene)
        elif _is_object_file(path):
            yield f"{path}: scenes[{index}]", _scene_or_bad(scene)
        else:
            yield f"{path}[{index}]", _scene_or_bad(scene)


def _is_object_file(path: Path) -> bool:
    with path.open("rb") as fh:
        return _first_byte(fh) == b"{"


def _scene_or_bad(scene: Any) -> Any:
    if not isinstance(scene, Unreadable):
        return scene
    if scene.syntax is not None:
        return scene_values.BadJson(f"{scene.syntax.msg} at column {scene.syntax.colno}")
    return scene_values.BadJson(scene.problem)


def _first_byte(fh: IO[bytes]) -> bytes:
    while True:
        byte = fh.read(1)
        if byte == BOM[:1]:
            fh.read(len(BOM) - 1)
            continue
        if not byte or not byte.isspace():
            fh.seek(0)
            return byte
