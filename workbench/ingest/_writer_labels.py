"""A CatalogWriter's label-only writes (workbench.ingest.writer): the ROIs of one field of
stored frames replaced, queued one by one (`add_labels`) or given as checked rows
(`write_labels`). The writer holds the transaction, the report and what its import counted;
these functions store the rows in that transaction and return what the report counts."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from workbench.ingest import _label_writes as label_writes
from workbench.ingest._columnar import rows_table
from workbench.ingest._counting import Again, Counted
from workbench.ingest._unchanged import without_ids
from workbench.model.records import ROI_SCHEMA, Roi
from workbench.store.arrow import append_rows, registered
from workbench.store.layout import touch
from workbench.store.layout_insert import keyed_rois, replacing_rois, rois_replaced

if TYPE_CHECKING:
    from workbench.store.catalog import Catalog

# The frames a label write names (registered as `_wb_label_keys` while it runs).
_NAMED = "SELECT frame_id FROM _wb_label_keys"


@dataclass(slots=True)
class QueuedLabels:
    """One `add_labels` call: the ROI rows of one field of one stored frame."""

    where: str
    frame_id: str
    field: str
    rois: list[tuple[Any, ...]]
    warnings: list[str]
    source_rois: Sequence[Roi]  # what the rows were made from (their mask files are checked)


def store_labels(
    catalog: Catalog,
    counted: Counted,
    con: Any,
    field_name: str,
    frame_ids: Sequence[str],
    rois: pa.Table,
    cleared: Sequence[str] | None,
) -> Again:
    """`CatalogWriter.write_labels` in its transaction: the `field_name` ROIs of the frames
    `frame_ids` replaced by `rois` (of those `cleared` only, when given; the others' rows
    are added to what they hold). Returns the ROIs counted before that they replace, and
    the files their masks name (the report counts those given, less these). A local
    catalog's frames that the rows would leave as they are are left out, and a field's
    first ROIs on frames all cleared are summarised from the rows (ingest/_label_writes.py)."""
    named = pa.array(frame_ids, pa.string())
    gone = named if cleared is None else pa.array(cleared, pa.string())
    keys = label_writes.stored_keys(con, named) if catalog.lake is None else None
    replaced = label_writes.count_again(counted, con, field_name, rois, named, gone, keys)
    if keys is not None:  # frames it would leave as they are, left out
        checked = label_writes.check(con, field_name, rois, named, gone, keys)
        if checked.first is not None:  # the field's first ROIs on those frames
            label_writes.store_first(con, rois, checked.first)
            named = gone = named.slice(0, 0)
        rois, same = checked.rois, checked.same
        named, gone = without_ids(named, same), without_ids(gone, same)
    if len(named):
        _replace_labels(catalog, con, field_name, named, gone, rois)
    return replaced


def _replace_labels(
    catalog: Catalog, con: Any, field_name: str, named: pa.Array, gone: pa.Array, rois: pa.Table
) -> None:
    """`store_labels`' rows stored: the `field_name` ROIs of the frames `gone` deleted,
    `rois` inserted, the frames `named` summarised again."""
    with (
        registered(con, "_wb_label_keys", pa.table({"frame_id": named})),
        registered(con, "_wb_label_cleared", pa.table({"frame_id": gone})),
    ):
        keyed = _replacing(catalog, con, rois)
        if len(gone):
            con.execute(
                "DELETE FROM rois WHERE field = ? AND frame_id IN "
                "(SELECT frame_id FROM _wb_label_cleared)",
                [field_name],
            )
    append_rows(con, "rois", keyed.combine_chunks())
    if catalog.lake is None:
        rois_replaced(con)


def store_queued_labels(
    catalog: Catalog, counted: Counted, con: Any, labels: list[QueuedLabels]
) -> tuple[list[QueuedLabels], Again]:
    """Replace the labels queued (each (frame, field) once); returns the updates whose
    frame is not in the catalog, and the ROIs counted before that they replace with the
    files their masks name."""
    wanted = sorted({item.frame_id for item in labels})
    known: dict[str, int | None] = dict(
        con.execute(
            "SELECT id, frame_key FROM frames WHERE id IN (SELECT unnest(?::VARCHAR[]))",
            [wanted],
        ).fetchall()
    )
    given = [(i.frame_id, i.field, len(i.rois)) for i in labels if i.frame_id in known]
    replaced = label_writes.count_queued(counted, con, given, known)
    keys = pa.table({"frame_id": [i.frame_id for i in labels], "field": [i.field for i in labels]})
    missing = [item for item in labels if item.frame_id not in known]
    rows = [row for item in labels if item.frame_id in known for row in item.rois]
    table = rows_table(rows, ROI_SCHEMA)
    with registered(con, "_wb_label_keys", keys):
        table = _replacing(catalog, con, table)
        con.execute(
            "DELETE FROM rois WHERE (frame_id, field) IN "
            "(SELECT (frame_id, field) FROM _wb_label_keys)"
        )
    append_rows(con, "rois", table)
    if catalog.lake is None:
        rois_replaced(con)
    return missing, replaced


def _replacing(catalog: Catalog, con: Any, rois: pa.Table) -> pa.Table:
    """Name the frames of `_wb_label_keys` as those whose ROIs the write replaces, before
    it deletes them; returns `rois` as they are to be inserted. A local catalog's rows
    are keyed here and their frames summarised after the INSERT (`rois_replaced`); a
    lake-backed catalog's are keyed when it writes the frames back."""
    if catalog.lake is not None:
        touch(con, _NAMED)
        return rois
    replacing_rois(con, _NAMED)
    return keyed_rois(con, rois, _NAMED)
