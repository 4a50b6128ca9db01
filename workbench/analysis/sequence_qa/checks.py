"""The SQL of each sequence check: one SELECT per kind of issue, over the view's frames.

Every check yields rows shaped like `qa_issues` (kind, severity, context_id, frame_id,
source_id, field, track, details) and takes its thresholds as parameters. Frames are ordered
within their context by timestamp, then frame_index, then id (the viewer's order). These are
the queries docs/sequence-qa.md shows; `SEQUENCE_CHECKS[kind](frames, thresholds)` builds one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from workbench.model.sequence import QA_KINDS
from workbench.query._sql import Compiled, in_list

# The frames a check reads: `frames` itself, or the view's frames as a subquery.
Frames = Compiled
ORDER = "f.timestamp, f.frame_index, f.id"
# Boxes narrower or lower than this (pixels) are not checked for jumps: a point-sized box
# "moves" by its own size with one pixel of noise.
MIN_BOX = 4.0


@dataclass(frozen=True)
class Thresholds:
    """What counts as an issue; docs/sequence-qa.md explains each."""

    gap_factor: float = 1.5  # an interval this many times the context's median is a gap
    jitter: float = 0.1  # the intervals' standard deviation over their median
    usual_share: float = 0.5  # a camera in this share of a context's frames is expected
    min_track_frames: int = 3  # tracks in fewer frames are short
    jump_factor: float = 1.0  # a box moving more than this many times its size in one frame
    size_factor: float = 2.5  # a box growing or shrinking more than this in one frame
    border_margin: float = 0.02  # share of the picture's side that counts as its border
    vanish_min_area: float = 1024.0  # boxes smaller than this (pixels²) may fade away
    frozen_perceptual: bool = False  # frozen also when perceptual hashes are equal
    fields: tuple[str, ...] | None = None  # label fields of the track checks (None: all)


def _json(*pairs: str) -> str:
    return "json_object(" + ", ".join(pairs) + ")"


def _issue(
    kind: str, severity: str, frame: str, source: str, field: str, track: str, details: str
) -> str:
    return (
        f"SELECT '{kind}' AS kind, {severity} AS severity, context_id, {frame} AS frame_id,"
        f" {source} AS source_id, {field} AS field, {track} AS track, {details} AS details"
    )


def _intervals(frames: Frames) -> Compiled:
    """Consecutive timed frames of each context, with the interval between them and the
    context's median interval (of the positive ones)."""
    return Compiled.join(
        [
            "WITH _timed AS (SELECT f.id, f.context_id, f.timestamp,"
            " lag(f.timestamp) OVER w AS prev_ts, lag(f.id) OVER w AS prev_id"
            " FROM ",
            frames,
            " f WHERE f.timestamp IS NOT NULL"
            f" WINDOW w AS (PARTITION BY f.context_id ORDER BY {ORDER})),"
            " _dt AS (SELECT *, timestamp - prev_ts AS dt FROM _timed WHERE prev_ts IS NOT NULL),"
            " _median AS (SELECT context_id, median(dt) FILTER (WHERE dt > 0) AS median_dt"
            " FROM _dt GROUP BY context_id)"
            " SELECT d.*, m.median_dt FROM _dt d JOIN _median m USING (context_id)"
            " WHERE m.median_dt > 0",
        ],
        "",
    )


def gaps(frames: Frames, t: Thresholds) -> Compiled:
    details = _json(
        "'interval_ms'",
        "dt",
        "'median_ms'",
        "median_dt",
        "'dropped'",
        "dropped",
        "'previous_frame'",
        "prev_id",
    )
    severity = "CASE WHEN dropped >= 10 THEN 'error' ELSE 'warning' END"
    return Compiled.join(
        [
            _issue("gap", severity, "id", "NULL", "NULL", "NULL", details),
            " FROM (SELECT *, greatest(round(dt / median_dt)::BIGINT - 1, 1) AS dropped FROM (",
            _intervals(frames),
            ") WHERE dt > ?::DOUBLE * median_dt)",
        ],
        "",
    ) + Compiled("", (t.gap_factor,))


