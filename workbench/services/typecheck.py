"""Checkers compiled from type hints: does a value fit `list[str]`, `SceneSpec | None`...?

`checker(hint)` turns a hint into a function `check(value, path, depth)` once (cached), so
checking ten thousand shapes costs a few function calls per field rather than a walk over
the hint each time. A value that does not fit raises `Mismatch` with the path to the part at
fault (`scenes[3].frame_ids[0]`) and the problem in words. The limits are those of
workbench.services.arguments, which is where they are documented.

What a hint takes:
- str, int, float, bool, None, datetime (or its ISO string), Literal choices, unions;
- lists, tuples and other sequences (not strings), dicts and other mappings;
- the service's dataclasses, or their dicts checked field by field (unknown keys and
  missing required keys refused); `D | Mapping[str, Any]`, the way a signature says "D or
  its dict", is checked as D;
- Callable (any callable), a Protocol (an object with its members), Any (any value whose
  strings, numbers and sizes are within the limits).
"""

from __future__ import annotations

import collections.abc
import dataclasses
import functools
import math
import types
import typing
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, Literal

from workbench.services.errors import InvalidArgument

MAX_NAME_LENGTH = 1024
MAX_TEXT_LENGTH = 65_536
MAX_ITEMS = 1_000_000
MAX_DEPTH = 32
MAX_INT = 2**63 - 1
TEXT_NAMES = frozenset({"title", "description"})

# A path into an argument: its segments from the argument's name down ("scenes", 3, ...).
Path = tuple[str | int, ...]
Checker = Callable[[Any, Path, int], None]


class Mismatch(InvalidArgument):
    """A value that does not fit its hint: where, and what is wrong. The service's boundary
    (workbench.services.arguments) raises it again as an InvalidArgument naming the method."""

    def __init__(self, path: Path, problem: str) -> None:
        self.where = render(path)
        self.problem = problem
        super().__init__(f"{self.where} {problem}", argument=str(path[0]) if path else None)


def render(path: Path) -> str:
    text = str(path[0]) if path else "value"
    for segment in path[1:]:
        if isinstance(segment, int):
            text += f"[{segment}]"
        elif segment.startswith("["):
            text += segment
        else:
            text += f".{segment}"
    return text


@functools.cache
def checker(hint: Any, text: bool = False) -> Checker:
    """The checker of `hint`; `text`: its strings may be free text (MAX_TEXT_LENGTH)."""
    origin = typing.get_origin(hint)
    if hint is Any or hint is object:
        return _any
    if origin in (typing.Union, types.UnionType):
        return _union(typing.get_args(hint), text)
    if hint is None or hint is type(None):
        return _none
    if origin is Literal:
        return _literal(typing.get_args(hint))
    if hint is bool:
        return _bool
    if hint is int or hint is float:
        return _number(exact=hint is int)
    if hint is str:
        return _string(MAX_TEXT_LENGTH if text else MAX_NAME_LENGTH)
    if hint is datetime:
        return _datetime
    if origin in SEQUENCES:
        return _sequence(hint, text)
    if origin in MAPPINGS or hint is dict:
        key, value = typing.get_args(hint) or (Any, Any)
        return _mapping(key, checker(value, text), hint)
    if is_dataclass(hint):
        return _dataclass(hint)
    if origin is collections.abc.Callable:
        return _callable
    if getattr(hint, "_is_protocol", False):
        return _protocol(hint)
    if isinstance(hint, type):
        return _instance(hint)
    return _any


SEQUENCES = (list, tuple, collections.abc.Sequence)
MAPPINGS = (dict, collections.abc.Mapping)


# -- scalars --------------------------------------------------------------------------------


def _none(value: Any, path: Path, depth: int) -> None:
    if value is not None:
        raise Mismatch(path, f"must be null, got {shown(value)}")


def _bool(value: Any, path: Path, depth: int) -> None:
    if value is not True and value is not False:
        raise Mismatch(path, f"must be true or false, got {shown(value)}")


def _literal(choices: tuple[Any, ...]) -> Checker:
    def check(value: Any, path: Path, depth: int) -> None:
        if not any(type(value) is type(c) and value == c for c in choices):
            raise Mismatch(path, f"must be one of {list(choices)}, got {shown(value)}")

    return check


