"""One frame's labels as Label Studio prediction results, and annotation results as Shapes.

Each task carries, in its data, what was sent for it (`wb_shapes`: per shape id its field,
kind, label, geometry, confidence, keyframe, track, sources, value), so reading results back
needs nothing but the task:

- a region whose id is a shape id we sent is that shape; a shape sent as several regions
  (a polygon with several rings, several keypoints) has region ids `<shape id>:<n>` and comes
  back whole. If its regions come back as they were sent (within float noise), the shape keeps
  the exact geometry it was sent with, so an untouched label merges as unchanged;
- any other region is new; its shape id is derived from run, frame and region id, so reading
  the same results twice gives the same ids;
- labels that cannot be shown on the task's image (they belong to another camera, or have no
  geometry to draw) travel in `wb_hidden` and come back unchanged.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from workbench.backends.labelstudio.convert import (
    IMAGE,
    REGION_KINDS,
    TAXONOMY_SEPARATOR,
    Controls,
    join_pieces,
    region_ring,
    region_values,
    same_values,
    taxonomy_path,
    uses_taxonomy,
)
from workbench.backends.labelstudio.errors import LabelStudioResponseError
from workbench.model.labels import AttributeSpec
from workbench.model.shapes import Shape

_NAMESPACE = uuid.UUID("6f1d2b8e-5a43-4c1e-9f0e-7d3c2a1b0e55")
_REGION_TYPE = {"box": "rectanglelabels", "polygon": "polygonlabels", "point": "keypointlabels"}


def stable_id(*parts: str) -> str:
    """A shape id that is the same every time for the same parts (retries reuse it)."""
    return str(uuid.uuid5(_NAMESPACE, "\x1f".join(parts)))


def value_text(value: Any) -> str:
    """A scalar as the annotator sees it: strings bare, everything else as JSON."""
    return value if isinstance(value, str) else json.dumps(value)


def parse_text(text: str) -> Any:
    if text == "":
        return None
    try:
        return json.loads(text)
    except ValueError:
        return text


# -- upload: labels -> prediction results ---------------------------------------------------


@dataclass
class FramePrediction:
    """What one frame's labels become: results, what was sent per shape, hidden labels."""

    results: list[dict[str, Any]] = field(default_factory=list)
    sent: dict[str, dict[str, Any]] = field(default_factory=dict)
    hidden: list[dict[str, Any]] = field(default_factory=list)


def frame_prediction(
    labels: Sequence[Mapping[str, Any]],
    shape_ids: Sequence[str],
    controls: Controls,
    size: tuple[int, int],
    source: str | None,
) -> FramePrediction:
    """`labels` are rows of LABEL_SCHEMA (one frame), `shape_ids` their ids."""
    out = FramePrediction()
    choices: dict[str, list[tuple[str, str]]] = {}
    for row, shape_id in zip(labels, shape_ids, strict=True):
        kind = row["kind"]
        on_other_camera = bool(row["source_ids"]) and source not in row["source_ids"]
        if on_other_camera or not _showable(row):
            out.hidden.append({**row, "id": shape_id})
            continue
        out.sent[shape_id] = _sent(row)
        if kind == "classification":
            choices.setdefault(row["field"], []).append((shape_id, row["label"]))
        elif kind == "scalar":
            text = value_text(json.loads(row["value"]))
            out.results.append(_result(shape_id, row["field"], "textarea", {"text": [text]}))
        else:
            pieces = region_values(kind, row["geometry"], *size)
            out.sent[shape_id]["pieces"] = len(pieces)
            out.results += _region_results(row, shape_id, pieces, controls, size)
    for field_name, picked in choices.items():
        spec = controls.schema.fields[field_name]
        if uses_taxonomy(spec):
            paths = [taxonomy_path(label) for _, label in picked]
            out.results.append(_result(picked[0][0], field_name, "taxonomy", {"taxonomy": paths}))
        else:
            names = [label for _, label in picked]
            out.results.append(_result(picked[0][0], field_name, "choices", {"choices": names}))
    return out


def _showable(row: Mapping[str, Any]) -> bool:
    if row["kind"] == "classification":
        return row["label"] is not None
    if row["kind"] == "scalar":
        return row["value"] is not None
    return row["kind"] in _REGION_TYPE and bool(row["geometry"]) and all(row["geometry"])


