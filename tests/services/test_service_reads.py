"""Reads the app needs: which scenes hold some frames, which backends a service has."""

import pytest

from workbench.backends import LocalBackend
from workbench.services import InvalidArgument

from .service_catalog import audit_rows


def test_find_scenes_by_frames_and_contexts(wb, catalog):
    sequence = wb.create_scenes_from_contexts(["drive-1"])[0]
    single = wb.create_scenes_from_frames(["img-0"])[0]
    other = wb.create_scenes_from_frames(["img-1"])[0]
    before = audit_rows(catalog)

    assert [s.uuid for s in wb.find_scenes(frame_ids=["seq-2"])] == [sequence.uuid]
    found = wb.find_scenes(frame_ids=["img-0", "seq-4", "no-such-frame"])
    assert {s.uuid for s in found} == {sequence.uuid, single.uuid}
    assert [s.uuid for s in wb.find_scenes(context_ids=["drive-1"])] == [sequence.uuid]
    assert wb.find_scenes(frame_ids=["img-3"]) == []
    assert wb.find_scenes() == []
    assert other.uuid not in {s.uuid for s in found}
    assert audit_rows(catalog) == before  # a read: not audited


def test_find_scenes_lists_invalidated_scenes_with_their_status(wb):
    scene = wb.create_scenes_from_frames(["img-2"])[0]
    wb.invalidate_scenes([scene.uuid], "duplicate", confirm=True)
    (found,) = wb.find_scenes(frame_ids=["img-2"])
    assert found.status == "invalidated:duplicate" and found.invalidated


def test_find_scenes_refuses_a_bare_string(wb):
    with pytest.raises(InvalidArgument, match="frame_ids"):
        wb.find_scenes(frame_ids="img-0")


def test_get_backends_names_each_backend_with_its_capabilities(wb):
    backends = wb.get_backends()
    assert list(backends) == ["local"]
    assert backends["local"] == LocalBackend.capabilities
    assert "detections" in backends["local"].label_types
