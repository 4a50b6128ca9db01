"""Keypoints ROIs: one ring of points with a visibility of 0, 1 or 2 each; a label's names
and skeleton; the box of the labelled points."""

from __future__ import annotations

import pytest

from workbench.errors import RecordError
from workbench.model.keypoints import keypoint_label, keypoint_triplets
from workbench.model.records import Roi, bbox_of
from workbench.model.validation import check_roi


def _roi(**values) -> Roi:
    fields = {"id": "k", "kind": "keypoints", "labels": ["person"]}
    return Roi(**{**fields, **values})


def test_a_keypoints_roi_is_bounded_by_its_labelled_points():
    roi = _roi(geometry=[[5, 6, 0, 0, 12, 2]], visibility=[2, 0, 1])
    assert check_roi(roi, "here") == []
    assert bbox_of(roi) == (5, 2, 12, 6)  # the unlabelled point at 0, 0 is left out
    assert bbox_of(_roi(geometry=[[5, 6]], visibility=[0])) is None
    assert bbox_of(_roi(geometry=[[5, 6]], visibility=[0], bbox=(1, 2, 3, 4))) == (1, 2, 3, 4)


@pytest.mark.parametrize(
    ("values", "problem"),
    [
        ({"geometry": [[1, 2, 3, 4]]}, "2 keypoints need 2 visibility values, got none"),
        ({"geometry": [[1, 2, 3, 4]], "visibility": [2]}, "2 keypoints need 2 visibility"),
        ({"geometry": [[1, 2]], "visibility": [3]}, "visibility must be 0, 1 or 2, got 3"),
        ({"geometry": [[1, 2]], "visibility": [True]}, "visibility must be 0, 1 or 2, got True"),
        ({"geometry": [[1, 2], [3, 4]], "visibility": [2]}, "one ring of points, got 2"),
        ({"geometry": [], "visibility": []}, "a keypoints needs coordinates"),
        ({"kind": "point", "geometry": [[1, 2]], "visibility": [2]}, "a point has no keypoint"),
    ],
)
def test_malformed_keypoints_are_refused_naming_the_record(values, problem):
    with pytest.raises(RecordError, match=problem) as caught:
        check_roi(_roi(**values), "file.json, annotation 7")
    assert str(caught.value).startswith("file.json, annotation 7: ")


def test_a_label_names_its_points_and_joins_them_by_number():
    label = keypoint_label("person", ["nose", "eye"], [[1, 2]], "here")
    assert (label.names, label.skeleton) == (("nose", "eye"), ((1, 2),))
    assert keypoint_label("person", ["nose"], None, "here").skeleton == ()
    for names, skeleton, problem in [
        ([], [], "non-empty list of point names"),
        (["nose", 3], [], "every keypoint name must be a non-empty string"),
        (["nose", "nose"], [], "appears twice"),
        (["nose", "eye"], [[0, 1]], "point numbers from 1 to 2"),
        (["nose", "eye"], [[1, 2, 3]], "point numbers from 1 to 2"),
        (["nose", "eye"], "1-2", "point numbers from 1 to 2"),
    ]:
        with pytest.raises(RecordError, match=problem):
            keypoint_label("person", names, skeleton, "here")


def test_triplets_keep_whole_numbers_whole():
    assert keypoint_triplets([5.0, 6.5, 0.0, 0.0], [2, 0]) == [5, 6.5, 2, 0, 0, 0]
    assert [type(v) for v in keypoint_triplets([5.0, 6.5], [1])] == [int, float, int]
