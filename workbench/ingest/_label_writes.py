"""A label write (`CatalogWriter.write_labels`) on a local catalog: which frames it leaves as
they are, and the first ROIs of a field stored with their summaries made from the rows given.

The general way replaces the field's ROIs of every frame named: it deletes them, inserts the
rows given, and then summarises those frames again from their ROIs as stored
(`layout_insert.rois_replaced`: every ROI of theirs read back, their frame_labels and
frame_codes rows deleted and made again, their codes taken out of the counts and put back).
It also looks the frames' ids up three times (the unchanged check, `replacing_rois`,
`keyed_rois`).

A first import of a field (every frame named is cleared and holds no ROI of the field) has
nothing to delete, and what it adds to each frame's summaries is exactly what its rows say:
the frames are looked up once, the rows keyed from that look-up, and the summaries added from
the keys in hand (frame_labels rows of the field's labels, which those frames cannot hold
yet; each frame's codes appended to those of its other ROIs; the code counts and the frame
groups' counts increased by the rows' codes), for the frames given rows only. The frames
given none are left as they are. The rows are those the general way stores, keyed the same.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from workbench.ingest._counting import Again, Counted, summed
from workbench.ingest._unchanged import new_sums, old_sums, without, without_ids
from workbench.model.records import ROI_SCHEMA
from workbench.store import groups, layout, layout_arrays, line_digests
from workbench.store.arrow import append_rows, registered
from workbench.store.layout_insert import roi_label_keys
from workbench.store.scratch import dropped_after

_EMPTY = pa.array([], pa.string())
_TOUCHED = "_wb_label_touched"
_PLACED = "_wb_label_groups"


@dataclass
class Checked:
    """What a label write leaves out (`same`: frames left as they are) and the rows it then
    stores (`rois`); with `first`, the frame key of each row (the rows are the field's first
    ROIs on their frames: `store_first` stores them)."""

    same: pa.Array
    rois: pa.Table
    first: np.ndarray | None = None


def check(
    con: Any, field: str, rois: pa.Table, named: pa.Array, cleared: pa.Array, keys: np.ndarray
) -> Checked:
    """The frames of `named` (stored, distinct) that a write of `rois` (rows of ROI_SCHEMA)
    would leave as they are, and the rows of the others: the frames of `cleared` whose stored
    `field` ROIs are the rows given to them, in the same order, and the others (whose rows are
    added to what they hold) given no row. None left out when the field is empty on every
    frame of `cleared` (no row is hashed); then, if every frame named is cleared and keyed
    and every row's frame is one of them, the rows' frame keys (`first`). `keys`: those of
    the frames named (`stored_keys`)."""
    given_keys = keys_among(named, keys, cleared)  # each cleared frame's key, in their order
    order = np.flatnonzero(given_keys >= 0)
    order = order[np.argsort(given_keys[order], kind="stable")]
    ids, keys = cleared.take(pa.array(order)), given_keys[order]  # the stored ones, by key
    if len(ids) == 0:
        return Checked(_EMPTY, rois)
    old = old_sums(con, "rois", ROI_SCHEMA, keys, "field = ?", [field])
    if not old[:, 0].any():
        every = len(ids) == len(named) and named.equals(cleared)  # every frame named, stored
        return Checked(_EMPTY, rois, _first_keys(rois, named, given_keys) if every else None)
    new = new_sums(con, rois, ROI_SCHEMA, ids)
    matched = ids.filter(pa.array(np.all(new == old, axis=1)))
    given = pc.unique(rois["frame_id"].combine_chunks().cast(pa.string()))
    idle = without_ids(without_ids(named, given), cleared)
    return Checked(pa.concat_arrays([idle, matched]), without(rois, "frame_id", matched))


def stored_keys(con: Any, ids: pa.Array) -> np.ndarray:
    """The key of each frame of `ids` (distinct), -1 for one not stored or not keyed: found
    by their places in `ids`, so that no id comes back as text."""
    place = pa.array(np.arange(len(ids), dtype=np.int64))
    with registered(con, "_wb_label_ids", pa.table({"id": ids, "at": place})):
        found = con.execute(
            "SELECT n.at, f.frame_key FROM _wb_label_ids n JOIN frames f ON f.id = n.id"
            " WHERE f.frame_key IS NOT NULL"
        ).fetchnumpy()
    keys = np.full(len(ids), -1, dtype=np.int64)
    keys[np.asarray(found["at"], dtype=np.int64)] = np.asarray(found["frame_key"], np.int64)
    return keys


def keys_among(named: pa.Array, keys: np.ndarray, ids: pa.Array) -> np.ndarray:
    """The keys of the frames `ids` (among `named`, whose keys are `keys`), -1 for one not
    named."""
    if ids is named or ids.equals(named):
        return keys
    at = pc.index_in(ids, value_set=named)
    places = np.asarray(at.fill_null(-1).to_numpy(zero_copy_only=False), dtype=np.int64)
    return np.where(places >= 0, keys[np.maximum(places, 0)], -1) if len(keys) else places


def rows_per_frame(named: pa.Array, rois: pa.Table) -> np.ndarray:
    """How many of the rows `rois` each frame of `named` (distinct) is given."""
    column = rois["frame_id"].combine_chunks()
    if pa.types.is_dictionary(column.type):
        values = column.dictionary
        counts = np.bincount(column.indices.to_numpy(zero_copy_only=False), minlength=len(values))
        if values.equals(named):  # (as the Labelbox import gives them: places already)
            return np.asarray(counts, dtype=np.int64)
    else:
        tally = pc.value_counts(column)
        values, counts = tally.field("values"), tally.field("counts").to_numpy()
    at = pc.index_in(values, value_set=named)
    places = np.asarray(at.fill_null(-1).to_numpy(zero_copy_only=False), dtype=np.int64)
    given = np.zeros(len(named), dtype=np.int64)
    np.add.at(given, places[places >= 0], np.asarray(counts, dtype=np.int64)[places >= 0])
    return given


def count_again(
    counted: Counted,
    con: Any,
    field: str,
    rois: pa.Table,
    named: pa.Array,
    cleared: pa.Array,
    keys: np.ndarray | None,
) -> Again:
    """Note the `field` ROIs a label write gives the frames `named` (`keys`: theirs on a
    local catalog, None on a lake-backed one) as counted by its import, and return those
    counted before that it replaces, with the files their masks name
    (workbench/ingest/_counted_relabel.py)."""
    given = rows_per_frame(named, rois)
    if cleared is named or cleared.equals(named):
        gone = np.ones(len(named), dtype=bool)
    else:
        gone = np.asarray(pc.is_in(named, value_set=cleared).to_numpy(zero_copy_only=False))
    if keys is None:
        return counted.relabel_ids(con, field, named.to_pylist(), given, gone)
    stored = keys >= 0
    ids = lambda: named.filter(pa.array(stored)).to_pylist()  # noqa: E731  (read if needed)
    return counted.relabel(con, field, keys[stored], given[stored], gone[stored], ids)


def count_queued(
    counted: Counted,
    con: Any,
    given: list[tuple[str, str, int]],
    keys: dict[str, int | None],
) -> Again:
    """`count_again` for label updates queued one by one (`add_labels`): `given` as (frame
    id, field, ROIs), each (frame, field) once, their frames stored with `keys` (a
    lake-backed catalog's are counted by id)."""
    fields: dict[str, list[tuple[str, int]]] = {}
    for frame_id, field, rois in given:
        fields.setdefault(field, []).append((frame_id, rois))
    replaced = []
    for field, items in fields.items():
        counts = np.array([n for _, n in items], dtype=np.int64)
        every = np.ones(len(items), dtype=bool)
        ids = [frame_id for frame_id, _ in items]
        if counted.by_id:  # a lake-backed catalog's frames
            replaced.append(counted.relabel_ids(con, field, ids, counts, every))
        else:
            at = np.array([keys[i] for i in ids], dtype=np.int64)
            replaced.append(counted.relabel(con, field, at, counts, every, ids.copy))
    return summed(replaced)


def _first_keys(rois: pa.Table, named: pa.Array, keys: np.ndarray) -> np.ndarray | None:
    """Each row's frame key (`keys`: those of the frames `named`, all stored), or None when
    some row's frame is not named. The rows' frame ids as a dictionary of the ids named, in
    their order (as the Labelbox import gives them), are their places already."""
    column = rois["frame_id"].combine_chunks()
    if pa.types.is_dictionary(column.type):
        dictionary, indices = column.dictionary, column.indices
        if not dictionary.equals(named):
            indices = pc.index_in(dictionary, value_set=named).take(indices)
    else:
        indices = pc.index_in(column, value_set=named)
    if indices.null_count:
        return None
    return keys[np.asarray(indices.to_numpy(zero_copy_only=False), dtype=np.int64)]


def store_first(con: Any, rois: pa.Table, frame_keys: np.ndarray) -> None:
    """Insert `rois`, the first ROIs of their field on their frames (`frame_keys`: each
    row's), keyed, and add them to the summaries of the frames they are on."""
    if rois.num_rows == 0:
        return
    labels = roi_label_keys(con, rois)
    label_keys = np.asarray(labels.to_numpy(zero_copy_only=False), dtype=np.int32)
    confidence = rois["confidence"].combine_chunks()
    codes = layout_arrays.roi_codes(label_keys, confidence)  # refused before any write
    keyed = rois.append_column("frame_key", pa.array(frame_keys, pa.int64()))
    append_rows(con, "rois", keyed.append_column("label_key", labels).combine_chunks())
    touched = _distinct(frame_keys)
    with registered(con, _TOUCHED, pa.table({"frame_key": touched})):
        which = f"frame_key IN (SELECT frame_key FROM {_TOUCHED})"
        line_digests.forget(con, which)
        label_rows = layout_arrays.label_rows(frame_keys, label_keys, confidence)
        with registered(con, "_wb_summaries", label_rows):
            con.execute("INSERT INTO frame_labels SELECT * FROM _wb_summaries")
        _append_codes(con, touched, frame_keys, codes, which)
        with registered(con, "_wb_summaries", layout_arrays.code_counts(codes)):
            layout.add_counts(con, "_wb_summaries", 1, "code_counts")
        _count_groups(con, frame_keys, codes, which)


def _distinct(keys: np.ndarray) -> np.ndarray:
    """The distinct keys, sorted: the rows of a frame come together (one sort of a value
    per run, not of every row)."""
    if len(keys) == 0:
        return keys
    runs = np.sort(keys[np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]])])
    return runs[np.r_[True, runs[1:] != runs[:-1]]]


