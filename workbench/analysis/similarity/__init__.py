"""Similarity over embeddings: k nearest neighbours (exact, or faiss past a size), near pairs,
uniqueness and representativeness scores, and diverse samples for an annotation budget.

    catalog.find_similar("berlin-0001/0030", k=20)
    catalog.view().sort_by_similarity("berlin-0001/0030", k=50)

See docs/embeddings.md.
"""

from workbench.analysis.similarity.index import APPROXIMATE_FROM, Hits, SimilarityIndex
from workbench.analysis.similarity.matrix import VectorMatrix, index_dir, load
from workbench.analysis.similarity.search import Neighbours, search
from workbench.model.similarity import Query, RoiRef

__all__ = [
    "APPROXIMATE_FROM",
    "Hits",
    "Neighbours",
    "Query",
    "RoiRef",
    "SimilarityIndex",
    "VectorMatrix",
    "index_dir",
    "load",
    "search",
]
