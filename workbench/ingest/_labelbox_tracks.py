"""The object rows of a Labelbox export sorted into tracks with Arrow and numpy: per track
(context, uuid, kind) its rows by frame number, the first row on a frame kept, runs of frames
that follow each other in the context, and the keyframes a segment keeps (its keyframes and the
ends of its run). Python then works per kept keyframe, never per ROI."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc


@dataclass
class Track:
    """One object line's values: its first row's, and its kept keyframes in frame order as
    (run, number, ring, attributes text)."""

    context: str
    uuid: str
    kind: str
    label: str
    confidence: float | None
    attrs: str | None
    track_index: int | None
    first: int
    first_o: int
    keyframes: list[tuple[int, int, Any, str | None]]

    def order(self) -> tuple[Any, ...]:
        """Where the track's line goes: by context, then track index, then first frame."""
        index = self.track_index
        return (self.context, index is None, index if index is not None else 0, self.first,
                self.first_o)  # fmt: skip


def _changes(values: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """Whether each value differs from the one before it (the first always does)."""
    array = values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values
    out = np.ones(len(array), dtype=bool)
    if len(array) > 1:
        differs = pc.not_equal(array.slice(1), array.slice(0, len(array) - 1))
        out[1:] = differs.fill_null(True).to_numpy(zero_copy_only=False)
    return out


def tracks(rows: pa.Table) -> tuple[list[Track], Counter[str], pa.Array]:
    """The tracks of the object rows (`what` = 'object') in the order their lines are
    written, the rows left out per kind (a frame their track has already), and the frame
    ids of the rows kept."""
    objects = rows.filter(pc.equal(rows["what"], "object"))
    if not objects.num_rows:
        return [], Counter(), pa.array([], pa.string())
    keys = ["context_id", "uuid", "kind", "number", "o"]
    objects = objects.take(pc.sort_indices(objects, [(k, "ascending") for k in keys]))
    track_key = pc.binary_join_element_wise(
        objects["context_id"], objects["uuid"], objects["kind"], "\x00"
    )
    new_track = _changes(track_key)
    again = ~new_track & ~_changes(objects["number"])
    left_out = Counter(objects["kind"].filter(pa.array(again)).to_pylist())
    if again.any():
        objects = objects.filter(pa.array(~again))
        new_track = new_track[~again]
    count = objects.num_rows
    starts = np.flatnonzero(new_track)
    rank = np.arange(count) - np.repeat(starts, np.diff(np.append(starts, count)))
    run = objects["pos"].to_numpy() - rank
    new_run = new_track | np.append(True, run[1:] != run[:-1])
    last_of_run = np.append(new_run[1:], True)
    keyframe = objects["keyframe"].fill_null(True).to_numpy(zero_copy_only=False)
    kept = keyframe | new_run | last_of_run
    columns = objects.select(["number", "geometry", "attrs"]).filter(pa.array(kept))
    numbers = columns["number"].to_pylist()
    rings = [g[0] if g else None for g in columns["geometry"].to_pylist()]
    texts = columns["attrs"].to_pylist()
    runs = run[kept].tolist()
    track_of_kept = (np.cumsum(new_track) - 1)[kept].tolist()
    firsts = objects.select(
        ["context_id", "uuid", "kind", "label", "confidence", "attrs", "track_index", "number"]
    ).take(pa.array(starts))
    first_o = [int(m) for m in _track_min(objects["o"].to_numpy(), starts)]
    columns = firsts.to_pydict()
    found = [
        Track(context, uuid, kind, label, confidence, attrs, index, first, o, [])
        for context, uuid, kind, label, confidence, attrs, index, first, o in zip(
            *columns.values(), first_o, strict=True
        )
    ]
    for track, run_id, number, ring, text in zip(
        track_of_kept, runs, numbers, rings, texts, strict=True
    ):
        found[track].keyframes.append((run_id, number, ring, text))
    found.sort(key=Track.order)
    return found, left_out, objects["frame_id"].combine_chunks()


def _track_min(values: np.ndarray, starts: np.ndarray) -> np.ndarray:
    return np.minimum.reduceat(values, starts) if len(values) else values