def duplicate_timestamps(frames: Frames, t: Thresholds) -> Compiled:
    details = _json("'timestamp'", "timestamp", "'other_frame'", "prev_id")
    return Compiled.join(
        [
            _issue("duplicate_timestamp", "'error'", "id", "NULL", "NULL", "NULL", details),
            " FROM (",
            _intervals(frames),
            ") WHERE dt = 0",
        ],
        "",
    )


def out_of_order(frames: Frames, t: Thresholds) -> Compiled:
    details = _json(
        "'timestamp'",
        "timestamp",
        "'frame_index'",
        "frame_index",
        "'previous_timestamp'",
        "prev_ts",
        "'previous_frame'",
        "prev_id",
    )
    return Compiled.join(
        [
            _issue("out_of_order", "'error'", "id", "NULL", "NULL", "NULL", details),
            " FROM (SELECT f.id, f.context_id, f.timestamp, f.frame_index,"
            " lag(f.timestamp) OVER w AS prev_ts, lag(f.id) OVER w AS prev_id FROM ",
            frames,
            " f WHERE f.timestamp IS NOT NULL AND f.frame_index IS NOT NULL"
            " WINDOW w AS (PARTITION BY f.context_id ORDER BY f.frame_index, f.id))"
            " WHERE timestamp < prev_ts",
        ],
        "",
    )


def jitter(frames: Frames, t: Thresholds) -> Compiled:
    details = _json(
        "'median_ms'",
        "median_dt",
        "'std_ms'",
        "round(std, 3)",
        "'ratio'",
        "round(ratio, 4)",
        "'intervals'",
        "n",
    )
    return Compiled.join(
        [
            _issue("jitter", "'warning'", "NULL", "NULL", "NULL", "NULL", details),
            " FROM (SELECT context_id, any_value(median_dt) AS median_dt, count(*) AS n,"
            " stddev_pop(dt) AS std, stddev_pop(dt) / any_value(median_dt) AS ratio FROM (",
            _intervals(frames),
            # gaps and repeated timestamps are issues of their own, not jitter
            ") WHERE dt > 0 AND dt <= ?::DOUBLE * median_dt GROUP BY context_id)"
            " WHERE n >= 3 AND ratio > ?::DOUBLE",
        ],
        "",
    ) + Compiled("", (t.gap_factor, t.jitter))


def missing_sources(frames: Frames, t: Thresholds) -> Compiled:
    details = _json("'missing'", "missing", "'usual'", "usual")
    return Compiled.join(
        [
            "WITH _frames AS (SELECT f.id, f.context_id FROM ",
            frames,
            " f), _n AS (SELECT context_id, count(*) AS n FROM _frames GROUP BY context_id),"
            " _seen AS (SELECT v.context_id, s.id AS source_id, count(DISTINCT s.frame_id) AS k"
            " FROM sources s JOIN _frames v ON v.id = s.frame_id GROUP BY 1, 2),"
            " _usual AS (SELECT u.context_id, u.source_id FROM _seen u JOIN _n USING (context_id)"
            " WHERE u.k >= ?::DOUBLE * _n.n),"
            " _sets AS (SELECT context_id, list(source_id ORDER BY source_id) AS usual"
            " FROM _usual GROUP BY context_id),"
            " _missing AS (SELECT v.id, v.context_id,"
            " list(u.source_id ORDER BY u.source_id) AS missing FROM _frames v"
            " JOIN _usual u ON u.context_id = v.context_id"
            " ANTI JOIN sources s ON s.frame_id = v.id AND s.id = u.source_id"
            " GROUP BY v.id, v.context_id) ",
            _issue("missing_source", "'warning'", "id", "missing[1]", "NULL", "NULL", details),
            " FROM _missing JOIN _sets USING (context_id)",
        ],
        "",
    ) + Compiled("", (t.usual_share,))


