"""Evaluation runs as catalog data: the evaluations, eval_rois and eval_frames tables.

A run is one `evaluations` row (key, fields, config, metrics, the whole results object as JSON,
the view it ran on) and its per-ROI and per-frame rows keyed by the run's `run_id`; renaming a
run rewrites the one row. Every write is one transaction that also writes an audit_log row.
"""

from __future__ import annotations

import dataclasses
import json
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import duckdb
import pyarrow as pa

from workbench.analysis.evaluation.results import DetectionResults
from workbench.errors import EvaluationError
from workbench.store.audit import append_audit_row, default_actor

if TYPE_CHECKING:
    from workbench.query.view import View
    from workbench.store.catalog import Catalog

MAX_KEY_LENGTH = 200


@dataclass(frozen=True)
class EvaluationInfo:
    """One stored run, as list_evaluations shows it."""

    eval_key: str
    run_id: str
    kind: str
    method: str
    pred_field: str
    gt_field: str
    mAP: float | None
    frames: int
    rois: int
    seconds: float | None
    created: datetime | None


@dataclass(frozen=True)
class EvaluationRemoval:
    """What delete_evaluation removes (dryrun=True) or removed."""

    eval_key: str
    run_id: str
    rois: int
    frames: int
    dryrun: bool

    def describe(self) -> str:
        return f"evaluation {self.eval_key!r} with {self.rois} ROI outcomes and {self.frames} frame counts"


def check_key(eval_key: Any) -> str:
    if not isinstance(eval_key, str) or not eval_key.strip():
        raise EvaluationError(f"an evaluation key must be a non-empty string, got {eval_key!r}")
    if len(eval_key) > MAX_KEY_LENGTH:
        raise EvaluationError(f"an evaluation key has at most {MAX_KEY_LENGTH} characters")
    return eval_key


def check_writable(catalog: Catalog) -> None:
    if catalog.read_only:
        raise EvaluationError(
            f"{catalog.path} is opened read-only: evaluation runs are stored in the catalog"
        )


def check_free(catalog: Catalog, eval_key: str, overwrite: bool) -> None:
    if not overwrite and _row(catalog.cursor(), eval_key) is not None:
        raise EvaluationError(
            f"evaluation {eval_key!r} exists: pass overwrite=True to replace it, or pick "
            "another eval_key"
        )


def _row(con: duckdb.DuckDBPyConnection, eval_key: str) -> dict[str, Any] | None:
    result = con.execute("SELECT * FROM evaluations WHERE eval_key = ?", [eval_key])
    names = [d[0] for d in result.description or ()]
    found = result.fetchall()
    return dict(zip(names, found[0], strict=True)) if found else None


def _existing(con: duckdb.DuckDBPyConnection, eval_key: str) -> dict[str, Any]:
    row = _row(con, check_key(eval_key))
    if row is None:
        known = [
            r[0] for r in con.execute("SELECT eval_key FROM evaluations ORDER BY 1").fetchall()
        ]
        listed = ", ".join(repr(k) for k in known[:20]) or "none"
        raise EvaluationError(f"no evaluation {eval_key!r} (evaluations: {listed})")
    return row


@contextmanager
def _registered(con: duckdb.DuckDBPyConnection, name: str, table: pa.Table) -> Iterator[None]:
    con.register(name, table)
    try:
        yield
    finally:
        con.unregister(name)


def save(
    catalog: Catalog,
    view: View,
    results: DetectionResults,
    rois: pa.Table,
    frames: pa.Table,
    *,
    overwrite: bool,
    seconds: float,
) -> DetectionResults:
    """Store a run (replacing one of the same key when `overwrite`); returns the results with
    the number of frames the view held."""
    run_id = uuid.uuid4().hex
    view_frames = view.compile()
    with catalog.transaction() as con:
        old = _row(con, results.eval_key)
        if old is not None:
            if not overwrite:
                raise EvaluationError(
                    f"evaluation {results.eval_key!r} exists: pass overwrite=True to replace it"
                )
            _delete_rows(con, old)
        with _registered(con, "_eval_rois", rois):
            con.execute("INSERT INTO eval_rois SELECT ?, * FROM _eval_rois", [run_id])
        with _registered(con, "_eval_frames", frames):
            con.execute(
                "INSERT INTO eval_frames SELECT ?, v.id, coalesce(c.tp, 0), coalesce(c.fp, 0),"
                f" coalesce(c.fn, 0) FROM ({view_frames.sql}) v"
                " LEFT JOIN _eval_frames c ON c.frame_id = v.id",
                [run_id, *view_frames.params],
            )
        count = con.execute(
            "SELECT count(*) FROM eval_frames WHERE run_id = ?", [run_id]
        ).fetchall()
        results = dataclasses.replace(results, frames=int(count[0][0]))
        con.execute(
            "INSERT INTO evaluations (eval_key, run_id, kind, method, pred_field, gt_field,"
            " config, metrics, results, view, frames, rois, seconds, actor)"
            " VALUES (?, ?, 'detections', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                results.eval_key,
                run_id,
                results.config.method,
                results.pred_field,
                results.gt_field,
                _json(results.config.to_dict()),
                _json(metrics(results)),
                _json(results.to_dict()),
                _json(view.to_dict()) if view.stages else None,
                results.frames,
                rois.num_rows,
                seconds,
                default_actor(),
            ],
        )
        _audit(
            con,
            "evaluate_detections",
            {"eval_key": results.eval_key, "run_id": run_id},
            rois.num_rows,
            False,
            {"replaced": old["run_id"] if old else None},
        )
    return results


