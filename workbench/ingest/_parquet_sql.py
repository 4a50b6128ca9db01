"""The SQL of Parquet import and export: the tables' names, streams of Arrow batches, and
the CASE that gives each row of a file its first problem (or NULL for a good row), so bad
rows are counted and reported in SQL, never read row by row in Python."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import duckdb

from workbench.errors import RecordError
from workbench.ingest.report import IngestReport
from workbench.model.limits import (
    MAX_COORDINATE,
    MAX_ID_LENGTH,
    MAX_KEPT_ERRORS,
    MAX_LABEL_LENGTH,
    MAX_POINTS_PER_ROI,
    MAX_RINGS_PER_ROI,
    MAX_TIMESTAMP,
)
from workbench.model.records import PROMOTED_KEYS, ROI_KINDS
from workbench.store import layout
from workbench.store.sqlsafe import quote_ident

TABLES: tuple[str, ...] = ("frames", "sources", "rois", "tags")
DEFAULT_FIELD = "ground_truth"

# In the file engine:
IDS = "_wb_parquet_ids"  # temp table: ids of the frames being imported
DUPLICATES = "_wb_parquet_duplicates"  # temp table: rows repeating an earlier frame id
KNOWN = "_wb_parquet_known"  # temp table: the tags' frames already in the catalog
READ = "read_parquet($files, union_by_name = true, filename = true, file_row_number = true)"
# Rows per Arrow batch between the engines (and per row group of an export): DuckDB's own.
BATCH_ROWS = 122_880


@dataclass
class ParquetTable:
    """One catalog table's Parquet input: its files and the columns (with types) they have."""

    name: str
    files: list[str]
    present: dict[str, str] = field(default_factory=dict)

    @property
    def params(self) -> dict[str, Any]:
        return {"files": self.files}


def stream(con: duckdb.DuckDBPyConnection, query: str, params: Any = None) -> Any:
    """The result of `query` on `con` as an Arrow stream of record batches."""
    return con.sql(query, params=params).to_arrow_reader(BATCH_ROWS)


def catalog_columns(con: Any, table: str) -> dict[str, str]:
    """The columns (and types) a table's files hold: the catalog's, without those the store
    derives (frame keys, promoted metadata copies), which it fills itself."""
    rows = con.execute(
        "SELECT column_name, data_type FROM information_schema.columns "
        "WHERE table_schema = 'main' AND table_name = ? ORDER BY ordinal_position",
        [table],
    ).fetchall()
    derived = layout.derived_columns(con, table)
    return {str(name): str(kind) for name, kind in rows if name not in derived}


def first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def col(present: dict[str, str], column: str) -> str:
    return f"r.{quote_ident(column)}" if column in present else "NULL"


def has_table(con: Any, name: str) -> bool:
    rows = con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_name = ?", [name]
    ).fetchall()
    return bool(rows[0][0])


def problem_expr(con: Any, table: ParquetTable, columns: dict[str, str]) -> str:
    """A CASE giving a row's first problem as text, NULL for a good row."""
    cases: list[tuple[str, str]] = []
    present = table.present
    singular = {"frames": "frame", "sources": "source", "rois": "ROI", "tags": "tag"}[table.name]
    frame_id = col(present, "id" if table.name == "frames" else "frame_id")
    if table.name == "frames":
        cases.append((f"{frame_id} IS NULL", "'frame has no id'"))
        cases.append((f"{col(present, 'context_id')} IS NULL", "'frame has no context_id'"))
        if has_table(con, DUPLICATES):
            cases.append(
                (
                    f"EXISTS (SELECT 1 FROM {DUPLICATES} d WHERE d.filename = r.filename "
                    "AND d.file_row_number = r.file_row_number)",
                    "'frame id appears in an earlier row'",
                )
            )
    else:
        cases.append((f"{frame_id} IS NULL", f"'{singular} has no frame_id'"))
        other = "tag" if table.name == "tags" else "id"
        cases.append((f"{col(present, other)} IS NULL", f"'{singular} has no {other}'"))
        # Tags may go to frames already in the catalog (frames are inserted first).
        known = f"{frame_id} NOT IN (SELECT id FROM {IDS})"
        if table.name == "tags":
            known += f" AND {frame_id} NOT IN (SELECT id FROM {KNOWN})"
        missing = (
            "neither in the import nor in the catalog"
            if table.name == "tags"
            else "not in the import"
        )
        cases.append((known, f"'its frame is {missing}'"))
    if table.name == "rois":
        kind = col(present, "kind")
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
    if name == "rois":
        cases += _keypoint_cases(col(present, "kind"), typed("geometry"), typed("visibility"))
    return cases


def _keypoint_cases(
    kind: str, geometry: str | None, visibility: str | None
) -> list[tuple[str, str]]:
    """Keypoints are one ring with a visibility of 0, 1 or 2 per point; nothing else has one."""
    ring, vis = geometry or "NULL", visibility or "NULL"
    return [
        (f"{kind} <> 'keypoints' AND {vis} IS NOT NULL", "'only keypoints have a visibility'"),
        (
            f"{kind} = 'keypoints' AND ({vis} IS NULL OR {ring} IS NULL OR len({ring}) <> 1 "
            f"OR 2 * len({vis}) <> len({ring}[1]) OR list_min({vis}) < 0 OR list_max({vis}) > 2)",
            "'keypoints need one ring and a visibility of 0, 1 or 2 for each point'",
        ),
    ]


def report_bad_rows(con: Any, table: ParquetTable, problem: str, report: IngestReport) -> None:
    """Count the rows with a problem and keep RecordErrors for the first of them."""
    room = max(MAX_KEPT_ERRORS - len(report.errors), 0)
    key = col(table.present, "id" if table.name == "frames" else "frame_id")
    rows = con.execute(
        f"SELECT filename, file_row_number, frame, problem, count(*) OVER () FROM "
        f"(SELECT r.filename, r.file_row_number, {key} AS frame, {problem} AS problem "
        f"FROM {READ} r) WHERE problem IS NOT NULL ORDER BY filename, file_row_number "
        f"LIMIT {max(room, 1)}",
        table.params,
    ).fetchall()
    if not rows:
        return
    report.rejected += int(rows[0][4])
    for filename, row, frame, text in (r[:4] for r in rows[:room]):
        where = f"{filename} row {row}" + (f", frame {frame!r}" if frame is not None else "")
        report.errors.append(RecordError(where, text))


def column_expr(table: ParquetTable, column: str, kind: str) -> str:
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


def _derived(table: ParquetTable, column: str) -> str | None:
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
