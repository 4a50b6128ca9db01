"""The ClearML conversion's FRAMES and ROIS as one pass, and cheaper guards, measured on one
batch of lines before anything is built from them.

    python bench/clearml_one_pass_bench.py                 # 3 rounds, 40,960 lines
    python bench/clearml_one_pass_bench.py --rounds 5 --repeat 5

Today (ingest/_clearml_columnar.py) FRAMES parses each line and fetches its ROI list as
Arrow; ROIS scans those lists back, unnests them and values and checks every ROI, its rows
fetched as Arrow again. The ways of doing both in one pass, each timed here on the same
batch (the bench's ClearML file, its lines marked as an import marks them), alternately, in
one process, on an engine of one thread as the import's:

- `today`: FRAMES, then ROIS over its Arrow result.
- `fused`: the ROIs valued and checked inside FRAMES' statement by list lambdas (ROIS'
  every expression, step by step), the ROI rows taken from its result by Arrow's flatten.
- `arrow_items`: FRAMES as today, ROIS' rows unnested by Arrow (flatten and the frames'
  columns taken per ROI) and handed to ROIS without its unnest.
- `frames_alone`: FRAMES without its ROI list fetched: what any one pass could save at most
  (the list's Arrow round trip), its ROIs made in no time.

and the guards against hostile lines' prefilter (_columnar's depth scan):

- `depth_re2`: the scan before this bench, RE2 over every line (`_columnar.MANY_BRACKETS`).
- `depth_counted`: the opening brackets counted by Arrow (`count_substring`), the RE2 scan
  left to the lines with more than the limit.
- `depth_numpy`: the opening brackets counted by numpy a stretch of lines at a time
  (`_columnar.many_brackets`, what the reading does now).

`fused` and `arrow_items` are checked to make ROIS' rows exactly (`same_rois`). Printed:
the CPU (`time.process_time`, the engine's one thread is this process's) of each, per
batch, each round; the load average at each round's start.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

sys.path.insert(0, str(Path(__file__).parent))
import formats_bench
from step_cpu import load

from workbench.ingest import _clearml_sql as sql
from workbench.ingest._clearml_columnar import _marked
from workbench.ingest._clearml_rows import geometry_of
from workbench.ingest._columnar import MANY_BRACKETS, MemoryEngine, many_brackets, ndjson_batches
from workbench.model.limits import (
    MAX_COORDINATE,
    MAX_ID_LENGTH,
    MAX_JSON_DEPTH,
    MAX_JSON_FIELD_BYTES,
    MAX_LABEL_LENGTH,
    MAX_LABELS_PER_ROI,
    MAX_POINTS_PER_ROI,
)
from workbench.store.arrow import registered

# ROIS' steps as list lambdas over FRAMES' parse (`d.rois`), for the lines' own `t` and the
# frame's one source (`id1`, `w1`, `h1`), each step a struct per ROI.
_VALUED = f"""list_transform(d.rois, lambda r, i: {{
    'k': i - 1,
    'id': CASE WHEN r.id IS NULL OR r.id = '' THEN d.id || ':' || (i - 1) ELSE r.id END,
    'given': coalesce(r.id <> '', false),
    'labels': coalesce(r.label, []::VARCHAR[]), 'v': coalesce(r.poly, []::DOUBLE[]),
    'source_ids': coalesce(r.sources, []::VARCHAR[]), 'confidence': r.confidence,
    'reserved': coalesce(contains(r.meta, '"_') OR contains(r.meta, '"kind"'), false),
    'meta': r.meta,
    'raw_ok': coalesce(r IS NOT NULL AND NOT (r.id IS NULL AND r.label IS NULL
        AND r.labels IS NULL AND r.poly IS NULL AND r.confidence IS NULL
        AND r.sources IS NULL AND r.mask IS NULL AND r.meta IS NULL)
    AND r.labels IS NULL AND (r.confidence IS NULL OR r.confidence BETWEEN 0 AND 1)
    AND NOT coalesce(starts_with(r.sources[1], '{{'), false) AND is_null(r.mask)
    AND (is_null(r.meta) OR (left(r.meta, 1) = '{{'
         AND length(r.meta) <= {MAX_JSON_FIELD_BYTES // 2})), false)}})"""
_META = f"""list_transform(valued, lambda r: struct_insert(r,
    j := CASE WHEN r.reserved THEN json_extract(r.meta, {sql._RESERVED_PATHS}) END,
    xs := list_slice(r.v, 1, len(r.v), 2), ys := list_slice(r.v, 2, len(r.v), 2)))"""
_SHAPED = f"""list_transform(metad, lambda r: struct_insert(r,
    roi_id := CASE WHEN r.given OR is_null(r.j[8]) OR r.j[8] = '""' THEN r.id
        ELSE coalesce(str_of(r.j[8]), int_of(r.j[8])::VARCHAR, r.id) END,
    kind_s := CASE WHEN r.reserved THEN str_of(r.j[1]) END,
    field_s := CASE WHEN r.reserved THEN str_of(r.j[2]) END,
    kind := coalesce(CASE WHEN r.reserved THEN str_of(r.j[1]) END,
        CASE WHEN len(r.v) = 0 THEN 'classification' WHEN box_ring(r.v) THEN 'box'
        WHEN len(r.v) = 2 THEN 'point' ELSE 'polygon' END),
    x_min := CASE WHEN len(r.v) > 0 THEN list_min(r.xs) END,
    y_min := CASE WHEN len(r.v) > 0 THEN list_min(r.ys) END,
    x_max := CASE WHEN len(r.v) > 0 THEN list_max(r.xs) END,
    y_max := CASE WHEN len(r.v) > 0 THEN list_max(r.ys) END,
    attributes := nullif(CASE WHEN r.reserved THEN json_merge_patch(r.meta, '{sql._RESERVED}')
        ELSE r.meta END::VARCHAR, '{{}}')))"""


def _reserved_ok() -> str:
    """ROIS' checks of a reserved meta key, over the lambda's struct `r`."""
    text = sql._RESERVED_OK
    text = text.replace("sdk_id_j", "r.j[8]").replace("given", "r.given")
    for name, at in (("kind_attribute_j", 6), ("sdk_type_j", 7), ("kind_j", 1), ("field_j", 2)):
        text = text.replace(name, f"r.j[{at}]")
    for name, at in (("track_j", 3), ("keyframe_j", 4), ("bbox_j", 5)):
        text = text.replace(name, f"r.j[{at}]")
    return text.replace("kind_s", "r.kind_s").replace("field_s", "r.field_s").replace("r.t", "t")


_FINAL = f"""list_transform(shaped, lambda r: {{
    'k': r.k, 'id': r.roi_id,
    'field': CASE WHEN is_null(r.j[2]) OR r.j[2] = '""' THEN 'ground_truth' ELSE r.field_s END,
    'label': r.labels[1], 'labels': r.labels, 'confidence': r.confidence, 'kind': r.kind,
    'geometry': CASE WHEN len(r.v) = 0 THEN []::DOUBLE[][] ELSE [r.v] END,
    'x_min': r.x_min, 'y_min': r.y_min, 'x_max': r.x_max, 'y_max': r.y_max,
    'area': (r.x_max - r.x_min) * (r.y_max - r.y_min),
    'source_ids': r.source_ids, 'mask': NULL::VARCHAR, 'attributes': r.attributes,
    'track_index': TRY_CAST(int_of(r.j[3]) AS INTEGER),
    'keyframe': CASE r.j[4] WHEN 'true' THEN true WHEN 'false' THEN false END,
    'zero_area': r.kind IN ('box', 'polygon', 'mask') AND r.x_min IS NOT NULL
        AND (r.x_max <= r.x_min OR r.y_max <= r.y_min),
    'one': id1 IS NOT NULL,
    'outside': {sql._OUTSIDE_ONE.replace("r.id1", "id1").replace("r.w1", "w1").replace("r.h1", "h1")},
    'unknown_source': {sql._UNKNOWN_ONE.replace("r.id1", "id1")},
    'ok': coalesce(r.raw_ok AND name_ok(r.roi_id, {MAX_ID_LENGTH}, t)
    AND names_ok(r.labels, {MAX_LABEL_LENGTH}, t) AND len(r.labels) <= {MAX_LABELS_PER_ROI}
    AND r.v IS NOT NULL AND len(r.v) % 2 = 0 AND len(r.v) <= {2 * MAX_POINTS_PER_ROI}
    AND NOT list_contains(r.v, -999999999.0)
    AND (len(r.v) = 0 OR (least(r.x_min, r.y_min) >= -{MAX_COORDINATE}
         AND greatest(r.x_max, r.y_max) <= {MAX_COORDINATE}))
    AND names_ok(r.source_ids, {MAX_ID_LENGTH}, t)
    AND CASE WHEN r.reserved THEN {_reserved_ok()} ELSE len(r.v) <> 4 END, false)}})"""

_ONE_SOURCE = """(s1.preview->'$.uri') AS preview1_j FROM indexed)"""
_ONE_SOURCE_SIZES = """(s1.preview->'$.uri') AS preview1_j,
    CASE WHEN len(sources) = 1 THEN sid1 END AS id1,
    CASE WHEN len(sources) = 1 THEN coalesce(TRY_CAST(s1.width AS INTEGER), 0) END AS w1,
    CASE WHEN len(sources) = 1 THEN coalesce(TRY_CAST(s1.height AS INTEGER), 0) END AS h1
    FROM sid)"""
_SID = (
    "one AS (SELECT *, CASE WHEN s1.id IS NULL OR s1.id = '' THEN 'default' ELSE s1.id END AS sid1,"
)
_SIZES = """    CASE WHEN len(sources) = 1 THEN sid1 END AS id1,
    CASE WHEN len(sources) = 1 THEN coalesce(TRY_CAST(s1.width AS INTEGER), 0) END AS w1,
    CASE WHEN len(sources) = 1 THEN coalesce(TRY_CAST(s1.height AS INTEGER), 0) END AS h1,
"""


def _edited(text: str, old: str, new: str) -> str:
    assert text.count(old) == 1, old  # FRAMES changed: the bench's edits are to be redone
    return text.replace(old, new)


def fused_frames() -> str:
    """FRAMES whose `rois` are ROIS' rows (every column, `k`, and ROIS_BY_FRAME's flags)."""
    text = _edited(
        sql.FRAMES,
        _SID,
        f"{_SID.replace('one AS', 'sid AS')[:-1]} FROM indexed),\none AS (SELECT *,",
    )
    text = _edited(text, _ONE_SOURCE, _ONE_SOURCE_SIZES)
    text = _edited(text, _SIZES, "    id1, w1, h1,\n")
    text = _edited(text, "FROM one\n", "FROM r4\n")
    steps = f""",
r1 AS (SELECT *, {_VALUED} AS valued FROM one),
r2 AS (SELECT * EXCLUDE (valued), {_META} AS metad FROM r1),
r3 AS (SELECT * EXCLUDE (metad), {_SHAPED} AS shaped FROM r2),
r4 AS (SELECT * EXCLUDE (shaped, rois), {_FINAL} AS rois FROM r3)
SELECT n, d.id AS id,"""
    return _edited(text, "\nSELECT n, d.id AS id,", steps)


_ITEMS = """items AS (
    SELECT n, id AS frame_id, unnest(rois) AS r, generate_subscripts(rois, 1) - 1 AS k, t,
        id1, w1, h1
    FROM _wb_f WHERE ok AND len(rois) > 0),"""
ROIS_OF_ITEMS = _edited(sql.ROIS, _ITEMS, "items AS (SELECT * FROM _wb_ri),")
FUSED = fused_frames()
FRAMES_ALONE = _edited(sql.FRAMES, "END AS several, rois, t,", "END AS several, NULL AS rois, t,")


class Batch:
    """One batch of lines marked as the import marks them, and the engine that converts it."""

    def __init__(self, lines: pa.Table) -> None:
        self.lines = _marked(lines)
        assert not self.lines["l"].to_numpy(zero_copy_only=False).any(), "labelled lines"
        self.engine = MemoryEngine(sql.MACROS, threads=1)
        self.con = self.engine.con

    def frames(self, query: str = sql.FRAMES) -> pa.Table:
        empty = self.lines.slice(0, 0)
        typed = registered(self.con, "_wb_typed", self.lines)
        with typed, registered(self.con, "_wb_labelled", empty):
            return self.con.sql(query, params={"base": None}).to_arrow_table()

    def today(self) -> pa.Table:
        with registered(self.con, "_wb_f", self.frames()):
            return _with_geometry(self.con.sql(sql.ROIS).to_arrow_table())

    def fused(self) -> pa.Table:
        frames = self.frames(FUSED)
        kept = frames.filter(
            pc.and_(frames["ok"], pc.greater(pc.list_value_length(frames["rois"]), 0))
        )
        rois = kept["rois"].combine_chunks()
        parents = pc.list_parent_indices(rois)
        flat = pa.Table.from_struct_array(rois.flatten())
        n = kept["n"].combine_chunks().take(parents)
        frame_id = kept["id"].combine_chunks().take(parents)
        return flat.add_column(0, "n", n).add_column(1, "frame_id", frame_id)

    def arrow_items(self) -> pa.Table:
        with registered(self.con, "_wb_ri", items(self.frames())):
            return _with_geometry(self.con.sql(ROIS_OF_ITEMS).to_arrow_table())

    def frames_alone(self) -> pa.Table:
        return self.frames(FRAMES_ALONE)


def _with_geometry(rois: pa.Table) -> pa.Table:
    """ROIS' rows with each ROI's one ring made its geometry, as the import makes it."""
    at = rois.schema.get_field_index("ring")
    return rois.set_column(at, "geometry", geometry_of(rois["ring"]))


def items(frames: pa.Table) -> pa.Table:
    """ROIS' `items` made by Arrow: one row per ROI of the frames `ok`, the frame's columns
    taken per ROI, `k` its place in its list."""
    frames = frames.filter(
        pc.and_(frames["ok"], pc.greater(pc.list_value_length(frames["rois"]), 0))
    )
    rois = frames["rois"].combine_chunks()
    parents = pc.list_parent_indices(rois)
    offsets = rois.offsets.to_numpy()
    at = parents.to_numpy()
    k = np.arange(len(at), dtype=np.int64) + offsets[0] - offsets[at]
    columns: dict[str, Any] = {
        name: frames[column].combine_chunks().take(parents)
        for name, column in (("n", "n"), ("frame_id", "id"))
    }
    columns |= {"r": rois.flatten(), "k": pa.array(k)}
    columns |= {
        name: frames[name].combine_chunks().take(parents) for name in ("t", "id1", "w1", "h1")
    }
    return pa.table(columns)


def same_rois(today: pa.Table, other: pa.Table) -> dict[str, bool]:
    """For each of ROIS' columns, whether `other` holds the same values in the same rows."""
    return {
        name: name in other.column_names
        and other[name]
        .combine_chunks()
        .cast(today.schema.field(name).type)
        .equals(today[name].combine_chunks())
        for name in today.column_names
    }


def depth_re2(texts: pa.ChunkedArray) -> pa.ChunkedArray:
    return pc.match_substring_regex(texts, MANY_BRACKETS)


def depth_counted(texts: pa.ChunkedArray) -> pa.ChunkedArray:
    """The lines MANY_BRACKETS matches, RE2 scanning only those of more opening brackets
    than the limit by Arrow's count (none, in the bench's file)."""
    counts = pc.add(pc.count_substring(texts, "{"), pc.count_substring(texts, "["))
    many = pc.greater(counts, MAX_JSON_DEPTH)
    if not pc.any(many).as_py():
        return pc.and_(many, many)
    return pc.and_(many, pc.match_substring_regex(texts, MANY_BRACKETS))


def _cpu(work: Callable[[], object], repeat: int) -> float:
    started = time.process_time()
    for _ in range(repeat):
        work()
    return (time.process_time() - started) / repeat


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--lines", type=int, default=40_960)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--repeat", type=int, default=3, help="runs of each per round")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "clearml.ndjson"
        formats_bench.write_clearml(path, args.lines)
        lines = next(iter(ndjson_batches(path, args.lines))).lines
    batch = Batch(lines)
    today = batch.today()
    for name, other in (("fused", batch.fused()), ("arrow_items", batch.arrow_items())):
        differ = [column for column, equal in same_rois(today, other).items() if not equal]
        print(f"{name}: ROIS' rows {'exactly' if not differ else 'NOT: ' + ', '.join(differ)}")
    texts = lines["j"]
    assert depth_re2(texts).equals(depth_counted(texts))
    assert depth_re2(texts).to_numpy().tolist() == many_brackets(texts).tolist()
    works: dict[str, Callable[[], object]] = {
        "today": batch.today,
        "fused": batch.fused,
        "arrow_items": batch.arrow_items,
        "frames_alone": batch.frames_alone,
        "frames (today's, alone)": batch.frames,
        "depth_re2": lambda: depth_re2(texts),
        "depth_counted": lambda: depth_counted(texts),
        "depth_numpy": lambda: many_brackets(texts),
    }
    print(f"{lines.num_rows:,} lines, CPU seconds per batch, {args.repeat} runs each")
    for round_ in range(args.rounds):
        figures = {name: _cpu(work, args.repeat) for name, work in works.items()}
        shown = "  ".join(f"{name} {seconds:.3f}" for name, seconds in figures.items())
        print(f"round {round_ + 1} (load {load()}): {shown}")
    batch.engine.close()


if __name__ == "__main__":
    main()
