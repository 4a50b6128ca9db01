"""The local-platform annotator: Bokeh edits -> working copy -> save -> done -> merge.

The browser's edit tools change a ColumnDataSource's `data`; here the tests set `.data` (and
`.selected.indices`) on the editor's sources as the tools would, and follow the edit through
the service into the catalog.
"""

from typing import Any

import panel as pn
import pytest
from bokeh.document import Document
from bokeh.models import BoxEditTool, PolyDrawTool, PolyEditTool, TapTool

from workbench.model.geometry import polygon_ring
from workbench.services import Workbench
from workbench.store.catalog import Catalog
from workbench.ui.annotator import AnnotatorView, EditorCopy
from workbench.ui.annotator_state import AnnotatorState
from workbench.ui.media import ServedMediaUrls
from workbench.ui.runs import RunsState
from workbench.ui.state import WorkbenchState

FRAMES = [f"ctx-0/f{i}" for i in range(5)]
ATTRIBUTES = {
    "occluded": {"type": "occluded"},
    "source": {"type": "select", "values": ["auto", "manual"], "read_only": True},
}


@pytest.fixture
def view(state: WorkbenchState) -> AnnotatorView:
    return AnnotatorView(AnnotatorState(state))


def boxes_run(service: Workbench, key: str = "boxes", **options: Any) -> None:
    service.annotate(
        FRAMES, key, label_field="ground_truth", label_type="detections",
        classes=["car", "truck"], attributes=ATTRIBUTES, **options,
    )  # fmt: skip


def copy_of(view: AnnotatorView) -> EditorCopy:
    return view._copies.first


def edit(source: Any, **changes: list[Any]) -> None:
    """Set a source's data as an edit tool leaves it: whole columns replaced at once."""
    data = {k: list(v) for k, v in source.data.items()}
    data.update(changes)
    source.data = data


def add_box(source: Any, left: float, top: float, right: float, bottom: float) -> None:
    """A box drawn with BoxEditTool: the other columns padded with its empty value ""."""
    data = {k: list(v) for k, v in source.data.items()}
    new = {"left": left, "right": right, "top": top, "bottom": bottom}
    for column, values in data.items():
        values.append(new.get(column, ""))
    source.data = data


def rois(catalog: Catalog, frame_id: str) -> list[tuple[Any, ...]]:
    return catalog.sql(
        "SELECT label, x_min, y_min, x_max, y_max, attributes->>'$.occluded' FROM rois "
        "WHERE frame_id = ? AND field = 'ground_truth' AND kind = 'box' ORDER BY x_min",
        [frame_id],
    ).fetchall()


def tools(copy: EditorCopy) -> set[type]:
    return {type(t) for t in copy.figure.toolbar.tools}


def test_opening_a_run_shows_its_task_with_editable_boxes(
    view: AnnotatorView, service: Workbench, state: WorkbenchState
):
    boxes_run(service)
    editor = view.editor
    editor.open_run("boxes")
    assert editor.is_open and editor.anno_key == "boxes"
    assert [f.frame_id for f in editor.frames] == FRAMES
    assert (editor.field, editor.kind, editor.label) == ("ground_truth", "box", "car")
    copy = copy_of(view)
    assert copy.boxes.data["left"] == [4.0] and copy.boxes.data["bottom"] == [14.0]
    assert copy.boxes.data["label"] == ["car"]
    uri = editor.source.uri if editor.source else ""
    assert copy.image.data["url"] == [ServedMediaUrls().image(uri)]
    assert (copy.figure.y_range.start, copy.figure.y_range.end) == (48, 0)  # y down
    assert {BoxEditTool, TapTool} <= tools(copy)
    assert view.label.options == ["car", "truck"] and view.label.value == "car"
    occluded, source = view.attributes.objects
    assert type(occluded).__name__ == "Checkbox" and source.disabled  # read-only
    assert "task 1/1 (new) · frame 1/5 · ctx-0/f0 · 1 shape" in view.status.object
    root = pn.panel(view).get_root(Document())
    assert "wb-annotator" in {
        c for m in root.references() for c in (getattr(m, "css_classes", None) or [])
    }