def _append_codes(
    con: Any, touched: np.ndarray, frame_keys: np.ndarray, codes: np.ndarray, which: str
) -> None:
    """The frame_codes rows of the frames `touched` made again: each frame's codes as
    stored, then those of its new rows in their order (the order of its ROIs' rowids)."""
    span = f"frame_key BETWEEN {int(touched[0])} AND {int(touched[-1])} AND {which}"
    old = con.sql(f"SELECT frame_key, codes FROM frame_codes WHERE {span}").to_arrow_table()
    lists = old["codes"].combine_chunks()
    sizes = np.asarray(pc.list_value_length(lists).fill_null(0).to_numpy(), dtype=np.int64)
    held = np.repeat(np.asarray(old["frame_key"].to_numpy(), dtype=np.int64), sizes)
    values = np.asarray(pc.list_flatten(lists).to_numpy(), dtype=np.int32)
    made = layout_arrays.code_rows(
        touched, np.concatenate([held, frame_keys]), np.concatenate([values, codes])
    )
    con.execute(f"DROP TABLE IF EXISTS {layout.CODES_ALIGNED}")  # their rows move to the end
    con.execute(f"DELETE FROM frame_codes WHERE {span}")
    with registered(con, "_wb_summaries", made):
        con.execute("INSERT INTO frame_codes SELECT * FROM _wb_summaries")


