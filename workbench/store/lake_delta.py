"""Delta Lake tables for a lake (store/lake_format.py), with the `deltalake` package.

A version is the table's version number. The file list of a snapshot is
`DeltaTable.file_uris()`, ordered by the `_row` statistics of the log's add actions; a
snapshot with deletion vectors is refused, its files alone are not its rows. Tables written
by deltalake never have them; one written by a Spark or Databricks writer that does must be
purged (`REORG TABLE ... APPLY (PURGE)`) first.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Sequence
from itertools import pairwise
from typing import Any
from urllib.parse import unquote

import orjson
import pyarrow as pa
import pyarrow.compute as pc

from workbench.errors import LakeError
from workbench.store.lake import BUCKET, ROW, ROW_GROUP, is_remote, storage_options, table_uri
from workbench.store.lake_files import Written, delta_stats
from workbench.store.lake_format import (
    AnyOf,
    InBucket,
    InSpans,
    IsIn,
    Span,
    Unkeyed,
    Where,
)
from workbench.store.sqlsafe import quote_ident


def writer_properties() -> Any:
    from deltalake import WriterProperties

    return WriterProperties(max_row_group_size=ROW_GROUP, compression="ZSTD")


def predicate(where: Where) -> str:
    """A `Where` as a deltalake predicate."""
    match where:
        case IsIn(column, values):
            listed = ", ".join("'" + str(v).replace("'", "''") + "'" for v in values)
            return f"{column} IN ({listed})"
        case Unkeyed(first):
            return f"frame_key IS NULL OR frame_key >= {int(first)}"
        case InBucket(bucket):
            return f"{BUCKET} = {int(bucket)}"
        case InSpans(spans):
            return " OR ".join(
                f"({BUCKET} = {s.bucket} AND {ROW} BETWEEN {s.low} AND {s.high})" for s in spans
            )
        case AnyOf(parts):
            return " OR ".join(f"({predicate(p)})" for p in parts)


def buckets_of(dt: Any, default: int) -> int:
    """The bucket count a table's description records (`lake init`, the jobs)."""
    try:
        return int(orjson.loads(dt.metadata().description or "{}")["workbench"]["buckets"])
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
        return default


