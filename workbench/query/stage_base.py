"""What every stage of a view is, and the small conversions stages share (workbench.query.stages
has the stages themselves)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import fields
from typing import Any, ClassVar

from workbench.errors import QueryError
from workbench.query._sql import Compiled, all_of
from workbench.query.plan import Plan


class Stage:
    """One step of a view. Subclasses are frozen dataclasses with JSON-friendly fields."""

    kind: ClassVar[str]
    # Stages that act on the result of an earlier skip()/limit() need that window sealed.
    seals: ClassVar[bool] = True

    def apply(self, plan: Plan, frame_columns: frozenset[str]) -> None:
        raise NotImplementedError

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"stage": self.kind}
        for f in fields(self):  # type: ignore[arg-type]
            out[f.name] = jsonable(getattr(self, f.name))
        return out


def jsonable(value: Any) -> Any:
    if isinstance(value, tuple):
        return [jsonable(v) for v in value]
    return value


def frozen(value: Any) -> Any:
    if isinstance(value, list | tuple):
        return tuple(frozen(v) for v in value)
    return value


def strings(values: Sequence[str] | str | None, what: str) -> tuple[str, ...] | None:
    if values is None:
        return None
    if isinstance(values, str):
        return (values,)
    out = tuple(values)
    if not all(isinstance(v, str) for v in out):
        raise QueryError(f"{what} must be strings, got {list(out)!r}")
    return out


def rois_of_frames(conditions: list[Compiled]) -> Compiled:
    """The frames holding an ROI (`rois r`) that meets every condition."""
    return "SELECT r.frame_id FROM rois r WHERE " + all_of(conditions)
