"""COCO categories and annotations as workbench records: one annotation becomes one ROI, each
problem a RecordError naming the annotation (docs/formats/coco.md has the mapping)."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from workbench.errors import RecordError
from workbench.ingest._coco_kwcoco import KwcocoPoints, is_kwcoco_points
from workbench.model import rle
from workbench.model.geometry import box_ring, polygon_area
from workbench.model.keypoints import KeypointLabel, keypoint_label
from workbench.model.records import Roi

# Annotation keys with a place of their own; every other key is kept in the ROI's attributes.
ANNOTATION_KEYS = frozenset({"id", "image_id", "category_id", "bbox", "segmentation", "score"})
IMAGE_KEYS = frozenset({"id", "file_name", "width", "height"})
_NUMBER_TYPES = frozenset({int, float})


@dataclass(frozen=True, slots=True)
class Category:
    id: Any
    name: str
    supercategory: str | None = None
    # A person-keypoints category's names of its points and the pairs drawn between them.
    keypoints: list[Any] | None = None
    skeleton: list[Any] | None = None

    def keypoint_label(self) -> KeypointLabel | None:
        if self.keypoints is None:
            return None
        return KeypointLabel(
            self.name, tuple(self.keypoints), tuple(tuple(p) for p in self.skeleton or ())
        )


class Categories(dict[Any, Category]):
    """Categories by id, and the reader of the file's kwcoco keypoint categories (None: an
    annotation's kwcoco keypoint objects are kept in its attributes as given)."""

    kwcoco: KwcocoPoints | None = None


# Where catalogs made before keypoints were an ROI kind kept a keypoint annotation's category
# point names and skeleton (their exports still give them back to the category).
CATEGORY_KEYPOINTS = "category_keypoints"
CATEGORY_SKELETON = "category_skeleton"


def is_coco_id(value: Any) -> bool:
    """Whether a value can be a COCO id: an integer or a string (not a list, object or bool)."""
    return (isinstance(value, int) and not isinstance(value, bool)) or isinstance(value, str)


def id_problem(*values: Any) -> str:
    """Why ids are not COCO ids: an integer past 64 bits is read as a float, so is named."""
    huge = any(isinstance(v, float) and v.is_integer() and abs(v) >= 2**63 for v in values)
    return " (an integer past 64 bits)" if huge else ""


def default_images_dir(path: Path) -> Path:
    sibling = path.parent / "images"
    return sibling if sibling.is_dir() else path.parent


def read_categories(
    items: Iterable[tuple[int, Any]],
    where: str,
    reject: Callable[[RecordError], None] | None = None,
) -> Categories:
    """Categories by id from (number, COCO category object); bad ones go to `reject` (else
    raise)."""
    found = Categories()
    for number, cat in items:
        try:
            if not isinstance(cat, dict) or cat.get("id") is None:
                raise RecordError(f"{where}, category #{number + 1}", "a category needs an id")
            if not is_coco_id(cat["id"]):
                raise RecordError(
                    f"{where}, category #{number + 1}",
                    "a category id must be an integer or a string" + id_problem(cat["id"]),
                )
            name, sup = cat.get("name"), cat.get("supercategory")
            if not isinstance(name, str) or not name:
                raise RecordError(f"{where}, category {cat['id']}", "a category needs a name")
            if cat["id"] in found:
                raise RecordError(f"{where}, category {cat['id']}", "the id appears twice")
            points = _category_keypoints(cat, name, f"{where}, category {cat['id']}")
        except RecordError as err:
            if reject is None:
                raise
            reject(err)
            continue
        found[cat["id"]] = Category(
            cat["id"],
            name,
            sup if isinstance(sup, str) else None,
            None if points is None else list(points.names),
            None if points is None else [list(p) for p in points.skeleton],
        )
    return found


def keypoint_labels(categories: Mapping[Any, Category]) -> list[KeypointLabel]:
    """The keypoints of the categories that have them (a name twice: the last one's)."""
    return [k for c in categories.values() if (k := c.keypoint_label()) is not None]


