"""The forms of the action dialogs: widgets bound to the dialogs' parameters.

Each widget is made from its parameter (`from_param`, both ways) or takes references to
parameters (`options=send.param.projects`, `visible=pn.bind(...)`): the parameters are the
truth and the widgets follow them when the state changes them (a field's classes filled in,
a project's batches listed). Text boxes follow as the person types (`value_input`), so a
button clicked right after typing sees the text.
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
from workbench.ui.text import Html, TextAlert, TextPane, html, text
from workbench.ui.wording import agree, plural


def bound[W: pn.widgets.Widget](
    widget_type: type[W], parameter: param.Parameter, **params: Any
) -> W:
    """`widget_type.from_param(parameter, ...)`: the widget and the parameter follow each
    other. The parameter's doc is not shown as a tooltip (it is written for programmers)."""
    if "description" in widget_type.param:
        params.setdefault("description", None)
    return widget_type.from_param(parameter, **params)


def text_box[W: pn.widgets.Widget](
    widget_type: type[W], obj: param.Parameterized, name: str, label: str, **params: Any
) -> W:
    """A text box bound to the String parameter `name` both ways, as the person types
    (`value_input`: a button clicked right after typing must see the text)."""
    return bound(widget_type, obj.param[name], onkeyup=True, label=label, **params)


def send_form(send: SendToAnnotation) -> list[Any]:
    """The widgets of "Send to annotation": who, where and what in the first eight (with the
    warning about labels the classes leave out), how annotators may work in the rest."""
    backend = bound(
        pn.widgets.Select, send.param.backend, label="backend", css_classes=["wb-backend"]
    )
    anno_key = text_box(
        pn.widgets.TextInput, send, "anno_key", "annotation run key", css_classes=["wb-anno-key"]
    )
    project = existing_or_new(
        send, "project", "projects", "project (existing or new; empty: default)"
    )
    batch = existing_or_new(send, "batch", "batches", "batch (empty: latest open)")
    field = existing_or_new(send, "label_field", "fields", "label field")
    outside = send.param.outside_classes
    warning = TextAlert(
        pn.bind(text, outside), alert_type="warning", visible=pn.bind(bool, outside),
        css_classes=["wb-outside-classes"],
    )  # fmt: skip
    return [
        backend, anno_key, project, batch, field, label_type_select(send), classes_input(send),
        warning, *attribute_inputs(send), *restriction_inputs(send),
    ]  # fmt: skip


def existing_or_new(send: SendToAnnotation, name: str, options: str, label: str) -> Any:
    """A text box offering the existing values (`options` parameter) that takes new ones."""
    css = "wb-" + name.replace("_", "-")
    return text_box(
        pn.widgets.AutocompleteInput, send, name, label,
        options=send.param[options], restrict=False, min_characters=0, css_classes=[css],
    )  # fmt: skip


def label_type_select(send: SendToAnnotation) -> pn.widgets.Select:
    """The backend's label types, or the type of the field's own labels (empty)."""
    return bound(
        pn.widgets.Select,
        send.param.label_type,
        options=pn.bind(_label_type_options, send.param.label_types),
        label="label type",
        css_classes=["wb-label-type"],
    )


def _label_type_options(label_types: list[str]) -> dict[str, str]:
    return {FROM_FIELD: "", **{t: t for t in label_types}}


def classes_input(send: SendToAnnotation) -> pn.widgets.TextAreaInput:
    """The classes as text. Explicit watchers rather than a binding: the text and the list are
    different values (a list shown as text, text split into a list), and the text is written
    back only when it no longer says the list, so typing "car, " is not rewritten as "car"."""
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
    mode = bound(
        pn.widgets.RadioButtonGroup,
        send.param.attribute_mode,
        label="attributes",
        css_classes=["wb-attribute-mode"],
    )
    spec = text_box(
        pn.widgets.TextAreaInput, send, "attribute_spec", "attributes (JSON)",
        css_classes=["wb-attribute-spec"], height=70,
        placeholder='{"occluded": {"type": "occluded"}, '
        '"kind": {"type": "select", "values": ["a", "b"], "read_only": true}}',
        visible=pn.bind(_is_custom, send.param.attribute_mode),
    )  # fmt: skip
    return [TextPane("attributes"), mode, spec]


def _is_custom(mode: str) -> bool:
    return mode == "custom"


def restriction_inputs(send: SendToAnnotation) -> list[Any]:
    """What annotators may change (the run's edit restrictions), and the task size. One
    widget for five Boolean parameters: an explicit watcher writes the checked ones back."""
    allowed = pn.widgets.CheckBoxGroup(
        label="annotators may make", options=RESTRICTION_LABELS, css_classes=["wb-restrictions"],
        value=[r for r in RESTRICTIONS if getattr(send, r)], inline=False,
    )  # fmt: skip
    allowed.param.watch(lambda e: send.param.update({r: r in e.new for r in RESTRICTIONS}), "value")
    task_size = bound(
        pn.widgets.IntInput,
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
    reason = bound(
        pn.widgets.RadioButtonGroup,
        invalidate.param.reason,
        label="reason",
        css_classes=["wb-reason"],
    )
    scenes = TextPane(
        pn.bind(_scenes_text, invalidate.param.scene_uuids), css_classes=["wb-dialog-scenes"]
    )
    return [scenes, TextPane("reason"), reason]


def _scenes_text(scene_uuids: list[str]) -> Html:
    n = len(scene_uuids)
    return html(
        "{} {} the selected frames; invalidating removes every input that uses {}, with "
        "{} annotations.",
        plural(n, "scene"),
        agree(n, "holds", "hold"),
        agree(n, "it", "them"),
        agree(n, "its", "their"),
    )


def delete_form(delete: DeleteInputs) -> list[Any]:
    choice = bound(
        pn.widgets.CheckBoxGroup,
        delete.param.chosen,
        options=pn.bind(_input_options, delete.param.inputs),
        label="inputs",
        css_classes=["wb-input-choice"],
        inline=False,
    )
    return [TextPane("inputs of the selected frames' scenes to delete"), choice]


def _input_options(inputs: list[Input]) -> dict[str, str]:
    return {input_label(i): i.uuid for i in inputs}


def input_label(item: Input) -> str:
    run = f" · run {item.anno_key}" if item.anno_key else ""
    return (
        f"{item.scene_external_id or item.scene_uuid} · {item.project}/{item.batch}{run} "
        f"· {item.uuid[:8]}"
    )
