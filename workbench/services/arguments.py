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

import collections.abc
import dataclasses
import functools
import inspect
import math
import types
import typing
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, Literal

from workbench.services.errors import InvalidArgument

# Ids, names, keys, statuses, uris: any string argument not listed in TEXT_ARGUMENTS.
MAX_NAME_LENGTH = 1024
# Free text (titles, descriptions) and strings nested in dicts of any shape (attributes).
MAX_TEXT_LENGTH = 65_536
# Items of one list (ids, shapes, specs) or keys of one dict.
MAX_ITEMS = 1_000_000
# Levels of lists and dicts inside one argument.
MAX_DEPTH = 32
MAX_INT = 2**63 - 1
TEXT_ARGUMENTS = frozenset({"title", "description"})
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
        f"{name} must be true or false, got {_shown(value)}", argument=name.split(".")[-1]
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
        parameter = spec.signature.parameters[name]
        if hint is bool and value is None:
            bound.arguments[name] = parameter.default
            continue
        _Check(spec.name, name).value(value, hint, name, 0)
    return bound


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


# -- values ---------------------------------------------------------------------------------


class _Mismatch(Exception):
    """A value that does not fit a hint: where it is and what is wrong (internal)."""

    def __init__(self, where: str, problem: str) -> None:
        super().__init__(f"{where} {problem}")
        self.where = where
        self.problem = problem


