"""The catalog a person opens: the store's catalog with the entry points of the layers above it.

    catalog = workbench.open("workbench.duckdb")        # a workbench.Catalog
    catalog.view().match(weather="rain").evaluate_detections("predictions", eval_key="rain")
    catalog.app()                                       # the interactive workbench

`workbench.store.Catalog` owns the DuckDB file and knows nothing of views, evaluations or the
app: the store sits below those layers and never imports them. This module sits above them
all and adds, by subclassing, what a person reaches from a catalog (`view()`, the evaluation
entry points, `app()`) and from a view (`evaluate_detections`, `find_similar`,
`compute_embeddings`, `find_duplicates`, `sequence_qa`...). Both classes stay subclasses
of the store's and the query layer's, so a `workbench.Catalog` is a `store.Catalog` and a view
of one is a `query.View`; library code takes the lower types and builds views with
`View(catalog)`. docs/architecture.md describes the pattern for new entry points.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Self

from workbench.analysis import evaluation
from workbench.query import view as query
from workbench.store import catalog as store

if TYPE_CHECKING:
    from collections.abc import Sequence

    import pyarrow as pa

    from workbench.analysis.duplicates import DuplicateResults
    from workbench.analysis.embeddings import EmbeddingInfo, EmbeddingRemoval, EmbeddingReport
    from workbench.analysis.evaluation import (
        DetectionResults,
        EvaluationInfo,
        EvaluationRemoval,
    )
    from workbench.analysis.sequence_qa import QaReport
    from workbench.analysis.similarity import Neighbours
    from workbench.analysis.similarity.scores import ScoreReport


class View(query.View):
    """A view of a catalog (workbench.query.View) that can also evaluate its detections."""

    @classmethod
    def of(cls, view: query.View) -> Self:
        """The same frames, stages and time limit as `view`, as this class."""
        return cls(view.catalog, view.stages, view.time_limit)

    def evaluate_detections(
        self,
        pred_field: str,
        gt_field: str = "ground_truth",
        eval_key: str = "eval",
        **options: Any,
    ) -> DetectionResults:
        """Match this view's `pred_field` ROIs (as filtered) to its `gt_field` ROIs frame by
        frame and source by source, store the run as `eval_key` and return its results.

        Options (`iou`, `classwise`, `method` "coco" or "simple", `iou_threshs`, `use_masks`,
        `compute_mAP`, `area_ranges`, `max_dets`, `use_keypoints`, `keypoint_sigmas`,
        `overwrite`) are those of
        workbench.analysis.evaluation.evaluate_detections. See docs/evaluation.md.
        """
        return evaluation.evaluate_detections(self, pred_field, gt_field, eval_key, **options)

    # -- embeddings, similarity, duplicates, sequence QA (docs/embeddings.md, sequence-qa.md) --
    def find_similar(self, query: Any, k: int = 20, key: str | None = None) -> Neighbours:
        """The k frames (or ROIs) of this view most similar to `query`, with scores."""
        from workbench.analysis.similarity import search

        candidates = None if self.plan.everything else self.frame_ids()
        return search(self.catalog, query, k, key, frame_ids=candidates)

    def compute_embeddings(
        self, key: str = "descriptor", model: Any = None, **options: Any
    ) -> EmbeddingReport:
        """Embed the view's frames (or ROIs, target="rois") with `model` (None: the built-in
        descriptor; an ONNX file; a callable) and store them under `key`."""
        from workbench.analysis.embeddings import compute_embeddings

        return compute_embeddings(self, key, model, **options)

    def projection(
        self,
        key: str | None = None,
        method: str = "pca",
        *,
        colour_by: str | None = None,
        recompute: bool = False,
        **options: Any,
    ) -> pa.Table:
        """The view's points of a 2-D projection of `key` (frame_id[, roi_id], x, y, colour),
        computed and stored on first use."""
        from workbench.analysis.embeddings.projections import projection_table

        return projection_table(
            self, key, method, colour_by=colour_by, recompute=recompute, **options
        )

    def find_duplicates(self, **options: Any) -> DuplicateResults:
        """Duplicate groups among the view's frames, stored in duplicate_groups."""
        from workbench.analysis.duplicates import find_duplicates

        return find_duplicates(self, **options)

    def sequence_qa(self, kinds: Sequence[str] | str | None = None, **options: Any) -> QaReport:
        """Sequence and track checks over the view's contexts, stored in qa_issues."""
        from workbench.analysis.sequence_qa import sequence_qa

        return sequence_qa(self, kinds, **options)

    def qa_issues(self, kinds: Sequence[str] | str | None = None) -> pa.Table:
        """The stored QA issues of the view's frames and contexts."""
        from workbench.analysis.sequence_qa import list_issues

        return list_issues(self, kinds)

    def compute_scores(self, key: str | None = None, k: int = 10) -> ScoreReport:
        """Uniqueness and representativeness of the view's frames, stored for sort_by_score."""
        from workbench.analysis.similarity.scores import compute_scores

        return compute_scores(self, key, k=k)

    def diverse_sample(
        self, n: int, key: str | None = None, method: str = "kmeans", seed: int = 0
    ) -> list[str]:
        """The ids of `n` frames covering the view (see select_diverse)."""
        from workbench.analysis.similarity.scores import diverse_sample

        return diverse_sample(self, n, key, method=method, seed=seed)


