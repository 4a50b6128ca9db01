"""kwcoco's keypoints as keypoints ROIs: an annotation's `keypoints` given as kwcoco's objects
(`{"xy": [x, y], "visible": 0-2, "keypoint_category_id": id}`, or `"keypoint_category": name`)
naming the file's top-level `keypoint_categories`.

The names are read from the file the first time an annotation holds such objects (one more
pass of the file, for kwcoco files only: COCO files pay nothing). Each category whose
annotations hold them gets every keypoint category's name, in the file's order, as its
points' names (a category that names its own `keypoints` keeps them, and kwcoco's points are
matched to them by name): an annotation's points fill their slots, the others are unlabelled
(visibility 0, at 0, 0), as in a COCO keypoints annotation.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from workbench.errors import RecordError
from workbench.ingest.jsonread import Unreadable, read_members
from workbench.model.keypoints import KeypointLabel, keypoint_label

MEMBER = "keypoint_categories"


def is_kwcoco_points(value: Any) -> bool:
    """Whether keypoints are kwcoco's objects (`{"xy", "keypoint_category_id", ...}`)."""
    return isinstance(value, list) and bool(value) and all(isinstance(p, dict) for p in value)


class KwcocoPoints:
    """The file's keypoint categories, read when first needed, and the point names each
    category is given (saved through `save`, once a category's)."""

    def __init__(
        self,
        path: Path,
        reject: Callable[[RecordError], None],
        save: Callable[[list[KeypointLabel]], None],
    ) -> None:
        self._path, self._reject, self._save = path, reject, save
        self._names: dict[Any, str] | None = None
        self._labels: dict[str, KeypointLabel] = {}

    def _read(self) -> dict[Any, str]:
        names: dict[Any, str] = {}
        where = f"{self._path}, {MEMBER}"
        for _, index, value in read_members(self._path, {MEMBER}):
            here = f"{where} #{(index or 0) + 1}"
            try:
                if isinstance(value, Unreadable):
                    raise RecordError(here, value.problem)
                if index is None:
                    continue
                if not isinstance(value, dict) or not isinstance(value.get("name"), str):
                    raise RecordError(here, "a keypoint category needs an id and a name")
                if value.get("id") in names or value["name"] in names.values():
                    raise RecordError(here, "its id or name is an earlier keypoint category's")
                names[value.get("id")] = value["name"]
            except RecordError as err:
                self._reject(err)
        return names

    def label(self, name: str, own: KeypointLabel | None, where: str) -> KeypointLabel:
        """The points' names of category `name` (its own `keypoints` when it has them)."""
        if self._names is None:
            self._names = self._read()
        if own is not None:
            return own
        if name not in self._labels:
            if not self._names:
                raise RecordError(where, f"kwcoco keypoints, but the file has no {MEMBER}")
            found = keypoint_label(name, list(self._names.values()), None, where)
            self._labels[name] = found
            self._save([found])
        return self._labels[name]

    def ring(
        self, value: list[dict[str, Any]], label: KeypointLabel, where: str
    ) -> tuple[list[float], list[int]]:
        """The ROI's ring (a slot per name) and visibility of kwcoco's point objects."""
        assert self._names is not None  # label() came first
        slots = {n: i for i, n in enumerate(label.names)}
        ring, visibility = [0.0] * (2 * len(slots)), [0] * len(slots)
        seen: set[int] = set()
        for number, point in enumerate(value):
            name = _point_name(point, self._names, where, number)
            slot = slots.get(name)
            if slot is None:
                raise RecordError(where, f"keypoint {number}: {name!r} is not a point of "
                                         f"category {label.label!r}")  # fmt: skip
            if slot in seen:
                raise RecordError(where, f"keypoint {number}: {name!r} is given twice")
            seen.add(slot)
            xy, visible = point.get("xy"), point.get("visible", 2)  # kwcoco's default: seen
            if not isinstance(xy, list) or not _xy(xy):
                raise RecordError(where, f"keypoint {number}: xy must be two finite numbers")
            if visible not in (0, 1, 2) or isinstance(visible, bool):
                raise RecordError(where, f"keypoint {number}: visible must be 0, 1 or 2, "
                                         f"got {visible!r}")  # fmt: skip
            ring[2 * slot : 2 * slot + 2] = [float(xy[0]), float(xy[1])]
            visibility[slot] = visible
        return ring, visibility


def _point_name(point: Mapping[str, Any], names: Mapping[Any, str], where: str, n: int) -> str:
    if "keypoint_category_id" in point:
        found = names.get(point["keypoint_category_id"])
        if found is None:
            raise RecordError(
                where,
                f"keypoint {n}: unknown keypoint_category_id {point['keypoint_category_id']!r}",
            )
        return found
    name = point.get("keypoint_category")
    if not isinstance(name, str) or name not in names.values():
        raise RecordError(
            where, f"keypoint {n}: no known keypoint_category_id or keypoint_category"
        )
    return name


def _xy(value: Any) -> bool:
    return (
        isinstance(value, list)
        and len(value) == 2
        and all(isinstance(v, int | float) and not isinstance(v, bool) for v in value)
        and all(abs(v) < float("inf") for v in value)
    )
