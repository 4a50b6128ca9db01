"""The forms of the action dialogs: widgets bound to the dialogs' parameters.

Text boxes follow the parameters as the person types (`value_input`), so a button clicked
right after typing sees the text; the parameters are the truth and the widgets follow them
when the state changes them (a field's classes filled in, a project's batches listed).
"""

from __future__ import annotations

from typing import Any

import panel as pn
import param

from workbench.services import Input
from workbench.ui.dialogs import (
    FROM_FIELD,
    RESTRICTIONS,
    DeleteInputs,
    InvalidateScenes,
    SendToAnnotation,
)
from workbench.ui.text import TextPane, html


def bind_text(widget: pn.widgets.Widget, obj: Any, name: str) -> None:
    """Keep a text widget and a String parameter in step, as the person types (`value_input`:
    a button clicked right after typing must see the text)."""

    def to_param(*events: param.parameterized.Event) -> None:
        # Typing and leaving the box can arrive together: the last event has the text.
        new = events[-1].new
        if new is not None and new != getattr(obj, name):
            setattr(obj, name, new)

    def to_widget(event: param.parameterized.Event) -> None:
        if widget.value != event.new:
            widget.value = event.new

    widget.value = getattr(obj, name)
    widget.param.watch(to_param, ["value_input", "value"])
    obj.param.watch(to_widget, [name])


def send_form(send: SendToAnnotation) -> list[Any]:
    """The widgets of "Send to annotation": who, where and what in the first seven, how
    annotators may work in the rest."""
    backend = pn.widgets.Select.from_param(
        send.param.backend, label="backend", css_classes=["wb-backend"]
    )
    anno_key = pn.widgets.TextInput(label="annotation run key", css_classes=["wb-anno-key"])
    bind_text(anno_key, send, "anno_key")
    project = existing_or_new(
        send, "project", "projects", "project (existing or new; empty: default)"
    )
    batch = existing_or_new(send, "batch", "batches", "batch (empty: latest open)")
    field = existing_or_new(send, "label_field", "fields", "label field")
    return [
        backend, anno_key, project, batch, field, label_type_select(send), classes_input(send),
        *attribute_inputs(send), *restriction_inputs(send),
    ]  # fmt: skip


def existing_or_new(send: SendToAnnotation, name: str, options: str, label: str) -> Any:
    """A text box offering the existing values (`options` parameter) that takes new ones."""
    css = "wb-" + name.replace("_", "-")
    widget = pn.widgets.AutocompleteInput(
        label=label, restrict=False, min_characters=0, css_classes=[css]
    )
    bind_text(widget, send, name)

    def show(*events: param.parameterized.Event) -> None:
        widget.options = list(getattr(send, options))

    send.param.watch(show, [options])
    show()
    return widget


def label_type_select(send: SendToAnnotation) -> pn.widgets.Select:
    """The backend's label types, or the type of the field's own labels (empty)."""
    select = pn.widgets.Select(label="label type", css_classes=["wb-label-type"])

    def show(*events: param.parameterized.Event) -> None:
        select.options = {FROM_FIELD: "", **{t: t for t in send.label_types}}
        select.value = send.label_type

    send.param.watch(show, ["label_types", "label_type"])
    select.param.watch(lambda e: setattr(send, "label_type", e.new or ""), "value")
    show()
    return select


def classes_input(send: SendToAnnotation) -> pn.widgets.TextAreaInput:
    classes = pn.widgets.TextAreaInput(
        label="classes (comma or line separated)", css_classes=["wb-classes"], height=60
    )

    def show(*events: param.parameterized.Event) -> None:
        if split_classes(classes.value_input or classes.value or "") != send.classes:
            classes.value = ", ".join(send.classes)

    def typed(*events: param.parameterized.Event) -> None:
        if events[-1].new is not None:
            send.classes = split_classes(events[-1].new)

    send.param.watch(show, ["classes"])
    classes.param.watch(typed, ["value_input", "value"])
    show()
    return classes


def attribute_inputs(send: SendToAnnotation) -> list[Any]:
    """Where the attributes come from, and the JSON spec box shown for "custom"."""
    mode = pn.widgets.RadioButtonGroup.from_param(
        send.param.attribute_mode, label="attributes", css_classes=["wb-attribute-mode"]
    )
    spec = pn.widgets.TextAreaInput(
        label="attributes (JSON)", css_classes=["wb-attribute-spec"], height=70,
        placeholder='{"occluded": {"type": "occluded"}, '
        '"kind": {"type": "select", "values": ["a", "b"], "read_only": true}}',
    )  # fmt: skip
    bind_text(spec, send, "attribute_spec")
    spec.visible = send.attribute_mode == "custom"
    send.param.watch(lambda e: setattr(spec, "visible", e.new == "custom"), "attribute_mode")
    return [TextPane("attributes"), mode, spec]


def restriction_inputs(send: SendToAnnotation) -> list[Any]:
    """What annotators may change (the run's edit restrictions), and the task size."""
    allowed = pn.widgets.CheckBoxGroup(
        label="annotators may make", options=RESTRICTION_LABELS, css_classes=["wb-restrictions"],
        value=[r for r in RESTRICTIONS if getattr(send, r)], inline=False,
    )  # fmt: skip
    allowed.param.watch(lambda e: send.param.update({r: r in e.new for r in RESTRICTIONS}), "value")
    task_size = pn.widgets.IntInput.from_param(
        send.param.task_size,
        label="scenes per task (empty: one task)",
        css_classes=["wb-task-size"],
    )
    return [TextPane("annotators may make"), allowed, task_size]


RESTRICTION_LABELS = {
    "additions": "allow_additions",
    "deletions": "allow_deletions",
    "label edits": "allow_label_edits",
    "index (track) edits": "allow_index_edits",
    "spatial edits": "allow_spatial_edits",
}


def split_classes(text: str) -> list[str]:
    parts = (p.strip() for line in text.splitlines() for p in line.split(","))
    return list(dict.fromkeys(p for p in parts if p))


def invalidate_form(invalidate: InvalidateScenes) -> list[Any]:
    reason = pn.widgets.RadioButtonGroup.from_param(
        invalidate.param.reason, label="reason", css_classes=["wb-reason"]
    )
    scenes = TextPane("", css_classes=["wb-dialog-scenes"])

    def show(*events: param.parameterized.Event) -> None:
        n = len(invalidate.scene_uuids)
        scenes.object = html(
            "{} scene{} hold the selected frames; invalidating removes every input that uses "
            "them, with its annotations.",
            n,
            "s" if n != 1 else "",
        )

    invalidate.param.watch(show, ["scene_uuids"])
    show()
    return [scenes, TextPane("reason"), reason]


def delete_form(delete: DeleteInputs) -> list[Any]:
    choice = pn.widgets.CheckBoxGroup(label="inputs", css_classes=["wb-input-choice"], inline=False)

    def show(*events: param.parameterized.Event) -> None:
        choice.options = {input_label(i): i.uuid for i in delete.inputs}
        choice.value = [u for u in delete.chosen if u in set(choice.options.values())]

    choice.param.watch(lambda e: setattr(delete, "chosen", list(e.new)), "value")
    delete.param.watch(show, ["inputs", "chosen"])
    show()
    return [TextPane("inputs of the selected frames' scenes to delete"), choice]


def input_label(item: Input) -> str:
    run = f" · run {item.anno_key}" if item.anno_key else ""
    return (
        f"{item.scene_external_id or item.scene_uuid} · {item.project}/{item.batch}{run} "
        f"· {item.uuid[:8]}"
    )
