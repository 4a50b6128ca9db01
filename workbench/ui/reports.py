"""HTML for what the service reports: dry-run previews, removal plans, merge reports.

Every value from the catalog (labels, ids, reasons) is escaped; long lists are cut with a
line saying how many more there are, so a preview of a million-frame action stays small.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Sequence

from workbench.services import AnnotationRunInfo, Input, LabelRef, MergeReport, RemovalReport

MAX_ROWS = 50


def _e(value: object) -> str:
    return html.escape("" if value is None else str(value))


def plural(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def table_html(
    headers: Sequence[str], rows: Iterable[Sequence[object]], css: str, limit: int = MAX_ROWS
) -> str:
    """A small HTML table; rows past `limit` are summed up in a last line."""
    rows = list(rows)
    head = "".join(f"<th style='text-align:left;padding-right:8px'>{_e(h)}</th>" for h in headers)
    body = "".join(
        "<tr>" + "".join(f"<td style='padding-right:8px'>{_e(v)}</td>" for v in row) + "</tr>"
        for row in rows[:limit]
    )
    more = f"<div>… and {len(rows) - limit} more</div>" if len(rows) > limit else ""
    return f"<table class='{css}'><tr>{head}</tr>{body}</table>{more}"


def annotation_preview_html(
    info: AnnotationRunInfo, project: str, *, new_project: bool, new_batch: bool
) -> str:
    """What `annotate(..., dryrun=True)` says the run would create."""
    batch = info.config.batch or "the latest open batch"
    items = [
        f"annotation run <b>{_e(info.anno_key)}</b> on <b>{_e(info.backend)}</b>",
        f"{plural(info.frames, 'frame')} in {plural(info.scenes, 'scene')} "
        "(an existing scene of exactly the same frames is reused)",
        f"{plural(info.inputs, 'input')} in project <b>{_e(project)}</b>"
        f"{' (new)' if new_project else ''}, batch <b>{_e(batch)}</b>"
        f"{' (new)' if new_batch else ''}",
        f"{plural(info.tasks, 'task')}",
        f"{plural(info.labels, 'label')} uploaded as pre-annotations",
    ]
    for name, field in info.label_schema.fields.items():
        classes = ", ".join(field.classes) or "(none)"
        attributes = ", ".join(
            f"{a} ({s.type}{', read-only' if s.read_only else ''})"
            for a, s in field.attributes.items()
        )
        items.append(
            f"field <b>{_e(name)}</b> ({_e(field.type)}): classes {_e(classes)}"
            + (f"; attributes {_e(attributes)}" if attributes else "")
        )
    restrictions = info.config.restrictions
    refused = [
        what
        for what, allowed in (
            ("additions", restrictions.allow_additions),
            ("deletions", restrictions.allow_deletions),
            ("label edits", restrictions.allow_label_edits),
            ("index edits", restrictions.allow_index_edits),
            ("spatial edits", restrictions.allow_spatial_edits),
        )
        if not allowed
    ]
    if refused:
        items.append("not allowed: " + ", ".join(refused))
    lis = "".join(f"<li>{item}</li>" for item in items)
    return f"<div class='wb-preview-annotate'><b>The dry run would create:</b><ul>{lis}</ul></div>"


def inputs_table_html(inputs: Sequence[Input]) -> str:
    return table_html(
        ("input", "scene", "project", "batch", "run"),
        (
            (i.uuid, i.scene_external_id or i.scene_uuid, i.project, i.batch, i.anno_key or "")
            for i in inputs
        ),
        "wb-preview-inputs",
    )


def removal_preview_html(report: RemovalReport, inputs: Sequence[Input]) -> str:
    """What a destructive action would remove (its dry run), and the inputs it affects."""
    text = f"<div><b>This would remove:</b> {_e(report.describe())}.</div>"
    if not inputs:
        return text + "<div>No input uses these scenes.</div>"
    return text + f"<div>Affected inputs:</div>{inputs_table_html(inputs)}"


def _refs(title: str, refs: Sequence[LabelRef]) -> str:
    if not refs:
        return ""
    rows = ((r.frame_id, r.field, r.roi_id or "(value)") for r in refs)
    return f"<div><b>{_e(title)}</b></div>" + table_html(("frame", "field", "label"), rows, "")


def merge_report_html(report: MergeReport) -> str:
    """A merge report: counts, the labels written, every rejection with its reason, and the
    unexpected labels (returned, not stored, since the app never prompts)."""
    parts = [
        f"<div><b>Loaded {_e(report.anno_key)}</b>"
        f"{' (dry run)' if report.dryrun else ''}: {_e(report.describe())}</div>",
        _refs("added", report.added),
        _refs("changed", report.changed),
        _refs("deleted", report.deleted),
    ]
    if report.rejected:
        rows = ((r.frame_id, r.field, r.change, r.reason) for r in report.rejected)
        parts.append(
            "<div><b>rejected</b></div>"
            + table_html(("frame", "field", "change", "reason"), rows, "wb-rejected")
        )
    if report.unexpected:
        rows2 = (
            (
                u.field,
                u.label_type,
                u.count,
                u.action + (f" to {u.destination}" if u.destination else ""),
            )
            for u in report.unexpected
        )
        parts.append(
            "<div><b>unexpected labels</b></div>"
            + table_html(("field", "label type", "count", "what was done"), rows2, "wb-unexpected")
        )
    if report.cleanup is not None:
        parts.append(f"<div>cleaned up: {_e(report.cleanup.describe())}</div>")
    return "".join(p for p in parts if p)