class _Check:
    """Checks one argument of one method; raises InvalidArgument on the first problem."""

    def __init__(self, method: str, argument: str) -> None:
        self.method = method
        self.argument = argument
        self.max_length = MAX_TEXT_LENGTH if argument in TEXT_ARGUMENTS else MAX_NAME_LENGTH

    def value(self, value: Any, hint: Any, where: str, depth: int) -> None:
        try:
            self._value(value, hint, where, depth)
        except _Mismatch as mismatch:
            raise InvalidArgument(
                f"{self.method}: {mismatch.where} {mismatch.problem}", argument=self.argument
            ) from None

    def _value(self, value: Any, hint: Any, where: str, depth: int) -> None:
        if depth > MAX_DEPTH:
            raise _Mismatch(where, f"is nested deeper than {MAX_DEPTH} levels")
        origin = typing.get_origin(hint)
        if hint is Any or hint is object:
            self._any(value, where, depth)
        elif origin in (typing.Union, types.UnionType):
            self._union(value, typing.get_args(hint), where, depth)
        elif hint is None or hint is type(None):
            if value is not None:
                raise _Mismatch(where, f"must be null, got {_shown(value)}")
        elif origin is Literal:
            choices = typing.get_args(hint)
            if not any(type(value) is type(c) and value == c for c in choices):
                raise _Mismatch(where, f"must be one of {list(choices)}, got {_shown(value)}")
        elif hint in (bool, int, float, str, datetime):
            self._scalar(value, hint, where)
        elif origin in _SEQUENCES:
            self._sequence(value, hint, where, depth)
        elif origin in _MAPPINGS or hint is dict:
            self._mapping(value, hint, where, depth)
        elif _is_dataclass(hint):
            self._dataclass(value, hint, where, depth)
        elif origin is collections.abc.Callable:
            if not callable(value):
                raise _Mismatch(where, f"must be a function, got {_shown(value)}")
        elif getattr(hint, "_is_protocol", False):
            members = [n for n in vars(hint) if not n.startswith("_")]
            if not all(hasattr(value, m) for m in members):
                raise _Mismatch(where, f"must be {describe(hint)}, got {_shown(value)}")
        elif isinstance(hint, type) and not isinstance(value, hint):
            raise _Mismatch(where, f"must be {describe(hint)}, got {_shown(value)}")

    # -- scalars ----------------------------------------------------------------------------
    def _scalar(self, value: Any, hint: type, where: str) -> None:
        if hint is bool:
            if value is not True and value is not False:
                raise _Mismatch(where, f"must be true or false, got {_shown(value)}")
        elif hint is str:
            if not isinstance(value, str):
                raise _Mismatch(where, f"must be a string, got {_shown(value)}")
            self._string(value, where, self.max_length)
        elif hint is datetime:
            if not isinstance(value, datetime | str):
                raise _Mismatch(where, f"must be an ISO date and time, got {_shown(value)}")
            if isinstance(value, str):
                self._string(value, where, self.max_length)
                try:
                    datetime.fromisoformat(value)
                except ValueError:
                    raise _Mismatch(
                        where, f"is not an ISO date and time: {_shown(value)}"
                    ) from None
        else:
            self._number(value, hint, where)

    def _number(self, value: Any, hint: type, where: str) -> None:
        exact = hint is int
        if isinstance(value, bool) or not isinstance(value, int | float):
            wanted = "an integer" if exact else "a number"
            raise _Mismatch(where, f"must be {wanted}, got {_shown(value)}")
        if exact and not isinstance(value, int):
            raise _Mismatch(where, f"must be an integer, got {_shown(value)}")
        if isinstance(value, float) and not math.isfinite(value):
            raise _Mismatch(where, f"must be a finite number, got {value}")
        low, high = NUMBER_BOUNDS.get(where, (-MAX_INT - 1, MAX_INT))
        if not low <= value <= high:
            kind = "an integer" if exact else "a number"
            bounds = f">= {low:g}" if high >= MAX_INT else f"between {low:g} and {high:g}"
            raise _Mismatch(where, f"must be {kind} {bounds}, got {_shown(value)}")

    @staticmethod
    def _string(value: str, where: str, max_length: int) -> None:
        if len(value) > max_length:
            raise _Mismatch(
                where, f"is a string of {len(value):,} characters: at most {max_length:,}"
            )
        if "\x00" in value:
            raise _Mismatch(where, "is a string with a NUL character")
        if not value.isascii():
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                raise _Mismatch(where, "is a string that is not valid Unicode") from None

    # -- containers -------------------------------------------------------------------------
    def _sequence(self, value: Any, hint: Any, where: str, depth: int) -> None:
        if not _is_sequence(value):
            raise _Mismatch(where, f"must be {describe(hint)}, got {_shown(value)}")
        _check_count(value, where)
        item = _item_hint(hint)
        if item is str and self._strings(value, where):
            return
        for i, element in enumerate(value):
            self._value(element, item, f"{where}[{i}]", depth + 1)

    def _strings(self, value: Any, where: str) -> bool:
        """A list of strings checked at C speed (a million ids); False: look one by one."""
        if set(map(type, value)) - {str}:
            return False
        longest = max(map(len, value), default=0)
        if longest > MAX_NAME_LENGTH:
            return False
        joined = "".join(value)
        return "\x00" not in joined and (joined.isascii() or _encodes(joined))

    def _mapping(self, value: Any, hint: Any, where: str, depth: int) -> None:
        if not isinstance(value, Mapping):
            raise _Mismatch(where, f"must be {describe(hint)}, got {_shown(value)}")
        _check_count(value, where)
        key_hint, value_hint = typing.get_args(hint) or (Any, Any)
        for key, item in value.items():
            self._key(key, key_hint, where)
            self._value(item, value_hint, f"{where}[{_key_text(key)}]", depth + 1)

    def _key(self, key: Any, hint: Any, where: str) -> None:
        if hint is Any and isinstance(key, int) and not isinstance(key, bool):
            hint = int  # a dict of any shape made in Python may be keyed by numbers
        if hint is int:
            # JSON keys are strings: a pixel value of mask_targets arrives as "255".
            if isinstance(key, str) and key.lstrip("-").isdigit() and len(key) < 20:
                return
            if isinstance(key, int) and not isinstance(key, bool) and abs(key) <= MAX_INT:
                return
            raise _Mismatch(where, f"must have integer keys, got the key {_shown(key)}")
        if not isinstance(key, str):
            raise _Mismatch(where, f"must have string keys, got the key {_shown(key)}")
        self._string(key, f"{where} key", MAX_NAME_LENGTH)

    def _dataclass(self, value: Any, hint: type, where: str, depth: int) -> None:
        fields = {f.name: f for f in dataclasses.fields(hint)}
        hints = _field_hints(hint)
        if isinstance(value, hint):
            for name in fields:
                self._field(getattr(value, name), hints[name], f"{where}.{name}", depth + 1)
            return
        if not isinstance(value, Mapping):
            raise _Mismatch(where, f"must be {describe(hint)}, got {_shown(value)}")
        unknown = [k for k in value if k not in fields]
        if unknown:
            shown = ", ".join(_shown(k) for k in unknown[:5])
            raise _Mismatch(where, f"has keys a {hint.__name__} does not have: {shown}")
        missing = [n for n, f in fields.items() if _required(f) and n not in value]
        if missing:
            raise _Mismatch(where, f"is a {hint.__name__} without {', '.join(missing)}")
        for name, item in value.items():
            self._field(item, hints[name], f"{where}.{name}", depth + 1)

    def _field(self, value: Any, hint: Any, where: str, depth: int) -> None:
        # A dataclass field's string is a name or an id unless the field holds free text.
        saved = self.max_length
        if where.rsplit(".", 1)[-1] in TEXT_ARGUMENTS:
            self.max_length = MAX_TEXT_LENGTH
        try:
            self._value(value, hint, where, depth)
        finally:
            self.max_length = saved

    def _union(self, value: Any, options: tuple[Any, ...], where: str, depth: int) -> None:
        fitting = [o for o in options if _could_be(value, o)]
        for option in fitting[:-1]:
            try:
                self._value(value, option, where, depth)
                return
            except _Mismatch:
                continue
        if fitting:
            self._value(value, fitting[-1], where, depth)  # its problem is the one shown
            return
        wanted = ", ".join(describe(o) for o in options)
        raise _Mismatch(where, f"must be {wanted}; got {_shown(value)}")

    def _any(self, value: Any, where: str, depth: int) -> None:
        """A value of any shape: only its sizes, numbers and strings are checked."""
        if isinstance(value, str):
            self._string(value, where, MAX_TEXT_LENGTH)
        elif isinstance(value, float):
            if not math.isfinite(value):
                raise _Mismatch(where, f"must be a finite number, got {value}")
        elif isinstance(value, int) and not isinstance(value, bool):
            if abs(value) > MAX_INT:
                raise _Mismatch(where, f"is an integer beyond 64 bits: {_shown(value)}")
        elif isinstance(value, Mapping):
            self._mapping(value, dict[Any, Any], where, depth)
        elif _is_sequence(value):
            _check_count(value, where)
            if not _plain_numbers(value):
                for i, element in enumerate(value):
                    self._value(element, Any, f"{where}[{i}]", depth + 1)