def test_edit_save_complete_and_load_merges_the_edits(
    view: AnnotatorView, service: Workbench, state: WorkbenchState, catalog: Catalog
):
    boxes_run(service)
    editor = view.editor
    editor.open_run("boxes")
    copy = copy_of(view)

    edit(copy.boxes, left=[10.0], right=[30.0])  # moved right by 6
    add_box(copy.boxes, 40, 20, 60, 40)  # drawn
    new_id = copy.boxes.data["id"][1]
    assert new_id and copy.boxes.data["label"] == ["car", "car"]  # patched back in
    assert editor.dirty and "unsaved edits" in view.status.object

    copy.boxes.selected.indices = [1]  # tapped
    assert editor.selected == new_id and not view.label.disabled
    view.label.value = "truck"
    view.attributes.objects[0].value = True  # occluded
    assert editor.shape(new_id).label == "truck"
    assert editor.shape(new_id).attributes == {"occluded": True}
    assert copy.boxes.data["label"] == ["car", "truck"]

    view.buttons["next"].clicks += 1
    assert editor.index == 1 and copy.boxes.data["left"] == [4.0]
    edit(copy.boxes, left=[], right=[], top=[], bottom=[], id=[], label=[])  # deleted

    view.buttons["save"].clicks += 1
    assert not editor.dirty and editor.error == ""
    saved = {s.id: s for s in service.get_task_annotations(editor.task_id)}
    assert saved[new_id].label == "truck" and len(saved) == 5
    view.buttons["done"].clicks += 1
    assert service.list_tasks("boxes")[0].status == "done"
    assert "(done)" in view.status.object

    runs = RunsState(state)
    runs.load("boxes")
    report = runs.report
    assert report is not None
    assert (len(report.added), len(report.changed), len(report.deleted)) == (1, 1, 1)
    assert rois(catalog, "ctx-0/f0") == [
        ("car", 10.0, 4.0, 30.0, 14.0, "true"),
        ("truck", 40.0, 20.0, 60.0, 40.0, "true"),
    ]
    assert rois(catalog, "ctx-0/f1") == []


def test_restrictions_are_kept_while_editing(view: AnnotatorView, service: Workbench):
    boxes_run(
        service, allow_additions=False, allow_deletions=False, allow_spatial_edits=False,
        allow_label_edits=False,
    )  # fmt: skip
    editor = view.editor
    editor.open_run("boxes")
    copy = copy_of(view)
    assert BoxEditTool not in tools(copy) and TapTool in tools(copy)
    (uploaded,) = copy.boxes.data["id"]

    add_box(copy.boxes, 40, 20, 60, 40)
    assert "does not allow new labels" in editor.message
    assert copy.boxes.data["id"] == [uploaded]  # put back as it was
    edit(copy.boxes, left=[10.0])
    assert "does not allow moving" in editor.message and copy.boxes.data["left"] == [4.0]
    edit(copy.boxes, left=[], right=[], top=[], bottom=[], id=[], label=[])
    assert "does not allow deleting" in editor.message and copy.boxes.data["id"] == [uploaded]
    assert not editor.dirty

    copy.boxes.selected.indices = [0]
    assert view.label.disabled
    editor.label = "truck"
    assert "does not allow changing the label" in editor.message
    assert editor.shape(uploaded).label == "car" and editor.label == "car"
    view.attributes.objects[0].value = True  # attributes stay editable
    assert editor.shape(uploaded).attributes["occluded"] is True


def test_polygons_are_drawn_and_merged(
    view: AnnotatorView, service: Workbench, state: WorkbenchState, catalog: Catalog
):
    service.annotate(
        ["ctx-1/f0", "ctx-1/f1"], "regions", label_field="regions", label_type="polygons",
        classes=["puddle"], allow_spatial_edits=False,
    )  # fmt: skip
    editor = view.editor
    editor.open_run("regions")
    copy = copy_of(view)
    assert PolyDrawTool in tools(copy) and PolyEditTool not in tools(copy)
    assert copy.polygons.data["xs"] == []

    # Drawing: the tool syncs while vertices are added; two points are no polygon yet.
    edit(copy.polygons, xs=[[2.0, 20.0]], ys=[[2.0, 2.0]], id=[""], label=[""])
    assert copy.polygons.data["id"] == [""] and editor.shapes == []
    edit(copy.polygons, xs=[[2.0, 20.0, 20.0, 20.0]], ys=[[2.0, 2.0, 15.0, 15.0]])
    (shape_id,) = copy.polygons.data["id"]
    assert shape_id and copy.polygons.data["label"] == ["puddle"]
    assert editor.shape(shape_id).geometry == ((2.0, 2.0, 20.0, 2.0, 20.0, 15.0),)

    view.buttons["done"].clicks += 1  # saves, then marks done
    assert editor.error == "" and not editor.dirty
    runs = RunsState(state)
    runs.load("regions")
    report = runs.report
    assert report is not None and len(report.added) == 1
    rows = catalog.sql("SELECT kind, label, geometry FROM rois WHERE field = 'regions'").fetchall()
    assert rows == [("polygon", "puddle", [[2.0, 2.0, 20.0, 2.0, 20.0, 15.0]])]


