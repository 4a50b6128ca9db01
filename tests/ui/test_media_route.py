"""The media route of a real `workbench serve` process: what it serves, and what it refuses."""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from PIL import Image

import workbench
from workbench.media.thumbnails import default_cache_dir


@pytest.fixture(scope="module")
def media_tree(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A catalog whose only media root is media/, with files inside and outside it."""
    root = tmp_path_factory.mktemp("media-route")
    media = root / "media"
    (media / "sub dir").mkdir(parents=True)
    outside = root / "outside"
    outside.mkdir()
    Image.new("RGB", (640, 480), (200, 30, 30)).save(media / "red.png")
    Image.new("RGB", (300, 600), (30, 200, 30)).save(media / "sub dir" / "green é.jpg")
    Image.new("RGB", (32, 32), (0, 0, 255)).save(outside / "secret.png")
    (media / "notes.txt").write_text("not a picture")
    (media / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    os.symlink(outside / "secret.png", media / "escape.png")
    catalog_path = root / "catalog.duckdb"
    with workbench.open(catalog_path) as catalog:
        catalog.add_media_roots([media])
    return {"root": root, "media": media, "outside": outside, "catalog": catalog_path}


@pytest.fixture(scope="module")
def server(media_tree: dict[str, Path], serve_catalog: Any) -> Any:
    return serve_catalog(media_tree["catalog"])


def file_url(uri: str | Path) -> str:
    return f"/media/file?uri={quote(str(uri), safe='')}"


def thumb_url(uri: str | Path, size: int) -> str:
    return f"/media/thumb/{size}?uri={quote(str(uri), safe='')}"


def test_file_is_served_with_its_type_and_cache_headers(media_tree: dict[str, Path], server: Any):
    path = media_tree["media"] / "red.png"
    response = server.get(file_url(path))
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/png"
    assert response.content == path.read_bytes()
    assert "max-age=" in response.headers["cache-control"]
    assert response.headers["etag"]
    assert response.headers["last-modified"]

    again = server.get(file_url(path), headers={"If-None-Match": response.headers["etag"]})
    assert again.status_code == 304
    assert again.content == b""


def test_file_uri_scheme_and_non_ascii_names(media_tree: dict[str, Path], server: Any):
    path = media_tree["media"] / "sub dir" / "green é.jpg"
    response = server.get(file_url(f"file://{path}"))
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/jpeg"
    assert response.content == path.read_bytes()


def test_range_requests_return_part_of_the_file(media_tree: dict[str, Path], server: Any):
    path = media_tree["media"] / "red.png"
    response = server.get(file_url(path), headers={"Range": "bytes=0-9"})
    assert response.status_code == 206
    assert response.content == path.read_bytes()[:10]


@pytest.mark.parametrize(
    "uri",
    [
        "{outside}/secret.png",  # plainly outside
        "{media}/../outside/secret.png",  # traversal out of a root
        "file://{media}/../outside/secret.png",
        "{media}/escape.png",  # a symlink inside the root pointing out of it
        "../outside/secret.png",  # relative to wherever the server runs
        "/etc/passwd",
    ],
)
def test_files_outside_the_media_roots_are_refused(
    media_tree: dict[str, Path], server: Any, uri: str
):
    uri = uri.format(media=media_tree["media"], outside=media_tree["outside"])
    response = server.get(file_url(uri))
    assert response.status_code == 403
    assert b"\x89PNG" not in response.content
    assert server.get(thumb_url(uri, 64)).status_code == 403


def test_missing_file_is_404(media_tree: dict[str, Path], server: Any):
    uri = media_tree["media"] / "nope.png"
    assert server.get(file_url(uri)).status_code == 404
    thumb = server.get(thumb_url(uri, 64))
    assert thumb.status_code == 404
    # A grid tile still gets a picture to show: a placeholder 64 pixels wide.
    assert thumb.headers["content-type"] == "image/png"
    assert Image.open(io.BytesIO(thumb.content)).size[0] == 64


def test_missing_uri_argument_is_400(server: Any):
    assert server.get("/media/file").status_code == 400
    assert server.get("/media/thumb/64").status_code == 400


def test_thumbnail_is_scaled_and_cached(media_tree: dict[str, Path], server: Any):
    path = media_tree["media"] / "sub dir" / "green é.jpg"
    cache_dir = default_cache_dir(media_tree["catalog"])
    before = set(cache_dir.rglob("*")) if cache_dir.exists() else set()

    first = server.get(thumb_url(path, 100))
    assert first.status_code == 200
    assert first.headers["content-type"].startswith("image/")
    picture = Image.open(io.BytesIO(first.content))
    assert max(picture.size) == 100
    assert picture.size[1] > picture.size[0]  # the 300x600 aspect ratio is kept
    assert "max-age=" in first.headers["cache-control"]

    made = {p for p in cache_dir.rglob("*") if p.is_file()} - before
    assert len(made) == 1
    cached = made.pop()
    stamp = cached.stat().st_mtime_ns

    second = server.get(thumb_url(path, 100))
    assert second.status_code == 200
    assert second.content == first.content
    assert cached.stat().st_mtime_ns == stamp  # served from the cache, not made again
    assert (
        server.get(
            thumb_url(path, 100), headers={"If-None-Match": first.headers["etag"]}
        ).status_code
        == 304
    )


def test_thumbnail_sizes_are_bounded(media_tree: dict[str, Path], server: Any):
    path = media_tree["media"] / "red.png"
    assert server.get(thumb_url(path, 4)).status_code == 400
    assert server.get(thumb_url(path, 100_000)).status_code == 400
    assert server.get(f"/media/thumb/-5?uri={quote(str(path))}").status_code == 404


def test_thumbnail_of_a_non_picture_is_415_with_a_placeholder(
    media_tree: dict[str, Path], server: Any
):
    for name in ("notes.txt", "broken.jpg"):
        response = server.get(thumb_url(media_tree["media"] / name, 96))
        assert response.status_code == 415, name
        assert response.headers["cache-control"] == "no-store"
        assert Image.open(io.BytesIO(response.content)).size[0] == 96
    # The file route hands the bytes out as they are: it is the browser's to judge.
    assert server.get(file_url(media_tree["media"] / "notes.txt")).status_code == 200
