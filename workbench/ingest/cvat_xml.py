"""CVAT XML 1.1, as a CVAT user downloads and uploads it by hand: "CVAT for images" (one
`<image>` per frame with its shapes and tags) and "CVAT for video" (one `<track>` per object,
a shape per frame).

Export writes the ROIs of one label field of a view: boxes, polygons (one ring each),
polylines, points and (images only) RLE masks, keypoints as skeletons and classifications as
tags; CVAT has no confidence, so it is left out (_cvat_shapes.py: masks, turned boxes). Import replaces that field on the frames the file
names: an image by its name (the end of a source's URI, `images/0001.jpg`), a video frame by
its number (the frame's frame_index, its true frame number in the video). Attributes travel
as CVAT `<attribute>`s (text), `occluded` and `z_order` as CVAT's own. A file with a DOCTYPE
is refused (entity expansion); a bad shape costs only itself, named by file and element.
"""

from __future__ import annotations

import json
import math
import os
import xml.etree.ElementTree as ET
from collections import defaultdict
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from workbench.errors import IngestError, RecordError
from workbench.ingest import _cvat_shapes, _cvat_skeleton
from workbench.ingest._budget import held_to_budget
from workbench.ingest._labelbox_contexts import Contexts
from workbench.ingest.export import ExportReport, written_atomically
from workbench.ingest.imports import recorded
from workbench.ingest.views import ViewLike, view_frames
from workbench.ingest.writer import CatalogWriter, IngestReport
from workbench.model import rle
from workbench.model.geometry import corner_ring
from workbench.model.keypoints import KeypointLabel
from workbench.model.records import Roi

if TYPE_CHECKING:
    from workbench.store.catalog import Catalog

__all__ = ["export_files", "import_files"]

Mode = Literal["images", "video"]
SHAPES = {"box": "box", "polygon": "polygon", "polyline": "polyline", "point": "points",
          "mask": "mask"}  # fmt: skip
KINDS = {tag: kind for kind, tag in SHAPES.items()}
_HELD = "box, polygon, polyline, points, mask, skeleton, tag (images)"
_OWN_ATTRIBUTES = frozenset({"occluded", "z_order", "source", "group_id"})


# -- export ------------------------------------------------------------------------------------
@held_to_budget
def export_files(
    view: ViewLike,
    dest: str | os.PathLike[str],
    *,
    progress: bool = True,
    field: str = "ground_truth",
    mode: Mode = "images",
) -> ExportReport:
    """Write the view's ROIs of `field` as CVAT for images 1.1 (`mode="images"`, one file) or
    CVAT for video 1.1 (`mode="video"`: one file per context, `<context>.xml` in the folder
    `dest`)."""
    if mode not in ("images", "video"):
        raise IngestError(f"mode must be 'images' or 'video', got {mode!r}")
    target = Path(dest)
    ids = list(view.frame_ids())
    frames = [f for chunk in view_frames(view.catalog, ids) for f in chunk]
    rois = view.rois()
    by_frame: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in rois.to_pylist():
        if row["field"] == field:
            row["attributes"] = json.loads(row["attributes"]) if row["attributes"] else {}
            by_frame[row["frame_id"]].append(row)
    report = ExportReport(dest=target)
    skipped: dict[str, int] = defaultdict(int)
    if mode == "images":
        names = _image_names(frames)
        rows = [r for rows in by_frame.values() for r in rows]
        root = _document(target.stem, rows, len(frames))
        points = _cvat_skeleton.declare_all(view.catalog, root, rows)
        for number, frame in enumerate(frames):
            image = ET.SubElement(root, "image", id=str(number), name=names[frame.id])
            source = frame.sources[0] if frame.sources else None
            if source is not None and source.width and source.height:
                image.set("width", str(source.width))
                image.set("height", str(source.height))
            for row in by_frame.get(frame.id, []):
                report.rois += _shape(image, row, skipped, tags=True, points=points) is not None
            report.frames += 1
        _write(root, target)
        report.files.append(target)
    else:
        target.mkdir(parents=True, exist_ok=True)
        contexts: dict[str, list[Any]] = defaultdict(list)
        for frame in frames:
            contexts[frame.context_id].append(frame)
        for context, members in contexts.items():
            path = target / f"{_safe(context)}.xml"
            written = _video(view.catalog, context, members, by_frame, skipped, path)
            report.frames += len(members)
            report.rois += written
            report.files.append(path)
    report.skipped = [f"{n} {reason}" for reason, n in sorted(skipped.items())]
    return report


