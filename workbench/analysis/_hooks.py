"""The computations views resolve through workbench.query.hooks, registered when the analysis
package is imported. Each imports its module when called, so importing analysis stays cheap."""

from __future__ import annotations

from typing import TYPE_CHECKING

from workbench.query.hooks import HOOKS

if TYPE_CHECKING:
    from workbench.model.similarity import Query
    from workbench.query.view import View
    from workbench.store.catalog import Catalog


def similar(
    catalog: Catalog, query: Query, k: int | None, key: str | None, candidates: list[str] | None
) -> tuple[list[str], list[str] | None]:
    from workbench.analysis.similarity import load, search

    count = k if k is not None else load(catalog, key).info.count
    found = search(catalog, query, count, key, frame_ids=candidates)
    rois = list(found.roi_ids) if found.roi_ids is not None else None
    return list(found.frame_ids), rois


def diverse(view: View, n: int, key: str | None, method: str, seed: int) -> list[str]:
    from workbench.analysis.similarity.scores import diverse_sample

    return diverse_sample(view, n, key, method=method, seed=seed)


def embedding_key(catalog: Catalog, key: str | None) -> str:
    from workbench.analysis.embeddings.store import require

    return require(catalog, key).key


def embedding_target(catalog: Catalog, key: str | None) -> tuple[str, str]:
    from workbench.analysis.embeddings.store import require

    info = require(catalog, key)
    return info.key, info.target


def projection(view: View, key: str | None, method: str) -> tuple[str, str]:
    from workbench.analysis.embeddings.projections import compute_projection

    found = compute_projection(view, key, method)
    return found.key, found.params_hash


def register() -> None:
    HOOKS.similar = similar
    HOOKS.diverse = diverse
    HOOKS.embedding_key = embedding_key
    HOOKS.embedding_target = embedding_target
    HOOKS.projection = projection
