"""`load_annotations()`: download a run's results and merge them into the catalog.

The download and any `on_unexpected` callback happen before the transaction opens, so a slow
platform or a person deciding never holds the catalog's writer lock. The merge itself is one
transaction: ROIs deleted and inserted set-based, new id-map rows, scalar values patched into
frame metadata, the run marked loaded, the audit row; a failure anywhere rolls all of it back.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import duckdb
import pyarrow as pa

from workbench.backends.base import AnnotationBackend
from workbench.ingest._counted_elsewhere import edited
from workbench.model.labels import LabelSchema
from workbench.model.records import PROMOTED_KEYS, ROI_SCHEMA
from workbench.model.shapes import Shape
from workbench.services.arguments import confirmed, flag
from workbench.services.context import Action, ServiceContext, columns_table, records
from workbench.services.errors import ConfirmationRequired, InvalidArgument, StateError
from workbench.services.merge import (
    MergePlan,
    Merger,
    Target,
    compatible,
    label_type_of,
    roi_record,
)
from workbench.services.models import RemovalReport
from workbench.services.reports import (
    RUN_CLEANED,
    RUN_LOADED,
    UNEXPECTED_MODES,
    MergeReport,
    UnexpectedCallback,
    UnexpectedLabels,
)
from workbench.services.runs import cleanup_in, run_config, run_row, run_schema
from workbench.store.arrow import append_rows, registered
from workbench.store.layout import touch
from workbench.store.sqlsafe import quote_ident


def load_annotations(
    ctx: ServiceContext,
    anno_key: str,
    *,
    unexpected: str = "prompt",
    dest_field: str | Mapping[str, str] | None = None,
    cleanup: bool = False,
    confirm: bool = False,
    on_unexpected: UnexpectedCallback | None = None,
    dryrun: bool = False,
) -> MergeReport:
    confirm, cleanup = confirmed(confirm), flag(cleanup, "cleanup")
    target = {
        "anno_key": anno_key,
        "unexpected": unexpected,
        "dest_field": dest_field,
        "cleanup": cleanup,
    }
    with Action(ctx, "load_annotations", target, dryrun=dryrun) as act:
        if unexpected not in UNEXPECTED_MODES:
            raise InvalidArgument(f"unexpected={unexpected!r}: expected one of {UNEXPECTED_MODES}")
        con = ctx.catalog.cursor()
        row = run_row(con, anno_key)
        if row["status"] == RUN_CLEANED:
            raise StateError(f"annotation run {anno_key!r} was cleaned up: its results are gone")
        schema, config = run_schema(row), run_config(row)
        dests = _destinations(schema.names(), dest_field)
        backend = ctx.backend(row["backend"])
        if cleanup and not confirm and not dryrun:
            _refuse_cleanup(con, backend, row["run_id"])
        shapes = records(backend.download(con, row["run_id"]))
        groups, unexpected_report = _groups(shapes, schema, dests, unexpected, on_unexpected)
        with act.transaction() as con:
            merged = Merger(con, anno_key, schema, config.restrictions).run(groups)
            with ctx.catalog.editing(con, _frames_of(merged), dry_run=dryrun):
                fields = {r["field"] for r in merged.rows_to_write}
                edited(ctx.catalog, con, _frames_of(merged), fields)  # imports under way
                _apply(con, anno_key, merged)
            con.execute(
                "UPDATE annotation_runs SET status = ?, loaded = current_timestamp WHERE anno_key = ?",
                [RUN_LOADED, anno_key],
            )
            cleaned = cleanup_in(ctx, con, row, confirm=True, dryrun=dryrun) if cleanup else None
            report = _report(anno_key, dryrun, merged, unexpected_report, cleaned)
            act.done(report.changes, _summary(report))
    return report


def _refuse_cleanup(
    con: duckdb.DuckDBPyConnection, backend: AnnotationBackend, run_id: str
) -> None:
    """Raise ConfirmationRequired stating what cleanup=True would remove (before any merge)."""
    plan = backend.cleanup(con, run_id, dryrun=True)
    raise ConfirmationRequired(
        RemovalReport(
            action="load_annotations(cleanup=True)",
            dryrun=False,
            tasks=plan.tasks,
            annotations=plan.annotations,
        )
    )


def _report(
    anno_key: str,
    dryrun: bool,
    merged: MergePlan,
    unexpected: list[UnexpectedLabels],
    cleaned: RemovalReport | None,
) -> MergeReport:
    return MergeReport(
        anno_key=anno_key,
        dryrun=dryrun,
        added=tuple(merged.added),
        changed=tuple(merged.changed),
        deleted=tuple(merged.deleted),
        rejected=tuple(merged.rejected),
        unexpected=tuple(unexpected),
        unchanged=merged.unchanged,
        keyframes=merged.keyframes,
        cleanup=cleaned,
    )


def _summary(report: MergeReport) -> dict[str, Any]:
    return {
        "added": len(report.added),
        "changed": len(report.changed),
        "deleted": len(report.deleted),
        "unchanged": report.unchanged,
        "rejected": len(report.rejected),
        "unexpected": sum(u.count for u in report.unexpected),
        "keyframes": report.keyframes,
    }


def _destinations(fields: list[str], dest_field: str | Mapping[str, str] | None) -> dict[str, str]:
    if dest_field is None:
        return {f: f for f in fields}
    if isinstance(dest_field, str):
        if len(fields) != 1:
            raise InvalidArgument(
                f"dest_field as one name needs a one-field schema; this run has {fields}: "
                "give a dict of field -> destination"
            )
        return {fields[0]: dest_field}
    unknown = sorted(set(dest_field) - set(fields))
    if unknown:
        raise InvalidArgument(f"dest_field names fields the run does not have: {unknown}")
    out = {f: dest_field.get(f, f) for f in fields}
    if len(set(out.values())) != len(out):
        raise InvalidArgument(f"dest_field sends two fields to the same destination: {out}")
    return out


def _groups(
    shapes: list[dict[str, Any]],
    schema: LabelSchema,
    dests: dict[str, str],
    mode: str,
    on_unexpected: UnexpectedCallback | None,
) -> tuple[list[tuple[Target, list[dict[str, Any]]]], list[UnexpectedLabels]]:
    """Shapes grouped by where they go; unexpected ones resolved by `mode`."""
    expected: dict[str, list[dict[str, Any]]] = {name: [] for name in schema.fields}
    odd: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for shape in shapes:
        field_schema = schema.fields.get(shape["field"])
        if field_schema is not None and compatible(field_schema, shape["kind"]):
            expected[shape["field"]].append(shape)
        else:
            odd.setdefault((shape["field"], label_type_of(shape)), []).append(shape)
    groups = [
        (Target(name, dests[name], schema.fields[name]), found) for name, found in expected.items()
    ]
    report: list[UnexpectedLabels] = []
    for (field_name, label_type), found in sorted(odd.items()):
        dest, action = _unexpected_destination(field_name, label_type, found, mode, on_unexpected)
        keep_shapes = tuple(Shape.from_row(s) for s in found) if action == "returned" else ()
        report.append(
            UnexpectedLabels(field_name, label_type, len(found), action, dest, keep_shapes)
        )
        if dest is not None:
            groups.append((Target(field_name, dest, None), found))
    return groups, report


def _unexpected_destination(
    field_name: str,
    label_type: str,
    shapes: list[dict[str, Any]],
    mode: str,
    on_unexpected: UnexpectedCallback | None,
) -> tuple[str | None, str]:
    if mode == "ignore":
        return None, "ignored"
    if mode == "keep":
        # FiftyOne keeps unexpected labels in a field named after their label type.
        return label_type, "kept"
    if mode == "prompt" and on_unexpected is not None:
        group = UnexpectedLabels(
            field_name,
            label_type,
            len(shapes),
            "prompt",
            None,
            tuple(Shape.from_row(s) for s in shapes),
        )
        chosen = on_unexpected(group)
        if chosen is not None and (not isinstance(chosen, str) or not chosen):
            raise InvalidArgument(f"on_unexpected must return a field name or None, got {chosen!r}")
        return (chosen, "kept") if chosen else (None, "ignored")
    # "return", and "prompt" without a callback: never block, hand them back.
    return None, "returned"


def _frames_of(plan: MergePlan) -> list[str]:
    """The frames whose ROIs or metadata the plan changes."""
    frames = {g[0] for g in plan.rois_to_delete} | {r["frame_id"] for r in plan.rows_to_write}
    return sorted(frames | set(plan.scalar_patches))


def _apply(con: duckdb.DuckDBPyConnection, anno_key: str, plan: MergePlan) -> None:
    """Write a merge plan: every step one set-based statement."""
    gone = plan.rois_to_delete + [(r["frame_id"], r["id"]) for r in plan.rows_to_write]
    if gone:
        keys = pa.table(
            {
                "frame_id": pa.array([g[0] for g in gone], pa.string()),
                "id": pa.array([g[1] for g in gone], pa.string()),
            }
        )
        with registered(con, "_wb_merge_gone", keys):
            touch(con, "SELECT frame_id FROM _wb_merge_gone")
            con.execute(
                "DELETE FROM rois USING _wb_merge_gone g "
                "WHERE rois.frame_id = g.frame_id AND rois.id = g.id"
            )
    if plan.rows_to_write:
        table = columns_table([roi_record(r) for r in plan.rows_to_write], ROI_SCHEMA)
        append_rows(con, "rois", table)
    if plan.new_id_map:
        table = pa.Table.from_pylist(
            plan.new_id_map,
            schema=pa.schema(
                [(n, pa.string()) for n in ("frame_id", "roi_id", "field", "task_id", "shape_id")]
            ),
        )
        with registered(con, "_wb_merge_ids", table):
            con.execute(
                "INSERT INTO annotation_ids (anno_key, frame_id, roi_id, field, task_id, shape_id, "
                "origin) SELECT ?, frame_id, roi_id, field, task_id, shape_id, 'merge' "
                "FROM _wb_merge_ids",
                [anno_key],
            )
    if plan.scalar_patches:
        _patch_metadata(con, plan.scalar_patches)


def _patch_metadata(con: duckdb.DuckDBPyConnection, patches: dict[str, dict[str, Any]]) -> None:
    """Set (or, for None, remove) metadata keys; promoted keys keep their columns in step."""
    table = pa.table(
        {
            "frame_id": pa.array(list(patches), pa.string()),
            "patch": pa.array([json.dumps(p) for p in patches.values()], pa.string()),
        }
    )
    promoted = sorted({k for p in patches.values() for k in p} & set(PROMOTED_KEYS))
    with registered(con, "_wb_patches", table):
        touch(con, "SELECT frame_id FROM _wb_patches")
        con.execute(
            "UPDATE frames SET metadata = nullif(json_merge_patch(coalesce(frames.metadata, '{}'), "
            "p.patch::JSON), '{}'::JSON) FROM _wb_patches p WHERE frames.id = p.frame_id"
        )
        for key in promoted:
            path = f"$.{key}"
            con.execute(
                f"UPDATE frames SET {quote_ident(key)} = CASE WHEN json_type(metadata, ?) IN ('OBJECT', 'ARRAY', "
                f"'NULL') THEN NULL ELSE json_extract_string(metadata, ?) END "
                "WHERE id IN (SELECT frame_id FROM _wb_patches)",
                [path, path],
            )
