"""Tags and saved views through the service: checked, dry-runnable, audited, confirmed.

In process on a fresh copy of the service catalog per test, then over HTTP through
`workbench.connect` against a real `workbench serve` on another copy.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import workbench
from workbench.query import load_view
from workbench.services import (
    ConfirmationRequired,
    Conflict,
    InvalidArgument,
    RemovalReport,
    RoiRef,
    SavedViewInfo,
    TagReport,
    UnknownIds,
    Workbench,
)
from workbench.services.client import WorkbenchClient
from workbench.store.catalog import Catalog

from .service_catalog import audit_rows, table_state

IMAGES = [f"img-{i}" for i in range(4)]


def frame_tags(catalog: Catalog, tag: str) -> list[str]:
    rows = catalog.cursor().execute(
        "SELECT frame_id FROM tags WHERE tag = ? AND roi_id IS NULL ORDER BY 1", [tag]
    )
    return [r[0] for r in rows.fetchall()]


def roi_tags(catalog: Catalog, tag: str) -> list[tuple[str, str]]:
    rows = catalog.cursor().execute(
        "SELECT frame_id, roi_id FROM tags WHERE tag = ? AND roi_id IS NOT NULL ORDER BY 1, 2",
        [tag],
    )
    return [(f, r) for f, r in rows.fetchall()]


# -- tags, in process ----------------------------------------------------------------------


def test_tagging_frames_counts_what_changed_and_writes_one_audit_row_each(
    wb: Workbench, catalog: Catalog
):
    before = table_state(catalog)
    preview = wb.tag_frames(IMAGES[:2], " review ", dryrun=True)
    assert preview == TagReport("tag_frames", True, "review", targets=2, changed=2)
    assert table_state(catalog) == before  # the dry run rolled its work back

    report = wb.tag_frames([*IMAGES[:2], IMAGES[0]], "review")
    assert report == TagReport("tag_frames", False, "review", targets=2, changed=2)
    assert report.describe() == "tagged 2 frames 'review'"
    assert frame_tags(catalog, "review") == IMAGES[:2]
    again = wb.tag_frames(IMAGES[1:3], "review")  # img-1 has it already
    assert (again.targets, again.changed) == (2, 1)
    assert catalog.view().match_tags("review").count() == 3

    removed = wb.untag_frames([IMAGES[0], "seq-0"], "review")
    assert removed == TagReport("untag_frames", False, "review", targets=2, changed=1)
    assert removed.describe() == "untagged 1 frame 'review'"
    assert frame_tags(catalog, "review") == IMAGES[1:3]
    assert audit_rows(catalog) == [
        ("tester", "tag_frames", 2, True, "ok"),
        ("tester", "tag_frames", 2, False, "ok"),
        ("tester", "tag_frames", 1, False, "ok"),
        ("tester", "untag_frames", 1, False, "ok"),
    ]
    (entry,) = wb.audit_log(limit=1)
    assert entry.target == {"tag": "review", "frames": {"ids": [IMAGES[0], "seq-0"], "count": 2}}


def test_unknown_frames_and_bad_tags_are_refused_and_nothing_is_tagged(
    wb: Workbench, catalog: Catalog
):
    before = table_state(catalog)
    with pytest.raises(UnknownIds) as unknown:
        wb.tag_frames([IMAGES[0], "no-such-frame"], "review")
    assert (unknown.value.kind, unknown.value.ids) == ("frames", ("no-such-frame",))
    for bad in ("", "   ", "x" * 201):
        with pytest.raises(InvalidArgument) as refused:
            wb.tag_frames(IMAGES, bad)
        assert refused.value.argument == "tag"
    assert table_state(catalog) == before
    assert [row[-1].split(":")[0] for row in audit_rows(catalog)] == ["refused"] * 4
    # values of the wrong type are stopped at the boundary: not even an audit row
    with pytest.raises(InvalidArgument) as bare:
        wb.tag_frames("img-0", "review")  # type: ignore[arg-type]
    assert bare.value.argument == "frame_ids"
    with pytest.raises(InvalidArgument) as number:
        wb.tag_frames(IMAGES, 12345)  # type: ignore[arg-type]
    assert number.value.argument == "tag"
    with pytest.raises(InvalidArgument, match="dryrun must be true or false"):
        wb.tag_frames(IMAGES, "review", dryrun="no")  # type: ignore[arg-type]
    assert len(audit_rows(catalog)) == 4
    assert table_state(catalog) == before


def test_rois_are_tagged_by_frame_and_id_and_are_not_frame_tags(wb: Workbench, catalog: Catalog):
    rois = [RoiRef("img-0", "b0"), {"frame_id": "seq-1", "roi_id": "t1"}]
    report = wb.tag_rois(rois, "check")
    assert report == TagReport("tag_rois", False, "check", targets=2, changed=2)
    assert report.describe() == "tagged 2 ROIs 'check'"
    assert roi_tags(catalog, "check") == [("img-0", "b0"), ("seq-1", "t1")]
    assert frame_tags(catalog, "check") == []
    assert catalog.view().match_tags("check").count() == 0  # match_tags reads frame tags
    assert wb.tag_rois([RoiRef("img-0", "b0")], "check").changed == 0

    with pytest.raises(UnknownIds) as unknown:
        wb.tag_rois([RoiRef("img-0", "t1")], "check")  # t1 is an ROI of seq-1, not img-0
    assert (unknown.value.kind, unknown.value.ids) == ("rois", ("img-0/t1",))
    with pytest.raises(InvalidArgument) as malformed:
        wb.tag_rois([{"frame_id": "img-0"}], "check")
    assert malformed.value.argument == "rois"

    preview = wb.untag_rois([RoiRef("img-0", "b0")], "check", dryrun=True)
    assert (preview.dryrun, preview.changed) == (True, 1)
    assert len(roi_tags(catalog, "check")) == 2
    assert wb.untag_rois([RoiRef("img-0", "b0")], "check").changed == 1
    assert roi_tags(catalog, "check") == [("seq-1", "t1")]
    (entry,) = wb.audit_log(limit=1, action="untag_rois")
    assert entry.target == {"tag": "check", "rois": [["img-0", "b0"]], "count": 1}


# -- saved views, in process ---------------------------------------------------------------


def test_views_are_saved_replaced_renamed_and_read_back(wb: Workbench, catalog: Catalog):
    view = catalog.view().match_tags("review").sort_by("timestamp")
    preview = wb.save_view("reviewed", view, dryrun=True)
    assert (preview.name, preview.dryrun, preview.replaced) == ("reviewed", True, False)
    assert wb.get_saved_views() == []

    saved = wb.save_view(" reviewed ", view)
    assert isinstance(saved, SavedViewInfo)
    assert (saved.name, saved.spec, saved.stages, saved.replaced) == (
        "reviewed",
        view.to_dict(),
        2,
        False,
    )
    wb.tag_frames(IMAGES[:2], "review")
    assert load_view(catalog, "reviewed").frame_ids() == IMAGES[:2]
    replaced = wb.save_view("reviewed", catalog.view().limit(3).to_dict())  # a spec dict
    assert replaced.replaced and replaced.stages == 1
    assert [v.name for v in wb.get_saved_views()] == ["reviewed"]

    wb.save_view("other", view)
    with pytest.raises(Conflict, match="'other' exists"):
        wb.rename_view("reviewed", "other")
    with pytest.raises(UnknownIds) as unknown:
        wb.rename_view("nothing", "new")
    assert (unknown.value.kind, unknown.value.ids) == ("saved views", ("nothing",))
    assert wb.rename_view("reviewed", "new", dryrun=True).name == "new"
    assert [v.name for v in wb.get_saved_views()] == ["other", "reviewed"]
    renamed = wb.rename_view("reviewed", "first three")
    assert (renamed.name, renamed.spec) == ("first three", replaced.spec)
    assert [v.name for v in wb.get_saved_views()] == ["first three", "other"]
    assert [(a, n, o) for _actor, a, n, _dry, o in audit_rows(catalog)] == [
        ("save_view", 1, "ok"),
        ("save_view", 1, "ok"),
        ("tag_frames", 2, "ok"),
        ("save_view", 1, "ok"),
        ("save_view", 1, "ok"),
        ("rename_view", None, "refused: Conflict: a saved view 'other' exists"),
        ("rename_view", None, "refused: UnknownIds: unknown saved views: 'nothing'"),
        ("rename_view", 1, "ok"),
        ("rename_view", 1, "ok"),
    ]


@pytest.mark.parametrize(
    "spec",
    [
        {"stages": [{"stage": "no-such-stage"}]},
        {"stages": [{"stage": "limit"}]},
        {"stages": "all of them"},
        {"stages": [{"stage": "where", "sql": 5}]},
    ],
)
def test_a_view_spec_the_query_layer_cannot_read_is_refused(
    wb: Workbench, catalog: Catalog, spec: dict[str, Any]
):
    with pytest.raises(InvalidArgument) as refused:
        wb.save_view("broken", spec)
    assert refused.value.argument == "view"
    assert wb.get_saved_views() == []


def test_saving_needs_a_name(wb: Workbench, catalog: Catalog):
    for name in ("", "  "):
        with pytest.raises(InvalidArgument) as refused:
            wb.save_view(name, catalog.view())
        assert refused.value.argument == "name"
    with pytest.raises(InvalidArgument) as refused:
        wb.rename_view("x", " ")
    assert refused.value.argument == "new_name"


@pytest.mark.parametrize("value", ["yes", "true", 1, 0, [], {}])
def test_deleting_a_view_takes_true_and_nothing_else(wb: Workbench, catalog: Catalog, value: Any):
    wb.save_view("keep", catalog.view())
    before = table_state(catalog)
    with pytest.raises(InvalidArgument) as refused:
        wb.delete_view("keep", confirm=value)
    assert refused.value.argument == "confirm"
    assert table_state(catalog) == before


def test_deleting_a_view_asks_first_and_shows_its_plan(wb: Workbench, catalog: Catalog):
    wb.save_view("gone", catalog.view())
    before = table_state(catalog)
    for value in (False, None):
        with pytest.raises(ConfirmationRequired) as asked:
            wb.delete_view("gone", confirm=value)  # type: ignore[arg-type]
        assert asked.value.plan == RemovalReport(action="delete_view", dryrun=False, views=1)
        assert asked.value.plan.describe() == "1 saved view"
    preview = wb.delete_view("gone", dryrun=True)
    assert (preview.dryrun, preview.views) == (True, 1)
    assert table_state(catalog) == before
    assert wb.delete_view("gone", confirm=True).views == 1
    assert wb.get_saved_views() == []
    with pytest.raises(UnknownIds):
        wb.delete_view("gone", confirm=True)
    assert [(a, d, o.split(":")[0]) for _actor, a, _n, d, o in audit_rows(catalog)[1:]] == [
        ("delete_view", False, "refused"),
        ("delete_view", False, "refused"),
        ("delete_view", True, "ok"),
        ("delete_view", False, "ok"),
        ("delete_view", False, "refused"),
    ]


# -- over HTTP, against `workbench serve` --------------------------------------------------


@pytest.fixture(scope="module")
def served(
    catalog_template: tuple[Path, Path],
    tmp_path_factory: pytest.TempPathFactory,
    serve_catalog: Any,
) -> Iterator[WorkbenchClient]:
    path = tmp_path_factory.mktemp("curation-http") / "served.duckdb"
    shutil.copyfile(catalog_template[0], path)
    app = serve_catalog(path)
    with workbench.connect(app.url, actor="ana") as client:
        yield client
    app.stop()


def test_tags_travel_over_http(served: WorkbenchClient):
    report = served.tag_frames(["seq-0", "seq-1"], "http-review")
    assert report == TagReport("tag_frames", False, "http-review", targets=2, changed=2)
    assert served.tag_frames(["seq-1"], "http-review", dryrun=True).changed == 0
    assert served.untag_frames(["seq-0"], "http-review").changed == 1
    rois = served.tag_rois([RoiRef("seq-2", "t2"), {"frame_id": "seq-3", "roi_id": "t3"}], "x")
    assert (rois.action, rois.changed) == ("tag_rois", 2)
    assert served.untag_rois([RoiRef("seq-2", "t2")], "x").changed == 1
    with pytest.raises(UnknownIds) as unknown:
        served.tag_frames(["nope"], "x")
    assert unknown.value.kind == "frames"
    with pytest.raises(InvalidArgument) as refused:
        served.tag_frames(["seq-0"], " ")
    assert refused.value.argument == "tag"
    entries = served.audit_log(limit=6)
    assert [(e.actor, e.action, e.outcome.split(":")[0]) for e in entries] == [
        ("ana", "tag_frames", "refused"),
        ("ana", "tag_frames", "refused"),
        ("ana", "untag_rois", "ok"),
        ("ana", "tag_rois", "ok"),
        ("ana", "untag_frames", "ok"),
        ("ana", "tag_frames", "ok"),
    ]


def test_saved_views_travel_over_http(served: WorkbenchClient, catalog: Catalog):
    # A View built on a local copy travels as its spec and is stored by the server.
    view = catalog.view().match_tags("http-review")
    saved = served.save_view("http view", view)
    assert (saved.name, saved.spec, saved.replaced) == ("http view", view.to_dict(), False)
    assert served.save_view("http view", view.to_dict()).replaced
    assert served.rename_view("http view", "http renamed").name == "http renamed"
    assert "http renamed" in [v.name for v in served.get_saved_views()]
    with pytest.raises(InvalidArgument) as bad:
        served.save_view("broken", {"stages": [{"stage": "no-such-stage"}]})
    assert bad.value.argument == "view"
    for value in ("yes", 1):
        with pytest.raises(InvalidArgument) as refused:
            served.delete_view("http renamed", confirm=value)  # type: ignore[arg-type]
        assert refused.value.argument == "confirm"
    with pytest.raises(ConfirmationRequired) as asked:
        served.delete_view("http renamed")
    assert asked.value.plan.views == 1
    assert served.delete_view("http renamed", dryrun=True).dryrun
    assert "http renamed" in [v.name for v in served.get_saved_views()]
    assert served.delete_view("http renamed", confirm=True).views == 1
    assert "http renamed" not in [v.name for v in served.get_saved_views()]
    actions = [e.action for e in served.audit_log(limit=8)]
    assert actions[:3] == ["delete_view", "delete_view", "delete_view"]
    assert "save_view" in actions and "rename_view" in actions
