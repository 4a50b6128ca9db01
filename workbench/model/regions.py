"""Pixel regions of many ROIs at once: decoded masks and rasterised polygons, and their IoU.

A region is a set of pixels of an image `height x width`, numbered in column-major order (the
pixel at column x, row y is `x * height + y`), as COCO's run-length encoding numbers them. A
`Regions` holds n regions as sorted, non-overlapping half-open runs `[start, end)`: region i
owns `bounds[offsets[i]:offsets[i + 1]]`, read as (start, end) pairs. Nothing is ever drawn
into a bitmap, so a region costs memory in proportion to its outline, not its size.

Every operation is bit-compatible with pycocotools (`maskApi.c`): polygons are rasterised the
way `rleFrPoly` does it (each edge sampled on a grid five times finer, pixels whose centre lies
inside between two crossings of the outline), the rings of one ROI are merged as `rleMerge`
does (their union), and IoU counts pixels as `rleIou` does, with COCO's crowd rule (the union
is the detection's own area). So evaluation in mask mode agrees with COCOeval's `segm` mode.

All of it is vectorised over every ROI of a batch: the only Python loops run over chunks of a
few million sampled points or pairs, which bound the memory used.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import numpy.typing as npt

Ints = npt.NDArray[np.int64]
Floats = npt.NDArray[np.float64]
Bools = npt.NDArray[np.bool_]

# Points sampled along polygon outlines, or run boundaries swept for IoU, per chunk: a few
# hundred MB of temporaries at most.
CHUNK = 2_000_000
_SCALE = 5.0  # rleFrPoly's upsampling of the outline
_MAX_COORD = 2.0**30  # coordinates are clipped so the scaled values stay inside a C int
_MAX_DIGITS = 12  # 5-bit groups in one RLE number: 60 bits, more than any mask needs


@dataclass(frozen=True)
class Regions:
    """n pixel regions as runs; `valid[i]` is False where the input could not be read (the
    region is then empty)."""

    offsets: Ints
    bounds: Ints
    heights: Ints
    widths: Ints
    valid: Bools

    def __len__(self) -> int:
        return len(self.heights)

    @property
    def run_counts(self) -> Ints:
        return np.diff(self.offsets) // 2

    def run_owner(self) -> Ints:
        """The region of every run."""
        return np.repeat(np.arange(len(self), dtype=np.int64), self.run_counts)

    def areas(self) -> Ints:
        """Pixels in each region."""
        return self._areas

    def pixel_boxes(self) -> Ints:
        """(x_min, y_min, x_max, y_max) of each region's pixels, inclusive; empty regions get
        (0, 0, -1, -1), which overlaps nothing."""
        return self._pixel_boxes

    # Both are computed once per Regions: IoU is asked for chunk after chunk of pairs.
    @cached_property
    def _areas(self) -> Ints:
        lengths = self.bounds[1::2] - self.bounds[0::2]
        sums = np.bincount(self.run_owner(), weights=lengths, minlength=len(self))
        return sums.astype(np.int64)

    @cached_property
    def _pixel_boxes(self) -> Ints:
        n = len(self)
        out = np.tile(np.array([0, 0, -1, -1], dtype=np.int64), (n, 1))
        if not len(self.bounds):
            return out
        h = np.repeat(self.heights, self.run_counts)
        starts, ends = self.bounds[0::2], self.bounds[1::2] - 1
        x0, x1, y0, y1 = starts // h, ends // h, starts % h, ends % h
        wraps = x1 > x0  # a run crossing into the next column covers the whole height
        y0, y1 = np.where(wraps, 0, y0), np.where(wraps, h - 1, y1)
        filled = self.run_counts > 0
        first = self.offsets[:-1][filled] // 2
        for column, values, reduce in (
            (0, x0, np.minimum),
            (1, y0, np.minimum),
            (2, x1, np.maximum),
            (3, y1, np.maximum),
        ):
            out[filled, column] = reduce.reduceat(values, first)
        return out

    def take(self, index: npt.ArrayLike) -> Regions:
        """The regions at `index`, in that order."""
        idx = np.asarray(index, dtype=np.int64)
        counts = np.diff(self.offsets)[idx]
        offsets = np.concatenate(([0], np.cumsum(counts))).astype(np.int64)
        gather = _ranges(self.offsets[:-1][idx], counts)
        return Regions(
            offsets, self.bounds[gather], self.heights[idx], self.widths[idx], self.valid[idx]
        )


def empty_regions(heights: npt.ArrayLike, widths: npt.ArrayLike) -> Regions:
    h = np.asarray(heights, dtype=np.int64)
    return Regions(
        np.zeros(len(h) + 1, dtype=np.int64),
        np.zeros(0, dtype=np.int64),
        h,
        np.asarray(widths, dtype=np.int64),
        np.ones(len(h), dtype=bool),
    )


def concat_regions(parts: Sequence[Regions]) -> Regions:
    if not parts:
        return empty_regions([], [])
    shifts = np.cumsum([0] + [len(p.bounds) for p in parts[:-1]])
    offsets = np.concatenate(
        [[0]] + [p.offsets[1:] + s for p, s in zip(parts, shifts, strict=True)]
    ).astype(np.int64)
    return Regions(
        offsets,
        np.concatenate([p.bounds for p in parts]).astype(np.int64),
        np.concatenate([p.heights for p in parts]).astype(np.int64),
        np.concatenate([p.widths for p in parts]).astype(np.int64),
        np.concatenate([p.valid for p in parts]).astype(bool),
    )


def _ranges(starts: Ints, counts: Ints) -> Ints:
    """Concatenated `arange(start, start + count)` for every pair, without a Python loop."""
    counts = np.asarray(counts, dtype=np.int64)
    total = int(counts.sum())
    if total == 0:
        return np.zeros(0, dtype=np.int64)
    first = np.cumsum(counts) - counts
    return np.repeat(np.asarray(starts, dtype=np.int64) - first, counts) + np.arange(total)


# -- masks: COCO's compressed RLE strings ------------------------------------------------------
def decode_rle_strings(
    data: npt.ArrayLike, offsets: npt.ArrayLike, heights: npt.ArrayLike, widths: npt.ArrayLike
) -> Regions:
    """Regions of n compressed COCO RLE strings stored back to back in `data` (bytes), string i
    being `data[offsets[i]:offsets[i + 1]]`.

    A string that is malformed (characters outside '0'..'o', a number cut off or too large,
    negative runs, runs not covering `height * width` pixels) gives an empty region whose
    `valid` flag is False; the others are unaffected.
    """
    raw = (
        np.frombuffer(bytes(data), dtype=np.uint8)
        if isinstance(data, bytes | bytearray)
        else np.asarray(data)
    )
    chars = raw.astype(np.int64) - 48
    offs = np.asarray(offsets, dtype=np.int64)
    h, w = np.asarray(heights, dtype=np.int64), np.asarray(widths, dtype=np.int64)
    n = len(offs) - 1
    lengths = np.diff(offs)
    bad = np.zeros(n, dtype=bool)
    if not len(chars):
        return _runs_to_regions(
            np.zeros(0, np.int64), np.zeros(0, np.int64), bad | (h * w != 0), h, w
        )
    owner = np.repeat(np.arange(n, dtype=np.int64), lengths)
    bad[owner[(chars < 0) | (chars > 0x3F)]] = True
    chars = np.clip(chars, 0, 0x3F)
    last = (chars & 0x20) == 0
    tails = offs[1:][lengths > 0] - 1
    bad[owner[tails[~last[tails]]]] = True  # a number cut off at the end of its string
    last[tails] = True  # numbers never run into the next string
    ends = np.flatnonzero(last)
    starts = np.concatenate(([0], ends[:-1] + 1))
    digits = ends - starts + 1
    bad[owner[ends[digits > _MAX_DIGITS]]] = True
    position = np.arange(len(chars)) - np.repeat(starts, digits)
    shift = 5 * np.minimum(position, _MAX_DIGITS - 1)
    values = np.add.reduceat((chars & 0x1F) << shift, starts)
    negative = (chars[ends] & 0x10) != 0
    values[negative] -= np.int64(1) << (5 * np.minimum(digits[negative], _MAX_DIGITS))
    number_owner = owner[ends]
    runs = _undelta(values, number_owner, n)
    return _runs_to_regions(runs, number_owner, bad, h, w)


def _undelta(values: Ints, owner: Ints, n: int) -> Ints:
    """Run lengths from COCO's string numbers: from the fourth on, each is stored relative to
    the run two places before it, so run k is the sum of the values k, k-2, ... down to 1 or 2."""
    first = np.searchsorted(owner, np.arange(n))
    k = np.arange(len(values)) - first[owner]
    runs = values.copy()
    for parity in (0, 1):
        chain = np.where((k >= 1) & (k % 2 == parity), values, 0)
        total = np.cumsum(chain)
        before = np.concatenate(([0], total))[first]  # chain sum before each string
        chained = total - before[owner]
        runs = np.where((k >= 1) & (k % 2 == parity), chained, runs)
    return runs


def _runs_to_regions(runs: Ints, owner: Ints, bad: Bools, h: Ints, w: Ints) -> Regions:
    """Regions from run lengths (zeros first) of each owner; owners in `bad` stay empty."""
    n = len(h)
    bad = bad.copy()
    bad[owner[runs < 0]] = True
    totals = np.bincount(owner, weights=runs, minlength=n)
    bad |= totals != h * w
    first = np.searchsorted(owner, np.arange(n))
    k = np.arange(len(runs)) - first[owner]
    ends = np.cumsum(runs) - np.concatenate(([0], np.cumsum(runs)))[first][owner]
    keep = (k % 2 == 1) & (runs > 0) & ~bad[owner]
    return _from_runs(owner[keep], ends[keep] - runs[keep], ends[keep], ~bad, h, w)


def _from_runs(owner: Ints, starts: Ints, ends: Ints, valid: Bools, h: Ints, w: Ints) -> Regions:
    """Regions from runs already sorted by owner and position."""
    counts = np.bincount(owner, minlength=len(h)) * 2
    offsets = np.concatenate(([0], np.cumsum(counts))).astype(np.int64)
    bounds = np.empty(2 * len(starts), dtype=np.int64)
    bounds[0::2], bounds[1::2] = starts, ends
    return Regions(offsets, bounds, h.astype(np.int64), w.astype(np.int64), valid.astype(bool))


# -- polygons: rleFrPoly, vectorised over every edge of every ring -----------------------------
def rasterise_polygons(
    coords: npt.ArrayLike,
    ring_offsets: npt.ArrayLike,
    ring_owner: npt.ArrayLike,
    heights: npt.ArrayLike,
    widths: npt.ArrayLike,
) -> Regions:
    """Regions of n polygons of one or more rings each, as pycocotools rasterises them.

    `coords` holds every ring's flat `[x0, y0, x1, y1, ...]` back to back; ring j is
    `coords[ring_offsets[j]:ring_offsets[j + 1]]` and belongs to region `ring_owner[j]`
    (non-decreasing). A region is the union of its rings, in an image heights[i] x widths[i].
    """
    xy = np.clip(np.asarray(coords, dtype=np.float64), -_MAX_COORD, _MAX_COORD)
    ro = np.asarray(ring_offsets, dtype=np.int64)
    owner = np.asarray(ring_owner, dtype=np.int64)
    h, w = np.asarray(heights, dtype=np.int64), np.asarray(widths, dtype=np.int64)
    vertices = np.diff(ro) // 2
    rings = np.flatnonzero(vertices > 0)
    if not len(rings):
        return empty_regions(h, w)
    first = ro[:-1][rings] // 2
    # Scaled integer vertices, as rleFrPoly's (int)(scale * v + .5) (truncation toward zero).
    scaled = np.trunc(_SCALE * xy[: 2 * int(ro[-1] // 2)] + 0.5).astype(np.int64)
    x, y = scaled[0::2], scaled[1::2]
    points = _points_per_ring(x, y, first, vertices[rings])
    toggles_ring: list[Ints] = []
    toggles_pos: list[Ints] = []
    for lo, hi in _chunks(points):
        ring_idx = rings[lo:hi]
        found_ring, found_pos = _crossings(
            x, y, first[lo:hi], vertices[ring_idx], h[owner[ring_idx]], w[owner[ring_idx]]
        )
        toggles_ring.append(ring_idx[found_ring])
        toggles_pos.append(found_pos)
    ring_of = np.concatenate(toggles_ring)
    pos = np.concatenate(toggles_pos)
    hw = (h * w)[owner]
    ring_starts, ring_ends = _parity_runs(ring_of, pos, hw)
    return _union(owner[ring_starts[1]], ring_starts[0], ring_ends, h, w)


def _points_per_ring(x: Ints, y: Ints, first: Ints, count: Ints) -> Ints:
    """How many outline points rleFrPoly samples for each ring."""
    idx = _ranges(first, count)
    nxt = idx + 1
    ring_last = np.cumsum(count) - 1
    nxt[ring_last] = first
    per_edge = np.maximum(np.abs(x[nxt] - x[idx]), np.abs(y[nxt] - y[idx])) + 1
    ring_of_edge = np.repeat(np.arange(len(first)), count)
    return np.bincount(ring_of_edge, weights=per_edge, minlength=len(first)).astype(np.int64)


def _chunks(weights: Ints) -> list[tuple[int, int]]:
    """Consecutive index ranges whose weights add up to about CHUNK (at least one item each)."""
    out: list[tuple[int, int]] = []
    total = np.cumsum(weights)
    lo = 0
    while lo < len(weights):
        base = total[lo - 1] if lo else 0
        hi = int(np.searchsorted(total, base + CHUNK, side="right"))
        hi = max(hi, lo + 1)
        out.append((lo, hi))
        lo = hi
    return out


def _crossings(x: Ints, y: Ints, first: Ints, count: Ints, h: Ints, w: Ints) -> tuple[Ints, Ints]:
    """(local ring index, pixel position) of every column crossing of the rings' outlines."""
    idx = _ranges(first, count)
    nxt = idx + 1
    nxt[np.cumsum(count) - 1] = first
    ring = np.repeat(np.arange(len(first)), count)
    xs, xe, ys, ye = x[idx], x[nxt], y[idx], y[nxt]
    dx, dy = np.abs(xe - xs), np.abs(ys - ye)
    major = dx >= dy  # sampled along x
    flip = (major & (xs > xe)) | (~major & (ys > ye))
    xs, xe = np.where(flip, xe, xs), np.where(flip, xs, xe)
    ys, ye = np.where(flip, ye, ys), np.where(flip, ys, ye)
    with np.errstate(divide="ignore", invalid="ignore"):
        slope = np.where(major, (ye - ys) / dx, (xe - xs) / dy)
    slope = np.where(np.isfinite(slope), slope, 0.0)  # a repeated vertex: one point, no slope
    span = np.where(major, dx, dy)
    edge = np.repeat(np.arange(len(idx)), span + 1)
    d = _ranges(np.zeros(len(idx), np.int64), span + 1)
    t = np.where(flip[edge], span[edge] - d, d)
    e_major = major[edge]
    u = np.where(e_major, t + xs[edge], np.trunc(xs[edge] + slope[edge] * t + 0.5).astype(np.int64))
    v = np.where(e_major, np.trunc(ys[edge] + slope[edge] * t + 0.5).astype(np.int64), t + ys[edge])
    point_ring = ring[edge]
    same = point_ring[1:] == point_ring[:-1]
    moved = same & (u[1:] != u[:-1])
    uj, up = u[1:][moved], u[:-1][moved]
    vj, vp = v[1:][moved], v[:-1][moved]
    owner = point_ring[1:][moved]
    xd = (np.where(uj < up, uj, uj - 1).astype(np.float64) + 0.5) / _SCALE - 0.5
    keep = (np.floor(xd) == xd) & (xd >= 0) & (xd <= (w[owner] - 1))
    yd = (np.minimum(vj, vp).astype(np.float64) + 0.5) / _SCALE - 0.5
    yd = np.ceil(np.clip(yd, 0, h[owner].astype(np.float64)))
    pos = xd.astype(np.int64) * h[owner] + yd.astype(np.int64)
    return owner[keep], pos[keep]


