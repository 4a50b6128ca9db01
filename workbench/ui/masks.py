"""Mask ROIs as translucent pictures coloured by label, for the viewer's `image_url` glyph.

A mask is either COCO run-length encoding (`{"rle": {"size": [h, w], "counts": ...}}`, counts
as a list or as COCO's compressed string, decoded by workbench.ingest.rle) or a picture file whose pixels equal `value`
(`{"uri": ..., "value": ...}`). Both become an RGBA PNG data URI the size of the source,
scaled down so its longer side is at most `max_side`: small enough to ride the websocket, and
the browser stretches it over the frame.
"""

from __future__ import annotations

import base64
import io
from collections import OrderedDict
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from workbench.errors import MediaError
from workbench.media.images import local_path
from workbench.model.rle import decode as rle_decode
from workbench.ui.glyphs import parse_json

ALPHA = 110


def decode_rle(rle: Mapping[str, Any]) -> np.ndarray:
    """A boolean (h, w) array from COCO run-length encoding."""
    try:
        return rle_decode(rle["counts"], rle["size"]).astype(bool)
    except (KeyError, TypeError, ValueError) as exc:
        raise MediaError(f"malformed RLE mask: {exc}") from exc


def mask_from_file(path: Path, value: Any) -> np.ndarray:
    uri = str(path)
    try:
        with Image.open(path) as img:
            pixels = np.asarray(img)
    except (OSError, ValueError) as exc:
        raise MediaError(f"cannot read mask {uri}: {exc}") from exc
    if isinstance(value, list | tuple):  # a colour (Labelbox's video masks, ClearML's RGB)
        if not all(isinstance(c, int | float) and not isinstance(c, bool) for c in value):
            raise MediaError(f"cannot read mask {uri}: its colour {value!r} is not numbers")
        if pixels.ndim != 3 or pixels.shape[2] < len(value):
            return np.zeros(pixels.shape[:2], dtype=bool)
        return (pixels[..., : len(value)] == np.asarray(value)).all(axis=-1)
    if pixels.ndim == 3:
        pixels = pixels[..., 0]
    return pixels == value if value is not None else pixels > 0


def rgba_png_uri(mask: np.ndarray, color: str, max_side: int) -> str:
    """A PNG data URI: `color` at ALPHA where `mask` is set, transparent elsewhere."""
    height, width = mask.shape
    rgba = np.zeros((height, width, 4), dtype=np.uint8)
    r, g, b = (int(color[i : i + 2], 16) for i in (1, 3, 5))
    rgba[mask] = (r, g, b, ALPHA)
    img = Image.fromarray(rgba, "RGBA")
    scale = max_side / max(height, width)
    if scale < 1:
        img = img.resize(
            (max(1, round(width * scale)), max(1, round(height * scale))), Image.Resampling.NEAREST
        )
    buf = io.BytesIO()
    img.save(buf, format="PNG", optimize=False)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


class MaskPainter:
    """Paints mask ROIs; remembers recent ones, since stepping back and forth repaints them."""

    def __init__(
        self,
        local_file: Callable[[str], Path] = local_path,
        max_side: int = 800,
        cache_size: int = 256,
    ) -> None:
        # Which file a mask URI may be read from: a served app reads under its media roots
        # only (ServedMediaUrls.local_file); the default reads any local file.
        self.local_file = local_file
        self.max_side = max_side
        self.cache_size = cache_size
        self._cache: OrderedDict[tuple[str, str], str | None] = OrderedDict()

    def __call__(self, roi: Mapping[str, Any], color: str, size: tuple[int, int]) -> str | None:
        # The mask's own text identifies it; ROI ids are only unique within a frame.
        raw = roi.get("mask")
        key = (raw if isinstance(raw, str) else repr(raw), color)
        if key in self._cache:
            self._cache.move_to_end(key)
            return self._cache[key]
        url = self._paint(roi, color)
        self._cache[key] = url
        if len(self._cache) > self.cache_size:
            self._cache.popitem(last=False)
        return url

    def _paint(self, roi: Mapping[str, Any], color: str) -> str | None:
        spec = parse_json(roi.get("mask"))
        if not isinstance(spec, Mapping):
            return None
        try:
            if isinstance(spec.get("rle"), Mapping):
                mask = decode_rle(spec["rle"])
            elif spec.get("uri"):
                mask = mask_from_file(self.local_file(str(spec["uri"])), spec.get("value"))
            else:
                return None
        except MediaError:
            # The dashed outline of the mask's box still shows where it is.
            return None
        return rgba_png_uri(mask, color, self.max_side)
