"""The demo's labels: ground truth as an annotator would draw it, and a detector's guesses.

Ground truth holds boxes for vehicles and cyclists, silhouettes (polygons) for pedestrians, a
two-ring polygon for a vehicle cut in two by something in front of it, polylines for lane
lines, points for traffic lights and, on some frames, a drivable-area mask. Predictions are
boxes with confidences: jittered, sometimes missed, sometimes confused, with a few false
alarms at low confidence.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from workbench.demo.geometry import HEIGHT, HORIZON, WIDTH, Box, Point
from workbench.demo.render import Rendered, Seen
from workbench.demo.scenario import World
from workbench.model.geometry import box_ring
from workbench.model.records import Roi

GROUND_TRUTH, PREDICTIONS, ROAD_TYPE = "ground_truth", "predictions", "road_type"
DETECTED = ("car", "truck", "bus", "pedestrian", "cyclist")


@dataclass
class FrameNotes:
    """Which planted defects showed up in one frame."""

    missing: list[int] = field(default_factory=list)  # tracks left out of ground truth
    mislabelled: list[int] = field(default_factory=list)


def _labelled(seen: Seen) -> bool:
    """Would an annotator label this? Big enough and visible enough."""
    x0, y0, x1, y1 = seen.box
    return y1 - y0 >= 8 and x1 - x0 >= 3 and seen.visibility >= 0.2


def _flat(points: list[Point]) -> list[float]:
    return [round(v, 2) for p in points for v in p]


def _ring(box: Box) -> list[float]:
    x0, y0, x1, y1 = (round(v, 2) for v in box)
    return box_ring(x0, y0, x1 - x0, y1 - y0)


def ground_truth(
    world: World, index: int, source: str, rendered: Rendered, frame_id: str
) -> tuple[list[Roi], FrameNotes]:
    """Road users, traffic lights and lane lines of one picture, minus the planted misses."""
    notes = FrameNotes()
    rois: list[Roi] = []
    prefix = f"{frame_id}/gt/{source}"
    for seen in rendered.seen:
        track = seen.actor.track
        if not _labelled(seen):
            continue
        if index in world.missing.get(track, ()):
            notes.missing.append(track)
            continue
        label = seen.actor.kind
        wrong = world.mislabelled.get(track)
        if wrong and index in wrong[0]:
            label = wrong[1]
            notes.mislabelled.append(track)
        roi = _road_user(seen, label, f"{prefix}/{track}", source)
        if roi is not None:
            rois.append(roi)
    for n, light in enumerate(rendered.lights):
        rois.append(
            Roi(
                id=f"{prefix}/light{n}",
                kind="point",
                labels=("traffic_light",),
                geometry=[_flat([light.point])],
                source_ids=(source,),
                attributes={"state": light.state},
                track_index=1000 + light.light.number,
            )
        )
    for n, (label, points) in enumerate(rendered.lanes):
        rois.append(
            Roi(
                id=f"{prefix}/lane{n}",
                kind="polyline",
                labels=(label,),
                geometry=[_flat(points)],
                source_ids=(source,),
            )
        )
    return rois, notes


def _road_user(seen: Seen, label: str, roi_id: str, source: str) -> Roi | None:
    """A silhouette for a pedestrian, two rings for a vehicle cut in two, else a box."""
    if seen.actor.kind == "pedestrian":
        if not seen.outline or len(seen.outline) < 3:
            return None
        kind, geometry = "polygon", [_flat(seen.outline)]
    elif len(seen.parts) == 2:
        kind, geometry = "polygon", [_ring(part) for part in seen.parts]
    else:
        kind, geometry = "box", [_ring(seen.box)]
    return Roi(
        id=roi_id,
        kind=kind,
        labels=(label,),
        field=GROUND_TRUTH,
        geometry=geometry,
        source_ids=(source,),
        attributes={
            "occluded": seen.visibility < 0.8,
            "truncated": seen.truncated,
            "color": seen.actor.color_name,
            "visibility": seen.visibility,
        },
        track_index=seen.actor.track,
    )


def drivable_area(frame_id: str, source: str, uri: str, bbox: Box) -> Roi:
    return Roi(
        id=f"{frame_id}/gt/{source}/drivable",
        kind="mask",
        labels=("drivable_area",),
        field=GROUND_TRUTH,
        source_ids=(source,),
        mask={"uri": uri, "value": 1},
        bbox=bbox,
    )


def road_type(world: World, frame_id: str) -> Roi:
    return Roi(
        id=f"{frame_id}/road_type",
        kind="classification",
        labels=(world.layout.road_type,),
        field=ROAD_TYPE,
        confidence=1.0,
    )


def predictions(
    world: World, index: int, source: str, rendered: Rendered, frame_id: str, seed: int
) -> list[Roi]:
    """A detector's boxes for this picture; `seed` makes its mistakes repeatable."""
    rng = random.Random(f"{seed}:{frame_id}:{source}")
    prefix = f"{frame_id}/pred/{source}"
    rois: list[Roi] = []
    for seen in rendered.seen:
        if not _labelled(seen):
            continue
        planted = index in world.missing.get(seen.actor.track, ())
        height = seen.box[3] - seen.box[1]
        score = min(height / 70.0, 1.0) * seen.visibility
        if planted:
            confidence = rng.uniform(0.72, 0.95)
        elif rng.random() > 0.3 + 0.7 * score:
            continue  # missed
        else:
            confidence = min(max(0.3 + 0.62 * score + rng.gauss(0.0, 0.08), 0.05), 0.99)
        label = seen.actor.kind
        if label in ("car", "truck") and not planted and rng.random() < 0.04:
            label = "truck" if label == "car" else "car"
            confidence *= 0.7
        box = _jitter(seen.box, rng)
        if box is not None:
            rois.append(_prediction(f"{prefix}/{len(rois)}", label, box, confidence, source))
    for _ in range(rng.choice((0, 0, 1, 1, 2))):
        w = rng.uniform(8, 60)
        h = w * rng.uniform(0.6, 1.6)
        x, y = rng.uniform(0, WIDTH - w), rng.uniform(HORIZON - 30, HEIGHT - h)
        label = rng.choice(DETECTED)
        rois.append(
            _prediction(
                f"{prefix}/{len(rois)}",
                label,
                (x, y, x + w, y + h),
                rng.uniform(0.05, 0.45),
                source,
            )
        )
    return rois


def _jitter(box: Box, rng: random.Random) -> Box | None:
    x0, y0, x1, y1 = box
    w, h = x1 - x0, y1 - y0
    x0 = max(0.0, x0 + rng.gauss(0.0, 0.04 * w))
    x1 = min(float(WIDTH), x1 + rng.gauss(0.0, 0.04 * w))
    y0 = max(0.0, y0 + rng.gauss(0.0, 0.04 * h))
    y1 = min(float(HEIGHT), y1 + rng.gauss(0.0, 0.04 * h))
    return (x0, y0, x1, y1) if x1 - x0 > 1 and y1 - y0 > 1 else None


def _prediction(roi_id: str, label: str, box: Box, confidence: float, source: str) -> Roi:
    return Roi(
        id=roi_id,
        kind="box",
        labels=(label,),
        field=PREDICTIONS,
        geometry=[_ring(box)],
        confidence=round(confidence, 3),
        source_ids=(source,),
    )