class Catalog(store.Catalog):
    """An open catalog file (workbench.store.Catalog) with views, evaluations and the app.
    Create with `workbench.open(path)`."""

    def view(self) -> View:
        """The whole catalog as a view, to filter, sort and page (see workbench.query)."""
        return View(self)

    def load_annotation_view(self, anno_key: str) -> View:
        """The frames annotation run `anno_key` holds, as a view (in stored order)."""
        return self.view().select_annotation_run(anno_key)

    # -- evaluation (workbench.analysis.evaluation; docs/evaluation.md) ---------------------
    def evaluate_detections(
        self,
        pred_field: str,
        gt_field: str = "ground_truth",
        eval_key: str = "eval",
        **options: Any,
    ) -> DetectionResults:
        """Evaluate `pred_field` against `gt_field` over the whole catalog (or `view=`), store
        the run as `eval_key` and return its results; options as View.evaluate_detections."""
        view = options.pop("view", None) or self.view()
        return evaluation.evaluate_detections(view, pred_field, gt_field, eval_key, **options)

    def list_evaluations(self) -> list[EvaluationInfo]:
        return evaluation.list_evaluations(self)

    def load_evaluation_results(self, eval_key: str) -> DetectionResults:
        return evaluation.load_results(self, eval_key)

    def load_evaluation_view(self, eval_key: str) -> View:
        return View.of(evaluation.load_view(self, eval_key))

    def rename_evaluation(self, eval_key: str, new_eval_key: str) -> None:
        evaluation.rename(self, eval_key, new_eval_key)

    def delete_evaluation(
        self, eval_key: str, *, confirm: bool = False, dryrun: bool = False
    ) -> EvaluationRemoval:
        """Delete a run and its rows: needs confirm=True; dryrun=True reports what would go."""
        return evaluation.delete(self, eval_key, confirm=confirm, dryrun=dryrun)

    # -- embeddings, similarity, duplicates, sequence QA (docs/embeddings.md, sequence-qa.md) --
    def add_embeddings(self, key: str, data: Any = None, **options: Any) -> EmbeddingReport:
        """Store vectors computed elsewhere (NumPy with ids, Arrow, Parquet, metadata key)."""
        from workbench.analysis.embeddings import add_embeddings

        return add_embeddings(self, key, data, **options)

    def compute_embeddings(
        self, key: str = "descriptor", model: Any = None, **options: Any
    ) -> EmbeddingReport:
        """Embed every frame (or ROI) with `model`; options as View.compute_embeddings."""
        return self.view().compute_embeddings(key, model, **options)

    def list_embeddings(self) -> list[EmbeddingInfo]:
        from workbench.analysis.embeddings import list_embeddings

        return list_embeddings(self)

    def delete_embeddings(
        self, key: str, *, confirm: bool = False, dryrun: bool = False
    ) -> EmbeddingRemoval:
        """Delete a key's vectors, projections, scores and groups: needs confirm=True."""
        from workbench.analysis.embeddings import delete
        from workbench.analysis.similarity.matrix import remove_files

        removal = delete(self, key, confirm=confirm, dryrun=dryrun)
        if not dryrun:
            remove_files(self, key)
        return removal

    def find_similar(self, query: Any, k: int = 20, key: str | None = None) -> Neighbours:
        """The k frames (or ROIs) most similar to a frame id, ids, RoiRef(s) or a vector."""
        return self.view().find_similar(query, k, key)

    def find_duplicates(self, **options: Any) -> DuplicateResults:
        """Exact, perceptual and embedding duplicate groups, stored in duplicate_groups."""
        return self.view().find_duplicates(**options)

    def sequence_qa(self, kinds: Any = None, **options: Any) -> QaReport:
        """Sequence and track checks of every context, stored in qa_issues."""
        return self.view().sequence_qa(kinds, **options)

    # -- the app ----------------------------------------------------------------------------
    def app(self, **options: Any) -> Any:
        """The interactive workbench on this catalog (displays inline in Jupyter)."""
        from workbench.ui.app import WorkbenchApp  # Panel loads only when the app is asked for

        return WorkbenchApp(self, **options)


def open_catalog(
    path: str | os.PathLike[str] | None = None,
    *,
    read_only: bool = False,
    time_limit: float | None = None,
) -> Catalog:
    """The catalog at `path` as a workbench.Catalog; `read_only` and `time_limit` as for
    workbench.store.open_catalog (the file is created or upgraded as needed)."""
    return Catalog(path, read_only=read_only, time_limit=time_limit)