def _parity_runs(ring: Ints, pos: Ints, hw: Ints) -> tuple[tuple[Ints, Ints], Ints]:
    """Runs of each ring from its crossing positions: a pixel position toggles the inside
    when it occurs an odd number of times (as rleFrPoly's run merging does); an odd count
    leaves the rest of the image inside. Returns ((starts, ring), ends)."""
    order = np.lexsort((pos, ring))
    ring, pos = ring[order], pos[order]
    change = np.concatenate(([True], (ring[1:] != ring[:-1]) | (pos[1:] != pos[:-1])))
    heads = np.flatnonzero(change)
    multiplicity = np.diff(np.concatenate((heads, [len(pos)])))
    odd = heads[multiplicity % 2 == 1]
    ring, pos = ring[odd], pos[odd]
    per_ring = np.bincount(ring, minlength=len(hw)) if len(ring) else np.zeros(len(hw), np.int64)
    open_rings = np.flatnonzero(per_ring % 2 == 1)
    ring = np.concatenate((ring, open_rings))
    pos = np.concatenate((pos, hw[open_rings]))
    order = np.lexsort((pos, ring))
    ring, pos = ring[order], pos[order]
    return (pos[0::2], ring[0::2]), pos[1::2]


def _union(owner: Ints, starts: Ints, ends: Ints, h: Ints, w: Ints) -> Regions:
    """Regions as the union of the runs each owner holds (runs of one owner may overlap)."""
    n = len(h)
    valid = np.ones(n, dtype=bool)
    if not len(starts):
        return _from_runs(owner, starts, ends, valid, h, w)
    ev_owner = np.concatenate((owner, owner))
    ev_pos = np.concatenate((starts, ends))
    ev_delta = np.concatenate((np.ones(len(starts), np.int64), -np.ones(len(ends), np.int64)))
    order = np.lexsort((ev_pos, ev_owner))
    ev_owner, ev_pos, ev_delta = ev_owner[order], ev_pos[order], ev_delta[order]
    change = np.concatenate(([True], (ev_owner[1:] != ev_owner[:-1]) | (ev_pos[1:] != ev_pos[:-1])))
    heads = np.flatnonzero(change)
    delta = np.add.reduceat(ev_delta, heads)
    ev_owner, ev_pos = ev_owner[heads], ev_pos[heads]
    inside = np.cumsum(delta) > 0
    before = np.concatenate(([False], inside[:-1]))
    edges = inside != before
    owner_e, pos_e = ev_owner[edges], ev_pos[edges]
    return _from_runs(owner_e[0::2], pos_e[0::2], pos_e[1::2], valid, h, w)