def frozen(frames: Frames, t: Thresholds) -> Compiled:
    same = "content_hash = prev_hash"
    if t.frozen_perceptual:
        same += " OR bit_count(xor(phash, prev_phash)) = 0"
    details = _json(
        "'previous_frame'",
        "prev_frame",
        "'identical_bytes'",
        "content_hash = prev_hash",
    )
    return Compiled.join(
        [
            _issue("frozen", "'warning'", "frame_id", "source_id", "NULL", "NULL", details),
            " FROM (SELECT h.frame_id, h.source_id, h.content_hash, h.phash, f.context_id,"
            " lag(h.content_hash) OVER w AS prev_hash, lag(h.phash) OVER w AS prev_phash,"
            " lag(h.frame_id) OVER w AS prev_frame FROM media_hashes h JOIN ",
            frames,
            " f ON f.id = h.frame_id WHERE h.error IS NULL"
            f" WINDOW w AS (PARTITION BY f.context_id, h.source_id ORDER BY {ORDER}))"
            f" WHERE prev_frame IS NOT NULL AND ({same})",
        ],
        "",
    )


# -- tracks ------------------------------------------------------------------------------------
# The track checks read one table of tracked ROIs, made once per run (`TRACKS`): a temporary
# table of the run's own connection, so four checks do not join rois, frames and sources again.
TRACKS = "_qa_tracks"


def track_rows(frames: Frames, t: Thresholds) -> Compiled:
    """ROIs with a track_index (of `t.fields`), with their frame's place in its context, the
    context's length and the size of the picture they are drawn on."""
    fields = Compiled("TRUE") if t.fields is None else in_list("r.field", list(t.fields), "VARCHAR")
    return Compiled.join(
        [
            "WITH _pos AS (SELECT f.id, f.context_id,"
            f" row_number() OVER (PARTITION BY f.context_id ORDER BY {ORDER}) AS pos,"
            " count(*) OVER (PARTITION BY f.context_id) AS frames FROM ",
            frames,
            " f), _first AS (SELECT frame_id, arg_min(id, rowid) AS id FROM sources"
            " GROUP BY frame_id)"
            " SELECT r.frame_id, r.id AS roi_id, r.field, r.track_index AS track,"
            " r.label, r.kind, coalesce(r.source_ids[1], fs.id) AS source_id, r.x_min, r.y_min,"
            " r.x_max, r.y_max, p.context_id, p.pos, p.frames, s.width, s.height"
            " FROM rois r JOIN _pos p ON p.id = r.frame_id"
            " LEFT JOIN _first fs ON fs.frame_id = r.frame_id"
            " LEFT JOIN sources s ON s.frame_id = r.frame_id"
            " AND s.id = coalesce(r.source_ids[1], fs.id)"
            " WHERE r.track_index IS NOT NULL AND ",
            fields,
        ],
        "",
    )


def _track_rois(frames: Frames, t: Thresholds) -> Compiled:
    return Compiled(f"WITH _tr AS (SELECT * FROM {TRACKS})")


def _inside(alias: str = "") -> str:
    """The box keeps off the picture's border (`?` = border margin, used four times)."""
    p = alias
    return (
        f"({p}width IS NOT NULL AND {p}x_min > ?::DOUBLE * {p}width AND {p}y_min > ?::DOUBLE * {p}height"
        f" AND {p}x_max < (1 - ?::DOUBLE) * {p}width AND {p}y_max < (1 - ?::DOUBLE) * {p}height)"
    )


def short_tracks(frames: Frames, t: Thresholds) -> Compiled:
    details = _json("'frames'", "n", "'label'", "label")
    return Compiled.join(
        [
            _track_rois(frames, t),
            " ",
            _issue("short_track", "'info'", "first_frame", "NULL", "field", "track", details),
            " FROM (SELECT context_id, field, track, count(DISTINCT pos) AS n,"
            " arg_min(frame_id, pos) AS first_frame, arg_min(label, pos) AS label"
            " FROM _tr GROUP BY context_id, field, track) WHERE n < ?::DOUBLE",
        ],
        "",
    ) + Compiled("", (t.min_track_frames,))


def id_switches(frames: Frames, t: Thresholds) -> Compiled:
    details = _json("'from'", "prev_label", "'to'", "label", "'previous_frame'", "prev_frame")
    return Compiled.join(
        [
            _track_rois(frames, t),
            " ",
            _issue("id_switch", "'error'", "frame_id", "source_id", "field", "track", details),
            " FROM (SELECT *, lag(label) OVER w AS prev_label, lag(frame_id) OVER w AS prev_frame"
            " FROM _tr WINDOW w AS (PARTITION BY context_id, field, track"
            " ORDER BY pos, source_id, roi_id))"
            " WHERE prev_label IS DISTINCT FROM label AND prev_frame IS NOT NULL",
        ],
        "",
    )


