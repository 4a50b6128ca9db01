"""What a write of new frames costs as the catalog grows: the writer's batches, one by one.

    python bench/writes_growth_bench.py --writes 30                # 30 x 122,880 frames
    python bench/writes_growth_bench.py --writes 30 --statements   # and each statement's share

Stores `--writes` batches of `--per-write` new frames (COCO's rows as the COCO importer hands
them to `CatalogWriter.write_rows`: one image source per frame, `--rois` boxes each, ids
`bench:1`, `bench:2`, ... in file order, each image its own context) into one growing
catalog, and prints per write the process's CPU seconds (`time.process_time`: the engine's
threads are in it), wall seconds and the bytes read meanwhile (`/proc/self/io`: `rchar`,
every read() including the page cache's, and `read_bytes`, from the disk). The rows are made
before each write and are not counted. A write whose cost does not depend on what the catalog
already holds shows as the same figures from the first write to the last.

With `--replace SHARE` (e.g. 0.1), each write of new frames is followed by an update: the
first `--per-write` frames stored again, a share `SHARE` of them (every 1/SHARE-th) changed
(their metadata names the write), so the writer replaces those frames (deletes them, their
sources and ROIs, and inserts them anew) and finds the others unchanged. Its CPU is printed
beside the write's (`update_cpu_s`): a replacement whose cost does not depend on the catalog
shows the same from the first to the last.

With `--statements`, each SQL statement of the writes (the catalog's transaction cursor
wrapped) with its CPU and `rchar` in the first and the last few writes, so the statements
that grow stand out. The load average is printed with every write.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import re
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

import workbench
from workbench.ingest.writer import CatalogWriter, RowBatch
from workbench.model.records import FRAME_SCHEMA, ROI_SCHEMA, SOURCE_SCHEMA

LABELS = ("car", "person", "truck", "bicycle", "bus")


def _io() -> dict[str, int]:
    found: dict[str, int] = {}
    with open("/proc/self/io") as io:
        for line in io:
            key, _, value = line.partition(":")
            found[key] = int(value)
    return found


def _text(prefix: str, numbers: np.ndarray, suffix: str = "") -> pa.Array:
    digits = pa.array(numbers).cast(pa.string())
    return pc.binary_join_element_wise(prefix, digits, suffix, "")


def batch(first: int, count: int, rois: int) -> RowBatch:
    """Frames `first + 1 ...` of COCO's bench file as the COCO importer stores them."""
    ids = np.arange(first + 1, first + count + 1, dtype=np.int64)
    frame_id = _text("bench:", ids)
    padded = pa.array([f"{i - 1:07d}" for i in ids.tolist()], pa.string())
    uri = pc.binary_join_element_wise("s3://bench/coco/", padded, ".jpg", "")
    nulls = {f.name: pa.nulls(count, f.type) for f in FRAME_SCHEMA if f.name != "ingested"}
    frames = pa.table(
        {
            **nulls,
            "id": frame_id,
            "context_id": uri,
            "metadata": pa.array(['{"license":1}'] * count, pa.string()),
        },
        schema=pa.schema([f for f in FRAME_SCHEMA if f.name != "ingested"]),
    )
    sources = pa.table(
        {
            "frame_id": frame_id,
            "id": pa.array(["image"] * count),
            "uri": uri,
            "width": pa.array(np.full(count, 640, np.int32)),
            "height": pa.array(np.full(count, 480, np.int32)),
            "content_type": pa.array(["image/jpeg"] * count),
            "timestamp": pa.nulls(count, pa.int64()),
            "preview_uri": pa.nulls(count, pa.string()),
            "masks": pa.nulls(count, pa.string()),
        },
        schema=SOURCE_SCHEMA,
    )
    n = count * rois
    at = np.repeat(np.arange(count), rois)
    serial = np.arange(first * rois + 1, first * rois + n + 1, dtype=np.int64)
    x = ((serial * 7) % 600).astype(np.float64)
    y = ((serial * 13) % 440).astype(np.float64)
    label = pa.array(np.array(LABELS)[serial % len(LABELS)])
    corners = np.stack([x, y, x + 30.5, y, x + 30.5, y + 20, x, y + 20], axis=1).reshape(-1)
    inner = pa.FixedSizeListArray.from_arrays(pa.array(corners), 8).cast(pa.list_(pa.float64()))
    geometry = pa.ListArray.from_arrays(pa.array(np.arange(n + 1, dtype=np.int32)), inner)
    table = pa.table(
        {
            "frame_id": frame_id.take(pa.array(at)),
            "id": pa.array(serial).cast(pa.string()),
            "field": pa.array(["ground_truth"] * n),
            "label": label,
            "labels": pa.ListArray.from_arrays(pa.array(np.arange(n + 1, dtype=np.int32)), label),
            "confidence": pa.nulls(n, pa.float64()),
            "kind": pa.array(["box"] * n),
            "geometry": geometry,
            "x_min": x,
            "y_min": y,
            "x_max": x + 30.5,
            "y_max": y + 20,
            "area": np.full(n, 610.0),
            "source_ids": pa.ListArray.from_arrays(
                pa.array(np.zeros(n + 1, dtype=np.int32)), pa.array([], pa.string())
            ),
            "mask": pa.nulls(n, pa.string()),
            "attributes": pa.array(
                ['{"category_id":1,"supercategory":"thing","area":610.0,"iscrowd":0}'] * n
            ),
            "track_index": pa.nulls(n, pa.int32()),
            "keyframe": pa.nulls(n, pa.bool_()),
            "visibility": pa.nulls(n, pa.list_(pa.int8())),
        }
    )
    return RowBatch(frames, sources, table.cast(ROI_SCHEMA))


