"""The service's boundary in process: every Workbench method checks its arguments first."""

from __future__ import annotations

import inspect
import math

import pytest

from workbench.services import InvalidArgument, SceneSpec, Shape, Workbench, wire
from workbench.services.arguments import (
    MAX_DEPTH,
    MAX_ITEMS,
    MAX_NAME_LENGTH,
    MAX_TEXT_LENGTH,
    check_call,
    confirmed,
    flag,
)


def refused(method: str, *args, **kwargs) -> InvalidArgument:
    with pytest.raises(InvalidArgument) as caught:
        check_call(getattr(Workbench, method), (None, *args), kwargs)
    return caught.value


def test_every_public_method_and_every_route_is_checked():
    public = [n for n, m in vars(Workbench).items() if inspect.isfunction(m) and n[0] != "_"]
    assert public and all(getattr(getattr(Workbench, n), "__checked__", False) for n in public)
    assert all(getattr(m.call, "__checked__", False) for m in wire.METHODS.values())
    # the checks keep the signature the client mirrors
    assert "confirm" in inspect.signature(Workbench.invalidate_scenes).parameters


@pytest.mark.parametrize("value", ["no", "false", "true", 1, 0, [], {}, 1.0, "True"])
def test_only_true_and_false_are_booleans(value):
    with pytest.raises(InvalidArgument, match="confirm must be true or false") as caught:
        confirmed(value)
    assert caught.value.argument == "confirm"
    error = refused("delete_inputs", ["u"], confirm=value)
    assert error.argument == "confirm"


def test_none_is_a_flags_default():
    assert confirmed(True) is True
    assert confirmed(False) is False and confirmed(None) is False
    assert flag(None, "allow_additions", default=True) is True
    bound = check_call(Workbench.delete_inputs, (None, ["u"]), {"confirm": None, "dryrun": None})
    assert bound.arguments["confirm"] is False and bound.arguments["dryrun"] is False


def test_types_are_named_with_the_argument():
    error = refused("create_project", 12345)
    assert error.argument == "external_id"
    assert str(error) == "create_project: external_id must be a string, got an integer 12345"
    assert refused("audit_log", limit=True).argument == "limit"  # a bool is not a number
    assert "must be an integer" in str(refused("audit_log", limit=2.5))
    assert "between 0 and 100000" in str(refused("audit_log", limit=10**6))
    assert "uuids[1] must be a string" in str(refused("get_scenes_by_uuids", ["a", 5]))
    error = refused("create_scenes", [{"frame_ids": ["a"]}, {"frame_ids": [3]}])
    assert "scenes[1].frame_ids[0] must be a string" in str(error)


def test_numbers_are_finite():
    for value in (math.nan, math.inf, -math.inf):
        error = refused("create_inputs", [], "p", wait_timeout=value)
        assert error.argument == "wait_timeout"
    shape = Shape("f", "g", "box", "car", geometry=((0.0, 1.0, math.nan, 2.0),))
    error = refused("save_task_annotations", "t", [shape])
    assert "shapes[0].geometry[0][2] must be a finite number" in str(error)
    assert "beyond 64 bits" in str(refused("get_task", "t", segment=2**64))


def test_strings_have_a_length_and_no_nul_or_lone_surrogate():
    assert refused("create_project", "x" * (MAX_NAME_LENGTH + 1)).argument == "external_id"
    check_call(Workbench.create_project, (None, "p"), {"title": "t" * MAX_TEXT_LENGTH})
    assert refused("create_project", "p", title="t" * (MAX_TEXT_LENGTH + 1)).argument == "title"
    assert "NUL" in str(refused("create_project", "a\x00b"))
    assert "not valid Unicode" in str(refused("get_scenes_by_uuids", ["ok", "\udc80"]))
    assert "characters: at most" in str(refused("find_scenes", frame_ids=["x" * 2000]))


def test_lists_dicts_and_nesting_are_bounded():
    error = refused("find_scenes", frame_ids=["f"] * (MAX_ITEMS + 1))
    assert "1,000,001 items" in str(error)
    deep: list = []
    for _ in range(MAX_DEPTH + 2):
        deep = [deep]
    assert "nested deeper" in str(refused("annotate", {"stages": deep}, "k"))
    assert refused("annotate", ["f"], "k", mask_targets={"x": "car"}).argument == "mask_targets"
    check_call(Workbench.annotate, (None, ["f"], "k"), {"mask_targets": {"255": "car", 0: "bg"}})


def test_dataclass_dicts_are_checked_field_by_field():
    assert "does not have: 'colour'" in str(refused("create_scenes", [{"colour": "red"}]))
    assert "without frame_id, field, kind" in str(refused("save_task_annotations", "t", [{}]))
    check_call(
        Workbench.create_scenes, (None, [SceneSpec(context_id="c"), {"frame_ids": ["f"]}]), {}
    )


def test_unions_explain_the_member_that_fits_best():
    error = refused("annotate", 5, "k")
    assert "view must be" in str(error) and "a list of strings or a dict" in str(error)
    assert "label_schema[0] must be a string" in str(
        refused("annotate", ["f"], "k", label_schema=[1])
    )
    assert "unexpected must be one of" in str(refused("load_annotations", "k", unexpected="ask"))


def test_a_checked_call_changes_nothing(wb):
    before = wb.audit_log(limit=1)
    with pytest.raises(InvalidArgument):
        wb.create_project(12345)  # type: ignore[arg-type]
    with pytest.raises(InvalidArgument):
        wb.invalidate_scenes(["u"], "duplicate", confirm="no")  # type: ignore[arg-type]
    assert wb.audit_log(limit=1) == before
    assert wb.get_projects() == []