def metrics(results: DetectionResults) -> dict[str, Any]:
    """The summary stored in evaluations.metrics, for SQL: mAP, COCO's figures, per class."""
    return {
        "mAP": results.mAP,
        "stats": dict(results.stats),
        "tp": results.tp,
        "fp": results.fp,
        "fn": results.fn,
        "frames": results.frames,
        "classes": {
            c.label: {"ap": c.ap, "tp": c.tp, "fp": c.fp, "fn": c.fn, "support": c.support}
            for c in results.classes
        },
    }


def list_evaluations(catalog: Catalog) -> list[EvaluationInfo]:
    rows = (
        catalog.cursor()
        .execute(
            "SELECT eval_key, run_id, kind, method, pred_field, gt_field,"
            " TRY_CAST(json_extract(metrics, '$.mAP') AS DOUBLE), frames, rois, seconds, created"
            " FROM evaluations ORDER BY created, eval_key"
        )
        .fetchall()
    )
    return [
        EvaluationInfo(
            r[0], r[1], r[2], r[3], r[4], r[5], r[6], int(r[7] or 0), int(r[8] or 0), r[9], r[10]
        )
        for r in rows
    ]


def load_results(catalog: Catalog, eval_key: str) -> DetectionResults:
    row = _existing(catalog.cursor(), eval_key)
    return DetectionResults.from_dict(json.loads(row["results"]), eval_key=row["eval_key"])


def load_view(catalog: Catalog, eval_key: str) -> View:
    """The view the run evaluated (the whole catalog when it ran on every frame)."""
    from workbench.query.view import View

    row = _existing(catalog.cursor(), eval_key)
    return View.from_dict(catalog, json.loads(row["view"])) if row["view"] else View(catalog)


def rename(catalog: Catalog, eval_key: str, new_key: str) -> None:
    check_writable(catalog)
    check_key(new_key)
    with catalog.transaction() as con:
        row = _existing(con, eval_key)
        if new_key == eval_key:
            return
        if _row(con, new_key) is not None:
            raise EvaluationError(f"evaluation {new_key!r} exists already")
        con.execute("UPDATE evaluations SET eval_key = ? WHERE eval_key = ?", [new_key, eval_key])
        _audit(
            con,
            "rename_evaluation",
            {"eval_key": eval_key, "new_key": new_key, "run_id": row["run_id"]},
            1,
            False,
        )


def delete(
    catalog: Catalog, eval_key: str, *, confirm: bool = False, dryrun: bool = False
) -> EvaluationRemoval:
    """Remove a run and its rows; needs confirm=True (exactly), dryrun=True only reports."""
    check_writable(catalog)
    if not isinstance(dryrun, bool):
        raise EvaluationError(f"dryrun must be True or False, got {dryrun!r}")
    with catalog.transaction() as con:
        row = _existing(con, eval_key)
        run_id = row["run_id"]
        counts = con.execute(
            "SELECT (SELECT count(*) FROM eval_rois WHERE run_id = ?),"
            " (SELECT count(*) FROM eval_frames WHERE run_id = ?)",
            [run_id, run_id],
        ).fetchall()[0]
        plan = EvaluationRemoval(row["eval_key"], run_id, int(counts[0]), int(counts[1]), dryrun)
        target = {"eval_key": row["eval_key"], "run_id": run_id}
        if dryrun:
            _audit(con, "delete_evaluation", target, 1, True, dataclasses.asdict(plan))
            return plan
        if confirm is not True:
            raise EvaluationError(
                f"deleting would remove {plan.describe()}: pass confirm=True to do it, or "
                "dryrun=True to see this without an error"
            )
        _delete_rows(con, row)
        _audit(con, "delete_evaluation", target, 1, False, dataclasses.asdict(plan))
    return plan


def _delete_rows(con: duckdb.DuckDBPyConnection, row: Mapping[str, Any]) -> None:
    for table in ("eval_rois", "eval_frames"):
        con.execute(f"DELETE FROM {table} WHERE run_id = ?", [row["run_id"]])
    con.execute("DELETE FROM evaluations WHERE run_id = ?", [row["run_id"]])


def _json(value: Any) -> str:
    return json.dumps(value, allow_nan=False, separators=(",", ":"))


def _audit(
    con: duckdb.DuckDBPyConnection,
    action: str,
    target: Mapping[str, Any],
    count: int,
    dryrun: bool,
    details: Mapping[str, Any] | None = None,
) -> None:
    append_audit_row(
        con,
        actor=default_actor(),
        action=action,
        target=target,
        count=count,
        outcome="ok",
        details=details or None,
        dry_run=dryrun,
    )
