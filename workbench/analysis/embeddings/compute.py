"""compute_embeddings: run a model over a view's frames (or ROI crops), batch by batch.

Each batch is stored in its own transaction, so an interrupted run keeps what it did and the
next run with the same key skips the ids already embedded (unless overwrite=True). Pictures
that cannot be read are refused one by one and named in the report.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
from tqdm.auto import tqdm

from workbench.analysis._store import audit, check_flag, check_writable, positive_int
from workbench.analysis.embeddings import store
from workbench.analysis.embeddings.models import Embedder, embedder_of
from workbench.analysis.embeddings.pictures import Item, PictureReader
from workbench.analysis.embeddings.report import EmbeddingReport
from workbench.errors import AnalysisError
from workbench.query._sql import Compiled
from workbench.store.sqlsafe import quote_ident

if TYPE_CHECKING:
    from workbench.query.view import View

MAX_BATCH = 4096
# Each frame's first source (in stored order): the picture a frame is embedded by, and the one
# an ROI naming no source is drawn on.
_FIRST_SOURCES = "(SELECT frame_id, arg_min(uri, rowid) AS uri FROM sources GROUP BY frame_id)"


def compute_embeddings(
    view: View,
    key: str = "descriptor",
    model: Any = None,
    *,
    target: str = "frames",
    field: str | None = None,
    source: str | None = None,
    media: str = "source",
    image_size: int = 256,
    batch_size: int = 64,
    model_name: str | None = None,
    overwrite: bool = False,
    progress: bool = True,
    **onnx_options: Any,
) -> EmbeddingReport:
    """Embed the view's frames (target="frames": one picture per frame, the source named
    `source` or the frame's first) or its ROIs with a box (target="rois", of `field` if
    given: the box cropped from its source picture, with a margin), and store the vectors
    under `key`. `model`: None (the built-in descriptor), an ONNX file, or a callable of a
    list of RGB pictures. See docs/embeddings.md."""
    started = time.perf_counter()
    catalog = view.catalog
    check_writable(catalog, "embeddings")
    store.check_key(key)
    check_flag(overwrite, "overwrite")
    positive_int(batch_size, "batch_size", maximum=MAX_BATCH)
    positive_int(image_size, "image_size", maximum=4096)
    if target not in store.TARGETS:
        raise AnalysisError(f"target must be one of {', '.join(store.TARGETS)}, got {target!r}")
    embedder = embedder_of(model, name=model_name, **onnx_options)
    existing = store.get_info(catalog.cursor(), key)
    store.check_local(existing, overwrite)
    mismatch = existing is not None and (existing.target, existing.model) != (target, embedder.name)
    if existing is not None and mismatch and not overwrite:
        raise AnalysisError(
            f"embeddings {key!r} hold {existing.target} vectors of model {existing.model!r}, "
            f"not {target} of {embedder.name!r}: pass overwrite=True, or use another key"
        )
    report = EmbeddingReport(key, embedder.name)
    todo = _todo(view, target, field, source, None if overwrite else existing)
    report.skipped = todo.skipped
    options = {"media": media, "image_size": image_size, "source": source, "field": field}
    reader = PictureReader.of(catalog, media=media, size=image_size)
    fresh = overwrite  # the first batch replaces a key of another model when overwriting
    try:
        with tqdm(
            total=len(todo.items), desc=f"embed {key}", unit=target[:-1], disable=not progress
        ) as bar:
            for batch in _chunks(todo.items, batch_size):
                vectors, good = embed_batch(embedder, reader, batch, report)
                if good:
                    _store(view, key, target, embedder, options, good, vectors, fresh, report)
                    fresh = False
                bar.update(len(batch))
    finally:
        reader.close()
    report.seconds = round(time.perf_counter() - started, 3)
    if report.written or report.refused:
        with catalog.transaction() as con:
            details = {"model": embedder.name, "refused": report.refused, "skipped": report.skipped}
            audit(con, "compute_embeddings", {"key": key}, report.written, details=details)
    return report


class _Todo:
    def __init__(self, items: list[Item], skipped: int) -> None:
        self.items = items
        self.skipped = skipped


def _todo(
    view: View,
    target: str,
    field: str | None,
    source: str | None,
    existing: store.EmbeddingInfo | None,
) -> _Todo:
    """The view's frames or ROIs still to embed, each with the URI of its picture."""
    frames = view.compile()
    if target == "frames":
        query = _frames_query(frames, source, existing)
    else:
        query = _rois_query(view, frames, field, existing)
    rows = view.rows(query)
    done = 0
    if existing is not None:
        total = _count_all(view, frames, target, field)
        done = total - len(rows)
    items = [
        Item(r[0], r[1], r[2], (r[3], r[4], r[5], r[6]) if target == "rois" else None) for r in rows
    ]
    return _Todo(items, done)