def jumps(frames: Frames, t: Thresholds) -> Compiled:
    details = _json(
        "'moved_px'",
        "round(moved, 1)",
        "'box_px'",
        "round(scale, 1)",
        "'area_ratio'",
        "round(ratio, 3)",
        "'previous_frame'",
        "prev_frame",
    )
    return Compiled.join(
        [
            _track_rois(frames, t),
            ", _steps AS (SELECT *, lag(pos) OVER w AS prev_pos, lag(frame_id) OVER w AS prev_frame,"
            " lag(x_min) OVER w AS px0, lag(y_min) OVER w AS py0, lag(x_max) OVER w AS px1,"
            " lag(y_max) OVER w AS py1 FROM _tr WHERE kind IN ('box', 'polygon')"
            " AND x_max - x_min >= ?::DOUBLE AND y_max - y_min >= ?::DOUBLE"
            " WINDOW w AS (PARTITION BY context_id, field, track, source_id ORDER BY pos, roi_id)),"
            " _moves AS (SELECT *,"
            " sqrt(pow((x_min + x_max - px0 - px1) / 2, 2) + pow((y_min + y_max - py0 - py1) / 2, 2))"
            " AS moved, greatest(px1 - px0, py1 - py0, 1) AS scale,"
            " greatest((x_max - x_min) * (y_max - y_min), 1)"
            " / greatest((px1 - px0) * (py1 - py0), 1) AS area_change"
            " FROM _steps WHERE prev_pos = pos - 1 AND ",
            _inside(),
            " AND width IS NOT NULL AND px0 > ?::DOUBLE * width AND py0 > ?::DOUBLE * height"
            " AND px1 < (1 - ?::DOUBLE) * width AND py1 < (1 - ?::DOUBLE) * height),"
            " _ratio AS (SELECT *, greatest(area_change, 1 / area_change) AS ratio FROM _moves) ",
            _issue("jump", "'warning'", "frame_id", "source_id", "field", "track", details),
            " FROM _ratio WHERE moved > ?::DOUBLE * scale OR ratio > ?::DOUBLE",
        ],
        "",
    ) + Compiled("", (MIN_BOX, MIN_BOX, *(t.border_margin,) * 8, t.jump_factor, t.size_factor))


def vanishing(frames: Frames, t: Thresholds) -> Compiled:
    details = _json("'label'", "label", "'frames_left'", "frames - pos", "'area'", "round(area, 1)")
    return Compiled.join(
        [
            _track_rois(frames, t),
            # each track's last box: one aggregate, no sort of every ROI
            ", _last AS (SELECT unnest(arg_max(struct_pack(frame_id, source_id, label, pos,"
            " frames, x_min, y_min, x_max, y_max, width, height,"
            " area := (x_max - x_min) * (y_max - y_min)), pos)), context_id, field, track"
            " FROM _tr WHERE kind IN ('box', 'polygon') GROUP BY context_id, field, track) ",
            _issue("vanish", "'info'", "frame_id", "source_id", "field", "track", details),
            " FROM _last WHERE pos < frames AND area >= ?::DOUBLE AND ",
            _inside(),
        ],
        "",
    ) + Compiled("", (t.vanish_min_area, *(t.border_margin,) * 4))


SEQUENCE_CHECKS: dict[str, Callable[[Frames, Thresholds], Compiled]] = {
    "gap": gaps,
    "duplicate_timestamp": duplicate_timestamps,
    "out_of_order": out_of_order,
    "jitter": jitter,
    "missing_source": missing_sources,
    "frozen": frozen,
    "short_track": short_tracks,
    "id_switch": id_switches,
    "jump": jumps,
    "vanish": vanishing,
}
assert tuple(SEQUENCE_CHECKS) == QA_KINDS, "every QA kind has one check, in the same order"
