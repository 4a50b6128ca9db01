"""The view stages of embeddings, similarity, duplicates and sequence QA.

`View` inherits them; each returns a new view. The methods that run an analysis on a view's
frames (find_similar, compute_embeddings, find_duplicates, sequence_qa...) are on
workbench.Catalog's views, above the analysis layer. See docs/embeddings.md and
docs/sequence-qa.md.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from workbench.model.similarity import Query, roi_ref
from workbench.query.hooks import HOOKS, missing
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
    from workbench.query.stages import Stage
    from workbench.query.view import View
    from workbench.store.catalog import Catalog


class AnalysisStages:
    """Stages over embeddings, duplicate groups and QA issues."""

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
        parsed = _analysis(lambda: Query.of(query))
        rois = tuple((r.frame_id, r.roi_id) for r in parsed.rois)
        stage = SortBySimilarity(parsed.frame_ids, rois, parsed.vector, k, key, reverse)
        return self._then(stage)

    def select_rois(self, rois: Iterable[Any], only: bool = True) -> View:
        """Frames holding these ROIs ((frame_id, roi_id) pairs, RoiRefs or dicts); with
        `only`, the view's ROIs are exactly these."""
        pairs = tuple(
            (r.frame_id, r.roi_id) for r in (_analysis(lambda v=v: roi_ref(v)) for v in rois)
        )
        return self._then(SelectRois(pairs, only))

    def select_region(
        self,
        xs: Sequence[float],
        ys: Sequence[float],
        key: str | None = None,
        method: str = "pca",
        params_hash: str | None = None,
    ) -> View:
        """Frames (for ROI keys: ROIs) whose point in the stored projection of `key` by
        `method` (the one `projection()` reads, or `params_hash`) lies inside the polygon of
        vertices (xs, ys): a lasso drawn on the projection. At most 64 vertices are kept."""
        from workbench.query.region_stage import SelectRegion, simplify

        project, target_of = HOOKS.projection, HOOKS.embedding_target
        if project is None or target_of is None:
            raise missing("select_region()")
        view = self._view()
        if params_hash is None:
            key, params_hash = _analysis(lambda: project(view, key, method))
        key, target = _analysis(lambda: target_of(self.catalog, key))
        px, py = simplify(list(xs), list(ys))
        assert key is not None and params_hash is not None
        return self._then(SelectRegion(key, method, params_hash, px, py, target == "rois"))

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
        resolve = HOOKS.embedding_key
        if resolve is None:
            raise missing("sort_by_score()")
        name = _analysis(lambda: resolve(self.catalog, key))
        return self._then(SortByScore(name, score, reverse))

    def select_diverse(
        self, n: int, key: str | None = None, method: str = "kmeans", seed: int = 0
    ) -> View:
        """`n` frames of the view that cover it, for annotating under a budget: the frame
        nearest each k-means centre (method="kmeans") or farthest-point sampling ("fps")."""
        return self._then(SelectDiverse(n, key, method, seed))