_SEQUENCES = (list, tuple, collections.abc.Sequence)
_MAPPINGS = (dict, collections.abc.Mapping)


def _is_sequence(value: Any) -> bool:
    return isinstance(value, list | tuple) or (
        isinstance(value, collections.abc.Sequence)
        and not isinstance(value, str | bytes | bytearray | memoryview)
    )


def _key_text(key: Any) -> str:
    text = repr(key)
    return text if len(text) <= 40 else f"<{_shown(key)}>"


def _item_hint(hint: Any) -> Any:
    """What each item of a list hint is: list[X], Sequence[X] and tuple[X, ...] -> X."""
    args = typing.get_args(hint)
    if len(args) == 1:
        return args[0]
    if len(args) == 2 and args[1] is Ellipsis:
        return args[0]
    return Any


def _check_count(value: Any, where: str) -> None:
    if len(value) > MAX_ITEMS:
        raise _Mismatch(where, f"has {len(value):,} items: at most {MAX_ITEMS:,}")


def _plain_numbers(value: Any) -> bool:
    """A list of finite numbers within 64 bits (geometry, RLE counts), checked at C speed."""
    kinds = set(map(type, value))
    if kinds <= {float}:
        return all(map(math.isfinite, value))
    if kinds <= {int}:
        return max(map(abs, value), default=0) <= MAX_INT
    return False