def _number(*, exact: bool) -> Checker:
    wanted = "an integer" if exact else "a number"

    def check(value: Any, path: Path, depth: int) -> None:
        kind = type(value)
        if kind is int:
            if not -MAX_INT - 1 <= value <= MAX_INT:
                raise Mismatch(path, f"is an integer beyond 64 bits: {shown(value)}")
        elif kind is float and not exact:
            if not math.isfinite(value):
                raise Mismatch(path, f"must be a finite number, got {value}")
        else:
            raise Mismatch(path, f"must be {wanted}, got {shown(value)}")

    return check


def _string(max_length: int) -> Checker:
    def check(value: Any, path: Path, depth: int) -> None:
        if type(value) is not str:
            raise Mismatch(path, f"must be a string, got {shown(value)}")
        string(value, path, max_length)

    return check


def string(value: str, path: Path, max_length: int) -> None:
    if len(value) > max_length:
        raise Mismatch(path, f"is a string of {len(value):,} characters: at most {max_length:,}")
    if "\x00" in value:
        raise Mismatch(path, "is a string with a NUL character")
    if not value.isascii() and not _encodes(value):
        raise Mismatch(path, "is a string that is not valid Unicode")


def _datetime(value: Any, path: Path, depth: int) -> None:
    if isinstance(value, datetime):
        return
    if not isinstance(value, str):
        raise Mismatch(path, f"must be an ISO date and time, got {shown(value)}")
    string(value, path, MAX_NAME_LENGTH)
    try:
        datetime.fromisoformat(value)
    except ValueError:
        raise Mismatch(path, f"is not an ISO date and time: {shown(value)}") from None


def _callable(value: Any, path: Path, depth: int) -> None:
    if not callable(value):
        raise Mismatch(path, f"must be a function, got {shown(value)}")


def _protocol(hint: type) -> Checker:
    members = [n for n in vars(hint) if not n.startswith("_")]

    def check(value: Any, path: Path, depth: int) -> None:
        if not all(hasattr(value, m) for m in members):
            raise Mismatch(path, f"must be {describe(hint)}, got {shown(value)}")

    return check


def _instance(hint: type) -> Checker:
    def check(value: Any, path: Path, depth: int) -> None:
        if not isinstance(value, hint):
            raise Mismatch(path, f"must be {describe(hint)}, got {shown(value)}")

    return check


# -- containers -----------------------------------------------------------------------------


def _sequence(hint: Any, text: bool) -> Checker:
    item_hint = item_of(hint)
    item = checker(item_hint, text)
    fast = _FAST_ITEMS.get(item_hint) if not text else None

    def check(value: Any, path: Path, depth: int) -> None:
        if not is_sequence(value):
            raise Mismatch(path, f"must be {describe(hint)}, got {shown(value)}")
        count(value, path)
        if depth >= MAX_DEPTH:
            raise Mismatch(path, f"is nested deeper than {MAX_DEPTH} levels")
        if fast is not None and fast(value):
            return
        for i, element in enumerate(value):
            item(element, (*path, i), depth + 1)

    return check


def _mapping(key_hint: Any, item: Checker, hint: Any) -> Checker:
    def check(value: Any, path: Path, depth: int) -> None:
        if not isinstance(value, Mapping):
            raise Mismatch(path, f"must be {describe(hint)}, got {shown(value)}")
        count(value, path)
        if depth >= MAX_DEPTH:
            raise Mismatch(path, f"is nested deeper than {MAX_DEPTH} levels")
        for key, element in value.items():
            _key(key, key_hint, path)
            item(element, (*path, f"[{key_text(key)}]"), depth + 1)

    return check


def _key(key: Any, hint: Any, path: Path) -> None:
    if type(key) is int and hint is not str:
        if abs(key) > MAX_INT:
            raise Mismatch(path, f"has a key beyond 64 bits: {shown(key)}")
        return
    if hint is int:
        # JSON keys are strings: a pixel value of mask_targets arrives as "255".
        if isinstance(key, str) and key.lstrip("-").isdigit() and len(key) < 20:
            return
        raise Mismatch(path, f"must have integer keys, got the key {shown(key)}")
    if not isinstance(key, str):
        raise Mismatch(path, f"must have string keys, got the key {shown(key)}")
    string(key, (*path, "key"), MAX_NAME_LENGTH)