def _count_groups(con: Any, frame_keys: np.ndarray, codes: np.ndarray, which: str) -> None:
    """The new rows' codes added to the counts of their frames' local groups, if those are
    counted for the catalog as it is (nothing of the frames rows changed); else the groups
    are dropped, as `layout.sync` drops them."""
    columns = groups.current(con, groups.LOCAL, lambda: groups.local_stamp(con))
    if columns is None:
        con.execute(f"DROP TABLE IF EXISTS {layout.GROUPS_STATE}")
        return
    group, run = groups.GROUP, con.execute
    rows = pa.table({"frame_key": pa.array(frame_keys, pa.int64()), "code": codes})
    groups.place(con, columns, which, _PLACED)
    with dropped_after(con, "_wb_group_tally", _PLACED):
        with registered(con, "_wb_new_codes", rows):
            run(
                "CREATE OR REPLACE TEMP TABLE _wb_group_tally AS SELECT p.g, n.code,"
                f" count(*) AS rois FROM _wb_new_codes n JOIN {_PLACED} p"
                " ON p.frame_key = n.frame_key GROUP BY ALL"
            )
        same = f"c.{group} = t.g AND c.code = t.code"
        codes_table = groups.LOCAL.codes
        run(
            f"UPDATE {codes_table} c SET rois = c.rois + t.rois FROM _wb_group_tally t WHERE {same}"
        )
        run(
            f"INSERT INTO {codes_table} SELECT g, code, rois FROM _wb_group_tally t"
            f" WHERE NOT EXISTS (SELECT 1 FROM {codes_table} c WHERE {same})"
        )
