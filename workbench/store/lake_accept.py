"""A rolled-back write the lake cannot undo, kept instead: `workbench lake accept`.

The undo of a write the catalog rolled back (store/lake_repair.py) brings back the files
that write removed. When a vacuum has deleted them since (or expired the Iceberg snapshots
that say what the write changed, or another writer rewrote its files), the undo cannot be
made and every read-write open fails with LakeError naming this way out. Nothing is decided
for the person: `review` (the command without --confirm) says what accepting would keep,
and `accept` (with --confirm, or `Catalog(path, accept_lake=True)`) does it:

- the pins move to the tables' latest versions as they are: the rolled-back write's rows
  stay, and the rows of the files it removed that are gone stay gone;
- in the same transaction, the frames the write wrote anew (keyed past the catalog's next
  key) are stored again as a frame a write changed is (new keys after every other,
  summaries and codes made again), and those its files hold with the keys they had (rows a
  rewrite of a file copied, or changed in place) are summarised again from those rows, so
  the catalog's side agrees with the lake; the summaries of frames no longer in the lake at
  all are removed (their keys are summarised again from no ROIs);
- an audit row (`lake.accept`) names the tables, files and frames kept.

The import that made the write has no record of these rows (it was reported failed).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import duckdb
import pyarrow.parquet as pq

from workbench.store import layout
from workbench.store.audit import append_audit_row, default_actor
from workbench.store.lake import FRAME_KEY, LAKE_TABLES, Lake, filesystem, is_remote
from workbench.store.lake_repair import name_writer
from workbench.store.lake_undo import Plan, plan, rows_of
from workbench.store.sqlsafe import quote_ident


@dataclass(frozen=True)
class Kept:
    """What accepting the lake as it is keeps of one table's rolled-back writes."""

    table: str
    files: tuple[str, ...]  # the files those writes added that the table holds
    rows: int  # their rows
    frames: tuple[str, ...]  # the frames those rows belong to, written anew (stored again)
    kept_keys: tuple[str, ...]  # those with the keys they had (summarised again)
    gone: tuple[str, ...]  # files those writes removed that are gone from the disk
    gone_rows: int  # their rows, not brought back
    whole: bool  # False: snapshots since the pin were expired; only the rest is known
    rewritten: int  # files those writes added that another writer rewrote since
    unknown: int | None = None  # not whole: the snapshot whose parent is not known

    def describe(self) -> str:
        text = (
            f"{self.table}: {len(self.files)} file(s) of {self.rows} row(s) stay as the "
            f"rolled-back write left them, of {len(self.frames)} frame(s) it wrote anew: "
            f"{_listed(self.frames)}; and of {len(self.kept_keys)} frame(s) it "
            f"rewrote with their keys: {_listed(self.kept_keys)}"
        )
        if self.gone:
            text += f"; {len(self.gone)} file(s) it removed ({self.gone_rows} row(s)) are gone"
        if self.rewritten:
            text += f"; {self.rewritten} file(s) it added were rewritten by another writer"
        if not self.whole:
            text += (
                "; snapshots since the pin were expired (the walk back ends at snapshot "
                f"{self.unknown}): what they changed is not known"
            )
        return text


def _listed(frames: tuple[str, ...], most: int = 100) -> str:
    """Frame ids as text, the first `most` of them (all are in the audit row)."""
    text = ", ".join(frames[:most]) or "-"
    return text + (f" and {len(frames) - most} more" if len(frames) > most else "")


def review(lake: Lake, next_key: int) -> list[Kept]:
    """What accepting the lake as it is would keep, table by table (reads the lake only;
    `next_key`: the catalog's next frame key, the first a rolled-back write gave)."""
    out = []
    for name, table in lake.tables.items():
        if table.version is None or lake.writer is None:
            continue
        if lake.format.version(name) == table.version:
            continue
        found = plan(lake, name, table.version, lake.writer)
        if found is not None and (found.gone or found.back or found.lost or not found.whole):
            out.append(_kept(lake, found, next_key))
    return out


def review_file(path: str) -> list[Kept]:
    """`review` of the catalog file at `path`, opened read-only without its views (their
    pinned files may be the ones gone)."""
    con = duckdb.connect(path, read_only=True)
    try:
        lake = Lake.load(con)
        next_key = layout.next_frame_key(con)
    finally:
        con.close()
    return [] if lake is None else review(lake, next_key)


