"""Compaction of a lake-backed catalog's lake, with the promotion of metadata keys to frame
columns (`workbench lake compact`, `Catalog.optimize()` on a lake), and vacuum.

Promotion on a lake works as on a local catalog (store/layout.py): the keys most frames have
(`layout.choose_keys`) become `metadata_<key>` columns of `frames`, recorded in
`metadata_columns`, and the query layer reads them instead of the JSON. On a lake the new
columns are added to the lake table (schema evolution, nothing rewritten), and compaction,
which rewrites every bucket anyway, fills them; writes keep them up to date afterwards
(`layout.sync` on the frames they check out, and on the rows of jobs when the catalog keys
them). Between the two, a bucket's files lack the column and the view reads it as NULL: the
promotion is committed in the catalog only after every bucket is filled.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
from tqdm.auto import tqdm

from workbench.errors import LakeError
from workbench.store import lake_groups, layout
from workbench.store.arrow import registered
from workbench.store.lake import (
    EMBEDDINGS,
    LAKE_TABLES,
    ROW,
    Lake,
    filesystem,
    is_remote,
    storage_options,
    table_uri,
)
from workbench.store.lake_delta import vacuum_table
from workbench.store.lake_format import InBucket
from workbench.store.lake_write import (
    _TARGET_FILE_BYTES,
    _keyed_in_order,
    frame_order,
    next_rows,
)
from workbench.store.sqlsafe import quote_ident

if TYPE_CHECKING:
    from workbench.store.catalog import Catalog


def compact(catalog: Catalog, *, progress: bool = True, promote: bool = False) -> dict[str, int]:
    """Rewrite each bucket of a lake-backed catalog's lake as few files: frames clustered by
    (context_id, timestamp, id), their sources and ROIs in that frame order, all numbered
    afresh, so afterwards the stored order is bucket by bucket, each by context and time.
    With `promote`, the metadata keys most frames have become frame columns first (see
    above) and every bucket is rewritten to fill them.

    The frames of a bucket are stored again, so they get new keys in that order (the stored
    order stays the frame-key order views page by, store/layout.py) and their summaries
    follow. One commit per table and bucket, the catalog's pins moved after each bucket.
    Returns the files replaced per table."""
    lake = catalog.lake
    if lake is None:
        raise LakeError(f"{catalog.path} is not lake-backed")
    chosen = _new_columns(catalog, lake) if promote else {}
    filled = {**layout.promoted_columns(catalog.cursor()), **chosen}
    removed: dict[str, int] = {}
    for bucket in tqdm(range(lake.buckets), desc="compact", unit="bucket", disable=not progress):
        files = {name: lake.format.bucket_files(name, bucket) for name in LAKE_TABLES}
        if not chosen and all(len(f) <= 1 for f in files.values()):
            continue
        frames = _filled(frame_order(_bucket_rows(lake, "frames", bucket)), filled)
        order = frames["id"].combine_chunks()
        rows = {"frames": _renumbered(frames)}
        for name in ("sources", "rois"):
            part = _bucket_rows(lake, name, bucket)
            rank = pc.index_in(part["frame_id"], value_set=order)
            part = part.append_column("_rank", rank)
            part = part.sort_by([("_rank", "ascending"), (ROW, "ascending")]).drop(["_rank"])
            rows[name] = _renumbered(part)
        with catalog.transaction() as con:
            first = layout.next_frame_key(con)
            rows, renamed = _keyed_in_order(rows, first)
            for name in LAKE_TABLES:
                _overwrite_bucket(lake, name, bucket, rows[name])
                removed[name] = removed.get(name, 0) + len(files[name])
            with registered(con, "_wb_lake_keys", renamed):
                for table in ("frame_labels", "frame_codes"):
                    con.execute(
                        f"UPDATE {table} SET frame_key = k.new FROM _wb_lake_keys k"
                        f" WHERE {table}.frame_key = k.old"
                    )
            layout.set_next_frame_key(con, first + len(order))
            lake.pin(con)
    if removed or chosen:
        with catalog.transaction() as con:
            _sort_summaries(con)
            if chosen:  # the filled columns become the catalog's
                lake.stand_in(con)
                layout.add_promoted(con, chosen)
                lake.follow_migrations(con)
                lake.pin(con)
    if chosen:
        catalog.layout_changes += 1
    with catalog.transaction() as con:  # the snapshot's frame groups (store/lake_groups.py)
        lake_groups.build(con, lake, progress=progress)
    return removed


def promote(catalog: Catalog, *, progress: bool = True) -> list[str]:
    """Promote the metadata keys most frames have to frame columns (compacting the lake);
    returns the keys newly promoted."""
    before = set(layout.promoted_columns(catalog.cursor()))
    compact(catalog, progress=progress, promote=True)
    return sorted(set(layout.promoted_columns(catalog.cursor())) - before)


def _new_columns(catalog: Catalog, lake: Lake) -> dict[str, str]:
    """The keys to promote now (key -> column), their columns added to the lake table of
    frames (schema evolution: a column the catalog does not know yet is not read)."""
    con = catalog.cursor()
    try:
        chosen = layout.choose_keys(con)
    finally:
        con.close()
    present = lake.format.field_names("frames")
    missing = [c for c in chosen.values() if c not in present]
    if missing:
        lake.format.add_columns("frames", [pa.field(c, pa.string()) for c in missing])
    return chosen


def _filled(frames: pa.Table, promoted: dict[str, str]) -> pa.Table:
    """The promoted columns of the frames computed from their metadata, as
    `layout.fill_promoted` computes them in the catalog."""
    if not promoted or not frames.num_rows:
        return frames
    con = duckdb.connect()
    try:
        con.register("_wb_frames", frames.select(["metadata"]))
        selects = ", ".join(
            f"json_extract_string(metadata, ?) AS {quote_ident(c)}" for c in promoted.values()
        )
        pointers = [layout.pointer(k) for k in promoted]
        values: pa.Table = con.sql(
            f"SELECT {selects} FROM _wb_frames", params=pointers
        ).to_arrow_table()
    finally:
        con.close()
    for column in promoted.values():
        at = frames.schema.get_field_index(column)
        field = frames.schema.field(at)
        frames = frames.set_column(at, field, values[column].cast(field.type))
    return frames


def _sort_summaries(con: duckdb.DuckDBPyConnection) -> None:
    """frame_labels sorted again by label and frame, frame_codes by frame
    (store/layout.py)."""
    for table, order in (("frame_labels", "label_key, frame_key"), ("frame_codes", "frame_key")):
        con.execute(f"CREATE TEMP TABLE _wb_lake_sorted AS SELECT * FROM {table} ORDER BY {order}")
        con.execute(f"DELETE FROM {table}")
        con.execute(f"INSERT INTO {table} SELECT * FROM temp._wb_lake_sorted")
        con.execute("DROP TABLE temp._wb_lake_sorted")


def _bucket_rows(lake: Lake, name: str, bucket: int) -> pa.Table:
    rows = lake.format.bucket_rows(name, bucket)
    return rows.sort_by([(ROW, "ascending")])


def _renumbered(rows: pa.Table) -> pa.Table:
    start = next_rows(rows.num_rows)
    numbers = pa.array(range(start, start + rows.num_rows), pa.int64())
    return rows.set_column(rows.schema.get_field_index(ROW), ROW, numbers)


def _overwrite_bucket(lake: Lake, name: str, bucket: int, rows: pa.Table) -> None:
    lake.format.overwrite(name, rows, InBucket(bucket), target_file_size=_TARGET_FILE_BYTES)


def embedding_tables(root: str) -> list[str]:
    """The URIs of the embedding keys' Delta tables in the lake at `root`
    (`<root>/embeddings/<key>`, written by embedding jobs), whether a catalog registers them
    or not."""
    base = table_uri(root, EMBEDDINGS)
    if is_remote(root):
        fs = filesystem(root)
        path = base.split("://", 1)[1]
        if not fs.exists(path):
            return []
        names = [e.rstrip("/").rsplit("/", 1)[-1] for e in fs.ls(path, detail=False)]
        found = [n for n in names if fs.exists(f"{path}/{n}/_delta_log")]
    else:
        if not os.path.isdir(base):
            return []
        found = [n for n in os.listdir(base) if os.path.isdir(os.path.join(base, n, "_delta_log"))]
    return [table_uri(base, n) for n in sorted(found)]


def vacuum(
    lake: Lake,
    *,
    retention_hours: int = 168,
    dry_run: bool = True,
    pinned: dict[str, int] | None = None,
) -> dict[str, list[str]]:
    """The files no snapshot within `retention_hours` reads, per table (`frames`, `sources`,
    `rois`, and `embeddings/<key>` for each embedding table), and the files older than that
    no commit names (a failed job's); removed unless `dry_run`. A catalog still pinned to an
    older snapshot of the big tables must be refreshed first. `pinned` maps the URIs of
    embedding tables (Delta whatever the lake's format) to the version the catalog reads (a
    job's commit it did not adopt leaves it behind): that version's files are kept."""
    from deltalake import DeltaTable

    gone = {name: lake.format.vacuum(name, retention_hours, dry_run) for name in LAKE_TABLES}
    for uri in embedding_tables(lake.root):
        dt = DeltaTable(uri, storage_options=storage_options(uri))
        keep = (pinned or {}).get(uri)
        gone[f"{EMBEDDINGS}/{uri.rsplit('/', 1)[-1]}"] = vacuum_table(
            dt, retention_hours, dry_run, keep
        )
    return gone