def _category_keypoints(cat: Mapping[str, Any], name: str, where: str) -> KeypointLabel | None:
    if cat.get("keypoints") in (None, []):  # kwcoco writes [] for a category without any
        if cat.get("skeleton") not in (None, []):
            raise RecordError(where, "a skeleton needs the keypoint names it joins")
        return None
    return keypoint_label(name, cat["keypoints"], cat.get("skeleton"), where)


# -- one annotation --------------------------------------------------------------------------


def roi_from_annotation(
    annotation: Mapping[str, Any],
    categories: Mapping[Any, Category],
    field: str,
    size: tuple[int, int] | None,
    where: str,
) -> Roi:
    """The ROI of one COCO annotation; RecordError (naming `where`) when it is malformed."""
    category_id = annotation.get("category_id")
    category = categories.get(category_id) if is_coco_id(category_id) else None
    if category is None:
        raise RecordError(where, f"unknown category_id {annotation.get('category_id')!r}")
    box = _bbox(annotation.get("bbox"), where)
    attributes: dict[str, Any] = {"category_id": category.id}
    if category.supercategory is not None:
        attributes["supercategory"] = category.supercategory
    attributes.update((k, v) for k, v in annotation.items() if k not in ANNOTATION_KEYS)
    attributes.setdefault("iscrowd", 0)
    segmentation = annotation.get("segmentation")
    common: dict[str, Any] = {
        "id": str(annotation["id"]),
        "labels": [category.name],
        "field": field,
        "confidence": _score(annotation.get("score"), where),
    }
    if segmentation is not None and _kwcoco_polygons(segmentation):
        segmentation = _kwcoco_rings(segmentation, where)
    points = annotation.get("keypoints")
    kwcoco = categories.kwcoco if isinstance(categories, Categories) else None
    if points in (None, []) or (is_kwcoco_points(points) and kwcoco is None):
        pass  # kwcoco writes [] for none; its objects without the file's names: attributes
    else:
        if kwcoco is not None and is_kwcoco_points(points):
            label = kwcoco.label(category.name, category.keypoint_label(), where)
            ring, visibility = kwcoco.ring(points, label, where)
        else:
            ring, visibility = _keypoints(points, category, where)
        del attributes["keypoints"]
        if segmentation not in (None, []):  # kept as given: the ROI's ring is its points
            attributes["segmentation"] = segmentation
        if box is not None:
            attributes.setdefault("area", box[2] * box[3])
        return Roi(
            kind="keypoints",
            geometry=[ring],
            visibility=visibility,
            attributes=attributes,
            bbox=_corners(box),
            **common,
        )
    if isinstance(segmentation, list) and segmentation:
        rings = [_ring(ring, number, where) for number, ring in enumerate(segmentation)]
        attributes.setdefault("area", polygon_area(rings))
        roi = Roi(
            kind="polygon", geometry=rings, attributes=attributes, bbox=_corners(box), **common
        )
    elif isinstance(segmentation, dict):
        mask = _rle(segmentation, size, where)
        if box is None:
            x, y, w, h = rle.bbox(mask["counts"], mask["size"])
            box = (float(x), float(y), float(w), float(h))
        attributes.setdefault("area", float(rle.area(mask["counts"])))
        roi = Roi(
            kind="mask", mask={"rle": mask}, attributes=attributes, bbox=_corners(box), **common
        )
    elif segmentation is None or segmentation == []:
        if box is None:
            raise RecordError(where, "an annotation needs a bbox or a segmentation")
        attributes.setdefault("area", box[2] * box[3])
        roi = Roi(kind="box", geometry=[box_ring(*box)], attributes=attributes, **common)
    else:
        raise RecordError(where, "segmentation must be a list of polygons or an RLE object")
    # The checks above cover everything the writer validates, so one bad annotation never
    # makes the writer refuse the whole frame.
    return roi


def _numbers(values: Any) -> bool:
    """A list of finite ints and floats (not bools); fast, as polygons hold many of them."""
    return (
        isinstance(values, list)
        and set(map(type, values)) <= _NUMBER_TYPES
        and math.isfinite(sum(values))
    )