class DeltaFormat:
    """The lake's tables as Delta tables under `root`."""

    kind = "delta"

    def __init__(self, root: str) -> None:
        self.root = root
        self.writer: str | None = None
        self._tables: dict[str, Any] = {}

    @property
    def options(self) -> dict[str, str]:
        return storage_options(self.root)

    def uri(self, name: str) -> str:
        return table_uri(self.root, name)

    def table(self, name: str) -> Any:
        """The table's DeltaTable, brought up to its latest version."""
        from deltalake import DeltaTable

        dt = self._tables.get(name)
        if dt is None:
            try:
                dt = DeltaTable(self.uri(name), storage_options=self.options)
            except Exception as exc:
                raise LakeError(f"cannot open lake table {self.uri(name)}: {exc}") from exc
            self._tables[name] = dt
        else:
            dt.update_incremental()
        return dt

    def exists(self, name: str) -> bool:
        from deltalake import DeltaTable

        return bool(DeltaTable.is_deltatable(self.uri(name), storage_options=self.options))

    def create(self, name: str, schema: pa.Schema, buckets: int) -> None:
        from deltalake import DeltaTable

        DeltaTable.create(
            self.uri(name),
            schema,
            partition_by=[BUCKET],
            storage_options=self.options,
            description=orjson.dumps({"workbench": {"buckets": buckets}}).decode(),
        )

    def field_names(self, name: str) -> set[str]:
        return {f.name for f in self.table(name).schema().fields}

    def buckets(self, name: str, default: int) -> int:
        return buckets_of(self.table(name), default)

    def version(self, name: str) -> int:
        return int(self.table(name).version())

    def reads_as(self, duckdb_type: str) -> bool:
        return True

    def files(self, name: str, version: int) -> tuple[list[str], bool]:
        from deltalake import DeltaTable

        dt = self.table(name)
        if dt.version() != version:
            dt = DeltaTable(self.uri(name), version=version, storage_options=self.options)
        features = dt.protocol().reader_features or []
        if "deletionVectors" in features and _has_deletion_vectors(dt):
            raise LakeError(
                f"lake table {self.uri(name)} has deletion vectors at version {version}: "
                "its files alone are not its rows; rewrite it (OPTIMIZE / REORG ... APPLY PURGE) "
                "before attaching"
            )
        return _in_stored_order(dt)

    def append(self, name: str, rows: pa.Table, *, target_file_size: int | None = None) -> None:
        from deltalake import write_deltalake

        try:
            write_deltalake(
                self.uri(name),
                rows,
                mode="append",
                storage_options=self.options,
                writer_properties=writer_properties(),
                target_file_size=target_file_size,
                commit_properties=self._tagged(),
            )
        except Exception as exc:
            raise LakeError(f"cannot write lake table {self.uri(name)}: {exc}") from exc

    def _tagged(self) -> Any:
        """The commit's metadata naming the catalog that writes it (store/lake_repair.py)."""
        from deltalake import CommitProperties

        from workbench.store.lake_undo import WRITER

        return CommitProperties(custom_metadata={WRITER: self.writer}) if self.writer else None

    def overwrite(
        self, name: str, rows: pa.Table, where: Where, *, target_file_size: int | None = None
    ) -> None:
        if isinstance(where, IsIn | Unkeyed) and rows.num_rows:
            # rows not merged with the rows the files they rewrite keep (store/lake_order.py)
            before = {path for path, _ in _file_spans(self.table(name))}
            self._overwrite(name, rows, predicate(where), target_file_size)
            self._in_order_again(name, before, target_file_size)
        else:
            self._overwrite(name, rows, predicate(where), target_file_size)

    def _overwrite(
        self, name: str, rows: pa.Table, where: str, target_file_size: int | None
    ) -> None:
        from deltalake import write_deltalake

        if any(c.num_chunks > 1 for c in rows.columns):
            # deltalake (1.6.6) writes a table's batches interleaved, one batch in order
            rows = rows.combine_chunks()
        try:
            write_deltalake(
                self.uri(name),
                rows,
                mode="overwrite",
                predicate=where,
                storage_options=self.options,
                writer_properties=writer_properties(),
                partition_by=[BUCKET],
                target_file_size=target_file_size,
                commit_properties=self._tagged(),
            )
        except Exception as exc:
            raise LakeError(f"cannot write lake table {self.uri(name)}: {exc}") from exc

    def _in_order_again(self, name: str, before: set[str], target_file_size: int | None) -> None:
        """Write again, sorted by `_row`, the files an overwrite just added out of order.

        A predicate overwrite (deltalake 1.6.6) writes each file it rewrites with the new
        rows BEFORE the rows it kept. store/lake_order.py writes such files itself, in
        order; when a write comes here instead (a file without statistics) and the table turns out disjoint all the same, one more commit
        (tagged as the write's: an undo takes both back, store/lake_undo.py) replaces exactly
        the added files' rows, selected by bucket and `_row` range, by them sorted. Files
        whose ranges overlap are sorted by the views anyway and left as they are."""
        dt = self.table(name)
        if not _in_stored_order(dt)[1]:
            return
        added = [s for path, s in _file_spans(dt) if s is not None and path not in before]
        unsorted = []
        for span in added:
            which = [(BUCKET, "=", span.bucket), (ROW, ">=", span.low), (ROW, "<=", span.high)]
            if not _ascending(dt.to_pyarrow_table(columns=[ROW], filters=which)[ROW]):
                unsorted.append(span)
        if unsorted:
            where = InSpans(tuple(unsorted))
            again = self.read(name, where).sort_by(ROW)
            self._overwrite(name, again, predicate(where), target_file_size)

    def spans(self, name: str) -> list[Span] | None:
        found = _file_spans(self.table(name))
        return None if any(s is None for _, s in found) else [s for _, s in found if s]

    def file_schema(self, name: str) -> pa.Schema:
        return pa.schema(self.table(name).schema().to_arrow())

    def file_path(self, name: str, span: Span) -> str:
        return f"{self.uri(name)}/{unquote(span.path)}"

    def new_file(self, name: str, bucket: int) -> str:
        folder = f"{self.uri(name)}/{BUCKET}={bucket}"
        if not is_remote(folder):
            os.makedirs(folder, exist_ok=True)
        return f"{folder}/part-{uuid.uuid4().hex}.zstd.parquet"

    def replace_files(self, name: str, removed: Sequence[Span], added: Sequence[Written]) -> None:
        """One commit of remove and add actions (the files' statistics from their footers)."""
        from deltalake.transaction import AddAction, RemoveAction

        dt = self.table(name)
        schema = self.file_schema(name)
        now = int(time.time() * 1000)
        actions: list[Any] = [
            RemoveAction(s.path, True, now, s.size, {BUCKET: str(s.bucket)}) for s in removed
        ]
        root = self.uri(name).rstrip("/") + "/"
        actions += [
            AddAction(
                f.path.removeprefix(root), f.size, {BUCKET: str(f.bucket)}, now, True,
                delta_stats(f.meta, schema),
            )
            for f in added
        ]  # fmt: skip
        try:
            dt.create_write_transaction(
                actions, "append", dt.schema(), [BUCKET], commit_properties=self._tagged()
            )
        except Exception as exc:
            raise LakeError(f"cannot write lake table {self.uri(name)}: {exc}") from exc

    def read(self, name: str, where: Where, columns: Sequence[str] | None = None) -> pa.Table:
        """By deltalake's own engine (DataFusion: half the CPU of a pyarrow dataset's scan,
        measured on a frames file of 333,347 rows), in no particular order."""
        from deltalake import QueryBuilder

        dt = self.table(name)
        schema = pa.schema(dt.schema().to_arrow())
        names = list(columns) if columns is not None else schema.names
        listed = ", ".join(quote_ident(n) for n in names)
        query = f"SELECT {listed} FROM t WHERE {predicate(where)}"
        try:
            rows = pa.table(QueryBuilder().register("t", dt).execute(query).read_all())
        except Exception as exc:
            raise LakeError(f"cannot read lake table {self.uri(name)}: {exc}") from exc
        return rows.cast(pa.schema([schema.field(n) for n in names]))  # its strings are views

    def add_columns(self, name: str, fields: Sequence[pa.Field]) -> None:
        from deltalake import Field, Schema

        converted = Schema.from_arrow(pa.schema(fields))
        self.table(name).alter.add_columns(
            [Field(f.name, f.type, nullable=True) for f in converted.fields]
        )

    def bucket_files(self, name: str, bucket: int) -> list[str]:
        actions = pa.table(self.table(name).get_add_actions(flatten=True))
        column = f"partition.{BUCKET}"
        paths = actions["path"].to_pylist()
        values = (
            actions[column].to_pylist() if column in actions.schema.names else [None] * len(paths)
        )
        return [p for p, v in zip(paths, values, strict=True) if v is not None and int(v) == bucket]

    def bucket_rows(self, name: str, bucket: int) -> pa.Table:
        return self.table(name).to_pyarrow_table(filters=[(BUCKET, "=", bucket)])

    def vacuum(self, name: str, retention_hours: int, dry_run: bool) -> list[str]:
        return vacuum_table(self.table(name), retention_hours, dry_run)


