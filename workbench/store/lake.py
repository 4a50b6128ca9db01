"""Lake-backed catalogs: frames, sources and ROIs as Delta Lake or Iceberg tables at a URI.

A catalog attached to a lake keeps its three big tables as Delta tables (the `deltalake`
package, no JVM) or Iceberg tables (`pyiceberg`, a SQL catalog) on local disk or
S3-compatible storage; everything small and transactional stays in the DuckDB file. The
format's own parts sit behind `TableFormat` (store/lake_format.py). DuckDB stays the engine:
`frames`, `sources` and `rois` become views over the Parquet files of one pinned snapshot of
each table (`DeltaTable.file_uris()`, an Iceberg scan's planned files), read
by DuckDB's own Parquet reader. The pins move on when a table does (a write of ours, or a job
that appended to the lake; `Lake.refresh`).

Layout (docs/scale-out.md): each table has the columns of the catalog's own table definition
(read from DuckDB, so a new column in store/schema.py reaches the lake) plus
`context_bucket`, the partition column (crc32 of the frame's context_id modulo the lake's
bucket count, the same in Python, Spark and Daft), and `_row`, the stored order (a DuckDB
table's rowid). Each write numbers its rows afresh, bucket after bucket, so every file holds
one range of `_row` that no other file overlaps: read one file after another, in order of
their first `_row`, the rows come in stored order and views need no sort (as on a local
catalog). `lake compact` clusters each bucket by (context_id, timestamp) and numbers it again.

The file-list route is correct only while the snapshot has no deletion vectors (Delta) or
delete files (Iceberg): a table that has them is refused (`LakeError`), never read wrong. The
tables' format, locations, bucket count and DuckDB column types (and an Iceberg lake's SQL
catalog URI) live in the catalog's `_lake` table; credentials never do (they come from the
usual AWS variables, `storage_options`).
"""

from __future__ import annotations

import os
import threading
import zlib
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Any

import duckdb
import orjson
import pyarrow as pa

from workbench.errors import LakeError
from workbench.store import summaries
from workbench.store.lake_format import TableFormat, open_format
from workbench.store.sqlsafe import quote_ident

LAKE_TABLES: tuple[str, ...] = ("frames", "sources", "rois")
BUCKET = "context_bucket"
# The stored order of rows (a DuckDB table's rowid): the views show it as `rowid`, so the
# library's "in stored order" (ORDER BY rowid) reads the same on both kinds of catalog.
ROW = "_row"
DEFAULT_BUCKETS = 8
# Rows per Parquet row group: a page's ROIs sit in one or two of them, and the reader skips
# the others by their frame_id ranges.
ROW_GROUP = 16_384
# Columns that tie a row to its frame, per table (frames: its own id).
FRAME_KEY = {"frames": "id", "sources": "frame_id", "rois": "frame_id"}
# Tables a page reads by frame key (Lake.by_keys).
PAGED = ("sources", "rois")
LAKE_META = "_lake"
_LAKE_DDL = f"""CREATE TABLE IF NOT EXISTS {LAKE_META} (
    name VARCHAR PRIMARY KEY,
    uri VARCHAR NOT NULL,
    buckets INTEGER NOT NULL,
    columns JSON NOT NULL,
    version BIGINT,
    evolved BOOLEAN NOT NULL DEFAULT false,
    format VARCHAR NOT NULL DEFAULT 'delta',
    catalog VARCHAR)"""


def context_bucket(context_ids: Iterable[str | None], buckets: int) -> pa.Array:
    """The partition of each context: crc32 of its UTF-8 bytes modulo `buckets` (Spark's
    `crc32(context_id) % n` gives the same)."""
    seen: dict[str | None, int] = {}
    out = []
    for cid in context_ids:
        b = seen.get(cid)
        if b is None:
            b = seen[cid] = zlib.crc32((cid or "").encode()) % buckets
        out.append(b)
    return pa.array(out, pa.int32())


# The folder of the lake holding one Delta table per embedding key (analysis/embeddings/lake.py).
EMBEDDINGS = "embeddings"


def is_remote(uri: str) -> bool:
    return "://" in uri and not uri.startswith("file://")