def _dataclass(cls: type) -> Checker:
    hints = typing.get_type_hints(cls)
    fields = {f.name: checker(hints[f.name], f.name in TEXT_NAMES) for f in dataclasses.fields(cls)}
    needed = [f.name for f in dataclasses.fields(cls) if required(f)]

    def check(value: Any, path: Path, depth: int) -> None:
        if depth >= MAX_DEPTH:
            raise Mismatch(path, f"is nested deeper than {MAX_DEPTH} levels")
        if isinstance(value, cls):
            for name, field in fields.items():
                field(getattr(value, name), (*path, name), depth + 1)
            return
        if not isinstance(value, Mapping):
            raise Mismatch(path, f"must be {describe(cls)}, got {shown(value)}")
        unknown = [k for k in value if k not in fields]
        if unknown:
            listed = ", ".join(key_text(k) for k in unknown[:5])
            raise Mismatch(path, f"has keys a {cls.__name__} does not have: {listed}")
        missing = [n for n in needed if n not in value]
        if missing:
            raise Mismatch(path, f"is a {cls.__name__} without {', '.join(missing)}")
        for name, element in value.items():
            fields[name](element, (*path, name), depth + 1)

    return check


def _union(options: tuple[Any, ...], text: bool) -> Checker:
    others = [o for o in options if o is not type(None)]
    as_dataclass = _dataclass_or_its_dict(others)
    if as_dataclass is not None:
        others = [as_dataclass]
    if len(others) == 1:
        inner = checker(others[0], text)
        return _optional(inner) if len(others) < len(options) else inner
    compiled = [(could_be(o), checker(o, text)) for o in options]
    wanted = " or ".join(describe(o) for o in options)

    def check(value: Any, path: Path, depth: int) -> None:
        fitting = [c for test, c in compiled if test(value)]
        for option in fitting[:-1]:
            try:
                option(value, path, depth)
                return
            except Mismatch:
                continue
        if not fitting:
            raise Mismatch(path, f"must be {wanted}; got {shown(value)}")
        fitting[-1](value, path, depth)  # its problem is the one shown

    return check


def _dataclass_or_its_dict(options: list[Any]) -> Any:
    """D for `D | Mapping[str, Any]`: the dict is D's own (`to_dict()`), checked as D."""
    if len(options) != 2:
        return None
    classes = [o for o in options if is_dataclass(o)]
    dicts = [o for o in options if typing.get_origin(o) in MAPPINGS]
    if len(classes) == 1 and len(dicts) == 1 and typing.get_args(dicts[0]) == (str, Any):
        return classes[0]
    return None


def _optional(inner: Checker) -> Checker:
    def check(value: Any, path: Path, depth: int) -> None:
        if value is not None:
            inner(value, path, depth)

    return check


def _any(value: Any, path: Path, depth: int) -> None:
    """A value of any shape: only its sizes, numbers and strings are checked."""
    kind = type(value)
    if kind is str:
        string(value, path, MAX_TEXT_LENGTH)
    elif kind is float or kind is int:
        _NUMBER(value, path, depth)
    elif isinstance(value, Mapping):
        _ANY_MAPPING(value, path, depth)
    elif is_sequence(value):
        count(value, path)
        if depth >= MAX_DEPTH:
            raise Mismatch(path, f"is nested deeper than {MAX_DEPTH} levels")
        if not plain_numbers(value):
            for i, element in enumerate(value):
                _any(element, (*path, i), depth + 1)


_ANY_MAPPING = _mapping(Any, _any, dict)
_NUMBER = _number(exact=False)


# -- helpers --------------------------------------------------------------------------------


def is_sequence(value: Any) -> bool:
    return isinstance(value, list | tuple) or (
        isinstance(value, collections.abc.Sequence)
        and not isinstance(value, str | bytes | bytearray | memoryview)
    )


def is_dataclass(hint: Any) -> typing.TypeGuard[type]:
    return isinstance(hint, type) and dataclasses.is_dataclass(hint)


def required(field: dataclasses.Field[Any]) -> bool:
    return field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING


