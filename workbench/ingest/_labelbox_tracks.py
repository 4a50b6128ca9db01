"""The object rows of a Labelbox export sorted into tracks with Arrow and numpy: per track
(context, uuid, kind) its rows by frame number, the first row on a frame kept, runs of frames
that follow each other in the context, and the keyframes a segment keeps (its keyframes and the
ends of its run). Python then works per kept keyframe, never per ROI."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
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
    keyframes: list[tuple[int, int, Any, str | None]] = field(default_factory=list)

    def order(self) -> tuple[Any, ...]:
        """Where the track's line goes: by context, then track index, then first frame."""
        index = self.track_index
        return (self.context, index is None, index if index is not None else 0, self.first,
                self.first_o)  # fmt: skip


def _codes(values: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """Equal values, equal integers (a dictionary's indices): keys numpy sorts fast."""
    array = values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values
    indices = pc.dictionary_encode(array, null_encoding="encode").indices
    return indices.to_numpy(zero_copy_only=False).astype(np.int64)


def tracks(rows: pa.Table) -> tuple[list[Track], Counter[str], pa.Array]:
    """The tracks of the object rows (`what` = 'object') in the order their lines are
    written, the rows left out per kind (a frame their track has already), and the frame
    ids of the rows kept. Rows are sorted into tracks on integer keys; only the rows a line
    keeps are taken from the table."""
    at = np.flatnonzero(pc.equal(rows["what"], "object").to_numpy(zero_copy_only=False))
    if not len(at):
        return [], Counter(), pa.array([], pa.string())
    objects = rows.take(pa.array(at)).select(["context_id", "uuid", "kind", "number", "o", "pos"])
    keys = [_codes(objects[k]) for k in ("context_id", "uuid", "kind")]
    number = objects["number"].to_numpy().astype(np.int64)
    o = objects["o"].to_numpy()
    order = np.lexsort((o, number, keys[2], keys[1], keys[0]))
    new_track = np.zeros(len(order), dtype=bool)
    new_track[0] = True
    for key in keys:
        new_track[1:] |= key[order][1:] != key[order][:-1]
    number = number[order]
    again = ~new_track & np.append(False, number[1:] == number[:-1])
    kinds = objects["kind"].combine_chunks()
    left_out = Counter(kinds.take(pa.array(order[again])).to_pylist()) if again.any() else Counter()
    order, new_track, number = order[~again], new_track[~again], number[~again]
    count = len(order)
    starts = np.flatnonzero(new_track)
    rank = np.arange(count) - np.repeat(starts, np.diff(np.append(starts, count)))
    run = objects["pos"].to_numpy()[order] - rank
    new_run = new_track | np.append(True, run[1:] != run[:-1])
    last_of_run = np.append(new_run[1:], True)
    chosen = at[order]  # the kept rows' places in `rows`
    keyframe = rows["keyframe"].take(pa.array(chosen)).fill_null(True)
    kept = keyframe.to_numpy(zero_copy_only=False) | new_run | last_of_run
    columns = rows.select(["geometry", "attrs"]).take(pa.array(chosen[kept]))
    numbers = number[kept].tolist()
    rings = [g[0] if g else None for g in columns["geometry"].to_pylist()]
    texts = columns["attrs"].to_pylist()
    runs = run[kept].tolist()
    track_of_kept = (np.cumsum(new_track) - 1)[kept].tolist()
    names = ["context_id", "uuid", "kind", "label", "confidence", "attrs", "track_index"]
    firsts = rows.select(names).take(pa.array(chosen[starts])).to_pydict()
    first_o = [int(m) for m in _track_min(o[order], starts)]
    found = [
        Track(context, uuid, kind, label, confidence, attrs, index, first, first_at)
        for context, uuid, kind, label, confidence, attrs, index, first, first_at in zip(
            *firsts.values(), number[starts].tolist(), first_o, strict=True
        )
    ]
    for track, run_id, n, ring, text in zip(
        track_of_kept, runs, numbers, rings, texts, strict=True
    ):
        found[track].keyframes.append((run_id, n, ring, text))
    found.sort(key=Track.order)
    return found, left_out, rows["frame_id"].take(pa.array(chosen)).combine_chunks()


def _track_min(values: np.ndarray, starts: np.ndarray) -> np.ndarray:
    return np.minimum.reduceat(values, starts) if len(values) else values
