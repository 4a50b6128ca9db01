"""The ClearML update's line digests at scale: the lookup of a batch of lines, its check again
inside the write's transaction, the digests' record and the URIs of the unchanged frames, at
200,000, 1M and 10M stored frames, without importing them.

    python bench/line_digests_scale_bench.py --stored 200000 1000000 10000000 --rounds 5
    python bench/line_digests_scale_bench.py --stored 10000000 --workdir /tmp/digests --keep
    python bench/line_digests_scale_bench.py --stored 10000000 --rounds 3 --hashed-ids

Each catalog is filled by SQL as imports leave it: frames in key order with a source and
four ROIs each (ROIs without geometry), and a line digest per frame written in line order,
from files of 1,000,000 lines each. The batch is 40,960 lines of the middle of the last file
(every line found), as an update of that file looks them up. Each round runs, alternately,
the lookup before (the whole table joined, as schema version 13 did: hand-written here) and
now (`line_digests.lookup`, its file's stretch of lines). Then, alternately too, the write
side before (schema 14's first form, hand-written here) and now:
- the check at the write of a 122,880-line write whose every line was found: before, the
  lookup made again; now `line_digests.changed_since`;
- the record of a first import's last write (the 122,880 newest frames, the last lines of the
  last file), rolled back: before, its frames found by a join on id over every frame and its
  old rows forgotten by `frame_key IN (...)`; now `line_digests.record`, given the next frame
  key as it was before that write;
- the record of an update's write whose frames the writer left as they were (lines moved:
  the WRITE frames from the middle of the catalog, none at or past the next frame key),
  rolled back: before, found by a join on id over every frame (`record` without `stored`);
  now, by their ids' hashes (`stored`: store/layout_hashes.py, the tables filled once first);
- the forget alone (the DELETE of the rows the record replaces, rolled back): before, by
  frame key; now, at the lines' places (the file's key and stretch of lines).
CPU is the process's (DuckDB's threads included); the load average is printed with each
figure.
"""

from __future__ import annotations

import argparse
import functools
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa

import workbench
from workbench.ingest._clearml_digests import DIGESTED_ROWS
from workbench.store import layout_hashes, line_digests
from workbench.store.arrow import registered
from workbench.store.line_digests import FRAME_HASH, TABLE

LINES_PER_FILE = 1_000_000
BATCH = 40_960
WRITE = 122_880  # lines of one write: three batches

# Schema version 13's lookup: the batch joined against every stored digest and frame.
BEFORE = (
    "SELECT DISTINCT ON (b.n) b.n, f.id, d.frame_key, d.sources, d.rois FROM _wb_line_digests b "
    f"JOIN {TABLE} d ON d.digest = b.digest AND d.line_bytes = b.line_bytes "
    f"JOIN frames f ON f.frame_key = d.frame_key WHERE {FRAME_HASH} = d.frame_hash "
    "ORDER BY b.n"
)


# The first form of the record: the write's frames found by id, then their old rows forgotten
# by frame key, the new ones inserted in line order.
RECORD_BEFORE = (
    "CREATE OR REPLACE TEMP TABLE _wb_digest_rows AS SELECT ?::UBIGINT AS file_key, b.line, "
    f"f.frame_key, b.digest, b.line_bytes, {FRAME_HASH} AS frame_hash, b.sources, b.rois "
    "FROM _wb_digested b JOIN frames f ON f.id = b.id WHERE f.frame_key IS NOT NULL"
)
# The rows of an update's write whose every 100th line was converted by an earlier update.
SCATTERED = (
    "CREATE OR REPLACE TEMP TABLE _wb_digest_rows AS SELECT file_key, line, CASE WHEN "
    "line % 100 = 0 THEN ?::BIGINT - line // 100 ELSE frame_key END AS frame_key, digest, "
    f"line_bytes, frame_hash, sources, rois FROM {TABLE} WHERE file_key = ?::UBIGINT AND "
    "line BETWEEN ? AND ?"
)
FORGET_BEFORE = f"DELETE FROM {TABLE} WHERE frame_key IN (SELECT frame_key FROM _wb_digest_rows)"
FORGET_NOW = (
    f"DELETE FROM {TABLE} WHERE file_key = ?::UBIGINT AND line BETWEEN ? AND ? "
    "AND line IN (SELECT line FROM _wb_digest_rows)"
)


