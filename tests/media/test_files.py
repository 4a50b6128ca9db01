"""resolve_media hands out files under the media roots only; content types; data URIs."""

from __future__ import annotations

import base64
import io
import os
from pathlib import Path
from urllib.parse import quote

import pytest
from PIL import Image

from workbench.errors import MediaError
from workbench.media.files import content_type, data_uri, resolve_media


@pytest.fixture
def tree(tmp_path: Path) -> dict[str, Path]:
    media = tmp_path / "media"
    (media / "sub").mkdir(parents=True)
    outside = tmp_path / "outside"
    outside.mkdir()
    sibling = tmp_path / "media2"  # shares the root's name as a prefix
    sibling.mkdir()
    Image.new("RGB", (40, 20), (200, 0, 0)).save(media / "sub" / "red.png")
    Image.new("RGB", (8, 8)).save(outside / "secret.png")
    Image.new("RGB", (8, 8)).save(sibling / "near.png")
    os.symlink(outside / "secret.png", media / "escape.png")
    os.symlink(outside, media / "escape_dir")
    os.symlink(media / "sub" / "red.png", media / "alias.png")
    return {"media": media, "outside": outside, "sibling": sibling}


def test_a_file_under_a_root_resolves_to_its_real_path(tree: dict[str, Path]):
    roots = [str(tree["media"])]
    red = tree["media"] / "sub" / "red.png"
    assert resolve_media(str(red), roots) == red.resolve()
    assert resolve_media(f"file://{red}", roots) == red.resolve()
    assert resolve_media(f"file://localhost{quote(str(red))}", roots) == red.resolve()
    # `..` that stays inside the root and symlinks that stay inside are fine
    assert (
        resolve_media(str(tree["media"] / "sub" / ".." / "sub" / "red.png"), roots) == red.resolve()
    )
    assert resolve_media(str(tree["media"] / "alias.png"), roots) == red.resolve()


def test_relative_paths_are_taken_from_the_working_directory(
    tree: dict[str, Path], monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.chdir(tree["media"])
    assert resolve_media("sub/red.png", [str(tree["media"])]) == (tree["media"] / "sub" / "red.png")
    with pytest.raises(MediaError, match="outside"):
        resolve_media("../outside/secret.png", [str(tree["media"])])


@pytest.mark.parametrize(
    "attempt",
    [
        "{media}/../outside/secret.png",  # climbing out with ..
        "{media}/sub/../../outside/secret.png",
        "{media}/escape.png",  # a symlink leading out of the root
        "{media}/escape_dir/secret.png",  # through a symlinked folder
        "{outside}/secret.png",  # an absolute path elsewhere
        "/etc/passwd",
        "{sibling}/near.png",  # /x/media2 is not under /x/media
        "file://{outside}/secret.png",
        "file:///etc/passwd",
        "file://{media}/..%2F..%2Foutside/secret.png",  # encoded ../
        "file:{outside}/secret.png",
    ],
)
def test_attempts_to_leave_the_roots_are_refused(tree: dict[str, Path], attempt: str):
    uri = attempt.format(**{k: str(v) for k, v in tree.items()})
    with pytest.raises(MediaError, match="outside the catalog's media folders") as info:
        resolve_media(uri, [str(tree["media"])])
    assert uri in str(info.value)


@pytest.mark.parametrize(
    "uri",
    ["http://example.com/a.jpg", "s3://bucket/a.jpg", "file://otherhost/{media}/sub/red.png"],
)
def test_remote_uris_are_refused(tree: dict[str, Path], uri: str):
    with pytest.raises(MediaError, match=r"not a local file|another host"):
        resolve_media(uri.format(media=tree["media"]), [str(tree["media"])])


def test_missing_files_directories_and_nul_bytes_are_refused(tree: dict[str, Path]):
    roots = [str(tree["media"])]
    with pytest.raises(MediaError, match="file not found") as info:
        resolve_media(str(tree["media"] / "nope.jpg"), roots)
    assert isinstance(info.value.__cause__, FileNotFoundError)
    with pytest.raises(MediaError, match="not a file"):
        resolve_media(str(tree["media"] / "sub"), roots)
    with pytest.raises(MediaError, match="NUL"):
        resolve_media(str(tree["media"] / "sub" / "red.png") + "\x00.jpg", roots)
    with pytest.raises(MediaError, match="outside"):
        resolve_media(str(tree["media"] / "sub" / "red.png"), [])


def test_a_missing_file_outside_the_roots_is_refused_as_outside(tree: dict[str, Path]):
    # The refusal must not reveal whether something exists outside the roots.
    with pytest.raises(MediaError, match="outside"):
        resolve_media(str(tree["outside"] / "does-not-exist.png"), [str(tree["media"])])


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("a.jpg", "image/jpeg"),
        ("A.JPEG", "image/jpeg"),
        ("mask.png", "image/png"),
        ("clip.mp4", "video/mp4"),
        ("clip.webm", "video/webm"),
        ("labels.json", "application/json"),
        ("blob.unknownext", "application/octet-stream"),
        ("no_extension", "application/octet-stream"),
    ],
)
def test_content_type(name: str, expected: str):
    assert content_type(name) == expected
    assert content_type(Path("/x") / name) == expected


def _decode(uri: str) -> tuple[str, bytes]:
    head, _, payload = uri.partition(",")
    assert head.startswith("data:") and head.endswith(";base64")
    return head[5:-7], base64.b64decode(payload)


def test_data_uri_embeds_the_file(tree: dict[str, Path]):
    red = tree["media"] / "sub" / "red.png"
    mime, data = _decode(data_uri(red))
    assert mime == "image/png"
    assert data == red.read_bytes()
    # smaller than max_side: embedded as it is
    assert _decode(data_uri(str(red), max_side=100))[1] == red.read_bytes()


def test_data_uri_scales_large_pictures_down(tmp_path: Path):
    big = tmp_path / "big.jpg"
    Image.new("RGB", (1200, 600), (10, 120, 200)).save(big, quality=90)
    mime, data = _decode(data_uri(big, max_side=300))
    assert mime == "image/jpeg"
    with Image.open(io.BytesIO(data)) as image:
        assert image.size == (300, 150)
        r, g, b = image.getpixel((150, 75))
        assert abs(r - 10) < 8 and abs(g - 120) < 8 and abs(b - 200) < 8


def test_data_uri_errors_are_media_errors(tmp_path: Path):
    with pytest.raises(MediaError, match="file not found"):
        data_uri(tmp_path / "missing.png")
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\n not really")
    with pytest.raises(MediaError, match=r"broken\.png"):
        data_uri(broken, max_side=64)