def _document(name: str, rows: Sequence[Mapping[str, Any]], size: int) -> ET.Element:
    root = ET.Element("annotations")
    ET.SubElement(root, "version").text = "1.1"
    task = ET.SubElement(ET.SubElement(root, "meta"), "task")
    ET.SubElement(task, "name").text = name
    ET.SubElement(task, "size").text = str(size)
    labels = ET.SubElement(task, "labels")
    declared: dict[str, set[str]] = {}
    for row in rows:
        if row["label"] is not None:
            names = declared.setdefault(row["label"], set())
            names.update(k for k, v in row["attributes"].items() if _scalar(v))
    for label, attributes in sorted(declared.items()):
        element = ET.SubElement(labels, "label")
        ET.SubElement(element, "name").text = label
        listed = ET.SubElement(element, "attributes")
        for attribute in sorted(attributes - _OWN_ATTRIBUTES):
            spec = ET.SubElement(listed, "attribute")
            ET.SubElement(spec, "name").text = attribute
            ET.SubElement(spec, "input_type").text = "text"
    return root


def _scalar(value: Any) -> bool:
    return isinstance(value, str | int | float | bool) and not isinstance(value, dict | list)


def _shape(
    parent: ET.Element,
    row: Mapping[str, Any],
    skipped: dict[str, int],
    *,
    tags: bool,
    frame: int | None = None,
    points: Mapping[str, tuple[str, ...]] | None = None,
) -> ET.Element | None:
    """The CVAT element of one ROI under `parent`, or None (counted in `skipped`); keypoints
    (images only) as skeletons whose points are named by `points` (label -> names)."""
    kind, label, rings = row["kind"], row["label"], row["geometry"] or []
    if label is None:
        skipped["ROIs without a label"] += 1
        return None
    if kind == "classification" and tags:
        element = ET.SubElement(parent, "tag", label=label)
        element.set("source", str(row["attributes"].get("source", "manual")))
        if row["attributes"].get("group_id") is not None:
            element.set("group_id", str(row["attributes"]["group_id"]))
        _attributes(element, row["attributes"])
        return element
    if kind == "keypoints" and points is not None and rings:
        element = ET.SubElement(parent, "skeleton", label=label)
        if frame is not None:  # as CVAT writes a track's skeleton: no outside of its own
            element.set("frame", str(frame))
            element.set("keyframe", "0" if row["keyframe"] is False else "1")
        element.set("source", str(row["attributes"].get("source", "manual")))
        element.set("z_order", str(row["attributes"].get("z_order", 0)))
        _cvat_skeleton.write(element, row, points[label], frame)
        _attributes(element, row["attributes"])
        return element
    if kind == "mask" and not tags:
        skipped[_cvat_shapes.MASKS_IN_TRACKS] += 1
        return None
    mask = _mask_attributes(row) if kind == "mask" else None
    if kind not in SHAPES or (not rings and mask is None):
        what = "boxes, polygons, polylines, points, keypoints as skeletons"
        what += ", RLE masks" if tags else ""
        skipped[f"{kind} ROIs (CVAT XML here holds {what})"] += 1
        return None
    if len(rings) > 1:
        skipped[f"{kind} ROIs of more than one ring"] += 1
        return None
    attributes = row["attributes"]
    element = ET.SubElement(parent, SHAPES[kind], label=label)
    if frame is not None:
        element.set("frame", str(frame))
        element.set("keyframe", "0" if row["keyframe"] is False else "1")
        element.set("outside", "0")
    element.set("occluded", "1" if attributes.get("occluded") in (True, 1, "1", "true") else "0")
    element.set("source", str(attributes.get("source", "manual")))
    if mask is not None:
        for name, value in mask.items():
            element.set(name, value)
    elif kind == "box":
        element.set("xtl", _number(row["x_min"]))
        element.set("ytl", _number(row["y_min"]))
        element.set("xbr", _number(row["x_max"]))
        element.set("ybr", _number(row["y_max"]))
    else:
        ring = rings[0]
        pairs = zip(ring[0::2], ring[1::2], strict=True)
        element.set("points", ";".join(f"{_number(x)},{_number(y)}" for x, y in pairs))
    element.set("z_order", str(attributes.get("z_order", 0)))
    if attributes.get("group_id") is not None and frame is None:  # a track's is the track's
        element.set("group_id", str(attributes["group_id"]))
    _attributes(element, attributes)
    return element


