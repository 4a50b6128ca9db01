"""What a similarity query names: frames, ROIs or a vector (parsed and bounded here, where
views and the analysis that answers them can both read it)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np

from workbench.errors import AnalysisError

MAX_QUERY_IDS = 10_000


class RoiRef(NamedTuple):
    """An ROI: its frame and its id within the frame."""

    frame_id: str
    roi_id: str


@dataclass(frozen=True)
class Query:
    """Frames, ROIs or a vector to compare with; exactly one of the three is given."""

    frame_ids: tuple[str, ...] = ()
    rois: tuple[RoiRef, ...] = ()
    vector: tuple[float, ...] | None = None

    @classmethod
    def of(cls, value: Any) -> Query:
        """A frame id, a list of frame ids, a RoiRef or {"frame_id", "roi_id"} (or a list of
        them), a vector (list or NumPy array of numbers), or a Query."""
        if isinstance(value, Query):
            return value
        if isinstance(value, dict) and set(value) <= {"frame_ids", "rois", "vector"} and value:
            return cls._from_json(value)
        if isinstance(value, str):
            return cls(frame_ids=(value,))
        if isinstance(value, RoiRef | dict):
            return cls(rois=(roi_ref(value),))
        if isinstance(value, np.ndarray):
            return cls._vector(value.tolist())
        if isinstance(value, list | tuple) and value:
            if all(isinstance(v, str) for v in value) and not isinstance(value, RoiRef):
                return cls(frame_ids=_bounded(tuple(value)))
            if all(isinstance(v, RoiRef | dict) for v in value):
                return cls(rois=_bounded(tuple(roi_ref(v) for v in value)))
            return cls._vector(list(value))
        raise AnalysisError(
            "a similarity query is a frame id, a list of frame ids, a RoiRef (or list of "
            f"them) or a vector, not {value!r:.200}"
        )

    @classmethod
    def _vector(cls, values: list[Any]) -> Query:
        if not values or not all(
            isinstance(v, int | float) and not isinstance(v, bool) for v in values
        ):
            raise AnalysisError("a query vector is a non-empty list of numbers")
        array = np.asarray(values, dtype=np.float64)
        if array.ndim != 1 or not np.isfinite(array).all() or not np.any(array):
            raise AnalysisError("a query vector must be one row of finite numbers, not all zero")
        return cls(vector=tuple(float(v) for v in array))

    @classmethod
    def _from_json(cls, data: dict[str, Any]) -> Query:
        if len(data) != 1:
            raise AnalysisError(f"a query holds one of frame_ids, rois, vector, got {list(data)}")
        ((name, value),) = data.items()
        if name == "vector":
            return cls._vector(list(value) if isinstance(value, list | tuple) else [value])
        if not isinstance(value, list | tuple) or not value:
            raise AnalysisError(f"query {name} must be a non-empty list")
        if name == "rois":
            return cls(rois=_bounded(tuple(roi_ref(v) for v in value)))
        if not all(isinstance(v, str) for v in value):
            raise AnalysisError("query frame_ids must be strings")
        return cls(frame_ids=_bounded(tuple(value)))

    def to_json(self) -> dict[str, Any]:
        if self.vector is not None:
            return {"vector": list(self.vector)}
        if self.rois:
            return {"rois": [list(r) for r in self.rois]}
        return {"frame_ids": list(self.frame_ids)}


def roi_ref(value: Any) -> RoiRef:
    if isinstance(value, dict):
        value = (value.get("frame_id"), value.get("roi_id"))
    if (
        isinstance(value, list | tuple)
        and len(value) == 2
        and all(isinstance(v, str) for v in value)
    ):
        return RoiRef(value[0], value[1])
    raise AnalysisError(f"an ROI is given as RoiRef(frame_id, roi_id), got {value!r:.200}")


def _bounded(values: tuple[Any, ...]) -> tuple[Any, ...]:
    if len(values) > MAX_QUERY_IDS:
        raise AnalysisError(f"a query names at most {MAX_QUERY_IDS} items, got {len(values)}")
    return values
