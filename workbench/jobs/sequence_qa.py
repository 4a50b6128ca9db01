"""Sequence QA as a job: the checks of workbench.analysis.sequence_qa, one unit per bucket.

Every check is per context and a context lies in one bucket, so checking each bucket's files
on its own finds exactly what one run over the whole lake finds. A unit opens an in-memory
DuckDB that reads only its bucket's Parquet files (`frames`, `sources`, `rois` as views over
them), runs the same SQL as `catalog.sequence_qa()`, and returns the issues; the driver
replaces the `qa_issues` rows of the kinds checked, in one catalog transaction with its
audit row. The frozen-frame check is not offered: it reads `media_hashes`, which stay in the
catalog.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import duckdb
import orjson
import pyarrow as pa

from workbench.analysis.sequence_qa import QA_KINDS, SEQUENCE_CHECKS, thresholds_of
from workbench.analysis.sequence_qa.checks import TRACKS, track_rows
from workbench.errors import LakeError
from workbench.jobs.scope import scope_view
from workbench.query._sql import Compiled
from workbench.store.audit import append_audit_row, default_actor
from workbench.store.catalog import Catalog
from workbench.store.lake import (
    BUCKET,
    LAKE_TABLES,
    filesystem,
    is_remote,
    storage_options,
    table_uri,
)

JOB_KINDS: tuple[str, ...] = tuple(k for k in QA_KINDS if k != "frozen")
_TRACK_KINDS = frozenset({"short_track", "id_switch", "jump", "vanish"})
_COLUMNS = ("kind", "severity", "context_id", "frame_id", "source_id", "field", "track", "details")
_FRAMES = "_qa_frames"


@dataclass(frozen=True)
class SequenceQaJob:
    """Check every context of the lake at `lake` for the `kinds` of issue (thresholds as
    `catalog.sequence_qa()` takes them, docs/sequence-qa.md)."""

    lake: str
    kinds: tuple[str, ...] = JOB_KINDS
    options: dict[str, Any] = field(default_factory=dict)

    def units(self, buckets: int) -> list[dict[str, Any]]:
        unknown = [k for k in self.kinds if k not in JOB_KINDS]
        if unknown:
            raise LakeError(f"sequence QA jobs check {', '.join(JOB_KINDS)}; not {unknown}")
        thresholds_of(self.options)  # refused here, before any unit runs
        return [
            {"lake": self.lake, "bucket": b, "kinds": list(self.kinds), "options": self.options}
            for b in range(buckets)
        ]


def run_qa_unit(unit: dict[str, Any]) -> str:
    """Check one bucket; returns its issues as JSON rows."""
    lake, bucket = unit["lake"], int(unit["bucket"])
    con = duckdb.connect()
    try:
        if is_remote(lake):
            con.register_filesystem(filesystem(lake))
        for name in LAKE_TABLES:
            bucket_view(con, lake, name, bucket, **unit_format(unit))
        thresholds = thresholds_of(unit["options"])
        scoped = scope_view(con, unit).format(id="id")
        con.execute(
            f"CREATE TEMP TABLE {_FRAMES} AS SELECT id, context_id, timestamp, frame_index "
            f"FROM frames WHERE {scoped}"
        )
        if set(unit["kinds"]) & _TRACK_KINDS:
            tracks = track_rows(Compiled(_FRAMES), thresholds)
            con.execute(f"CREATE TEMP TABLE {TRACKS} AS " + tracks.sql, list(tracks.params))
        queries = [SEQUENCE_CHECKS[k](Compiled(_FRAMES), thresholds) for k in unit["kinds"]]
        columns = ", ".join(_COLUMNS)
        union = Compiled.join(
            [f"SELECT {columns} FROM (" + q + ")" for q in queries], " UNION ALL "
        )
        rows = con.sql(union.sql, params=list(union.params)).to_arrow_table().to_pylist()
    finally:
        con.close()
    return orjson.dumps(rows).decode()


def unit_format(unit: dict[str, Any]) -> dict[str, Any]:
    """The lake's table format as a unit carries it (jobs/__init__.py `lake_format`)."""
    return {
        "table_format": unit.get("table_format") or "delta",
        "catalog": unit.get("iceberg_catalog"),
    }


