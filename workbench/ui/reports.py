"""HTML for what the service reports: dry-run previews, removal plans, merge reports.

Built with workbench.ui.text: every value from the catalog (labels, ids, reasons, names) goes
in as text. Long lists are cut with a line saying how many more there are, so a preview of a
million-frame action stays small.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from workbench.services import (
    AnnotationRunInfo,
    Input,
    LabelRef,
    MergeReport,
    Rejection,
    RemovalReport,
)
from workbench.ui.text import Html, html, join
from workbench.ui.wording import plural

MAX_ROWS = 50


def table_html(
    headers: Sequence[str], rows: Iterable[Sequence[object]], css: str, limit: int = MAX_ROWS
) -> Html:
    """A small HTML table; rows past `limit` are summed up in a last line."""
    rows = list(rows)
    head = join(html("<th style='text-align:left;padding-right:8px'>{}</th>", h) for h in headers)
    body = join(
        html("<tr>{}</tr>", join(html("<td style='padding-right:8px'>{}</td>", v) for v in row))
        for row in rows[:limit]
    )
    more = html("<div>… and {} more</div>", len(rows) - limit) if len(rows) > limit else ""
    return html("<table class='{}'><tr>{}</tr>{}</table>{}", css, head, body, more)


def annotation_preview_html(
    info: AnnotationRunInfo, project: str, *, new_project: bool, new_batch: bool
) -> Html:
    """What `annotate(..., dryrun=True)` says the run would create."""
    batch = info.config.batch or "the latest open batch"
    items = [
        html("annotation run <b>{}</b> on <b>{}</b>", info.anno_key, info.backend),
        html(
            "{} in {} (an existing scene of exactly the same frames is reused)",
            plural(info.frames, "frame"),
            plural(info.scenes, "scene"),
        ),
        html(
            "{} in project <b>{}</b>{}, batch <b>{}</b>{}",
            plural(info.inputs, "input"),
            project,
            " (new)" if new_project else "",
            batch,
            " (new)" if new_batch else "",
        ),
        plural(info.tasks, "task"),
        html("{} uploaded as pre-annotations", plural(info.labels, "label")),
    ]
    for name, field in info.label_schema.fields.items():
        classes = ", ".join(field.classes) or "(none)"
        attributes = ", ".join(
            f"{a} ({s.type}{', read-only' if s.read_only else ''})"
            for a, s in field.attributes.items()
        )
        items.append(
            html("field <b>{}</b> ({}): classes {}", name, field.type, classes)
            + (html("; attributes {}", attributes) if attributes else "")
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
    lis = join(html("<li>{}</li>", item) for item in items)
    return html(
        "<div class='wb-preview-annotate'><b>The dry run would create:</b><ul>{}</ul></div>", lis
    )


def inputs_table_html(inputs: Sequence[Input]) -> Html:
    return table_html(
        ("input", "scene", "project", "batch", "run"),
        (
            (i.uuid, i.scene_external_id or i.scene_uuid, i.project, i.batch, i.anno_key or "")
            for i in inputs
        ),
        "wb-preview-inputs",
    )


def removal_preview_html(report: RemovalReport, inputs: Sequence[Input]) -> Html:
    """What a destructive action would remove (its dry run), and the inputs it affects."""
    removes = html("<div><b>This would remove:</b> {}.</div>", report.describe())
    if not inputs:
        return removes + html("<div>No input uses these scenes.</div>")
    return html("{}<div>Affected inputs:</div>{}", removes, inputs_table_html(inputs))


# (frame id, ROI id) -> the ROI's label: what a merge report names instead of ROI ids.
RoiLabels = Mapping[tuple[str, str], str]
# Frame ids a grouped rejection names before "and N more".
FRAMES_NAMED = 3


def _refs(title: str, refs: Sequence[LabelRef], labels: RoiLabels) -> Html:
    if not refs:
        return Html()
    rows = ((r.frame_id, r.field, _label_of(r, labels)) for r in refs)
    table = table_html(("frame", "field", "label"), rows, f"wb-merge-{title}")
    return html("<div><b>{}</b></div>{}", title, table)


def _label_of(ref: LabelRef, labels: RoiLabels) -> str:
    if ref.roi_id is None:
        return "(the field's value)"
    return labels.get((ref.frame_id, ref.roi_id), "(unknown label)")


def _some_frames(frames: Sequence[str]) -> str:
    named = ", ".join(frames[:FRAMES_NAMED])
    more = len(frames) - FRAMES_NAMED
    return named + (f" and {plural(more, 'more frame')}" if more > 0 else "")


def rejections_html(rejected: Sequence[Rejection]) -> Html:
    """Rejections grouped by field, change and reason: how many, and on which frames (a few
    named): one line per cause, not one per label."""
    groups: dict[tuple[str, str, str], list[str]] = {}
    for r in rejected:
        groups.setdefault((r.field, r.change, r.reason), []).append(r.frame_id)
    rows = (
        (field, change, reason, len(frames), _some_frames(list(dict.fromkeys(frames))))
        for (field, change, reason), frames in groups.items()
    )
    headers = ("field", "change", "reason", "labels", "frames")
    return html("<div><b>rejected</b></div>{}", table_html(headers, rows, "wb-rejected"))


def merge_report_html(report: MergeReport, labels: RoiLabels | None = None) -> Html:
    """A merge report: counts, the labels written (by label, not ROI id), the rejections by
    cause, and the unexpected labels (returned, not stored, since the app never prompts)."""
    labels = labels or {}
    parts = [
        html(
            "<div><b>Loaded {}</b>{}: {}</div>",
            report.anno_key,
            " (dry run)" if report.dryrun else "",
            report.describe(),
        ),
        _refs("added", report.added, labels),
        _refs("changed", report.changed, labels),
        _refs("deleted", report.deleted, labels),
    ]
    if report.rejected:
        parts.append(rejections_html(report.rejected))
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
        headers = ("field", "label type", "count", "what was done")
        table = table_html(headers, rows2, "wb-unexpected")
        parts.append(html("<div><b>unexpected labels</b></div>{}", table))
    if report.cleanup is not None:
        parts.append(html("<div>cleaned up: {}</div>", report.cleanup.describe()))
    return join(parts)