def _frames_query(
    frames: Compiled, source: str | None, existing: store.EmbeddingInfo | None
) -> Compiled:
    if source is not None:
        pictures = Compiled("(SELECT frame_id, uri FROM sources WHERE id = ?)", (source,))
    else:
        pictures = Compiled(_FIRST_SOURCES)
    query = Compiled.join(
        [
            "SELECT v.id, NULL::VARCHAR, s.uri FROM (",
            frames,
            ") v LEFT JOIN ",
            pictures,
            " s ON s.frame_id = v.id",
        ],
        "",
    )
    if existing is not None:
        query = query + f" WHERE v.id NOT IN (SELECT frame_id FROM {quote_ident(existing.table)})"
    return query


def _rois_query(
    view: View, frames: Compiled, field: str | None, existing: store.EmbeddingInfo | None
) -> Compiled:
    conditions = ["r.x_min IS NOT NULL", "r.x_max > r.x_min", "r.y_max > r.y_min"]
    params: list[Any] = []
    if field is not None:
        conditions.append("r.field = ?")
        params.append(field)
    predicate = view.plan.roi_predicate()
    query = Compiled.join(
        [
            "SELECT r.frame_id, r.id, coalesce(s.uri, s1.uri), r.x_min, r.y_min, r.x_max, r.y_max FROM rois r"
            " JOIN (",
            frames,
            ") v ON v.id = r.frame_id LEFT JOIN sources s ON s.frame_id = r.frame_id"
            " AND s.id = r.source_ids[1] LEFT JOIN " + _FIRST_SOURCES + " s1"
            " ON s1.frame_id = r.frame_id WHERE (",
            predicate,
            ") AND ",
            Compiled(" AND ".join(conditions), tuple(params)),
        ],
        "",
    )
    if existing is not None:
        query = query + (
            f" AND NOT EXISTS (SELECT 1 FROM {quote_ident(existing.table)} e"
            " WHERE e.frame_id = r.frame_id AND e.roi_id = r.id)"
        )
    return query + " ORDER BY r.frame_id, r.rowid"


def _count_all(view: View, frames: Compiled, target: str, field: str | None) -> int:
    if target == "frames":
        return view.count()
    query = Compiled.join(
        [
            "SELECT count(*) FROM rois r JOIN (",
            frames,
            ") v ON v.id = r.frame_id WHERE (",
            view.plan.roi_predicate(),
            ") AND r.x_min IS NOT NULL AND r.x_max > r.x_min AND r.y_max > r.y_min",
        ],
        "",
    )
    if field is not None:
        query = query + Compiled(" AND r.field = ?", (field,))
    return int(view.rows(query)[0][0])


def _chunks(items: list[Item], size: int) -> Iterator[list[Item]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def embed_batch(
    embedder: Embedder, reader: PictureReader, batch: list[Item], report: EmbeddingReport
) -> tuple[np.ndarray, list[Item]]:
    """The batch's vectors and the items they belong to; a picture that cannot be read, or
    whose vector is not finite, is refused in `report` and costs only itself."""
    pictures, good = [], []
    for item, picture in zip(batch, reader.read(batch), strict=True):
        if isinstance(picture, Exception):
            report.refuse(item.where(), str(picture))
        else:
            pictures.append(picture)
            good.append(item)
    if not good:
        return np.zeros((0, 0), dtype=np.float32), []
    vectors = np.asarray(embedder(pictures), dtype=np.float32)
    if vectors.ndim != 2 or len(vectors) != len(good) or vectors.shape[1] < 1:
        raise AnalysisError(
            f"model {embedder.name!r} returned an array of shape {vectors.shape} for "
            f"{len(good)} pictures: expected ({len(good)}, d)"
        )
    finite = np.isfinite(vectors).all(axis=1)
    for item in (g for g, ok in zip(good, finite, strict=True) if not ok):
        report.refuse(item.where(), f"model {embedder.name!r} returned NaN or infinity")
    keep = [g for g, ok in zip(good, finite, strict=True) if ok]
    return vectors[finite], keep


def _store(
    view: View,
    key: str,
    target: str,
    embedder: Embedder,
    options: dict[str, Any],
    items: list[Item],
    vectors: np.ndarray,
    overwrite: bool,
    report: EmbeddingReport,
) -> None:
    columns: dict[str, Any] = {"frame_id": pa.array([i.frame_id for i in items], pa.string())}
    if target == "rois":
        columns["roi_id"] = pa.array([i.roi_id for i in items], pa.string())
    columns["vector"] = store.vector_array(vectors)
    with view.catalog.transaction() as con:
        info = store.prepare(
            con,
            key,
            target=target,
            model=embedder.name,
            dimension=int(vectors.shape[1]),
            options=options,
            overwrite=overwrite,
        )
        report.written += store.write(con, info, pa.table(columns), replace=True)
        store.refresh(con, key)
