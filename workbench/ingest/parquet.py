"""The catalog as Parquet: frames, sources, rois and tags tables, export and import.

Export writes the rows of a view's frames as `frames.parquet`, `sources.parquet`,
`rois.parquet` and `tags.parquet` in a folder. Import reads such folders
(or those files) back in DuckDB SQL, never row by row in Python: frames already in the catalog
are replaced with their sources and ROIs, tags are merged. Rows that break the catalog's rules
are reported as RecordErrors naming file and row (counted from 0) and skipped.

The catalog's engine cannot touch files (it is sealed, see docs/security.md): export streams
the catalog's rows as Arrow record batches into pyarrow's ParquetWriter; import reads the files
with a DuckDB engine of their own (`_file_engine`: in memory, allowed only the files of that
import), whose rows cross to the catalog as Arrow record batches, streamed, never a whole table
at once. The SQL both use, with the checks every row passes, is in _parquet_sql.py; export is
_parquet_export.py's. See docs/formats/parquet.md.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
from tqdm.auto import tqdm

from workbench.errors import IngestError
from workbench.ingest._columnar import MemoryEngine
from workbench.ingest._parquet_export import export_files
from workbench.ingest._parquet_sql import (
    DUPLICATES,
    IDS,
    KNOWN,
    READ,
    TABLES,
    ParquetTable,
    catalog_columns,
    column_expr,
    first_line,
    problem_expr,
    report_bad_rows,
    stream,
)
from workbench.ingest._uris import count_outside_of
from workbench.ingest.imports import current_run, recorded
from workbench.ingest.writer import IngestReport
from workbench.media.files import MediaRootCheck
from workbench.store.layout import touch
from workbench.store.sqlsafe import quote_ident

if TYPE_CHECKING:
    from workbench.store.catalog import Catalog

__all__ = ["TABLES", "export_files", "import_files"]

# Arrow data registered on the catalog's cursor:
_ROWS = "_wb_parquet_rows"
_STAGED = "_wb_parquet_staged"


# The file engine's memory budget; it spills to a temporary folder of its own beyond it.
FILE_ENGINE_MEMORY = "512MB"


def _file_engine(files: Sequence[str]) -> MemoryEngine:
    """An in-memory DuckDB that reads the files of one import, and no other file. Bounded,
    spilling beyond to a folder of its own: unbounded, reading ten million frames held 1 GB
    of its own beside the catalog's engine."""
    return MemoryEngine(
        files=list(files), memory_limit=FILE_ENGINE_MEMORY, spill="workbench-parquet-"
    )


@recorded("parquet")
def import_files(
    catalog: Catalog,
    paths: Sequence[str | os.PathLike[str]],
    *,
    progress: bool = True,
) -> IngestReport:
    """Import Parquet exports (folders, or frames/sources/rois/tags.parquet files).

    Frames replace stored frames with the same id, with all their sources and ROIs; tags are
    added unless already there. Bad rows are reported and skipped; the rest is stored in one
    transaction.
    """
    inputs = _collect(paths)
    report = IngestReport()
    replacing = catalog.has_frames()
    every_file = [f for table in inputs.values() for f in table.files]
    with (
        tqdm(
            total=len(inputs) + 1,
            desc="parquet import",
            unit="table",
            disable=not progress,
            leave=False,
        ) as bar,
        _file_engine(every_file) as files,
        catalog.transaction() as con,
    ):
        columns = {name: catalog_columns(con, name) for name in TABLES}
        for table in inputs.values():
            table.present = _file_columns(files, table, columns[table.name])
        try:
            _stage_frame_ids(files, inputs.get("frames"))
            with catalog.editing(con, _staged_ids(files) if catalog.lake else []):
                for name in TABLES:
                    if name in inputs:
                        bar.set_postfix_str(f"{name}: {len(inputs[name].files)} file(s)")
                        if name == "tags":
                            _stage_known_frames(con, files, inputs[name])
                            _import_tags(con, files, inputs[name], columns[name], report)
                        else:
                            _import_table(
                                con, files, inputs[name], columns[name], report, replacing
                            )
                        bar.update(1)
            _count_outside_media_roots(con, files, _root_check(catalog), report)
            _register_datasets(con, files, inputs.get("frames"))
            bar.update(1)
        except duckdb.Error as exc:
            raise IngestError(f"cannot import Parquet: {first_line(exc)}") from exc
    return report


def _staged_ids(files: Any) -> list[str]:
    """The frame ids of the files (a lake-backed catalog checks those frames out)."""
    try:
        return [r[0] for r in files.sql(f"SELECT id FROM {IDS}").fetchall()]
    except duckdb.Error:  # no frames file: the import adds to frames already stored
        return []


