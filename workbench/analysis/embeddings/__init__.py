"""Embeddings of frames and ROIs, stored in the catalog, and their 2-D projections.

    catalog.compute_embeddings("descriptor")                 # built-in, no weights
    catalog.compute_embeddings("clip", model="clip.onnx")     # an ONNX model file
    catalog.add_embeddings("mine", vectors, ids=frame_ids)    # bring your own
    catalog.sql("SELECT frame_id, array_cosine_similarity(vector, ...) FROM emb_clip")

See docs/embeddings.md.
"""

from workbench.analysis.embeddings.compute import compute_embeddings
from workbench.analysis.embeddings.models import (
    CallableEmbedder,
    Descriptor,
    Embedder,
    OnnxEmbedder,
    embedder_of,
)
from workbench.analysis.embeddings.report import EmbeddingReport
from workbench.analysis.embeddings.sources import add_embeddings
from workbench.analysis.embeddings.store import (
    EmbeddingInfo,
    EmbeddingRemoval,
    delete,
    list_embeddings,
    read_vectors,
    require,
)

__all__ = [
    "CallableEmbedder",
    "Descriptor",
    "Embedder",
    "EmbeddingInfo",
    "EmbeddingRemoval",
    "EmbeddingReport",
    "OnnxEmbedder",
    "add_embeddings",
    "compute_embeddings",
    "delete",
    "embedder_of",
    "list_embeddings",
    "read_vectors",
    "require",
]
