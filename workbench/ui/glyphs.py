"""ROIs of one frame as column data for Bokeh glyphs, in source pixels (y down).

The viewer keeps one ColumnDataSource per glyph kind and replaces its `.data` with what these
functions return, so stepping through frames never rebuilds a figure. Every column set carries
the same hover columns (label, field, confidence, attributes, id).

- boxes and polygons -> `multi_polygons` (a ring inside another ring of the same ROI is a hole)
- polylines          -> `multi_line` (one row per ring)
- points             -> `scatter` (one row per point)
- keypoints          -> `scatter` of the labelled points (hover names each from its label's
                        keypoints), and `multi_line` rows for the skeleton's joined pairs
- masks              -> `image_url` of an RGBA picture coloured by label, and a dashed outline
                        of the mask's box in the polygon set (so hover works on it)
- classifications    -> badges shown above the picture
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from workbench.model.geometry import polygon_parts, split_ring
from workbench.model.keypoints import KeypointLabel
from workbench.ui.palette import label_color, outcome_color

Columns = dict[str, list[Any]]
HOVER_COLUMNS = (
    "id", "label", "field", "confidence", "attributes", "outcome", "color", "point"
)  # fmt: skip
# Ground truth is drawn solid; every other field (predictions...) dashed, so the two can be
# told apart where they overlap.
SOLID: list[int] = []
DASHED = [6, 3]
PRIMARY_FIELD = "ground_truth"

# Turns a mask ROI into the URL of an RGBA picture covering `frame` pixels (or None).
MaskPainter = Callable[[Mapping[str, Any], str, tuple[int, int]], str | None]


@dataclass(frozen=True)
class RoiOutcome:
    """An evaluation's verdict on one ROI: tp, fp, fn or ignored, and the ROI it matched."""

    outcome: str
    match_id: str | None = None
    iou: float | None = None

    @property
    def text(self) -> str:
        if self.match_id is None:
            return self.outcome
        iou = "" if self.iou is None else f", IoU {self.iou:.2f}"
        return f"{self.outcome} (matched {self.match_id}{iou})"


# Outcomes by (field, ROI id) of one frame.
Outcomes = Mapping[tuple[str, str], RoiOutcome]


@dataclass(frozen=True)
class Badge:
    label: str
    field: str
    color: str
    confidence: float | None = None

    @property
    def text(self) -> str:
        if self.confidence is None:
            return self.label
        return f"{self.label} {self.confidence:.2f}"


@dataclass
class SourceGlyphs:
    """Column data of every glyph kind for one source (camera) of a frame."""

    shapes: Columns = field(default_factory=lambda: empty_columns("xs", "ys", "line_dash"))
    lines: Columns = field(default_factory=lambda: empty_columns("xs", "ys", "line_dash"))
    points: Columns = field(default_factory=lambda: empty_columns("x", "y"))
    masks: Columns = field(default_factory=lambda: empty_columns("url", "x", "y", "w", "h"))
    badges: list[Badge] = field(default_factory=list)

    @property
    def roi_count(self) -> int:
        return (
            len(self.shapes["id"])
            + len(self.lines["id"])
            + len(self.points["id"])
            + len(self.badges)
        )


def empty_columns(*extra: str) -> Columns:
    return {name: [] for name in (*extra, *HOVER_COLUMNS)}


def parse_json(value: Any) -> Any:
    """JSON columns come back from DuckDB as text; records built in Python hold dicts."""
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return None
    return value


def format_attributes(attributes: Any) -> str:
    attributes = parse_json(attributes)
    if not attributes:
        return ""
    if not isinstance(attributes, Mapping):
        return str(attributes)
    return ", ".join(f"{k}={_short(v)}" for k, v in sorted(attributes.items()))


def _short(value: Any) -> str:
    text = json.dumps(value, default=str) if not isinstance(value, str) else value
    return text if len(text) <= 40 else text[:37] + "..."


def _hover(roi: Mapping[str, Any], verdict: RoiOutcome | None = None) -> dict[str, Any]:
    label = roi.get("label") or ""
    confidence = roi.get("confidence")
    return {
        "id": str(roi.get("id", "")),
        "label": label,
        "field": roi.get("field") or "",
        "confidence": "" if confidence is None else f"{confidence:.3f}",
        "attributes": format_attributes(roi.get("attributes")),
        "outcome": verdict.text if verdict is not None else "",
        "color": outcome_color(verdict.outcome if verdict else None, label),
        "point": "",
    }


def _append(columns: Columns, values: Mapping[str, Any]) -> None:
    for name, column in columns.items():
        column.append(values[name])


def _dash(roi: Mapping[str, Any]) -> list[int]:
    return SOLID if (roi.get("field") or PRIMARY_FIELD) == PRIMARY_FIELD else DASHED


def _box_of(roi: Mapping[str, Any]) -> tuple[float, float, float, float] | None:
    box = [roi.get(k) for k in ("x_min", "y_min", "x_max", "y_max")]
    if any(v is None for v in box):
        return None
    x0, y0, x1, y1 = (float(v) for v in box)  # type: ignore[arg-type]
    return x0, y0, x1, y1


