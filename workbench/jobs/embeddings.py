"""Embedding computation as a job: frames' (or ROIs') vectors bucket by bucket, into the lake.

A unit is one bucket of the lake, or a share of one (`hash(frame id) % parts`): it reads the
bucket's `frames` and `sources` (and `rois`) files in an in-memory DuckDB (as the QA job
does), picks each frame's picture (or each ROI's crop) as `catalog.compute_embeddings`
does, reads the pictures under the catalog's media roots only (the driver hands them over;
nothing outside them is opened), runs the model (the built-in descriptor by name, an ONNX
model by its path, so a worker rebuilds it) and writes its vectors as one Parquet file into
the key's Delta table folder (analysis/embeddings/lake.py). A picture that cannot be read
costs only its frame or ROI, named in the report. The driver commits every unit's file in
one Delta transaction and points the key's view at the new snapshot, in one catalog
transaction with the registry row and an audit row.
"""

from __future__ import annotations

import dataclasses
import os
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import duckdb
import numpy as np
import orjson
import pyarrow as pa

from workbench.analysis._store import audit, check_flag, check_key, check_writable, positive_int
from workbench.analysis.embeddings.compute import MAX_BATCH, embed_batch
from workbench.analysis.embeddings.lake import SCHEMA, key_uri, open_table, pin
from workbench.analysis.embeddings.models import embedder_of
from workbench.analysis.embeddings.pictures import MEDIA, Item, PictureReader
from workbench.analysis.embeddings.report import MAX_ERRORS, EmbeddingReport
from workbench.analysis.embeddings.store import TARGETS, EmbeddingInfo, get_info
from workbench.errors import AnalysisError, LakeError
from workbench.jobs.engines import EngineConfig, run_units
from workbench.jobs.ingest import add_actions, output_filesystem, write_part
from workbench.jobs.scope import drop_scope, scope_of, scope_view, write_scope
from workbench.jobs.sequence_qa import bucket_files, bucket_view
from workbench.media.thumbnails import default_cache_dir
from workbench.store.catalog import Catalog
from workbench.store.lake import BUCKET, filesystem, is_remote, storage_options

if TYPE_CHECKING:
    from workbench.query.view import View

# A unit writes its vectors a file every this many (so it holds at most that many at once).
FILE_ROWS = 65_536

_FIRST_SOURCES = "(SELECT frame_id, arg_min(uri, rowid) AS uri FROM sources GROUP BY frame_id)"


@dataclass(frozen=True)
class EmbeddingJob:
    """Embed every frame (or box ROI, of `field` if given) of the lake at `lake` with `model`
    (None: the built-in descriptor; else an ONNX file's path) into the Delta table `table`.
    `roots`: the catalog's media roots; `thumbnails`: its thumbnail folder; `resume`: the
    table's version whose ids are skipped (None: compute every one)."""

    lake: str
    table: str
    model: str | None
    model_name: str
    roots: tuple[str, ...]
    thumbnails: str
    target: str = "frames"
    field: str | None = None
    source: str | None = None
    media: str = "source"
    image_size: int = 256
    batch_size: int = 64
    onnx_options: dict[str, Any] = dataclasses.field(default_factory=dict)
    resume: int | None = None

    def units(self, buckets: int, parts: int = 1) -> list[dict[str, Any]]:
        """One unit per bucket and share (`parts` shares a bucket), as JSON-friendly dicts."""
        spec = dataclasses.asdict(self)
        spec["roots"] = list(self.roots)
        return [
            {**spec, "bucket": b, "part": p, "parts": parts}
            for b in range(buckets)
            for p in range(parts)
        ]


