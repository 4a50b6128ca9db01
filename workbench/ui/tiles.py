"""Tile dicts for the grid, built from one page of a view.

A tile is plain data the grid's JavaScript draws:

    {"id", "kind": "context" | "frame", "title", "tooltip", "lines": [str], "thumb": url,
     "width", "height",                       # source pixels, the SVG overlay's viewBox
     "rois": [{"k": "poly" | "line" | "pt", "p": [[x0, y0, x1, y1, ...], ...], "c": colour}],
                                              # one entry per kind and colour, all its rings
     "badges": [{"t": text, "c": colour}],
     "context_id"}                            # frame tiles only

ROIs are drawn small, so their rings are thinned to a few dozen points, rounded to whole
pixels, and points closer to the last one kept than a tile can show are dropped; the rings
of one kind and colour go together (grid.js draws them as one SVG path): a page of 48 tiles
stays a few tens of kilobytes and a few hundred SVG elements.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from workbench.ui.glyphs import roi_source
from workbench.ui.media import MediaUrls
from workbench.ui.palette import label_color

if TYPE_CHECKING:
    from workbench.query import View

_HERE = Path(__file__).parent
THUMB_SIZE = 256
MAX_TILE_ROIS = 150
MAX_RING_POINTS = 48
MAX_BADGES = 3
# Points closer than the picture's larger side over this are merged: the thumbnail under the
# shapes has no more detail than that (256 px).
TILE_DETAIL = 256
EPOCH_MS_FROM = 10**11  # 1973-03-03 as milliseconds since 1970

Record = Mapping[str, Any]


def thin_ring(ring: Sequence[float], max_points: int = MAX_RING_POINTS) -> list[float]:
    """Every k-th point of a ring so at most `max_points` remain, rounded to pixels."""
    points = len(ring) // 2
    step = max(1, -(-points // max_points))
    xs = map(round, ring[0 : 2 * points : 2 * step])
    ys = map(round, ring[1 : 2 * points : 2 * step])
    return [v for pair in zip(xs, ys, strict=True) for v in pair]


def merge_close(ring: Sequence[float], tolerance: float) -> list[float]:
    """`ring` without the points closer than `tolerance` (on both axes) to the last point
    kept; its last point stays. Rings of four points or fewer (boxes) stay as they are."""
    if tolerance <= 1 or len(ring) <= 8:
        return list(ring)
    out = [ring[0], ring[1]]
    kept_x, kept_y = ring[0], ring[1]
    for x, y in zip(ring[2:-2:2], ring[3:-2:2], strict=True):
        if abs(x - kept_x) >= tolerance or abs(y - kept_y) >= tolerance:
            out += (x, y)
            kept_x, kept_y = x, y
    out += ring[-2:]
    return out


_SHAPE_KINDS = {"box": "poly", "polygon": "poly", "polyline": "line", "point": "pt"}


def tile_rois(frame: Record) -> tuple[list[dict[str, Any]], list[dict[str, str]]]:
    """The first source's ROIs of `frame` as tile shapes (one per kind and colour, holding
    the rings of all its ROIs), and its classifications as badges."""
    sources = frame.get("sources") or []
    if not sources:
        return [], []
    first = str(sources[0]["id"])
    size = max(float(sources[0].get("width") or 1), float(sources[0].get("height") or 1))
    tolerance = size / TILE_DETAIL
    shapes: dict[tuple[str, str], list[list[float]]] = {}
    badges: list[dict[str, str]] = []
    drawn = 0
    for roi in frame.get("rois") or []:
        if first not in roi_source(roi, first):
            continue
        kind, color = roi.get("kind"), label_color(roi.get("label"))
        if kind == "classification":
            if len(badges) < MAX_BADGES:
                badges.append({"t": roi.get("label") or "?", "c": color})
            continue
        if drawn >= MAX_TILE_ROIS:
            continue
        if kind == "mask" and roi.get("x_min") is not None:
            x0, y0, x1, y1 = (round(float(roi[k])) for k in ("x_min", "y_min", "x_max", "y_max"))
            rings: list[list[float]] = [[x0, y0, x1, y0, x1, y1, x0, y1]]
            shape = "poly"
        else:
            shape = _SHAPE_KINDS.get(str(kind), "")
            rings = [merge_close(thin_ring(r), tolerance) for r in roi.get("geometry") or [] if r]
        if shape and rings:
            shapes.setdefault((shape, color), []).extend(rings)
            drawn += 1
    return [{"k": k, "p": rings, "c": c} for (k, c), rings in shapes.items()], badges


def _picture(frame: Record | None, media: MediaUrls) -> dict[str, Any]:
    sources = (frame or {}).get("sources") or []
    if not sources:
        return {"thumb": "", "width": 1, "height": 1, "rois": [], "badges": []}
    first = sources[0]
    uri = first.get("preview_uri") or first.get("uri") or ""
    rois, badges = tile_rois(frame or {})
    return {
        "thumb": media.thumbnail(uri, THUMB_SIZE) if uri else "",
        "width": int(first.get("width") or 1),
        "height": int(first.get("height") or 1),
        "rois": rois,
        "badges": badges,
    }


def format_span(first: int | None, last: int | None) -> str:
    """The time span of a context's matching frames.

    Timestamps from 1973 on in milliseconds (what importers write) read as a UTC date and a
    duration; smaller values are counters or offsets and are shown as they are.
    """
    if first is None:
        return "no timestamps"
    if first >= EPOCH_MS_FROM:
        start = datetime.fromtimestamp(first / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S")
        if last is None or last == first:
            return start
        return f"{start} · {(last - first) / 1000:.1f} s"
    if last is None or last == first:
        return f"t {first}"
    return f"t {first} – {last}"


def short_id(text: str, keep: int = 40) -> str:
    """Long ids (URIs as context ids) keep their end, which tells them apart."""
    return text if len(text) <= keep else "…" + text[-(keep - 1) :]


def context_tiles(view: View, offset: int, limit: int, media: MediaUrls) -> list[dict[str, Any]]:
    """One tile per context on this page: its first matching frame as preview."""
    contexts = view.contexts(offset, limit).to_pylist()
    preview_ids = [c["first_frame_id"] for c in contexts if c["first_frame_id"]]
    previews = {}
    if preview_ids:
        page = view.select(preview_ids).page(0, len(preview_ids)).to_pylist()
        previews = {f["id"]: f for f in page}
    tiles = []
    for ctx in contexts:
        frame = previews.get(ctx["first_frame_id"])
        cameras = len((frame or {}).get("sources") or [])
        lines = [
            f"{ctx['frames']} of {ctx['total_frames']} frames match",
            format_span(ctx["first_timestamp"], ctx["last_timestamp"]),
        ]
        if cameras > 1:
            lines.append(f"{cameras} cameras")
        tiles.append(
            {
                "id": ctx["context_id"],
                "kind": "context",
                "title": short_id(ctx["context_id"]),
                "tooltip": ctx["context_id"],
                "lines": lines,
                **_picture(frame, media),
            }
        )
    return tiles


def frame_tiles(view: View, offset: int, limit: int, media: MediaUrls) -> list[dict[str, Any]]:
    """One tile per frame on this page."""
    tiles = []
    for frame in view.page(offset, limit).to_pylist():
        rois = [r for r in frame.get("rois") or [] if r.get("kind") != "classification"]
        when = format_span(frame.get("timestamp"), None)
        lines = [short_id(frame["context_id"]), f"{when} · {len(rois)} ROIs"]
        tiles.append(
            {
                "id": frame["id"],
                "kind": "frame",
                "context_id": frame["context_id"],
                "title": short_id(frame["id"]),
                "tooltip": frame["id"],
                "lines": lines,
                **_picture(frame, media),
            }
        )
    return tiles


def tiles_esm(name: str) -> str:
    """The module of a view of tiles (grid.js, patches.js) with the code they share
    (tiles_common.js) in front: one module, no import to resolve in the page."""
    return (_HERE / "tiles_common.js").read_text() + "\n" + (_HERE / name).read_text()


def tiles_css(name: str) -> list[str]:
    """The stylesheets of a view of tiles: the rules they share, then its own (files beside
    this module, which Panel links when served and inlines in a notebook)."""
    return ["tiles_common.css", name]
