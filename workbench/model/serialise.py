"""Serialisation of the dataclasses that cross the service boundary: `to_dict()` gives plain
JSON values, `from_dict()` reads them back by the class's type hints.

This is the wire format of the HTTP API (docs/http-api.md) and of what the catalog stores as
JSON (run configs, label schemas): tuples and other sequences are lists, datetimes ISO
strings, dict keys strings, nested dataclasses dicts. `from_dict` refuses unknown keys and
values that fit no hint with a SerialisationError naming the class and field. Arguments that
arrive over HTTP are checked against the same hints first, with their limits, by
workbench.services.typecheck.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Self

from workbench.errors import SerialisationError


class Serialisable:
    """`to_dict()` / `from_dict()` for frozen dataclasses, driven by their type hints.

    Tuples become lists, datetimes ISO strings, dict keys strings, nested dataclasses dicts;
    `from_dict` converts back using the annotations, so `T.from_dict(t.to_dict()) == t`.
    """

    def to_dict(self) -> dict[str, Any]:
        return {f.name: _dump(getattr(self, f.name)) for f in dataclasses.fields(self)}  # type: ignore[arg-type]

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Self:
        if not isinstance(data, Mapping):
            raise SerialisationError(f"{cls.__name__}: expected a dict, got {type(data).__name__}")
        hints = typing.get_type_hints(cls)
        known = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
        unknown = sorted(set(data) - known)
        if unknown:
            raise SerialisationError(f"{cls.__name__}: unknown keys {', '.join(unknown)}")
        kwargs = {
            name: _load(hints[name], value, f"{cls.__name__}.{name}")
            for name, value in data.items()
        }
        try:
            return cls(**kwargs)
        except TypeError as exc:
            raise SerialisationError(f"{cls.__name__}: {exc}") from exc


def _dump(value: Any) -> Any:
    if isinstance(value, Serialisable):
        return value.to_dict()
    if isinstance(value, tuple | list | frozenset):
        return [_dump(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): _dump(v) for k, v in value.items()}
    if isinstance(value, datetime):
        return value.isoformat()
    return value


def _load(hint: Any, value: Any, where: str) -> Any:
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if hint is Any or value is None:
        return value
    if origin in (typing.Union, types.UnionType):
        for arg in args:
            if arg is not type(None):
                try:
                    return _load(arg, value, where)
                except (SerialisationError, TypeError, ValueError):
                    continue
        raise SerialisationError(f"{where}: {value!r} matches none of {hint}")
    if origin is typing.Literal:
        if value not in args:
            raise SerialisationError(f"{where}: {value!r} is not one of {args}")
        return value
    if origin in (tuple, Sequence):  # a ring (Sequence[float]) comes back as a tuple too
        item = args[0] if args else Any
        return tuple(_load(item, v, where) for v in _as_list(value, where))
    if origin is list:
        return [_load(args[0] if args else Any, v, where) for v in _as_list(value, where)]
    if origin in (dict, Mapping) or hint is dict:
        key_type, value_type = args if args else (Any, Any)
        if not isinstance(value, Mapping):
            raise SerialisationError(f"{where}: expected a dict, got {type(value).__name__}")
        return {
            (int(k) if key_type is int else k): _load(value_type, v, where)
            for k, v in value.items()
        }
    if isinstance(hint, type) and issubclass(hint, Serialisable):
        return hint.from_dict(value)
    if hint is datetime:
        return value if isinstance(value, datetime) else datetime.fromisoformat(value)
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if isinstance(hint, type) and not isinstance(value, hint):
        raise SerialisationError(f"{where}: expected {hint.__name__}, got {value!r}")
    return value


def _as_list(value: Any, where: str) -> list[Any]:
    if isinstance(value, str | bytes) or not isinstance(value, Sequence):
        raise SerialisationError(f"{where}: expected a list, got {type(value).__name__}")
    return list(value)
