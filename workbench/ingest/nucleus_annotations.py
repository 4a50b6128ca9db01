"""Scale Nucleus annotations and predictions: import the payloads the Nucleus SDK writes
(`BoxAnnotation.to_json()`, ..., `BoxPrediction.to_json()`, ...) as ROIs of frames already in
the catalog, and export a view's ROIs as such payloads.

A file is NDJSON (one payload per line, as the SDK's own `annotate(..., asynchronous=True)`
uploads them) or a JSON list of payloads. Each payload names its item by `reference_id`,
which is the frame id the scene importer (workbench.ingest.nucleus) stored; a category whose
`reference_id` is a scene (a SceneCategoryAnnotation) goes on every frame of that scene. See
docs/formats/nucleus.md for the mapping. Export is workbench.ingest._nucleus_annotation_export's.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from workbench.errors import RecordError
from workbench.ingest._nucleus_annotation_export import export_files
from workbench.ingest._nucleus_items import reference_id
from workbench.ingest._nucleus_payloads import EXTRA, Annotation, read_payload
from workbench.ingest.imports import recorded
from workbench.ingest.jsonread import Unreadable, read_document, read_lines
from workbench.ingest.writer import CatalogWriter, IngestReport
from workbench.model.keypoints import KeypointLabel
from workbench.model.records import Roi
from workbench.store.arrow import registered
from workbench.store.keypoints import keypoint_labels

if TYPE_CHECKING:
    from workbench.store.catalog import Catalog

__all__ = ["export_files", "import_files", "read_payloads"]

_FILES = frozenset({".json", ".ndjson", ".jsonl"})
# The lists of an item's row, by the type their payloads have.
_ROW_TYPES = {"box": "box", "polygon": "polygon", "line": "line", "keypoints": "keypoints",
              "cuboid": "cuboid", "category": "category", "multicategory": "multicategory",
              "segmentation": "mask"}  # fmt: skip


@recorded("nucleus_annotations")
def import_files(
    catalog: Catalog,
    paths: str | os.PathLike[str] | Iterable[str | os.PathLike[str]],
    *,
    progress: bool = True,
    field: str = "ground_truth",
) -> IngestReport:
    """Import Nucleus annotation and prediction payloads as `field` ROIs of the frames their
    `reference_id`s name. Every frame given annotations has its `field` ROIs replaced by
    them; the others keep theirs. A payload that cannot be held (a cuboid, an unknown item,
    a malformed one) is refused alone, naming its file and line (or list index)."""
    with CatalogWriter(catalog, progress=progress, desc="nucleus annotations") as writer:
        read: list[Annotation] = []
        for path in _files(paths):
            folder = path.resolve().parent
            with writer.record(str(path)):  # a file that cannot be read
                for where, record in read_payloads(path):
                    with writer.record(where):
                        if isinstance(record, Unreadable):
                            raise RecordError(where, f"not valid JSON: {_problem(record)}")
                        for at, payload in _payloads_of(record, where):
                            with writer.record(at):
                                read.append(read_payload(payload, at, folder))
        placing = _Placing(catalog, writer)
        for frame_id, rois in placing.frames(read):
            writer.add_labels(frame_id, field, rois, where=f"item {frame_id!r}")
        writer.add_keypoint_labels(placing.new_keypoints.values())
    return writer.report


def _files(paths: str | os.PathLike[str] | Iterable[str | os.PathLike[str]]) -> list[Path]:
    given = [Path(paths)] if isinstance(paths, str | os.PathLike) else [Path(p) for p in paths]
    found: list[Path] = []
    for path in given:
        if path.is_dir():
            found.extend(sorted(p for p in path.rglob("*") if p.suffix.lower() in _FILES))
        else:
            found.append(path)
    return found


def read_payloads(path: Path) -> Iterator[tuple[str, Any]]:
    """(where, payload) of each record of an NDJSON file (`file:line`) or of a JSON list
    (`file[n]`, or `{"annotations": [...]}`); a record that cannot be read comes as an
    Unreadable."""
    try:
        with path.open("rb"):
            pass
    except OSError as exc:
        raise RecordError(str(path), f"cannot read the file: {exc.strerror or exc}") from exc
    if path.suffix.lower() in (".ndjson", ".jsonl"):
        for n, value in read_lines(path):
            yield f"{path}:{n}", value
        return
    for index, value in read_document(path, "annotations"):
        yield (str(path) if index is None else f"{path}[{index}]"), value


def _payloads_of(record: Any, where: str) -> Iterator[tuple[str, Any]]:
    """The payloads of a record: itself, or those of an item's row (`{"item": {...},
    "annotations": {"box": [...], ...}}` as Dataset.items_and_annotations gives them, or
    the rows Nucleus exports, `{"item": {...}, "box": [...], "segmentation": {...}}`), each
    given the item's reference_id and, when it names none, the type of its list."""
    if not isinstance(record, Mapping) or "item" not in record:
        yield where, record
        return
    item = record["item"]
    ref = reference_id(item.get("reference_id") if isinstance(item, Mapping) else None,
                       "item", where)  # fmt: skip
    lists = record.get("annotations", record)
    if not isinstance(lists, Mapping):
        raise RecordError(where, f"annotations must be an object, got {type(lists).__name__}")
    for key, kind in _ROW_TYPES.items():
        given = lists.get(key)
        if given is None:
            continue
        for n, payload in enumerate(given if isinstance(given, list) else [given]):
            if isinstance(payload, Mapping):
                payload = {"type": kind, **payload, "reference_id": ref}
            yield f"{where}, {key}[{n}]", payload


def _problem(value: Unreadable) -> str:
    if value.syntax is not None:
        return f"{value.syntax.msg} at column {value.syntax.colno}"
    return value.problem


@dataclass(frozen=True, slots=True)
class _Put:
    """An annotation's ROIs on a frame: their track, and their id when the placing gave it."""

    annotation: Annotation
    rois: list[Roi]
    track: int | None = None
    named: str | None = None


@dataclass(slots=True)
class _Frame:
    context: str | None
    rois: list[_Put] = field(default_factory=list)
    taken: set[str] = field(default_factory=set)


class _Placing:
    """Puts annotations on the frames (or scenes) they name: ROI ids, track indexes and the
    keypoints' names checked against what the catalog and the import already hold."""

    def __init__(self, catalog: Catalog, writer: CatalogWriter) -> None:
        self.catalog = catalog
        self.writer = writer
        self.by_frame: dict[str, _Frame] = {}
        self.scenes: dict[str, list[str]] = {}
        self.looked_up = False
        self.tracks: dict[tuple[str | None, str], int] = {}
        self.scene_ids: Counter[tuple[str, str]] = Counter()
        con = catalog.cursor()
        try:
            self.kept_keypoints = keypoint_labels(con)
        finally:
            con.close()
        self.new_keypoints: dict[str, KeypointLabel] = {}

    def frames(self, read: list[Annotation]) -> Iterator[tuple[str, list[Roi]]]:
        """Each frame the annotations `read` give ROIs, with them (in the files' order); an
        annotation that cannot be placed is refused."""
        self._look_up([a.reference_id for a in read])
        for annotation in read:
            try:
                self._put(annotation)
            except RecordError as exc:
                self.writer.reject(exc)
        for frame_id, frame in self.by_frame.items():
            if frame.rois:
                yield frame_id, list(_with_ids(frame))

    def _look_up(self, refs: list[str]) -> None:
        """The frames (with their scenes) and the scenes (with their frames) named."""
        con = self.catalog.cursor()
        try:
            with registered(con, "_wb_nu_refs", pa.table({"r": pa.array(sorted(set(refs)))})):
                for frame_id, context in con.execute(
                    "SELECT id, context_id FROM frames WHERE id IN (SELECT r FROM _wb_nu_refs)"
                ).fetchall():
                    self.by_frame[frame_id] = _Frame(context)
                for context, ids in con.execute(
                    "SELECT context_id, list(id ORDER BY frame_index, timestamp, id) FROM frames "
                    "WHERE context_id IN (SELECT r FROM _wb_nu_refs) GROUP BY context_id"
                ).fetchall():
                    self.scenes[context] = ids
        finally:
            con.close()

    def _put(self, annotation: Annotation) -> None:
        ref, where = annotation.reference_id, annotation.where
        frame = self.by_frame.get(ref)
        if frame is None:
            if annotation.type in ("category", "multicategory") and ref in self.scenes:
                self._put_on_scene(annotation, annotation.rois)
                return
            raise RecordError(where, f"no frame (or scene) has reference_id {ref!r}")
        rois = self._keypoints_in_order(annotation)
        if annotation.annotation_id is not None:
            if annotation.annotation_id in frame.taken:
                raise RecordError(
                    where, f"annotation_id {annotation.annotation_id!r} came earlier for this item"
                )
            frame.taken.add(annotation.annotation_id)
        track = None
        if annotation.track is not None:
            track = self.tracks.setdefault((frame.context, annotation.track), len(self.tracks))
        frame.rois.append(_Put(annotation, rois, track))

    def _put_on_scene(self, annotation: Annotation, rois: list[Roi]) -> None:
        """A scene's category on each of its frames, with one id (`scene-<type>-<n>`)."""
        ref = annotation.reference_id
        n = self.scene_ids[(ref, annotation.type)]
        self.scene_ids[(ref, annotation.type)] += 1
        marked = []
        for roi in rois:
            extra = {**roi.attributes.get(EXTRA, {}), "scene": True}
            marked.append(replace(roi, attributes={**roi.attributes, EXTRA: extra}))
        put = _Put(annotation, marked, named=f"scene-{annotation.type}-{n}")
        for frame_id in self.scenes[ref]:
            self.by_frame.setdefault(frame_id, _Frame(ref)).rois.append(put)

    def _keypoints_in_order(self, annotation: Annotation) -> list[Roi]:
        """The ROIs, a keypoints one's points put in the order the label's names have in the
        catalog (or earlier in this import); refused when the names differ."""
        given = annotation.keypoints
        if given is None:
            return annotation.rois
        label = given.label
        known = self.kept_keypoints.get(label) or self.new_keypoints.get(label)
        if known is None:
            self.new_keypoints[label] = given
            return annotation.rois
        if known.names == given.names:
            return annotation.rois
        if sorted(known.names) != sorted(given.names):
            raise RecordError(
                annotation.where,
                f"label {label!r} has keypoints named {', '.join(known.names)}; "
                f"these are named {', '.join(given.names)}",
            )
        roi = annotation.rois[0]
        ring, visibility = roi.geometry[0], roi.visibility or ()
        at = [given.names.index(name) for name in known.names]
        ordered = [c for n in at for c in ring[2 * n : 2 * n + 2]]
        return [replace(roi, geometry=[ordered], visibility=[visibility[n] for n in at])]


def _with_ids(frame: _Frame) -> Iterator[Roi]:
    """The frame's ROIs with their ids: the annotation_id given, else `<type>-<n>` (the n-th
    without one on the frame, skipping ids given); a segmentation's `<its id>/<segment>`."""
    counts: Counter[str] = Counter()
    for put in frame.rois:
        kind = put.annotation.type
        base = put.named or put.annotation.annotation_id or _free_id(kind, counts, frame.taken)
        for n, roi in enumerate(put.rois):
            yield _placed(roi, f"{base}/{n}" if kind == "mask" else base, put.track)


def _placed(roi: Roi, roi_id: str, track: int | None) -> Roi:
    """The ROI with its id and track (built whole: `replace` costs several times more)."""
    return Roi(id=roi_id, kind=roi.kind, labels=roi.labels, field=roi.field,
               geometry=roi.geometry, confidence=roi.confidence, source_ids=roi.source_ids,
               mask=roi.mask, attributes=roi.attributes, track_index=track,
               keyframe=roi.keyframe, bbox=roi.bbox, visibility=roi.visibility)  # fmt: skip


def _free_id(kind: str, counts: Counter[str], taken: set[str]) -> str:
    """`<kind>-<n>` for the next n of the frame that no annotation_id given takes."""
    while (made := f"{kind}-{counts[kind]}") in taken:
        counts[kind] += 1
    counts[kind] += 1
    return made
