"""Analysis over the catalog: set-based computations whose results are stored as catalog data.

- `evaluation`: model evaluation of detections against ground truth (COCO-style matching,
  AP/mAP, per-ROI outcomes and per-frame counts stored in tables views and SQL can read).

Analysis sits above the query layer (it evaluates views); views reach its tables by SQL only.
"""

__all__: list[str] = []