def item_of(hint: Any) -> Any:
    """What each item of a list hint is: list[X], Sequence[X] and tuple[X, ...] -> X."""
    args = typing.get_args(hint)
    if len(args) == 1 or (len(args) == 2 and args[1] is Ellipsis):
        return args[0]
    return Any


def count(value: Any, path: Path) -> None:
    if len(value) > MAX_ITEMS:
        raise Mismatch(path, f"has {len(value):,} items: at most {MAX_ITEMS:,}")


def _strings(value: Any) -> bool:
    """A list of ids checked at C speed (a million ids); False: look one by one."""
    if set(map(type, value)) - {str}:
        return False
    if max(map(len, value), default=0) > MAX_NAME_LENGTH:
        return False
    joined = "".join(value)
    return "\x00" not in joined and (joined.isascii() or _encodes(joined))


def _ints(value: Any) -> bool:
    return set(map(type, value)) <= {int} and max(map(abs, value), default=0) <= MAX_INT


def plain_numbers(value: Any) -> bool:
    """A list of finite numbers within 64 bits (geometry, RLE counts), checked at C speed."""
    kinds = set(map(type, value))
    if kinds <= {float}:
        return all(map(math.isfinite, value))
    if kinds <= {int}:
        return max(map(abs, value), default=0) <= MAX_INT
    return False


_FAST_ITEMS: dict[Any, Callable[[Any], bool]] = {str: _strings, float: plain_numbers, int: _ints}


def _encodes(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


@functools.cache
def could_be(hint: Any) -> Callable[[Any], bool]:
    """Whether a value is of the kind `hint` names (list, dict, string...), before its items
    are looked at: picks the member of a union whose problem explains a mismatch best."""
    origin = typing.get_origin(hint)
    if hint is Any or hint is object:
        return lambda value: True
    if hint is None or hint is type(None):
        return lambda value: value is None
    if origin in (typing.Union, types.UnionType):
        tests = [could_be(o) for o in typing.get_args(hint)]
        return lambda value: any(t(value) for t in tests)
    if origin is Literal:
        kinds = {type(c) for c in typing.get_args(hint)}
        return lambda value: type(value) in kinds
    if hint is bool:
        return lambda value: isinstance(value, bool)
    if hint in (int, float):
        return lambda value: isinstance(value, int | float) and not isinstance(value, bool)
    if hint in (str, datetime):
        return lambda value: isinstance(value, str | datetime)
    if origin in SEQUENCES:
        return is_sequence
    if origin in MAPPINGS or hint is dict:
        return lambda value: isinstance(value, Mapping)
    if is_dataclass(hint):
        return lambda value: isinstance(value, Mapping | hint)
    if origin is collections.abc.Callable:
        return callable
    if getattr(hint, "_is_protocol", False):
        members = [n for n in vars(hint) if not n.startswith("_")]
        return lambda value: any(hasattr(value, n) for n in members)
    if isinstance(hint, type):
        return lambda value: isinstance(value, hint)
    return lambda value: False


# -- words ----------------------------------------------------------------------------------


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
    if origin in SEQUENCES:
        return f"a list of {_plural(args[0])}" if args else "a list"
    if origin in MAPPINGS or hint is dict:
        return "a dict"
    if is_dataclass(hint):
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
    if is_dataclass(hint):
        return f"{hint.__name__}s (or their dicts)"
    return "values" if hint is Any else f"({describe(hint)})"


def key_text(key: Any) -> str:
    text = repr(key)
    return text if len(text) <= 40 else f"<{shown(key)}>"


def shown(value: Any) -> str:
    """A value in an error message: its type, and the value itself when it is short."""
    if value is None:
        return "null"
    kind = {bool: "a boolean", int: "an integer", float: "a number", str: "a string"}.get(
        type(value), f"a {type(value).__name__}"
    )
    if isinstance(value, bool | int | float):
        text = repr(value)
        return f"{kind} {text}" if len(text) <= 40 else f"{kind} of {len(text)} digits"
    if isinstance(value, str):
        return f"{kind} {value!r}" if len(value) <= 40 else f"{kind} of {len(value):,} characters"
    if isinstance(value, list | tuple | Mapping):
        return f"{'a dict' if isinstance(value, Mapping) else 'a list'} of {len(value):,} items"
    return kind
