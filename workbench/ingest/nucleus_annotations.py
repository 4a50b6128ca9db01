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
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from workbench.errors import RecordError
from workbench.ingest import _nucleus_placing
from workbench.ingest._nucleus_annotation_export import export_files
from workbench.ingest._nucleus_items import reference_id
from workbench.ingest._nucleus_payloads import Annotation, read_payload
from workbench.ingest._nucleus_placing import Placing
from workbench.ingest.imports import given_files, recorded
from workbench.ingest.jsonread import Unreadable, read_document, read_lines
from workbench.ingest.writer import CatalogWriter, IngestReport

if TYPE_CHECKING:
    from workbench.store.catalog import Catalog

__all__ = ["export_files", "import_files", "read_payloads"]

_FILES = frozenset({".json", ".ndjson", ".jsonl"})
# The lists of an item's row, by the type their payloads have.
_ROW_TYPES = {"box": "box", "polygon": "polygon", "line": "line", "keypoints": "keypoints",
              "cuboid": "cuboid", "category": "category", "multicategory": "multicategory",
              "segmentation": "mask"}  # fmt: skip


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
    a malformed one) is refused alone, naming its file and line (or list index)."""
    with CatalogWriter(catalog, progress=progress, desc="nucleus annotations") as writer:
        placing = Placing(catalog, writer, field)
        read: list[Annotation] = []
        for path in given_files(paths, _FILES):
            folder = path.resolve().parent
            with writer.record(str(path)):  # a file that cannot be read
                for where, record in read_payloads(path):
                    with writer.record(where):
                        if isinstance(record, Unreadable):
                            raise RecordError(where, f"not valid JSON: {_problem(record)}")
                        for at, payload in _payloads_of(record, where):
                            with writer.record(at):
                                read.append(read_payload(payload, at, folder))
                        if len(read) >= _nucleus_placing.CHUNK:
                            placing.write(read)
                            read = []
        placing.write(read)
        writer.add_keypoint_labels(placing.new_keypoints.values())
    return writer.report


def read_payloads(path: Path) -> Iterator[tuple[str, Any]]:
    """(where, payload) of each record of an NDJSON file (`file:line`) or of a JSON list
    (`file[n]`, or `{"annotations": [...]}`); a record that cannot be read comes as an
    Unreadable."""
    try:
        with path.open("rb"):
            pass
    except OSError as exc:
        raise RecordError(str(path), f"cannot read the file: {exc.strerror or exc}") from exc
    if path.suffix.lower() in (".ndjson", ".jsonl"):
        for n, value in read_lines(path):
            yield f"{path}:{n}", value
        return
    for index, value in read_document(path, "annotations"):
        yield (str(path) if index is None else f"{path}[{index}]"), value


def _payloads_of(record: Any, where: str) -> Iterator[tuple[str, Any]]:
    """The payloads of a record: itself, or those of an item's row (`{"item": {...},
    "annotations": {"box": [...], ...}}` as Dataset.items_and_annotations gives them, or
    the rows Nucleus exports, `{"item": {...}, "box": [...], "segmentation": {...}}`), each
    given the item's reference_id and, when it names none, the type of its list."""
    if not isinstance(record, Mapping) or "item" not in record:
        yield where, record
        return
    item = record["item"]
    ref = reference_id(item.get("reference_id") if isinstance(item, Mapping) else None,
                       "item", where)  # fmt: skip
    lists = record.get("annotations", record)
    if not isinstance(lists, Mapping):
        raise RecordError(where, f"annotations must be an object, got {type(lists).__name__}")
    for key, kind in _ROW_TYPES.items():
        given = lists.get(key)
        if given is None:
            continue
        for n, payload in enumerate(given if isinstance(given, list) else [given]):
            if isinstance(payload, Mapping):
                payload = {"type": kind, **payload, "reference_id": ref}
            yield f"{where}, {key}[{n}]", payload


def _problem(value: Unreadable) -> str:
    if value.syntax is not None:
        return f"{value.syntax.msg} at column {value.syntax.colno}"
    return value.problem