def bucket_view(
    con: duckdb.DuckDBPyConnection,
    lake: str,
    name: str,
    bucket: int,
    where: str = "TRUE",
    *,
    table_format: str = "delta",
    catalog: str | None = None,
) -> None:
    """`name` as a view over the bucket's files (an empty table of its columns if none),
    with the stored order as `rowid`, as the catalog shows it; only rows where `where`
    holds. The latest snapshot of a Delta table, or of an Iceberg one (whose files keep
    the partition column) in the SQL catalog `catalog`."""
    if table_format == "iceberg":
        from workbench.store.lake_iceberg import IcebergFormat

        tables = IcebergFormat(lake, catalog)
        files = tables.bucket_files(name, bucket)
        listed = ", ".join("'" + f.replace("'", "''") + "'" for f in files)
        source = f"read_parquet([{listed}])" if files else f"_empty_{name}"
        if not files:
            con.register(source, tables.arrow_schema(name).empty_table())
        con.execute(
            f"CREATE VIEW {name} AS SELECT * EXCLUDE (_row, {BUCKET}), _row AS rowid "
            f"FROM {source} WHERE {where}"
        )
        return
    from deltalake import DeltaTable

    dt = DeltaTable(table_uri(lake, name), storage_options=storage_options(lake))
    files = bucket_files(dt, table_uri(lake, name), bucket)
    if files:
        listed = ", ".join("'" + f.replace("'", "''") + "'" for f in files)
        con.execute(
            f"CREATE VIEW {name} AS SELECT * EXCLUDE (_row), _row AS rowid "
            f"FROM read_parquet([{listed}]) WHERE {where}"
        )
    else:
        con.register(f"_empty_{name}", pa.schema(dt.schema()).empty_table())
        con.execute(
            f"CREATE VIEW {name} AS SELECT * EXCLUDE (_row, {BUCKET}), _row AS rowid "
            f"FROM _empty_{name} WHERE {where}"
        )


def bucket_files(dt: Any, root: str, bucket: int) -> list[str]:
    """The files of the Delta table `dt` (at `root`) in partition `bucket`."""
    actions = pa.table(dt.get_add_actions(flatten=True))
    column = f"partition.{BUCKET}"
    if not actions.num_rows:
        return []
    return [
        f"{root}/{path}"
        for path, value in zip(
            actions["path"].to_pylist(), actions[column].to_pylist(), strict=True
        )
        if value is not None and int(value) == bucket
    ]


def store_issues(catalog: Catalog, kinds: tuple[str, ...], results: list[str]) -> int:
    """Replace the catalog's `qa_issues` of `kinds` with the units' findings; returns how
    many there are."""
    rows = [row for text in results for row in orjson.loads(text)]
    table = pa.table({c: [r[c] for r in rows] for c in _COLUMNS}) if rows else None
    now = datetime.now(UTC).replace(tzinfo=None)
    with catalog.transaction() as con:
        con.execute(
            f"DELETE FROM qa_issues WHERE kind IN ({', '.join('?' for _ in kinds)})", list(kinds)
        )
        if table is not None:
            con.register("_wb_qa_rows", table)
            try:
                con.execute(
                    f"INSERT INTO qa_issues ({', '.join(_COLUMNS)}, created) "
                    "SELECT *, ? FROM _wb_qa_rows",
                    [now],
                )
            finally:
                con.unregister("_wb_qa_rows")
        append_audit_row(
            con,
            actor=default_actor(),
            action="sequence_qa",
            target={"kinds": list(kinds), "job": True},
            count=len(rows),
            outcome="ok",
        )
    return len(rows)