def _sent(row: Mapping[str, Any]) -> dict[str, Any]:
    sent = {
        "field": row["field"],
        "kind": row["kind"],
        "label": row["label"],
        "geometry": row["geometry"],
        "confidence": row["confidence"],
        "keyframe": row["keyframe"],
        "track_index": row["track_index"],
        "source_ids": row["source_ids"],
        "value": row["value"],
        # Attributes the label had: an unticked checkbox is False only where it was given.
        "attributes": sorted(json.loads(row["attributes"])) if row["attributes"] else None,
    }
    return {k: v for k, v in sent.items() if v not in (None, [])}


def _result(region_id: str, control: str, kind: str, value: dict[str, Any]) -> dict[str, Any]:
    return {"id": region_id, "from_name": control, "to_name": IMAGE, "type": kind, "value": value}


def _region_results(
    row: Mapping[str, Any],
    shape_id: str,
    pieces: list[dict[str, Any]],
    controls: Controls,
    size: tuple[int, int],
) -> list[dict[str, Any]]:
    kind = _REGION_TYPE[row["kind"]]
    field_name = row["field"]
    attributes = json.loads(row["attributes"]) if row["attributes"] else {}
    extras: list[tuple[str, str, dict[str, Any]]] = []
    for attr, spec in controls.schema.fields[field_name].attributes.items():
        encoded = encode_attribute(spec, attr, attributes.get(attr))
        if encoded is not None:
            extras.append((controls.attribute_control(field_name, attr), *encoded))
    track = controls.track_control(field_name)
    if track and row["track_index"] is not None:
        extras.append((track, "number", {"number": row["track_index"]}))
    out: list[dict[str, Any]] = []
    for n, piece in enumerate(pieces):
        region_id = shape_id if len(pieces) == 1 else f"{shape_id}:{n}"
        region = _result(region_id, field_name, kind, {**piece, kind: [row["label"]]})
        region.update(original_width=size[0], original_height=size[1], image_rotation=0)
        if row["confidence"] is not None:
            region["score"] = row["confidence"]
        out.append(region)
        out += [_result(region_id, control, t, value) for control, t, value in extras]
    return out


def encode_attribute(
    spec: AttributeSpec, name: str, value: Any
) -> tuple[str, dict[str, Any]] | None:
    """(result type, value) of an attribute on a region; None when there is nothing to show."""
    if value is None:
        return None
    if spec.type == "text":
        return "textarea", {"text": [str(value)]}
    if spec.type in ("select", "radio"):
        names = [str(v) for v in spec.values]
        return ("choices", {"choices": [str(value)]}) if str(value) in names else None
    if spec.type in ("checkbox", "occluded"):
        return ("choices", {"choices": [name]}) if value is True else None
    if isinstance(value, int) and not isinstance(value, bool):  # group_id
        return "number", {"number": value}
    return None


def decode_attribute(spec: AttributeSpec, value: Mapping[str, Any] | None) -> Any:
    if spec.type in ("checkbox", "occluded"):
        return bool(value and value.get("choices"))
    if value is None:
        return None
    if spec.type == "text":
        text = value.get("text")
        return "\n".join(map(str, text)) if isinstance(text, list) else text
    if spec.type in ("select", "radio"):
        picked = value.get("choices") or [None]
        by_name = {str(v): v for v in spec.values}
        return by_name.get(str(picked[0]), picked[0])
    number = value.get("number")
    return int(number) if isinstance(number, float) and number.is_integer() else number


# -- download: annotation results -> shapes -------------------------------------------------


class ResultError(LabelStudioResponseError):
    """An annotation result that cannot be read (names task and region)."""


@dataclass
class _Region:
    id: str
    control: str
    kind: str  # catalog kind
    labels: list[str]
    values: list[tuple[int, dict[str, Any]]]  # (piece number, value)