def _mask_attributes(row: Mapping[str, Any]) -> dict[str, str] | None:
    """A mask ROI's `<mask>` attributes; None for a mask stored as an image, or empty."""
    mask = json.loads(row["mask"]) if isinstance(row["mask"], str) else row["mask"] or {}
    found = mask.get("rle") if isinstance(mask, dict) else None
    return _cvat_shapes.mask_to_cvat(found) if isinstance(found, dict) else None


def _attributes(element: ET.Element, attributes: Mapping[str, Any]) -> None:
    for name, value in attributes.items():
        if name not in _OWN_ATTRIBUTES and _scalar(value):
            text = json.dumps(value) if isinstance(value, bool) else str(value)
            ET.SubElement(element, "attribute", name=name).text = text


def _number(value: float) -> str:
    return f"{value:.12g}"


def _image_names(frames: Sequence[Any]) -> dict[str, str]:
    """Each frame's image name: its source's path below the folder all sources share."""
    paths = {f.id: (f.sources[0].uri if f.sources else f.id) for f in frames}
    local = [p.split("://", 1)[-1] for p in paths.values()]
    if len(local) == 1:
        common = os.path.dirname(local[0])
    elif local and len({os.path.isabs(p) for p in local}) == 1:
        common = os.path.commonpath(local)
    else:  # none, or absolute and relative paths mixed (a frame without a source): as they are
        common = ""
    names = {}
    for frame_id, uri in paths.items():
        path = uri.split("://", 1)[-1]
        names[frame_id] = os.path.relpath(path, common) if common else path
    return names


def _video(
    catalog: Catalog,
    context: str,
    frames: Sequence[Any],
    by_frame: Mapping[str, list[dict[str, Any]]],
    skipped: dict[str, int],
    path: Path,
) -> int:
    """One context as CVAT for video: a track per track index, one per untracked ROI."""
    video = Contexts(catalog, None).video(context)
    number = {frame_id: n - 1 for frame_id, n in video.number_of().items()}
    rows = [r for f in frames for r in by_frame.get(f.id, [])]
    root = _document(context, rows, video.last)
    points = _cvat_skeleton.declare_all(catalog, root, rows)
    sized = next((s for f in frames for s in f.sources if s.width and s.height), None)
    if sized is not None:  # CVAT for video says its frames' size once
        original = ET.SubElement(root.find("meta/task"), "original_size")  # type: ignore[arg-type]
        ET.SubElement(original, "width").text = str(sized.width)
        ET.SubElement(original, "height").text = str(sized.height)
    tracks: dict[Any, list[tuple[int, dict[str, Any]]]] = defaultdict(list)
    for frame in frames:
        for row in by_frame.get(frame.id, []):
            key = row["track_index"] if row["track_index"] is not None else (frame.id, row["id"])
            tracks[(row["kind"], key)].append((number[frame.id], row))
    written = 0
    for track_id, (_, shapes) in enumerate(sorted(tracks.items(), key=lambda kv: min(kv[1])[0])):
        shapes.sort(key=lambda item: item[0])
        first = shapes[0][1]
        if first["kind"] == "classification":
            skipped["classification ROIs (CVAT for video here holds shapes)"] += len(shapes)
            continue
        track = ET.Element("track", id=str(track_id), label=first["label"] or "")
        track.set("source", str(first["attributes"].get("source", "manual")))
        if first["attributes"].get("group_id") is not None:
            track.set("group_id", str(first["attributes"]["group_id"]))
        made = [
            _shape(track, row, skipped, tags=False, frame=n, points=points) for n, row in shapes
        ]
        if not any(e is not None for e in made):
            continue
        last = shapes[-1][0]
        if last + 1 < video.last:  # the track ends here; CVAT would carry it to the end
            end = _shape(track, shapes[-1][1], defaultdict(int), tags=False, frame=last + 1,
                         points=points)  # fmt: skip
            for outside in [] if end is None else end.findall("points") or [end]:
                outside.set("outside", "1")
        root.append(track)
        written += sum(e is not None for e in made)
    _write(root, path)
    return written