def _collect(paths: Sequence[str | os.PathLike[str]]) -> dict[str, ParquetTable]:
    found: dict[str, list[str]] = {}
    expected = ", ".join(f"{n}.parquet" for n in TABLES)
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            names = [n for n in TABLES if (path / f"{n}.parquet").is_file()]
            if not names:
                raise IngestError(f"{path}: none of {expected} in this folder")
            for name in names:
                found.setdefault(name, []).append(str((path / f"{name}.parquet").resolve()))
        elif path.is_file():
            if path.stem not in TABLES or path.suffix.lower() != ".parquet":
                raise IngestError(f"{path}: expected one of {expected}")
            found.setdefault(path.stem, []).append(str(path.resolve()))
        else:
            raise IngestError(f"{path}: no such file or folder")
    if ("sources" in found or "rois" in found) and "frames" not in found:
        raise IngestError("sources and ROIs can only be imported with their frames.parquet")
    return {name: ParquetTable(name, files) for name, files in found.items()}


def _file_columns(con: Any, table: ParquetTable, expected: dict[str, str]) -> dict[str, str]:
    """Columns of the table's files and their types; unknown columns are an IngestError."""
    present: dict[str, str] = {}
    for path in table.files:
        try:
            result = con.execute("SELECT * FROM read_parquet($file) LIMIT 0", {"file": path})
            described = {str(d[0]): str(d[1]) for d in result.description}
            result.fetchall()
        except duckdb.Error as exc:
            raise IngestError(f"{path}: not a readable Parquet file: {first_line(exc)}") from exc
        unknown = sorted(set(described) - set(expected))
        if unknown:
            raise IngestError(
                f"{path}: unknown columns {', '.join(unknown)} for table {table.name} "
                f"(expected {', '.join(expected)})"
            )
        present.update(described)
    return present


def _stage_frame_ids(con: Any, frames: ParquetTable | None) -> None:
    """Temp table of the ids of this import's good frames (empty without frames)."""
    if frames is None or "id" not in frames.present or "context_id" not in frames.present:
        con.execute(f"CREATE TEMP TABLE {IDS} (id VARCHAR, n BIGINT)")
        return
    con.execute(
        f"CREATE TEMP TABLE {IDS} AS SELECT id, count(*) AS n FROM {READ} "
        "WHERE id IS NOT NULL AND context_id IS NOT NULL GROUP BY id",
        frames.params,
    )
    if con.execute(f"SELECT count(*) FROM {IDS} WHERE n > 1").fetchall()[0][0]:
        # A repeated frame id keeps its first row (by file, then row); the others are errors.
        con.execute(
            f"CREATE TEMP TABLE {DUPLICATES} AS SELECT filename, file_row_number "
            f"FROM {READ} WHERE id IN (SELECT id FROM {IDS} WHERE n > 1) "
            "QUALIFY row_number() OVER (PARTITION BY id ORDER BY filename, file_row_number) > 1",
            frames.params,
        )


def _stage_known_frames(con: Any, files: Any, tags: ParquetTable) -> None:
    """Temp table (file engine) of the tags' frame ids that the catalog already holds."""
    if "frame_id" not in tags.present:
        files.execute(f"CREATE TEMP TABLE {KNOWN} (id VARCHAR)")
        return
    wanted = files.sql(
        f"SELECT DISTINCT frame_id AS id FROM {READ} WHERE frame_id IS NOT NULL",
        params=tags.params,
    ).to_arrow_table()
    con.register(_STAGED, wanted)
    try:
        known = con.sql(
            f"SELECT id FROM frames WHERE id IN (SELECT id FROM {_STAGED})"
        ).to_arrow_table()
    finally:
        con.unregister(_STAGED)
    files.register(_STAGED, known)
    try:
        files.execute(f"CREATE TEMP TABLE {KNOWN} AS SELECT id FROM {_STAGED}")
    finally:
        files.unregister(_STAGED)


def _import_table(
    con: Any,
    files: Any,
    table: ParquetTable,
    columns: dict[str, str],
    report: IngestReport,
    replacing: bool,
) -> None:
    """Insert the good rows of frames, sources or rois: one SELECT in the file engine,
    streamed into one INSERT in the catalog."""
    problem = problem_expr(files, table, columns)
    report_bad_rows(files, table, problem, report)
    if table.name == "frames" and replacing:
        con.register(_STAGED, files.sql(f"SELECT id FROM {IDS}").to_arrow_table())
        try:
            touch(con, f"SELECT id FROM {_STAGED}")
            for name, key in (("rois", "frame_id"), ("sources", "frame_id"), ("frames", "id")):
                con.execute(f"DELETE FROM {name} WHERE {key} IN (SELECT id FROM {_STAGED})")
        finally:
            con.unregister(_STAGED)
    params = dict(table.params)
    if table.name == "frames":
        params["now"] = datetime.now(UTC).replace(tzinfo=None)
    names = ", ".join(quote_ident(c) for c in columns)
    select = ", ".join(f"{column_expr(table, c, columns[c])} AS {quote_ident(c)}" for c in columns)
    good = stream(
        files,
        f"SELECT {select} FROM (SELECT *, {problem} AS _problem FROM {READ} r) "
        "WHERE _problem IS NULL",
        params,
    )
    con.register(_ROWS, good)
    try:
        rows = con.execute(
            f"INSERT INTO {quote_ident(table.name)} ({names}) SELECT * FROM {_ROWS}"
        ).fetchall()
    finally:
        con.unregister(_ROWS)
    inserted = int(rows[0][0]) if rows else 0
    if table.name == "frames":
        report.frames += inserted
    elif table.name == "sources":
        report.sources += inserted
    elif table.name == "rois":
        report.rois += inserted