class TaskReader:
    """Reads the results of one task (its data as we wrote it) into Shapes."""

    def __init__(
        self, run_id: str, task_id: str, data: Mapping[str, Any], controls: Controls
    ) -> None:
        self.run_id = run_id
        self.task_id = task_id
        self.data = data
        self.controls = controls
        size = data.get("wb_size")
        if not (
            isinstance(size, list) and len(size) == 2 and all(isinstance(v, int) for v in size)
        ):
            raise self.error(None, f"the task data has no image size (wb_size = {size!r})")
        self.size = (float(size[0]), float(size[1]))
        sent = data.get("wb_shapes")
        self.sent: Mapping[str, dict[str, Any]] = sent if isinstance(sent, dict) else {}
        self.frame_id = str(data.get("wb_frame"))

    def error(self, region: str | None, problem: str) -> ResultError:
        where = f"task {self.task_id} (frame {self.data.get('wb_frame')!r})"
        return ResultError(f"{where}{f', region {region!r}' if region else ''}: {problem}")

    def shapes(self, results: Iterable[Any]) -> list[Shape]:
        regions: dict[str, _Region] = {}
        extras: dict[str, dict[str, dict[str, Any]]] = {}  # region id -> control -> value
        wholes: list[tuple[str, str, str, dict[str, Any]]] = []  # (id, control, type, value)
        for result in results:
            self._take(result, regions, extras, wholes)
        out = [self._region_shape(r, extras) for r in regions.values()]
        out += self._whole_frame(wholes)
        out += [self._hidden(row) for row in self.data.get("wb_hidden") or ()]
        return out

    def _take(
        self,
        result: Any,
        regions: dict[str, _Region],
        extras: dict[str, dict[str, dict[str, Any]]],
        wholes: list[tuple[str, str, str, dict[str, Any]]],
    ) -> None:
        if not isinstance(result, dict):
            raise self.error(None, f"a result is not an object: {result!r:.100}")
        kind = str(result.get("type", "")).lower()
        if kind == "relation":
            return  # links between regions: nothing in the catalog holds them
        region_id, control, value = result.get("id"), result.get("from_name"), result.get("value")
        if not isinstance(region_id, str) or not isinstance(control, str):
            raise self.error(None, f"a result without id or from_name: {result!r:.200}")
        if not isinstance(value, dict):
            raise self.error(region_id, f"the value of {control!r} is not an object")
        if control in self.controls.attributes or control in self.controls.tracks:
            extras.setdefault(region_id, {})[control] = value
        elif kind in REGION_KINDS:
            base, piece = self._piece(region_id)
            labels = value.get(kind) or value.get("labels") or []
            found = regions.setdefault(base, _Region(base, control, REGION_KINDS[kind], [], []))
            found.values.append((piece, value))
            found.labels += [str(v) for v in labels if str(v) not in found.labels]
        elif kind in ("choices", "taxonomy", "textarea", "number"):
            wholes.append((region_id, control, kind, value))
        else:
            raise self.error(region_id, f"result type {kind!r} of {control!r} is not supported")

    def _piece(self, region_id: str) -> tuple[str, int]:
        base, sep, number = region_id.rpartition(":")
        if sep and number.isdigit() and self.sent.get(base, {}).get("pieces", 1) > 1:
            return base, int(number)
        return region_id, 0

    def _region_shape(self, region: _Region, extras: dict[str, dict[str, dict[str, Any]]]) -> Shape:
        sent = self.sent.get(region.id)
        geometry, moved = self._geometry(region, sent)
        pieces = [region.id] + [f"{region.id}:{n}" for n, _ in region.values]
        given = {c: v for i in reversed(pieces) for c, v in extras.get(i, {}).items()}
        attributes, track_index = self._attributes(region.control, sent, given)
        keyframe = sent.get("keyframe") if sent else None
        if track_index is not None and (moved or sent is None):
            keyframe = True  # drawn or moved on this frame, as a video annotator would mark it
        return Shape(
            frame_id=self.frame_id,
            field=region.control,
            kind=region.kind,
            label=region.labels[0] if region.labels else None,
            geometry=geometry,
            attributes=attributes,
            id=region.id if sent else stable_id(self.run_id, self.frame_id, region.id),
            task_id=self.task_id,
            confidence=sent.get("confidence") if sent else None,
            track_index=track_index,
            keyframe=keyframe,
            source_ids=tuple(sent.get("source_ids", ())) if sent else self._new_sources(),
        )

    def _geometry(
        self, region: _Region, sent: Mapping[str, Any] | None
    ) -> tuple[tuple[tuple[float, ...], ...], bool]:
        """The region's pixel geometry, and whether it differs from what was sent."""
        values = [v for _, v in sorted(region.values, key=lambda pv: pv[0])]
        try:
            if (
                sent is not None
                and sent.get("kind") == region.kind
                and same_values(region_values(region.kind, sent["geometry"], *self.size), values)
            ):
                return tuple(tuple(map(float, ring)) for ring in sent["geometry"]), False
            rings = [region_ring(region.kind, v, *self.size) for v in values]
        except ValueError as exc:
            raise self.error(region.id, str(exc)) from exc
        return join_pieces(region.kind, rings), True

    def _attributes(
        self, control: str, sent: Mapping[str, Any] | None, given: Mapping[str, Any]
    ) -> tuple[dict[str, Any], int | None]:
        """A region's schema attributes and track number from its per-region results."""
        spec = self.controls.schema.fields.get(control)
        track_index = sent.get("track_index") if sent else None
        if spec is None:
            return {}, track_index
        attributes: dict[str, Any] = {}
        had = set(sent.get("attributes", ())) if sent else None
        for attr, attr_spec in spec.attributes.items():
            value = decode_attribute(attr_spec, given.get(f"{control}__{attr}"))
            if value is False and had is not None and attr not in had:
                value = None  # never ticked and never given: still not given
            if value is not None:
                attributes[attr] = value
        track = self.controls.track_control(control)
        if track is not None:
            track_index = decode_attribute(AttributeSpec("group_id"), given.get(track))
        return attributes, track_index

    def _new_sources(self) -> tuple[str, ...]:
        # Only frames with several cameras say which one a new label was drawn on.
        source = self.data.get("wb_source")
        return (str(source),) if source and self.data.get("wb_sources", 1) > 1 else ()

    def _whole_frame(self, wholes: list[tuple[str, str, str, dict[str, Any]]]) -> list[Shape]:
        labels: dict[str, list[str]] = {}
        first_id: dict[str, str] = {}
        out: list[Shape] = []
        for region_id, control, kind, value in wholes:
            if kind == "choices":
                picked = [str(v) for v in value.get("choices") or []]
            elif kind == "taxonomy":
                paths = value.get("taxonomy") or []
                picked = [
                    TAXONOMY_SEPARATOR.join(map(str, p)) for p in paths if isinstance(p, list)
                ]
            else:
                out.append(self._scalar(region_id, control, kind, value))
                continue
            first_id.setdefault(control, region_id)
            labels.setdefault(control, [])
            labels[control] += [p for p in picked if p not in labels[control]]
        for control, picked in labels.items():
            out += self._classifications(control, picked, first_id[control])
        return out

    def _sent_of(self, control: str, kind: str) -> list[tuple[str, dict[str, Any]]]:
        return [
            (shape_id, s)
            for shape_id, s in self.sent.items()
            if s.get("field") == control and s.get("kind") == kind
        ]

    def _classifications(self, control: str, picked: list[str], region_id: str) -> list[Shape]:
        sent = self._sent_of(control, "classification")
        spec = self.controls.schema.fields.get(control)
        single = spec is not None and spec.type == "classification"
        out: list[Shape] = []
        unused = [shape_id for shape_id, _ in sent]
        by_label = {s.get("label"): shape_id for shape_id, s in sent}
        for n, label in enumerate(picked):
            if single and n == 0 and unused:
                shape_id = unused[0]  # the frame's one class, perhaps changed
            elif not single and by_label.get(label) in unused:
                shape_id = str(by_label[label])
            else:
                shape_id = stable_id(self.run_id, self.frame_id, control, label)
            if shape_id in unused:
                unused.remove(shape_id)
            known = dict(sent).get(shape_id, {})
            out.append(
                Shape(
                    frame_id=self.frame_id,
                    field=control,
                    kind="classification",
                    label=label,
                    id=shape_id,
                    task_id=self.task_id,
                    confidence=known.get("confidence"),
                    source_ids=tuple(known.get("source_ids", ())),
                )
            )
        return out

    def _scalar(self, region_id: str, control: str, kind: str, value: dict[str, Any]) -> Shape:
        sent = self._sent_of(control, "scalar")
        if kind == "number":
            parsed: Any = value.get("number")
        else:
            text = value.get("text")
            text = "\n".join(map(str, text)) if isinstance(text, list) else str(text or "")
            original = json.loads(sent[0][1]["value"]) if sent else None
            parsed = original if sent and text == value_text(original) else parse_text(text)
        return Shape(
            frame_id=self.frame_id,
            field=control,
            kind="scalar",
            id=sent[0][0] if sent else stable_id(self.run_id, self.frame_id, "scalar", control),
            task_id=self.task_id,
            value=parsed,
        )

    def _hidden(self, row: Mapping[str, Any]) -> Shape:
        return Shape.from_row({**row, "task_id": self.task_id})