class _Statements:
    """CPU seconds and bytes read (`rchar`) per statement, kept by write."""

    def __init__(self) -> None:
        self.write = 0
        self.cost: dict[int, collections.Counter[str]] = collections.defaultdict(
            collections.Counter
        )
        self.read: dict[int, collections.Counter[str]] = collections.defaultdict(
            collections.Counter
        )

    def count(self, sql: str, cpu: float, read: int) -> None:
        key = re.sub(r"\s+", " ", sql)[:100]
        self.cost[self.write][key] += cpu
        self.read[self.write][key] += read


class _Timed:
    """A connection whose statements (and its relations' fetches) are counted."""

    def __init__(self, con: Any, seen: _Statements) -> None:
        self._con, self._seen = con, seen

    def __getattr__(self, name: str) -> Any:
        return getattr(self._con, name)

    def _timed(self, sql: str, run: Any) -> Any:
        cpu, read = time.process_time(), _io()["rchar"]
        try:
            return run()
        finally:
            self._seen.count(sql, time.process_time() - cpu, _io()["rchar"] - read)

    def execute(self, sql: str, *args: Any, **kwargs: Any) -> Any:
        return self._timed(sql, lambda: self._con.execute(sql, *args, **kwargs))

    def sql(self, sql: str, *args: Any, **kwargs: Any) -> Any:
        return _Relation(self, sql, self._con.sql(sql, *args, **kwargs))


class _Relation:
    def __init__(self, timed: _Timed, sql: str, relation: Any) -> None:
        self._timed, self._sql, self._relation = timed, sql, relation

    def __getattr__(self, name: str) -> Any:
        found = getattr(self._relation, name)
        if not callable(found):
            return found
        return lambda *a, **k: self._timed._timed(self._sql, lambda: found(*a, **k))


def changed(rows: RowBatch, share: float, write: int) -> RowBatch:
    """`rows` with every 1/`share`-th frame's metadata naming `write` (a change)."""
    count = rows.frames.num_rows
    every = max(1, round(1 / share))
    marked = pa.array(np.arange(count) % every == 0)
    metadata = pc.if_else(marked, f'{{"license":1,"write":{write}}}', rows.frames["metadata"])
    at = rows.frames.schema.get_field_index("metadata")
    frames = rows.frames.set_column(at, rows.frames.schema.field(at), metadata)
    return RowBatch(frames, rows.sources, rows.rois)


