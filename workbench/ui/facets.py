"""Facet counts of the current query, as plain values the query panel shows."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING

from workbench.errors import WorkbenchError
from workbench.model.records import PROMOTED_KEYS
from workbench.query.ranges import NumericKey, value_histogram

if TYPE_CHECKING:
    from workbench.query import View

HISTOGRAM_BINS = 10
RANGE_BINS = 24
MAX_VALUES = 30


@dataclass(frozen=True)
class Facets:
    """Counts over the frames (and ROIs) of one query."""

    frames: int = 0
    contexts: int = 0
    # (field, label, count), commonest first
    labels: tuple[tuple[str, str | None, int], ...] = ()
    # metadata key -> ((value, count), ...)
    metadata: dict[str, tuple[tuple[str | None, int], ...]] = field(default_factory=dict)
    # ((bin_start, bin_end, count), ...)
    confidence: tuple[tuple[float, float, int], ...] = ()
    tags: tuple[tuple[str, int], ...] = ()
    # numeric key -> ((bin_start, bin_end, count), ...) between the key's catalog-wide bounds
    ranges: dict[str, tuple[tuple[float, float, int], ...]] = field(default_factory=dict)

    def labels_of(self, field_name: str | None) -> list[tuple[str, int]]:
        """(label, count) of one field (every field when None), labels merged across fields."""
        counts: dict[str, int] = {}
        for f, label, n in self.labels:
            if label is not None and (field_name is None or f == field_name):
                counts[label] = counts.get(label, 0) + n
        return sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))


class Outdated(WorkbenchError):
    """The query changed while its facets were being counted."""


def compute_facets(
    view: View,
    field_name: str | None,
    is_current: Callable[[], bool] = lambda: True,
    numeric: Sequence[NumericKey] = (),
) -> Facets:
    """Count the facets of `view`, one query after the other; stops early (Outdated) once
    `is_current()` says a newer query made these counts useless. `numeric` keys get a
    histogram each."""

    def step[T](read: Callable[[], T]) -> T:
        if not is_current():
            raise Outdated
        return read()

    labels = step(lambda: view.label_counts().to_pylist())
    confidence = step(lambda: view.confidence_histogram(field_name, HISTOGRAM_BINS).to_pylist())
    metadata: dict[str, tuple[tuple[str | None, int], ...]] = {}
    for key in PROMOTED_KEYS:
        rows = step(partial(view.metadata_values, key, MAX_VALUES)).to_pylist()
        metadata[key] = tuple((row["value"], int(row["count"])) for row in rows)
    tags = step(lambda: view.tag_counts().to_pylist())
    ranges = {}
    for numeric_key in (k for k in numeric if k.high > k.low):  # a constant has no filter
        name, low, high = numeric_key.key, numeric_key.low, numeric_key.high
        read = partial(value_histogram, view, name, low, high, RANGE_BINS)
        ranges[name] = tuple(
            (float(r["bin_start"]), float(r["bin_end"]), int(r["count"]))
            for r in step(read).to_pylist()
        )
    return Facets(
        frames=step(view.count),
        contexts=step(view.count_contexts),
        labels=tuple((r["field"], r["label"], int(r["count"])) for r in labels),
        metadata=metadata,
        confidence=tuple(
            (float(r["bin_start"]), float(r["bin_end"]), int(r["count"])) for r in confidence
        ),
        tags=tuple((r["tag"], int(r["count"])) for r in tags),
        ranges=ranges,
    )
