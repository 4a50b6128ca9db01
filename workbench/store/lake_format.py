"""The table format a lake keeps its tables in: Delta Lake or Apache Iceberg.

Everything else about a lake (its layout, the views over one pinned snapshot, the writes
that check frames out and replace them, compaction) is the same for both and lives in
store/lake.py, lake_write.py and lake_compact.py; they reach the tables only through the
small `TableFormat` interface below. A lake is one format or the other, chosen when it is
made (`workbench lake init --format`) and recorded in the catalog's `_lake` table.

- Delta (store/lake_delta.py, the `deltalake` package): a version is the table's version
  number; the tables describe themselves (the log sits in the table's folder).
- Iceberg (store/lake_iceberg.py, `pyiceberg` with a SQL catalog): a version is a snapshot
  id (0: no snapshot yet); the table catalog is a SQLite file beside the workbench catalog
  or a SQL database the person names (`--iceberg-catalog URI`).

Row predicates of overwrites are small values (`Where`) each format translates itself, so
no SQL string has to mean the same in two dialects (`arrow_filter` reads them in pyarrow).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as pds

from workbench.errors import LakeError

if TYPE_CHECKING:
    from workbench.store.lake_files import Written

FORMATS = ("delta", "iceberg")


@dataclass(frozen=True)
class IsIn:
    """Rows whose `column` is one of `values`."""

    column: str
    values: tuple[str, ...]


@dataclass(frozen=True)
class Unkeyed:
    """Rows without a frame key or keyed from `first` on (a job's rows the catalog keys)."""

    first: int


@dataclass(frozen=True)
class InBucket:
    """The rows of one partition."""

    bucket: int


@dataclass(frozen=True, order=True)
class Span:
    """The rows of one data file: its partition and its range of `_row` (both ends in)."""

    bucket: int
    low: int
    high: int
    size: int = field(default=0, compare=False)  # the file's bytes
    path: str = field(default="")  # as the format records it (two files of one range differ)


@dataclass(frozen=True)
class InSpans:
    """The rows within any of `spans` (each in its partition)."""

    spans: tuple[Span, ...]


@dataclass(frozen=True)
class AnyOf:
    """The rows any of `parts` selects."""

    parts: tuple[IsIn | Unkeyed | InBucket | InSpans, ...]


Where = IsIn | Unkeyed | InBucket | InSpans | AnyOf


def arrow_filter(where: Where) -> pds.Expression:
    """A `Where` as a pyarrow expression (a null compares as false: the row is not selected)."""
    from workbench.store.lake import BUCKET, ROW  # store/lake.py imports this module

    match where:
        case IsIn(column, values):
            return pc.field(column).isin(pa.array(values, pa.string()))
        case Unkeyed(first):
            return pc.field("frame_key").is_null() | (pc.field("frame_key") >= int(first))
        case InBucket(bucket):
            return pc.field(BUCKET) == int(bucket)
        case InSpans(spans):
            return _either(
                [
                    (pc.field(BUCKET) == s.bucket)
                    & (pc.field(ROW) >= s.low)
                    & (pc.field(ROW) <= s.high)
                    for s in spans
                ]
            )
        case AnyOf(parts):
            return _either([arrow_filter(p) for p in parts])


def _either(parts: list[pds.Expression]) -> pds.Expression:
    out = pds.scalar(False)
    for part in parts:
        out = out | part
    return out


class TableFormat(Protocol):
    """What a lake needs of its table format. Tables are named by the lake's table names
    (frames, sources, rois); each lives at `table_uri(root, name)`."""

    kind: str
    root: str  # the lake's folder or URI
    # The catalog whose writes make the commits, named in them where the format can
    # (Delta's commit metadata, Iceberg's snapshot summary; store/lake_repair.py undoes a
    # rolled-back write's by it).
    writer: str | None

    def exists(self, name: str) -> bool:
        """Whether a table of this name is there already."""
        ...

    def create(self, name: str, schema: pa.Schema, buckets: int) -> None:
        """A new empty table partitioned by the bucket column, recording `buckets`."""
        ...

    def field_names(self, name: str) -> set[str]:
        """The table's columns now (possibly more than the catalog reads)."""
        ...

    def buckets(self, name: str, default: int) -> int:
        """The bucket count the table records (`create`, the jobs), else `default`."""
        ...

    def version(self, name: str) -> int:
        """The table's latest version (brought up to date)."""
        ...

    def reads_as(self, duckdb_type: str) -> bool:
        """Whether the files give a column of this DuckDB type back as it (else the views
        cast it: Iceberg has no 8 or 16 bit integers)."""
        ...

    def files(self, name: str, version: int) -> tuple[list[str], bool]:
        """The data files of one snapshot in stored order (by their first `_row`), and
        whether their `_row` ranges are disjoint. Refused (`LakeError`) when the snapshot
        has deletes its files alone do not show (deletion vectors, delete files)."""
        ...

    def append(self, name: str, rows: pa.Table, *, target_file_size: int | None = None) -> None:
        """One commit adding `rows`."""
        ...

    def overwrite(
        self, name: str, rows: pa.Table, where: Where, *, target_file_size: int | None = None
    ) -> None:
        """One commit replacing the rows `where` selects by `rows` (which it selects too)."""
        ...

    def spans(self, name: str) -> list[Span] | None:
        """The latest snapshot's data files as spans; None if a file has no `_row` bounds."""
        ...

    def file_schema(self, name: str) -> pa.Schema:
        """The columns a data file of the table is written with (store/lake_files.py)."""
        ...

    def file_path(self, name: str, span: Span) -> str:
        """The full path or URI of a file `spans` gave."""
        ...

    def new_file(self, name: str, bucket: int) -> str:
        """The full path or URI a new data file of one partition is written to (a local
        one's folder made)."""
        ...

    def replace_files(self, name: str, removed: Sequence[Span], added: Sequence[Written]) -> None:
        """One commit removing the files `removed` (from `spans`) and adding `added`."""
        ...

    def read(self, name: str, where: Where, columns: Sequence[str] | None = None) -> pa.Table:
        """The latest snapshot's rows `where` selects (`columns`, else every column)."""
        ...

    def add_columns(self, name: str, fields: Sequence[pa.Field]) -> None:
        """Add nullable columns (schema evolution, nothing rewritten)."""
        ...

    def bucket_files(self, name: str, bucket: int) -> list[str]:
        """The latest snapshot's files of one partition."""
        ...

    def bucket_rows(self, name: str, bucket: int) -> pa.Table:
        """The latest snapshot's rows of one partition, every column the table has."""
        ...

    def vacuum(self, name: str, retention_hours: int, dry_run: bool) -> list[str]:
        """The files no snapshot within `retention_hours` reads; removed unless `dry_run`."""
        ...


def open_format(kind: str, root: str, catalog: str | None = None) -> TableFormat:
    """The table format of the lake at `root` (`catalog`: Iceberg's SQL catalog URI)."""
    if kind == "delta":
        from workbench.store.lake_delta import DeltaFormat

        return DeltaFormat(root)
    if kind == "iceberg":
        from workbench.store.lake_iceberg import IcebergFormat

        return IcebergFormat(root, catalog)
    raise LakeError(f"lake formats are {', '.join(FORMATS)}, not {kind!r}")