def run_embedding_unit(unit: dict[str, Any]) -> str:
    """Embed one unit's frames or ROIs; returns its file, counts and refusals as JSON."""
    items, skipped = _items(unit)
    embedder = embedder_of(unit["model"], **unit["onnx_options"])
    if embedder.name != unit["model_name"]:
        raise AnalysisError(
            f"the model at {unit['model']} is not the one the job was started with "
            f"({embedder.name} instead of {unit['model_name']}): it changed meanwhile"
        )
    report = EmbeddingReport("", embedder.name)
    reader = PictureReader(
        unit["roots"], unit["thumbnails"], media=unit["media"], size=int(unit["image_size"])
    )
    done: list[Item] = []
    vectors: list[np.ndarray] = []
    files, written, dimension = [], 0, 0
    try:
        step = int(unit["batch_size"])
        for start in range(0, len(items), step):
            found, good = embed_batch(embedder, reader, items[start : start + step], report)
            if not good:
                continue
            if dimension and found.shape[1] != dimension:
                raise AnalysisError(
                    f"model {embedder.name!r} returned vectors of {dimension} and "
                    f"{found.shape[1]} dimensions"
                )
            dimension = int(found.shape[1])
            vectors.append(found)
            done.extend(good)
            if len(done) >= FILE_ROWS or start + step >= len(items):
                files.append(_write(unit, done, vectors))
                written += len(done)
                done, vectors = [], []
    finally:
        reader.close()
    if done:  # the last batches had refusals only after some good ones
        files.append(_write(unit, done, vectors))
        written += len(done)
    return orjson.dumps(
        {
            "files": files,
            "written": written,
            "skipped": skipped,
            "refused": report.refused,
            "errors": report.errors,
            "dimension": dimension,
        }
    ).decode()


def _items(unit: dict[str, Any]) -> tuple[list[Item], int]:
    """The unit's frames or ROIs to embed, each with its picture's URI; and how many the
    key has already (skipped)."""
    lake, bucket = unit["lake"], int(unit["bucket"])
    con = duckdb.connect()
    try:
        if is_remote(lake):
            con.register_filesystem(filesystem(lake))
        names = ("frames", "sources", "rois") if unit["target"] == "rois" else ("frames", "sources")
        for name in names:
            bucket_view(con, lake, name, bucket)
        ids = ("frame_id", "roi_id") if unit["target"] == "rois" else ("frame_id",)
        _done_view(con, unit, ids)
        share = f"hash(frame_id) % {int(unit['parts'])} = {int(unit['part'])}"
        share += " AND " + scope_view(con, unit).format(id="frame_id")
        query, params = _query(unit)
        con.execute(f"CREATE TEMP TABLE _todo AS SELECT * FROM ({query}) WHERE {share}", params)
        skipped = con.execute(
            f"SELECT count(*) FROM _todo t SEMI JOIN _done d USING ({', '.join(ids)})"
        ).fetchall()[0][0]
        rows = con.execute(
            f"SELECT * FROM _todo t ANTI JOIN _done d USING ({', '.join(ids)}) ORDER BY _order"
        ).fetchall()
    finally:
        con.close()
    if unit["target"] == "rois":
        items = [Item(r[0], r[1], r[2], (r[3], r[4], r[5], r[6])) for r in rows]
    else:
        items = [Item(r[0], None, r[2]) for r in rows]
    return items, int(skipped)


def _query(unit: dict[str, Any]) -> tuple[str, list[Any]]:
    """The frames' or ROIs' pictures, as `compute_embeddings` chooses them."""
    if unit["target"] == "frames":
        pictures, params = _FIRST_SOURCES, []
        if unit["source"] is not None:
            pictures, params = "(SELECT frame_id, uri FROM sources WHERE id = ?)", [unit["source"]]
        return (
            "SELECT f.id AS frame_id, NULL::VARCHAR AS roi_id, s.uri, f.rowid AS _order "
            f"FROM frames f LEFT JOIN {pictures} s ON s.frame_id = f.id",
            params,
        )
    conditions = "r.x_min IS NOT NULL AND r.x_max > r.x_min AND r.y_max > r.y_min"
    params = []
    if unit["field"] is not None:
        conditions += " AND r.field = ?"
        params.append(unit["field"])
    return (
        "SELECT r.frame_id, r.id AS roi_id, coalesce(s.uri, s1.uri) AS uri, r.x_min, r.y_min,"
        " r.x_max, r.y_max, r.rowid AS _order FROM rois r"
        " JOIN frames f ON f.id = r.frame_id"
        " LEFT JOIN sources s ON s.frame_id = r.frame_id AND s.id = r.source_ids[1]"
        f" LEFT JOIN {_FIRST_SOURCES} s1 ON s1.frame_id = r.frame_id WHERE {conditions}",
        params,
    )