def _import_tags(
    con: Any, files: Any, table: ParquetTable, columns: dict[str, str], report: IngestReport
) -> None:
    """Merge tags: a tag already on the frame (or ROI) is not added twice."""
    problem = problem_expr(files, table, columns)
    report_bad_rows(files, table, problem, report)
    roi_id = "roi_id" if "roi_id" in table.present else "NULL"
    created = "min(created)" if "created" in table.present else "NULL"
    good = stream(
        files,
        f"SELECT CAST(frame_id AS VARCHAR) AS frame_id, CAST({roi_id} AS VARCHAR) AS roi_id, "
        f"CAST(tag AS VARCHAR) AS tag, CAST(coalesce({created}, $now) AS TIMESTAMP) AS created "
        f"FROM (SELECT *, {problem} AS _problem FROM {READ} r) "
        f"WHERE _problem IS NULL GROUP BY frame_id, {roi_id}, tag",
        {**table.params, "now": datetime.now(UTC).replace(tzinfo=None)},
    )
    con.register(_ROWS, good)
    try:
        con.execute(
            "INSERT INTO tags (frame_id, roi_id, tag, created) "
            f"SELECT frame_id, roi_id, tag, created FROM {_ROWS} t WHERE NOT EXISTS ("
            "SELECT 1 FROM tags x WHERE x.frame_id = t.frame_id "
            "AND x.roi_id IS NOT DISTINCT FROM t.roi_id AND x.tag = t.tag)"
        ).fetchall()
    finally:
        con.unregister(_ROWS)


def _register_datasets(con: Any, files: Any, frames: ParquetTable | None) -> None:
    if frames is None or "dataset" not in frames.present:
        return
    version = "version" if "version" in frames.present else "NULL"
    named = files.sql(
        f"SELECT DISTINCT CAST(dataset AS VARCHAR) AS dataset, "
        f"CAST({version} AS VARCHAR) AS version FROM {READ} "
        f"WHERE dataset IS NOT NULL AND id IN (SELECT id FROM {IDS})",
        params=frames.params,
    ).to_arrow_table()
    con.register(_STAGED, named)
    try:
        con.execute(
            f"INSERT INTO datasets (id, name) SELECT DISTINCT dataset, dataset FROM {_STAGED} "
            "ON CONFLICT DO NOTHING"
        )
        con.execute(
            "INSERT INTO dataset_versions (dataset, version) SELECT DISTINCT dataset, version "
            f"FROM {_STAGED} WHERE version IS NOT NULL ON CONFLICT DO NOTHING"
        )
    finally:
        con.unregister(_STAGED)


# The URIs this import stored: sources, previews, source masks and ROI mask files.
_IMPORTED_URIS = f"""
    SELECT u FROM (
        SELECT uri AS u FROM sources WHERE frame_id IN (SELECT id FROM {IDS})
        UNION ALL SELECT preview_uri FROM sources
            WHERE preview_uri IS NOT NULL AND frame_id IN (SELECT id FROM {IDS})
        UNION ALL SELECT unnest(json_extract_string(masks, '$[*].uri')) FROM sources
            WHERE masks IS NOT NULL AND frame_id IN (SELECT id FROM {IDS})
        UNION ALL SELECT mask->>'$.uri' FROM rois
            WHERE mask IS NOT NULL AND frame_id IN (SELECT id FROM {IDS})
    ) WHERE u IS NOT NULL AND u <> ''"""


def _root_check(catalog: Catalog) -> MediaRootCheck:
    run = current_run()
    return run.roots if run is not None else MediaRootCheck(catalog.media_roots())


def _count_outside_media_roots(
    con: Any, files: duckdb.DuckDBPyConnection, check: MediaRootCheck, report: IngestReport
) -> None:
    """Count the stored URIs whose files lie outside every media root (ingest/_uris.py)."""
    con.register(IDS, files.sql(f"SELECT id FROM {IDS}").to_arrow_table())
    try:
        count_outside_of(con, _IMPORTED_URIS, check, report)
    finally:
        con.unregister(IDS)
