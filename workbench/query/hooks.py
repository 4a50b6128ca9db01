"""Computations a view needs that no SQL can do: a k-NN search, a diverse sample, a stored
projection, the default embedding key. The analysis layer above provides them and registers them when it is imported
(`import workbench` does), so a view names them without importing upward."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from workbench.errors import QueryError

if TYPE_CHECKING:
    from workbench.model.similarity import Query
    from workbench.query.view import View
    from workbench.store.catalog import Catalog


class SimilarFrames(Protocol):
    def __call__(
        self,
        catalog: Catalog,
        query: Query,
        k: int | None,
        key: str | None,
        candidates: list[str] | None,
    ) -> tuple[list[str], list[str] | None]:
        """Frame ids (and ROI ids for ROI embeddings) most similar first; k None: all."""
        ...


class DiverseFrames(Protocol):
    def __call__(self, view: View, n: int, key: str | None, method: str, seed: int) -> list[str]:
        """The ids of `n` frames of `view` that cover it."""
        ...


class EmbeddingKey(Protocol):
    def __call__(self, catalog: Catalog, key: str | None) -> str:
        """The stored embedding key `key` names (None: the only or default one)."""
        ...


class EmbeddingTarget(Protocol):
    def __call__(self, catalog: Catalog, key: str | None) -> tuple[str, str]:
        """The stored key `key` names and what it embeds ("frames" or "rois")."""
        ...


class StoredProjection(Protocol):
    def __call__(self, view: View, key: str | None, method: str) -> tuple[str, str]:
        """The key and parameters hash of `method`'s projection of `key` over `view`,
        computed and stored if it is not yet."""
        ...


@dataclass
class AnalysisHooks:
    similar: SimilarFrames | None = None
    diverse: DiverseFrames | None = None
    embedding_key: EmbeddingKey | None = None
    embedding_target: EmbeddingTarget | None = None
    projection: StoredProjection | None = None


HOOKS = AnalysisHooks()


def missing(what: str) -> QueryError:
    return QueryError(f"{what} needs workbench.analysis: import workbench first")