def storage_options(uri: str) -> dict[str, str]:
    """What `deltalake` needs to reach `uri`, from the usual AWS variables (never stored)."""
    if not uri.startswith(("s3://", "s3a://")):
        return {}
    names = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_REGION")
    options = {n: os.environ[n] for n in names if os.environ.get(n)}
    endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
    if endpoint:
        options["AWS_ENDPOINT_URL"] = endpoint
        if endpoint.startswith("http://"):
            options["AWS_ALLOW_HTTP"] = "true"
    options.setdefault("AWS_REGION", os.environ.get("AWS_DEFAULT_REGION", "us-east-1"))
    # One writer at a time (the catalog's process, or one job): S3 has no atomic rename.
    options["AWS_S3_ALLOW_UNSAFE_RENAME"] = "true"
    return options


def filesystem(uri: str) -> Any:
    """The fsspec file system DuckDB reads a remote lake through (no httpfs offline)."""
    if not uri.startswith(("s3://", "s3a://")):
        raise LakeError(f"lake URIs are local paths or s3://, not {uri!r}")
    import s3fs

    endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
    return s3fs.S3FileSystem(endpoint_url=endpoint) if endpoint else s3fs.S3FileSystem()


def duckdb_filesystem(uri: str) -> Any:
    """The fsspec file system DuckDB reads a remote lake's views through: pyarrow's S3 file
    system (`arrow_filesystem`, the one writes go through) wrapped for fsspec: a quarter to
    two fifths of s3fs's CPU per scan (docs/benchmarks.md, "Twenty-ninth pass")."""
    from fsspec.implementations.arrow import ArrowFSWrapper

    class _ArrowS3(ArrowFSWrapper):
        protocol = ("s3", "s3a")

    return _ArrowS3(arrow_filesystem(uri))


def arrow_filesystem(uri: str) -> Any:
    """pyarrow's file system the lake's own data files at `uri` are written and read through
    (store/lake_files.py): the local one, or S3 from the usual AWS variables (never stored)."""
    import pyarrow.fs as pafs

    if not is_remote(uri):
        return pafs.LocalFileSystem()
    if not uri.startswith(("s3://", "s3a://")):
        raise LakeError(f"lake URIs are local paths or s3://, not {uri!r}")
    options = storage_options(uri)
    found: dict[str, Any] = {"region": options["AWS_REGION"]}
    if options.get("AWS_ACCESS_KEY_ID") and options.get("AWS_SECRET_ACCESS_KEY"):
        found.update(
            access_key=options["AWS_ACCESS_KEY_ID"],
            secret_key=options["AWS_SECRET_ACCESS_KEY"],
            session_token=options.get("AWS_SESSION_TOKEN"),
        )
    endpoint = options.get("AWS_ENDPOINT_URL")
    if endpoint:
        scheme, _, rest = endpoint.partition("://")
        found.update(endpoint_override=rest.rstrip("/"), scheme=scheme)
    return pafs.S3FileSystem(**found)


def fs_path(uri: str) -> str:
    """A data file's path within its `arrow_filesystem` (an S3 URI without its scheme)."""
    if uri.startswith("file://"):
        return uri.removeprefix("file://")
    return uri.split("://", 1)[1] if is_remote(uri) else uri


def table_uri(root: str, name: str) -> str:
    return f"{root.rstrip('/')}/{name}"


def normalise_uri(uri: str) -> str:
    """A lake URI as stored: local paths absolute, remote ones as given."""
    if is_remote(uri):
        return uri.rstrip("/")
    return os.path.abspath(uri.removeprefix("file://"))


def lake_type(t: pa.DataType) -> pa.DataType:
    """The type a lake column is written with: plain strings and lists, which every reader
    takes (Daft 0.7 refuses string views; DuckDB may hand them out)."""
    if pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t):
        return pa.string()
    if pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_list_view(t):
        return pa.list_(lake_type(t.value_type))
    if pa.types.is_timestamp(t):
        return pa.timestamp("us")
    return t


@dataclass(frozen=True)
class LakeTable:
    """One table of the lake and the snapshot the catalog reads."""

    name: str
    uri: str
    buckets: int
    columns: tuple[tuple[str, str], ...]  # (name, DuckDB type) as the catalog defines them
    version: int | None
    evolved: bool = False  # columns were added since the first files: read by name

    def arrow_schema(self, con: duckdb.DuckDBPyConnection) -> pa.Schema:
        """The lake schema: the catalog's columns as Arrow, plus the partition column."""
        select = ", ".join(f"NULL::{t} AS {quote_ident(n)}" for n, t in self.columns)
        schema = con.sql(f"SELECT {select} LIMIT 0").to_arrow_table().schema
        fields = [pa.field(f.name, lake_type(f.type)) for f in schema]
        return pa.schema([*fields, pa.field(ROW, pa.int64()), pa.field(BUCKET, pa.int32())])