def _write(root: ET.Element, target: Path) -> None:
    ET.indent(root)
    with written_atomically(target) as out:
        out.write('<?xml version="1.0" encoding="utf-8"?>\n')
        out.write(ET.tostring(root, encoding="unicode") + "\n")


def _safe(name: str) -> str:
    cleaned = "".join(c if c.isalnum() or c in "._-" else "_" for c in name).strip(".")
    return cleaned[:100] or "context"


# -- import ------------------------------------------------------------------------------------
@recorded("cvat_xml")
def import_files(
    catalog: Catalog,
    paths: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
    *,
    progress: bool = True,
    field: str = "ground_truth",
    context: str | None = None,
) -> IngestReport:
    """Import CVAT for images or CVAT for video 1.1 XML as the ROIs of `field`.

    An image is the frame whose source URI ends with the image's name; the frames of a video
    file are those of `context` (default: the file's task name), frame n being the frame whose
    frame_index is n. Each frame named gets its `field` replaced (a video's every frame).
    """
    files = [Path(paths)] if isinstance(paths, str | os.PathLike) else [Path(p) for p in paths]
    with CatalogWriter(catalog, progress=progress, desc="cvat xml import") as writer:
        for path in files:
            root = _parse(path)
            if root.find("track") is not None or root.find("image") is None:
                _import_video(catalog, path, root, writer, field, context)
            else:
                _import_images(catalog, path, root, writer, field)
    return writer.report


def _parse(path: Path) -> ET.Element:
    try:
        head = path.read_bytes()[:4096]
    except OSError as exc:
        raise IngestError(f"{path}: cannot be read ({exc.strerror})") from exc
    if b"<!DOCTYPE" in head or b"<!ENTITY" in head:
        raise IngestError(f"{path}: a DOCTYPE is not accepted in CVAT XML")
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError as exc:
        raise IngestError(f"{path}: not valid XML ({exc})") from exc
    if root.tag != "annotations":
        raise IngestError(f"{path}: not CVAT XML (the root is <{root.tag}>, not <annotations>)")
    return root


def _import_images(
    catalog: Catalog, path: Path, root: ET.Element, writer: CatalogWriter, field: str
) -> None:
    images = root.findall("image")
    names = [image.get("name") or "" for image in images]
    found = _frames_named(catalog, names)
    kept, known = _cvat_skeleton.known(catalog, root)
    for image, name in zip(images, names, strict=True):
        where = f"{path}, image {name!r}"
        matches = found.get(name, [])
        if len(matches) != 1:
            problem = "no frame has an image of this name" if not matches else (
                f"{len(matches)} frames have an image of this name")  # fmt: skip
            writer.reject(RecordError(where, problem))
            continue
        frame_id, source_id = matches[0]
        size = _size(image.get("width"), image.get("height"))
        rois = list(_rois(image, where, field, source_id, writer, size, keypoints=known))
        writer.add_labels(frame_id, field, rois, where=where)
    writer.add_keypoint_labels(v for k, v in known.items() if k not in kept)


