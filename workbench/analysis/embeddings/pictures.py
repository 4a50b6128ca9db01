"""The pictures an embedding model sees: a frame's image, or the crop of an ROI.

Pictures are read through workbench.media, under the catalog's media roots only: the source
file itself (decoded at a reduced size where the format allows), or its cached thumbnail. A
picture that cannot be read costs only its own frame or ROI, named in the error.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from PIL import Image

from workbench.errors import AnalysisError, MediaError
from workbench.media.files import resolve_media
from workbench.media.images import open_image
from workbench.media.thumbnails import ThumbnailCache, default_cache_dir

if TYPE_CHECKING:
    from workbench.store.catalog import Catalog

MEDIA = ("source", "thumbnail")
# Share of an ROI's box added on each side of its crop, so the model sees some context.
CROP_MARGIN = 0.1
MIN_CROP = 4  # pixels: smaller boxes are refused


@dataclass(frozen=True)
class Item:
    """One picture to embed: a frame's source, or an ROI's box on it."""

    frame_id: str
    roi_id: str | None
    uri: str | None
    box: tuple[float, float, float, float] | None = None

    def where(self) -> str:
        if self.roi_id is None:
            return f"frame {self.frame_id!r}"
        return f"roi {self.roi_id!r} of frame {self.frame_id!r}"


class PictureReader:
    """Reads pictures for a batch of items with a few threads (Pillow decodes without the GIL)."""

    def __init__(
        self,
        roots: Sequence[str],
        thumbnails: str | os.PathLike[str],
        *,
        media: str = "source",
        size: int = 256,
    ) -> None:
        """Pictures under `roots` only (a catalog's `media_roots()`); thumbnails kept in the
        folder `thumbnails` (what a job's worker is given instead of the catalog)."""
        if media not in MEDIA:
            raise AnalysisError(f"media must be one of {', '.join(MEDIA)}, got {media!r}")
        self.roots = list(roots)
        self.media = media
        self.size = size
        self.thumbnails = ThumbnailCache(Path(thumbnails), roots=self.roots)
        self._pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="workbench-embed")

    @classmethod
    def of(cls, catalog: Catalog, *, media: str = "source", size: int = 256) -> PictureReader:
        """A reader of the catalog's pictures, under its media roots."""
        return cls(catalog.media_roots(), default_cache_dir(catalog.path), media=media, size=size)

    def close(self) -> None:
        self._pool.shutdown(wait=True)

    def read(self, items: Sequence[Item]) -> list[Image.Image | MediaError]:
        """One picture per item, or the MediaError saying why it cannot be had."""
        return list(self._pool.map(self._one, items))

    def _one(self, item: Item) -> Image.Image | MediaError:
        try:
            if item.uri is None:
                raise MediaError("has no source picture")
            if item.box is not None:
                return _crop(open_image(resolve_media(item.uri, self.roots), uri=item.uri), item)
            if self.media == "thumbnail":
                return open_image(self.thumbnails.get(item.uri, self.size), uri=item.uri)
            path = resolve_media(item.uri, self.roots)
            return open_image(path, max_side=self.size, uri=item.uri)
        except MediaError as exc:
            return exc


def _crop(image: Image.Image, item: Item) -> Image.Image:
    assert item.box is not None
    x0, y0, x1, y1 = item.box
    dx, dy = (x1 - x0) * CROP_MARGIN, (y1 - y0) * CROP_MARGIN
    left, top = max(0, int(x0 - dx)), max(0, int(y0 - dy))
    right, bottom = min(image.width, round(x1 + dx)), min(image.height, round(y1 + dy))
    if right - left < MIN_CROP or bottom - top < MIN_CROP:
        raise MediaError(f"its box is smaller than {MIN_CROP} pixels in the picture")
    return image.crop((left, top, right, bottom))