def column_types(con: duckdb.DuckDBPyConnection, name: str) -> tuple[tuple[str, str], ...]:
    """(column, DuckDB type) of a catalog table (or its stand-in), in order."""
    rows = con.execute(
        "SELECT column_name, data_type FROM information_schema.columns "
        "WHERE table_schema = 'main' AND table_name = ? ORDER BY ordinal_position",
        [name],
    ).fetchall()
    return tuple((str(n), str(t)) for n, t in rows)


@dataclass
class Lake:
    """The lake a catalog's big tables live in (`catalog.lake`; None for a local catalog)."""

    root: str
    tables: dict[str, LakeTable]
    format: TableFormat = None  # type: ignore[assignment]  # Delta unless given
    # Per table, the pinned snapshot's files as (first frame key, last frame key, file) in
    # stored order and the SELECT list reading them (see `by_keys`).
    _keyed: dict[str, tuple[list[tuple[int | None, int | None, str]], str]] = field(
        default_factory=dict, repr=False
    )
    # Passed by a write on its way to the lake's commits (lake_write.edit); `closing` set
    # under it by Catalog.close, after which no write begins them.
    gate: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)
    closing: bool = False
    # The id this catalog's writes tag their lake commits with (store/lake_repair.py), and
    # whether a write it rolled back is still in the lake (its writes are refused then).
    writer: str | None = None
    unrepaired: bool = False

    def __post_init__(self) -> None:
        if self.format is None:
            self.format = open_format("delta", self.root)
        self.name_writer(self.writer)

    def name_writer(self, writer: str | None) -> None:
        """Tag this catalog's lake commits with `writer` from now on."""
        self.writer = self.format.writer = writer

    @property
    def buckets(self) -> int:
        return next(iter(self.tables.values())).buckets

    @property
    def options(self) -> dict[str, str]:
        return storage_options(self.root)

    @classmethod
    def load(cls, con: duckdb.DuckDBPyConnection) -> Lake | None:
        """The lake recorded in the catalog, or None."""
        exists = con.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_name = ?", [LAKE_META]
        ).fetchall()[0][0]
        if not exists:
            return None
        has_evolved = con.execute(
            "SELECT count(*) FROM information_schema.columns "
            "WHERE table_name = ? AND column_name = 'evolved'",
            [LAKE_META],
        ).fetchall()[0][0]
        evolved = "evolved" if has_evolved else "false"  # made before the column existed
        rows = con.execute(
            f"SELECT name, uri, buckets, columns, version, {evolved} FROM {LAKE_META} ORDER BY name"
        ).fetchall()
        if not rows:
            return None
        tables = {
            name: LakeTable(name, uri, int(b), tuple(tuple(c) for c in orjson.loads(cols)), v, e)
            for name, uri, b, cols, v, e in rows
        }
        root = tables["frames"].uri.rsplit("/", 1)[0]
        writer = con.execute("SELECT value FROM meta WHERE key = 'lake_writer'").fetchall()
        return cls(
            root, tables, open_format(*_format_of(con)), writer=writer[0][0] if writer else None
        )

    def delta(self, name: str) -> Any:
        """The table's DeltaTable, brought up to its latest version (Delta lakes)."""
        from workbench.store.lake_delta import DeltaFormat

        if not isinstance(self.format, DeltaFormat):
            raise LakeError(f"the lake at {self.root} keeps {self.format.kind} tables, not Delta")
        return self.format.table(name)

    # -- DuckDB side -----------------------------------------------------------------------
    def prepare(self, con: duckdb.DuckDBPyConnection) -> None:
        """Before the seal: let the engine read the lake's files and nothing else new."""
        allowed = self.root.rstrip("/") + "/"
        if is_remote(self.root):
            con.register_filesystem(duckdb_filesystem(self.root))
        con.execute(f"SET allowed_directories = [{_literal(allowed)}]")
        # A Delta table's files never change (a change writes new ones): their footers can
        # be kept between queries.
        con.execute("SET GLOBAL parquet_metadata_cache = true")

    def pins(self) -> dict[str, int | None]:
        """The versions the views read."""
        return {name: table.version for name, table in self.tables.items()}

    def latest_versions(self) -> dict[str, int]:
        return {name: self.format.version(name) for name in self.tables}

    def pin(self, con: duckdb.DuckDBPyConnection, versions: dict[str, int] | None = None) -> None:
        """Point the views at `versions` (default: the latest) and record them."""
        versions = versions if versions is not None else self.latest_versions()
        for name, table in self.tables.items():
            version = versions[name]
            con.execute(
                f"CREATE OR REPLACE VIEW {quote_ident(name)} AS "
                + self._select(con, table, version)
            )
            con.execute(f"UPDATE {LAKE_META} SET version = ? WHERE name = ?", [version, name])
            self.tables[name] = replace(table, version=version)

    def files(self, name: str, version: int) -> tuple[list[str], bool]:
        """The Parquet files of one snapshot in stored order (by their first `_row`), and
        whether their `_row` ranges are disjoint (then a scan in this order is in stored
        order). Refused when deletion vectors or delete files apply."""
        return self.format.files(name, version)

    def _select(self, con: duckdb.DuckDBPyConnection, table: LakeTable, version: int) -> str:
        files, in_order = self.files(table.name, version)
        if not files:
            self._keyed.pop(table.name, None)
            cols = ", ".join(f"NULL::{t} AS {quote_ident(n)}" for n, t in table.columns)
            return f"SELECT {cols}, NULL::BIGINT AS rowid WHERE false"
        listed = ", ".join(_literal(f) for f in files)
        stored = {n for n, _ in table.columns}
        if table.evolved:  # columns added since the first files: those files lack them
            found = con.execute(f"SELECT DISTINCT name FROM parquet_schema([{listed}])")
            stored = {str(r[0]) for r in found.fetchall()}
        cols = ", ".join(
            f"NULL::{t} AS {quote_ident(n)}"
            if n not in stored
            else f"{quote_ident(n)}::{t} AS {quote_ident(n)}"
            if t == "JSON" or not self.format.reads_as(t)
            else quote_ident(n)
            for n, t in table.columns
        )
        cols += f", {ROW} AS rowid"
        by_name = ", union_by_name = true" if table.evolved else ""
        # Files whose stored-order ranges overlap (a writer other than ours) are sorted here,
        # at a price: views over the catalog rely on scanning in stored order.
        order = "" if in_order else f" ORDER BY {ROW}"
        self._keyed.pop(table.name, None)
        if in_order and not table.evolved and table.name in PAGED:
            self._keyed[table.name] = (_key_ranges(files, self.root), cols)
        return f"SELECT {cols} FROM read_parquet([{listed}]{by_name}){order}"

    def index(self, con: duckdb.DuckDBPyConnection) -> None:
        """Learn the pinned snapshot's files by key (`by_keys`) without moving the pins (a
        read-only catalog's)."""
        for name in PAGED:
            table = self.tables[name]
            if table.version is not None:
                self._select(con, table, table.version)

    def by_keys(self, name: str, first: int, last: int) -> str:
        """The rows of table `name` (sources or rois) whose frame keys may lie in [first,
        last], as a subquery reading only the files that can hold them (or the view's name).

        DuckDB skips the row groups outside a key range by their statistics, but pays about
        2 ms of CPU per file a query lists even when it skips all of its row groups: a page
        of a lake with many files (80 per table at 100M frames) would pay that for each."""
        keyed = self._keyed.get(name)
        if keyed is None:
            return quote_ident(name)
        ranges, cols = keyed
        wanted = [
            f for lo, hi, f in ranges if lo is None or hi is None or (lo <= last and first <= hi)
        ]
        if len(wanted) == len(ranges):
            return quote_ident(name)
        if not wanted:
            table = self.tables[name]
            none = ", ".join(f"NULL::{t} AS {quote_ident(n)}" for n, t in table.columns)
            return f"(SELECT {none}, NULL::BIGINT AS rowid WHERE false)"
        listed = ", ".join(_literal(f) for f in wanted)
        return f"(SELECT {cols} FROM read_parquet([{listed}]))"

    def settled(self, con: duckdb.DuckDBPyConnection) -> None:
        """Before a commit: every frame a write named for new summaries (layout.touch) was
        one it edited (lake_write.edit brings those up to date); refuse the commit if not."""
        left = con.execute("SELECT count(*) FROM _layout_pending").fetchall()[0][0]
        if left:
            raise LakeError(
                f"{left} frame(s) of a lake-backed catalog were changed outside "
                "Catalog.editing(): their rows and summaries would disagree"
            )

    # -- migrations ------------------------------------------------------------------------
    def stand_in(self, con: duckdb.DuckDBPyConnection) -> None:
        """Replace the views by empty tables of the same columns, for migrations to alter."""
        for name, table in self.tables.items():
            con.execute(f"DROP VIEW IF EXISTS {quote_ident(name)}")
            cols = ", ".join(f"{quote_ident(n)} {t}" for n, t in table.columns)
            con.execute(f"CREATE TABLE {quote_ident(name)} ({cols})")

    def follow_migrations(self, con: duckdb.DuckDBPyConnection) -> None:
        """After migrations ran on the stand-ins: add their new columns to the lake tables
        (Delta schema evolution) and drop the stand-ins. Anything but added columns is
        refused: the lake's rows would need rewriting by a job."""
        for name, table in list(self.tables.items()):
            now = column_types(con, name)
            before = dict(table.columns)
            changed = [n for n, t in now if n in before and before[n] != t]
            dropped = [n for n in before if n not in dict(now)]
            if changed or dropped:
                raise LakeError(
                    f"a migration changes lake table {name} ({', '.join(changed + dropped)}): "
                    "only added columns can follow on a lake-backed catalog"
                )
            added = [(n, t) for n, t in now if n not in before]
            present = self.format.field_names(name)  # added by compaction already
            if [n for n, _ in added if n not in present]:
                grown = LakeTable(name, table.uri, table.buckets, now, table.version)
                schema = grown.arrow_schema(con)
                fields = [schema.field(n) for n, _ in added if n not in present]
                self.format.add_columns(name, fields)
            con.execute(f"DROP TABLE {quote_ident(name)}")
            evolved = table.evolved or bool(added)
            con.execute(
                f"UPDATE {LAKE_META} SET columns = ?, evolved = ? WHERE name = ?",
                [orjson.dumps(now).decode(), evolved, name],
            )
            self.tables[name] = replace(table, columns=now, evolved=evolved)


