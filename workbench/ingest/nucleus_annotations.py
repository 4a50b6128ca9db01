"""Scale Nucleus annotations and predictions: import the payloads the Nucleus SDK writes
(`BoxAnnotation.to_json()`, ..., `BoxPrediction.to_json()`, ...) as ROIs of frames already in
the catalog, and export a view's ROIs as such payloads.

A file is NDJSON (one payload per line, as the SDK's own `annotate(..., asynchronous=True)`
uploads them) or a JSON list of payloads. Each payload names its item by `reference_id`,
which is the frame id the scene importer (workbench.ingest.nucleus) stored; a category whose
`reference_id` is a scene (a SceneCategoryAnnotation) goes on every frame of that scene. See
docs/formats/nucleus.md for the mapping. Export is workbench.ingest._nucleus_annotation_export's.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from workbench.errors import RecordError
from workbench.ingest._nucleus_annotation_columnar import Reader
from workbench.ingest._nucleus_annotation_export import export_files
from workbench.ingest._nucleus_placing import Placing
from workbench.ingest.imports import given_files, recorded
from workbench.ingest.jsonread import read_document, read_lines
from workbench.ingest.writer import CatalogWriter, IngestReport

if TYPE_CHECKING:
    from workbench.store.catalog import Catalog

__all__ = ["export_files", "import_files", "read_payloads"]

_FILES = frozenset({".json", ".ndjson", ".jsonl"})


@recorded("nucleus_annotations")
def import_files(
    catalog: Catalog,
    paths: str | os.PathLike[str] | Iterable[str | os.PathLike[str]],
    *,
    progress: bool = True,
    field: str = "ground_truth",
) -> IngestReport:
    """Import Nucleus annotation and prediction payloads as `field` ROIs of the frames their
    `reference_id`s name. Every frame given annotations has its `field` ROIs replaced by
    them; the others keep theirs. A payload that cannot be held (a cuboid, an unknown item,
    a malformed one) is refused alone, naming its file and line (or list index).

    The common payloads are read column by column by DuckDB, the others one by one
    (workbench.ingest._nucleus_annotation_columnar); both are placed alike."""
    with CatalogWriter(catalog, progress=progress, desc="nucleus annotations") as writer:
        placing = Placing(catalog, writer, field)
        reader = Reader(writer, placing)
        try:
            for path in given_files(paths, _FILES):
                folder = path.resolve().parent
                with writer.record(str(path)):  # a file that cannot be read
                    if path.suffix.lower() in (".ndjson", ".jsonl"):
                        _can_read(path)
                        reader.ndjson(path, folder)
                    else:
                        reader.document(read_payloads(path), folder)
            reader.finish()
        finally:
            reader.close()
            placing.close()
        writer.add_keypoint_labels(placing.new_keypoints.values())
    return writer.report


def read_payloads(path: Path) -> Iterator[tuple[str, Any]]:
    """(where, payload) of each record of an NDJSON file (`file:line`) or of a JSON list
    (`file[n]`, or `{"annotations": [...]}`); a record that cannot be read comes as an
    Unreadable."""
    _can_read(path)
    if path.suffix.lower() in (".ndjson", ".jsonl"):
        for n, value in read_lines(path):
            yield f"{path}:{n}", value
        return
    for index, value in read_document(path, "annotations"):
        yield (str(path) if index is None else f"{path}[{index}]"), value


def _can_read(path: Path) -> None:
    try:
        with path.open("rb"):
            pass
    except OSError as exc:
        raise RecordError(str(path), f"cannot read the file: {exc.strerror or exc}") from exc
