"""The whole loop against a live Label Studio: annotate -> annotators submit -> load."""

import json

import pytest

from workbench.backends.labelstudio.results import stable_id
from workbench.services import LabelRef

from .ls_annotator import (
    IMAGES,
    SCHEMA,
    prediction,
    rectangle,
    region,
    submit,
    tasks_by_frame,
    without,
)


def roi(catalog, frame_id, roi_id):
    found = catalog.sql(
        "SELECT label, geometry, attributes, track_index, keyframe FROM rois "
        "WHERE frame_id = ? AND id = ?",
        [frame_id, roi_id],
    ).fetchall()
    if not found:
        return None
    label, geometry, attributes, track_index, keyframe = found[0]
    return {
        "label": label,
        "geometry": geometry,
        "attributes": json.loads(attributes) if attributes else {},
        "track_index": track_index,
        "keyframe": keyframe,
    }


def quality(catalog, frame_id):
    return catalog.sql(
        "SELECT metadata->>'$.quality' FROM frames WHERE id = ?", [frame_id]
    ).fetchall()[0][0]


def test_the_full_loop_changes_the_catalog_as_annotated(wb, catalog, backend, api):
    info = wb.annotate(IMAGES, "loop", backend="labelstudio", label_schema=SCHEMA).info
    assert (info.tasks, info.labels) == (4, 11)
    tasks = tasks_by_frame(api, backend.project_of_run(info.run_id))

    # img-0: the box moves right and turns blue and occluded; the scene is night; quality 5
    results = prediction(tasks["img-0"])
    box = region(results, "ground_truth")
    box["value"]["x"] = 20.0  # 40 px on a 200 px wide image
    region(results, "ground_truth__color")["value"] = {"choices": ["blue"]}
    results.append(
        {
            **box,
            "from_name": "ground_truth__occluded",
            "type": "choices",
            "value": {"choices": ["occluded"]},
        }
    )
    results = [
        {**r, "value": {"choices": ["night"]}} if r["from_name"] == "scene" else r for r in results
    ]
    region(results, "quality")["value"] = {"text": ["5"]}
    submit(api, tasks["img-0"]["id"], results)
    # img-1: the road polygon is deleted, a truck is drawn
    results = prediction(tasks["img-1"])
    road = region(results, "area")["id"].split(":")[0]
    results = [r for r in results if not r["id"].startswith(road)]
    results.append(rectangle("truck1", "truck", (50, 50, 25, 40)))
    submit(api, tasks["img-1"]["id"], results)
    # img-2: accepted as it was; img-3: nobody looked at it
    submit(api, tasks["img-2"]["id"], prediction(tasks["img-2"]))

    report = wb.load_annotations("loop")

    truck_id = stable_id(info.run_id, "img-1", "truck1")
    assert set(report.changed) == {
        LabelRef("img-0", "ground_truth", "b0"),
        LabelRef("img-0", "quality", None),
        LabelRef("img-0", "scene", "c0"),
    }
    assert report.added == (LabelRef("img-1", "ground_truth", truck_id),)
    assert report.deleted == (LabelRef("img-1", "area", "p1"),)
    assert (report.rejected, report.unchanged) == ((), 7)
    moved = roi(catalog, "img-0", "b0")
    assert moved["geometry"] == [[40.0, 10.0, 80.0, 10.0, 80.0, 30.0, 40.0, 30.0]]
    assert moved["attributes"] == {"occluded": True, "color": "blue"}
    assert roi(catalog, "img-0", "c0")["label"] == "night"
    assert quality(catalog, "img-0") == "5"
    truck = roi(catalog, "img-1", truck_id)
    assert truck["label"] == "truck"
    assert truck["geometry"] == [[100.0, 50.0, 150.0, 50.0, 150.0, 90.0, 100.0, 90.0]]
    assert roi(catalog, "img-1", "p1") is None
    assert roi(catalog, "img-1", "k1")["geometry"] == [[20.0, 20.0, 30.0, 25.0]]
    assert roi(catalog, "img-3", "b3")["geometry"] == [
        [13.0, 10.0, 53.0, 10.0, 53.0, 30.0, 13.0, 30.0]
    ]

    again = wb.load_annotations("loop")  # nothing left to do
    assert (again.added, again.changed, again.deleted, again.unchanged) == ((), (), (), 11)


def move_box(results):
    region(results, "ground_truth")["value"]["y"] += 10
    return results


def relabel_box(results):
    region(results, "ground_truth")["value"]["rectanglelabels"] = ["truck"]
    return results


def add_box(results):
    return [*results, rectangle("extra", "car", (60, 60, 10, 10))]


def delete_box(results):
    return without(results, region(results, "ground_truth")["id"])


def recolor_box(results):
    region(results, "ground_truth__color")["value"] = {"choices": ["blue"]}
    return results