def _key_ranges(files: list[str], root: str) -> list[tuple[int | None, int | None, str]]:
    """(smallest, largest frame key, file) of each file, from the Parquet footers; unknown
    (None) for a remote lake or a file without statistics. Read with pyarrow, one footer
    at a time and only the key's column statistics: DuckDB's `parquet_metadata` makes a
    row of every column of every row group (at 100M frames 6 times the CPU)."""
    if is_remote(root) or not files:
        return [(None, None, f) for f in files]
    return [(*_key_range(f), f) for f in files]


def _key_range(path: str) -> tuple[int | None, int | None]:
    import pyarrow.parquet as pq

    try:
        meta = pq.read_metadata(path.removeprefix("file://"))
        columns = [meta.schema.column(i).path for i in range(meta.num_columns)]
        if "frame_key" not in columns:
            return None, None
        at = columns.index("frame_key")
        low = high = None
        for group in range(meta.num_row_groups):
            stats = meta.row_group(group).column(at).statistics
            if stats is None or not stats.has_min_max:
                return None, None
            low = stats.min if low is None else min(low, stats.min)
            high = stats.max if high is None else max(high, stats.max)
    except (OSError, ValueError, pa.ArrowException):
        return None, None
    if low is None or high is None:
        return None, None
    return int(low), int(high)


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def record_lake(
    con: duckdb.DuckDBPyConnection,
    root: str,
    buckets: int,
    columns: dict[str, Any],
    fmt: str = "delta",
    catalog: str | None = None,
) -> None:
    """Write the `_lake` rows of a catalog whose big tables now live at `root`, in format
    `fmt` (Iceberg: `catalog` is the SQL catalog's URI)."""
    summaries.forget(con)  # kept by local writes only
    con.execute(_LAKE_DDL)
    con.execute(f"DELETE FROM {LAKE_META}")
    for name in LAKE_TABLES:
        con.execute(
            f"INSERT INTO {LAKE_META} (name, uri, buckets, columns, format, catalog)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            [
                name,
                table_uri(root, name),
                buckets,
                orjson.dumps(columns[name]).decode(),
                fmt,
                catalog,
            ],
        )


def _format_of(con: duckdb.DuckDBPyConnection) -> tuple[str, str, str | None]:
    """(format, root, SQL catalog) of the recorded lake; Delta for lakes made before
    formats were recorded."""
    names = {
        str(r[0])
        for r in con.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_name = ?",
            [LAKE_META],
        ).fetchall()
    }
    uri = con.execute(f"SELECT uri FROM {LAKE_META} WHERE name = 'frames'").fetchall()[0][0]
    root = str(uri).rsplit("/", 1)[0]
    if "format" not in names:
        return "delta", root, None
    fmt, catalog = con.execute(
        f"SELECT format, catalog FROM {LAKE_META} WHERE name = 'frames'"
    ).fetchall()[0]
    return str(fmt), root, catalog
