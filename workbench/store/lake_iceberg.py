"""Apache Iceberg tables for a lake (store/lake_format.py), with `pyiceberg` and a SQL catalog.

The table catalog is pyiceberg's SQL catalog: by default a SQLite file beside the workbench
catalog (`<catalog>.iceberg.db`), or any SQLAlchemy URI the person gives (`lake init
--iceberg-catalog`), recorded in the catalog's `_lake` table. A URI holding a password is
never recorded: it comes from `$WORKBENCH_ICEBERG_CATALOG`, which, when set, is used instead
of the recorded one. The tables are `workbench.frames`, `workbench.sources` and
`workbench.rois`, each at `<lake root>/<name>` (data files under `data/`, metadata under
`metadata/`), partitioned by `context_bucket` (identity: the same crc32 buckets as a Delta
lake, not Iceberg's murmur3 `bucket[n]`) and sorted by `_row`.

A version is a snapshot id (0: the table has none yet). DuckDB reads a snapshot through its
file list (`scan(snapshot_id=...).plan_files()`), ordered by the `_row` bounds of the
manifests; a snapshot with delete files (positional or equality deletes, which other
writers may leave) is refused: its files alone are not its rows. pyiceberg itself writes
only copy-on-write (a delete rewrites the files it touches), so tables written here never
have them.
"""

from __future__ import annotations

import os
import time
import uuid
import warnings
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

import pyarrow as pa

from workbench.errors import LakeError
from workbench.store.lake import BUCKET, ROW, ROW_GROUP, filesystem, is_remote, table_uri
from workbench.store.lake_delta import stored_order
from workbench.store.lake_files import Written
from workbench.store.lake_format import AnyOf, InBucket, InSpans, IsIn, Span, Unkeyed, Where

NAMESPACE = "workbench"
CATALOG_VARIABLE = "WORKBENCH_ICEBERG_CATALOG"
_TARGET_FILE_BYTES = 128 * 1024 * 1024
# DuckDB types Iceberg has no type for: written as int, read back cast to the catalog's.
_WIDENED = ("TINYINT", "SMALLINT", "UTINYINT", "USMALLINT")


def default_catalog(catalog_path: str) -> str:
    """The SQL catalog of a lake made from the workbench catalog at `catalog_path`."""
    return f"sqlite:///{os.path.abspath(catalog_path)}.iceberg.db"


def recordable(uri: str) -> str:
    """`uri` if it may be stored in the catalog (it holds no password)."""
    if urlsplit(uri).password:
        raise LakeError(
            f"the Iceberg catalog URI holds a password: give it in ${CATALOG_VARIABLE} "
            "instead of on the command line (it is never stored)"
        )
    return uri


def file_io_properties(root: str) -> dict[str, str]:
    """pyiceberg's S3 settings from the usual AWS variables (never stored)."""
    if not root.startswith(("s3://", "s3a://")):
        return {}
    names = {
        "AWS_ACCESS_KEY_ID": "s3.access-key-id",
        "AWS_SECRET_ACCESS_KEY": "s3.secret-access-key",
        "AWS_SESSION_TOKEN": "s3.session-token",
    }
    out = {prop: os.environ[var] for var, prop in names.items() if os.environ.get(var)}
    endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
    if endpoint:
        out["s3.endpoint"] = endpoint
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
    out["s3.region"] = region
    return out


def expression(where: Where) -> Any:
    """A `Where` as a pyiceberg row filter."""
    from pyiceberg.expressions import (
        AlwaysFalse,
        And,
        EqualTo,
        GreaterThanOrEqual,
        In,
        IsNull,
        LessThanOrEqual,
        Or,
    )

    match where:
        case IsIn(column, values):
            return In(column, set(values))
        case Unkeyed(first):
            return Or(IsNull("frame_key"), GreaterThanOrEqual("frame_key", int(first)))
        case InBucket(bucket):
            return EqualTo(BUCKET, int(bucket))
        case InSpans(spans):
            parts = [
                And(
                    EqualTo(BUCKET, s.bucket),
                    GreaterThanOrEqual(ROW, s.low),
                    LessThanOrEqual(ROW, s.high),
                )
                for s in spans
            ]
            return Or(*parts) if len(parts) > 1 else parts[0] if parts else AlwaysFalse()
        case AnyOf(parts):
            found = [expression(p) for p in parts]
            return Or(*found) if len(found) > 1 else found[0] if found else AlwaysFalse()