def _encodes(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _is_dataclass(hint: Any) -> typing.TypeGuard[type]:
    return isinstance(hint, type) and dataclasses.is_dataclass(hint)


def _required(field: dataclasses.Field[Any]) -> bool:
    return field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING


@functools.cache
def _field_hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _could_be(value: Any, hint: Any) -> bool:
    """Whether `value` is of the kind `hint` names (list, dict, string...), before its items
    are looked at: picks which member of a union explains a mismatch best."""
    origin = typing.get_origin(hint)
    if hint is Any or hint is object:
        return True
    if hint is None or hint is type(None):
        return value is None
    if origin in (typing.Union, types.UnionType):
        return any(_could_be(value, o) for o in typing.get_args(hint))
    if origin is Literal:
        return any(type(value) is type(c) for c in typing.get_args(hint))
    if hint is bool:
        return isinstance(value, bool)
    if hint in (int, float):
        return isinstance(value, int | float) and not isinstance(value, bool)
    if hint in (str, datetime):
        return isinstance(value, str | datetime)
    if origin in _SEQUENCES:
        return _is_sequence(value)
    if origin in _MAPPINGS or hint is dict:
        return isinstance(value, Mapping)
    if _is_dataclass(hint):
        return isinstance(value, Mapping | hint)
    if origin is collections.abc.Callable:
        return callable(value)
    if getattr(hint, "_is_protocol", False):
        return any(hasattr(value, n) for n in vars(hint) if not n.startswith("_"))
    return isinstance(hint, type) and isinstance(value, hint)


def describe(hint: Any) -> str:
    """A hint in words, for error messages: "a list of strings", "a SceneSpec (or its dict)"."""
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if hint is None or hint is type(None):
        return "null"
    if origin in (typing.Union, types.UnionType):
        return " or ".join(describe(a) for a in args)
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in args)
    if origin in _SEQUENCES:
        return f"a list of {_plural(args[0])}" if args else "a list"
    if origin in _MAPPINGS or hint is dict:
        return "a dict"
    if _is_dataclass(hint):
        return f"a {hint.__name__} (or its dict)"
    if origin is collections.abc.Callable:
        return "a function"
    if getattr(hint, "_is_protocol", False):
        return f"an object with {', '.join(n for n in vars(hint) if not n.startswith('_'))}()"
    return _NAMES.get(hint, getattr(hint, "__name__", str(hint)))


_NAMES: dict[Any, str] = {
    bool: "true or false",
    int: "an integer",
    float: "a number",
    str: "a string",
    datetime: "an ISO date and time",
    Any: "a value",
}


def _plural(hint: Any) -> str:
    plain = {str: "strings", int: "integers", float: "numbers", bool: "booleans"}
    if hint in plain:
        return plain[hint]
    if _is_dataclass(hint):
        return f"{hint.__name__}s (or their dicts)"
    return "values" if hint is Any else f"({describe(hint)})"


def _shown(value: Any) -> str:
    """A value in an error message: its type, and the value itself when it is short."""
    kind = {bool: "a boolean", int: "an integer", float: "a number", str: "a string"}.get(
        type(value), f"a {type(value).__name__}"
    )
    if value is None:
        return "null"
    if isinstance(value, bool | int | float):
        text = repr(value)
        return f"{kind} {text}" if len(text) <= 40 else f"{kind} of {len(text)} digits"
    if isinstance(value, str):
        return f"{kind} {value!r}" if len(value) <= 40 else f"{kind} of {len(value):,} characters"
    if isinstance(value, list | tuple | Mapping):
        return f"{'a dict' if isinstance(value, Mapping) else 'a list'} of {len(value):,} items"
    return kind
