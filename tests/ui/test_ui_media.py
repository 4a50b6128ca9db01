"""Where the grid and the viewer get pictures: media route URLs or data URIs."""

import base64
import io
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from PIL import Image

from workbench.ui.media import MISSING_IMAGE, InlineMediaUrls, MediaUrls, ServedMediaUrls


def jpeg(path: Path, size: tuple[int, int]) -> Path:
    Image.new("RGB", size, (200, 10, 10)).save(path, format="JPEG")
    return path


def decoded_size(url: str) -> tuple[int, int]:
    header, payload = url.split(",", 1)
    assert header.startswith("data:image/") and header.endswith(";base64")
    return Image.open(io.BytesIO(base64.b64decode(payload))).size


def test_served_urls_quote_the_uri_for_the_media_route():
    media = ServedMediaUrls()
    uri = "/data/a b/ümlaut&x=1?.jpg"
    thumb = urlsplit(media.thumbnail(uri, 256))
    assert thumb.path == "/media/thumb/256"
    assert parse_qs(thumb.query) == {"uri": [uri]}
    image = urlsplit(media.image(uri))
    assert image.path == "/media/file"
    assert parse_qs(image.query) == {"uri": [uri]}
    assert ServedMediaUrls("/app/media/").image("x.jpg") == "/app/media/file?uri=x.jpg"
    assert media.image("data:image/png;base64,AAAA") == "data:image/png;base64,AAAA"
    assert isinstance(media, MediaUrls)


def test_inline_urls_embed_scaled_pictures(tmp_path: Path):
    picture = jpeg(tmp_path / "big.jpg", (800, 400))
    media = InlineMediaUrls(max_side=200)
    assert isinstance(media, MediaUrls)
    assert decoded_size(media.thumbnail(str(picture), 64)) == (64, 32)
    assert decoded_size(media.image(str(picture))) == (200, 100)
    assert decoded_size(media.image(f"file://{picture}")) == (200, 100)
    assert media.image("https://example.org/a.jpg") == "https://example.org/a.jpg"
    assert media.image(str(tmp_path / "missing.jpg")) == MISSING_IMAGE
    (tmp_path / "broken.jpg").write_bytes(b"not a jpeg")
    assert media.thumbnail(str(tmp_path / "broken.jpg"), 64) == MISSING_IMAGE


def test_inline_cache_is_bounded_in_bytes(tmp_path: Path):
    pictures = [jpeg(tmp_path / f"{i}.jpg", (300, 300)) for i in range(5)]
    one = len(InlineMediaUrls().image(str(pictures[0])))
    media = InlineMediaUrls(cache_bytes=int(one * 2.5))
    for picture in pictures:
        media.image(str(picture))
    assert len(media._cache) == 2
    assert media._cached_bytes <= media.cache_bytes
    # the newest are kept
    assert (str(pictures[-1]), media.max_side) in media._cache


def test_recent_roots_are_read_once_a_second_not_once_a_request(tmp_path):
    from workbench.ui.media import RecentRoots

    reads: list[int] = []
    folders = [str(tmp_path / "a")]

    def read() -> list[str]:
        reads.append(1)
        return list(folders)

    roots = RecentRoots(read, seconds=60)
    assert [roots() for _ in range(48)] == [folders] * 48
    assert len(reads) == 1
    folders.append(str(tmp_path / "b"))  # registered meanwhile: seen once the time is up
    roots.seconds = 0
    assert roots() == folders and len(reads) == 2
