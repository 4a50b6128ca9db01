"""The ingest job: many files of one format into a lake's tables, the same on every engine.

A job is split into units (a few files each). A unit is plain Python that any engine runs
where it likes: it imports its files with the workbench's own importer (validation and
error reports included) into a scratch catalog of its own, turns the rows into the lake's
layout (store/lake_write.py: sorted, clustered, bucketed, typed) and writes one Parquet file
per table and bucket straight into the table's folder. It returns what it wrote; the
driver then commits every unit's files in one transaction per table (`commit`: Delta add
actions, or pyiceberg's `add_files` on an Iceberg lake), so a job's rows appear whole or not at
all in each table, and a failed job leaves only unreferenced files that `workbench lake
vacuum` removes.
"""

from __future__ import annotations

import tempfile
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import orjson
import pyarrow as pa
import pyarrow.parquet as pq

from workbench.errors import LakeError
from workbench.ingest import importer
from workbench.store import layout
from workbench.store.catalog import Catalog
from workbench.store.lake import BUCKET, LAKE_TABLES, ROW, ROW_GROUP, storage_options, table_uri
from workbench.store.lake_iceberg import IcebergFormat
from workbench.store.lake_write import lake_rows
from workbench.store.sqlsafe import quote_ident

# Rows numbered per unit start this far apart: 16M rows a unit keep their stored order.
_UNIT_SPAN = 1 << 24


@dataclass(frozen=True)
class IngestJob:
    """Import `paths` (files of `format`) into the lake at `lake`, `files_per_unit` at a time."""

    lake: str
    format: str
    paths: tuple[str, ...]
    options: dict[str, Any] = field(default_factory=dict)
    files_per_unit: int = 1
    started_ns: int = field(default_factory=time.time_ns)
    # the lake's table format, and an Iceberg lake's SQL catalog (store/lake_format.py)
    table_format: str = "delta"
    iceberg_catalog: str | None = None

    def units(self) -> list[dict[str, Any]]:
        """The job's units as JSON-friendly dicts (what an engine ships to its workers)."""
        step = max(self.files_per_unit, 1)
        chunks = [self.paths[i : i + step] for i in range(0, len(self.paths), step)]
        return [
            {
                "lake": self.lake,
                "format": self.format,
                "paths": list(chunk),
                "options": self.options,
                "row_base": self.started_ns + n * _UNIT_SPAN,
                "table_format": self.table_format,
                "iceberg_catalog": self.iceberg_catalog,
            }
            for n, chunk in enumerate(chunks)
        ]


@dataclass
class UnitResult:
    """What one unit wrote: per table, its files; and what its import refused."""

    files: dict[str, list[dict[str, Any]]]
    frames: int
    rois: int
    refused: list[str]

    def to_json(self) -> str:
        return orjson.dumps(self.__dict__).decode()

    @classmethod
    def from_json(cls, text: str | bytes) -> UnitResult:
        return cls(**orjson.loads(text))


def run_unit(unit: dict[str, Any]) -> str:
    """Run one unit (on whichever worker an engine picked); returns `UnitResult` as JSON."""
    lake = unit["lake"]
    options = storage_options(lake)
    iceberg = _iceberg(lake, unit.get("table_format"), unit.get("iceberg_catalog"))
    if iceberg is not None:
        schemas = {name: iceberg.arrow_schema(name) for name in LAKE_TABLES}
        buckets = iceberg.buckets("frames", 8)
    else:
        from deltalake import DeltaTable

        schemas = {
            name: pa.schema(DeltaTable(table_uri(lake, name), storage_options=options).schema())
            for name in LAKE_TABLES
        }
        buckets = _buckets(lake, options)
    with tempfile.TemporaryDirectory(prefix="wb-unit-") as scratch:
        catalog = Catalog(Path(scratch) / "unit.duckdb")
        try:
            report = importer(unit["format"])(
                catalog, [Path(p) for p in unit["paths"]], progress=False, **unit["options"]
            )
            con = catalog.cursor()
            # Without the keys the unit's catalog gave them: the catalog reading the lake
            # keys and summarises the rows when it sees them (store/layout.py).
            tables = {
                n: con.sql(
                    f"SELECT * EXCLUDE ({_derived(con, n)}), "
                    f"rowid + {int(unit['row_base'])} AS rowid FROM {n}"
                ).to_arrow_table()
                for n in LAKE_TABLES
            }
        finally:
            catalog.close()
    if tables["frames"].num_rows == 0:
        rows: dict[str, pa.Table] = {}
    else:
        rows = lake_rows(tables, schemas, buckets, first=int(unit["row_base"]))
    files = {
        name: _write_parts(lake, name, rows[name], options, iceberg is not None) for name in rows
    }
    return UnitResult(
        files=files,
        frames=tables["frames"].num_rows,
        rois=tables["rois"].num_rows,
        refused=[str(e) for e in report.errors][:100],
    ).to_json()


def _derived(con: duckdb.DuckDBPyConnection, table: str) -> str:
    derived = layout.derived_columns(con, table) - {"rowid"}
    return ", ".join(quote_ident(c) for c in sorted(derived))