@pytest.mark.parametrize(
    ("restriction", "edit", "change", "kept"),
    [
        ({"allow_spatial_edits": False}, move_box, "spatial", "geometry"),
        ({"allow_label_edits": False}, relabel_box, "label", "label"),
        ({"allow_additions": False}, add_box, "addition", None),
        ({"allow_deletions": False}, delete_box, "deletion", "geometry"),
        ({"read_only": True}, recolor_box, "attribute", "attributes"),
    ],
)
def test_each_restriction_is_enforced_on_what_comes_back(
    wb, catalog, backend, api, restriction, edit, change, kept
):
    schema = {"ground_truth": json.loads(json.dumps(SCHEMA["ground_truth"]))}
    options = dict(restriction)
    if options.pop("read_only", False):
        schema["ground_truth"]["attributes"]["color"]["read_only"] = True
    before = roi(catalog, "img-0", "b0")
    info = wb.annotate(
        ["img-0"], "strict", backend="labelstudio", label_schema=schema, **options
    ).info
    task = tasks_by_frame(api, backend.project_of_run(info.run_id))["img-0"]
    submit(api, task["id"], edit(prediction(task)))

    report = wb.load_annotations("strict")

    assert [r.change for r in report.rejected] == [change]
    after = roi(catalog, "img-0", "b0")
    if kept is not None:
        assert after[kept] == before[kept]
    assert catalog.sql(
        "SELECT count(*) FROM rois WHERE frame_id = 'img-0' AND field = 'ground_truth'"
    ).fetchall() == [(1,)]


def test_track_numbers_of_a_sequence_round_trip_and_index_edits_can_be_refused(
    wb, catalog, backend, api
):
    schema = {"ground_truth": {"type": "detections", "classes": ["car"]}}
    info = wb.annotate(
        ["seq-0", "seq-1", "seq-2"],
        "tracks",
        backend="labelstudio",
        label_schema=schema,
        allow_index_edits=False,
    ).info
    tasks = tasks_by_frame(api, backend.project_of_run(info.run_id))
    # one task per frame, in time order, linked by their context
    order = sorted(tasks.values(), key=lambda t: t["data"]["wb_position"])
    assert [
        (t["data"]["wb_frame"], t["data"]["wb_frame_index"], t["data"]["wb_context"]) for t in order
    ] == [
        ("seq-0", 0, "drive-1"),
        ("seq-1", 1, "drive-1"),
        ("seq-2", 2, "drive-1"),
    ]
    results = prediction(tasks["seq-1"])
    assert region(results, "ground_truth__track")["value"] == {"number": 1}
    region(results, "ground_truth__track")["value"] = {"number": 7}
    submit(api, tasks["seq-1"]["id"], results)
    submit(api, tasks["seq-2"]["id"], prediction(tasks["seq-2"]))

    report = wb.load_annotations("tracks")

    assert [(r.frame_id, r.change) for r in report.rejected] == [("seq-1", "index")]
    assert [roi(catalog, f"seq-{i}", f"t{i}")["track_index"] for i in range(3)] == [1, 1, 1]
    assert [roi(catalog, f"seq-{i}", f"t{i}")["keyframe"] for i in range(3)] == [True, False, False]


def test_unknown_labels_and_controls_end_up_in_the_report(wb, catalog, backend, api):
    info = wb.annotate(
        ["img-0"],
        "odd",
        backend="labelstudio",
        label_schema={"ground_truth": SCHEMA["ground_truth"]},
    ).info
    task = tasks_by_frame(api, backend.project_of_run(info.run_id))["img-0"]
    results = prediction(task)
    results.append(rectangle("bus1", "bus", (10, 10, 10, 10)))
    results.append(rectangle("sign1", "sign", (70, 10, 10, 10), control="signs"))
    submit(api, task["id"], results)

    report = wb.load_annotations("odd", unexpected="return")

    assert [(r.frame_id, r.change) for r in report.rejected] == [("img-0", "class")]
    assert "'bus' is not a class" in report.rejected[0].reason
    assert [(u.field, u.label_type, u.count, u.action) for u in report.unexpected] == [
        ("signs", "detections", 1, "returned")
    ]
    assert report.unexpected[0].shapes[0].label == "sign"
    assert catalog.sql("SELECT count(*) FROM rois WHERE frame_id = 'img-0'").fetchall() == [(2,)]


def test_dest_field_loads_a_copy(wb, catalog, backend, api):
    info = wb.annotate(
        ["img-2"],
        "copy",
        backend="labelstudio",
        label_schema={"ground_truth": SCHEMA["ground_truth"]},
    ).info
    task = tasks_by_frame(api, backend.project_of_run(info.run_id))["img-2"]
    submit(api, task["id"], move_box(prediction(task)))

    report = wb.load_annotations("copy", dest_field="reviewed")

    assert [(r.frame_id, r.field) for r in report.added] == [("img-2", "reviewed")]
    fields = catalog.sql(
        "SELECT field, y_min FROM rois WHERE frame_id = 'img-2' AND kind = 'box' ORDER BY field"
    ).fetchall()
    assert fields == [("ground_truth", 10.0), ("reviewed", 20.0)]