def _path(i: int) -> str:
    return f"/data/part-{i // LINES_PER_FILE:03d}.ndjson"


def _fill(db: Path, stored: int, hashed_ids: bool = False) -> None:
    """A catalog of `stored` frames as imports of files of LINES_PER_FILE lines leave it;
    with `hashed_ids`, frame ids in no order of their keys (md5 texts, as UUIDs are)."""
    frame_id = "md5(({i})::VARCHAR)" if hashed_ids else "printf('f%09d', {i})"
    of_frame, of_roi = frame_id.format(i="i"), frame_id.format(i="i // 4")
    workbench.open(db).close()
    con = duckdb.connect(str(db))
    try:
        con.execute("SET preserve_insertion_order = true")
        con.execute(
            "INSERT INTO frames (id, context_id, timestamp, metadata, weather, ingested, "
            f"frame_key) SELECT {of_frame}, printf('ctx%07d', i // 50), i * 100, "
            "json_object('speed', i % 90), ['clear', 'rain', 'fog', 'snow'][i // 50 % 4 + 1], "
            "TIMESTAMP '2026-12-01 00:00:00', i FROM range(?) t(i) ORDER BY i",
            [stored],
        )
        con.execute(
            "INSERT INTO sources (frame_id, id, uri, width, height, frame_key) SELECT "
            f"{of_frame}, 'default', printf('s3://bench/frames/%09d.jpg', i), 1920, "
            "1080, i FROM range(?) t(i) ORDER BY i",
            [stored],
        )
        con.execute(
            "INSERT INTO rois (frame_id, id, field, label, kind, confidence, frame_key) SELECT "
            f"{of_roi}, 'r' || (i % 4), 'ground_truth', 'car', 'polygon', "
            "(i % 100) / 100, i // 4 FROM range(?) t(i) ORDER BY i",
            [stored * 4],
        )
        con.execute(
            f"INSERT INTO {TABLE} SELECT hash(printf('/data/part-%03d.ndjson', "
            f"f.frame_key // {LINES_PER_FILE})), f.frame_key % {LINES_PER_FILE} + 1, "
            "f.frame_key, hash(f.frame_key, 'line'), 900, "
            f"{FRAME_HASH}, 1, 4 FROM frames f ORDER BY f.frame_key"
        )
        con.execute("CHECKPOINT")
    finally:
        con.close()


