"""The kernel: the vocabulary every layer of workbench shares, at the bottom of the stack.

It imports nothing of the project but workbench.errors, so ingest, the store, queries,
analysis, backends, services and the UI all build on it and none of them defines these
things again (docs/architecture.md).

- `geometry`: rings (`Ring`), boxes and polygons: box and polygon rings, bounding boxes,
  polygon areas and parts; box areas and IoU of many box pairs (with COCO's crowd rule).
- `rotated`: rotated rectangles in the forms platforms keep them, and their corner rings.
- `regions`: pixel regions (masks and rasterised polygons) as runs of pixels in column-major
  order, bit-compatible with pycocotools; their areas, bounding boxes and pairwise IoU.
- `rle`: COCO run-length encoding of one mask.
- `records`: `Frame`, `Source`, `Roi`, the ROI kinds, and the catalog's rows as Arrow schemas.
- `validation`: what a record must be to be stored, and the warnings of what is suspicious.
- `limits`: the bounds every import checks.
- `labels`: the label schema of an annotation run (label and attribute types).
- `shapes`: `Shape`, an annotation on a platform, and the Arrow tables shapes travel in.
- `serialise`: `to_dict` / `from_dict` of the dataclasses that cross the service boundary.
- `jsontext`: JSON text of the catalog's JSON columns.
"""

from workbench.model.geometry import (
    Box,
    Ring,
    bounds,
    box_areas,
    box_iou,
    box_ring,
    corner_ring,
    polygon_area,
    polygon_ring,
)
from workbench.model.labels import (
    ATTRIBUTE_TYPES,
    LABEL_TYPES,
    AttributeSpec,
    AttributeType,
    EditRestrictions,
    FieldSchema,
    LabelSchema,
    LabelType,
    ShapeKind,
)
from workbench.model.records import ROI_KINDS, Frame, Roi, RoiKind, Source
from workbench.model.regions import Regions, decode_rle_strings, rasterise_polygons
from workbench.model.serialise import Serialisable
from workbench.model.shapes import Shape

__all__ = [
    "ATTRIBUTE_TYPES",
    "LABEL_TYPES",
    "ROI_KINDS",
    "AttributeSpec",
    "AttributeType",
    "Box",
    "EditRestrictions",
    "FieldSchema",
    "Frame",
    "LabelSchema",
    "LabelType",
    "Regions",
    "Ring",
    "Roi",
    "RoiKind",
    "Serialisable",
    "Shape",
    "ShapeKind",
    "Source",
    "bounds",
    "box_areas",
    "box_iou",
    "box_ring",
    "corner_ring",
    "decode_rle_strings",
    "polygon_area",
    "polygon_ring",
    "rasterise_polygons",
]
