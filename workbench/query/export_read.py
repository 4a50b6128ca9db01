"""A view's ROIs of one field read narrowly for an export: only the columns the export writes,
joined to the view's frames by integer key, in one query over the whole view.

`View.rois()` reads every ROI column of every field and sorts the rows; an exporter needs a
few columns of one field and only the rows' order as a number (`o`: the view's frame order,
then the stored order of a frame's ROIs), not the rows sorted. The ingest layer sits below
views and knows them only as `ViewLike`: `View.field_rois` answers with this module's read
(workbench.ingest.narrow asks any view that has that method).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from workbench.errors import QueryError
from workbench.ingest import narrow
from workbench.query._sql import Compiled
from workbench.query.pages import key_columns, key_order
from workbench.query.view import catalog_columns
from workbench.store.sqlsafe import quote_ident

if TYPE_CHECKING:
    from workbench.query.view import View


def field_rois(view: View, field: str, columns: Sequence[str]) -> narrow.Read:
    """The view's ROIs of `field` (as its filters leave them) with `o` and `columns` (ROI
    columns, or `frame_key`), unsorted: the SELECT, or its rows when the view holds SQL a
    person typed (read with the view's guard and time limit)."""
    known = {*catalog_columns(view.catalog, "rois"), "frame_key"}
    unknown = [c for c in columns if c not in known]
    if unknown:
        raise QueryError(f"unknown ROI columns {unknown}")
    query = field_rois_query(view, field, columns)
    if view.plan.raw_sql:
        return narrow.Read(table=view.run(query))
    return narrow.Read(query.sql, query.params)


def field_rois_query(view: View, field: str, columns: Sequence[str]) -> Compiled:
    plan = view.plan
    terms = plan.terms
    # The frames' order as a number, then each ROI's place as a number holding it and the
    # ROI's row: no sort of the ROIs' wide rows.
    ranked = Compiled.join(
        [
            "SELECT frame_key, row_number() OVER (ORDER BY ",
            key_order(terms, "k"),
            ") AS _o FROM (",
            plan.select(Compiled.join([Compiled("f.frame_key"), *key_columns(terms)], ", ")),
            ") k",
        ],
        "",
    )
    selected = ", ".join(f"r.{quote_ident(c)}" for c in columns)
    return Compiled.join(
        [
            f"SELECT v._o::HUGEINT * {_ROWS} + r.rowid AS o, {selected} FROM rois r JOIN (",
            ranked,
            ") v ON v.frame_key = r.frame_key WHERE r.field = ",
            Compiled("?", (field,)),
            " AND (",
            plan.roi_predicate(),
            ")",
        ],
        "",
    )


_ROWS = 2**64  # more than any table's row ids