def _done_view(con: duckdb.DuckDBPyConnection, unit: dict[str, Any], ids: tuple[str, ...]) -> None:
    """`_done`: the ids of the bucket the key has at the resumed version (none if fresh)."""
    files: list[str] = []
    if unit["resume"] is not None:
        from deltalake import DeltaTable

        uri = unit["table"]
        dt = DeltaTable(uri, version=int(unit["resume"]), storage_options=storage_options(uri))
        files = bucket_files(dt, uri, int(unit["bucket"]))
    if files:
        listed = ", ".join("'" + f.replace("'", "''") + "'" for f in files)
        con.execute(f"CREATE VIEW _done AS SELECT {', '.join(ids)} FROM read_parquet([{listed}])")
    else:
        cols = ", ".join(f"NULL::VARCHAR AS {c}" for c in ids)
        con.execute(f"CREATE VIEW _done AS SELECT {cols} WHERE false")


def _write(unit: dict[str, Any], items: list[Item], vectors: list[np.ndarray]) -> dict[str, Any]:
    """The unit's vectors as one Parquet file in its bucket's folder of the key's table."""
    matrix = np.concatenate(vectors).astype(np.float32)
    flat = pa.array(matrix.reshape(-1))
    offsets = pa.array(np.arange(0, matrix.size + 1, matrix.shape[1], dtype=np.int32))
    now = datetime.now(UTC).replace(tzinfo=None)
    table = pa.table(
        {
            "frame_id": pa.array([i.frame_id for i in items], pa.string()),
            "roi_id": pa.array([i.roi_id for i in items], pa.string()),
            "vector": pa.ListArray.from_arrays(offsets, flat),
            "computed": pa.array([now] * len(items), pa.timestamp("us")),
        },
        schema=SCHEMA.remove(SCHEMA.get_field_index(BUCKET)),
    )
    filesystem_, root = output_filesystem(unit["table"], storage_options(unit["table"]))
    return write_part(filesystem_, root, int(unit["bucket"]), table)


def commit(uri: str, files: list[dict[str, Any]], *, replace: bool) -> int:
    """Adopt the units' files into the key's table in one Delta commit (replacing every file
    it had when `replace`); returns the table's new version."""
    dt = open_table(uri, create=True)
    if not files and not replace:
        return int(dt.version())
    actions = add_actions(files)
    try:
        mode = "overwrite" if replace else "append"
        dt.create_write_transaction(actions, mode, dt.schema(), [BUCKET])
    except Exception as exc:
        raise LakeError(f"cannot commit the embedding job's files to {uri}: {exc}") from exc
    dt.update_incremental()
    return int(dt.version())


def collect(results: list[str], report: EmbeddingReport) -> tuple[list[dict[str, Any]], int]:
    """The units' files, counted into `report`; and the vectors' dimension (0 if none)."""
    files, dimension = [], 0
    for text in results:
        found = orjson.loads(text)
        files.extend(found["files"])
        report.written += int(found["written"])
        report.skipped += int(found["skipped"])
        report.refused += int(found["refused"])
        report.errors.extend(found["errors"][: MAX_ERRORS - len(report.errors)])
        if found["dimension"]:
            if dimension and found["dimension"] != dimension:
                raise AnalysisError(
                    f"model {report.model!r} returned vectors of {dimension} and "
                    f"{found['dimension']} dimensions in different units"
                )
            dimension = int(found["dimension"])
    return files, dimension


