"""Analysis over the catalog: set-based computations whose results are stored as catalog data.

- `evaluation`: model evaluation of detections against ground truth (COCO-style matching,
  AP/mAP, per-ROI outcomes and per-frame counts stored in tables views and SQL can read).
- `embeddings`: vectors per frame or ROI (built-in descriptor, ONNX, callables, your own) in
  `emb_<key>` tables, and their 2-D projections.
- `similarity`: k nearest neighbours (exact, or a faiss index past a size), near pairs,
  uniqueness and representativeness scores, diverse samples.
- `media_hashes`, `duplicates`: content and perceptual hashes of pictures; duplicate groups.
- `sequence_qa`: timing, camera, frozen-picture and track checks in SQL, into `qa_issues`.

Analysis sits above the query layer (it evaluates views); views reach its tables by SQL only,
and its computations (k-NN, diverse samples) through the hooks it registers on import.
"""

from workbench.analysis._hooks import register

register()

__all__: list[str] = []
