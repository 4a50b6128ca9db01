"""The shared vocabulary of workbench: geometry kernels on plain numpy arrays.

Nothing here imports the rest of the project, so every layer (ingest, query, analysis, ui) can
use it. Everything works on whole arrays at once: callers pass the boxes or regions of many
ROIs, never one ROI per call.

- `geometry`: rings, boxes and polygons (one `Ring` type, box and polygon rings, bounding
  boxes, areas), box areas and IoU of box pairs (with COCO's crowd rule).
- `regions`: pixel regions (masks and rasterised polygons) as runs of pixels in column-major
  order, bit-compatible with pycocotools; their areas, bounding boxes and pairwise IoU.
"""

from workbench.model.geometry import box_areas, box_iou
from workbench.model.regions import Regions, decode_rle_strings, rasterise_polygons

__all__ = ["Regions", "box_areas", "box_iou", "decode_rle_strings", "rasterise_polygons"]