def _keypoints(value: Any, category: Category, where: str) -> tuple[list[float], list[int]]:
    """COCO's flat [x, y, v, ...] as the ROI's ring and the points' visibility."""
    if not _numbers(value) or not value or len(value) % 3:
        raise RecordError(where, "keypoints must be a flat list of [x, y, v] number triplets")
    visibility = value[2::3]
    if not set(visibility) <= {0, 1, 2}:
        bad = next(v for v in visibility if v not in (0, 1, 2))
        raise RecordError(where, f"keypoint visibility must be 0, 1 or 2, got {bad!r}")
    count = len(value) // 3
    if category.keypoints is not None and len(category.keypoints) != count:
        raise RecordError(
            where,
            f"{count} keypoints, but category {category.name!r} names {len(category.keypoints)}",
        )
    ring = [float(v) for n, v in enumerate(value) if n % 3 != 2]
    return ring, [int(v) for v in visibility]


def _kwcoco_polygons(value: Any) -> bool:
    """Whether a segmentation is kwcoco's polygon form: `{"exterior": [[x, y], ...],
    "interiors": [...]}`, or a list of them (the parts of one object)."""
    if isinstance(value, dict):
        return "exterior" in value
    return isinstance(value, list) and bool(value) and all(isinstance(p, dict) for p in value)


def _kwcoco_rings(value: Any, where: str) -> list[list[float]]:
    """kwcoco's polygons as COCO's flat rings; a polygon with holes is refused (COCO's rings
    are parts of one object: a hole kept as a ring would be filled)."""
    rings = []
    for number, polygon in enumerate([value] if isinstance(value, dict) else value):
        if "exterior" not in polygon:  # a list of RLE objects, say: not COCO's
            raise RecordError(
                where, "segmentation must be polygons, an RLE object or kwcoco's polygon objects"
            )
        exterior = polygon.get("exterior")
        if polygon.get("interiors") not in (None, []):
            raise RecordError(
                where, f"polygon {number} has holes (kwcoco interiors), which COCO cannot hold"
            )
        if not isinstance(exterior, list) or not all(
            isinstance(p, list) and len(p) == 2 for p in exterior
        ):
            raise RecordError(where, f"polygon {number}'s exterior must be a list of [x, y]")
        rings.append([c for point in exterior for c in point])
    return rings


def _bbox(value: Any, where: str) -> tuple[float, float, float, float] | None:
    if value is None:
        return None
    if not _numbers(value) or len(value) != 4:
        raise RecordError(where, f"bbox must be four numbers [x, y, w, h], got {value!r}")
    x, y, w, h = (float(v) for v in value)
    if w < 0 or h < 0:
        raise RecordError(where, f"bbox has a negative width or height: {value!r}")
    return x, y, w, h


def _corners(
    box: tuple[float, float, float, float] | None,
) -> tuple[float, float, float, float] | None:
    return None if box is None else (box[0], box[1], box[0] + box[2], box[1] + box[3])


def _score(value: Any, where: str) -> float | None:
    if value is None:
        return None
    if not _numbers([value]) or not 0.0 <= value <= 1.0:
        raise RecordError(where, f"score must be a number in [0, 1], got {value!r}")
    return float(value)


def _ring(ring: Any, number: int, where: str) -> list[float]:
    if not _numbers(ring):
        raise RecordError(where, f"polygon {number} must be a flat list of finite numbers")
    if len(ring) % 2 or len(ring) < 6:
        raise RecordError(where, f"polygon {number} has {len(ring)} coordinates, needs 3 points")
    return list(map(float, ring))


def _rle(segmentation: dict[str, Any], size: tuple[int, int] | None, where: str) -> dict[str, Any]:
    if segmentation.get("order", "F") != "F":  # kwcoco's masks say theirs; COCO's are "F"
        raise RecordError(
            where, f"RLE order {segmentation['order']!r}: only COCO's column order 'F' is read"
        )
    try:
        mask = rle.compress(segmentation)
    except ValueError as exc:
        raise RecordError(where, f"bad RLE segmentation: {exc}") from exc
    if size is not None and tuple(mask["size"]) != size:
        raise RecordError(
            where, f"RLE size {mask['size']} differs from the image's [h, w] {list(size)}"
        )
    return mask