# -- IoU of region pairs -----------------------------------------------------------------------
def region_iou(
    detections: Regions,
    det_index: npt.ArrayLike,
    truths: Regions,
    truth_index: npt.ArrayLike,
    crowd: npt.ArrayLike | None = None,
) -> Floats:
    """IoU of `detections[det_index[i]]` with `truths[truth_index[i]]` for every pair i.

    As pycocotools' rleIou: pixels in both over pixels in either (the detection's own pixels
    when `crowd[i]`), 0 when nothing is shared or the images differ in size.
    """
    di = np.asarray(det_index, dtype=np.int64)
    gi = np.asarray(truth_index, dtype=np.int64)
    is_crowd = np.zeros(len(di), bool) if crowd is None else np.asarray(crowd, dtype=bool)
    out = np.zeros(len(di), dtype=np.float64)
    db, gb = detections.pixel_boxes()[di], truths.pixel_boxes()[gi]
    same_size = (detections.heights[di] == truths.heights[gi]) & (
        detections.widths[di] == truths.widths[gi]
    )
    overlap = (
        same_size
        & (np.minimum(db[:, 2], gb[:, 2]) >= np.maximum(db[:, 0], gb[:, 0]))
        & (np.minimum(db[:, 3], gb[:, 3]) >= np.maximum(db[:, 1], gb[:, 1]))
    )
    pairs = np.flatnonzero(overlap)
    if not len(pairs):
        return out
    inter = np.zeros(len(pairs), dtype=np.int64)
    cost = np.diff(detections.offsets)[di[pairs]] + np.diff(truths.offsets)[gi[pairs]]
    for lo, hi in _chunks(cost):
        inter[lo:hi] = _intersections(detections, di[pairs[lo:hi]], truths, gi[pairs[lo:hi]])
    det_area = detections.areas()[di[pairs]]
    union = np.where(is_crowd[pairs], det_area, det_area + truths.areas()[gi[pairs]] - inter)
    out[pairs] = np.where(inter > 0, inter / np.maximum(union, 1), 0.0)
    return out