def run(
    writes: int,
    per_write: int,
    rois: int,
    statements: bool,
    replace: float = 0.0,
    keep: Path | None = None,
) -> dict[str, Any]:
    seen = _Statements()
    rows: list[dict[str, Any]] = []
    with (
        tempfile.TemporaryDirectory(prefix="writes-growth-") as tmp,
        workbench.open(keep or Path(tmp) / "c.duckdb") as catalog,
    ):
        if statements:
            plain = catalog._cursor
            catalog._cursor = lambda: _Timed(plain(), seen)  # type: ignore[method-assign]
        with CatalogWriter(catalog, batch_size=per_write, progress=False) as writer:
            for w in range(writes):
                rows_in = batch(w * per_write, per_write, rois)
                seen.write = 2 * w  # an update's statements apart: 2 * w + 1
                io, cpu, wall = _io(), time.process_time(), time.perf_counter()
                writer.write_rows(rows_in)
                after = _io()
                row = {
                    "write": w,
                    "cpu_s": round(time.process_time() - cpu, 2),
                    "wall_s": round(time.perf_counter() - wall, 2),
                    "rchar_mb": round((after["rchar"] - io["rchar"]) / 1e6),
                    "read_bytes_mb": round((after["read_bytes"] - io["read_bytes"]) / 1e6),
                    "load": os.getloadavg()[0],
                }
                if replace:
                    again = changed(batch(0, per_write, rois), replace, w)
                    seen.write, cpu = 2 * w + 1, time.process_time()
                    writer.write_rows(again)
                    row["update_cpu_s"] = round(time.process_time() - cpu, 2)
                    if statements:  # the update's COMMIT (the engine's checkpoint in it)
                        row["update_commit_s"] = round(seen.cost[2 * w + 1]["COMMIT"], 3)
                rows.append(row)
                print("  " + json.dumps(row), flush=True)
        size = os.path.getsize(keep or Path(tmp) / "c.duckdb")
    return {"writes": rows, "catalog_mb": round(size / 1e6), "statements": seen}


def _print_statements(seen: _Statements, writes: int, top: int, update: bool = False) -> None:
    """The statements of the first and the last three writes (`update`: of the updates)."""
    early = [2 * w + update for w in range(min(3, writes))]
    late = [2 * w + update for w in range(max(writes - 3, 0), writes)]
    keys = set().union(*(seen.cost[w] for w in early + late))

    def mean(counter: dict[int, collections.Counter[str]], ws: list[int], key: str) -> float:
        return sum(counter[w][key] for w in ws) / max(len(ws), 1)

    growth = sorted(
        keys,
        key=lambda k: -(mean(seen.cost, late, k) - mean(seen.cost, early, k)),
    )
    what = "updates" if update else "writes"
    print(f"statements, CPU s / rchar MB a write, {what} {early} against {late} (2w; 2w + 1):")
    for key in sorted(keys, key=lambda k: -mean(seen.cost, late, k))[:top]:
        print(
            f"  {mean(seen.cost, early, key):6.3f} s {mean(seen.read, early, key) / 1e6:7.1f} MB"
            f" -> {mean(seen.cost, late, key):6.3f} s {mean(seen.read, late, key) / 1e6:7.1f} MB"
            f"  {key}"
        )
    print("grew the most:", [k[:60] for k in growth[:5]])


def _load() -> str:
    return Path("/proc/loadavg").read_text().strip()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--writes", type=int, default=30)
    parser.add_argument("--per-write", type=int, default=122_880, help="frames a write")
    parser.add_argument("--rois", type=int, default=4, help="ROIs a frame")
    parser.add_argument("--statements", action="store_true")
    parser.add_argument("--replace", type=float, default=0.0, help="share changed an update")
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--json", type=Path, help="write the per-write figures here")
    parser.add_argument("--keep", type=Path, help="the catalog (a new file), kept after")
    args = parser.parse_args()
    print(f"load {_load()}", flush=True)
    found = run(args.writes, args.per_write, args.rois, args.statements, args.replace, args.keep)
    cpu = [row["cpu_s"] for row in found["writes"]]
    head, tail = cpu[: min(3, len(cpu))], cpu[-min(3, len(cpu)) :]
    print(
        f"{args.writes} writes of {args.per_write:,} frames: CPU a write {np.mean(head):.2f} s"
        f" (first {len(head)}) -> {np.mean(tail):.2f} s (last {len(tail)}), total {sum(cpu):.1f}"
        f" s; catalog {found['catalog_mb']:,} MB; load {_load()}"
    )
    if args.replace:
        up = [row["update_cpu_s"] for row in found["writes"]]
        print(
            f"updates ({args.replace:.0%} changed): CPU {np.mean(up[:3]):.2f} s (first 3) ->"
            f" {np.mean(up[-3:]):.2f} s (last 3), total {sum(up):.1f} s"
        )
    if args.statements:
        _print_statements(found["statements"], args.writes, args.top)
        if args.replace:
            _print_statements(found["statements"], args.writes, args.top, update=True)
    if args.json:
        args.json.write_text(json.dumps(found["writes"], indent=1))


if __name__ == "__main__":
    main()