def _batch(con: Any, stored: int, size: int) -> tuple[int, pa.Table]:
    """The key of the last file and `size` of its lines from its middle (n, digest,
    line_bytes), as an update of it digests them."""
    last = (stored - 1) // LINES_PER_FILE * LINES_PER_FILE  # the last file's first frame
    lines = min(LINES_PER_FILE, stored - last)
    first = last + max(0, lines // 2 - size // 2)
    table = con.sql(
        f"SELECT i % {LINES_PER_FILE} + 1 AS n, hash(i, 'line') AS digest, 900::INTEGER AS "
        "line_bytes FROM range(?, ?) t(i) ORDER BY i",
        params=[first, first + size],
    ).to_arrow_table()
    return line_digests.file_key(con, _path(last)), table


def _before(con: Any, lines: pa.Table) -> int:
    con.register("_wb_line_digests", lines)
    try:
        return con.sql(BEFORE).to_arrow_table().num_rows
    finally:
        con.unregister("_wb_line_digests")


def _last_write(con: Any, stored: int) -> tuple[int, int, pa.Table]:
    """The key of the last file, the next frame key before a first import's last write and
    that write's digested rows (its WRITE frames, the newest, the file's last lines)."""
    since = stored - WRITE
    digested = con.sql(
        f"SELECT f.id, d.line, d.digest, d.line_bytes, d.sources, d.rois FROM frames f JOIN "
        f"{TABLE} d ON d.frame_key = f.frame_key WHERE f.frame_key >= ? ORDER BY d.line",
        params=[since],
    ).to_arrow_table()
    return line_digests.file_key(con, _path(stored - 1)), since, digested.cast(DIGESTED_ROWS)


def _older(con: Any, stored: int) -> pa.Table:
    """The digested rows of WRITE frames from the middle of the catalog, at lines of their
    own (as an update's write of lines moved leaves their frames as they were)."""
    first = stored // 2 - WRITE // 2
    digested = con.sql(
        f"SELECT f.id, d.line + {LINES_PER_FILE} AS line, d.digest, d.line_bytes, d.sources, "
        f"d.rois FROM frames f JOIN {TABLE} d ON d.frame_key = f.frame_key "
        "WHERE f.frame_key BETWEEN ? AND ? ORDER BY d.frame_key",
        params=[first, first + WRITE - 1],
    ).to_arrow_table()
    return digested.cast(DIGESTED_ROWS)


def _rolled_back(con: Any, step: Callable[[], None]) -> None:
    con.execute("BEGIN TRANSACTION")
    try:
        step()
    finally:
        con.execute("ROLLBACK")


def _record_before(con: Any, file: int, digested: pa.Table) -> None:
    with registered(con, "_wb_digested", digested):
        con.execute(RECORD_BEFORE, [file])
    con.execute(FORGET_BEFORE)
    con.execute(f"INSERT INTO {TABLE} SELECT * FROM _wb_digest_rows ORDER BY line")
    con.execute("DROP TABLE _wb_digest_rows")


def _forget(con: Any, rows: Callable[[], None], place: list[int], now: bool) -> float:
    """The CPU of the DELETE of the rows the record of the rows `rows` builds replaces, alone
    (`place`: the file's key, the first and last line), rolled back."""
    con.execute("BEGIN TRANSACTION")
    try:
        rows()
        cpu = time.process_time()
        if now:
            con.execute(FORGET_NOW, place)
        else:
            con.execute(FORGET_BEFORE)
        return time.process_time() - cpu
    finally:
        con.execute("ROLLBACK")


def _scattered(con: Any, stored: int) -> tuple[Callable[[], None], list[int]]:
    """The rows of an update's write of WRITE lines from the middle of the first file, every
    100th of them converted by an earlier update (its frame stored again since, with a key
    among the newest): the record's rows and their place."""
    lines = min(LINES_PER_FILE, stored)
    place = [
        line_digests.file_key(con, _path(0)),
        lines // 2 - WRITE // 2,
        lines // 2 + WRITE // 2 - 1,
    ]

    def rows() -> None:
        con.execute(SCATTERED, [stored - 1, *place])

    return rows, place


def _check_before(con: Any, file: int, found: pa.Table) -> int:
    """The check at the write as first made: the lookup again, matched by line and key."""
    now = line_digests.lookup(con, file, found)
    numbers = found["n"].to_numpy()
    at = np.minimum(np.searchsorted(now["n"].to_numpy(), numbers), max(now.num_rows - 1, 0))
    if now.num_rows == 0:
        return 0
    same = (now["n"].to_numpy()[at] == numbers) & (
        now["frame_key"].to_numpy()[at] == found["frame_key"].to_numpy()
    )
    return int(same.sum())


def _timed(step: Callable[[], int]) -> tuple[float, float, int]:
    wall, cpu = time.perf_counter(), time.process_time()
    rows = step()
    return time.process_time() - cpu, time.perf_counter() - wall, rows


def _load() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def _measure(db: Path, stored: int, rounds: int) -> dict[str, list[float]]:
    figures: dict[str, list[float]] = {}
    with workbench.open(db) as catalog:
        con = catalog.cursor()
        file, batch = _batch(con, stored, BATCH)
        _, write = _batch(con, stored, WRITE)
        found = line_digests.lookup(con, file, write)
        assert found.num_rows == WRITE, found.num_rows
        keys = found["frame_key"].combine_chunks()
        last, since, digested = _last_write(con, stored)
        assert digested.num_rows == WRITE, digested.num_rows

        def record_now() -> None:
            line_digests.record(con, last, digested, since)

        layout_hashes.caught_up(con, layout_hashes.FRAMES)  # once, as the writes keep it
        older = _older(con, stored)
        assert older.num_rows == WRITE, older.num_rows
        by_hash = functools.partial(layout_hashes.candidates, con, layout_hashes.FRAMES)

        steps: dict[str, Callable[[], int]] = {
            "lookup before": lambda: _before(con, batch),
            "lookup now": lambda: line_digests.lookup(con, file, batch).num_rows,
            "check before": lambda: _check_before(con, file, found),
            "check now": lambda: WRITE - len(line_digests.changed_since(con, file, found)),
            "record before": lambda: (
                _rolled_back(con, lambda: _record_before(con, last, digested)) or WRITE
            ),
            "record now": lambda: _rolled_back(con, record_now) or WRITE,
            "record older before": lambda: (
                _rolled_back(con, lambda: line_digests.record(con, 1, older, stored)) or WRITE
            ),
            "record older now": lambda: (
                _rolled_back(con, lambda: line_digests.record(con, 1, older, stored, by_hash))
                or WRITE
            ),
            "unchanged URIs": lambda: len(line_digests.unchanged_uris(con, keys)),
        }
        lines = digested["line"].to_numpy()

        def own_rows() -> None:
            with registered(con, "_wb_digested", digested):
                con.execute(RECORD_BEFORE, [last])

        own = (own_rows, [last, int(lines.min()), int(lines.max())])
        forgets = {
            "forget before": (own, False),
            "forget now": (own, True),
            "forget scattered before": (_scattered(con, stored), False),
            "forget scattered now": (_scattered(con, stored), True),
        }
        for round_ in range(rounds):
            shown = []
            for name, step in steps.items():
                cpu, wall, rows = _timed(step)
                figures.setdefault(name, []).append(cpu)
                shown.append(f"{name} {cpu:.4f} ({wall:.4f} wall, {rows:,} rows)")
            for name, ((rows, place), now) in forgets.items():
                cpu = _forget(con, rows, place, now)
                figures.setdefault(name, []).append(cpu)
                shown.append(f"{name} {cpu:.4f}")
            print(f"  {stored:>10,} round {round_ + 1}: " + "; ".join(shown) + f"; load {_load()}")
        con.close()
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--stored", type=int, nargs="+", default=[200_000, 1_000_000])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--keep", action="store_true", help="keep (and reuse) the catalogs")
    parser.add_argument(
        "--hashed-ids", action="store_true", help="frame ids in no order of their keys (md5)"
    )
    args = parser.parse_args()
    folder = args.workdir or Path(tempfile.mkdtemp(prefix="digests-scale-"))
    folder.mkdir(parents=True, exist_ok=True)
    try:
        for stored in args.stored:
            db = folder / f"stored-{stored}{'-hashed' if args.hashed_ids else ''}.duckdb"
            if not db.exists():
                started, cpu = time.perf_counter(), time.process_time()
                _fill(db, stored, args.hashed_ids)
                print(
                    f"filled {stored:,} frames in {time.perf_counter() - started:.0f} s "
                    f"({time.process_time() - cpu:.0f} s CPU), {db.stat().st_size / 1e6:.0f} MB"
                )
            figures = _measure(db, stored, args.rounds)
            medians = ", ".join(f"{k} {statistics.median(v):.4f}" for k, v in figures.items())
            print(f"{stored:,} stored, median CPU s: {medians}; load {_load()}")
            if not args.keep:
                db.unlink()
    finally:
        if not args.keep and args.workdir is None:
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
