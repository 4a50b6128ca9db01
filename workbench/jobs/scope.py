"""A job's input restricted to a view of the catalog (a saved view, a WHERE, any View).

A view's stages read the catalog's DuckDB tables (tags, summaries, evaluations...), which the
workers cannot open, so the driver runs the view once and hands its frames to the units: it
writes the view's frame ids as one small Parquet file per bucket into a scratch folder of the
lake (`<lake>/_scopes/<id>/`), each unit reads its bucket's file and keeps only those frames,
and the driver removes the folder when the job is done. A view of every frame is no scope.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from workbench.errors import LakeError
from workbench.jobs.ingest import output_filesystem
from workbench.store.lake import BUCKET, context_bucket, storage_options, table_uri

if TYPE_CHECKING:
    from workbench.query.view import View

FOLDER = "_scopes"


def write_scope(view: View | None) -> dict[int, str | None] | None:
    """The view's frame ids, bucket by bucket, written for the units: bucket -> file (None
    when the bucket has none of the view's frames); None when the view holds every frame."""
    if view is None or view.plan.everything:
        return None
    lake = view.catalog.lake
    if lake is None:
        raise LakeError("jobs run on a lake-backed catalog")
    frames = view.compile()
    ids: pa.Table = view.run(
        "SELECT f.id, f.context_id FROM frames f WHERE f.id IN (" + frames + ")"
    )
    buckets = context_bucket(ids["context_id"].to_pylist(), lake.buckets)
    folder = table_uri(table_uri(lake.root, FOLDER), uuid.uuid4().hex)
    filesystem, root = output_filesystem(folder, storage_options(folder))
    out: dict[int, str | None] = {}
    for bucket in range(lake.buckets):
        part = ids.select(["id"]).filter(pc.equal(buckets, bucket))
        if not part.num_rows:
            out[bucket] = None
            continue
        path = f"{root.rstrip('/')}/{BUCKET}={bucket}.parquet"
        filesystem.create_dir(root, recursive=True)
        with filesystem.open_output_stream(path) as sink:
            pq.write_table(part, sink)
        out[bucket] = f"{folder}/{BUCKET}={bucket}.parquet"
    return out


def drop_scope(scope: dict[int, str | None] | None) -> None:
    """Remove a scope's scratch folder."""
    files = [f for f in (scope or {}).values() if f]
    if not files:
        return
    folder = files[0].rsplit("/", 1)[0]
    filesystem, root = output_filesystem(folder, storage_options(folder))
    filesystem.delete_dir(root)


def scope_of(scope: dict[int, str | None] | None, bucket: int) -> dict[str, Any]:
    """What a unit of `bucket` is told: whether it is scoped, and its file."""
    if scope is None:
        return {"scoped": False, "scope": None}
    return {"scoped": True, "scope": scope.get(bucket)}


def scope_view(con: duckdb.DuckDBPyConnection, unit: dict[str, Any]) -> str:
    """Make `_scope` (the unit's frame ids) on `con`; returns a condition on a frame id
    column `{id}` that keeps the unit's frames (TRUE when the job is not scoped)."""
    if not unit.get("scoped"):
        return "TRUE"
    if unit.get("scope"):
        path = str(unit["scope"]).replace("'", "''")
        con.execute(f"CREATE TEMP TABLE _scope AS SELECT id FROM read_parquet('{path}')")
    else:
        con.execute("CREATE TEMP TABLE _scope (id VARCHAR)")
    return "{id} IN (SELECT id FROM _scope)"