def test_switching_field_shows_the_other_fields_shapes(view: AnnotatorView, service: Workbench):
    service.annotate(
        FRAMES, "two-fields",
        label_schema={
            "ground_truth": {"type": "detections", "classes": ["car"]},
            "predictions": {"type": "detections", "classes": ["car"]},
        },
    )  # fmt: skip
    editor = view.editor
    editor.open_run("two-fields")
    copy = copy_of(view)
    assert view.field.options == ["ground_truth", "predictions"]
    assert copy.boxes.data["left"] == [4.0] and len(copy.others.data["xs"]) == 1
    view.field.value = "predictions"
    copy = copy_of(view)  # a new figure: the tools depend on the field
    assert editor.field == "predictions" and copy.boxes.data["left"] == [5.0]
    assert copy.others.data["field"] == ["ground_truth"]


def test_every_rendering_follows_an_edit_and_close_drops_unsaved_edits(
    view: AnnotatorView, service: Workbench
):
    boxes_run(service)
    editor = view.editor
    first = pn.panel(view).get_root(Document())
    second = pn.panel(view).get_root(Document())
    assert first is not second
    editor.open_run("boxes")
    one, two = list(view._copies)
    edit(one.boxes, left=[10.0], right=[30.0])
    assert two.boxes.data["left"] == [10.0]
    editor.close()
    assert not editor.is_open and editor.message == "unsaved edits were dropped"
    assert (
        service.get_task_annotations(service.list_tasks("boxes")[0].task_id)[0].geometry[0][0]
        == 4.0
    )


def test_open_run_refusals_are_shown(view: AnnotatorView):
    view.editor.open_run("no-such-run")
    assert "no-such-run" in view.editor.error and not view.editor.is_open
    assert view.message.visible and view.message.alert_type == "danger"


def test_polygon_ring_drops_repeated_vertices():
    assert polygon_ring([1, 5, 5, 5, 1], [1, 1, 4, 4, 1]) == (1.0, 1.0, 5.0, 1.0, 5.0, 4.0)


def test_attribute_widgets_follow_the_schema_types(view: AnnotatorView, service: Workbench):
    attributes = {
        "note": {"type": "text"},
        "kind": {"type": "select", "values": ["sedan", "van"]},
        "side": {"type": "radio", "values": ["left", "right"]},
        "parked": {"type": "checkbox"},
        "occluded": {"type": "occluded"},
        "group": {"type": "group_id"},
        "source": {"type": "text", "read_only": True},
    }
    service.annotate(
        ["ctx-2/f0"], "typed", label_field="ground_truth", label_type="detections",
        classes=["car"], attributes=attributes,
    )  # fmt: skip
    editor = view.editor
    editor.open_run("typed")
    widgets = dict(zip(attributes, view.attributes.objects, strict=True))
    assert {n: type(w).__name__ for n, w in widgets.items()} == {
        "note": "TextInput", "kind": "Select", "side": "RadioButtonGroup", "parked": "Checkbox",
        "occluded": "Checkbox", "group": "IntInput", "source": "TextInput",
    }  # fmt: skip
    assert all(w.disabled for w in widgets.values())  # nothing selected yet
    copy_of(view).boxes.selected.indices = [0]
    assert [n for n, w in widgets.items() if w.disabled] == ["source"]  # read-only
    widgets["note"].value = "dented"
    widgets["kind"].value = "van"
    widgets["side"].value = "right"
    widgets["group"].value = 3
    assert editor.attribute_values() == {
        "occluded": True, "note": "dented", "kind": "van", "side": "right", "group": 3,
    }  # fmt: skip
    editor.set_attribute("source", "manual")
    assert "read-only" in editor.message and "source" not in editor.attribute_values()