def _intersections(a: Regions, ai: Ints, b: Regions, bi: Ints) -> Ints:
    """Pixels shared by a[ai[i]] and b[bi[i]]: one sweep over the run boundaries of all pairs,
    counting the stretches covered by both."""
    n = len(ai)
    a_count, b_count = np.diff(a.offsets)[ai], np.diff(b.offsets)[bi]
    a_idx, b_idx = _ranges(a.offsets[:-1][ai], a_count), _ranges(b.offsets[:-1][bi], b_count)
    pair = np.concatenate((np.repeat(np.arange(n), a_count), np.repeat(np.arange(n), b_count)))
    pos = np.concatenate((a.bounds[a_idx], b.bounds[b_idx]))
    # Boundaries alternate start (+1) and end (-1) within each region.
    delta = np.concatenate(
        (
            1 - 2 * (_ranges(np.zeros(n, np.int64), a_count) % 2),
            1 - 2 * (_ranges(np.zeros(n, np.int64), b_count) % 2),
        )
    )
    order = _merge_order(pair, pos)
    pair, pos, delta = pair[order], pos[order], delta[order]
    depth = np.cumsum(delta)
    # Between a boundary and the next one of the same pair, depth 2 means both cover it; the
    # depth is 0 after a pair's last boundary, so stretches never count across pairs.
    both = (depth[:-1] == 2) * (pos[1:] - pos[:-1])
    return np.bincount(pair[:-1], weights=both, minlength=n).astype(np.int64)


def _merge_order(pair: Ints, pos: Ints) -> Ints:
    """The order sorting boundaries by (pair, position). Both halves (a's and b's) are sorted
    already, so a stable sort of one combined key is a single merge of two runs."""
    stride = int(pos.max(initial=0)) + 1
    if int(pair.max(initial=0)) < (1 << 62) // stride:
        return np.argsort(pair * stride + pos, kind="stable")
    return np.lexsort((pos, pair))
