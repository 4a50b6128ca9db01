"""Nucleus annotations put on the frames (or scenes) they name, a chunk of the files at a time
(workbench.ingest.nucleus_annotations): ROI ids, track indexes and keypoints' names checked
against what the catalog and the import hold, each frame's ROIs of the field written whole.

A frame the import gave ROIs in an earlier chunk gets them back from the catalog, with the new
ones added, so memory holds one chunk whatever the files' size and order. The ids made for
annotations without one skip every id the frame holds then; an annotation_id that an earlier
chunk made for another annotation of the frame is refused as given twice.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from workbench.errors import RecordError
from workbench.ingest._nucleus_payloads import EXTRA, Annotation
from workbench.ingest.writer import CatalogWriter
from workbench.model.keypoints import KeypointLabel
from workbench.model.records import Roi
from workbench.store.arrow import registered
from workbench.store.keypoints import keypoint_labels

if TYPE_CHECKING:
    from workbench.store.catalog import Catalog

__all__ = ["CHUNK", "Placing"]

CHUNK = 100_000  # annotations read before they are placed and written


@dataclass(frozen=True, slots=True)
class _Put:
    """An annotation's ROIs on a frame: their track, and their id when the placing gave it."""

    annotation: Annotation
    rois: list[Roi]
    track: int | None = None
    named: str | None = None


@dataclass(slots=True)
class _Frame:
    """A frame's ROIs of the field: those this import stored on it before, then the new."""

    context: str | None
    stored: list[Roi] = field(default_factory=list)
    rois: list[_Put] = field(default_factory=list)
    taken: set[str] = field(default_factory=set)


class Placing:
    """Places annotations a chunk at a time (`write`) as `field` ROIs through `writer`."""

    def __init__(self, catalog: Catalog, writer: CatalogWriter, field_name: str) -> None:
        self.catalog = catalog
        self.writer = writer
        self.field = field_name
        self.by_frame: dict[str, _Frame] = {}
        self.scenes: dict[str, list[str]] = {}
        self.written: set[str] = set()  # frames given ROIs by an earlier chunk
        self.tracks: dict[tuple[str | None, str], int] = {}
        self.scene_ids: Counter[tuple[str, str]] = Counter()
        con = catalog.cursor()
        try:
            self.kept_keypoints = keypoint_labels(con)
        finally:
            con.close()
        self.new_keypoints: dict[str, KeypointLabel] = {}

    def write(self, read: list[Annotation]) -> None:
        """Place the annotations `read` (refusing those that cannot be) and store each
        frame's ROIs of the field: those of earlier chunks and theirs."""
        if not read:
            return
        self._look_up([a.reference_id for a in read])
        for annotation in read:
            try:
                self._put(annotation)
            except RecordError as exc:
                self.writer.reject(exc)
        for frame_id, frame in self.by_frame.items():
            if frame.rois:
                rois = [*frame.stored, *_with_ids(frame)]
                self.writer.add_labels(frame_id, self.field, rois, where=f"item {frame_id!r}")
                self.written.add(frame_id)
        self.writer.flush()  # what the next chunk reads back is stored
        self.by_frame, self.scenes = {}, {}

    def _look_up(self, refs: list[str]) -> None:
        """The frames (with their scenes) and the scenes (with their frames) named, and the
        ROIs earlier chunks stored on them."""
        con = self.catalog.cursor()
        try:
            with registered(con, "_wb_nu_refs", pa.table({"r": pa.array(sorted(set(refs)))})):
                frames = con.execute(
                    "SELECT id, context_id FROM frames WHERE id IN (SELECT r FROM _wb_nu_refs)"
                ).fetchall()
                for context, ids in con.execute(
                    "SELECT context_id, list(id ORDER BY frame_index, timestamp, id) FROM frames "
                    "WHERE context_id IN (SELECT r FROM _wb_nu_refs) GROUP BY context_id"
                ).fetchall():
                    self.scenes[context] = ids
            named = [f for f, _ in frames] + [f for ids in self.scenes.values() for f in ids]
            stored = self._stored(con, [f for f in named if f in self.written])
        finally:
            con.close()
        for frame_id, context in frames:
            self.by_frame[frame_id] = _frame(context, stored.get(frame_id, []))
        for context, ids in self.scenes.items():
            for frame_id in ids:
                if frame_id in stored and frame_id not in self.by_frame:
                    self.by_frame[frame_id] = _frame(context, stored[frame_id])

    def _stored(self, con: Any, frame_ids: list[str]) -> dict[str, list[Roi]]:
        """The field's ROIs of `frame_ids`, as this import stored them."""
        if not frame_ids:
            return {}
        found: dict[str, list[Roi]] = {}
        with registered(con, "_wb_nu_again", pa.table({"f": pa.array(frame_ids, pa.string())})):
            rows = con.execute(
                "SELECT frame_id, id, kind, labels, confidence, geometry, mask, attributes, "
                "track_index, keyframe, source_ids, visibility FROM rois "
                "WHERE field = ? AND frame_id IN (SELECT f FROM _wb_nu_again)",
                [self.field],
            ).fetchall()
        for row in rows:
            found.setdefault(row[0], []).append(self._roi(*row[1:]))
        return found

    def _roi(self, roi_id: str, kind: str, labels: Any, confidence: Any, geometry: Any,
             mask: Any, attributes: Any, track: Any, keyframe: Any, sources: Any,
             visibility: Any) -> Roi:  # fmt: skip
        return Roi(id=roi_id, kind=kind, labels=labels or [], field=self.field,
                   geometry=geometry or [], confidence=confidence, source_ids=sources or [],
                   mask=json.loads(mask) if mask else None,
                   attributes=json.loads(attributes) if attributes else {},
                   track_index=track, keyframe=keyframe, visibility=visibility)  # fmt: skip

    def _put(self, annotation: Annotation) -> None:
        ref, where = annotation.reference_id, annotation.where
        frame = self.by_frame.get(ref)
        if frame is None:
            if annotation.type in ("category", "multicategory") and ref in self.scenes:
                self._put_on_scene(annotation)
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

    def _put_on_scene(self, annotation: Annotation) -> None:
        """A scene's category on each of its frames, with one id (`scene-<type>-<n>`)."""
        ref = annotation.reference_id
        n = self.scene_ids[(ref, annotation.type)]
        self.scene_ids[(ref, annotation.type)] += 1
        marked = []
        for roi in annotation.rois:
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


def _frame(context: str | None, stored: list[Roi]) -> _Frame:
    return _Frame(context, stored, taken={roi.id for roi in stored})


def _with_ids(frame: _Frame) -> Iterator[Roi]:
    """The frame's new ROIs with their ids: the annotation_id given, else `<type>-<n>` (the
    n-th without one on the frame, skipping ids taken); a segmentation's `<its id>/<n>`."""
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
    """`<kind>-<n>` for the next n of the frame that no id taken holds."""
    while (made := f"{kind}-{counts[kind]}") in taken:
        counts[kind] += 1
    counts[kind] += 1
    taken.add(made)
    return made