def _frames_named(catalog: Catalog, names: Sequence[str]) -> dict[str, list[tuple[str, str]]]:
    """Image name -> (frame id, source id) of the sources whose URI ends with that name."""
    import pyarrow as pa

    from workbench.store.arrow import registered

    con = catalog.cursor()
    try:
        with registered(con, "_wb_names", pa.table({"name": pa.array(names, pa.string())})):
            rows = con.execute(
                "SELECT n.name, s.frame_id, s.id FROM _wb_names n JOIN sources s "
                "ON s.uri = n.name OR ends_with(s.uri, '/' || n.name) ORDER BY ALL"
            ).fetchall()
    finally:
        con.close()
    found: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for name, frame_id, source_id in rows:
        found[name].append((frame_id, source_id))
    return found


def _rois(
    parent: ET.Element,
    where: str,
    field: str,
    source_id: str | None,
    writer: CatalogWriter,
    size: tuple[int, int] | None,
    keypoints: dict[str, KeypointLabel] | None = None,
) -> Iterator[Roi]:
    for number, element in enumerate(parent):
        here = f"{where}, <{element.tag}> #{number + 1}"
        with writer.record(here):
            if element.tag == "skeleton" and keypoints is not None:
                yield _skeleton(element, here, field, source_id, str(number), keypoints)
                continue
            yield _roi(element, here, field, source_id, str(number), size)


def _roi(
    element: ET.Element,
    where: str,
    field: str,
    source_id: str | None,
    roi_id: str,
    size: tuple[int, int] | None,
) -> Roi:
    tag = element.tag
    if tag not in KINDS and tag != "tag":  # ellipse, cuboid, ...: refused, not lost unsaid
        raise RecordError(where, f"<{tag}> is not imported (CVAT XML here holds {_HELD})")
    label = element.get("label")
    if not label:
        raise RecordError(where, "a shape needs a label")
    attributes: dict[str, Any] = {}
    for attribute in element.findall("attribute"):
        if attribute.get("name"):
            attributes[attribute.get("name") or ""] = attribute.text or ""
    if tag != "tag":
        attributes["occluded"] = element.get("occluded") == "1"
    for name in ("z_order", "group_id"):
        if element.get(name) not in (None, "", "0"):
            attributes[name] = _int(element.get(name, "0"), name, where)
    if element.get("source") not in (None, "manual"):
        attributes["source"] = element.get("source")
    if tag == "tag":
        return Roi(roi_id, "classification", [label], field, attributes=attributes)
    sources = [source_id] if source_id is not None else []
    kind = KINDS[tag]
    if tag == "mask":
        mask = _cvat_shapes.mask_from_cvat(element.attrib, size, where)
        x, y, w, h = rle.bbox(mask["counts"], mask["size"])
        return Roi(roi_id, "mask", [label], field, mask={"rle": mask}, attributes=attributes,
                   bbox=(x, y, x + w, y + h), source_ids=sources)  # fmt: skip
    if tag == "box":
        x0, y0, x1, y1 = (_float(element.get(k), k, where) for k in ("xtl", "ytl", "xbr", "ybr"))
        turn = _float(element.get("rotation", "0"), "rotation", where)
        geometry = [list(corner_ring(x0, y0, x1, y1))]
        if turn % 360:  # the catalog's boxes are upright: a turned box is its polygon
            kind, geometry = "polygon", [_cvat_shapes.rotated_corners(x0, y0, x1, y1, turn)]
    else:
        geometry = [_points(element.get("points"), where)]
    return Roi(roi_id, kind, [label], field, geometry, attributes=attributes,
               source_ids=sources)  # fmt: skip


def _size(width: str | None, height: str | None) -> tuple[int, int] | None:
    """An image's (width, height) from its attributes' text, when both are positive integers."""
    try:
        size = (int(width or ""), int(height or ""))
    except ValueError:
        return None
    return size if min(size) > 0 else None


