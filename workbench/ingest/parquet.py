"""The catalog as Parquet: frames, sources, rois and tags tables, export and import.

Export writes the rows of a view's frames as `frames.parquet`, `sources.parquet`,
`rois.parquet` and `tags.parquet` in a folder. Import reads such folders
(or those files) back in DuckDB SQL, never row by row in Python: frames already in the catalog
are replaced with their sources and ROIs, tags are merged. Rows that break the catalog's rules
are reported as RecordErrors naming file and row (counted from 0) and skipped.

The catalog's engine cannot touch files (it is sealed, see docs/security.md): export streams
the catalog's rows as Arrow record batches into pyarrow's ParquetWriter; import reads the files
with a DuckDB engine of their own (`_FileEngine`: in memory, allowed only the files of that
import), whose rows cross to the catalog as Arrow record batches, streamed, never a whole table
at once.
See docs/formats/parquet.md.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
from tqdm.auto import tqdm

from workbench.errors import IngestError, RecordError
from workbench.ingest.export import ExportReport
from workbench.ingest.imports import current_run, recorded
from workbench.ingest.views import ViewLike
from workbench.ingest.writer import MAX_KEPT_ERRORS, IngestReport
from workbench.media.files import MediaRootCheck
from workbench.model.limits import (
    MAX_COORDINATE,
    MAX_ID_LENGTH,
    MAX_LABEL_LENGTH,
    MAX_POINTS_PER_ROI,
    MAX_RINGS_PER_ROI,
    MAX_TIMESTAMP,
)
from workbench.model.records import PROMOTED_KEYS, ROI_KINDS
from workbench.store.sqlsafe import quote_ident

if TYPE_CHECKING:
    from workbench.store.catalog import Catalog

TABLES: tuple[str, ...] = ("frames", "sources", "rois", "tags")
DEFAULT_FIELD = "ground_truth"

# In the file engine:
_IDS = "_wb_parquet_ids"  # temp table: ids of the frames being imported
_DUPLICATES = "_wb_parquet_duplicates"  # temp table: rows repeating an earlier frame id
_KNOWN = "_wb_parquet_known"  # temp table: the tags' frames already in the catalog
_READ = "read_parquet($files, union_by_name = true, filename = true, file_row_number = true)"
# Arrow data registered on the catalog's cursor:
_EXPORT_IDS = "_wb_parquet_export_ids"
_ROWS = "_wb_parquet_rows"
_STAGED = "_wb_parquet_staged"
# Rows per Arrow batch between the engines (and per row group of an export): DuckDB's own.
_BATCH_ROWS = 122_880
_COMPRESSION = {"zstd": "zstd", "snappy": "snappy", "gzip": "gzip", "uncompressed": "none"}


class _FileEngine:
    """An in-memory DuckDB that reads the files of one import, and no other file.

    (DuckDB's allowed_paths, then external access off and the configuration locked, like the
    catalog's own engine.)
    """

    def __init__(self, files: Sequence[str]) -> None:
        self.con = duckdb.connect()
        try:
            self.con.execute("SET allowed_paths = ?", [list(files)])
            self.con.execute("SET enable_external_access = false")
            self.con.execute("SET lock_configuration = true")
        except BaseException:
            self.con.close()
            raise

    def __enter__(self) -> duckdb.DuckDBPyConnection:
        return self.con

    def __exit__(self, *exc: object) -> None:
        self.con.close()


def _stream(con: duckdb.DuckDBPyConnection, query: str, params: Any = None) -> Any:
    """The result of `query` on `con` as an Arrow stream of record batches."""
    return con.sql(query, params=params).to_arrow_reader(_BATCH_ROWS)


# -- export ----------------------------------------------------------------------------------


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
        raise IngestError(f"cannot export to {folder}: {_first_line(exc)}") from exc
    finally:
        con.close()
    return report


def _ordinals(n: int) -> pa.Array:
    return pa.array(range(n), type=pa.int64())


def _write_table(con: Any, table: str, path: Path, compression: str) -> int:
    """Stream one table's rows of the view from the catalog into a Parquet file; returns
    the number of rows. The file appears only once complete."""
    key = "id" if table == "frames" else "frame_id"
    json_columns = {c for c, kind in _catalog_columns(con, table).items() if kind == "JSON"}
    # View order for frames; within a frame, rowid (insertion) order keeps sources and ROIs
    # in the order they were imported.
    rows = _stream(
        con,
        f"SELECT t.* FROM {quote_ident(table)} t JOIN {_EXPORT_IDS} i ON t.{key} = i.id "
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


# -- import ----------------------------------------------------------------------------------


@dataclass
class _Table:
    """One catalog table's Parquet input: its files and the columns (with types) they have."""

    name: str
    files: list[str]
    present: dict[str, str] = field(default_factory=dict)

    @property
    def params(self) -> dict[str, Any]:
        return {"files": self.files}


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
        _FileEngine(every_file) as files,
        catalog.transaction() as con,
    ):
        columns = {name: _catalog_columns(con, name) for name in TABLES}
        for table in inputs.values():
            table.present = _file_columns(files, table, columns[table.name])
        try:
            _stage_frame_ids(files, inputs.get("frames"))
            for name in TABLES:
                if name in inputs:
                    bar.set_postfix_str(f"{name}: {len(inputs[name].files)} file(s)")
                    if name == "tags":
                        _stage_known_frames(con, files, inputs[name])
                        _import_tags(con, files, inputs[name], columns[name], report)
                    else:
                        _import_table(con, files, inputs[name], columns[name], report, replacing)
                    bar.update(1)
            _count_outside_media_roots(con, files, _root_check(catalog), report)
            _register_datasets(con, files, inputs.get("frames"))
            bar.update(1)
        except duckdb.Error as exc:
            raise IngestError(f"cannot import Parquet: {_first_line(exc)}") from exc
    return report


