"""2-D projections of an embedding key: PCA, UMAP or t-SNE, computed once and stored.

A projection is stored per key, method and parameters (`projection_runs` names it by a hash
of its parameters, `projections` holds x, y per frame or ROI), and reused while the key's
fingerprint is unchanged. For a view, the stored projection of the whole key is filtered to
the view's frames; `recompute=True` projects the view's vectors alone (stored under params
that include the view's spec). UMAP and t-SNE fit on at most `sample` vectors (after PCA to
`pca_dims`); the others are placed at the similarity-weighted mean of their nearest sampled
neighbours' positions. umap-learn and openTSNE are optional and imported only here.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa

from workbench.analysis._store import audit, check_writable, positive_int, registered, to_json
from workbench.analysis.similarity.matrix import VectorMatrix, load, unit
from workbench.analysis.similarity.scores import view_rows
from workbench.errors import AnalysisError
from workbench.query._sql import Compiled

if TYPE_CHECKING:
    from workbench.query.view import View

METHODS: tuple[str, ...] = ("pca", "umap", "tsne")
_NEIGHBOURS = 8


@dataclass(frozen=True)
class Projection:
    key: str
    method: str
    params_hash: str
    params: dict[str, Any]
    count: int
    reused: bool
    seconds: float


def params_of(
    method: str, options: dict[str, Any], view_spec: dict[str, Any] | None
) -> dict[str, Any]:
    if method not in METHODS:
        raise AnalysisError(f"method must be one of {', '.join(METHODS)}, got {method!r}")
    defaults: dict[str, Any] = {"seed": 0}
    if method != "pca":
        defaults |= {"sample": 50_000, "pca_dims": 50}
    if method == "umap":
        defaults |= {"n_neighbors": 15, "min_dist": 0.1}
    if method == "tsne":
        defaults |= {"perplexity": 30.0}
    unknown = sorted(set(options) - set(defaults))
    if unknown:
        raise AnalysisError(f"unknown {method} options {unknown}: expected {sorted(defaults)}")
    params = {**defaults, **options, "method": method}
    for name in ("seed", "sample", "pca_dims", "n_neighbors"):
        if name in params and name != "seed":
            positive_int(params[name], name)
    if view_spec is not None:
        params["view"] = view_spec
    return params


def _hash(params: dict[str, Any]) -> str:
    return hashlib.sha256(to_json(params).encode()).hexdigest()[:16]


def compute_projection(
    view: View,
    key: str | None = None,
    method: str = "pca",
    *,
    recompute: bool = False,
    **options: Any,
) -> Projection:
    """Project the key's vectors to 2-D (all of them, or with recompute=True the view's only)
    and store the result, unless an identical projection of the same vectors is stored."""
    from workbench.analysis.embeddings.store import require

    started = time.perf_counter()
    info = require(view.catalog, key)  # the stored projection is checked without the vectors
    spec = view.to_dict() if recompute and view.stages else None
    params = params_of(method, options, spec)
    digest = _hash(params)
    stored = _stored(view, info.key, info.fingerprint, method, digest)
    if stored is not None:
        return Projection(info.key, method, digest, params, stored, True, 0.0)
    matrix = load(view.catalog, key)
    check_writable(view.catalog, "projections")
    rows = view_rows(view, matrix) if spec is not None else np.arange(len(matrix))
    xy = project(np.asarray(matrix.vectors[rows], dtype=np.float32), params)
    ids = matrix.ids.take(pa.array(rows, pa.int64()))
    table = pa.table(
        {
            "frame_id": ids.column("frame_id"),
            "roi_id": ids.column("roi_id")
            if "roi_id" in ids.column_names
            else pa.nulls(len(rows), pa.string()),
            "x": pa.array(xy[:, 0], pa.float32()),
            "y": pa.array(xy[:, 1], pa.float32()),
        }
    )
    seconds = round(time.perf_counter() - started, 3)
    _save(view, matrix, method, digest, params, table, seconds)
    return Projection(matrix.info.key, method, digest, params, len(rows), False, seconds)


def _stored(view: View, key: str, fingerprint: str, method: str, digest: str) -> int | None:
    rows = (
        view.catalog.cursor()
        .execute(
            "SELECT count, fingerprint FROM projection_runs WHERE key = ? AND method = ?"
            " AND params_hash = ?",
            [key, method, digest],
        )
        .fetchall()
    )
    if rows and rows[0][1] == fingerprint:
        return int(rows[0][0])
    return None


def _save(
    view: View,
    matrix: VectorMatrix,
    method: str,
    digest: str,
    params: dict[str, Any],
    table: pa.Table,
    seconds: float,
) -> None:
    key = matrix.info.key
    with view.catalog.transaction() as con, registered(con, "_points", table):
        for name in ("projections", "projection_runs"):
            con.execute(
                f"DELETE FROM {name} WHERE key = ? AND method = ? AND params_hash = ?",
                [key, method, digest],
            )
        con.execute(
            "INSERT INTO projections SELECT ?, ?, ?, frame_id, roi_id, x, y FROM _points",
            [key, method, digest],
        )
        con.execute(
            "INSERT INTO projection_runs (key, method, params_hash, params, fingerprint, count,"
            " seconds) VALUES (?, ?, ?, ?, ?, ?, ?)",
            [
                key,
                method,
                digest,
                to_json(params),
                matrix.info.fingerprint,
                table.num_rows,
                seconds,
            ],
        )
        audit(
            con,
            "compute_projection",
            {"key": key, "method": method},
            table.num_rows,
            details={"params_hash": digest},
        )


def project(vectors: np.ndarray, params: dict[str, Any]) -> np.ndarray:
    """(n, 2) positions of unit vectors by the method and parameters given."""
    method = params["method"]
    if len(vectors) < 3 or method == "pca":
        return pca(vectors, 2)
    reduced = pca(vectors, min(int(params["pca_dims"]), vectors.shape[1]))
    rng = np.random.default_rng(int(params["seed"]))
    sample = int(params["sample"])
    fit = np.sort(rng.choice(len(vectors), size=min(sample, len(vectors)), replace=False))
    placed = _umap(reduced[fit], params) if method == "umap" else _tsne(reduced[fit], params)
    if len(fit) == len(vectors):
        return placed
    return _place_others(reduced, fit, placed)


def pca(vectors: np.ndarray, dims: int) -> np.ndarray:
    """Principal components: centred data projected on the top `dims` eigenvectors of its
    covariance (accumulated in chunks, so a memory-mapped matrix is read once per pass)."""
    n, d = vectors.shape
    mean = np.zeros(d, dtype=np.float64)
    for start in range(0, n, 65_536):
        mean += np.asarray(vectors[start : start + 65_536], dtype=np.float64).sum(axis=0)
    mean /= max(n, 1)
    cov = np.zeros((d, d), dtype=np.float64)
    for start in range(0, n, 65_536):
        block = np.asarray(vectors[start : start + 65_536], dtype=np.float32) - mean.astype(
            np.float32
        )
        cov += (block.T @ block).astype(np.float64)
    _, vecs = np.linalg.eigh(cov / max(n - 1, 1))
    axes = vecs[:, ::-1][:, :dims].astype(np.float32)
    axes *= np.sign(axes[np.argmax(np.abs(axes), axis=0), np.arange(axes.shape[1])])  # stable signs
    out = np.empty((n, dims), dtype=np.float32)
    for start in range(0, n, 65_536):
        out[start : start + 65_536] = (
            np.asarray(vectors[start : start + 65_536], dtype=np.float32) - mean.astype(np.float32)
        ) @ axes
    return out


def _umap(data: np.ndarray, params: dict[str, Any]) -> np.ndarray:
    try:
        import umap
    except ImportError as exc:
        raise AnalysisError("UMAP needs umap-learn: pip install 'workbench[projections]'") from exc
    reducer = umap.UMAP(
        n_components=2,
        n_neighbors=min(int(params["n_neighbors"]), len(data) - 1),
        min_dist=float(params["min_dist"]),
        metric="cosine",
        random_state=int(params["seed"]),
        n_jobs=1,  # a seed makes umap-learn run on one thread anyway
    )
    return np.asarray(reducer.fit_transform(data), dtype=np.float32)


def _tsne(data: np.ndarray, params: dict[str, Any]) -> np.ndarray:
    try:
        from openTSNE import TSNE
    except ImportError as exc:
        raise AnalysisError("t-SNE needs openTSNE: pip install 'workbench[projections]'") from exc
    perplexity = min(float(params["perplexity"]), max(1.0, (len(data) - 1) / 3))
    model = TSNE(perplexity=perplexity, metric="cosine", random_state=int(params["seed"]), n_jobs=2)
    return np.asarray(model.fit(data), dtype=np.float32)


def _place_others(reduced: np.ndarray, fit: np.ndarray, placed: np.ndarray) -> np.ndarray:
    """Positions of every row: the fitted rows as placed, the others at the weighted mean of
    their nearest fitted neighbours (in the PCA space)."""
    out = np.empty((len(reduced), 2), dtype=np.float32)
    out[fit] = placed
    others = np.setdiff1d(np.arange(len(reduced)), fit)
    sample = unit(reduced[fit])
    for start in range(0, len(others), 4096):
        rows = others[start : start + 4096]
        sims = unit(reduced[rows]) @ sample.T
        top = np.argpartition(-sims, _NEIGHBOURS - 1, axis=1)[:, :_NEIGHBOURS]
        weights = np.maximum(np.take_along_axis(sims, top, axis=1), 1e-6) ** 4
        out[rows] = (weights[..., None] * placed[top]).sum(axis=1) / weights.sum(axis=1)[:, None]
    return out


def projection_table(
    view: View,
    key: str | None = None,
    method: str = "pca",
    *,
    colour_by: str | None = None,
    recompute: bool = False,
    ordered: bool = True,
    **options: Any,
) -> pa.Table:
    """The view's points of a projection (computed if needed): `frame_id` (and `roi_id`),
    `x`, `y`, and `colour` (the value of `colour_by` as text: a frame column,
    `metadata.<key>`, `label` for ROI embeddings, `tag`, `eval.<key>` (the outcome) or a
    score name; NULL without). `ordered=False` leaves them in no particular order (sorting a
    million ids is most of the query's time)."""
    projection = compute_projection(view, key, method, recompute=recompute, **options)
    colour = _colour(view, colour_by, projection.key)
    # Frame keys have no ROI to join (a join on NULL keys still reads every ROI), and the
    # frames are joined only for their columns or to keep the view's.
    rois = (
        " LEFT JOIN rois r ON r.frame_id = p.frame_id AND r.id = p.roi_id"
        if (colour_by == "label")
        else ""
    )
    everything = view.plan.everything
    needs_frames = colour_by is not None and (
        colour_by.startswith("metadata.") or colour_by in view.frame_columns
    )
    frames = " JOIN frames f ON f.id = p.frame_id" if needs_frames or not everything else ""
    in_view = Compiled("") if everything else " AND p.frame_id IN (" + view.compile() + ")"
    order = " ORDER BY p.frame_id, p.roi_id" if ordered else ""
    query = Compiled.join(
        [
            "SELECT p.frame_id, p.roi_id, p.x, p.y, ",
            colour,
            " AS colour FROM projections p",
            frames,
            rois,
            " WHERE ",
            Compiled(
                "p.key = ? AND p.method = ? AND p.params_hash = ?",
                (projection.key, projection.method, projection.params_hash),
            ),
            in_view,
            order,
        ],
        "",
    )
    table = view.run(query)
    if table.column("roi_id").null_count == table.num_rows:  # a key of frames
        table = table.drop_columns(["roi_id"])
    return table


def _outcome(eval_key: str) -> Compiled:
    """An ROI's outcome in evaluation `eval_key`; a frame's: fp+fn, fp, fn, tp or none."""
    run = "(SELECT run_id FROM evaluations WHERE eval_key = ?)"
    return Compiled(
        "CASE WHEN p.roi_id IS NOT NULL THEN (SELECT min(e.outcome) FROM eval_rois e"
        f" WHERE e.run_id = {run} AND e.frame_id = p.frame_id AND e.roi_id = p.roi_id)"
        " ELSE (SELECT CASE WHEN c.fp > 0 AND c.fn > 0 THEN 'fp+fn' WHEN c.fp > 0 THEN 'fp'"
        " WHEN c.fn > 0 THEN 'fn' WHEN c.tp > 0 THEN 'tp' ELSE 'none' END FROM eval_frames c"
        f" WHERE c.run_id = {run} AND c.frame_id = p.frame_id) END",
        (eval_key, eval_key),
    )


def _colour(view: View, colour_by: str | None, key: str) -> Compiled:
    from workbench.analysis.similarity.scores import SCORES
    from workbench.query.stages import metadata_expr

    if colour_by is None:
        return Compiled("NULL::VARCHAR")
    if colour_by == "label":
        return Compiled("r.label")
    if colour_by == "tag":  # the frame's (or ROI's) first tag by name
        return Compiled(
            "(SELECT min(t.tag) FROM tags t WHERE t.frame_id = p.frame_id"
            " AND t.roi_id IS NOT DISTINCT FROM p.roi_id)"
        )
    if colour_by.startswith("eval."):
        return _outcome(colour_by.removeprefix("eval."))
    if colour_by in SCORES:
        return Compiled(
            f"(SELECT max(s.{colour_by}) FROM embedding_scores s WHERE s.key = ?"
            " AND s.frame_id = p.frame_id AND s.roi_id IS NOT DISTINCT FROM p.roi_id)::VARCHAR",
            (key,),
        )
    if not colour_by.startswith("metadata.") and colour_by not in view.frame_columns:
        raise AnalysisError(
            "colour_by names a frame column, metadata.<key>, label, tag, eval.<key> or a score,"
            f" not {colour_by!r}"
        )
    expr, _ = metadata_expr(colour_by, view.frame_columns)
    return "CAST(" + expr + " AS VARCHAR)"
