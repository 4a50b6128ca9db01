"""`select_region`: the frames (or ROIs) whose points of a stored 2-D projection lie inside a
polygon: a lasso or box drawn on the app's embeddings plot, as one view stage.

The stage names the projection (key, method, params_hash: the `projections` rows) and the
polygon's vertices, never the points it holds: a lasso around 100,000 points is a few dozen
numbers, and every query of the view reads the projection's rows with a bounding-box filter
and the even-odd rule written out per edge, in SQL. `inside()` is the same test on arrays
(the app counts the points it shows with it; both compute each edge's crossing alike).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from workbench.errors import QueryError
from workbench.query import stages as _stages
from workbench.query._sql import Compiled, all_of, sql
from workbench.query.plan import Plan
from workbench.query.stage_base import Stage

MAX_VERTICES = 64
# Whether the horizontal ray from a point to the right crosses one edge (y1, y2, x1, y1, slope).
_CROSSING = "CASE WHEN ((? > p.y) <> (? > p.y)) AND (p.x < ? + (p.y - ?) * ?) THEN 1 ELSE 0 END"
# Whether the horizontal ray from a point to the right crosses one edge (y1, y2, x1, y1, slope).
_CROSSING = "CASE WHEN ((? > p.y) <> (? > p.y)) AND (p.x < ? + (p.y - ?) * ?) THEN 1 ELSE 0 END"


def simplify(
    xs: Sequence[float], ys: Sequence[float]
) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """At most MAX_VERTICES of a drawn outline's vertices, evenly along it."""
    n = len(xs)
    keep = range(n) if n <= MAX_VERTICES else np.linspace(0, n - 1, MAX_VERTICES).astype(int)
    return tuple(float(xs[i]) for i in keep), tuple(float(ys[i]) for i in keep)


def _edges(xs: Sequence[float], ys: Sequence[float]) -> list[tuple[float, float, float, float]]:
    """(y1, y2, x1, slope) of each edge that is not horizontal."""
    out = []
    for i in range(len(xs)):
        x1, y1, x2, y2 = xs[i], ys[i], xs[i - 1], ys[i - 1]
        if y1 != y2:
            out.append((y1, y2, x1, (x2 - x1) / (y2 - y1)))
    return out


def inside(x: np.ndarray, y: np.ndarray, xs: Sequence[float], ys: Sequence[float]) -> np.ndarray:
    """A mask of the points inside the polygon (even-odd rule), as the stage's SQL tests it."""
    px, py = np.asarray(xs, dtype=np.float64), np.asarray(ys, dtype=np.float64)
    box = (x >= px.min()) & (x <= px.max()) & (y >= py.min()) & (y <= py.max())
    idx = np.flatnonzero(box)
    bx, by = x[idx].astype(np.float64), y[idx].astype(np.float64)
    odd = np.zeros(len(idx), dtype=bool)
    for y1, y2, x1, slope in _edges(xs, ys):
        odd ^= ((y1 > by) != (y2 > by)) & (bx < x1 + (by - y1) * slope)
    mask = np.zeros(len(x), dtype=bool)
    mask[idx[odd]] = True
    return mask


@dataclass(frozen=True)
class SelectRegion(Stage):
    """Frames whose point in projection (key, method, params_hash) lies inside the polygon
    (xs, ys); for ROI projections, those ROIs only (ROIs of other fields stay untouched only
    where the projection has none)."""

    kind: ClassVar[str] = "select_region"
    key: str
    method: str
    params_hash: str
    xs: tuple[float, ...]
    ys: tuple[float, ...]
    rois: bool = False

    def __post_init__(self) -> None:
        for name in ("key", "method", "params_hash"):
            value = getattr(self, name)
            if not isinstance(value, str) or not value:
                raise QueryError(f"select_region() needs a {name}, got {value!r}")
        n = len(self.xs)
        numbers = all(
            isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)
            for v in (*self.xs, *self.ys)
        )
        if not (3 <= n <= MAX_VERTICES) or len(self.ys) != n or not numbers:
            raise QueryError(
                f"select_region() takes a polygon of 3 to {MAX_VERTICES} finite vertices"
            )
        if not isinstance(self.rois, bool):
            raise QueryError(f"rois must be True or False, got {self.rois!r}")

    def _inside(self) -> Compiled:
        box = sql(
            "p.x BETWEEN ? AND ? AND p.y BETWEEN ? AND ?",
            min(self.xs), max(self.xs), min(self.ys), max(self.ys),
        )  # fmt: skip
        crossings = Compiled.join(
            [
                sql(_CROSSING, y1, y2, x1, y1, slope)
                for y1, y2, x1, slope in _edges(self.xs, self.ys)
            ],
            " + ",
        )
        run = sql(
            "p.key = ? AND p.method = ? AND p.params_hash = ?",
            self.key, self.method, self.params_hash,
        )  # fmt: skip
        return all_of([run, box, "(" + crossings + ") % 2 = 1"])

    def apply(self, plan: Plan, frame_columns: frozenset[str]) -> None:
        points = "SELECT p.frame_id FROM projections p WHERE " + self._inside()
        plan.roi_sets.append(points)
        plan.reorders = True
        if self.rois:
            plan.roi_filters.append(
                "EXISTS (SELECT 1 FROM projections p WHERE p.frame_id = r.frame_id"
                " AND p.roi_id = r.id AND " + self._inside() + ")"
            )


_stages.STAGES[SelectRegion.kind] = SelectRegion