def _buckets(lake: str, options: dict[str, str]) -> int:
    from deltalake import DeltaTable

    from workbench.store.lake_delta import buckets_of

    return buckets_of(DeltaTable(table_uri(lake, "frames"), storage_options=options), 8)


def _iceberg(lake: str, kind: str | None, catalog: str | None) -> IcebergFormat | None:
    return IcebergFormat(lake, catalog) if kind == "iceberg" else None


def _write_parts(
    lake: str, name: str, rows: pa.Table, options: dict[str, str], iceberg: bool = False
) -> list[dict[str, Any]]:
    """One Parquet file per bucket in the table's folder; their add-action fields. An
    Iceberg table's files go under its `data/` and keep the partition column (Iceberg reads
    a file's partition from its own column)."""
    base = table_uri(lake, name) + ("/data" if iceberg else "")
    filesystem, root = output_filesystem(base, options)
    out = []
    written = rows if iceberg else rows.drop([BUCKET])
    for bucket in sorted(set(rows[BUCKET].to_pylist())):
        part = written.filter(pa.compute.equal(rows[BUCKET], bucket))
        out.append(
            {
                **write_part(filesystem, root, int(bucket), part),
                "min_row": int(pa.compute.min(part[ROW]).as_py()),
                "max_row": int(pa.compute.max(part[ROW]).as_py()),
            }
        )
    return out


def write_part(filesystem: Any, root: str, bucket: int, part: pa.Table) -> dict[str, Any]:
    """`part` as a new Parquet file in the bucket's folder under `root` (a table's path in
    `filesystem`); its add-action fields: path (relative to the table), size, bucket, rows."""
    relative = f"{BUCKET}={bucket}/part-{uuid.uuid4().hex}.parquet"
    path = f"{root.rstrip('/')}/{relative}"
    filesystem.create_dir(path.rsplit("/", 1)[0], recursive=True)
    with filesystem.open_output_stream(path) as sink:
        pq.write_table(part, sink, compression="zstd", row_group_size=ROW_GROUP)
    size = filesystem.get_file_info(path).size
    return {"path": relative, "size": int(size), "bucket": bucket, "rows": part.num_rows}


def output_filesystem(base: str, options: dict[str, str]) -> tuple[Any, str]:
    """The pyarrow file system a unit writes a table's files with, and the table's path in
    it (`options`: the lake's storage options, for an S3 endpoint of its own)."""
    from pyarrow import fs as pafs

    filesystem, root = pafs.FileSystem.from_uri(base) if "://" in base else (None, base)
    if filesystem is None:
        filesystem = pafs.LocalFileSystem()
    if options.get("AWS_ENDPOINT_URL"):
        filesystem = pafs.S3FileSystem(
            endpoint_override=options["AWS_ENDPOINT_URL"],
            access_key=options.get("AWS_ACCESS_KEY_ID"),
            secret_key=options.get("AWS_SECRET_ACCESS_KEY"),
            region=options.get("AWS_REGION"),
            scheme="http" if options.get("AWS_ALLOW_HTTP") else "https",
        )
    return filesystem, root


def _stats(part: dict[str, Any]) -> dict[str, Any]:
    """The add action's statistics: the row count and the range of `_row` (what the
    catalog orders files by, store/lake.py)."""
    return {
        "numRecords": part["rows"],
        "minValues": {ROW: part["min_row"]},
        "maxValues": {ROW: part["max_row"]},
        "nullCount": {ROW: 0},
    }


def add_actions(
    files: Sequence[dict[str, Any]], stats: Callable[[dict[str, Any]], dict[str, Any]] | None = None
) -> list[Any]:
    """Delta add actions for a job's files (dicts of path, size, bucket and rows), each
    with `stats(file)` as its statistics (the row count alone by default)."""
    from deltalake.transaction import AddAction

    now = int(time.time() * 1000)
    return [
        AddAction(
            f["path"],
            f["size"],
            {BUCKET: str(f["bucket"])},
            now,
            True,
            orjson.dumps(stats(f) if stats else {"numRecords": f["rows"]}).decode(),
        )
        for f in files
    ]


def commit(
    lake: str, results: Sequence[UnitResult], iceberg: IcebergFormat | None = None
) -> dict[str, int]:
    """Adopt every unit's files into the lake, one append commit per table; returns the
    tables' new versions. `iceberg`: the lake's Iceberg tables (else Delta ones)."""
    from deltalake import DeltaTable

    if iceberg is not None:
        for name in LAKE_TABLES:
            paths = [
                f"{table_uri(lake, name)}/data/{f['path']}"
                for r in results
                for f in r.files.get(name, [])
            ]
            iceberg.add_files(name, paths)
        return {name: iceberg.version(name) for name in LAKE_TABLES}
    options = storage_options(lake)
    versions = {}
    for name in LAKE_TABLES:
        files = [f for r in results for f in r.files.get(name, [])]
        dt = DeltaTable(table_uri(lake, name), storage_options=options)
        if files:
            actions = add_actions(files, _stats)
            try:
                dt.create_write_transaction(actions, "append", dt.schema(), [BUCKET])
            except Exception as exc:
                raise LakeError(f"cannot commit the job's files to {dt.table_uri}: {exc}") from exc
            dt.update_incremental()
        versions[name] = int(dt.version())
    return versions
