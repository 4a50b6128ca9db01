"""The mistakes planted in the demo on purpose, and the SQL that finds each of them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from workbench.demo.scenario import BROKEN_FRAME, CONTEXTS, DUPLICATE_NUMBER, DUPLICATE_OF

if TYPE_CHECKING:
    from workbench.demo.build import _ContextResult


@dataclass(frozen=True)
class Defect:
    """A mistake planted in the demo, where it is, and a catalog query that finds it."""

    kind: str  # missing_labels, wrong_label, broken_image, duplicate_context, dropped_frames,
    # frozen_frame
    description: str
    context_ids: tuple[str, ...]
    frame_ids: tuple[str, ...]
    sql: str

    def __str__(self) -> str:
        return f"{self.kind}: {self.description}"


# Sequence defects planted after rendering: milan-0007 loses 6 frames after frame 59 (its later
# timestamps jump by 600 ms), and camera front_left of lyon-0006 repeats frame 19's picture in
# frame 20.
GAP_CONTEXT, GAP_AFTER, GAP_FRAMES = 7, 59, 6
FROZEN_CONTEXT, FROZEN_FRAME, FROZEN_CAMERA = 6, 20, "front_left"

_OVERLAP_W = "(least(g.x_max, p.x_max) - greatest(g.x_min, p.x_min))"
_OVERLAP_H = "(least(g.y_max, p.y_max) - greatest(g.y_min, p.y_min))"

# Confident predictions that no ground-truth box or polygon of the same picture overlaps
# (intersection over union above 0.3).
MISSING_LABELS_SQL = f"""\
SELECT f.context_id, p.frame_id, p.label, p.confidence
FROM rois p JOIN frames f ON f.id = p.frame_id
WHERE p.field = 'predictions' AND p.confidence >= 0.6
  AND NOT EXISTS (
    SELECT 1 FROM rois g
    WHERE g.frame_id = p.frame_id AND g.field = 'ground_truth'
      AND g.kind IN ('box', 'polygon') AND g.source_ids = p.source_ids
      AND {_OVERLAP_W} > 0 AND {_OVERLAP_H} > 0
      AND {_OVERLAP_W} * {_OVERLAP_H}
          > 0.3 * (g.area + p.area - {_OVERLAP_W} * {_OVERLAP_H}))
ORDER BY p.frame_id"""

# Tracks whose ground-truth label changes along the sequence.
WRONG_LABEL_SQL = """\
SELECT f.context_id, r.track_index, list(DISTINCT r.label ORDER BY r.label) AS labels,
       count(*) AS rois
FROM rois r JOIN frames f ON f.id = r.frame_id
WHERE r.field = 'ground_truth' AND r.track_index IS NOT NULL
GROUP BY f.context_id, r.track_index
HAVING count(DISTINCT r.label) > 1"""

# Two contexts whose frames share timestamps: the same recording stored twice.
DUPLICATE_SQL = """\
SELECT a.context_id AS first, b.context_id AS copy, count(*) AS frames
FROM frames a JOIN frames b
  ON a.timestamp = b.timestamp AND a.frame_index = b.frame_index
 AND a.context_id < b.context_id
GROUP BY a.context_id, b.context_id
ORDER BY frames DESC"""


# Intervals between consecutive frames of a context much longer than its usual one.
DROPPED_FRAMES_SQL = """\
WITH t AS (SELECT context_id, id, timestamp - lag(timestamp) OVER (
             PARTITION BY context_id ORDER BY timestamp, frame_index) AS dt FROM frames),
     m AS (SELECT context_id, median(dt) AS usual FROM t GROUP BY context_id)
SELECT t.context_id, t.id AS frame_id, t.dt, m.usual
FROM t JOIN m USING (context_id) WHERE t.dt > 1.5 * m.usual"""

# Consecutive pictures of one camera with the same bytes (content hashes of media_hashes, which
# catalog.sequence_qa() or find_duplicates() fill).
FROZEN_FRAME_SQL = """\
SELECT kind, context_id, frame_id, source_id, details FROM qa_issues WHERE kind = 'frozen'"""


def _broken_sql(frame_id: str) -> str:
    # A cut-short file looks like any other in the catalog: the query points at the file,
    # and opening it (a thumbnail, an export) fails with MediaError.
    return f"SELECT frame_id, uri FROM sources WHERE frame_id = '{frame_id}'"


def describe(results: Sequence[_ContextResult], has_duplicate: bool) -> list[Defect]:
    """The planted defects that the rendered sequences actually contain."""
    out: list[Defect] = []
    for r in results:
        out += _missing(r)
        ctx = r.spec.context_id
        for track, frames in sorted(r.mislabelled.items()):
            what = f"{ctx}: a truck (track {track}) is labelled car in {len(frames)} frames"
            out.append(Defect("wrong_label", what, (ctx,), tuple(frames), WRONG_LABEL_SQL))
        if r.spec.plant == "broken_image":
            frame_id = f"{ctx}/{BROKEN_FRAME:04d}"
            what = f"{ctx}: the image of frame {frame_id} is cut short (a truncated JPEG)"
            out.append(Defect("broken_image", what, (ctx,), (frame_id,), _broken_sql(frame_id)))
    out += _sequence(results)
    if has_duplicate:
        spec = next(s for s in CONTEXTS if s.number == DUPLICATE_OF)
        copy_id = f"{spec.city.lower()}-{DUPLICATE_NUMBER:04d}"
        what = f"{copy_id} is a copy of {spec.context_id} (same images, labels and timestamps)"
        out.append(Defect("duplicate_context", what, (spec.context_id, copy_id), (), DUPLICATE_SQL))
    return out


def _sequence(results: Sequence[_ContextResult]) -> list[Defect]:
    out = []
    for r in results:
        ctx = r.spec.context_id
        if r.spec.number == GAP_CONTEXT and len(r.frames) > GAP_AFTER + 1:
            frame_id = f"{ctx}/{GAP_AFTER + 1:04d}"
            what = f"{ctx}: {GAP_FRAMES} frames are missing before frame {frame_id} (its timestamp jumps)"
            out.append(Defect("dropped_frames", what, (ctx,), (frame_id,), DROPPED_FRAMES_SQL))
        if r.spec.number == FROZEN_CONTEXT and len(r.frames) > FROZEN_FRAME:
            frame_id = f"{ctx}/{FROZEN_FRAME:04d}"
            what = f"{ctx}: camera {FROZEN_CAMERA} of frame {frame_id} repeats its previous picture"
            out.append(Defect("frozen_frame", what, (ctx,), (frame_id,), FROZEN_FRAME_SQL))
    return out


def _missing(r: _ContextResult) -> list[Defect]:
    ctx = r.spec.context_id
    if r.spec.plant == "missing_pedestrian":
        what = "a pedestrian on the left pavement"
    else:
        what = "a car in the right lane"
    sql = MISSING_LABELS_SQL.replace("ORDER BY", f"  AND f.context_id = '{ctx}'\nORDER BY")
    return [
        Defect(
            "missing_labels",
            f"{ctx}: {what} (track {track}) is drawn but has no ground truth in "
            f"{len(frames)} frames; predictions find it",
            (ctx,),
            tuple(frames),
            sql,
        )
        for track, frames in sorted(r.missing.items())
    ]