def roi_source(roi: Mapping[str, Any], first_source: str) -> list[str]:
    """The sources an ROI is drawn on: its own list, else the frame's first source."""
    ids = roi.get("source_ids")
    return [str(s) for s in ids] if ids else [first_source]


def frame_glyphs(
    frame: Mapping[str, Any],
    *,
    fields: Sequence[str] | None = None,
    paint_mask: MaskPainter | None = None,
    outcomes: Outcomes | None = None,
    keypoints: Mapping[str, KeypointLabel] | None = None,
) -> dict[str, SourceGlyphs]:
    """Glyph columns per source id of `frame` (a page record with `sources` and `rois`).

    `fields` limits the ROIs to those label fields (None: all of them). With `outcomes` (an
    evaluation's, by field and ROI id), ROIs that have one are coloured by it (tp green,
    fp red, fn orange) and their hover says what they matched. `keypoints` (label -> its
    point names and skeleton) names the points of keypoints ROIs and joins them.
    """
    sources = list(frame.get("sources") or [])
    if not sources:
        return {}
    first = str(sources[0]["id"])
    sizes = {str(s["id"]): (int(s.get("width") or 0), int(s.get("height") or 0)) for s in sources}
    out = {sid: SourceGlyphs() for sid in sizes}
    wanted = set(fields) if fields is not None else None
    for roi in frame.get("rois") or []:
        if wanted is not None and roi.get("field") not in wanted:
            continue
        for sid in roi_source(roi, first):
            if sid in out:
                verdict = None
                if outcomes:
                    verdict = outcomes.get((roi.get("field") or "", str(roi.get("id", ""))))
                if roi.get("kind") == "keypoints":
                    names = (keypoints or {}).get(roi.get("label") or "")
                    _add_keypoints(out[sid], roi, _hover(roi, verdict), names)
                else:
                    _add_roi(out[sid], roi, sizes[sid], paint_mask, verdict)
    return out


def _add_roi(
    glyphs: SourceGlyphs,
    roi: Mapping[str, Any],
    size: tuple[int, int],
    paint_mask: MaskPainter | None,
    verdict: RoiOutcome | None = None,
) -> None:
    kind = roi.get("kind")
    hover = _hover(roi, verdict)
    rings = [r for r in (roi.get("geometry") or []) if r]
    if kind in ("box", "polygon"):
        xs, ys = polygon_parts(rings)
        if xs:
            _append(glyphs.shapes, {**hover, "xs": xs, "ys": ys, "line_dash": _dash(roi)})
    elif kind == "polyline":
        for ring in rings:
            xs1, ys1 = split_ring(ring)
            _append(glyphs.lines, {**hover, "xs": xs1, "ys": ys1, "line_dash": _dash(roi)})
    elif kind == "point":
        for ring in rings:
            for x, y in zip(*split_ring(ring), strict=True):
                _append(glyphs.points, {**hover, "x": x, "y": y})
    elif kind == "mask":
        _add_mask(glyphs, roi, hover, size, paint_mask)
    elif kind == "classification":
        label = roi.get("label") or ", ".join(roi.get("labels") or []) or "?"
        glyphs.badges.append(
            Badge(label, roi.get("field") or "", label_color(label), roi.get("confidence"))
        )


def _add_keypoints(
    glyphs: SourceGlyphs,
    roi: Mapping[str, Any],
    hover: dict[str, Any],
    label: KeypointLabel | None,
) -> None:
    """The labelled points (v 1: labelled but not visible, said so on hover), and a line for
    each skeleton pair whose two points are labelled."""
    rings = roi.get("geometry") or []
    visibility = list(roi.get("visibility") or [])
    if not rings or len(rings[0]) != 2 * len(visibility):
        return
    xs, ys = split_ring(rings[0])
    names = label.names if label is not None and len(label.names) == len(visibility) else ()
    for n, v in enumerate(visibility):
        if v:
            name = names[n] if names else f"point {n + 1}"
            point = name if v == 2 else f"{name} (not visible)"
            _append(glyphs.points, {**hover, "x": xs[n], "y": ys[n], "point": point})
    for a, b in label.skeleton if names and label is not None else ():
        if visibility[a - 1] and visibility[b - 1]:
            line = {"xs": [xs[a - 1], xs[b - 1]], "ys": [ys[a - 1], ys[b - 1]]}
            _append(glyphs.lines, {**hover, **line, "line_dash": _dash(roi)})


def _add_mask(
    glyphs: SourceGlyphs,
    roi: Mapping[str, Any],
    hover: dict[str, Any],
    size: tuple[int, int],
    paint_mask: MaskPainter | None,
) -> None:
    box = _box_of(roi)
    if box is not None:
        x0, y0, x1, y1 = box
        outline = {"xs": [[[x0, x1, x1, x0]]], "ys": [[[y0, y0, y1, y1]]], "line_dash": DASHED}
        _append(glyphs.shapes, {**hover, **outline})
    url = paint_mask(roi, hover["color"], size) if paint_mask is not None else None
    if url and size[0] and size[1]:
        _append(glyphs.masks, {**hover, "url": url, "x": 0.0, "y": 0.0, "w": size[0], "h": size[1]})
