"""The query a person builds in the query panel, and its round trip through saved views."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import param

from workbench.model.records import PROMOTED_KEYS

if TYPE_CHECKING:
    from workbench.query import View
    from workbench.store.catalog import Catalog

FULL_RANGE = (0.0, 1.0)
# Seconds each query of the app's view may run while it holds SQL typed in the WHERE box:
# the box answers a person waiting for it (and, served, shares the server with others).
WHERE_TIME_LIMIT = 10.0
QUERY_PARAMS = (
    "where", "label_field", "labels", "confidence", "metadata", "ranges", "tags", "sort_by",
    "sort_reverse", "base", "panels",
)  # fmt: skip


class QueryState(param.Parameterized):
    """Everything that decides which frames (and ROIs) match.

    `where` is a raw SQL boolean over `frames f`; the other filters are ANDed with it.
    Label and confidence filters narrow the ROIs of `label_field` (every field when empty) and
    keep only frames that still have one. `base` holds a saved view's stages that the filters
    cannot show (sorts, selections...): they apply first.
    """

    where = param.String(default="", doc="SQL boolean over frames aliased f.")
    label_field = param.String(default="", doc="Label field the label filters apply to.")
    labels = param.List(default=[], item_type=str)
    confidence = param.Range(default=FULL_RANGE, bounds=FULL_RANGE)
    metadata = param.Dict(default={}, doc="Metadata key -> list of accepted values.")
    ranges = param.Dict(
        default={}, doc="Numeric frame column or metadata key -> (min, max), both inclusive."
    )
    tags = param.List(default=[], item_type=str, doc="Frames with any of these tags.")
    sort_by = param.String(default="", doc="Frame column or metadata key to sort by ('': none).")
    sort_reverse = param.Boolean(default=False, doc="Sort from the largest value down.")
    base = param.Dict(default=None, allow_None=True, doc="View spec the filters apply on top of.")
    panels = param.Dict(
        default={},
        doc="Stages the analysis panels add after the filters (a plot's lasso, an evaluation's"
        " outcomes...), by panel name: a tuple of query stages each.",
    )

    def roi_filter(self) -> dict[str, Any] | None:
        """Arguments of the view's filter_rois stage, or None when no ROI filter is set."""
        lo, hi = self.confidence
        if not self.labels and (lo, hi) == FULL_RANGE:
            return None
        return {
            "field": self.label_field or None,
            "labels": list(self.labels) or None,
            "min_confidence": lo if lo > 0 else None,
            "max_confidence": hi if hi < 1 else None,
        }

    def view(self, catalog: Catalog, *, without: str | None = None) -> View:
        """The view of the filters and the panels' stages (but those of panel `without`)."""
        from workbench.query import View

        view = View.from_dict(catalog, self.base) if self.base else View(catalog)
        if self.where.strip():
            view = view.where(self.where)
        criteria = {k: list(v) for k, v in self.metadata.items() if v}
        if criteria:
            view = view.match(**criteria)
        for key, (low, high) in sorted(self.ranges.items()):
            view = view.match_range(key, low, high)
        if self.tags:
            view = view.match_tags(*self.tags)
        rois = self.roi_filter()
        if rois is not None:
            view = view.filter_rois(**rois)
        stages = tuple(s for name, ss in self.panels.items() if name != without for s in ss)
        if stages:
            view = type(view)(view.catalog, view.stages + stages)
        if self.sort_by:
            view = view.sort_by(self.sort_by, reverse=self.sort_reverse)
        return view.with_time_limit(WHERE_TIME_LIMIT)

    def set_panel_stages(self, panel: str, stages: tuple[Any, ...]) -> None:
        """Replace the stages panel `panel` adds (none: `()`), and so the view."""
        panels = {k: v for k, v in self.panels.items() if k != panel}
        if stages:
            panels[panel] = tuple(stages)
        if panels != self.panels:
            self.panels = panels

    def reset(self) -> None:
        self.param.update(**_CLEARED)

    def apply_spec(self, spec: Mapping[str, Any]) -> None:
        """Show a view spec (`View.to_dict()`) in the filters; stages the filters cannot
        express keep the whole spec as `base` instead."""
        values = _filters_of(spec.get("stages") or [])
        self.param.update(
            **{**_CLEARED, **(values if values is not None else {"base": dict(spec)})}
        )


_CLEARED: dict[str, Any] = {
    "where": "",
    "label_field": "",
    "labels": [],
    "confidence": FULL_RANGE,
    "metadata": {},
    "ranges": {},
    "tags": [],
    "sort_by": "",
    "sort_reverse": False,
    "base": None,
    "panels": {},
}


def _filters_of(stages: Sequence[Mapping[str, Any]]) -> dict[str, Any] | None:
    """Filter values reproducing `stages`, or None when they are not what `view()` builds."""
    values: dict[str, Any] = {}
    seen: list[str] = []
    for stage in stages:
        kind = str(stage.get("stage"))
        # One stage of each kind, but ranges of several keys in a row.
        if not (kind == "match_range" and seen and seen[-1] == kind):
            if kind in seen:
                return None
            seen.append(kind)
        if kind == "match_range":
            values.setdefault("ranges", {})[stage["key"]] = (stage.get("min"), stage.get("max"))
        elif kind == "sort_by":
            values["sort_by"] = stage["column"]
            values["sort_reverse"] = bool(stage.get("reverse"))
        elif kind == "where" and not stage.get("params"):
            values["where"] = stage["sql"]
        elif kind == "match":
            metadata: dict[str, list[Any]] = {}
            for key, value in stage.get("criteria") or []:
                if key not in PROMOTED_KEYS:
                    return None
                metadata[key] = list(value) if isinstance(value, list | tuple) else [value]
            values["metadata"] = metadata
        elif kind == "match_tags" and not stage.get("all"):
            values["tags"] = list(stage.get("tags") or [])
        elif kind == "filter_rois" and _simple_roi_filter(stage):
            values["label_field"] = stage.get("field") or ""
            values["labels"] = list(stage.get("labels") or [])
            values["confidence"] = (
                stage.get("min_confidence") or 0.0,
                stage.get("max_confidence") if stage.get("max_confidence") is not None else 1.0,
            )
        else:
            return None
    order = ["where", "match", "match_range", "match_tags", "filter_rois", "sort_by"]
    if seen != sorted(seen, key=order.index):
        return None
    return values


def _simple_roi_filter(stage: Mapping[str, Any]) -> bool:
    return (
        stage.get("kinds") is None
        and stage.get("min_area") is None
        and stage.get("max_area") is None
        and stage.get("only_matches", True)
    )
