"""ThumbnailCache: sizes, orientation, caching on disk, invalidation, errors, concurrency."""

from __future__ import annotations

import io
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from PIL import Image

from workbench.errors import MediaError
from workbench.media.thumbnails import ThumbnailCache, default_cache_dir, placeholder

ORIENTATION = 0x0112


def _photo(path: Path, size: tuple[int, int], color: tuple[int, int, int]) -> Path:
    Image.new("RGB", size, color).save(path, quality=92)
    return path


@pytest.fixture
def cache(tmp_path: Path) -> ThumbnailCache:
    return ThumbnailCache(tmp_path / "thumbs")


def test_default_cache_dir_sits_next_to_the_catalog(tmp_path: Path):
    assert (
        default_cache_dir(tmp_path / "work" / "cat.duckdb")
        == tmp_path / "work" / "cat.cache" / "thumbs"
    )


def test_longest_side_is_the_requested_size(tmp_path: Path, cache: ThumbnailCache):
    wide = _photo(tmp_path / "wide.jpg", (1000, 500), (0, 128, 255))
    tall = _photo(tmp_path / "tall.jpg", (300, 900), (255, 128, 0))
    with Image.open(cache.get(str(wide), 200)) as thumb:
        assert (thumb.format, thumb.size) == ("JPEG", (200, 100))
    with Image.open(cache.get(f"file://{tall}", 90)) as thumb:
        assert thumb.size == (30, 90)
    # a picture smaller than the size is not enlarged
    small = _photo(tmp_path / "small.jpg", (40, 30), (9, 9, 9))
    with Image.open(cache.get(str(small), 256)) as thumb:
        assert thumb.size == (40, 30)


def test_a_cache_hit_does_not_render_again(tmp_path: Path, cache: ThumbnailCache):
    source = _photo(tmp_path / "a.jpg", (640, 360), (20, 200, 20))
    first = cache.get(str(source), 128)
    # Age the cached file: a second rendering would give it a new modification time.
    os.utime(first, ns=(1_000_000_000_000_000_000, 1_000_000_000_000_000_000))
    second = cache.get(str(source), 128)
    assert second == first
    assert second.stat().st_mtime_ns == 1_000_000_000_000_000_000
    assert cache.get_bytes(str(source), 128) == first.read_bytes()
    # another size is another thumbnail
    other = cache.get(str(source), 64)
    assert other != first
    assert len(list((tmp_path / "thumbs").rglob("*.jpg"))) == 2


def test_a_changed_source_gets_a_new_thumbnail(tmp_path: Path, cache: ThumbnailCache):
    source = _photo(tmp_path / "a.jpg", (640, 360), (255, 0, 0))
    before = cache.get(str(source), 64)
    _photo(source, (640, 360), (0, 0, 255))
    stat = source.stat()
    os.utime(source, ns=(stat.st_atime_ns, stat.st_mtime_ns + 5_000_000_000))
    after = cache.get(str(source), 64)
    assert after != before
    with Image.open(after) as thumb:
        r, _, b = thumb.convert("RGB").getpixel((32, 18))
        assert b > 200 and r < 50


def test_exif_orientation_is_applied(tmp_path: Path, cache: ThumbnailCache):
    # Stored 200x100, left half red and right half blue; orientation 6 means "rotate 90
    # degrees clockwise to display", so the thumbnail is portrait with red on top.
    image = Image.new("RGB", (200, 100), (0, 0, 255))
    image.paste((255, 0, 0), (0, 0, 100, 100))
    exif = Image.Exif()
    exif[ORIENTATION] = 6
    path = tmp_path / "rotated.jpg"
    image.save(path, exif=exif, quality=95)
    with Image.open(cache.get(str(path), 50)) as thumb:
        assert thumb.size == (25, 50)
        top, bottom = thumb.getpixel((12, 5)), thumb.getpixel((12, 45))
        assert top[0] > 200 and top[2] < 60
        assert bottom[2] > 200 and bottom[0] < 60


def test_transparent_pictures_stay_png(tmp_path: Path, cache: ThumbnailCache):
    path = tmp_path / "overlay.png"
    Image.new("RGBA", (100, 100), (255, 0, 0, 0)).save(path)
    thumb = cache.get(str(path), 20)
    assert thumb.suffix == ".png"
    with Image.open(thumb) as image:
        assert image.mode == "RGBA" and image.getpixel((5, 5))[3] == 0


def test_broken_and_missing_files_raise_media_error(tmp_path: Path, cache: ThumbnailCache):
    good = _photo(tmp_path / "good.jpg", (320, 240), (1, 2, 3)).read_bytes()
    truncated = tmp_path / "truncated.jpg"
    truncated.write_bytes(good[: len(good) // 3])
    with pytest.raises(MediaError, match=r"truncated\.jpg") as info:
        cache.get(str(truncated), 64)
    assert "decoded" in str(info.value)
    garbage = tmp_path / "garbage.jpg"
    garbage.write_bytes(b"this is not a picture")
    with pytest.raises(MediaError, match=r"garbage\.jpg: not a picture"):
        cache.get(str(garbage), 64)
    with pytest.raises(MediaError, match=r"missing\.jpg: file not found"):
        cache.get(str(tmp_path / "missing.jpg"), 64)
    with pytest.raises(MediaError, match="not a local file"):
        cache.get("https://example.com/a.jpg", 64)
    with pytest.raises(MediaError, match="between"):
        cache.get(str(tmp_path / "good.jpg"), 0)
    # nothing half-written is left behind
    assert not [p for p in (tmp_path / "thumbs").rglob("*") if p.is_file()]


def test_roots_limit_what_is_read(tmp_path: Path):
    media, outside = tmp_path / "media", tmp_path / "outside"
    media.mkdir()
    outside.mkdir()
    inside = _photo(media / "in.jpg", (64, 64), (5, 5, 5))
    secret = _photo(outside / "secret.jpg", (64, 64), (5, 5, 5))
    cache = ThumbnailCache(tmp_path / "thumbs", roots=[str(media)])
    assert cache.get(str(inside), 32).exists()
    with pytest.raises(MediaError, match="outside"):
        cache.get(str(secret), 32)
    with pytest.raises(MediaError, match="outside"):
        cache.get(str(media / ".." / "outside" / "secret.jpg"), 32)


def test_concurrent_requests_get_one_complete_file(tmp_path: Path, cache: ThumbnailCache):
    source = _photo(tmp_path / "busy.jpg", (1600, 900), (100, 150, 200))
    with ThreadPoolExecutor(8) as pool:
        paths = list(pool.map(lambda _: cache.get(str(source), 160), range(16)))
    assert len(set(paths)) == 1
    with Image.open(paths[0]) as thumb:
        thumb.load()
        assert thumb.size == (160, 90)
    leftovers = [p.name for p in (tmp_path / "thumbs").rglob(".tmp-*")]
    assert leftovers == []


def test_placeholder_is_a_png_of_the_asked_size():
    data = placeholder(160, "broken image: truncated file")
    with Image.open(io.BytesIO(data)) as image:
        assert (image.format, image.size) == ("PNG", (160, 90))
        # text is drawn: the picture is not one flat colour
        assert len(image.convert("L").getcolors(1000) or []) > 2
    with Image.open(io.BytesIO(placeholder(64, height=64))) as image:
        assert image.size == (64, 64)
    assert placeholder(160, "x") == placeholder(160, "x")