def vacuum_table(
    dt: Any, retention_hours: int, dry_run: bool, keep: int | None = None
) -> list[str]:
    """The files of a Delta table no version within `retention_hours` reads (nor version
    `keep`), and those older than that no commit names (a failed job's); removed unless
    `dry_run`."""
    return list(
        dt.vacuum(
            retention_hours=retention_hours,
            dry_run=dry_run,
            enforce_retention_duration=retention_hours >= 168,
            full=True,  # files no commit names too, not only those a commit removed
            keep_versions=None if keep is None else [keep],
        )
    )


def _file_spans(dt: Any) -> list[tuple[str, Span | None]]:
    """Each file of the table's snapshot (its path as the log names it) and its span, None
    when the log holds no `_row` statistics for it."""
    actions = pa.table(dt.get_add_actions(flatten=True)).to_pylist()
    out: list[tuple[str, Span | None]] = []
    for a in actions:
        bucket, low, high = (a.get(k) for k in (f"partition.{BUCKET}", f"min.{ROW}", f"max.{ROW}"))
        span = None
        if None not in (bucket, low, high):
            size = int(a.get("size_bytes") or 0)
            span = Span(int(bucket), int(low), int(high), size, str(a["path"]))
        out.append((str(a["path"]), span))
    return out


def _in_stored_order(dt: Any) -> tuple[list[str], bool]:
    """The table's file URIs sorted by their smallest `_row`, and whether the files' ranges
    of `_row` are disjoint (so reading them one after another reads rows in stored order)."""
    uris = [str(u) for u in dt.file_uris()]
    actions = pa.table(dt.get_add_actions(flatten=True))
    names = actions.schema.names
    if f"min.{ROW}" not in names or f"max.{ROW}" not in names or not uris:
        return uris, len(uris) <= 1
    lows, highs = actions[f"min.{ROW}"].to_pylist(), actions[f"max.{ROW}"].to_pylist()
    ranges = {
        unquote(str(p)): (lo, hi)
        for p, lo, hi in zip(actions["path"].to_pylist(), lows, highs, strict=True)
    }
    root = str(dt.table_uri).rstrip("/") + "/"
    keyed: list[tuple[int, int, str]] = []
    for uri in uris:
        relative = unquote(uri.removeprefix(root).removeprefix("file://"))
        lo, hi = ranges.get(relative) or next(
            (r for p, r in ranges.items() if unquote(uri).endswith("/" + p)), (None, None)
        )
        if lo is None or hi is None:  # no statistics: the order cannot be known
            return uris, False
        keyed.append((int(lo), int(hi), uri))
    return stored_order(keyed, uris)


def stored_order(keyed: list[tuple[int, int, str]], uris: list[str]) -> tuple[list[str], bool]:
    """Files by their (smallest, largest `_row`): in order, and whether disjoint."""
    if len(keyed) != len(uris):
        return uris, False
    keyed.sort()
    disjoint = all(a[1] < b[0] for a, b in pairwise(keyed))
    return [uri for _, _, uri in keyed], disjoint


def _ascending(values: pa.ChunkedArray) -> bool:
    """Whether `values` never decrease."""
    if len(values) < 2:
        return True
    flat = values.combine_chunks()
    return bool(pc.all(pc.greater_equal(flat.slice(1), flat.slice(0, len(flat) - 1))).as_py())


def _has_deletion_vectors(dt: Any) -> bool:
    try:
        reader = dt.deletion_vectors()
    except Exception:  # an engine that cannot say: refuse rather than read wrong
        return True
    table = pa.table(reader) if not isinstance(reader, pa.Table) else reader
    return table.num_rows > 0