def _skeleton(
    element: ET.Element,
    where: str,
    field: str,
    source_id: str | None,
    roi_id: str,
    keypoints: dict[str, KeypointLabel],
) -> Roi:
    """A keypoints ROI; a label the catalog has no names for takes the file's first order."""
    label = element.get("label")
    if not label:
        raise RecordError(where, "a shape needs a label")
    ring, visibility, names = _cvat_skeleton.read(element, keypoints.get(label), where)
    keypoints.setdefault(label, KeypointLabel(label, names))
    attributes: dict[str, Any] = {
        a.get("name") or "": a.text or "" for a in element.findall("attribute") if a.get("name")
    }
    if element.get("z_order") not in (None, "", "0"):
        attributes["z_order"] = _int(element.get("z_order", "0"), "z_order", where)
    sources = [source_id] if source_id is not None else []
    return Roi(roi_id, "keypoints", [label], field, [ring], visibility=visibility,
               attributes=attributes, source_ids=sources)  # fmt: skip


def _float(text: str | None, name: str, where: str) -> float:
    try:
        value = float(text or "")
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        raise RecordError(where, f"{name} must be a finite number, got {text!r}")
    return value


def _int(text: str, name: str, where: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise RecordError(where, f"{name} must be an integer, got {text!r}") from None


def _points(text: str | None, where: str) -> list[float]:
    values: list[float] = []
    for pair in (text or "").split(";"):
        parts = pair.split(",")
        if len(parts) != 2:
            raise RecordError(where, f"points must be 'x,y;x,y;...', got {text!r}")
        values += [_float(parts[0], "x", where), _float(parts[1], "y", where)]
    return values


def _import_video(
    catalog: Catalog,
    path: Path,
    root: ET.Element,
    writer: CatalogWriter,
    field: str,
    context: str | None,
) -> None:
    name = context or (root.findtext("meta/task/name") or "").strip()
    video = Contexts(catalog, None).video(name)
    if not video.ids:
        raise IngestError(f"{path}: no frames of context {name!r} (pass context=...)")
    placed: dict[str, list[Roi]] = defaultdict(list)
    size = _size(root.findtext("meta/task/original_size/width"),
                 root.findtext("meta/task/original_size/height"))  # fmt: skip
    seen: set[int] = set()
    kept, known = _cvat_skeleton.known(catalog, root)
    for number, track in enumerate(root.findall("track")):
        where = f"{path}, <track> #{number + 1}"
        track_id, frames = None, set()
        with writer.record(where):  # a track whose id is bad or taken costs only itself
            given = _int(track.get("id", str(number)), "id", where)
            if given in seen:
                raise RecordError(where, f"track id {given} is an earlier track's")
            seen.add(given)
            track_id = given
        if track_id is None:
            continue
        for shape_number, element in enumerate(track):
            here = f"{where}, <{element.tag}> #{shape_number + 1}"
            if element.get("outside") == "1" or _cvat_skeleton.ended(element):
                continue
            # A track's label, source and group are its shapes'.
            for key in ("label", "source", "group_id"):
                if not element.get(key) and track.get(key):
                    element.set(key, track.get(key) or "")
            with writer.record(here):
                frame = _int(element.get("frame", ""), "frame", here)
                frame_id = video.numbers.get(frame + 1)
                if frame_id is None:
                    raise RecordError(here, f"frame {frame} is not a frame of {name!r}")
                if frame in frames:
                    raise RecordError(here, f"a second shape of the track on frame {frame}")
                frames.add(frame)
                if element.tag == "tag":
                    raise RecordError(here, "a track of tags is not CVAT XML")
                roi_id = f"track{track_id}"
                roi = (
                    _skeleton(element, here, field, None, roi_id, known)
                    if element.tag == "skeleton"
                    else _roi(element, here, field, None, roi_id, size)
                )
                keyframe = element.get("keyframe") != "0"
                placed[frame_id].append(_tracked(roi, track_id, keyframe))
    for frame_id in video.ids:
        writer.add_labels(frame_id, field, placed.get(frame_id, []), where=f"{path}, {name!r}")
    writer.add_keypoint_labels(v for k, v in known.items() if k not in kept)


def _tracked(roi: Roi, track_id: int, keyframe: bool) -> Roi:
    from dataclasses import replace

    return replace(roi, track_index=track_id, keyframe=keyframe)
