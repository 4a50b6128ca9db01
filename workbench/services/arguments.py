"""The service's boundary: every argument of a `Workbench` method checked against its hints.

One mechanism for calls in process and over HTTP: `checked_methods` wraps each public method
of `Workbench`, and the HTTP API binds its JSON bodies through the same `check_call`, so a
value that cannot be taken is an `InvalidArgument` naming the argument and the problem before
anything is read or written (no audit row, no transaction). What is checked:

- types, from the method's type hints: str, int, float, bool, None, lists and tuples of
  them, dicts, Literals, unions, and the service's dataclasses (or their dicts, field by
  field, unknown and missing keys refused);
- booleans strictly: only `True` and `False` (JSON true/false); `None` stands for the
  parameter's default. `confirm` therefore confirms with `True` and nothing else;
- numbers: no bool for a number, finite floats only, integers within 64 bits, and the
  bounds of `NUMBER_BOUNDS` for the arguments named there;
- sizes: strings (`MAX_NAME_LENGTH` for ids, names, keys and statuses; `MAX_TEXT_LENGTH` for
  free text and values nested in dicts), `MAX_ITEMS` per list or dict, `MAX_DEPTH` levels of
  nesting; no NUL characters or lone surrogates in strings.

What a value means (an unknown id, a reason that is not one of the four) is the action's to
judge; this module only makes sure it is a value of the right shape and size.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import typing
from collections.abc import Callable, Mapping
from typing import Any

from workbench.services.errors import InvalidArgument
from workbench.services.typecheck import (
    MAX_DEPTH,
    MAX_INT,
    MAX_ITEMS,
    MAX_NAME_LENGTH,
    MAX_TEXT_LENGTH,
    TEXT_NAMES,
    Mismatch,
    checker,
    shown,
)

# The limits (defined with the checkers, in workbench.services.typecheck):
#   MAX_NAME_LENGTH  1,024 characters: ids, names, keys, statuses, uris (any string argument
#                    but free text, and any string field of the service's dataclasses)
#   MAX_TEXT_LENGTH  65,536 characters: titles, descriptions, and strings nested in dicts of
#                    any shape (attributes, view specs)
#   MAX_ITEMS        1,000,000 items in one list, or keys in one dict
#   MAX_DEPTH        32 levels of lists, dicts and dataclasses inside one argument
TEXT_ARGUMENTS = TEXT_NAMES
# Inclusive bounds of the numeric arguments with a meaning beyond "a number".
NUMBER_BOUNDS: dict[str, tuple[float, float]] = {
    "limit": (0, 100_000),
    "segment": (0, MAX_INT),
    "task_size": (1, MAX_INT),
    "segment_size": (1, MAX_INT),
    "frame_start": (0, MAX_INT),
    "frame_stop": (0, MAX_INT),
    "frame_step": (1, MAX_INT),
    "wait_timeout": (0, 7 * 24 * 3600),
    "sleep_time": (0, 3600),
}


def flag(value: object, name: str, default: bool = False) -> bool:
    """A boolean argument: `True` or `False`; `None` means `default`; anything else (1,
    "no", "false", [], {}) is an InvalidArgument rather than read by its truthiness."""
    if value is None:
        return default
    if value is True or value is False:
        return value
    raise InvalidArgument(
        f"{name} must be true or false, got {shown(value)}", argument=name.split(".")[-1]
    )


def confirmed(confirm: object) -> bool:
    """Whether a destructive action is confirmed: `confirm is True`, nothing else.

    `False` and `None` are "not confirmed" (the action raises ConfirmationRequired with its
    plan); any other value is refused as an InvalidArgument, so `confirm="no"` or `1` can
    never remove anything.
    """
    return flag(confirm, "confirm")


# -- calls ----------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class _Spec:
    name: str
    signature: inspect.Signature
    hints: dict[str, Any]


@functools.cache
def _spec(function: Callable[..., Any]) -> _Spec:
    hints = typing.get_type_hints(function)
    hints.pop("return", None)
    return _Spec(function.__name__, inspect.signature(function), hints)


def check_call(
    function: Callable[..., Any], args: tuple[Any, ...], kwargs: Mapping[str, Any]
) -> inspect.BoundArguments:
    """`function`'s arguments bound and checked against its hints (None flags -> default).

    A missing or unexpected argument raises TypeError as Python would; a value that does not
    fit raises InvalidArgument naming the method, the argument and the problem.
    """
    spec = _spec(function)
    bound = spec.signature.bind(*args, **kwargs)
    for name, value in bound.arguments.items():
        hint = spec.hints.get(name)
        if hint is None:
            continue  # `self`, and parameters without a hint
        if hint is bool and value is None:
            bound.arguments[name] = spec.signature.parameters[name].default
            continue
        try:
            checker(hint, name in TEXT_ARGUMENTS)(value, (name,), 0)
            _within_bounds(name, value)
        except Mismatch as mismatch:
            raise InvalidArgument(
                f"{spec.name}: {mismatch.where} {mismatch.problem}", argument=name
            ) from None
    return bound


def _within_bounds(name: str, value: Any) -> None:
    bounds = NUMBER_BOUNDS.get(name)
    if bounds is None or not isinstance(value, int | float) or isinstance(value, bool):
        return
    low, high = bounds
    if not low <= value <= high:
        kind = "an integer" if isinstance(value, int) else "a number"
        limits = f">= {low:g}" if high >= MAX_INT else f"between {low:g} and {high:g}"
        raise Mismatch((name,), f"must be {kind} {limits}, got {shown(value)}")


def checked[F: Callable[..., Any]](function: F) -> F:
    """`function` with its arguments checked by `check_call` on every call."""

    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        bound = check_call(function, args, kwargs)
        return function(*bound.args, **bound.kwargs)

    wrapper.__checked__ = True  # type: ignore[attr-defined]
    return typing.cast(F, wrapper)


def checked_methods[C: type](cls: C) -> C:
    """Class decorator: every public method defined in `cls` becomes `checked`."""
    for name, member in list(vars(cls).items()):
        if not name.startswith("_") and inspect.isfunction(member):
            setattr(cls, name, checked(member))
    return cls


def unchecked(function: Callable[..., Any]) -> Callable[..., Any]:
    """The function behind a `checked` one (for a caller that has just checked the call)."""
    return getattr(function, "__wrapped__", function) if _is_checked(function) else function


def _is_checked(function: Callable[..., Any]) -> bool:
    return bool(getattr(function, "__checked__", False))


__all__ = [
    "MAX_DEPTH",
    "MAX_INT",
    "MAX_ITEMS",
    "MAX_NAME_LENGTH",
    "MAX_TEXT_LENGTH",
    "NUMBER_BOUNDS",
    "TEXT_ARGUMENTS",
    "check_call",
    "checked",
    "checked_methods",
    "confirmed",
    "flag",
    "unchecked",
]