def _collect(paths: Sequence[str | os.PathLike[str]]) -> dict[str, _Table]:
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
    return {name: _Table(name, files) for name, files in found.items()}


def _catalog_columns(con: Any, table: str) -> dict[str, str]:
    rows = con.execute(
        "SELECT column_name, data_type FROM information_schema.columns "
        "WHERE table_schema = 'main' AND table_name = ? ORDER BY ordinal_position",
        [table],
    ).fetchall()
    return {str(name): str(kind) for name, kind in rows}


def _file_columns(con: Any, table: _Table, expected: dict[str, str]) -> dict[str, str]:
    """Columns of the table's files and their types; unknown columns are an IngestError."""
    present: dict[str, str] = {}
    for path in table.files:
        try:
            result = con.execute("SELECT * FROM read_parquet($file) LIMIT 0", {"file": path})
            described = {str(d[0]): str(d[1]) for d in result.description}
            result.fetchall()
        except duckdb.Error as exc:
            raise IngestError(f"{path}: not a readable Parquet file: {_first_line(exc)}") from exc
        unknown = sorted(set(described) - set(expected))
        if unknown:
            raise IngestError(
                f"{path}: unknown columns {', '.join(unknown)} for table {table.name} "
                f"(expected {', '.join(expected)})"
            )
        present.update(described)
    return present


def _stage_frame_ids(con: Any, frames: _Table | None) -> None:
    """Temp table of the ids of this import's good frames (empty without frames)."""
    if frames is None or "id" not in frames.present or "context_id" not in frames.present:
        con.execute(f"CREATE TEMP TABLE {_IDS} (id VARCHAR, n BIGINT)")
        return
    con.execute(
        f"CREATE TEMP TABLE {_IDS} AS SELECT id, count(*) AS n FROM {_READ} "
        "WHERE id IS NOT NULL AND context_id IS NOT NULL GROUP BY id",
        frames.params,
    )
    if con.execute(f"SELECT count(*) FROM {_IDS} WHERE n > 1").fetchall()[0][0]:
        # A repeated frame id keeps its first row (by file, then row); the others are errors.
        con.execute(
            f"CREATE TEMP TABLE {_DUPLICATES} AS SELECT filename, file_row_number "
            f"FROM {_READ} WHERE id IN (SELECT id FROM {_IDS} WHERE n > 1) "
            "QUALIFY row_number() OVER (PARTITION BY id ORDER BY filename, file_row_number) > 1",
            frames.params,
        )


def _stage_known_frames(con: Any, files: Any, tags: _Table) -> None:
    """Temp table (file engine) of the tags' frame ids that the catalog already holds."""
    if "frame_id" not in tags.present:
        files.execute(f"CREATE TEMP TABLE {_KNOWN} (id VARCHAR)")
        return
    wanted = files.sql(
        f"SELECT DISTINCT frame_id AS id FROM {_READ} WHERE frame_id IS NOT NULL",
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
        files.execute(f"CREATE TEMP TABLE {_KNOWN} AS SELECT id FROM {_STAGED}")
    finally:
        files.unregister(_STAGED)


def _has_table(con: Any, name: str) -> bool:
    rows = con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_name = ?", [name]
    ).fetchall()
    return bool(rows[0][0])