def command(path: str, *, confirm: bool) -> list[str]:
    """`workbench lake accept [--confirm]` on the catalog file at `path`: what would stay
    (or stayed), line by line."""
    kept = review_file(path)
    if not kept:
        return ["nothing to accept: the lake holds no write this catalog rolled back"]
    lines = [k.describe() for k in kept]
    if not confirm:
        return [*lines, "would keep the lake as it is and store those frames again (add --confirm)"]
    from workbench.store.catalog import Catalog

    Catalog(path, accept_lake=True).close()
    return [*lines, "kept: the catalog now reads the lake as it is (audit action lake.accept)"]


def _kept(lake: Lake, found: Plan, next_key: int) -> Kept:
    uris = [found.uri(p) for p in sorted(found.gone)]
    keys = _frame_keys(lake, found.name, uris)
    anew = sorted(f for f, k in keys.items() if k is None or k >= next_key)
    missing = found.missing()
    return Kept(
        found.name,
        tuple(uris),
        sum(rows_of(r) for r in found.gone.values()),
        tuple(anew),
        tuple(sorted(keys.keys() - set(anew))),
        tuple(found.uri(p) for p in missing),
        sum(rows_of(found.back[p]) for p in missing),
        found.whole,
        len(found.lost),
        found.unknown,
    )


def _frame_keys(lake: Lake, name: str, uris: list[str]) -> dict[str, int | None]:
    """The frames whose rows the files hold, with the frame key they have there."""
    if not uris:
        return {}
    fs: Any = filesystem(lake.root) if is_remote(lake.root) else None
    paths = [u.split("://", 1)[1] for u in uris] if fs is not None else uris
    column = FRAME_KEY[name]
    read = pq.read_table(paths, columns=[column, "frame_key"], filesystem=fs, partitioning=None)
    ids, keys = read[column].to_pylist(), read["frame_key"].to_pylist()
    return {str(i): k for i, k in zip(ids, keys, strict=True) if i is not None}


def accept(catalog: Any, *, actor: str | None = None) -> list[Kept]:
    """Keep the lake of `catalog` (opened with `accept_lake`) as it is: pins moved to the
    tables' latest versions, the kept frames stored again, one audit row; returns what was
    kept."""
    lake: Lake = catalog.lake
    with catalog.transaction() as con:
        kept = review(lake, layout.next_frame_key(con))
        anew = sorted({f for k in kept for f in k.frames})
        # summaries come from the ROIs: a frame whose other rows alone were rewritten with
        # its key (sources, a frame's row copied) keeps them as they are
        touched = sorted({f for k in kept if k.table == "rois" for f in k.kept_keys} - set(anew))
        name_writer(con, lake)
        lake.unrepaired = False
        lake.pin(con)
        orphans = _orphans(con)
        append_audit_row(
            con,
            actor=actor or default_actor(),
            action="lake.accept",
            target={"lake": lake.root},
            count=len(anew),
            outcome="ok",
            details={
                "tables": {
                    k.table: {"files": list(k.files), "gone": list(k.gone), "whole": k.whole}
                    for k in kept
                },
                "frames": anew,
                "summarised_again": touched,
                "summaries_removed": orphans,
            },
        )
        with catalog.editing(con, anew + touched):
            _store_again(con, anew, touched, orphans)
    return kept


def _store_again(
    con: duckdb.DuckDBPyConnection, anew: list[str], touched: list[str], orphans: list[int]
) -> None:
    """Inside `editing`: the frames `anew` stored again with new keys (they have no
    summaries: their keys are past the catalog's), the summaries of `touched` made again
    from their ROIs as they are, and those of the keys `orphans` (no frame any more) from
    none."""
    if touched:
        layout.touch(con, "SELECT unnest(?::VARCHAR[])", [touched])
    for name in LAKE_TABLES if anew else ():
        con.execute(
            f"UPDATE temp.{quote_ident(name)} SET frame_key = NULL "
            f"WHERE {FRAME_KEY[name]} IN (SELECT unnest(?::VARCHAR[]))",
            [anew],
        )
    if orphans:
        con.execute("INSERT INTO _layout_pending SELECT unnest(?::BIGINT[])", [orphans])


def _orphans(con: duckdb.DuckDBPyConnection) -> list[int]:
    """The keys the catalog's summaries hold that no frame of the lake has."""
    rows = con.execute(
        "SELECT DISTINCT frame_key FROM ("
        " SELECT frame_key FROM frame_labels UNION SELECT frame_key FROM frame_codes)"
        " WHERE frame_key NOT IN (SELECT frame_key FROM frames WHERE frame_key IS NOT NULL)"
        " ORDER BY 1"
    ).fetchall()
    return [int(k) for (k,) in rows]
