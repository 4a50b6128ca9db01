"""The view methods of embeddings, similarity, duplicates and sequence QA.

`View` inherits them; each stage method returns a new view, each result method runs the
analysis (imported only when called) on the view's frames. See docs/embeddings.md and
docs/sequence-qa.md.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from workbench.query.similarity_stages import (
    ExcludeDuplicates,
    MatchDuplicates,
    MatchQa,
    SelectDiverse,
    SelectRois,
    SortByScore,
    SortBySimilarity,
    _analysis,
)

if TYPE_CHECKING:
    import pyarrow as pa

    from workbench.analysis.duplicates import DuplicateResults
    from workbench.analysis.embeddings import EmbeddingReport
    from workbench.analysis.sequence_qa import QaReport
    from workbench.analysis.similarity import Neighbours
    from workbench.analysis.similarity.scores import ScoreReport
    from workbench.query.stages import Stage
    from workbench.query.view import View
    from workbench.store.catalog import Catalog


class AnalysisMethods:
    """Stages and results over embeddings, duplicate groups and QA issues."""

    catalog: Catalog

    def _then(self, stage: Stage) -> View:
        raise NotImplementedError

    def _view(self) -> View:
        from workbench.query.view import View

        assert isinstance(self, View)
        return self

    # -- stages ------------------------------------------------------------------------------
    def sort_by_similarity(
        self, query: Any, k: int | None = None, key: str | None = None, reverse: bool = False
    ) -> View:
        """Frames by similarity to `query` (a frame id, a list of them, a RoiRef or list of
        them, or a vector), most similar first; with `k`, only the k most similar among the
        view's frames so far. For ROI embeddings, frames by their most similar ROI, and with
        `k` the view's ROIs of those fields narrowed to the k most similar."""
        from workbench.analysis.similarity import Query

        parsed = _analysis(lambda: Query.of(query))
        rois = tuple((r.frame_id, r.roi_id) for r in parsed.rois)
        stage = SortBySimilarity(parsed.frame_ids, rois, parsed.vector, k, key, reverse)
        return self._then(stage)

    def select_rois(self, rois: Iterable[Any], only: bool = True) -> View:
        """Frames holding these ROIs ((frame_id, roi_id) pairs, RoiRefs or dicts); with
        `only`, the view's ROIs are exactly these."""
        from workbench.analysis.similarity.search import _roi

        pairs = tuple(
            (r.frame_id, r.roi_id) for r in (_analysis(lambda v=v: _roi(v)) for v in rois)
        )
        return self._then(SelectRois(pairs, only))

    def match_duplicates(self, kind: str | None = None, which: str = "all") -> View:
        """Frames in the stored duplicate groups (of `kind`: exact, perceptual, embedding):
        which="all" every member, "first" one per group, "extra" all but one per group."""
        return self._then(MatchDuplicates(kind, which))

    def exclude_duplicates(self, kind: str | None = None) -> View:
        """Every frame but the extra copies of the stored duplicate groups (of `kind`)."""
        return self._then(ExcludeDuplicates(kind))

    def match_qa(
        self, kinds: Sequence[str] | str | None = None, min_severity: str | None = None
    ) -> View:
        """Frames with a stored sequence QA issue (of `kinds`, at least `min_severity`)."""
        chosen = (kinds,) if isinstance(kinds, str) else tuple(kinds) if kinds is not None else None
        return self._then(MatchQa(chosen, min_severity))

    def sort_by_score(
        self, score: str = "uniqueness", key: str | None = None, reverse: bool = True
    ) -> View:
        """Frames by a stored score (compute_scores) of `key`, highest first by default."""
        from workbench.analysis.embeddings.store import require

        name = _analysis(lambda: require(self.catalog, key)).key
        return self._then(SortByScore(name, score, reverse))

    def select_diverse(
        self, n: int, key: str | None = None, method: str = "kmeans", seed: int = 0
    ) -> View:
        """`n` frames of the view that cover it, for annotating under a budget: the frame
        nearest each k-means centre (method="kmeans") or farthest-point sampling ("fps")."""
        return self._then(SelectDiverse(n, key, method, seed))

    # -- results -----------------------------------------------------------------------------
    def find_similar(self, query: Any, k: int = 20, key: str | None = None) -> Neighbours:
        """The k frames (or ROIs) of this view most similar to `query`, with scores."""
        from workbench.analysis.similarity import search

        view = self._view()
        candidates = None if view.plan.everything else view.frame_ids()
        return search(self.catalog, query, k, key, frame_ids=candidates)

    def compute_embeddings(
        self, key: str = "descriptor", model: Any = None, **options: Any
    ) -> EmbeddingReport:
        """Embed the view's frames (or ROIs, target="rois") with `model` (None: the built-in
        descriptor; an ONNX file; a callable) and store them under `key`."""
        from workbench.analysis.embeddings import compute_embeddings

        return compute_embeddings(self._view(), key, model, **options)

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
            self._view(), key, method, colour_by=colour_by, recompute=recompute, **options
        )

    def find_duplicates(self, **options: Any) -> DuplicateResults:
        """Duplicate groups among the view's frames, stored in duplicate_groups."""
        from workbench.analysis.duplicates import find_duplicates

        return find_duplicates(self._view(), **options)

    def sequence_qa(self, kinds: Sequence[str] | str | None = None, **options: Any) -> QaReport:
        """Sequence and track checks over the view's contexts, stored in qa_issues."""
        from workbench.analysis.sequence_qa import sequence_qa

        return sequence_qa(self._view(), kinds, **options)

    def qa_issues(self, kinds: Sequence[str] | str | None = None) -> pa.Table:
        """The stored QA issues of the view's frames and contexts."""
        from workbench.analysis.sequence_qa import list_issues

        return list_issues(self._view(), kinds)

    def compute_scores(self, key: str | None = None, k: int = 10) -> ScoreReport:
        """Uniqueness and representativeness of the view's frames, stored for sort_by_score."""
        from workbench.analysis.similarity.scores import compute_scores

        return compute_scores(self._view(), key, k=k)

    def diverse_sample(
        self, n: int, key: str | None = None, method: str = "kmeans", seed: int = 0
    ) -> list[str]:
        """The ids of `n` frames covering the view (see select_diverse)."""
        from workbench.analysis.similarity.scores import diverse_sample

        return diverse_sample(self._view(), n, key, method=method, seed=seed)