def run_job(
    catalog: Catalog,
    key: str,
    model: str | os.PathLike[str] | None,
    config: EngineConfig,
    *,
    target: str,
    field: str | None,
    source: str | None,
    media: str,
    image_size: int,
    batch_size: int,
    overwrite: bool,
    progress: bool,
    onnx_options: dict[str, Any],
    view: View | None = None,
) -> EmbeddingReport:
    """The driver of `jobs.run_embeddings`: check, run the units, commit, pin, audit."""
    started = time.perf_counter()
    lake = catalog.lake
    if lake is None:
        raise LakeError("embedding jobs run on a lake-backed catalog")
    _check(catalog, key, target, media, image_size, batch_size, overwrite, model)
    spec = None if model in (None, "descriptor") else os.path.abspath(os.fspath(model))
    embedder = embedder_of(spec, **onnx_options)
    existing = get_info(catalog.cursor(), key)
    resume = _resumed(existing, target, embedder.name, overwrite)
    catalog.refresh_lake()
    uri = key_uri(lake.root, key)
    roots, thumbnails = tuple(catalog.media_roots()), str(default_cache_dir(catalog.path))
    job = EmbeddingJob(
        lake.root, uri, spec, embedder.name, roots, thumbnails, target, field, source,
        media, image_size, batch_size, dict(onnx_options), resume,
    )  # fmt: skip
    parts = 1 if config.engine == "local" else max(1, -(-2 * config.workers // lake.buckets))
    scope = write_scope(_of(catalog, view))
    try:
        units = [u | scope_of(scope, u["bucket"]) for u in job.units(lake.buckets, parts)]
        results = run_units(units, run_embedding_unit, config, progress=progress)
    finally:
        drop_scope(scope)
    report = EmbeddingReport(key, embedder.name)
    files, dimension = collect(results, report)
    # Nothing embedded (every picture refused, or every id there): the key stays as it was.
    version = commit(uri, files, replace=resume is None) if files else None
    report.seconds = round(time.perf_counter() - started, 3)
    if not report.written and not report.refused:
        return report
    with catalog.transaction() as con:
        if version is not None:
            settings = {"media": media, "image_size": image_size, "source": source, "field": field}
            pin(
                con,
                key,
                uri=uri,
                version=version,
                target=target,
                model=embedder.name,
                dimension=dimension,
                options=settings,
            )
        details = {"model": embedder.name, "refused": report.refused, "skipped": report.skipped}
        audit(con, "compute_embeddings", {"key": key, "job": True}, report.written, details=details)
    return report


def _check(
    catalog: Catalog,
    key: str,
    target: str,
    media: str,
    image_size: int,
    batch_size: int,
    overwrite: bool,
    model: Any,
) -> None:
    """Refuse what `compute_embeddings` refuses, and models a worker cannot rebuild."""
    check_writable(catalog, "embeddings")
    check_key(key)
    check_flag(overwrite, "overwrite")
    positive_int(batch_size, "batch_size", maximum=MAX_BATCH)
    positive_int(image_size, "image_size", maximum=4096)
    if target not in TARGETS:
        raise AnalysisError(f"target must be one of {', '.join(TARGETS)}, got {target!r}")
    if media not in MEDIA:
        raise AnalysisError(f"media must be one of {', '.join(MEDIA)}, got {media!r}")
    if model is not None and not isinstance(model, str | os.PathLike):
        raise AnalysisError(
            "a job's model is None (the built-in descriptor) or an ONNX file its workers read, "
            f"not {model!r}"
        )


def _of(catalog: Catalog, view: View | None) -> View | None:
    if view is not None and view.catalog is not catalog:
        raise AnalysisError("the view is of another catalog")
    return view


def _resumed(
    existing: EmbeddingInfo | None, target: str, model: str, overwrite: bool
) -> int | None:
    """The version of the key's lake table whose ids the job skips (None: a fresh run)."""
    if existing is None or overwrite:
        return None
    if (existing.target, existing.model) != (target, model):
        raise AnalysisError(
            f"embeddings {existing.key!r} hold {existing.target} vectors of model "
            f"{existing.model!r}, not {target} of {model!r}: pass overwrite=True, or use "
            "another key"
        )
    if not existing.in_lake:
        raise AnalysisError(
            f"embeddings {existing.key!r} are stored in the catalog: pass overwrite=True to "
            "compute them again as a lake table, or use another key"
        )
    return int(existing.options["version"])
