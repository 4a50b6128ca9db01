"""Exports held to the import's memory budget, however they are called.

An export reads every frame and ROI of its view once; what the catalog's engine keeps
meanwhile (cached blocks, sorts) is bounded as an import's is (`Catalog.import_memory`),
whether the export is called through `workbench.ingest.exporter` or as the format module's
`export_files`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, Concatenate


def held_to_budget[**P, R](
    export: Callable[Concatenate[Any, P], R],
) -> Callable[Concatenate[Any, P], R]:
    """`export(view, ...)` run with the view's catalog held to the import's memory budget."""

    @functools.wraps(export)
    def bounded(view: Any, /, *args: P.args, **kwargs: P.kwargs) -> R:
        with view.catalog.import_memory():
            return export(view, *args, **kwargs)

    return bounded