def _local(path: str) -> str:
    return path.removeprefix("file://") if path.startswith("file://") else path


class IcebergFormat:
    """The lake's tables as Iceberg tables under `root`, in the SQL catalog `catalog`."""

    kind = "iceberg"

    def __init__(self, root: str, catalog: str | None) -> None:
        self.root = root
        self.writer: str | None = None  # named in the snapshots' summaries (lake_repair)
        uri = os.environ.get(CATALOG_VARIABLE) or catalog
        if not uri:
            raise LakeError(
                f"an Iceberg lake needs its SQL catalog: give --iceberg-catalog or ${CATALOG_VARIABLE}"
            )
        self.catalog_uri: str = uri
        self._catalog: Any = None
        self._tables: dict[str, Any] = {}
        self._records: dict[str, dict[str, Any]] = {}  # per table, the files `spans` gave

    def sql_catalog(self) -> Any:
        if self._catalog is None:
            from pyiceberg.catalog.sql import SqlCatalog

            try:
                self._catalog = SqlCatalog(
                    NAMESPACE, uri=self.catalog_uri, **file_io_properties(self.root)
                )
                self._catalog.create_namespace_if_not_exists(NAMESPACE)
            except Exception as exc:
                raise LakeError(
                    f"cannot open the Iceberg catalog {self.catalog_uri}: {exc}"
                ) from exc
        return self._catalog

    def table(self, name: str, *, fresh: bool = True) -> Any:
        """The table, brought up to its latest snapshot unless not `fresh`."""
        tbl = self._tables.get(name)
        if tbl is None:
            try:
                tbl = self.sql_catalog().load_table((NAMESPACE, name))
            except LakeError:
                raise
            except Exception as exc:
                raise LakeError(
                    f"no Iceberg table {NAMESPACE}.{name} in {self.catalog_uri}: {exc}"
                ) from exc
            self._tables[name] = tbl
        elif fresh:
            tbl.refresh()
        return tbl

    def exists(self, name: str) -> bool:
        return bool(self.sql_catalog().table_exists((NAMESPACE, name)))

    def create(self, name: str, schema: pa.Schema, buckets: int) -> None:
        from pyiceberg.io.pyarrow import _pyarrow_to_schema_without_ids
        from pyiceberg.partitioning import PartitionField, PartitionSpec
        from pyiceberg.schema import assign_fresh_schema_ids
        from pyiceberg.table.sorting import SortField, SortOrder
        from pyiceberg.transforms import IdentityTransform

        # ids given here so the partition spec and sort order can name their columns
        iceberg = assign_fresh_schema_ids(_pyarrow_to_schema_without_ids(schema))
        spec = PartitionSpec(
            PartitionField(
                source_id=iceberg.find_field(BUCKET).field_id,
                field_id=1000,
                transform=IdentityTransform(),
                name=BUCKET,
            )
        )
        order = SortOrder(SortField(iceberg.find_field(ROW).field_id, IdentityTransform()))
        properties = {
            "workbench.buckets": str(buckets),
            "write.parquet.row-group-limit": str(ROW_GROUP),
            "write.parquet.compression-codec": "zstd",
            "write.target-file-size-bytes": str(_TARGET_FILE_BYTES),
        }
        self.sql_catalog().create_table(
            (NAMESPACE, name),
            schema=iceberg,
            location=table_uri(self.root, name),
            partition_spec=spec,
            sort_order=order,
            properties=properties,
        )

    def arrow_schema(self, name: str) -> pa.Schema:
        """The table's columns as plain Arrow types, without Iceberg's field ids (files a job
        writes for `add_files` must have none)."""
        return pa.schema(
            [pa.field(f.name, _plain(f.type)) for f in self.table(name).schema().as_arrow()]
        )

    def add_files(self, name: str, paths: Sequence[str]) -> None:
        """One commit adopting Parquet files written into the table's folder (a job's)."""
        if not paths:
            return
        tbl = self.table(name)
        try:
            tbl.add_files(list(paths), snapshot_properties=self._tagged())
        except Exception as exc:
            raise LakeError(f"cannot commit the job's files to {tbl.location()}: {exc}") from exc

    def field_names(self, name: str) -> set[str]:
        return {f.name for f in self.table(name).schema().fields}

    def buckets(self, name: str, default: int) -> int:
        try:
            return int(self.table(name).properties["workbench.buckets"])
        except (KeyError, ValueError):
            return default

    def version(self, name: str) -> int:
        tbl = self.table(name, fresh=False)
        if self._metadata_location(name) != tbl.metadata_location:
            tbl = self.table(name)  # moved on: read its new metadata file
        snapshot = tbl.current_snapshot()
        return 0 if snapshot is None else int(snapshot.snapshot_id)

    def _metadata_location(self, name: str) -> str | None:
        """The table's current metadata file, as the SQL catalog records it: one indexed
        query, where a refresh also reads and parses the metadata file (which grows with
        every snapshot: 24 ms after a compaction of 8 buckets, against 2 ms for this)."""
        from pyiceberg.catalog.sql import IcebergTables
        from sqlalchemy import select
        from sqlalchemy.orm import Session

        catalog = self.sql_catalog()
        with Session(catalog.engine) as session:
            row = session.execute(
                select(IcebergTables.metadata_location).where(
                    IcebergTables.catalog_name == catalog.name,
                    IcebergTables.table_namespace == NAMESPACE,
                    IcebergTables.table_name == name,
                )
            ).first()
        return None if row is None else row[0]

    def reads_as(self, duckdb_type: str) -> bool:
        return not any(t in duckdb_type for t in _WIDENED)

    def files(self, name: str, version: int) -> tuple[list[str], bool]:
        from pyiceberg.conversions import from_bytes
        from pyiceberg.types import LongType

        if version == 0:
            return [], True
        tbl = self.table(name, fresh=False)
        if tbl.snapshot_by_id(version) is None:
            tbl = self.table(name)
            if tbl.snapshot_by_id(version) is None:
                raise LakeError(f"lake table {tbl.location()} has no snapshot {version}")
        row_id = tbl.schema().find_field(ROW).field_id
        uris: list[str] = []
        keyed: list[tuple[int, int, str]] = []
        for task in tbl.scan(snapshot_id=version).plan_files():
            if task.delete_files:
                raise LakeError(
                    f"lake table {tbl.location()} has delete files at snapshot {version}: its "
                    "data files alone are not its rows; rewrite it (rewrite_data_files, or "
                    "a copy-on-write overwrite) before attaching"
                )
            uri = _local(task.file.file_path)
            uris.append(uri)
            lo = (task.file.lower_bounds or {}).get(row_id)
            hi = (task.file.upper_bounds or {}).get(row_id)
            if lo is not None and hi is not None:
                low, high = from_bytes(LongType(), lo), from_bytes(LongType(), hi)
                keyed.append((int(low), int(high), uri))
        if not keyed:
            return uris, len(uris) <= 1
        return stored_order(keyed, uris)

    def spans(self, name: str) -> list[Span] | None:
        from pyiceberg.conversions import from_bytes
        from pyiceberg.types import LongType

        tbl = self.table(name)
        if tbl.current_snapshot() is None:
            return []
        row_id = tbl.schema().find_field(ROW).field_id
        out = []
        records = self._records[name] = {}
        for task in tbl.scan().plan_files():
            data = task.file
            lo = (data.lower_bounds or {}).get(row_id)
            hi = (data.upper_bounds or {}).get(row_id)
            bucket = data.partition[0] if len(data.partition) else None
            if task.delete_files or lo is None or hi is None or bucket is None:
                return None
            low, high = from_bytes(LongType(), lo), from_bytes(LongType(), hi)
            size = int(data.file_size_in_bytes)
            out.append(Span(int(bucket), int(low), int(high), size, data.file_path))
            records[data.file_path] = data
        return out

    def file_schema(self, name: str) -> pa.Schema:
        """The table's columns with their Iceberg field ids, in plain Arrow types."""
        from pyiceberg.io.pyarrow import schema_to_pyarrow

        return pa.schema([_plain_field(f) for f in schema_to_pyarrow(self.table(name).schema())])

    def file_path(self, name: str, span: Span) -> str:
        return _local(span.path)

    def new_file(self, name: str, bucket: int) -> str:
        folder = f"{_local(self.table(name, fresh=False).location())}/data/{BUCKET}={bucket}"
        if not is_remote(folder):
            os.makedirs(folder, exist_ok=True)
        return f"{folder}/{uuid.uuid4().hex}.parquet"

    def replace_files(self, name: str, removed: Sequence[Span], added: Sequence[Written]) -> None:
        """One overwrite snapshot deleting `removed` and appending `added` (their records
        made from the footers, as pyiceberg's own writes make them)."""
        from pyiceberg.io.pyarrow import (
            compute_statistics_plan,
            data_file_statistics_from_parquet_metadata,
            parquet_path_to_id_mapping,
        )
        from pyiceberg.manifest import DataFile, DataFileContent, FileFormat
        from pyiceberg.typedef import Record

        tbl = self.table(name)
        schema, meta = tbl.schema(), tbl.metadata
        files = []
        for f in added:
            stats = data_file_statistics_from_parquet_metadata(
                parquet_metadata=f.meta,
                stats_columns=compute_statistics_plan(schema, meta.properties),
                parquet_column_mapping=parquet_path_to_id_mapping(schema),
            )
            files.append(
                DataFile.from_args(
                    content=DataFileContent.DATA, file_path=f.path,
                    file_format=FileFormat.PARQUET, partition=Record(f.bucket),
                    file_size_in_bytes=f.size, sort_order_id=None,
                    spec_id=meta.default_spec_id, equality_ids=None, key_metadata=None,
                    **stats.to_serialized_dict(),
                )
            )  # fmt: skip
        try:
            records = [self._records[name][s.path] for s in removed]
            with tbl.transaction() as tx:
                update = tx.update_snapshot(snapshot_properties=self._tagged())
                with update.overwrite() as overwrite:
                    for record in records:
                        overwrite.delete_data_file(record)
                    for data in files:
                        overwrite.append_data_file(data)
        except Exception as exc:
            raise LakeError(f"cannot write lake table {tbl.location()}: {exc}") from exc

    def read(self, name: str, where: Where, columns: Sequence[str] | None = None) -> pa.Table:
        tbl = self.table(name)
        schema = tbl.schema().as_arrow()
        names = list(columns) if columns is not None else schema.names
        if tbl.current_snapshot() is None:
            return pa.schema([(n, _plain(schema.field(n).type)) for n in names]).empty_table()
        rows = tbl.scan(row_filter=expression(where), selected_fields=tuple(names)).to_arrow()
        return pa.Table.from_arrays(
            [rows[n].cast(_plain(schema.field(n).type)) for n in names], names=names
        )

    def _typed(self, tbl: Any, rows: pa.Table) -> pa.Table:
        """`rows` in the table's own types (int for DuckDB's small ints), plain strings and
        lists (pyiceberg hands out large ones, which it would record in the files)."""
        schema = tbl.schema().as_arrow()
        columns = [
            rows[f.name].cast(_plain(schema.field(f.name).type))
            if f.name in schema.names and f.type != _plain(schema.field(f.name).type)
            else rows[f.name]
            for f in rows.schema
        ]
        return pa.Table.from_arrays(columns, names=rows.schema.names)

    def append(self, name: str, rows: pa.Table, *, target_file_size: int | None = None) -> None:
        tbl = self.table(name)
        try:
            if rows.num_rows:
                tbl.append(self._typed(tbl, rows), snapshot_properties=self._tagged())
        except Exception as exc:
            raise LakeError(f"cannot write lake table {tbl.location()}: {exc}") from exc

    def overwrite(
        self, name: str, rows: pa.Table, where: Where, *, target_file_size: int | None = None
    ) -> None:
        tbl = self.table(name)
        try:
            with warnings.catch_warnings(), tbl.transaction() as tx:  # one commit
                # a replacement of rows that are not there yet (new frames) deletes nothing
                warnings.filterwarnings("ignore", "Delete operation did not match any records")
                tagged = self._tagged()
                if rows.num_rows:
                    typed = self._typed(tbl, rows)
                    tx.overwrite(typed, expression(where), snapshot_properties=tagged)
                else:
                    tx.delete(expression(where), snapshot_properties=tagged)
        except Exception as exc:
            raise LakeError(f"cannot write lake table {tbl.location()}: {exc}") from exc

    def _tagged(self) -> dict[str, str]:
        """The snapshot summary's property naming the catalog that writes it
        (store/lake_repair.py)."""
        from workbench.store.lake_undo import WRITER

        return {WRITER: self.writer} if self.writer else {}

    def add_columns(self, name: str, fields: Sequence[pa.Field]) -> None:
        with self.table(name).update_schema() as update:
            update.union_by_name(pa.schema([pa.field(f.name, f.type) for f in fields]))

    def bucket_files(self, name: str, bucket: int) -> list[str]:
        tbl = self.table(name)
        if tbl.current_snapshot() is None:
            return []
        scan = tbl.scan(row_filter=expression(InBucket(bucket)))
        return [_local(t.file.file_path) for t in scan.plan_files()]

    def bucket_rows(self, name: str, bucket: int) -> pa.Table:
        tbl = self.table(name)
        rows = tbl.scan(row_filter=expression(InBucket(bucket))).to_arrow()
        schema = tbl.schema().as_arrow()
        return pa.Table.from_arrays(
            [rows[f.name].cast(_plain(f.type)) for f in schema], names=schema.names
        )

    def vacuum(self, name: str, retention_hours: int, dry_run: bool) -> list[str]:
        """Snapshots older than `retention_hours` (not the current one) are expired, then
        the data files no remaining snapshot lists and older than that are removed."""
        tbl = self.table(name)
        current = tbl.current_snapshot()
        cutoff_ms = int((time.time() - retention_hours * 3600) * 1000)
        old = [
            s.snapshot_id
            for s in tbl.snapshots()
            if s.timestamp_ms < cutoff_ms
            and (current is None or s.snapshot_id != current.snapshot_id)
        ]
        kept = [s.snapshot_id for s in tbl.snapshots() if s.snapshot_id not in old]
        read: set[str] = set()
        for snapshot_id in kept:
            paths = tbl.inspect.files(snapshot_id=snapshot_id).column("file_path").to_pylist()
            read.update(_local(str(p)) for p in paths)
        fs = filesystem(self.root) if is_remote(self.root) else _local_fs()
        data = table_uri(self.root, name) + "/data"
        if not fs.exists(data):
            return []
        gone = []
        for path, info in fs.find(data, detail=True).items():
            full = path if not is_remote(self.root) else f"{self.root.split('://')[0]}://{path}"
            if not full.endswith(".parquet") or full in read:
                continue
            if _modified_ms(info) <= cutoff_ms:
                gone.append(full)
        if not dry_run:
            if old:
                expire = tbl.maintenance.expire_snapshots()
                # pyiceberg 0.10 keeps the ids to expire in a set shared by every instance
                expire._snapshot_ids_to_expire = set()
                expire.by_ids(old).commit()
            for path in gone:
                fs.rm(path)
        return sorted(gone)


def _plain(t: pa.DataType) -> pa.DataType:
    """Large strings and lists as plain ones (pyiceberg reads them large)."""
    if pa.types.is_large_string(t) or pa.types.is_string_view(t):
        return pa.string()
    if pa.types.is_large_list(t) or pa.types.is_list(t):
        return pa.list_(_plain(t.value_type))
    return t


def _plain_field(f: pa.Field) -> pa.Field:
    """`f` in plain Arrow types, its field id (and its list item's) kept."""
    t = f.type
    if pa.types.is_large_list(t) or pa.types.is_list(t):
        t = pa.list_(_plain_field(t.value_field))
    else:
        t = _plain(t)
    return pa.field(f.name, t, f.nullable, f.metadata)


def _local_fs() -> Any:
    import fsspec

    return fsspec.filesystem("file")


def _modified_ms(info: dict[str, Any]) -> int:
    stamp = info.get("mtime") or info.get("LastModified") or info.get("created")
    if stamp is None:
        return 0
    if hasattr(stamp, "timestamp"):
        return int(stamp.timestamp() * 1000)
    return int(float(stamp) * 1000)
