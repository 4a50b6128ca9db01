"""Parquet export: a view's frames, sources, ROIs and tags as four files in a folder, streamed
from the catalog's engine as Arrow record batches into pyarrow's ParquetWriter (the catalog's
engine cannot write files: docs/security.md)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
from tqdm.auto import tqdm

from workbench.errors import IngestError
from workbench.ingest._budget import held_to_budget
from workbench.ingest._parquet_sql import TABLES, catalog_columns, first_line, stream
from workbench.ingest.export import ExportReport
from workbench.ingest.views import ViewLike
from workbench.store.sqlsafe import quote_ident

# Arrow data registered on the catalog's cursor: the view's frame ids, in order.
_EXPORT_IDS = "_wb_parquet_export_ids"
_COMPRESSION = {"zstd": "zstd", "snappy": "snappy", "gzip": "gzip", "uncompressed": "none"}


@held_to_budget
def export_files(
    view: ViewLike,
    dest: str | os.PathLike[str],
    *,
    progress: bool = True,
    compression: str = "zstd",
) -> ExportReport:
    """Write the view's frames, sources, ROIs and tags as four Parquet files in folder `dest`."""
    if compression not in _COMPRESSION:
        raise IngestError(f"unknown Parquet compression {compression!r}")
    folder = Path(dest)
    if folder.exists() and not folder.is_dir():
        raise IngestError(f"{folder} is a file: Parquet export writes a folder of four files")
    folder.mkdir(parents=True, exist_ok=True)
    report = ExportReport(dest=folder)
    _write(view, folder, compression, progress, report)
    return report


def _write(
    view: ViewLike, folder: Path, compression: str, progress: bool, report: ExportReport
) -> None:
    """Write the four files: each table's rows of the view streamed in the view's order (the
    engine's sort held to its memory limit, spilling past it)."""
    # The view's own guard and time limit apply to a where() fragment in it.
    ids = view.run(view.compile()).select(["id"])
    ids = ids.append_column("ord", _ordinals(ids.num_rows))
    con = view.catalog.cursor()
    try:
        con.register(_EXPORT_IDS, ids)
        with tqdm(
            TABLES, desc="parquet export", unit="table", disable=not progress, leave=False
        ) as bar:
            for table in bar:
                path = folder / f"{table}.parquet"
                bar.set_postfix_str(path.name)
                count = _write_table(con, table, path, _COMPRESSION[compression])
                report.files.append(path)
                if table == "frames":
                    report.frames = count
                elif table == "rois":
                    report.rois = count
    except (duckdb.Error, pa.ArrowException, OSError) as exc:
        raise IngestError(f"cannot export to {folder}: {first_line(exc)}") from exc
    finally:
        con.close()


def _ordinals(n: int) -> pa.Array:
    return pa.array(range(n), type=pa.int64())


def _write_table(con: Any, table: str, path: Path, compression: str) -> int:
    """Stream one table's rows of the view from the catalog into a Parquet file; returns
    the number of rows. The file appears only once complete."""
    key = "id" if table == "frames" else "frame_id"
    columns = catalog_columns(con, table)
    json_columns = {c for c, kind in columns.items() if kind == "JSON"}
    listed = ", ".join(f"t.{quote_ident(c)}" for c in columns)
    # View order for frames; within a frame, rowid (insertion) order keeps sources and ROIs
    # in the order they were imported.
    rows = stream(
        con,
        f"SELECT {listed} FROM {quote_ident(table)} t JOIN {_EXPORT_IDS} i ON t.{key} = i.id "
        "ORDER BY i.ord, t.rowid",
    )
    schema = pa.schema(
        [pa.field(f.name, pa.json_(f.type)) if f.name in json_columns else f for f in rows.schema]
    )
    partial = path.with_name(path.name + ".partial")
    count = 0
    try:
        with pq.ParquetWriter(partial, schema, compression=compression) as writer:
            for batch in rows:
                writer.write_batch(_typed(batch, schema))
                count += batch.num_rows
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)
    return count


def _typed(batch: pa.RecordBatch, schema: pa.Schema) -> pa.RecordBatch:
    """The batch with its JSON columns marked as JSON (Arrow's json extension type), so the
    file keeps the catalog's types: DuckDB hands JSON over as plain text."""
    columns = [
        pa.ExtensionArray.from_storage(f.type, column)
        if isinstance(f.type, pa.ExtensionType)
        else column
        for f, column in zip(schema, batch.columns, strict=True)
    ]
    return pa.RecordBatch.from_arrays(columns, schema=schema)