def _import_table(
    con: Any,
    files: Any,
    table: _Table,
    columns: dict[str, str],
    report: IngestReport,
    replacing: bool,
) -> None:
    """Insert the good rows of frames, sources or rois: one SELECT in the file engine,
    streamed into one INSERT in the catalog."""
    problem = _problem_expr(files, table, columns)
    _report_bad_rows(files, table, problem, report)
    if table.name == "frames" and replacing:
        con.register(_STAGED, files.sql(f"SELECT id FROM {_IDS}").to_arrow_table())
        try:
            for name, key in (("rois", "frame_id"), ("sources", "frame_id"), ("frames", "id")):
                con.execute(f"DELETE FROM {name} WHERE {key} IN (SELECT id FROM {_STAGED})")
        finally:
            con.unregister(_STAGED)
    params = dict(table.params)
    if table.name == "frames":
        params["now"] = datetime.now(UTC).replace(tzinfo=None)
    names = ", ".join(quote_ident(c) for c in columns)
    select = ", ".join(f"{_column_expr(table, c, columns[c])} AS {quote_ident(c)}" for c in columns)
    good = _stream(
        files,
        f"SELECT {select} FROM (SELECT *, {problem} AS _problem FROM {_READ} r) "
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
    con: Any, files: Any, table: _Table, columns: dict[str, str], report: IngestReport
) -> None:
    """Merge tags: a tag already on the frame (or ROI) is not added twice."""
    problem = _problem_expr(files, table, columns)
    _report_bad_rows(files, table, problem, report)
    roi_id = "roi_id" if "roi_id" in table.present else "NULL"
    created = "min(created)" if "created" in table.present else "NULL"
    good = _stream(
        files,
        f"SELECT CAST(frame_id AS VARCHAR) AS frame_id, CAST({roi_id} AS VARCHAR) AS roi_id, "
        f"CAST(tag AS VARCHAR) AS tag, CAST(coalesce({created}, $now) AS TIMESTAMP) AS created "
        f"FROM (SELECT *, {problem} AS _problem FROM {_READ} r) "
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


def _problem_expr(con: Any, table: _Table, columns: dict[str, str]) -> str:
    """A CASE giving a row's first problem as text, NULL for a good row."""
    cases: list[tuple[str, str]] = []
    present = table.present
    singular = {"frames": "frame", "sources": "source", "rois": "ROI", "tags": "tag"}[table.name]
    frame_id = _col(present, "id" if table.name == "frames" else "frame_id")
    if table.name == "frames":
        cases.append((f"{frame_id} IS NULL", "'frame has no id'"))
        cases.append((f"{_col(present, 'context_id')} IS NULL", "'frame has no context_id'"))
        if _has_table(con, _DUPLICATES):
            cases.append(
                (
                    f"EXISTS (SELECT 1 FROM {_DUPLICATES} d WHERE d.filename = r.filename "
                    "AND d.file_row_number = r.file_row_number)",
                    "'frame id appears in an earlier row'",
                )
            )
    else:
        cases.append((f"{frame_id} IS NULL", f"'{singular} has no frame_id'"))
        other = "tag" if table.name == "tags" else "id"
        cases.append((f"{_col(present, other)} IS NULL", f"'{singular} has no {other}'"))
        # Tags may go to frames already in the catalog (frames are inserted first).
        known = f"{frame_id} NOT IN (SELECT id FROM {_IDS})"
        if table.name == "tags":
            known += f" AND {frame_id} NOT IN (SELECT id FROM {_KNOWN})"
        missing = (
            "neither in the import nor in the catalog"
            if table.name == "tags"
            else "not in the import"
        )
        cases.append((known, f"'its frame is {missing}'"))
    if table.name == "rois":
        kind = _col(present, "kind")
        listed = ", ".join(f"'{k}'" for k in ROI_KINDS)
        cases.append(
            (
                f"{kind} IS NULL OR {kind} NOT IN ({listed})",
                f"'unknown kind ' || coalesce({kind}, 'NULL') "
                f"|| ' (expected one of {', '.join(ROI_KINDS)})'",
            )
        )
    cases.extend(_limit_cases(table.name, present, columns))
    for column, kind in present.items():
        if column in columns and kind != columns[column]:
            # Values that do not fit the catalog's type (e.g. text that is not JSON).
            ref = f"r.{quote_ident(column)}"
            cases.append(
                (
                    f"{ref} IS NOT NULL AND TRY_CAST({ref} AS {columns[column]}) IS NULL",
                    f"'{column} ' || left(CAST({ref} AS VARCHAR), 60) "
                    f"|| ' is not {columns[column]}'",
                )
            )
    return "CASE " + " ".join(f"WHEN {cond} THEN {text}" for cond, text in cases) + " END"


# Per-row bounds (workbench.model.limits), checked on the values cast to the catalog's types.
_ID_COLUMNS = {
    "frames": ("id", "context_id"),
    "sources": ("frame_id", "id"),
    "rois": ("frame_id", "id"),
    "tags": ("frame_id",),
}
_FORBIDDEN_CHARS = "[\\x00-\\x1f\\x7f\\x{202a}-\\x{202e}\\x{2066}-\\x{2069}]"


def _limit_cases(
    name: str, present: dict[str, str], columns: dict[str, str]
) -> list[tuple[str, str]]:
    """CASE branches refusing rows past the bounds every importer checks."""

    def typed(column: str) -> str | None:
        if column not in present or column not in columns:
            return None
        # A value of another type that does not cast is refused by the type check instead.
        return f"TRY_CAST(r.{quote_ident(column)} AS {columns[column]})"

    cases: list[tuple[str, str]] = []
    for column in _ID_COLUMNS[name]:
        if (ref := typed(column)) is not None:
            cases.append((f"length({ref}) > {MAX_ID_LENGTH}", f"'{column} is too long'"))
            cases.append(
                (
                    f"regexp_matches({ref}, '{_FORBIDDEN_CHARS}')",
                    f"'{column} holds a control or bidirectional character'",
                )
            )
    bounds = {
        ("frames", "timestamp"): (-MAX_TIMESTAMP, MAX_TIMESTAMP),
        ("sources", "timestamp"): (-MAX_TIMESTAMP, MAX_TIMESTAMP),
        ("frames", "frame_index"): (0, None),
        ("frames", "num_frames"): (1, None),
        ("sources", "width"): (1, None),
        ("sources", "height"): (1, None),
        ("rois", "confidence"): (0, 1),
    }
    for (table, column), (low, high) in bounds.items():
        if table == name and (ref := typed(column)) is not None:
            outside = f"{ref} < {low}" + (f" OR {ref} > {high}" if high is not None else "")
            cases.append((outside, f"'{column} ' || {ref} || ' is out of range'"))
    if name == "rois" and (ref := typed("geometry")) is not None:
        values = f"flatten({ref})"
        # NaN sorts above every number in DuckDB, so the max catches it with the infinities.
        cases.append(
            (
                f"list_min({values}) < -{MAX_COORDINATE} OR list_max({values}) > {MAX_COORDINATE} "
                f"OR len({values}) > {2 * MAX_POINTS_PER_ROI} OR len({ref}) > {MAX_RINGS_PER_ROI}",
                "'geometry has a coordinate that is not finite or out of range, "
                "or too many points'",
            )
        )
    if name == "rois" and (ref := typed("label")) is not None:
        cases.append((f"length({ref}) > {MAX_LABEL_LENGTH}", "'label is too long'"))
    return cases


def _report_bad_rows(con: Any, table: _Table, problem: str, report: IngestReport) -> None:
    """Count the rows with a problem and keep RecordErrors for the first of them."""
    room = max(MAX_KEPT_ERRORS - len(report.errors), 0)
    key = _col(table.present, "id" if table.name == "frames" else "frame_id")
    rows = con.execute(
        f"SELECT filename, file_row_number, frame, problem, count(*) OVER () FROM "
        f"(SELECT r.filename, r.file_row_number, {key} AS frame, {problem} AS problem "
        f"FROM {_READ} r) WHERE problem IS NOT NULL ORDER BY filename, file_row_number "
        f"LIMIT {max(room, 1)}",
        table.params,
    ).fetchall()
    if not rows:
        return
    report.rejected += int(rows[0][4])
    for filename, row, frame, text in (r[:4] for r in rows[:room]):
        where = f"{filename} row {row}" + (f", frame {frame!r}" if frame is not None else "")
        report.errors.append(RecordError(where, text))


def _column_expr(table: _Table, column: str, kind: str) -> str:
    """What fills `column`: the file's value, else NULL or a value derived from other columns."""
    if table.name == "frames" and column == "ingested":
        return "$now"
    if column in table.present:
        value = quote_ident(column)
        if table.name == "rois" and column == "field":
            return f"coalesce({value}, '{DEFAULT_FIELD}')"
        return value if table.present[column] == kind else f"CAST({value} AS {kind})"
    derived = _derived(table, column)
    return derived if derived is not None else "NULL"


def _derived(table: _Table, column: str) -> str | None:
    """Columns an older export may lack that can be computed from the others."""
    present = table.present
    if table.name == "frames" and column in PROMOTED_KEYS and "metadata" in present:
        return f"metadata->>'$.{column}'"
    if table.name != "rois":
        return None
    if column == "field":
        return f"'{DEFAULT_FIELD}'"
    if column == "label" and "labels" in present:
        return "labels[1]"
    if "geometry" not in present:
        return None
    xs = "flatten(list_transform(geometry, lambda g: list_filter(g, lambda v, i: i % 2 = 1)))"
    ys = "flatten(list_transform(geometry, lambda g: list_filter(g, lambda v, i: i % 2 = 0)))"
    derived = {
        "x_min": f"list_min({xs})",
        "y_min": f"list_min({ys})",
        "x_max": f"list_max({xs})",
        "y_max": f"list_max({ys})",
        "area": f"(list_max({xs}) - list_min({xs})) * (list_max({ys}) - list_min({ys}))",
    }
    return derived.get(column)


def _register_datasets(con: Any, files: Any, frames: _Table | None) -> None:
    if frames is None or "dataset" not in frames.present:
        return
    version = "version" if "version" in frames.present else "NULL"
    named = files.sql(
        f"SELECT DISTINCT CAST(dataset AS VARCHAR) AS dataset, "
        f"CAST({version} AS VARCHAR) AS version FROM {_READ} "
        f"WHERE dataset IS NOT NULL AND id IN (SELECT id FROM {_IDS})",
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
        SELECT uri AS u FROM sources WHERE frame_id IN (SELECT id FROM {_IDS})
        UNION ALL SELECT preview_uri FROM sources
            WHERE preview_uri IS NOT NULL AND frame_id IN (SELECT id FROM {_IDS})
        UNION ALL SELECT unnest(json_extract_string(masks, '$[*].uri')) FROM sources
            WHERE masks IS NOT NULL AND frame_id IN (SELECT id FROM {_IDS})
        UNION ALL SELECT mask->>'$.uri' FROM rois
            WHERE mask IS NOT NULL AND frame_id IN (SELECT id FROM {_IDS})
    ) WHERE u IS NOT NULL AND u <> ''"""
# A URI's folder part, by text (string functions: a regular expression per URI cost twice as
# much). Whole URIs stand alone where the text after the last '/' is not simply a file name:
# `..`, or file URIs with percent-escapes, queries or fragments.
_ALONE = (
    "(ends_with(u, '/') OR ends_with(u, '/.') OR ends_with(u, '/..') OR u IN ('.', '..') "
    "OR (starts_with(lower(u), 'file:') "
    "AND (contains(u, '%') OR contains(u, '?') OR contains(u, '#'))))"
)
_NAME = "string_split(u, '/')[-1]"
_HEAD = f"CASE WHEN {_ALONE} THEN u ELSE left(u, length(u) - length({_NAME})) END"


def _root_check(catalog: Catalog) -> MediaRootCheck:
    run = current_run()
    return run.roots if run is not None else MediaRootCheck(catalog.media_roots())


def _count_outside_media_roots(
    con: Any, files: duckdb.DuckDBPyConnection, check: MediaRootCheck, report: IngestReport
) -> None:
    """Count the stored URIs whose files lie outside every media root.

    A million URIs checked one by one in Python would cost more than the import itself, so
    they are grouped by folder in SQL and each folder is checked once; only the symlinks
    found in folders under a root are followed file by file.
    """
    con.register(_IDS, files.sql(f"SELECT id FROM {_IDS}").to_arrow_table())
    try:
        _count_outside(con, check, report)
    finally:
        con.unregister(_IDS)


def _count_outside(con: Any, check: MediaRootCheck, report: IngestReport) -> None:
    groups = con.execute(
        f"SELECT {_ALONE} AS alone, {_HEAD} AS head, count(*), min(u) "
        f"FROM ({_IMPORTED_URIS}) GROUP BY ALL ORDER BY head"
    ).fetchall()
    for alone, head, count, example in groups:
        folder = check.folder_of(example)
        if folder is None:
            continue  # remote URIs are not files of this machine
        if alone or not folder.inside:
            if alone and not check.is_outside(example):
                continue
            report.note_outside(example, count)
        elif folder.links:
            rows = con.execute(
                f"SELECT u, count(*) FROM ({_IMPORTED_URIS}) WHERE NOT {_ALONE} "
                f"AND {_HEAD} = ? AND {_NAME} IN "
                "(SELECT unnest(?::VARCHAR[])) GROUP BY u ORDER BY u",
                [head, sorted(folder.links)],
            ).fetchall()
            for uri, n in rows:
                if check.is_outside(uri):
                    report.note_outside(uri, n)


def _col(present: dict[str, str], column: str) -> str:
    return f"r.{quote_ident(column)}" if column in present else "NULL"


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
