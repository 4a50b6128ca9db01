"""Detection evaluation as a job: matching bucket by bucket, AP and storage on the driver.

COCO's matching is per image (a source of a frame) and class, and a frame lies in one bucket,
so a unit matches its bucket's ROIs on its own with the catalog's own code (the same query,
`loading.rois_from_table`, `matching.prepare` and `match_range`) and finds what a run over
every frame finds for each of them. What it returns per ROI: the columns the driver needs to
rebuild the run's arrays (frame, label, confidence, source, area, crowd, stored order), the
outcome at the run's IoU with the matched ROI, and for AP the matched and ignored flags of
every area range and threshold. AP ranks every detection of the run together (ties by image
order), so the driver puts the units' rows in stored order, ranks them as a local run does
(`matching.rank`) and accumulates; the results, `eval_rois` and `eval_frames` are stored by
`storage.save`, exactly as `catalog.evaluate_detections` stores a run.

Units return their rows as compressed Arrow IPC (base64 text), so no scratch storage is
needed between the units and the driver.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any

import duckdb
import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from workbench.analysis.evaluation.config import EvaluationConfig
from workbench.analysis.evaluation.loading import MULTI_SOURCE, rois_from_table
from workbench.analysis.evaluation.matching import RangeMatch, match_range, prepare, rank
from workbench.analysis.evaluation.metrics import Accumulator
from workbench.analysis.evaluation.outcomes import Outcomes, frame_table, outcomes, roi_table
from workbench.analysis.evaluation.results import DetectionResults
from workbench.analysis.evaluation.run import area_ranges, coco_scored, detection_results
from workbench.errors import EvaluationError
from workbench.jobs.scope import scope_view
from workbench.jobs.sequence_qa import bucket_view, unit_format
from workbench.query._sql import Compiled
from workbench.store.lake import FRAME_KEY, LAKE_TABLES, filesystem, is_remote

Bools = npt.NDArray[np.bool_]

# What the driver rebuilds the run's ROIs from: rois_query's columns (boxes are not needed
# once matched; `stated_area` carries the area the unit measured).
_BASE = ("frame_id", "roi_id", "label", "confidence", "is_pred", "crowd", "_row")


@dataclass(frozen=True)
class EvaluationJob:
    """Match `pred_field` against `gt_field` over every frame of the lake at `lake`."""

    lake: str
    pred_field: str
    gt_field: str
    config: EvaluationConfig

    def units(self, buckets: int, query: Compiled, sources: bool) -> list[dict[str, Any]]:
        """One unit per bucket, each running `query` (rois_query's, made by the driver) on
        its bucket; `sources`: some frame has several sources (the query names them)."""
        if self.config.method == "open-images":
            raise EvaluationError("evaluation jobs use the 'coco' or 'simple' method")
        return [
            {
                "lake": self.lake,
                "bucket": b,
                "sql": query.sql,
                "params": list(query.params),
                "sources": sources,
                "pred_field": self.pred_field,
                "gt_field": self.gt_field,
                "config": self.config.to_dict(),
            }
            for b in range(buckets)
        ]


def run_eval_unit(unit: dict[str, Any]) -> str:
    """Match one bucket's ROIs; returns their rows as base64 Arrow IPC."""
    config = EvaluationConfig.from_dict(unit["config"])
    con = duckdb.connect()
    try:
        if is_remote(unit["lake"]):
            con.register_filesystem(filesystem(unit["lake"]))
        scoped = scope_view(con, unit)  # the frames of the job's view, if it has one
        for name in LAKE_TABLES:
            where = scoped.format(id=FRAME_KEY[name])
            bucket_view(con, unit["lake"], name, int(unit["bucket"]), where, **unit_format(unit))
        multi = con.sql(MULTI_SOURCE).to_arrow_table()
        table: pa.Table = con.sql(unit["sql"], params=unit["params"]).to_arrow_table()
    finally:
        con.close()
    table = _in_stored_order([table])
    rois, regions = rois_from_table(
        table, multi, unit["pred_field"], unit["gt_field"], config.use_masks
    )
    prepared = prepare(rois, regions, config)
    ranges = area_ranges(config)
    n, n_thr = len(rois), len(config.thresholds)
    matched = np.zeros((n, len(ranges), n_thr), dtype=bool)
    ignored = np.zeros((n, len(ranges), n_thr), dtype=bool)
    gt_ignored = np.zeros((n, len(ranges)), dtype=bool)
    for index, (_, low, high) in enumerate(ranges):
        match = match_range(prepared, low, high, config.thresholds, config.primary)
        matched[prepared.det_rows, index] = match.matched.T
        ignored[prepared.det_rows, index] = match.det_ignored.T
        gt_ignored[prepared.gt_rows, index] = match.gt_ignored
        if index == 0:
            found = outcomes(rois, prepared, match, config.primary)
    rows = table["_row"].combine_chunks()
    has_match = found.match_row >= 0
    out = {
        name: table[name].combine_chunks()
        for name in (*_BASE, *(("source",) if unit["sources"] else ()))
    }
    out["crowd"] = pa.array(rois.crowd)
    out["stated_area"] = pa.array(rois.area)
    out["outcome"] = pa.array(found.code)
    out["match_row"] = pc.if_else(
        pa.array(has_match), rows.take(pa.array(np.maximum(found.match_row, 0))), pa.scalar(-1)
    )
    out["iou"] = pa.array(found.iou)
    out["matched"] = _flags(matched)
    out["ignored"] = _flags(ignored)
    out["gt_ignored"] = _flags(gt_ignored)
    return _encode(pa.table(out)) + "|" + _encode(multi)


def _in_stored_order(tables: list[pa.Table]) -> pa.Table:
    """The tables' rows in stored order (`_row`); each bucket's rows are mostly one range of
    it, so putting the tables in order of their first row usually leaves nothing to sort."""
    tables = [t for t in tables if t.num_rows] or tables[:1]
    first = [int(pc.min(t["_row"]).as_py()) if t.num_rows else 0 for t in tables]
    table = pa.concat_tables([tables[i] for i in np.argsort(first, kind="stable")])
    rows = np.asarray(table["_row"].to_numpy(), dtype=np.int64)
    if np.all(rows[1:] > rows[:-1]):
        return table
    return table.take(pa.array(np.argsort(rows, kind="stable")))


def _flags(values: Bools) -> pa.FixedSizeListArray:
    width = int(np.prod(values.shape[1:]))
    return pa.FixedSizeListArray.from_arrays(pa.array(values.reshape(-1)), max(width, 1))


def _unflag(column: pa.ChunkedArray, shape: tuple[int, ...]) -> Bools:
    flat = pc.list_flatten(column.combine_chunks()) if len(column) else pa.array([], pa.bool_())
    return np.asarray(flat.to_numpy(zero_copy_only=False), dtype=bool).reshape(shape)


def _encode(table: pa.Table) -> str:
    sink = pa.BufferOutputStream()
    options = pa.ipc.IpcWriteOptions(compression="zstd")
    with pa.ipc.new_stream(sink, table.schema, options=options) as writer:
        writer.write_table(table)
    return base64.b64encode(sink.getvalue().to_pybytes()).decode()


def _decode(text: str) -> pa.Table:
    return pa.ipc.open_stream(pa.py_buffer(base64.b64decode(text))).read_all()


def combine(
    results: list[str], job: EvaluationJob, eval_key: str
) -> tuple[DetectionResults, pa.Table, pa.Table]:
    """The run from the units' rows: its results, eval_rois rows and eval_frames counts."""
    config = job.config
    parts = [text.split("|") for text in results]
    table = _in_stored_order([_decode(p[0]) for p in parts])
    multi = pa.concat_tables([_decode(p[1]) for p in parts])
    base = table.select([c for c in table.column_names if c in (*_BASE, "source")])
    zeros = pa.array(np.zeros(table.num_rows))
    for name in ("x_min", "y_min", "x_max", "y_max"):
        base = base.append_column(name, zeros)
    base = base.append_column("stated_area", table["stated_area"])
    rois, _ = rois_from_table(base, multi, job.pred_field, job.gt_field, use_masks=False)
    ranges = area_ranges(config)
    shape = (table.num_rows, len(ranges), len(config.thresholds))
    matched, ignored = _unflag(table["matched"], shape), _unflag(table["ignored"], shape)
    gt_ignored = _unflag(table["gt_ignored"], shape[:2])
    ranking = rank(rois, config)
    prepared = ranking.unpaired(rois)
    accumulator = Accumulator(rois, prepared, config, len(ranges))
    if config.compute_mAP:
        none = np.zeros(0, np.int64)
        for index in range(len(ranges)):
            match = RangeMatch(
                matched[ranking.det_rows, index].T,
                ignored[ranking.det_rows, index].T,
                gt_ignored[ranking.gt_rows, index],
                none,
                none,
                np.zeros(0),
            )
            accumulator.add(index, match)
    rows = np.asarray(table["_row"].to_numpy(), dtype=np.int64)
    partner = np.asarray(table["match_row"].to_numpy(), dtype=np.int64)
    match_row = np.where(partner >= 0, np.searchsorted(rows, partner), -1)
    iou = np.asarray(table["iou"].to_numpy(zero_copy_only=False), dtype=np.float64)
    found = Outcomes(np.asarray(table["outcome"].to_numpy(), np.int8), match_row, iou)
    scored = coco_scored(rois, found, accumulator, config)
    run = detection_results(rois, scored, config, eval_key, job.pred_field, job.gt_field)
    return run, roi_table(rois, found), frame_table(rois, found)
